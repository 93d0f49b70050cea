/**
 * Context length (issue #15 item 3): generate / tokens, the CLI and eval perplexity refuse sequences longer than
 * the model's max_position_embeddings, for Llama as for OPT; stopAtContext stops exactly at the limit instead.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArgumentError } from '../core/index.js';
import { checkContextLength, contextBudget, ContextLengthError, generate, tokens } from '../models/generate.js';
import { loadModel } from '../models/load.js';
import { perplexity } from '../tools/eval_perplexity.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'models');
const llama = loadModel(join(FIXTURES, 'llama-mha')); // 128 positions, vocab 96
const opt = loadModel(join(FIXTURES, 'opt-preln')); // 64 positions
const ids = (n: number, vocab = 96) => Array.from({ length: n }, (_, i) => 3 + ((i * 7) % (vocab - 3)));

describe('checkContextLength / contextBudget', () => {
  it('prompt + max_new_tokens must fit in max_position_embeddings; the error names all three numbers', () => {
    expect(llama.config.maxPositions).toBe(128);
    expect(() => checkContextLength(llama, 100, 28)).not.toThrow();
    expect(() => checkContextLength(llama, 100, 29)).toThrow(
      new ContextLengthError(100, 29, 128),
    );
    expect(new ContextLengthError(100, 29, 128).message).toBe(
      'generate: 100 prompt tokens + max_new_tokens 29 = 129 positions exceed the model\'s 128 (max_position_embeddings); shorten the prompt or lower max_new_tokens',
    );
    expect(new ContextLengthError(100, 29, 128)).toBeInstanceOf(ArgumentError);
    expect(() => checkContextLength(llama, 129, 0)).toThrow(/129 prompt tokens \+ max_new_tokens 0 = 129 positions exceed the model's 128/);
  });

  it('stopAtContext cuts max_new_tokens to the room left, but a prompt that fills the context still throws', () => {
    expect(contextBudget(llama, 100, 50, true)).toBe(28);
    expect(contextBudget(llama, 100, 10, true)).toBe(10);
    expect(() => contextBudget(llama, 100, 50)).toThrow(ContextLengthError);
    expect(() => contextBudget(llama, 128, 1, true)).toThrow("generate: the prompt's 128 tokens leave no room for max_new_tokens 1 in the model's 128 positions");
    expect(contextBudget(llama, 128, 0, true)).toBe(0);
  });
});

describe('generate enforces the context for every model type', () => {
  it('Llama: throws before any forward when the sequence would pass 128 positions (it used to run on)', () => {
    expect(() => generate(llama, ids(100), { maxNewTokens: 29, ignoreEos: true, greedy: true })).toThrow(new ContextLengthError(100, 29, 128));
    expect(() => tokens(llama, ids(3), { maxNewTokens: 2000 }).next()).toThrow(new ContextLengthError(3, 2000, 128));
    const r = generate(llama, ids(100), { maxNewTokens: 28, ignoreEos: true, greedy: true });
    expect(r.ids).toHaveLength(28);
    expect(r.stoppedBy).toBe('length');
  });

  it('Llama with stopAtContext: generates exactly up to the last position and says it stopped by context', () => {
    const r = generate(llama, ids(120), { maxNewTokens: 50, ignoreEos: true, greedy: true, stopAtContext: true });
    expect(r.ids).toHaveLength(8);
    expect(r.stoppedBy).toBe('context');
    // The same tokens as asking for exactly the room left.
    expect(generate(llama, ids(120), { maxNewTokens: 8, ignoreEos: true, greedy: true }).ids).toEqual(r.ids);
  });

  it('OPT: the same ContextLengthError from generate (not only the forward\'s own position check)', () => {
    expect(opt.config.maxPositions).toBe(64);
    const p = ids(60, opt.config.vocabSize);
    expect(() => generate(opt, p, { maxNewTokens: 5 })).toThrow(new ContextLengthError(60, 5, 64));
    expect(generate(opt, p, { maxNewTokens: 4, ignoreEos: true, greedy: true }).ids).toHaveLength(4);
  });
});

describe('eval perplexity enforces the context', () => {
  it('a window longer than max_position_embeddings is refused; the default window fits the model', () => {
    const text = ids(300);
    expect(() => perplexity(llama, text, { window: 129 })).toThrow(
      new ArgumentError("perplexity: window 129 exceeds the model's 128 positions (max_position_embeddings); use a window of at most 128"),
    );
    const r = perplexity(llama, text); // window min(256, 128) = 128, stride 64
    expect(r.windows).toBe(4); // windows start at 0, 64, 128, 192 (the last reaches the end)
    expect(r.tokensScored).toBe(299);
    expect(Number.isFinite(r.perplexity)).toBe(true);
  });
});

describe('opshift generate (built CLI) refuses a sequence past the context', () => {
  it('exits non-zero with the ContextLengthError message and prints no tokens', () => {
    const cli = join(import.meta.dirname, '..', 'dist', 'tools', 'cli.js');
    const r = spawnSync(process.execPath, [cli, 'generate', '--model', join(FIXTURES, 'llama-mha'), '--ids', '5,6,7', '--max-new-tokens', '200'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("3 prompt tokens + max_new_tokens 200 = 203 positions exceed the model's 128 (max_position_embeddings)");
    expect(r.stdout.trim()).toBe('');
  });
});
