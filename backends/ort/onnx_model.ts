/**
 * Single-op ONNX models, built with the ONNX protobuf schema (onnx-proto / protobufjs): graph inputs with
 * symbolic dims (so one session serves every shape of the same rank), constant inputs baked as initializers
 * (so MLAS prepacks weights), and one or a few nodes.
 */
import { createRequire } from 'node:module';
import type OnnxProtoModule from 'onnx-proto';
import type { DType, StorageArray } from '../../core/dtype.js';

type Onnx = (typeof OnnxProtoModule)['onnx'];
// Loaded on the first graph built (protobufjs costs ~40 ms to import): importing opshift stays light.
let onnxModule: Onnx | undefined;
function onnxSchema(): Onnx {
  return (onnxModule ??= (createRequire(import.meta.url)('onnx-proto') as typeof OnnxProtoModule).onnx);
}

/** ONNX TensorProto.DataType codes. */
export const ONNX_TYPE: Readonly<Record<DType, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int16: 5,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  bfloat16: 16,
};

export type AttrValue = { readonly i: number } | { readonly f: number } | { readonly s: string } | { readonly ints: readonly number[] } | { readonly floats: readonly number[] };

export interface NodeSpec {
  readonly op: string;
  readonly domain?: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs?: Readonly<Record<string, AttrValue>>;
}

export interface ValueSpec {
  readonly name: string;
  readonly dtype: DType;
  /** Rank, with every dim symbolic. */
  readonly rank: number;
}

export interface InitializerSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Contiguous elements in the dtype's storage representation. */
  readonly data: StorageArray;
}

export interface GraphSpec {
  readonly nodes: readonly NodeSpec[];
  readonly inputs: readonly ValueSpec[];
  readonly initializers: readonly InitializerSpec[];
  readonly outputs: readonly ValueSpec[];
}

const OPSETS = [
  { domain: '', version: 21 },
  { domain: 'com.microsoft', version: 1 },
];

function valueInfo(v: ValueSpec, symbolic: boolean) {
  return onnxSchema().ValueInfoProto.create({
    name: v.name,
    type: {
      tensorType: {
        elemType: ONNX_TYPE[v.dtype],
        // Outputs carry no shape: ORT infers it; inputs get one named symbolic dim per axis.
        shape: symbolic ? { dim: Array.from({ length: v.rank }, (_, i) => ({ dimParam: `${v.name}_${i}` })) } : undefined,
      },
    },
  });
}

function attribute(name: string, v: AttrValue) {
  const T = onnxSchema().AttributeProto.AttributeType;
  if ('i' in v) return onnxSchema().AttributeProto.create({ name, type: T.INT, i: v.i });
  if ('f' in v) return onnxSchema().AttributeProto.create({ name, type: T.FLOAT, f: v.f });
  if ('s' in v) return onnxSchema().AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(v.s) });
  if ('ints' in v) return onnxSchema().AttributeProto.create({ name, type: T.INTS, ints: [...v.ints] });
  return onnxSchema().AttributeProto.create({ name, type: T.FLOATS, floats: [...v.floats] });
}

function initializer(i: InitializerSpec) {
  const d = i.data;
  return onnxSchema().TensorProto.create({
    name: i.name,
    dataType: ONNX_TYPE[i.dtype],
    dims: [...i.shape],
    // Raw little-endian bytes: exactly our storage (float16/bfloat16 bit patterns, bool as 0/1 bytes). A view,
    // not a copy: encode() copies it once into the serialized model (protobufjs writes views with set()), and a
    // weight's extra transient copy while its session is built was one more weight-sized block on the peak RSS.
    rawData: new Uint8Array(d.buffer, d.byteOffset, d.byteLength),
  });
}

export function buildModel(g: GraphSpec): Uint8Array {
  const model = onnxSchema().ModelProto.create({
    irVersion: 10,
    producerName: 'opshift',
    opsetImport: OPSETS,
    graph: {
      name: 'opshift_op',
      node: g.nodes.map((n) =>
        onnxSchema().NodeProto.create({
          opType: n.op,
          domain: n.domain ?? '',
          input: [...n.inputs],
          output: [...n.outputs],
          attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
        }),
      ),
      input: g.inputs.map((v) => valueInfo(v, true)),
      initializer: g.initializers.map(initializer),
      output: g.outputs.map((v) => valueInfo(v, false)),
    },
  });
  return onnxSchema().ModelProto.encode(model).finish();
}
