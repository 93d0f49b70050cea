/**
 * Issue #21: trace() and exportOnnx(). The traced graph runs as one onnxruntime-node session: a view-heavy
 * function at a third size equals eager; the demo Llama and OPT exports give eager's logits (1e-4 relative, fp32)
 * in prefill and in decode through past/present, and eager's greedy ids. Untraceable code fails naming the op.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type OnnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { fromTypedArray, type Tensor } from '../core/index.js';
import { add, matmul, mul, softmax } from '../ops/index.js';
import { idsTensor as ids } from '../models/generate.js';
import { loadModel } from '../models/load.js';
import { ExportError, isExpr, formatShapeDims } from '../tools/export/graph.js';
import { trace } from '../tools/export/trace.js';
import { writeOnnx } from '../tools/export/onnx_file.js';
import { exportOnnx } from '../tools/export/export_onnx.js';
import { OnnxCausalLM } from '../tools/export/onnx_runner.js';
import { checkExport } from './export_helpers.js';
import { relErr } from './model_fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'opshift-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rand = (shape: number[], seed: number): Tensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) d[i] = (((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5) * 2;
  return fromTypedArray(d, shape);
};

describe('trace()', () => {
  // Views made without dispatch (reshape, transpose, narrow, unsqueeze, expand) and ops, over sizes B and T.
  const w = rand([1, 8], 3).squeeze(0); // not an input: baked in as a constant
  const fn = ({ x }: Readonly<Record<string, Tensor>>) => {
    const [B, T] = x.shape as [number, number, number];
    const h = x.reshape([B, T, 2, 4]).transpose(1, 2); // (B, 2, T, 4)
    const head = h.narrow(2, 1, T - 1); // (B, 2, T-1, 4): a start and a length that follow T
    const s = softmax(matmul(head, head.transpose(-2, -1)), -1); // (B, 2, T-1, T-1)
    const y = matmul(s, head).transpose(1, 2).reshape([B, T - 1, 8]); // (B, T-1, 8)
    return { y: add(mul(y, w.unsqueeze(0).expand([B, T - 1, 8])), 1) };
  };
  const graph = trace(fn, [{ x: rand([1, 3, 8], 1) }, { x: rand([2, 6, 8], 2) }]);

  it('records views as graph nodes and turns the sizes that differ into expressions of the input dims', () => {
    const ops = graph.nodes.map((n) => n.op);
    expect(ops).toContain('view.permute');
    expect(ops).toContain('view.slice');
    expect(ops).toContain('view.reshape');
    expect(ops).toContain('view.expand');
    expect(ops.filter((o) => o === 'MatMul')).toHaveLength(2);
    const slice = graph.nodes.find((n) => n.op === 'view.slice')!;
    expect(slice.attrs.start).toBe(1);
    expect(isExpr(slice.attrs.length as never)).toBe(true);
    const out = graph.values[graph.outputs[0]!.id]!;
    expect(formatShapeDims(out.shape)).toBe('[x[0], x[1] - 1, 8]');
    expect(graph.inputs.map((i) => i.name)).toEqual(['x']);
    expect(graph.values.some((v) => v.source.kind === 'const' && formatShapeDims(v.shape) === '[8]')).toBe(true);
  });

  it('runs on onnxruntime-node at a third size with the eager values', async () => {
    const path = join(dir, 'fn.onnx');
    writeOnnx(graph, path);
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(path);
    const x = rand([3, 9, 8], 7);
    const out = await session.run({ x: new ort.Tensor('float32', x.toTypedArray() as Float32Array, [3, 9, 8]) });
    const eager = fn({ x }).y;
    expect(out.y!.dims).toEqual([3, 8, 8]);
    expect(relErr(out.y!.data as Float32Array, eager.toTypedArray() as Float32Array)).toBeLessThan(1e-6);
    await session.release();
  });

  it('refuses a data-dependent branch, naming the op whose value is read', () => {
    const branchy = ({ x }: Readonly<Record<string, Tensor>>) => {
      const s = softmax(x, -1);
      return { y: s.narrow(0, 0, 1).sum().item() > 0 ? mul(s, 2) : s };
    };
    expect(() => trace(branchy, [{ x: rand([2, 4], 1) }])).toThrow(ExportError);
    expect(() => trace(branchy, [{ x: rand([2, 4], 1) }])).toThrow(/item\(\) reads the values of float32\[\] \(from op Sum\)/);
  });

  it('refuses code whose ops differ with the size, naming where the traces part', () => {
    const bySize = ({ x }: Readonly<Record<string, Tensor>>) => ({ y: x.shape[0]! > 1 ? softmax(x, -1) : mul(x, 2) });
    expect(() => trace(bySize, [{ x: rand([1, 4], 1) }, { x: rand([3, 4], 2) }])).toThrow(/differ at op 0 \(Mul vs Softmax\)/);
  });

  it('refuses a constant the code built in JavaScript from a size, naming the op that reads it', () => {
    const jsMask = ({ x }: Readonly<Record<string, Tensor>>) => {
      const T = x.shape[1]!;
      const m = fromTypedArray(Float32Array.from({ length: T }, (_, i) => i * i), [T]);
      return { y: add(x, m) };
    };
    expect(() => trace(jsMask, [{ x: rand([1, 4], 1) }, { x: rand([1, 6], 2) }])).toThrow(/constant float32\[4\] feeding op Add differs between the traces/);
  });
});

describe('exportOnnx on the demo models (fp32, KV cache)', () => {
  it('demo:llama: logits to 1e-4 relative in prefill and decode, greedy ids equal; genai_config.json written', async () => {
    await checkExport(loadModel('demo:llama'), join(dir, 'llama.onnx'));
    // Optimum's dim names on the inputs and outputs (the file decoded with the ONNX schema).
    const { onnx } = createRequire(import.meta.url)('onnx-proto') as typeof OnnxProto;
    const m = onnx.ModelProto.decode(readFileSync(join(dir, 'llama.onnx')));
    const dims = (v: OnnxProto.onnx.IValueInfoProto) => v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    const io = new Map([...m.graph!.input!, ...m.graph!.output!].map((v) => [v.name!, dims(v)]));
    expect(io.get('input_ids')).toEqual(['batch_size', 'sequence_length']);
    expect(io.get('attention_mask')).toEqual(['batch_size', 'total_sequence_length']);
    expect(io.get('past_key_values.0.key')).toEqual(['batch_size', 2, 'past_sequence_length', 32]);
    expect(io.get('present.0.key')).toEqual(['batch_size', 2, 'total_sequence_length', 32]);
    expect(io.get('logits')).toEqual(['batch_size', 'sequence_length', 32000]);
    const g = JSON.parse(readFileSync(join(dir, 'genai_config.json'), 'utf8'));
    expect(g.model.type).toBe('llama');
    expect(g.model.decoder.filename).toBe('llama.onnx');
    expect(g.model.decoder.num_key_value_heads).toBe(2);
    expect(g.model.decoder.inputs.past_key_names).toBe('past_key_values.%d.key');
  }, 60_000);

  it('demo:opt: logits to 1e-4 relative in prefill and decode, greedy ids equal (its positions are an arange → Range)', async () => {
    await checkExport(loadModel('demo:opt'), join(dir, 'opt.onnx'));
  }, 60_000);

  it("logits 'last': [B, 1, V], eager's lastOnly logits, prefill and decode", async () => {
    const out = join(dir, 'opt_last.onnx');
    const model = loadModel('demo:opt');
    exportOnnx(model, { out, logits: 'last' });
    const onnx = await OnnxCausalLM.load(out, { layers: 4, kvHeads: 4, headDim: 32 });
    const cache = model.newCache(1, 16);
    for (const step of [[3, 1, 4, 1, 5], [9], [2]]) {
      const e = model.forward(ids(step), { cache, lastOnly: true }).toTypedArray() as Float32Array;
      const o = await onnx.step([step]);
      expect(o.dims).toEqual([1, 1, model.config.vocabSize]);
      expect(relErr(o.logits, e)).toBeLessThan(1e-4);
    }
    await onnx.release();
  }, 60_000);

  it('external data (weights over the threshold, 2 GB by default): a small .onnx and a .data file ORT loads', async () => {
    const out = join(dir, 'opt_ext.onnx');
    const model = loadModel('demo:opt');
    const r = exportOnnx(model, { out, externalDataThreshold: 1 });
    expect(r.externalData).toBe(`${out}.data`);
    expect(statSync(out).size).toBeLessThan(1 << 20);
    expect(statSync(r.externalData!).size).toBeGreaterThan(20 << 20);
    const onnx = await OnnxCausalLM.load(out, { layers: 4, kvHeads: 4, headDim: 32 });
    const cache = model.newCache(1, 8);
    const p = [3, 1, 4, 1, 5];
    const e = model.forward(ids(p), { cache }).toTypedArray() as Float32Array;
    expect(relErr((await onnx.step([p])).logits, e)).toBeLessThan(1e-4);
    await onnx.release();
  }, 60_000);

  it('without the KV cache: inputs input_ids/attention_mask/position_ids, output logits only', async () => {
    const out = join(dir, 'opt_nocache.onnx');
    const model = loadModel('demo:opt');
    const r = exportOnnx(model, { out, kvCache: false });
    expect(r.inputs).toEqual(['input_ids', 'attention_mask', 'position_ids']);
    expect(r.outputs).toEqual(['logits']);
    expect(r.genaiSkipped).toMatch(/past_key_values/);
    const onnx = await OnnxCausalLM.load(out, { layers: 4, kvHeads: 4, headDim: 32 });
    const p = [3, 1, 4, 1, 5, 9, 2, 6];
    const e = model.forward(ids(p)).toTypedArray() as Float32Array;
    expect(relErr((await onnx.step([p])).logits, e)).toBeLessThan(1e-4);
    await onnx.release();
  }, 60_000);
});
