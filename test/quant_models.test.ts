/**
 * quantize() on the tiny fixture models: which linears are swapped, the recipes' invariants (SmoothQuant's fold
 * and AWQ's scales leave the float model's function unchanged), SmoothQuant beating plain w8a8 on activation
 * outliers, save → load round trips, and AutoAWQ's GEMM packing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromTypedArray, quantizeWeightUint4, type Tensor } from '../core/index.js';
import { openCheckpoint, saveCheckpoint } from '../models/io/checkpoint.js';
import { Linear } from '../models/nn/layers.js';
import { QLinearW4, QLinearW8A8 } from '../models/nn/qlinear.js';
import { loadModel } from '../models/load.js';
import { awqSearch, calibrate, quantize, selectLinears, smoothQuantFold, type Recipe } from '../models/quantize/index.js';
import { AWQ_ORDER, packAwq, quantizationConfig, saveQuantized, unpackAwq } from '../models/quantize/checkpoint.js';
import { linearModules, moduleAt } from '../models/quantize/select.js';
import { logitsOf, relErr, relL2 } from './model_fixtures.js';

const FIX = join(import.meta.dirname, 'fixtures', 'models');
const tmp = mkdtempSync(join(tmpdir(), 'opshift-quant-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Deterministic ids in [3, V). */
function ids(n: number, V: number, seed = 5): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return 3 + (s % (V - 3));
  });
}

const MODELS = ['llama-mha', 'opt-preln'] as const;
const probe = ids(24, 96, 9);

describe('quantize(): operator-specific, in place', () => {
  it('swaps every Linear but lm_head by default (the tied OPT head is not a Linear)', () => {
    const m = loadModel(join(FIX, 'llama-mha'));
    const before = linearModules(m).map((l) => l.path);
    expect(before).toContain('lm_head');
    const r = quantize(m, { method: 'w8a8' });
    expect(r.kept).toEqual(['lm_head']);
    expect(r.quantized.map((q) => q.path)).toEqual(before.filter((p) => p !== 'lm_head'));
    expect(moduleAt(m, 'model.layers.0.self_attn.q_proj')).toBeInstanceOf(QLinearW8A8);
    expect(moduleAt(m, 'lm_head')).toBeInstanceOf(Linear);
    const o = loadModel(join(FIX, 'opt-preln'));
    expect(quantize(o, { method: 'pergrp', groupSize: 32 }, { exclude: ['lm_head'] }).kept).toEqual([]); // tied head: nothing to exclude
  });

  it('include / exclude patterns (last parts, subtrees, globs)', () => {
    const m = loadModel(join(FIX, 'llama-mha'));
    expect(selectLinears(m, { include: ['mlp'] })).toEqual(['model.layers.0.mlp.gate_proj', 'model.layers.0.mlp.up_proj', 'model.layers.0.mlp.down_proj', 'model.layers.1.mlp.gate_proj', 'model.layers.1.mlp.up_proj', 'model.layers.1.mlp.down_proj']);
    expect(selectLinears(m, { include: ['model.layers.1.*_proj'], exclude: ['o_proj', 'mlp'] })).toEqual(['model.layers.1.self_attn.q_proj', 'model.layers.1.self_attn.k_proj', 'model.layers.1.self_attn.v_proj']);
    const r = quantize(m, { method: 'pergrp', groupSize: 32 }, { include: ['q_proj'], exclude: [] });
    expect(r.quantized.map((q) => q.path)).toEqual(['model.layers.0.self_attn.q_proj', 'model.layers.1.self_attn.q_proj']);
    expect(moduleAt(m, 'model.layers.0.self_attn.q_proj')).toBeInstanceOf(QLinearW4);
    expect(moduleAt(m, 'model.layers.0.self_attn.k_proj')).toBeInstanceOf(Linear);
    expect(moduleAt(m, 'lm_head')).toBeInstanceOf(Linear);
    expect(() => quantize(m, { method: 'w8a8' }, { include: ['nope_proj'] })).toThrow(/pattern 'nope_proj' matches no Linear/);
    expect(() => quantize(m, { method: 'smoothquant' })).toThrow(/needs calibration tokens/);
    expect(() => quantize(m, { method: 'pergrp', groupSize: 48 })).toThrow(/group size 48 must be one of/);
  });

  for (const name of MODELS)
    it(`${name}: every recipe stays close to the float model`, () => {
      const ref = logitsOf(loadModel(join(FIX, name)), probe);
      const recipes: [Recipe, number][] = [
        [{ method: 'w8a8' }, 0.1],
        [{ method: 'w8a8', perChannel: true }, 0.1],
        [{ method: 'smoothquant' }, 0.1],
        [{ method: 'awq', groupSize: 32 }, 0.4],
        [{ method: 'pergrp', groupSize: 32 }, 0.4],
      ];
      for (const [recipe, tol] of recipes) {
        const m = loadModel(join(FIX, name));
        quantize(m, recipe, { calibration: ids(96, 96, 3), calibrationWindow: 32 });
        expect(relL2(logitsOf(m, probe), ref), JSON.stringify(recipe)).toBeLessThan(tol);
      }
    });
});

describe('recipe invariants on the float model', () => {
  for (const name of MODELS) {
    it(`${name}: SmoothQuant's fold leaves the output unchanged (1e-5)`, () => {
      const m = loadModel(join(FIX, name));
      const ref = logitsOf(m, probe);
      const targets = selectLinears(m);
      const before = linearModules(m).map((l) => l.linear);
      const stats = calibrate(m, ids(64, 96, 4), targets, { window: 32, maxRows: 0 });
      expect(linearModules(m).map((l) => l.linear)).toEqual(before); // the recording wrappers are gone
      expect(stats.get(targets[0]!)!.count).toBe(64);
      const r = smoothQuantFold(m, stats, { alpha: 0.5 });
      expect(r.groups.length).toBe(4); // two norms per layer, two layers
      expect(r.groups.some((g) => g.maxScale !== 1 || g.minScale !== 1)).toBe(true);
      expect(relErr(logitsOf(m, probe), ref)).toBeLessThan(1e-5);
    });

    it(`${name}: AWQ's scales (no clipping) leave the output unchanged (1e-5)`, () => {
      const m = loadModel(join(FIX, name));
      const ref = logitsOf(m, probe);
      const targets = selectLinears(m);
      const r = awqSearch(m, calibrate(m, ids(64, 96, 4), targets, { window: 32, maxRows: 64 }), { groupSize: 32, clip: false, targets });
      expect(r.groups.length).toBe(8); // norm→qkv, v→o, norm→mlp, mlp→down per layer
      expect(r.groups.every((g) => g.errorRatio <= 1)).toBe(true);
      expect(relErr(logitsOf(m, probe), ref)).toBeLessThan(1e-5);
    });
  }
});

describe('activation outliers: SmoothQuant beats plain per-tensor w8a8', () => {
  it('one input channel 100x larger at every q/k/v and fc1 input', () => {
    const outlier = () => {
      const m = loadModel(join(FIX, 'opt-preln'));
      for (const n of m.namedModules())
        if (/(self_attn_layer_norm|final_layer_norm)$/.test(n.path) && n.path.includes('layers')) {
          const w = (m as unknown as { namedParameters(): Iterable<[string, { value: Tensor; set(t: Tensor): void }]> }).namedParameters();
          for (const [p, param] of w)
            if (p === `${n.path}.weight` || p === `${n.path}.bias`) {
              const d = (param.value.toArray() as Float32Array).slice();
              d[3] = d[3]! * 100 + (p.endsWith('bias') ? 5 : 0);
              param.set(fromTypedArray(d, [d.length]));
            }
        }
      return m;
    };
    const ref = logitsOf(outlier(), probe);
    const plain = outlier();
    quantize(plain, { method: 'w8a8' });
    const sq = outlier();
    quantize(sq, { method: 'smoothquant' }, { calibration: ids(96, 96, 3), calibrationWindow: 32 });
    const ePlain = relL2(logitsOf(plain, probe), ref);
    const eSq = relL2(logitsOf(sq, probe), ref);
    expect(eSq).toBeLessThan(ePlain / 3);
  });
});

describe('quantized checkpoints', () => {
  const recipes: Recipe[] = [{ method: 'w8a8', perChannel: true }, { method: 'smoothquant' }, { method: 'awq', groupSize: 32 }, { method: 'pergrp', groupSize: 16 }];
  for (const name of MODELS)
    for (const recipe of recipes)
      it(`${name} ${recipe.method}: save → load gives identical logits`, () => {
        const m = loadModel(join(FIX, name));
        const report = quantize(m, recipe, { calibration: ids(64, 96, 2), calibrationWindow: 32 });
        const dir = join(tmp, `${name}-${recipe.method}`);
        const ck = openCheckpoint(join(FIX, name));
        saveQuantized(m, dir, { ...ck.config.raw }, quantizationConfig(report));
        ck.close();
        const back = loadModel(dir);
        expect(logitsOf(back, probe)).toEqual(logitsOf(m, probe));
        const kinds = linearModules(back).map((l) => l.path);
        expect(kinds).toEqual(report.kept);
      });
});

describe('AutoAWQ GEMM checkpoints', () => {
  it('packs 8 columns a word in the order [0,2,4,6,1,3,5,7]', () => {
    expect(AWQ_ORDER).toEqual([0, 2, 4, 6, 1, 3, 5, 7]);
    const v = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 15, 14, 13, 12, 11, 10, 9, 8]);
    const p = packAwq(v, 2, 8);
    expect(p[0]! >>> 0).toBe(0x75316420);
    expect(p[1]! >>> 0).toBe(0x8ace9bdf);
    expect(unpackAwq(p, 2, 8)).toEqual(v);
  });

  it('loads an AutoAWQ-format folder by repacking into the LinearW4 layout (same dequantized weights)', () => {
    const src = openCheckpoint(join(FIX, 'llama-mha'));
    const G = 16;
    const tensors = new Map<string, Tensor>();
    const expected = new Map<string, Float32Array>();
    for (const n of src.names()) {
      const t = src.load(n, { dtype: 'float32' });
      const m = /^(.*_proj)\.weight$/.exec(n);
      if (!m) {
        tensors.set(n, t);
        continue;
      }
      const [N, K] = t.shape as [number, number];
      const q = quantizeWeightUint4(t, G);
      const packed = q.qweight.toArray() as Uint8Array;
      const groups = K / G;
      const scales16 = (q.scales.to('float16').to('float32').toArray() as Float32Array).slice();
      const zeros = q.zeros!.toArray() as Uint8Array;
      // AutoAWQ stores K-major: intweight [K, N], zeros and scales [K/G, N].
      const qT = new Uint8Array(K * N);
      const zT = new Uint8Array(groups * N);
      const sT = new Float32Array(groups * N);
      const deq = new Float32Array(N * K);
      for (let n = 0; n < N; n++)
        for (let k = 0; k < K; k++) {
          const byte = packed[(n * K + k) >> 1]!;
          const v = k % 2 === 0 ? byte & 15 : byte >> 4;
          qT[k * N + n] = v;
          const g = Math.floor(k / G);
          deq[n * K + k] = (v - zeros[n * groups + g]!) * scales16[n * groups + g]!;
        }
      for (let n = 0; n < N; n++)
        for (let g = 0; g < groups; g++) {
          zT[g * N + n] = zeros[n * groups + g]!;
          sT[g * N + n] = scales16[n * groups + g]!;
        }
      tensors.set(`${m[1]}.qweight`, fromTypedArray(packAwq(qT, K, N), [K, N / 8]));
      tensors.set(`${m[1]}.qzeros`, fromTypedArray(packAwq(zT, groups, N), [groups, N / 8]));
      tensors.set(`${m[1]}.scales`, fromTypedArray(sT, [groups, N]).to('float16'));
      expected.set(m[1]!, deq);
    }
    const dir = join(tmp, 'autoawq');
    saveCheckpoint(dir, tensors, { ...src.config.raw, quantization_config: { quant_method: 'awq', version: 'gemm', bits: 4, group_size: G, zero_point: true, modules_to_not_convert: ['lm_head'] } });
    src.close();
    const m = loadModel(dir);
    expect(expected.size).toBe(14);
    for (const [path, deq] of expected) {
      const q = moduleAt(m, path);
      expect(q).toBeInstanceOf(QLinearW4);
      expect((q as QLinearW4).groupSize).toBe(G);
      expect((q as QLinearW4).dequantizedWeight().toArray()).toEqual(deq);
    }
    expect(moduleAt(m, 'lm_head')).toBeInstanceOf(Linear);
    expect(logitsOf(m, probe).every(Number.isFinite)).toBe(true);
  });
});
