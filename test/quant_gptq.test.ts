/**
 * GPTQ checkpoints (AutoGPTQ's v1 layout, packed by the plain-torch packer of tools/peers/hf_reference.py) load
 * into LinearW4: the dequantized weights equal the reference's exactly, last logits match to 1e-4 relative and
 * greedy ids exactly (symmetric Llama, asymmetric Qwen2 with float q/k/v biases); act-order g_idx, other bit
 * widths and formats, and bitsandbytes / exl2 / quark are refused by name. AutoAWQ GEMV checkpoints (padded
 * qzeros/scales widths) load the same way.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generate, idsTensor as ids } from '../models/generate.js';
import { loadModel } from '../models/load.js';
import { QLinearW4 } from '../models/nn/qlinear.js';
import { awqGemvZerosWidth, gptqToW4, quantMethod } from '../models/quantize/checkpoint.js';
import { moduleAt } from '../models/quantize/select.js';
import { MODEL_FIXTURES as FIX, readGolden, relErr, type Golden } from './model_fixtures.js';

interface GptqGolden extends Golden {
  dequantized: Record<string, number[][]>;
}

describe.each(['llama-gptq-sym', 'qwen2-gptq-asym'])('%s', (name) => {
  const dir = join(FIX, name);
  const golden = readGolden<GptqGolden>(dir);
  const model = loadModel(dir);

  it('every packed linear is a LinearW4 whose dequantized weight equals the reference exactly', () => {
    const q = moduleAt(model, 'model.layers.0.self_attn.q_proj');
    expect(q).toBeInstanceOf(QLinearW4);
    expect(moduleAt(model, 'model.layers.1.mlp.down_proj')).toBeInstanceOf(QLinearW4);
    const w = (q as QLinearW4).dequantizedWeight().contiguous().toArray() as Float32Array;
    expect(Array.from(w)).toEqual(golden.dequantized['model.layers.0.self_attn.q_proj']!.flat());
  });

  it('last-position logits match the reference to 1e-4 relative; greedy ids exactly', () => {
    golden.prompts.forEach((p, i) => {
      const logits = model.forward(ids(p)); // (1, T, V)
      const last = logits.narrow(1, p.length - 1, 1).contiguous().toTypedArray() as Float32Array;
      expect(relErr(last, golden.last_logits[i]!)).toBeLessThan(1e-4);
      expect(generate(model, p, { maxNewTokens: 12, ignoreEos: true }).ids).toEqual(golden.greedy[i]);
    });
  });
});

describe('GPTQ rules', () => {
  it('decodes v1 zero points as (stored + 1) mod 16 and v2 as stored; unpacks 8 input rows a word', () => {
    // K = 8, N = 8, one group: row k of column n holds (k + n) % 16; zeros 0..7 stored as zero − 1 (v1).
    const qweight = new Int32Array(8);
    for (let n = 0; n < 8; n++) for (let k = 0; k < 8; k++) qweight[n] = qweight[n]! | (((k + n) % 16) << (4 * k));
    let zv1 = 0;
    let zv2 = 0;
    for (let n = 0; n < 8; n++) {
      zv1 |= ((n - 1) & 15) << (4 * n);
      zv2 |= n << (4 * n);
    }
    const scales = Float32Array.from({ length: 8 }, (_, n) => 0.5 + n);
    const a = gptqToW4(qweight, Int32Array.of(zv1), scales, undefined, 8, 8, 'gptq');
    const b = gptqToW4(qweight, Int32Array.of(zv2), scales, undefined, 8, 8, 'gptq_v2');
    expect(Array.from(a.zeros)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(b.zeros).toEqual(a.zeros);
    expect(a.groupSize).toBe(8);
    // LinearW4 qweight [N, K/2], low nibble = even k.
    for (let n = 0; n < 8; n++) for (let k = 0; k < 8; k++) expect((a.qweight[(n * 8 + k) >> 1]! >> (k % 2 === 0 ? 0 : 4)) & 15).toBe((k + n) % 16);
  });

  it('refuses act-order g_idx, other bit widths and formats, and bitsandbytes / exl2 / quark by name', () => {
    const gIdx = Int32Array.of(1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0);
    expect(() => gptqToW4(new Int32Array(16), new Int32Array(2), new Float32Array(16), gIdx, 16, 8, 'gptq')).toThrow(/g_idx\[0\] is 1, not 0: desc_act \(act-order\)/);
    const q = (qc: Record<string, unknown>) => () => quantMethod({ quantization_config: qc as never }, 'config.json');
    expect(q({ quant_method: 'gptq', bits: 4 })()).toBe('gptq');
    expect(q({ quant_method: 'gptq', bits: 4, checkpoint_format: 'gptq_v2' })()).toBe('gptq_v2');
    expect(q({ quant_method: 'gptq', bits: 8 })).toThrow(/GPTQ with 8 bits is not supported/);
    expect(q({ quant_method: 'gptq', checkpoint_format: 'marlin' })).toThrow(/checkpoint_format 'marlin'/);
    expect(q({ quant_method: 'bitsandbytes', load_in_4bit: true })).toThrow(/'bitsandbytes' is not supported \(opshift, awq, gptq\): bitsandbytes/);
    expect(q({ quant_method: 'exl2' })).toThrow(/'exl2' is not supported.*ExLlamaV2/);
    expect(q({ quant_method: 'quark' })).toThrow(/'quark' is not supported.*Quark/);
  });
});

describe('AutoAWQ GEMV checkpoints', () => {
  const dir = join(FIX, 'mistral-awq-gemv');
  const golden = readGolden<GptqGolden>(dir);
  const model = loadModel(dir);

  it('load into LinearW4 with the reference dequantized weights exactly (padded zeros/scales widths)', () => {
    const q = moduleAt(model, 'model.layers.0.self_attn.q_proj');
    expect(q).toBeInstanceOf(QLinearW4);
    const w = (q as QLinearW4).dequantizedWeight().contiguous().toArray() as Float32Array;
    expect(Array.from(w)).toEqual(golden.dequantized['model.layers.0.self_attn.q_proj']!.flat());
  });

  it('logits to 1e-4 relative and greedy ids exactly (sliding window 8 crossed)', () => {
    golden.prompts.forEach((p, i) => {
      const logits = model.forward(ids(p));
      const last = logits.narrow(1, p.length - 1, 1).contiguous().toTypedArray() as Float32Array;
      expect(relErr(last, golden.last_logits[i]!)).toBeLessThan(1e-4);
      expect(generate(model, p, { maxNewTokens: 12, ignoreEos: true }).ids).toEqual(golden.greedy[i]);
    });
  });

  it('zeros width as calculate_zeros_width; other group sizes refused', () => {
    expect([awqGemvZerosWidth(4096, 128), awqGemvZerosWidth(4096, 64), awqGemvZerosWidth(64, 32), awqGemvZerosWidth(11008, 128)]).toEqual([4, 8, 4, 11]);
    expect(() => awqGemvZerosWidth(64, 16)).toThrow(/group size 16 has no packing/);
    expect(() => quantMethod({ quantization_config: { quant_method: 'awq', version: 'gemv', group_size: 16 } }, 'config.json')).toThrow(/GEMV group_size 16/);
    expect(quantMethod({ quantization_config: { quant_method: 'awq', version: 'GEMV', group_size: 128 } }, 'config.json')).toBe('awq_gemv');
  });
});
