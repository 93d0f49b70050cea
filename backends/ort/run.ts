/**
 * Running one op call on ORT: look up (or build and compile) the session for the call's signature, feed the
 * inputs without copying when they are contiguous, and let ORT write straight into opshift's output storage.
 */
import type { DType, StorageArray } from '../../core/dtype.js';
import { Storage } from '../../core/storage.js';
import type { Tensor } from '../../core/tensor.js';
import { gather } from '../cpu/kernels/util.js';
import { loadOrt, type OrtTensor } from './binding.js';
import { onConfigChange, ortConfig, sessionOptions } from './config.js';
import { buildModel, type GraphSpec } from './onnx_model.js';
import { SessionCache } from './session_cache.js';

/** One graph input: fed per call, or (constants: module weights) baked into the model as an initializer. */
export interface Feed {
  readonly name: string;
  readonly tensor: Tensor;
  readonly bake?: boolean;
  /** A baked tensor stored as this shape (same element order) and dtype: the layout an op wants, with no node. */
  readonly bakeAs?: { readonly shape: readonly number[]; readonly dtype: DType; readonly convert?: (data: StorageArray) => StorageArray };
}

export interface OpGraph {
  /** Everything besides the feeds' dtypes/ranks/constant identities that changes the model (attributes). */
  readonly key: string;
  readonly feeds: readonly Feed[];
  /** Graph output names, in the order of the op's outputs. */
  readonly outputs: readonly string[];
  /** Builds the model; only called on a cache miss. */
  build(): GraphSpec;
}

export const cache = new SessionCache(ortConfig().maxSessions);
onConfigChange(() => {
  cache.clear();
  cache.resize(ortConfig().maxSessions);
});

const constantIds = new WeakMap<Storage, number>();
let nextConstantId = 1;

/** A stable identity for a baked constant: its storage plus the view of it. */
function constantKey(t: Tensor): string {
  let id = constantIds.get(t.storage);
  if (id === undefined) constantIds.set(t.storage, (id = nextConstantId++));
  return `c${id}@${t.offset}:${t.shape.join('x')}:${t.strides.join(',')}`;
}

/** The cache key of a call: op, attributes, each feed's dtype and rank (or baked identity), output dtypes. */
export function sessionKey(op: string, g: OpGraph, outs: readonly { dtype: DType }[]): string {
  const feeds = g.feeds.map((f) => (f.bake ? `${f.name}=${f.tensor.dtype}:${constantKey(f.tensor)}` : `${f.name}:${f.tensor.dtype}/${f.tensor.ndim}`));
  return `${op}|${g.key}|${feeds.join(';')}|${outs.map((o) => o.dtype).join(',')}`;
}

/** Contiguous elements of a view, in the tensor's storage representation (zero-copy when possible). */
export function contiguousData(t: Tensor): StorageArray {
  return gather(t);
}

/** onnxruntime-common's tensor type names match opshift's dtype names (bfloat16 is refused before this). */
export function ortTypeOf(d: DType): string {
  return d;
}

export function runGraph(g: OpGraph, key: string, outs: readonly Tensor[]): void {
  const loaded = loadOrt();
  if (!loaded.ok) throw new Error(`ort: ${loaded.reason}`);
  const rt = loaded.runtime;
  const session = cache.get(key, () => rt.createSession(buildModel(g.build()), sessionOptions(ortConfig())));
  const feeds: Record<string, OrtTensor> = {};
  for (const f of g.feeds) if (!f.bake) feeds[f.name] = new rt.Tensor(ortTypeOf(f.tensor.dtype), contiguousData(f.tensor), f.tensor.shape);
  const fetches: Record<string, OrtTensor> = {};
  g.outputs.forEach((name, i) => {
    const o = outs[i]!;
    fetches[name] = new rt.Tensor(ortTypeOf(o.dtype), o.storage.data, o.shape);
  });
  session.run(feeds, fetches, {});
}
