/**
 * Hugging Face model folders: `config.json`, `generation_config.json` (optional) and the weights as one
 * `model.safetensors` or shards listed by `model.safetensors.index.json` (`weight_map`: tensor name → shard file).
 *
 * `openCheckpoint` validates everything up front (every shard exists and is a valid safetensors file, every
 * mapped name is in its shard), then loads tensors lazily, one at a time (see safetensors.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, type Tensor } from '../../core/index.js';
import { itemSize, type DType } from '../../core/dtype.js';
import type { HostSource } from '../../core/weight.js';
import { readRegularText } from './regular_file.js';
import { openSafetensors, writeSafetensors, type LoadOptions, type SafetensorsFile, type SafetensorsTensorInfo } from './safetensors.js';

export const CONFIG_FILE = 'config.json';
export const GENERATION_CONFIG_FILE = 'generation_config.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const WEIGHTS_INDEX_FILE = 'model.safetensors.index.json';

export type Json = unknown;

/**
 * The largest config / index JSON file read (the index of a 405B model is ~100 kB): a bigger one is corrupt
 * or hostile, and is refused before it is read into memory.
 */
export const MAX_JSON_BYTES = 64 * 1024 * 1024;

/** Reads a JSON object from a regular file (not a FIFO or device) of at most MAX_JSON_BYTES. */
export function readJson(file: string, what: string): Record<string, Json> {
  const text = readRegularText(file, what, MAX_JSON_BYTES);
  let v: Json;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(file, `${what} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CheckpointError(file, `${what} must be a JSON object`);
  return v as Record<string, Json>;
}

/** A JSON object read from a config file, with typed accessors whose errors name the file and the field. */
export class JsonConfig {
  constructor(
    /** The file it came from (used in error messages). */
    readonly file: string,
    /** The parsed object, as is. */
    readonly raw: Readonly<Record<string, Json>>,
  ) {}

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  private bad(key: string, want: string): never {
    const v = this.raw[key];
    throw new CheckpointError(this.file, v === undefined || v === null ? `field '${key}' is missing (${want} required)` : `field '${key}' must be ${want}, got ${JSON.stringify(v)}`);
  }

  /** A finite number; `fallback` when the field is absent or null (without a fallback, absent is an error). */
  number(key: string, fallback?: number): number {
    const v = this.raw[key];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.bad(key, 'a number');
    return v;
  }

  /** An integer (JSON `4.0` counts); `fallback` when absent or null. */
  int(key: string, fallback?: number): number {
    const v = this.raw[key];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.bad(key, 'an integer');
    return v;
  }

  bool(key: string, fallback?: boolean): boolean {
    const v = this.raw[key];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== 'boolean') this.bad(key, 'true or false');
    return v;
  }

  string(key: string, fallback?: string): string {
    const v = this.raw[key];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== 'string') this.bad(key, 'a string');
    return v;
  }

  /** A nested object (e.g. `rope_scaling`), or undefined when absent or null. */
  object(key: string): JsonConfig | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) this.bad(key, 'an object');
    return new JsonConfig(`${this.file} (${key})`, v as Record<string, Json>);
  }

  /** Token ids given as one integer or a list of integers (`eos_token_id`); [] when absent or null. */
  ids(key: string): number[] {
    const v = this.raw[key];
    if (v === undefined || v === null) return [];
    if (typeof v === 'number' && Number.isSafeInteger(v)) return [v];
    if (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isSafeInteger(x))) return v as number[];
    this.bad(key, 'an integer or a list of integers');
  }

  /** One optional token id (`bos_token_id`, `pad_token_id`). */
  optionalInt(key: string): number | undefined {
    return this.has(key) ? this.int(key) : undefined;
  }
}

/** `config.json`: the architecture fields every model has, typed; model-specific ones through the accessors. */
export class ModelConfig extends JsonConfig {
  /** `model_type`, e.g. 'opt', 'llama'. */
  readonly modelType: string;
  /** `architectures`, e.g. ['LlamaForCausalLM'] ([] when absent). */
  readonly architectures: readonly string[];
  /** `torch_dtype` (transformers ≤ 4.x) or `dtype` (v5), when given: the dtype the weights were saved in. */
  readonly torchDtype: string | undefined;

  constructor(file: string, raw: Record<string, Json>) {
    super(file, raw);
    this.modelType = this.string('model_type');
    const arch = raw.architectures;
    if (arch !== undefined && arch !== null && !(Array.isArray(arch) && arch.every((a) => typeof a === 'string')))
      throw new CheckpointError(file, `field 'architectures' must be a list of strings, got ${JSON.stringify(arch)}`);
    this.architectures = (arch as string[] | undefined | null) ?? [];
    const d = raw.torch_dtype ?? raw.dtype;
    this.torchDtype = typeof d === 'string' ? d : undefined;
  }

  /** Reads and validates a `config.json` file. */
  static read(file: string): ModelConfig {
    return new ModelConfig(file, readJson(file, 'the model config'));
  }
}

/** `generation_config.json`: eos (one id or a list), bos and pad ids; the rest through the accessors. */
export class GenerationConfig extends JsonConfig {
  readonly eosTokenIds: readonly number[];
  readonly bosTokenId: number | undefined;
  readonly padTokenId: number | undefined;

  constructor(file: string, raw: Record<string, Json>) {
    super(file, raw);
    this.eosTokenIds = this.ids('eos_token_id');
    this.bosTokenId = this.optionalInt('bos_token_id');
    this.padTokenId = this.optionalInt('pad_token_id');
  }

  static read(file: string): GenerationConfig {
    return new GenerationConfig(file, readJson(file, 'the generation config'));
  }
}

export interface CheckpointTensorInfo extends SafetensorsTensorInfo {
  /** The safetensors file (absolute path) holding the tensor. */
  readonly file: string;
}

/** An open model folder. `close()` releases the shards' file descriptors. */
export class Checkpoint {
  readonly dir: string;
  readonly config: ModelConfig;
  /** From `generation_config.json`, or undefined when the folder has none. */
  readonly generationConfig: GenerationConfig | undefined;
  /** The safetensors files, in shard order. */
  readonly files: readonly string[];
  /** The index's `metadata` (e.g. `total_size`) for sharded checkpoints, else {}. */
  readonly indexMetadata: Readonly<Record<string, Json>>;
  private readonly where = new Map<string, SafetensorsFile>();
  private readonly shards: SafetensorsFile[] = [];

  /** Use `openCheckpoint(dir)`. */
  constructor(dir: string) {
    this.dir = path.resolve(dir);
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(this.dir);
    } catch {
      st = undefined;
    }
    if (!st?.isDirectory()) throw new CheckpointError(this.dir, 'not a directory (expected a Hugging Face model folder)');
    const configFile = path.join(this.dir, CONFIG_FILE);
    if (!fs.existsSync(configFile)) throw new CheckpointError(this.dir, `no ${CONFIG_FILE} in the model folder`);
    this.config = ModelConfig.read(configFile);
    const gen = path.join(this.dir, GENERATION_CONFIG_FILE);
    this.generationConfig = fs.existsSync(gen) ? GenerationConfig.read(gen) : undefined;

    const single = path.join(this.dir, WEIGHTS_FILE);
    const indexFile = path.join(this.dir, WEIGHTS_INDEX_FILE);
    try {
      if (fs.existsSync(single)) {
        const f = openSafetensors(single);
        this.shards.push(f);
        for (const n of f.names()) this.where.set(n, f);
        this.indexMetadata = {};
      } else if (fs.existsSync(indexFile)) {
        this.indexMetadata = this.openShards(indexFile);
      } else {
        const other = ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'model.pt', 'tf_model.h5'].filter((f) => fs.existsSync(path.join(this.dir, f)));
        throw new CheckpointError(
          this.dir,
          `no ${WEIGHTS_FILE} or ${WEIGHTS_INDEX_FILE}` + (other.length ? ` (found ${other.join(', ')}: only safetensors weights are supported)` : ''),
        );
      }
    } catch (e) {
      this.close();
      throw e;
    }
    this.files = this.shards.map((s) => s.path);
  }

  private openShards(indexFile: string): Record<string, Json> {
    const index = readJson(indexFile, 'the weight index');
    const map = index.weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map))
      throw new CheckpointError(indexFile, "'weight_map' must be an object mapping tensor names to shard files");
    const byFile = new Map<string, SafetensorsFile>();
    for (const [name, shard] of Object.entries(map as Record<string, Json>)) {
      if (typeof shard !== 'string') throw new CheckpointError(indexFile, `weight_map['${name}'] must be a file name, got ${JSON.stringify(shard)}`);
      // Shards live in the folder itself: a name with a path in it could point anywhere on disk.
      if (shard !== path.basename(shard) || shard === '.' || shard === '..')
        throw new CheckpointError(indexFile, `weight_map['${name}'] = '${shard}' must be a file name in the model folder`);
      let f = byFile.get(shard);
      if (!f) {
        const p = path.join(this.dir, shard);
        if (!fs.existsSync(p)) throw new CheckpointError(indexFile, `shard '${shard}' (holding '${name}') does not exist in ${this.dir}`);
        f = openSafetensors(p);
        byFile.set(shard, f);
        this.shards.push(f);
      }
      if (!f.has(name)) throw new CheckpointError(indexFile, `weight_map maps '${name}' to '${shard}', but that shard has no tensor '${name}'`);
      this.where.set(name, f);
    }
    const meta = index.metadata;
    return typeof meta === 'object' && meta !== null && !Array.isArray(meta) ? (meta as Record<string, Json>) : {};
  }

  /** Every tensor name (file order within each shard). */
  names(): string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  private shardOf(name: string): SafetensorsFile {
    const f = this.where.get(name);
    if (!f) {
      const names = this.names();
      throw new CheckpointError(this.dir, `no tensor named '${name}' in the checkpoint (${names.length} tensors: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''})`);
    }
    return f;
  }

  info(name: string): CheckpointTensorInfo {
    const f = this.shardOf(name);
    return { ...f.info(name), file: f.path };
  }

  /** Reads one tensor from its shard (optionally converted, e.g. `{ dtype: 'float32' }` for bf16 weights). */
  load(name: string, options: LoadOptions = {}): Tensor {
    return this.shardOf(name).load(name, options);
  }

  /** Re-reads `name` as `dtype` by file offset after the checkpoint is closed (see SafetensorsFile.hostSource). */
  hostSource(name: string, dtype: DType): HostSource {
    return this.shardOf(name).hostSource(name, dtype);
  }

  /** EOS ids to stop on: generation_config.json's, then config.json's, without duplicates. */
  get eosTokenIds(): number[] {
    return [...new Set([...(this.generationConfig?.eosTokenIds ?? []), ...this.config.ids('eos_token_id')])];
  }

  /** BOS id: generation_config.json's, else config.json's. */
  get bosTokenId(): number | undefined {
    return this.generationConfig?.bosTokenId ?? this.config.optionalInt('bos_token_id');
  }

  close(): void {
    for (const s of this.shards) s.close();
  }
}

/** Opens a Hugging Face model folder (validates config, index and every shard's header). */
export function openCheckpoint(dir: string): Checkpoint {
  return new Checkpoint(dir);
}

export interface SaveCheckpointOptions {
  /** Start a new shard when the current one would exceed this many bytes of tensor data (default 5 GB, as transformers). */
  maxShardBytes?: number;
  /** Written as generation_config.json when given. */
  generationConfig?: Record<string, unknown>;
  /** safetensors `__metadata__` of every file (default { format: 'pt' }, which transformers expects). */
  metadata?: Record<string, string>;
}

/**
 * Writes a model folder: config.json, then model.safetensors when everything fits in one shard, else
 * `model-0000i-of-0000n.safetensors` files (tensors in the given order, a tensor larger than the limit gets a
 * shard of its own) and model.safetensors.index.json with `metadata.total_size` and a sorted `weight_map`.
 * Returns the weight files written.
 */
export function saveCheckpoint(
  dir: string,
  tensors: Record<string, Tensor> | Map<string, Tensor>,
  config: Record<string, unknown>,
  options: SaveCheckpointOptions = {},
): string[] {
  const maxShardBytes = options.maxShardBytes ?? 5_000_000_000;
  const metadata = options.metadata ?? { format: 'pt' };
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, CONFIG_FILE), JSON.stringify(config, null, 2) + '\n');
  if (options.generationConfig) fs.writeFileSync(path.join(dir, GENERATION_CONFIG_FILE), JSON.stringify(options.generationConfig, null, 2) + '\n');

  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  // From shape and dtype: reading `data` would restore every released weight at once (core/weight.ts).
  const bytesOf = (t: Tensor): number => t.numel() * itemSize(t.dtype);
  const shards: [string, Tensor][][] = [];
  let current: [string, Tensor][] = [];
  let size = 0;
  for (const e of entries) {
    const b = bytesOf(e[1]);
    if (current.length > 0 && size + b > maxShardBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(e);
    size += b;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);

  // Remove weights of a previous save with a different layout, so the folder is unambiguous.
  for (const f of fs.readdirSync(dir))
    if (f === WEIGHTS_FILE || f === WEIGHTS_INDEX_FILE || /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)) fs.rmSync(path.join(dir, f));

  if (shards.length === 1) {
    const file = path.join(dir, WEIGHTS_FILE);
    writeSafetensors(file, new Map(shards[0]), metadata);
    return [file];
  }
  const files: string[] = [];
  const weightMap: Record<string, string> = {};
  const pad = (i: number): string => String(i).padStart(5, '0');
  shards.forEach((s, i) => {
    const name = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    writeSafetensors(path.join(dir, name), new Map(s), metadata);
    for (const [n] of s) weightMap[n] = name;
    files.push(path.join(dir, name));
  });
  const sorted: Record<string, string> = {};
  for (const k of Object.keys(weightMap).sort()) sorted[k] = weightMap[k]!;
  const totalSize = entries.reduce((s, [, t]) => s + bytesOf(t), 0);
  fs.writeFileSync(path.join(dir, WEIGHTS_INDEX_FILE), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: sorted }, null, 2) + '\n');
  return files;
}
