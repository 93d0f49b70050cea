/**
 * One resident copy for quantized weights (issue #17): the int8 weights of w8a8 linears and the nibbles, scales
 * and zero points of w4 linears loaded from an opshift quantized checkpoint get a restore source (the checkpoint
 * by offset), are read on first use, released once the npu library or ORT holds its prepared form, and come back
 * bit-identical when another backend (the cpu reference) needs them. Also: saving a model streams its weights,
 * one at a time, without keeping released ones resident.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendStatus, type Tensor } from '../core/index.js';
import { parsePolicy } from '../core/policy_spec.js';
import { withPolicy } from '../core/policy.js';
import { weightStats } from '../core/weight.js';
import type { CausalLM } from '../models/causal_lm.js';
import { parseConfig } from '../models/config.js';
import { idsTensor } from '../models/generate.js';
import { JsonConfig, saveCheckpoint } from '../models/io/checkpoint.js';
import { openSafetensors } from '../models/io/safetensors.js';
import { buildModel, loadModel } from '../models/load.js';
import { Linear } from '../models/nn/layers.js';
import { QLinearW4, QLinearW8A8 } from '../models/nn/qlinear.js';
import { quantize, type Recipe } from '../models/quantize/index.js';
import { quantizationConfig, saveQuantized } from '../models/quantize/checkpoint.js';
import { keepingHostWeights } from './model_fixtures.js';

// Tied, so the quantized copy of the head (lm_head.*) is covered too.
const RAW = {
  model_type: 'llama', vocab_size: 96, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 64, rms_norm_eps: 1e-5,
  rope_theta: 10000, bos_token_id: 1, eos_token_id: 2, tie_word_embeddings: true,
};
const IDS = [1, 5, 9, 17, 33, 64, 3, 80];
const RECIPES: Record<'w8a8' | 'w4', Recipe> = { w8a8: { method: 'w8a8' }, w4: { method: 'pergrp', groupSize: 32 } };
const OP = { w8a8: 'LinearW8A8', w4: 'LinearW4' } as const;

const npu = backendStatus('npu')?.available === true;
const ort = backendStatus('ort')?.available === true;
const minBytes = process.env.OPSHIFT_RELEASE_MIN_BYTES;
let root = '';
const dirs = { fp32: '', w8a8: '', w4: '' };

/** The parameters a backend prepares (and so may release): w8a8's int8 weight; w4's qweight, scales, zeros. */
function gemmWeights(m: CausalLM): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const { path: p, module } of m.namedModules()) {
    if (module instanceof QLinearW8A8) out.set(`${p}.weight`, module.weight.value);
    if (module instanceof QLinearW4) for (const [n, q] of [['qweight', module.qweight], ['scales', module.scales], ['zeros', module.zeros]] as const) out.set(`${p}.${n}`, q.value);
  }
  return out;
}

function logits(m: CausalLM, policy: string): Float32Array {
  return withPolicy(parsePolicy(policy), () => Float32Array.from(m.forward(idsTensor(IDS)).storage.data as Float32Array));
}


const bytesEqual = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

beforeAll(() => {
  process.env.OPSHIFT_RELEASE_MIN_BYTES = '0'; // the test model's weights are far below the default 1 MiB
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'opshift-qrelease-'));
  const model = buildModel(parseConfig(new JsonConfig('test', RAW))).initRandom(11);
  const tensors = new Map<string, Tensor>();
  for (const [n, p] of model.namedParameters()) tensors.set(n, p.value);
  dirs.fp32 = path.join(root, 'fp32');
  saveCheckpoint(dirs.fp32, tensors, RAW);
  for (const q of ['w8a8', 'w4'] as const) {
    // As `opshift quantize` does: load the float folder, quantize every linear and the tied head, save.
    const m = loadModel(dirs.fp32);
    const report = quantize(m, RECIPES[q], { exclude: [] });
    dirs[q] = path.join(root, q);
    saveQuantized(m, dirs[q], RAW, quantizationConfig(report));
  }
});

afterAll(() => {
  if (minBytes === undefined) delete process.env.OPSHIFT_RELEASE_MIN_BYTES;
  else process.env.OPSHIFT_RELEASE_MIN_BYTES = minBytes;
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

describe('quantized weights loaded from a checkpoint', () => {
  for (const q of ['w8a8', 'w4'] as const) {
    it(`${q}: are not read at load, and come back from the checkpoint bit-identical`, () => {
      const m = loadModel(dirs[q]);
      const ws = gemmWeights(m);
      // 2 layers x 7 linears + the tied head; w4 has three tensors each
      expect(ws.size).toBe((2 * 7 + 1) * (q === 'w4' ? 3 : 1));
      expect([...ws.values()].every((w) => !w.storage.resident && w.storage.source !== undefined)).toBe(true);
      const file = openSafetensors(path.join(dirs[q], 'model.safetensors'));
      try {
        for (const [name, w] of ws) {
          const want = file.load(name).storage.data;
          const got = w.storage.data; // restores
          expect(got.constructor).toBe(want.constructor);
          expect(bytesEqual(got, want)).toBe(true);
        }
      } finally {
        file.close();
      }
    });

    for (const backend of ['npu', 'ort'] as const) {
      it(`${q}: released once ${backend} prepared them; a later cpu run restores them and matches a model that kept every copy`, () => {
        if (!{ npu, ort }[backend]) return console.warn(`${backend} unavailable: skipped`);
        const on = `${OP[q]}=${backend}`;
        const cpu = `${OP[q]}=cpu`;
        const ref = keepingHostWeights(() => {
          const k = loadModel(dirs[q]);
          expect([...gemmWeights(k).values()].every((w) => w.storage.resident)).toBe(true);
          return { on: logits(k, on), cpu: logits(k, cpu) };
        });
        const m = loadModel(dirs[q]);
        const ws = [...gemmWeights(m).values()];
        const before = weightStats();
        expect(logits(m, on)).toEqual(ref.on);
        // Every one read once (restored) and dropped once prepared (ORT: w8a8's int8 W goes when its Wᵀ is made,
        // and that Wᵀ goes once the session holds it, so releases may exceed restores there).
        expect(ws.every((w) => !w.storage.resident)).toBe(true);
        const after = weightStats();
        expect(after.restores - before.restores).toBe(ws.length);
        expect(after.releases - before.releases).toBeGreaterThanOrEqual(ws.length);
        expect(logits(m, cpu)).toEqual(ref.cpu); // restored from the checkpoint
        expect(ws.every((w) => w.storage.resident)).toBe(true);
        expect(logits(m, on)).toEqual(ref.on); // the prepared form is still cached
      });
    }
  }

  it('a model quantized in memory keeps its host copies (no source to restore from)', () => {
    if (!npu) return console.warn('npu unavailable: skipped');
    const m = keepingHostWeights(() => loadModel(dirs.fp32));
    quantize(m, RECIPES.w8a8, { exclude: [] });
    logits(m, 'LinearW8A8=npu');
    expect([...gemmWeights(m).values()].every((w) => w.storage.resident)).toBe(true);
  });
});

describe('saving streams the weights', () => {
  it('released weights are read one at a time for the write and released again; the files are identical', () => {
    const m = loadModel(dirs.fp32);
    const linears = [...m.namedModules()].filter((e) => e.module instanceof Linear).map((e) => (e.module as Linear).weight.value);
    expect(linears.length).toBe(2 * 7);
    expect(linears.every((w) => !w.storage.resident)).toBe(true);
    const out = path.join(root, 'resaved');
    const tensors = new Map<string, Tensor>();
    for (const [n, p] of m.namedParameters()) tensors.set(n, p.value);
    const before = weightStats();
    saveCheckpoint(out, tensors, RAW);
    expect(weightStats().restores - before.restores).toBe(linears.length);
    expect(linears.every((w) => !w.storage.resident)).toBe(true);
    expect(fs.readFileSync(path.join(out, 'model.safetensors')).equals(fs.readFileSync(path.join(dirs.fp32, 'model.safetensors')))).toBe(true);
  });
});
