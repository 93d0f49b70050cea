/**
 * Module: named parameters and child modules, as torch.nn.Module, minus autograd. Parameters are slots that
 * start empty and are filled by `loadStateDict` (from a checkpoint) or `initRandom` (synthetic models), so a
 * model is never allocated twice. Filled parameters are marked constant: backends may prepare them once (ORT
 * bakes them as initializers, the NPU library formats them, wasm packs them).
 */
import { ArgumentError, ShapeError } from '../../core/errors.js';
import { itemSize, type DType } from '../../core/dtype.js';
import { formatShape, shapesEqual } from '../../core/shape.js';
import { Storage } from '../../core/storage.js';
import { Tensor } from '../../core/tensor.js';
import { attachHostSource, mayRelease, trackWeight, type HostSource } from '../../core/weight.js';
import { Generator as Rng } from '../../core/random.js';
import { fromTypedArray } from '../../ops/creation.js';

/** How `initRandom` fills a parameter: normal(0, std), or a constant (norm weights 1, biases 0). */
export type ParamInit = { readonly normal: number } | { readonly constant: number };

/**
 * Whether a parameter's host copy may be released once a backend has prepared it (core/weight.ts): 'release'
 * for GEMM weights (Linear), 'keep' for everything read on the host every step (embeddings, norms, biases).
 */
export type HostCopy = 'keep' | 'release';

export class Parameter {
  #value: Tensor | undefined;
  /** See HostCopy; Linear sets 'release' on its weight. */
  hostCopy: HostCopy = 'keep';
  constructor(
    readonly shape: readonly number[],
    readonly init: ParamInit,
    /** Where the owner lives, for errors ("model.layers.0.self_attn.q_proj.weight"). */
    public path: string,
    /** A dtype the parameter always has (quantized weights: int8/uint8), whatever dtype the model loads in. */
    readonly dtype?: DType,
  ) {}

  get loaded(): boolean {
    return this.#value !== undefined;
  }

  /** The tensor; a clear error when it was never loaded or was disposed. */
  get value(): Tensor {
    if (this.#value === undefined) throw new ArgumentError(`parameter ${this.path} ${formatShape(this.shape)} is not loaded (loadStateDict or initRandom first)`);
    return this.#value;
  }

  set(t: Tensor): void {
    if (!shapesEqual(t.shape, this.shape))
      throw new ShapeError(`parameter ${this.path}: expected shape ${formatShape(this.shape)}, got ${formatShape(t.shape)}`);
    this.#value = t.markConstant();
    trackWeight(t.storage);
  }

  /**
   * Sets a parameter whose elements come from `source` and are not read now when the host copy may be released:
   * the first backend that needs them reads them (one weight at a time, straight into its prepared form) and
   * releases them again. Kept parameters (small ones, OPSHIFT_KEEP_HOST_WEIGHTS=1) are read now and keep the source only
   * for accounting.
   */
  setFromSource(dtype: DType, source: HostSource): void {
    const n = this.shape.reduce((a, b) => a * b, 1);
    if (this.hostCopy === 'release' && mayRelease(n * itemSize(dtype))) {
      const storage = Storage.deferred(dtype, n, source);
      attachHostSource(storage, source);
      this.set(new Tensor(storage, [...this.shape]));
    } else {
      const storage = new Storage(source.load(), dtype);
      storage.identity = source.identity; // kept, yet its prepared form may still be cached on disk
      this.set(new Tensor(storage, [...this.shape]));
    }
  }

  clear(): void {
    this.#value = undefined;
  }
}

/** What loadStateDict found wrong; every problem is listed, with both shapes for mismatches. */
export interface StateDictReport {
  readonly missing: string[];
  readonly unexpected: string[];
  readonly mismatched: { name: string; expected: readonly number[]; got: readonly number[] }[];
}

/** Something that can hand out tensors by name: a checkpoint, a Map, a plain object. */
export interface TensorSource {
  names(): Iterable<string>;
  shape(name: string): readonly number[];
  load(name: string, dtype: DType): Tensor;
  /** Re-reads `name` as `dtype` on demand (a checkpoint by file offset): parameters that may release their host copy load through it. */
  hostSource?(name: string, dtype: DType): HostSource | undefined;
}

export function mapSource(tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>): TensorSource {
  const m = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  return {
    names: () => m.keys(),
    shape: (n) => m.get(n)!.shape,
    load: (n, dtype) => m.get(n)!.to(dtype),
  };
}

export interface LoadOptions {
  /** dtype the parameters are kept in (default float32; float16/bfloat16 halve memory, kernels compute in f32). */
  readonly dtype?: DType;
  /** Maps a module path to the source's name (hub checkpoints prefix names differently); default identity. */
  readonly rename?: (path: string) => string | undefined;
  /** Names in the source that are fine to ignore (e.g. rotary inv_freq buffers). */
  readonly ignoreUnexpected?: (name: string) => boolean;
  /** Throw on missing, unexpected or mismatched names (default true). */
  readonly strict?: boolean;
}

export abstract class Module {
  readonly #params = new Map<string, Parameter>();
  readonly #children = new Map<string, Module>();

  protected param(name: string, shape: readonly number[], init: ParamInit = { normal: 0.02 }, dtype?: DType): Parameter {
    const p = new Parameter(shape, init, name, dtype);
    this.#params.set(name, p);
    return p;
  }

  protected child<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  /** The child registered as `name` (model code reads replaceable children, e.g. linears, through this). */
  protected module<M extends Module>(name: string): M {
    const m = this.#children.get(name);
    if (m === undefined) throw new ArgumentError(`${this.constructor.name} has no child module '${name}'`);
    return m as M;
  }

  getChild(name: string): Module | undefined {
    return this.#children.get(name);
  }

  /**
   * Swap the child `name` for `m` (quantization swaps Linear for QLinear in place); returns the old one. The new
   * module takes the old one's place in namedParameters' order.
   */
  replaceChild(name: string, m: Module): Module {
    const old = this.#children.get(name);
    if (old === undefined) throw new ArgumentError(`replace_child: ${this.constructor.name} has no child module '${name}' (children: ${[...this.#children.keys()].join(', ')})`);
    this.#children.set(name, m);
    return old;
  }

  /**
   * Register a new child `name` that the model reads optionally through getChild (the quantized lm_head of a
   * tied model, models/quantize); refuses a name already taken (use replaceChild to swap).
   */
  addChild(name: string, m: Module): Module {
    if (this.#children.has(name)) throw new ArgumentError(`add_child: ${this.constructor.name} already has a child module '${name}'`);
    this.#children.set(name, m);
    return m;
  }

  /** Every module under this one (itself first, path ''), with its dotted path, parent and name in the parent. */
  *namedModules(prefix = '', parent?: Module, name = ''): Generator<{ path: string; module: Module; parent: Module | undefined; name: string }> {
    yield { path: prefix.endsWith('.') ? prefix.slice(0, -1) : prefix, module: this, parent, name };
    for (const [n, c] of this.#children) yield* c.namedModules(`${prefix}${n}.`, this, n);
  }

  /** Every parameter with its dotted path, as torch's named_parameters(). */
  *namedParameters(prefix = ''): Generator<[string, Parameter]> {
    for (const [n, p] of this.#params) yield [prefix + n, p];
    for (const [n, c] of this.#children) yield* c.namedParameters(`${prefix}${n}.`);
  }

  /** Number of scalar parameters. */
  numParameters(): number {
    let n = 0;
    for (const [, p] of this.namedParameters()) n += p.shape.reduce((a, b) => a * b, 1);
    return n;
  }

  /**
   * Fill every parameter from `source`, checking each name and shape first: nothing is loaded unless all
   * match (with strict, the default), and the error lists every missing, unexpected and mismatched name.
   */
  loadStateDict(source: TensorSource, options: LoadOptions = {}): StateDictReport {
    const rename = options.rename ?? ((p: string) => p);
    const available = new Set(source.names());
    const used = new Set<string>();
    const report: StateDictReport = { missing: [], unexpected: [], mismatched: [] };
    const plan: [Parameter, string][] = [];
    for (const [path, p] of this.namedParameters()) {
      p.path = path;
      const name = rename(path);
      if (name === undefined || !available.has(name)) {
        report.missing.push(name ?? path);
        continue;
      }
      used.add(name);
      const got = source.shape(name);
      if (!shapesEqual(got, p.shape)) report.mismatched.push({ name, expected: p.shape, got });
      else plan.push([p, name]);
    }
    for (const n of available) if (!used.has(n) && !options.ignoreUnexpected?.(n)) report.unexpected.push(n);
    const bad = report.missing.length + report.unexpected.length + report.mismatched.length;
    if (bad > 0 && options.strict !== false) throw new ShapeError(`load_state_dict: ${describeReport(report)}`);
    const dtype = options.dtype ?? 'float32';
    for (const [p, name] of plan) {
      const d = p.dtype ?? dtype;
      const hs = source.hostSource?.(name, d);
      if (hs && p.hostCopy === 'release') p.setFromSource(d, hs);
      else {
        // kept (embeddings, a tied lm_head): no source, but the identity lets a prepared copy be cached on disk
        const t = source.load(name, d);
        t.storage.identity = hs?.identity;
        p.set(t);
      }
    }
    return report;
  }

  /**
   * Fill every parameter from its init rule, seeded (synthetic models of real shapes). "normal(std)" draws
   * uniform values of the same std (±std·√3) from xorshift32: a billion parameters in seconds, where exact
   * normal draws take over a minute; speed and shape are what synthetic models are for.
   */
  initRandom(seed = 0, dtype: DType = 'float32'): this {
    let state = (new Rng(seed).nextU32() | 1) >>> 0;
    for (const [path, p] of this.namedParameters()) {
      p.path = path;
      const n = p.shape.reduce((a, b) => a * b, 1);
      const init = p.init;
      const start = state;
      const d = p.dtype ?? dtype;
      const make = (): { t: Tensor; end: number } => {
        const data = new Float32Array(n);
        let end = start;
        if ('normal' in init) end = fillUniform(data, start, (init.normal * Math.sqrt(3)) / 2 ** 31);
        else data.fill(init.constant);
        return { t: fromTypedArray(data, [...p.shape]).to(d), end };
      };
      if (p.hostCopy === 'release' && 'normal' in init && mayRelease(n * itemSize(d))) {
        // Seeded weights can be regenerated from the state they started at: the parameter is deferred (drawn
        // when a backend first needs it, then released once prepared) and the generator skips over it here.
        p.setFromSource(d, {
          what: `seeded random (${path})`,
          // the draw is fixed by the generator state, the count, the init and the dtype (not by the model's name)
          identity: `seeded|${start}|${n}|${JSON.stringify(init)}|${d}`,
          load: () => make().t.contiguous().storage.data,
        });
        state = skipUniform(start, n);
      } else {
        const first = make();
        state = first.end;
        first.t.storage.identity = `seeded|${start}|${n}|${JSON.stringify(init)}|${d}`;
        p.set(first.t);
      }
    }
    return this;
  }

  /** Drop every parameter (their storage is freed once nothing else holds it); the module is unusable after. */
  dispose(): void {
    for (const [, p] of this.namedParameters()) p.clear();
  }
}

/** normal(0, std) stand-in: xorshift32 from `state`, scaled; returns the state after the last draw. */
function fillUniform(data: Float32Array, state: number, scale: number): number {
  for (let i = 0; i < data.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    data[i] = (state | 0) * scale;
  }
  return state;
}

/** The xorshift32 state after `n` draws from `state` (fillUniform without the writes). */
function skipUniform(state: number, n: number): number {
  for (let i = 0; i < n; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
  }
  return state;
}

export function describeReport(r: StateDictReport): string {
  const parts: string[] = [];
  const list = (xs: string[]) => (xs.length > 8 ? `${xs.slice(0, 8).join(', ')}, … (${xs.length} in all)` : xs.join(', '));
  if (r.missing.length) parts.push(`missing ${r.missing.length}: ${list(r.missing)}`);
  if (r.unexpected.length) parts.push(`unexpected ${r.unexpected.length}: ${list(r.unexpected)}`);
  if (r.mismatched.length)
    parts.push(`shape mismatch ${r.mismatched.length}: ${list(r.mismatched.map((m) => `${m.name} expected ${formatShape(m.expected)} got ${formatShape(m.got)}`))}`);
  return parts.join('; ');
}
