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

/** What a step feeds besides the ids; by default the mask grows by ones and positions follow it. */
export interface StepInputs {
  /** The new columns of attention_mask, [B][T] (1 token, 0 padding): appended to the rows kept from earlier steps. */
  readonly mask?: readonly (readonly number[])[];
  /** position_ids [B][T] to feed instead of the mask's (cumsum(mask) - 1 on tokens, 1 on padding, as HF's generate). */
  readonly positionIds?: readonly (readonly number[])[];
}

/** Hugging Face generate's positions for the last T columns of mask rows: cumsum - 1 on tokens, 1 on padding. */
export function positionsFromMaskRows(rows: readonly (readonly number[])[], T: number): number[][] {
  return rows.map((row) => {
    let sum = 0;
    const out: number[] = [];
    row.forEach((m, j) => {
      sum += m;
      if (j >= row.length - T) out.push(m ? sum - 1 : 1);
    });
    return out;
  });
}

export class OnnxCausalLM {
  #past: Map<string, OrtTensor> = new Map();
  #length = 0;
  /** attention_mask rows of the cached positions, [B][length]. */
  #mask: number[][] = [];
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
    this.#mask = [];
  }

  /**
   * One forward over `ids` (rows of equal length) after the cached positions; keeps the presents and the mask.
   * Padding: pass the new mask columns (`inputs.mask`); position_ids then follow the whole mask.
   */
  async step(ids: readonly (readonly number[])[], inputs: StepInputs = {}): Promise<StepResult> {
    const { ort } = this;
    const B = ids.length;
    const T = ids[0]!.length;
    const P = this.#length;
    if (ids.some((r) => r.length !== T)) throw new ExportError(`OnnxCausalLM.step: ids rows have lengths ${ids.map((r) => r.length).join(', ')}; pad them to one length and pass the mask`);
    if (P > 0 && this.#mask.length !== B) throw new ExportError(`OnnxCausalLM.step: ${B} rows after a cache of ${this.#mask.length} rows; reset() first`);
    const fresh = inputs.mask ?? ids.map(() => Array<number>(T).fill(1));
    const shapeOk = (m: readonly (readonly number[])[]) => m.length === B && m.every((r) => r.length === T);
    if (!shapeOk(fresh)) throw new ExportError(`OnnxCausalLM.step: mask must be [${B}][${T}] (the new columns), got [${fresh.length}][${fresh[0]?.length ?? 0}]`);
    const mask = ids.map((_, b) => [...(this.#mask[b] ?? []), ...fresh[b]!]);
    const positions = inputs.positionIds ?? positionsFromMaskRows(mask, T);
    if (!shapeOk(positions)) throw new ExportError(`OnnxCausalLM.step: positionIds must be [${B}][${T}], got [${positions.length}][${positions[0]?.length ?? 0}]`);
    const i64 = (xs: readonly number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(xs, (x) => BigInt(x)), dims);
    const feeds: Record<string, OrtTensor> = {
      input_ids: i64(ids.flat(), [B, T]),
      attention_mask: i64(mask.flat(), [B, P + T]),
      position_ids: i64(positions.flat(), [B, T]),
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
      this.#mask = mask;
    }
    const logits = out.logits!;
    return { logits: logits.data as Float32Array, dims: logits.dims };
  }

  /**
   * Greedy ids for prompts of different lengths in one batch, as generateBatch runs them: left-padded with
   * `padId` and masked, each row `steps` new tokens (no EOS stop), decode through the cache.
   */
  async greedyBatch(prompts: readonly (readonly number[])[], steps: number, padId = 0): Promise<number[][]> {
    if (!this.hasCache) throw new ExportError('OnnxCausalLM.greedyBatch: the graph has no KV cache inputs (export with kvCache: true)');
    this.reset();
    const L = Math.max(...prompts.map((p) => p.length));
    const ids = prompts.map((p) => [...Array<number>(L - p.length).fill(padId), ...p]);
    const mask = prompts.map((p) => [...Array<number>(L - p.length).fill(0), ...Array<number>(p.length).fill(1)]);
    const out: number[][] = prompts.map(() => []);
    let r = await this.step(ids, { mask });
    for (let s = 0; s < steps; s++) {
      const next = argmaxLast(r).map((id, b) => (out[b]!.push(id), [id]));
      if (s === steps - 1) break;
      r = await this.step(next);
    }
    return out;
  }

  /** Greedy ids after `prompt` (one row), `steps` tokens, decode through the cache (or full re-runs without one). */
  async greedy(prompt: readonly number[], steps: number): Promise<number[]> {
    this.reset();
    const out: number[] = [];
    let seq = [...prompt];
    let r = await this.step([seq]);
    for (let s = 0; s < steps; s++) {
      const best = argmaxLast(r)[0]!;
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

/** Each row's argmax at the last position of a step's logits [B, T, V]. */
function argmaxLast(r: StepResult): number[] {
  const [B, T, V] = r.dims as [number, number, number];
  return Array.from({ length: B }, (_, b) => {
    const last = r.logits.subarray((b * T + T - 1) * V, (b * T + T) * V);
    let best = 0;
    for (let v = 1; v < V; v++) if (last[v]! > last[best]!) best = v;
    return best;
  });
}
