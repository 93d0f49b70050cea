/**
 * Issue #21, quantized exports: w8a8 linears become QuantizeLinear + MatMulInteger (u8×u8, zero point 128) and
 * w4 linears com.microsoft MatMulNBits. A traced w8a8 linear is bit-exact with opshift's cpu reference (the
 * same float32 steps); a w4 one is bit-exact with opshift's ort backend (the same MatMulNBits) and within float
 * summation order of the cpu one. Whole demo models: logits to 1e-4 relative, prefill and decode, greedy ids.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configureOrt, fromTypedArray, ortConfig, withBackend, type Tensor } from '../core/index.js';
import { loadModel } from '../models/load.js';
import { quantize } from '../models/quantize/index.js';
import type { Llama } from '../models/llama.js';
import type { LinearLike } from '../models/nn/layers.js';
import { trace } from '../tools/export/trace.js';
import { writeOnnx } from '../tools/export/onnx_file.js';
import { checkExport } from './export_helpers.js';
import { relErr } from './model_fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'opshift-export-quant-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const wave = (B: number, T: number, K: number, phase: number): Tensor =>
  fromTypedArray(Float32Array.from({ length: B * T * K }, (_, i) => Math.sin(i * 0.37 + phase) * 3), [B, T, K]);

async function runLinear(lin: LinearLike, name: string, x: Tensor): Promise<Float32Array> {
  const K = x.shape[2]!;
  const g = trace(({ x }) => ({ y: lin.forward(x) }), [{ x: wave(1, 2, K, 1) }, { x: wave(2, 5, K, 2) }]);
  const path = join(dir, `${name}.onnx`);
  writeOnnx(g, path);
  const ort = await import('onnxruntime-node');
  const s = await ort.InferenceSession.create(path);
  const out = await s.run({ x: new ort.Tensor('float32', x.toTypedArray() as Float32Array, [...x.shape]) });
  await s.release();
  return out.y!.data as Float32Array;
}

describe('quantized linears in the graph', () => {
  it('w8a8: bit-exact with the cpu reference at a size not traced', async () => {
    const m = loadModel('demo:llama') as Llama;
    quantize(m, { method: 'w8a8' });
    const lin = m.model.layers[0]!.attn.qProj;
    const x = wave(3, 7, 192, 5);
    const graph = await runLinear(lin, 'w8a8', x);
    const cpu = withBackend('cpu', () => lin.forward(x)).toTypedArray() as Float32Array;
    expect(Array.from(graph)).toEqual(Array.from(cpu));
  });

  it('w4 (MatMulNBits): bit-exact with the ort backend, within 1e-5 relative of the cpu reference', async () => {
    const m = loadModel('demo:llama') as Llama;
    quantize(m, { method: 'pergrp', groupSize: 64 });
    const lin = m.model.layers[0]!.mlp.downProj;
    const x = wave(3, 7, 384, 5);
    const graph = await runLinear(lin, 'w4', x);
    // The exported MatMulNBits uses accuracy level 0 (float activations); the ort backend's level is a setting.
    const before = ortConfig().accuracyLevel;
    configureOrt({ accuracyLevel: 0 });
    let viaOrt: Float32Array;
    try {
      viaOrt = withBackend('ort', () => lin.forward(x)).toTypedArray() as Float32Array;
    } finally {
      configureOrt({ accuracyLevel: before });
    }
    expect(Array.from(graph)).toEqual(Array.from(viaOrt));
    expect(relErr(graph, withBackend('cpu', () => lin.forward(x)).toTypedArray() as Float32Array)).toBeLessThan(1e-5);
  });
});

describe.each([
  { model: 'demo:llama', quant: 'w8a8' as const },
  { model: 'demo:llama', quant: 'w4' as const },
  { model: 'demo:opt', quant: 'w8a8' as const },
  { model: 'demo:opt', quant: 'w4' as const },
])('exportOnnx $model --quant $quant', ({ model, quant }) => {
  it('matches the quantized eager model in prefill and decode (1e-4 relative) and in greedy ids', async () => {
    const m = loadModel(model);
    const r = await checkExport(m, join(dir, `${model.slice(5)}-${quant}.onnx`), { quant });
    const nodes = r.graph.nodes.map((n) => n.op);
    expect(nodes).toContain(quant === 'w8a8' ? 'LinearW8A8' : 'LinearW4');
    // Every block linear is quantized (the tied lm_head is quantized or not as quantize()'s defaults say).
    const blocks = m.config.numLayers * (model === 'demo:llama' ? 7 : 6);
    const quantized = nodes.filter((o) => o.startsWith('LinearW')).length;
    expect(quantized).toBeGreaterThanOrEqual(blocks);
    expect(quantized + nodes.filter((o) => o === 'Linear').length).toBe(blocks + 1);
  }, 60_000);
});
