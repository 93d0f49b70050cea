/**
 * Runs an exported causal LM with onnxruntime-node as one whole-graph session: prefill, decode steps feeding
 * present.* back as past_key_values.*, greedy generation. Used by the export tests and `opshift bench export`.
 */
import { ExportError } from './graph.js';

/**
 * The part of onnxruntime-node used here, typed locally: onnxruntime-node is an optional peer, and opshift's
 * declaration files must type-check where it is not installed.
 */
interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}
interface OrtSession {
  readonly inputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface Ort {
  readonly Tensor: new (type: 'int64' | 'float32', data: BigInt64Array | Float32Array, dims: readonly number[]) => OrtTensor;
  readonly InferenceSession: { create(path: string, options?: Record<string, unknown>): Promise<OrtSession> };
}

let ortModule: Ort | undefined;
async function loadOrt(): Promise<Ort> {
  try {
    return (ortModule ??= (await import('onnxruntime-node')) as unknown as Ort);
  } catch (e) {
    throw new ExportError(`export: onnxruntime-node is not installed (npm install onnxruntime-node@~1.30): ${(e as Error).message}`);
  }
}

export interface StepResult {
  /** [B, T, V] row-major. */
  readonly logits: Float32Array;
  readonly dims: readonly number[];
}

export class OnnxCausalLM {
  #past: Map<string, OrtTensor> = new Map();
  #length = 0;
  private constructor(
    readonly ort: Ort,
    readonly session: OrtSession,
    readonly layers: number,
    readonly kvHeads: number,
    readonly headDim: number,
  ) {}

  /** `threads`: ORT intra-op threads (default ORT's choice). */
  static async load(path: string, geometry: { layers: number; kvHeads: number; headDim: number }, threads?: number): Promise<OnnxCausalLM> {
    const ort = await loadOrt();
    const session = await ort.InferenceSession.create(path, {
      graphOptimizationLevel: 'all',
      ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
    });
    return new OnnxCausalLM(ort, session, geometry.layers, geometry.kvHeads, geometry.headDim);
  }

  get hasCache(): boolean {
    return this.session.inputNames.includes('past_key_values.0.key');
  }

  get length(): number {
    return this.#length;
  }

  reset(): void {
    this.#past.clear();
    this.#length = 0;
  }

  /** One forward over `ids` (rows of equal length) after the cached positions; keeps the presents. */
  async step(ids: readonly (readonly number[])[]): Promise<StepResult> {
    const { ort } = this;
    const B = ids.length;
    const T = ids[0]!.length;
    const P = this.#length;
    const i64 = (xs: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(xs, (x) => BigInt(x)), dims);
    const feeds: Record<string, OrtTensor> = {
      input_ids: i64(ids.flat(), [B, T]),
      attention_mask: i64(Array(B * (P + T)).fill(1), [B, P + T]),
      position_ids: i64(Array.from({ length: B * T }, (_, k) => P + (k % T)), [B, T]),
    };
    const names = this.session.inputNames;
    for (const k of Object.keys(feeds)) if (!names.includes(k)) delete feeds[k];
    if (this.hasCache)
      for (let i = 0; i < this.layers; i++)
        for (const kind of ['key', 'value']) {
          const name = `past_key_values.${i}.${kind}`;
          feeds[name] = this.#past.get(name) ?? new ort.Tensor('float32', new Float32Array(0), [B, this.kvHeads, 0, this.headDim]);
        }
    const out = await this.session.run(feeds);
    if (this.hasCache) {
      for (let i = 0; i < this.layers; i++) for (const kind of ['key', 'value']) this.#past.set(`past_key_values.${i}.${kind}`, out[`present.${i}.${kind}`]!);
      this.#length = P + T;
    }
    const logits = out.logits!;
    return { logits: logits.data as Float32Array, dims: logits.dims };
  }

  /** Greedy ids after `prompt` (one row), `steps` tokens, decode through the cache (or full re-runs without one). */
  async greedy(prompt: readonly number[], steps: number): Promise<number[]> {
    this.reset();
    const out: number[] = [];
    let seq = [...prompt];
    let r = await this.step([seq]);
    for (let s = 0; s < steps; s++) {
      const [, T, V] = r.dims as [number, number, number];
      const last = r.logits.subarray((T - 1) * V, T * V);
      let best = 0;
      for (let v = 1; v < V; v++) if (last[v]! > last[best]!) best = v;
      out.push(best);
      if (s === steps - 1) break;
      seq = [...seq, best];
      r = this.hasCache ? await this.step([[best]]) : (this.reset(), await this.step([seq]));
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
