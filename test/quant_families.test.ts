/**
 * Quantization recipes on the Mistral, Qwen2 and Phi-3 fixtures: the norm → linear groups SmoothQuant and AWQ fold
 * into (Phi-3's fused qkv_proj and gate_up_proj as one group each), the folds leaving the float model unchanged,
 * every recipe staying close to the float model, and save → load round trips of the quantized folders.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../models/io/checkpoint.js';
import { loadModel } from '../models/load.js';
import { awqSearch, calibrate, quantize, selectLinears, smoothQuantFold, type Recipe } from '../models/quantize/index.js';
import { quantizationConfig, saveQuantized } from '../models/quantize/checkpoint.js';
import { linearModules, scaleGroups } from '../models/quantize/select.js';
import { logitsOf, relErr, relL2 } from './model_fixtures.js';

const FIX = join(import.meta.dirname, 'fixtures', 'models');
const tmp = mkdtempSync(join(tmpdir(), 'opshift-quant-families-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Deterministic ids in [3, 96). */
function ids(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return 3 + (s % 93);
  });
}

const probe = ids(24, 9);

describe('scale groups of the new families', () => {
  it('phi3: norm → fused qkv_proj and norm → fused gate_up_proj; qwen2/mistral: the Llama groups', () => {
    const phi = loadModel(join(FIX, 'phi3-su-partial'));
    expect(scaleGroups(phi, true).map((g) => [g.prev.path, g.fcs])).toEqual([
      ['model.layers.0.input_layernorm', ['model.layers.0.self_attn.qkv_proj']],
      ['model.layers.0.post_attention_layernorm', ['model.layers.0.mlp.gate_up_proj']],
      ['model.layers.1.input_layernorm', ['model.layers.1.self_attn.qkv_proj']],
      ['model.layers.1.post_attention_layernorm', ['model.layers.1.mlp.gate_up_proj']],
    ]);
    const qwen = loadModel(join(FIX, 'qwen2-sw6'));
    // GQA (2 kv heads for 4): no v → o group; up → down stays.
    expect(scaleGroups(qwen, true).map((g) => g.fcs.map((f) => f.split('.').pop()))).toEqual([
      ['q_proj', 'k_proj', 'v_proj'], ['gate_proj', 'up_proj'], ['down_proj'],
      ['q_proj', 'k_proj', 'v_proj'], ['gate_proj', 'up_proj'], ['down_proj'],
    ]); // prettier-ignore
  });
});

describe.each(['mistral-sw8', 'qwen2-sw6', 'phi3-su-partial'])('%s', (name) => {
  it("SmoothQuant's fold and AWQ's scales (no clipping) leave the float output unchanged (1e-5)", () => {
    for (const which of ['smooth', 'awq'] as const) {
      const m = loadModel(join(FIX, name), { dtype: 'float32' });
      const ref = logitsOf(m, probe);
      const targets = selectLinears(m);
      if (which === 'smooth') {
        const r = smoothQuantFold(m, calibrate(m, ids(64, 4), targets, { window: 32, maxRows: 0 }), { alpha: 0.5 });
        expect(r.groups.some((g) => g.maxScale !== 1 || g.minScale !== 1)).toBe(true);
      } else {
        const r = awqSearch(m, calibrate(m, ids(64, 4), targets, { window: 32, maxRows: 64 }), { groupSize: 32, clip: false, targets });
        expect(r.groups.length).toBe(scaleGroups(m, true).length);
      }
      expect(relErr(logitsOf(m, probe), ref)).toBeLessThan(1e-5);
    }
  });

  it('every recipe stays close to the float model, and its saved folder loads back to identical logits', () => {
    const ref = logitsOf(loadModel(join(FIX, name)), probe);
    const recipes: [Recipe, number][] = [
      [{ method: 'w8a8', perChannel: true }, 0.1],
      [{ method: 'smoothquant' }, 0.1],
      [{ method: 'awq', groupSize: 32 }, 0.4],
      [{ method: 'pergrp', groupSize: 32 }, 0.4],
    ];
    for (const [recipe, tol] of recipes) {
      const m = loadModel(join(FIX, name));
      const report = quantize(m, recipe, { calibration: ids(96, 3), calibrationWindow: 32 });
      const out = logitsOf(m, probe);
      expect(relL2(out, ref), JSON.stringify(recipe)).toBeLessThan(tol);
      const dir = join(tmp, `${name}-${recipe.method}`);
      const ck = openCheckpoint(join(FIX, name));
      saveQuantized(m, dir, { ...ck.config.raw }, quantizationConfig(report));
      ck.close();
      const back = loadModel(dir);
      expect(logitsOf(back, probe)).toEqual(out);
      expect(linearModules(back).map((l) => l.path)).toEqual(report.kept);
    }
  });
});
