/**
 * The quantized copy of a tied model's lm_head (models/quantize/tied_head.ts): added by quantize() for w8a8 and
 * w4 recipes unless turned off, used by the forward pass instead of the float embedding, saved and loaded with
 * the quantized checkpoint, and close to the float head.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CausalLM } from '../models/causal_lm.js';
import { Embedding } from '../models/nn/layers.js';
import { QLinearW4, QLinearW8A8 } from '../models/nn/qlinear.js';
import { loadModel } from '../models/load.js';
import { openCheckpoint } from '../models/io/checkpoint.js';
import { quantize } from '../models/quantize/index.js';
import { quantizationConfig, saveQuantized } from '../models/quantize/checkpoint.js';
import { logitsOf, relErr } from './model_fixtures.js';

const FIX = join(import.meta.dirname, 'fixtures', 'models', 'opt-preln');
const tmp = mkdtempSync(join(tmpdir(), 'opshift-tied-head-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const probe = [5, 17, 42, 3, 77, 12, 60, 8];
const logits = (m: CausalLM): Float32Array => logitsOf(m, probe);

describe('quantized tied lm_head', () => {
  it('w8a8 adds a quantized lm_head beside the float embedding; the forward uses it; the result stays close', () => {
    const float = loadModel(FIX);
    expect(float.config.tieWordEmbeddings).toBe(true);
    expect(float.getChild('lm_head')).toBeUndefined();
    const want = logits(float);
    const withHead = loadModel(FIX);
    const r = quantize(withHead, { method: 'w8a8' });
    expect(r.quantized.at(-1)).toEqual({ path: 'lm_head', format: 'w8a8', groupSize: undefined, tied: true });
    const head = withHead.getChild('lm_head');
    expect(head).toBeInstanceOf(QLinearW8A8);
    const emb = [...withHead.namedModules()].find((m) => m.path.endsWith('embed_tokens'))!.module as Embedding;
    expect(emb.weight.value.dtype).toBe('float32'); // the embedding is not replaced
    expect((head as QLinearW8A8).weight.value.shape).toEqual(emb.weight.value.shape);
    const floatHead = loadModel(FIX);
    quantize(floatHead, { method: 'w8a8' }, { tiedHead: false });
    expect(floatHead.getChild('lm_head')).toBeUndefined();
    const a = logits(withHead);
    const b = logits(floatHead);
    expect(Array.from(a)).not.toEqual(Array.from(b)); // the head really changed the arithmetic
    expect(relErr(a, want)).toBeLessThan(0.08);
  });

  it('an explicit exclude of lm_head keeps the float head; w4 uses the group size that fits the embedding width', () => {
    const m = loadModel(FIX);
    quantize(m, { method: 'pergrp', groupSize: 128 }, { exclude: ['lm_head'] });
    expect(m.getChild('lm_head')).toBeUndefined();
    const w4 = loadModel(FIX);
    const r = quantize(w4, { method: 'pergrp', groupSize: 128 });
    const dim = ([...w4.namedModules()].find((x) => x.path.endsWith('embed_tokens'))!.module as Embedding).dim;
    const info = r.quantized.find((q) => q.path === 'lm_head')!;
    expect(info.tied).toBe(true);
    expect(dim % info.groupSize!).toBe(0);
    expect(w4.getChild('lm_head')).toBeInstanceOf(QLinearW4);
  });

  it('an include list that does not name lm_head keeps the float head (include selects what is quantized)', () => {
    const m = loadModel(FIX);
    const r = quantize(m, { method: 'w8a8' }, { include: ['layers.0'] });
    expect(m.getChild('lm_head')).toBeUndefined();
    expect(r.quantized.length).toBeGreaterThan(0);
    expect(r.quantized.every((q) => q.path.includes('layers.0.'))).toBe(true);
    const all = loadModel(FIX);
    quantize(all, { method: 'w8a8' }, { include: ['*'] }); // a glob matching everything names lm_head too
    expect(all.getChild('lm_head')).toBeInstanceOf(QLinearW8A8);
  });

  for (const recipe of [{ method: 'w8a8' }, { method: 'pergrp', groupSize: 32 }] as const)
    it(`${recipe.method}: the quantized head is saved and loaded with the checkpoint (same logits bit for bit)`, () => {
      const m = loadModel(FIX);
      const r = quantize(m, recipe);
      const dir = join(tmp, recipe.method);
      const ck = openCheckpoint(FIX);
      saveQuantized(m, dir, { ...ck.config.raw }, quantizationConfig(r));
      ck.close();
      const back = loadModel(dir);
      expect(back.getChild('lm_head')?.constructor).toBe(m.getChild('lm_head')!.constructor);
      expect(Array.from(logits(back))).toEqual(Array.from(logits(m)));
    });
});
