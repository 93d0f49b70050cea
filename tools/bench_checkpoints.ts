/**
 * On-disk checkpoints for `bench compare` (issue #17, fair cold TTFT and peak RSS): llama.cpp reads a GGUF file
 * that already exists, so opshift's rows load a safetensors folder of the same shapes, as a user would, instead
 * of drawing random weights in JS at first use (which cold TTFT would count) or quantizing a float32 model in
 * memory (which peak RSS would count).
 *
 * Per synthetic preset and seed, in a cache folder (default `<os tmpdir>/opshift-bench-checkpoints`):
 *   <preset>-s<seed>-<hash>-fp32   the seeded random weights (float32 safetensors + config.json)
 *   <preset>-s<seed>-<hash>-w8a8   `opshift quantize --recipe w8a8` of the fp32 folder, every linear (lm_head too)
 *   <preset>-s<seed>-<hash>-w4     `opshift quantize --recipe pergrp --group-size 128`, every linear
 * A tied model gets the quantized copy of its head, as llama.cpp's Q8_0/Q4_0 files quantize the output matrix.
 * `<hash>` is a digest of the preset's config and this layout's version, so an edited preset is never served
 * stale weights. A folder is written under a temporary name and renamed when complete: one that exists is
 * complete and reused. Made in a child process (`node dist/tools/bench_checkpoints.js <json>`) so that its
 * memory never counts in the benchmark's.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArgumentError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { parseConfig, PRESETS } from '../models/config.js';
import { JsonConfig, saveCheckpoint, type Json } from '../models/io/checkpoint.js';
import { buildModel } from '../models/load.js';
import { failureOf, runChild } from './peers/child.js';
import type { Precision } from './peers/llama_bench.js';
import { repoRoot } from './model_source.js';
import { runQuantize } from './quantize.js';

/** Bump when what is written changes (recipes, dtypes, file layout): old folders are then not reused. */
const LAYOUT_VERSION = 1;

export function defaultCheckpointDir(): string {
  return join(tmpdir(), 'opshift-bench-checkpoints');
}

/** A model's config.json (a preset's, or any Hugging Face config of a supported family). */
type RawConfig = Readonly<Record<string, unknown>>;

function presetRaw(preset: string): RawConfig {
  const raw = PRESETS[preset];
  if (!raw) throw new ArgumentError(`bench checkpoints: no preset '${preset}' (${Object.keys(PRESETS).join(', ')})`);
  return raw;
}

/** The cache folder of one config (named `name`), seed and precision (it may not exist yet). */
export function checkpointFolder(root: string, name: string, seed: number, precision: Precision, raw: RawConfig = presetRaw(name)): string {
  if (!Number.isInteger(seed) || seed < 0) throw new ArgumentError(`bench checkpoints: seed ${seed} must be a non-negative integer`);
  const hash = createHash('sha256').update(JSON.stringify({ raw, LAYOUT_VERSION })).digest('hex').slice(0, 10);
  return join(root, `${name}-s${seed}-${hash}-${precision}`);
}

export interface CheckpointRequest {
  readonly root: string;
  /** A preset name (synthetic:<preset>). */
  readonly preset: string;
  readonly seed: number;
  readonly precisions: readonly Precision[];
  /** The config to use instead of the preset's (tests: a tiny model); the preset then only names the folders. */
  readonly raw?: RawConfig;
}

/** Writes `dir` through `write(tmp)` into a temporary sibling, then renames it: a folder that exists is complete. */
function writeOnce(dir: string, write: (tmp: string) => void | Promise<void>): Promise<void> | void {
  if (existsSync(dir)) return;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const finish = () => {
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // Another writer (a concurrent bench compare) finished the same folder first: same inputs, same bytes.
      if (!existsSync(dir)) throw e;
      rmSync(tmp, { recursive: true, force: true });
    }
  };
  const fail = (e: unknown) => {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  };
  try {
    const r = write(tmp);
    if (r instanceof Promise) return r.then(finish, fail);
    finish();
  } catch (e) {
    fail(e);
  }
}

/**
 * Makes the missing folders of `req` in this process. The fp32 folder is saved from the seeded model (its
 * Linear weights drawn and written one at a time: core/weight.ts, models/io/safetensors.ts); the quantized ones
 * are made from it by the public quantize path.
 */
export async function makeCheckpoints(req: CheckpointRequest): Promise<Record<string, string>> {
  mkdirSync(req.root, { recursive: true });
  const raw = req.raw ?? presetRaw(req.preset);
  const out: Record<string, string> = {};
  const fp32 = checkpointFolder(req.root, req.preset, req.seed, 'fp32', raw);
  await writeOnce(fp32, (tmp) => {
    const model = buildModel(parseConfig(new JsonConfig(`synthetic:${req.preset}`, raw as Record<string, Json>))).initRandom(req.seed);
    const tensors = new Map<string, Tensor>();
    for (const [n, p] of model.namedParameters()) tensors.set(n, p.value);
    saveCheckpoint(tmp, tensors, { ...raw, torch_dtype: 'float32' });
  });
  for (const precision of req.precisions) {
    const dir = checkpointFolder(req.root, req.preset, req.seed, precision, raw);
    out[precision] = dir;
    if (precision === 'fp32') continue;
    await writeOnce(dir, async (tmp) => {
      // exclude nothing: lm_head is quantized too (tied models: its quantized copy), as llama.cpp's files
      await runQuantize({ model: fp32, out: tmp, recipe: precision === 'w8a8' ? 'w8a8' : 'pergrp', groupSize: precision === 'w4' ? 128 : undefined, exclude: [] });
    });
  }
  return out;
}

/** The compiled writer: next to this module in dist/tools, or in dist/ when running from the sources. */
function writerScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, 'bench_checkpoints.js'), join(repoRoot(), 'dist', 'tools', 'bench_checkpoints.js')]) if (existsSync(p)) return p;
  throw new Error('bench checkpoints: dist/tools/bench_checkpoints.js not found (build with npx tsc -p tsconfig.json)');
}

/** The folders of `req`, made in a child process when missing (bounded by `timeoutMs`). */
export async function ensureCheckpoints(req: CheckpointRequest, timeoutMs: number): Promise<Record<string, string>> {
  const dirs = Object.fromEntries(req.precisions.map((p) => [p, checkpointFolder(req.root, req.preset, req.seed, p, req.raw)]));
  if (Object.values(dirs).every((d) => existsSync(d))) return dirs;
  const r = await runChild(process.execPath, [writerScript(), JSON.stringify(req)], { timeoutMs });
  const failed = failureOf('checkpoint writer', r, timeoutMs);
  if (failed) throw new Error(failed);
  return JSON.parse(r.stdout) as Record<string, string>;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  makeCheckpoints(JSON.parse(process.argv[2] ?? '') as CheckpointRequest).then(
    (dirs) => process.stdout.write(JSON.stringify(dirs)),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
