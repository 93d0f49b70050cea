/**
 * One resident copy, seen by the OS (issue #17): a child process that loads OPT-125m's shapes and runs one prefill
 * with Linear on a GEMM backend holds less memory than one that keeps every host copy
 * (OPSHIFT_KEEP_HOST_WEIGHTS=1): about the Linear weights' float32 bytes less; likewise the int8 weights of a
 * w8a8 checkpoint once the npu library packed them. Runs the built tool
 * (dist/tools/weights_rss.js, `npm run build` / `npx tsc`), like the CLI tests.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backendStatus } from '../core/index.js';
import { buildModel } from '../models/load.js';
import { presetConfig } from '../models/config.js';
import { Linear } from '../models/nn/layers.js';
import { makeCheckpoints } from '../tools/bench_checkpoints.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const TOOL = path.join(ROOT, 'dist', 'tools', 'weights_rss.js');

describe('peak and resident memory in a child process', () => {
  it('after the first token, RSS is lower by at least half the Linear weights than with every host copy kept', async () => {
    if (!fs.existsSync(TOOL)) return console.warn(`${TOOL} not built: skipped`);
    const backend = ['npu', 'wasm', 'ort'].find((b) => backendStatus(b)?.available === true);
    if (!backend) return console.warn('no GEMM backend available: skipped');
    const { measureWeights } = (await import(TOOL)) as typeof import('../tools/weights_rss.js');
    const o = { model: 'synthetic:opt-125m', dispatch: `Linear=${backend}`, promptTokens: 16 };
    const kept = measureWeights(o, { OPSHIFT_KEEP_HOST_WEIGHTS: '1' });
    const released = measureWeights(o, { OPSHIFT_KEEP_HOST_WEIGHTS: '0' });
    expect(kept.gemmBackends[`Linear:${backend}`]).toBeGreaterThan(0);
    expect(released.gemmBackends[`Linear:${backend}`]).toBeGreaterThan(0);
    let linearMiB = 0;
    for (const { module } of buildModel(presetConfig('opt-125m')).namedModules())
      if (module instanceof Linear) linearMiB += (module.inFeatures * module.outFeatures * 4) / 2 ** 20;
    // Storage accounting first (exact), then the OS's view (allocator slack allowed: half the bytes).
    expect(kept.hostAfterFirstTokenMiB - released.hostAfterFirstTokenMiB).toBeCloseTo(linearMiB, 0);
    expect(kept.rssMiB - released.rssMiB, JSON.stringify({ kept, released })).toBeGreaterThan(linearMiB / 2);
    expect(released.peakRssMiB).toBeLessThan(kept.peakRssMiB);
  }, 120_000);

  it('a quantized checkpoint (w8a8) on npu: host copies of the int8 weights are released, and RSS shows it', async () => {
    if (!fs.existsSync(TOOL)) return console.warn(`${TOOL} not built: skipped`);
    if (backendStatus('npu')?.available !== true) return console.warn('npu unavailable: skipped');
    const { measureWeights } = (await import(TOOL)) as typeof import('../tools/weights_rss.js');
    // Big enough that every linear is over the 1 MiB release threshold and the difference stands out of RSS noise.
    const raw = {
      model_type: 'llama', vocab_size: 1024, hidden_size: 1024, intermediate_size: 4096, num_hidden_layers: 2,
      num_attention_heads: 8, num_key_value_heads: 8, max_position_embeddings: 64, rms_norm_eps: 1e-5,
      rope_theta: 10000, bos_token_id: 1, eos_token_id: 2, tie_word_embeddings: false,
    };
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'opshift-rss-q-'));
    try {
      const dirs = await makeCheckpoints({ root, preset: 'rss-test', seed: 1, precisions: ['w8a8'], raw });
      const o = { model: dirs.w8a8!, dispatch: 'LinearW8A8=npu', promptTokens: 16 };
      const kept = measureWeights(o, { OPSHIFT_KEEP_HOST_WEIGHTS: '1' });
      const released = measureWeights(o, { OPSHIFT_KEEP_HOST_WEIGHTS: '0' });
      expect(released.gemmBackends['LinearW8A8:npu']).toBe(2 * 7 + 1);
      const int8MiB = (2 * (4 * 1024 * 1024 + 3 * 1024 * 4096) + 1024 * 1024) / 2 ** 20;
      expect(released.hostAfterLoadMiB).toBeLessThan(kept.hostAfterLoadMiB - int8MiB + 0.01); // not even read at load
      expect(kept.hostAfterFirstTokenMiB - released.hostAfterFirstTokenMiB).toBeCloseTo(int8MiB, 1);
      expect(kept.rssMiB - released.rssMiB, JSON.stringify({ kept, released })).toBeGreaterThan(int8MiB / 2);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);
});
