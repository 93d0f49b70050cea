/**
 * One resident copy (issue #17, core/weight.ts): Linear weights loaded from a checkpoint are read on first use,
 * released once a backend has prepared them, and restored bit-identically (from the checkpoint by offset, or a
 * seeded generator) when anything else reads them: a fallback to another backend gives the same logits as a
 * model that kept every host copy.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendStatus, CheckpointError, fromTypedArray, type Tensor } from '../core/index.js';
import { parsePolicy } from '../core/policy_spec.js';
import { withPolicy } from '../core/policy.js';
import { parseConfig } from '../models/config.js';
import { buildModel, loadModel } from '../models/load.js';
import { JsonConfig, saveCheckpoint } from '../models/io/checkpoint.js';
import { openSafetensors } from '../models/io/safetensors.js';
import { idsTensor } from '../models/generate.js';
import { Linear } from '../models/nn/layers.js';
import type { CausalLM } from '../models/causal_lm.js';
import { setHostSource, weightStats } from '../core/weight.js';
import { keepingHostWeights } from './model_fixtures.js';

const RAW = {
  model_type: 'llama', vocab_size: 96, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 64, rms_norm_eps: 1e-5,
  rope_theta: 10000, bos_token_id: 1, eos_token_id: 2, tie_word_embeddings: false,
};
const IDS = [1, 5, 9, 17, 33, 64, 3, 80];

let dir = '';
let bf16Dir = '';

/** Linear weights of a model, by path. */
function linearWeights(m: CausalLM): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const { path: p, module } of m.namedModules()) if (module instanceof Linear) out.set(`${p}.weight`, module.weight.value);
  return out;
}

function logits(m: CausalLM, policy: string): Float32Array {
  return withPolicy(parsePolicy(policy), () => Float32Array.from(m.forward(idsTensor(IDS)).storage.data as Float32Array));
}


const npu = backendStatus('npu')?.available === true;
const ort = backendStatus('ort')?.available === true;
const wasm = backendStatus('wasm')?.available === true;

const minBytes = process.env.OPSHIFT_RELEASE_MIN_BYTES;

beforeAll(() => {
  // The test model's weights are 16-32 KB: below the default 1 MiB, which keeps small weights resident.
  process.env.OPSHIFT_RELEASE_MIN_BYTES = '0';
  const model = buildModel(parseConfig(new JsonConfig('test', RAW))).initRandom(7);
  const tensors = new Map<string, Tensor>();
  for (const [n, p] of model.namedParameters()) tensors.set(n, p.value);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opshift-weights-'));
  saveCheckpoint(dir, tensors, RAW);
  bf16Dir = fs.mkdtempSync(path.join(os.tmpdir(), 'opshift-weights-bf16-'));
  saveCheckpoint(bf16Dir, new Map([...tensors].map(([n, t]) => [n, t.to('bfloat16')])), { ...RAW, torch_dtype: 'bfloat16' });
});

afterAll(() => {
  if (minBytes === undefined) delete process.env.OPSHIFT_RELEASE_MIN_BYTES;
  else process.env.OPSHIFT_RELEASE_MIN_BYTES = minBytes;
  for (const d of [dir, bf16Dir]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

describe('host copies of Linear weights', () => {
  it('are not read at load, and go again once a backend has prepared them (storage accounting)', () => {
    if (!npu) return console.warn('npu unavailable: skipped');
    const before = weightStats();
    const m = loadModel(dir);
    const ws = [...linearWeights(m).values()];
    const linearBytes = ws.reduce((s, w) => s + w.numel() * 4, 0);
    expect(ws.length).toBe(2 * 7 + 1);
    expect(ws.every((w) => !w.storage.resident)).toBe(true);
    const loaded = weightStats();
    expect(loaded.releasedBytes - before.releasedBytes).toBeGreaterThanOrEqual(linearBytes);

    logits(m, 'Linear=npu');
    expect(ws.every((w) => !w.storage.resident)).toBe(true);
    const after = weightStats();
    expect(after.releases - loaded.releases).toBe(ws.length); // each read once, prepared, released
    expect(after.restores - loaded.restores).toBe(ws.length);
    // The embedding, the norms: resident, with no source (the gather and the norms read them every step).
    const emb = (m as unknown as { model: { embedTokens: { weight: { value: Tensor } } } }).model.embedTokens.weight.value;
    expect(emb.storage.resident).toBe(true);
    expect(emb.storage.source).toBeUndefined();
  });

  it('come back from the checkpoint bit-identical (float32, and bfloat16 widened as loading widens it)', () => {
    for (const [d, dtype] of [[dir, 'float32'], [bf16Dir, 'float32'], [bf16Dir, 'bfloat16']] as const) {
      const m = loadModel(d, { dtype });
      const file = openSafetensors(path.join(d, 'model.safetensors'));
      try {
        for (const [name, w] of linearWeights(m)) {
          expect(w.storage.resident).toBe(false);
          const want = file.load(name, { dtype }).storage.data;
          const got = w.storage.data; // restores
          expect(w.storage.resident).toBe(true);
          expect(got.constructor).toBe(want.constructor);
          expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength))).toBe(true);
        }
      } finally {
        file.close();
      }
    }
  });

  it('a bfloat16 checkpoint is not widened on the host: Linear weights are never resident as float32 after loading or after the npu prepared them', () => {
    const m = loadModel(bf16Dir);
    const ws = [...linearWeights(m).values()];
    expect(ws.every((w) => w.dtype === 'float32' && !w.storage.resident)).toBe(true);
    if (npu) {
      logits(m, 'Linear=npu');
      expect(ws.every((w) => !w.storage.resident)).toBe(true);
    }
    // Loaded as bfloat16, they are bfloat16 wherever they are read: 2 bytes a value.
    const b = loadModel(bf16Dir, { dtype: 'bfloat16' });
    for (const w of linearWeights(b).values()) expect(w.storage.data).toBeInstanceOf(Uint16Array);
  });

  for (const backend of ['npu', 'ort', 'wasm'] as const) {
    it(`after ${backend} released them, a fallback to cpu gives the logits of a model that kept every copy`, () => {
      if (!{ npu, ort, wasm }[backend]) return console.warn(`${backend} unavailable: skipped`);
      const ref = keepingHostWeights(() => {
        const k = loadModel(dir);
        expect([...linearWeights(k).values()].every((w) => w.storage.resident)).toBe(true);
        return { on: logits(k, `Linear=${backend}`), cpu: logits(k, 'Linear=cpu') };
      });
      const m = loadModel(dir);
      expect(logits(m, `Linear=${backend}`)).toEqual(ref.on);
      const ws = [...linearWeights(m).values()];
      expect(ws.every((w) => !w.storage.resident)).toBe(true);
      expect(logits(m, 'Linear=cpu')).toEqual(ref.cpu); // restored from the checkpoint
      expect(ws.every((w) => w.storage.resident)).toBe(true); // and kept while cpu uses them
      expect(logits(m, `Linear=${backend}`)).toEqual(ref.on); // the prepared form is still cached
    });
  }

  it('seeded (synthetic) weights are drawn on first use and regenerated bit-identically after release', () => {
    if (!npu) return console.warn('npu unavailable: skipped');
    const cfg = parseConfig(new JsonConfig('test', RAW));
    const ref = keepingHostWeights(() => buildModel(cfg).initRandom(3)); // drawn once, kept
    const m = buildModel(cfg).initRandom(3);
    logits(m, 'Linear=npu');
    const want = linearWeights(ref);
    for (const [name, w] of linearWeights(m)) {
      expect(w.storage.resident).toBe(false);
      expect(want.get(name)!.storage.resident).toBe(true);
      expect(w.storage.data).toEqual(want.get(name)!.storage.data);
    }
  });

  it('a checkpoint changed on disk after loading fails the restore, naming the file and the rule', () => {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'opshift-weights-changed-'));
    try {
      for (const f of fs.readdirSync(dir)) fs.copyFileSync(path.join(dir, f), path.join(copy, f));
      const m = loadModel(copy);
      const w = linearWeights(m).values().next().value!;
      fs.appendFileSync(path.join(copy, 'model.safetensors'), Buffer.alloc(8));
      expect(() => w.storage.data).toThrow(CheckpointError);
      expect(() => w.storage.data).toThrow(/changed since the model was loaded .*OPSHIFT_KEEP_HOST_WEIGHTS/);
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });

  it('weights under OPSHIFT_RELEASE_MIN_BYTES (default 1 MiB) are read at load and stay resident', () => {
    const prev = process.env.OPSHIFT_RELEASE_MIN_BYTES;
    delete process.env.OPSHIFT_RELEASE_MIN_BYTES;
    try {
      const m = loadModel(dir);
      const ws = [...linearWeights(m).values()];
      expect(ws.every((w) => w.storage.resident)).toBe(true);
      if (npu) logits(m, 'Linear=npu');
      expect(ws.every((w) => w.storage.resident)).toBe(true);
      process.env.OPSHIFT_RELEASE_MIN_BYTES = String(64 * 64 * 4); // k/v (8 KB) stay, q/o (16 KB), the MLP (32 KB) and lm_head go
      const s = loadModel(dir);
      for (const w of linearWeights(s).values()) expect(w.storage.resident).toBe(w.numel() * 4 < 64 * 64 * 4);
    } finally {
      process.env.OPSHIFT_RELEASE_MIN_BYTES = prev;
    }
  });

  it('weights made in memory keep their host copy unless the user gives a source', () => {
    if (!npu) return console.warn('npu unavailable: skipped');
    const m = buildModel(parseConfig(new JsonConfig('test', RAW))).initRandom(1);
    const lin = [...m.namedModules()].find((e) => e.module instanceof Linear)!.module as Linear;
    const data = new Float32Array(lin.weight.value.numel()).map((_, i) => Math.sin(i));
    lin.weight.set(fromTypedArray(data, [...lin.weight.shape]));
    logits(m, 'Linear=npu');
    expect(lin.weight.value.storage.resident).toBe(true);

    const copy = Float32Array.from(data);
    lin.weight.set(setHostSource(fromTypedArray(Float32Array.from(data), [...lin.weight.shape]), () => Float32Array.from(copy)));
    logits(m, 'Linear=npu');
    expect(lin.weight.value.storage.resident).toBe(false);
    expect(lin.weight.value.storage.data).toEqual(copy);
  });
});
