/**
 * A traced Graph as one ONNX ModelProto: graph inputs/outputs with named symbolic dims, each node lowered by
 * lower_ops.ts, initializers inline or, when they pass 2 GB (protobuf's limit), in one external data file
 * beside the model (ONNX external data: location/offset/length, 4 KiB aligned as onnx's own writer does).
 */
import { createRequire } from 'node:module';
import { writeFileSync, closeSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import type OnnxProtoModule from 'onnx-proto';
import { ONNX_TYPE, type AttrValue } from '../../backends/ort/onnx_model.js';
import { Builder, type OnnxInit } from './builder.js';
import { LOWERINGS } from './lower_ops.js';
import { ExportError, formatDim, isExpr, type Dim, type Graph } from './graph.js';

type Onnx = (typeof OnnxProtoModule)['onnx'];
const onnx = (): Onnx => (createRequire(import.meta.url)('onnx-proto') as typeof OnnxProtoModule).onnx;

export interface OnnxFileOptions {
  /** Default opset of the ai.onnx domain (17: LayerNormalization; Shape start/end since 15). */
  readonly opset?: number;
  /** Names of symbolic dims, by their expression text (formatDim), e.g. 'input_ids[0]' → 'batch_size'. */
  readonly dimNames?: ReadonlyMap<string, string>;
  /** Initializers at or above this many bytes in total go to `<out>.data` (default 2 GB, protobuf's limit). */
  readonly externalDataThreshold?: number;
}

/** Lowers every node; graph outputs get their names through an Identity when a value is reused. */
export function lowerGraph(graph: Graph): Builder {
  const b = new Builder(graph.values);
  for (const i of graph.inputs) b.bind(i.id, i.name);
  graph.nodes.forEach((n, k) => {
    const lower = LOWERINGS.get(n.op);
    if (!lower) throw new ExportError(`export: op ${n.op} (node ${k}) has no ONNX lowering`);
    const outs = lower(b, n);
    if (outs.length !== n.outputs.length) throw new ExportError(`export: the ${n.op} lowering gave ${outs.length} outputs for ${n.outputs.length}`);
    n.outputs.forEach((id, j) => b.bind(id, outs[j]!));
  });
  for (const o of graph.outputs) b.nodes.push({ op: 'Identity', domain: '', inputs: [b.name(o.id)], outputs: [o.name], attrs: {} });
  // Inputs no node reads (attention_mask when the model ignores it) stay declared, so callers feed the usual names.
  return b;
}

function attribute(name: string, v: AttrValue) {
  const P = onnx().AttributeProto;
  const T = P.AttributeType;
  if ('i' in v) return P.create({ name, type: T.INT, i: v.i });
  if ('f' in v) return P.create({ name, type: T.FLOAT, f: v.f });
  if ('s' in v) return P.create({ name, type: T.STRING, s: new TextEncoder().encode(v.s) });
  if ('ints' in v) return P.create({ name, type: T.INTS, ints: [...v.ints] });
  return P.create({ name, type: T.FLOATS, floats: [...v.floats] });
}

function dimProto(d: Dim, names: ReadonlyMap<string, string> | undefined) {
  if (!isExpr(d)) return { dimValue: d };
  const text = formatDim(d);
  return { dimParam: names?.get(text) ?? text };
}

const bytesOf = (i: OnnxInit) => new Uint8Array(i.data.buffer, i.data.byteOffset, i.data.byteLength);

/** Writes `graph` to `out` (and `<out>.data` for large weights); returns the bytes written to `out`. */
export function writeOnnx(graph: Graph, out: string, options: OnnxFileOptions = {}): { bytes: number; externalData: string | undefined } {
  const b = lowerGraph(graph);
  const total = b.initializers.reduce((s, i) => s + i.data.byteLength, 0);
  const external = total >= (options.externalDataThreshold ?? 2 ** 31) ? `${out}.data` : undefined;
  const O = onnx();
  let offset = 0;
  let fd: number | undefined;
  if (external) fd = openSync(external, 'w');
  const inits = b.initializers.map((i) => {
    const base = { name: i.name, dataType: ONNX_TYPE[i.dtype], dims: [...i.shape] };
    if (fd === undefined || i.data.byteLength < 1024) return O.TensorProto.create({ ...base, rawData: bytesOf(i).slice() });
    const pad = (4096 - (offset % 4096)) % 4096;
    if (pad) writeSync(fd, new Uint8Array(pad));
    offset += pad;
    writeSync(fd, bytesOf(i));
    const entry = [
      { key: 'location', value: basename(external!) },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(i.data.byteLength) },
    ];
    offset += i.data.byteLength;
    return O.TensorProto.create({ ...base, externalData: entry, dataLocation: O.TensorProto.DataLocation.EXTERNAL });
  });
  if (fd !== undefined) closeSync(fd);
  const valueInfo = (name: string, id: number) => {
    const v = graph.values[id]!;
    return O.ValueInfoProto.create({ name, type: { tensorType: { elemType: ONNX_TYPE[v.dtype], shape: { dim: v.shape.map((d) => dimProto(d, options.dimNames)) } } } });
  };
  const model = O.ModelProto.create({
    irVersion: 8,
    producerName: 'opshift',
    opsetImport: [
      { domain: '', version: options.opset ?? 17 },
      { domain: 'com.microsoft', version: 1 },
    ],
    graph: {
      name: 'opshift_traced',
      node: b.nodes.map((n) =>
        O.NodeProto.create({ opType: n.op, domain: n.domain, input: [...n.inputs], output: [...n.outputs], attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v)) }),
      ),
      input: graph.inputs.map((i) => valueInfo(i.name, i.id)),
      initializer: inits,
      output: graph.outputs.map((o) => valueInfo(o.name, o.id)),
    },
  });
  const bytes = O.ModelProto.encode(model).finish();
  writeFileSync(out, bytes);
  return { bytes: bytes.byteLength, externalData: external };
}
