/**
 * bench compare's on-disk checkpoints (tools/bench_checkpoints.ts): the fp32 folder holds exactly the seeded
 * synthetic weights, the w8a8 / w4 folders are opshift quantized checkpoints with every linear and the tied
 * head quantized (g128 for w4), folders are reused once written and keyed by the config, and a model loaded
 * from them releases its quantized host copies once a backend prepared them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backendStatus } from '../core/index.js';
import { parsePolicy } from '../core/policy_spec.js';
import { withPolicy } from '../core/policy.js';
import { parseConfig } from '../models/config.js';
import { idsTensor } from '../models/generate.js';
import { JsonConfig, openCheckpoint } from '../models/io/checkpoint.js';
import { buildModel, loadModel } from '../models/load.js';
import { QLinearW4, QLinearW8A8 } from '../models/nn/qlinear.js';
import { checkpointFolder, ensureCheckpoints, makeCheckpoints } from '../tools/bench_checkpoints.js';

const RAW = {
  model_type: 'llama', vocab_size: 96, hidden_size: 128, intermediate_size: 256, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 64, rms_norm_eps: 1e-5,
  rope_theta: 10000, bos_token_id: 1, eos_token_id: 2, tie_word_embeddings: true,
};
const IDS = [1, 5, 9, 17, 33, 64, 3, 80];
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'opshift-bench-ck-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const req = { root, preset: 'tiny', seed: 5, precisions: ['fp32', 'w8a8', 'w4'] as const, raw: RAW };
const logits = (m: ReturnType<typeof loadModel>, policy = 'Linear=cpu,LinearW8A8=cpu,LinearW4=cpu') =>
  withPolicy(parsePolicy(policy), () => Float32Array.from(m.forward(idsTensor(IDS)).storage.data as Float32Array));

describe('bench compare checkpoint folders', () => {
  it('fp32 holds the seeded synthetic weights; w8a8 / w4 quantize every linear and the tied head; folders are reused', async () => {
    const dirs = await makeCheckpoints(req);
    expect(Object.keys(dirs).sort()).toEqual(['fp32', 'w4', 'w8a8']);
    for (const p of req.precisions) expect(dirs[p]).toBe(checkpointFolder(root, 'tiny', 5, p, RAW));

    const synthetic = buildModel(parseConfig(new JsonConfig('tiny', RAW))).initRandom(5);
    expect(logits(loadModel(dirs.fp32!))).toEqual(logits(synthetic));

    for (const [p, Q] of [['w8a8', QLinearW8A8], ['w4', QLinearW4]] as const) {
      const ck = openCheckpoint(dirs[p]!);
      const qc = ck.config.raw.quantization_config as Record<string, unknown>;
      ck.close();
      expect(qc.recipe).toBe(p === 'w8a8' ? 'w8a8' : 'pergrp');
      expect(qc.modules_to_not_convert).toEqual([]);
      const m = loadModel(dirs[p]!);
      const q = [...m.namedModules()].filter((e) => e.module instanceof Q);
      expect(q.length).toBe(2 * 7 + 1); // every linear and the tied head's quantized copy
      expect(q.some((e) => e.path === 'lm_head')).toBe(true);
      if (p === 'w4') expect(q.every((e) => (e.module as QLinearW4).groupSize === 128)).toBe(true);
    }

    // Written once: a second call (in process, or through ensureCheckpoints) rewrites nothing.
    const mtimes = req.precisions.map((p) => fs.statSync(path.join(dirs[p]!, 'model.safetensors')).mtimeMs);
    expect(await makeCheckpoints(req)).toEqual(dirs);
    expect(await ensureCheckpoints(req, 60_000)).toEqual(dirs);
    expect(req.precisions.map((p) => fs.statSync(path.join(dirs[p]!, 'model.safetensors')).mtimeMs)).toEqual(mtimes);
    expect(fs.readdirSync(root).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('folders are keyed by seed and config: another seed or an edited config gets its own folder', () => {
    const a = checkpointFolder(root, 'tiny', 5, 'fp32', RAW);
    expect(checkpointFolder(root, 'tiny', 6, 'fp32', RAW)).not.toBe(a);
    expect(checkpointFolder(root, 'tiny', 5, 'fp32', { ...RAW, num_hidden_layers: 3 })).not.toBe(a);
    expect(() => checkpointFolder(root, 'no-such-preset', 0, 'fp32')).toThrow(/no preset 'no-such-preset'/);
    expect(() => checkpointFolder(root, 'tiny', -1, 'fp32', RAW)).toThrow(/seed -1/);
  });

  it('a quantized folder loads with its weights deferred, and npu releases them again after preparing', async () => {
    if (backendStatus('npu')?.available !== true) return console.warn('npu unavailable: skipped');
    const prev = process.env.OPSHIFT_RELEASE_MIN_BYTES;
    process.env.OPSHIFT_RELEASE_MIN_BYTES = '0';
    try {
      const dirs = await makeCheckpoints(req);
      const m = loadModel(dirs.w8a8!);
      const ws = [...m.namedModules()].flatMap((e) => (e.module instanceof QLinearW8A8 ? [e.module.weight.value] : []));
      expect(ws.every((w) => !w.storage.resident)).toBe(true);
      const ref = logits(loadModel(dirs.w8a8!), 'LinearW8A8=npu');
      expect(logits(m, 'LinearW8A8=npu')).toEqual(ref);
      expect(ws.every((w) => !w.storage.resident)).toBe(true);
    } finally {
      if (prev === undefined) delete process.env.OPSHIFT_RELEASE_MIN_BYTES;
      else process.env.OPSHIFT_RELEASE_MIN_BYTES = prev;
    }
  });
});
