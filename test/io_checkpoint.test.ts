import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError, tensor, type Tensor } from '../core/index.js';
import { GenerationConfig, ModelConfig, openCheckpoint, saveCheckpoint } from '../models/io/checkpoint.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opshift-ckpt-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const config = { model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: 8, num_hidden_layers: 2, eos_token_id: 2, bos_token_id: 1, torch_dtype: 'bfloat16' };

function weights(): Record<string, Tensor> {
  const t: Record<string, Tensor> = {};
  t['model.embed_tokens.weight'] = tensor([[1, 2], [3, 4], [5, 6]], { dtype: 'bfloat16' });
  for (let i = 0; i < 2; i++) {
    t[`model.layers.${i}.mlp.up_proj.weight`] = tensor([[i, 1.5], [2, 3], [4, 5], [6, 7]], { dtype: 'float32' });
    t[`model.layers.${i}.input_layernorm.weight`] = tensor([1, i], { dtype: 'float16' });
  }
  t['lm_head.weight'] = tensor([[1, 0], [0, 1], [1, 1]], { dtype: 'float32' });
  return t;
}

function copyDir(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(to, f));
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('checkpoint folders', () => {
  it('single file: config, generation config, names, load with conversion', () => {
    const dir = path.join(tmp, 'single');
    const files = saveCheckpoint(dir, weights(), config, { generationConfig: { eos_token_id: [2, 32000], bos_token_id: 1, pad_token_id: 0 } });
    expect(files).toEqual([path.join(dir, 'model.safetensors')]);
    const ck = openCheckpoint(dir);
    expect(ck.config.modelType).toBe('llama');
    expect(ck.config.architectures).toEqual(['LlamaForCausalLM']);
    expect(ck.config.torchDtype).toBe('bfloat16');
    expect(ck.config.int('hidden_size')).toBe(8);
    expect(ck.config.int('num_key_value_heads', 4)).toBe(4);
    expect(ck.config.raw.hidden_size).toBe(8);
    expect(ck.generationConfig?.eosTokenIds).toEqual([2, 32000]);
    expect(ck.generationConfig?.padTokenId).toBe(0);
    expect(ck.eosTokenIds).toEqual([2, 32000]);
    expect(ck.bosTokenId).toBe(1);
    expect(new Set(ck.names())).toEqual(new Set(Object.keys(weights())));
    expect(ck.has('lm_head.weight')).toBe(true);
    expect(ck.info('model.embed_tokens.weight')).toMatchObject({ dtype: 'BF16', shape: [3, 2], byteLength: 12, file: files[0] });
    const e = ck.load('model.embed_tokens.weight', { dtype: 'float32' });
    expect(e.dtype).toBe('float32');
    expect(e.tolist()).toEqual([[1, 2], [3, 4], [5, 6]]);
    expect(ck.load('model.embed_tokens.weight').dtype).toBe('bfloat16');
    expect(() => ck.load('model.nope')).toThrow(/no tensor named 'model.nope' in the checkpoint/);
    ck.close();
  });

  it('sharded: index, weight_map, every tensor from its shard', () => {
    const dir = path.join(tmp, 'sharded');
    const files = saveCheckpoint(dir, weights(), config, { maxShardBytes: 40 });
    expect(files.length).toBeGreaterThan(2);
    expect(path.basename(files[0]!)).toBe(`model-00001-of-${String(files.length).padStart(5, '0')}.safetensors`);
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    expect(Object.keys(index.weight_map)).toEqual(Object.keys(weights()).sort());
    expect(index.metadata.total_size).toBe(12 + 2 * (32 + 4) + 24);
    const ck = openCheckpoint(dir);
    expect(ck.files.length).toBe(files.length);
    expect(ck.indexMetadata.total_size).toBe(index.metadata.total_size);
    expect(ck.generationConfig).toBeUndefined();
    expect(ck.eosTokenIds).toEqual([2]);
    for (const [name, t] of Object.entries(weights())) {
      expect(ck.info(name).file).toBe(path.join(dir, index.weight_map[name]!));
      expect(ck.load(name).tolist(), name).toEqual(t.tolist());
    }
    ck.close();
    // Saving again unsharded removes the shards and the index.
    saveCheckpoint(dir, weights(), config);
    expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
  });

  it('errors: missing shard, name missing from its shard, bad index, no weights', () => {
    const src = path.join(tmp, 'src');
    saveCheckpoint(src, weights(), config, { maxShardBytes: 40 });

    const missing = path.join(tmp, 'missing-shard');
    copyDir(src, missing);
    fs.rmSync(path.join(missing, 'model-00002-of-00004.safetensors'));
    const e1 = errorOf(() => openCheckpoint(missing));
    expect(e1).toBeInstanceOf(CheckpointError);
    expect(e1.message).toMatch(/model\.safetensors\.index\.json: shard 'model-00002-of-00004\.safetensors' \(holding '.*'\) does not exist/);

    const wrong = path.join(tmp, 'wrong-shard');
    copyDir(src, wrong);
    const indexFile = path.join(wrong, 'model.safetensors.index.json');
    const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { weight_map: Record<string, string> };
    index.weight_map['lm_head.weight'] = 'model-00001-of-00004.safetensors';
    fs.writeFileSync(indexFile, JSON.stringify(index));
    expect(() => openCheckpoint(wrong)).toThrow(/weight_map maps 'lm_head\.weight' to 'model-00001-of-00004\.safetensors', but that shard has no tensor 'lm_head\.weight'/);

    index.weight_map['lm_head.weight'] = '../elsewhere.safetensors';
    fs.writeFileSync(indexFile, JSON.stringify(index));
    expect(() => openCheckpoint(wrong)).toThrow(/must be a file name in the model folder/);
    fs.writeFileSync(indexFile, '{"weight_map": [1]}');
    expect(() => openCheckpoint(wrong)).toThrow(/'weight_map' must be an object/);

    const empty = path.join(tmp, 'no-weights');
    fs.mkdirSync(empty);
    expect(() => openCheckpoint(empty)).toThrow(/no config\.json in the model folder/);
    fs.writeFileSync(path.join(empty, 'config.json'), JSON.stringify(config));
    fs.writeFileSync(path.join(empty, 'pytorch_model.bin'), '');
    expect(() => openCheckpoint(empty)).toThrow(/no model\.safetensors or model\.safetensors\.index\.json \(found pytorch_model\.bin: only safetensors/);
    expect(() => openCheckpoint(path.join(tmp, 'nowhere'))).toThrow(/not a directory/);
  });

  it('config errors name the file and the field', () => {
    const dir = path.join(tmp, 'cfg');
    fs.mkdirSync(dir);
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, '{"model_type": ');
    expect(() => ModelConfig.read(file)).toThrow(/config\.json: the model config is not valid JSON/);
    fs.writeFileSync(file, '{"hidden_size": 8}');
    expect(() => ModelConfig.read(file)).toThrow(/config\.json: field 'model_type' is missing \(a string required\)/);
    fs.writeFileSync(file, JSON.stringify({ model_type: 'opt', hidden_size: '768', rope_scaling: { factor: 8, rope_type: 'llama3' }, eos_token_id: [1, 2], tie: 1 }));
    const c = ModelConfig.read(file);
    expect(() => c.int('hidden_size')).toThrow(/field 'hidden_size' must be an integer, got "768"/);
    expect(() => c.int('num_hidden_layers')).toThrow(/field 'num_hidden_layers' is missing/);
    expect(() => c.bool('tie')).toThrow(/field 'tie' must be true or false, got 1/);
    expect(c.object('rope_scaling')?.number('factor')).toBe(8);
    expect(c.object('rope_parameters')).toBeUndefined();
    expect(c.ids('eos_token_id')).toEqual([1, 2]);
    expect(c.architectures).toEqual([]);
    const g = path.join(dir, 'generation_config.json');
    fs.writeFileSync(g, JSON.stringify({ eos_token_id: 'x' }));
    expect(() => GenerationConfig.read(g)).toThrow(/generation_config\.json: field 'eos_token_id' must be an integer or a list of integers/);
    fs.writeFileSync(g, JSON.stringify({ eos_token_id: 7 }));
    expect(GenerationConfig.read(g).eosTokenIds).toEqual([7]);
  });
});
