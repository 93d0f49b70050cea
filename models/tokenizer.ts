/**
 * Tokenizers from Hugging Face model folders: `tokenizer.json` (the "fast" tokenizer format; or GPT-2 style
 * `vocab.json` + `merges.txt`, converted) run by `@huggingface/tokenizers`, `tokenizer_config.json` for the special tokens, `add_bos_token`/`add_eos_token`
 * and the chat template, rendered by `@huggingface/jinja` as transformers' `apply_chat_template` does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { TokenizerError } from '../core/index.js';

export interface EncodeOptions {
  /** Add BOS/EOS as the tokenizer config says (add_bos_token / add_eos_token, else tokenizer.json's post-processor). Default true. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (BOS, EOS, <|eot_id|>, …) from the text. Default false. */
  skipSpecialTokens?: boolean;
  /** Undo spaces before punctuation (" ." → "."). Default: tokenizer_config.json's clean_up_tokenization_spaces. */
  cleanUpTokenizationSpaces?: boolean;
}

export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** End with the header that starts the assistant's reply. Default false (as in transformers). */
  addGenerationPrompt?: boolean;
  /** Tool definitions, for templates that render them. */
  tools?: readonly Record<string, unknown>[];
  /** Extra variables for the template (e.g. `{ date_string: '26 Jul 2024' }`). */
  variables?: Record<string, unknown>;
  /** Limits for rendering an untrusted template with untrusted messages (a server). Default: none. */
  budget?: TemplateBudget;
}

/**
 * Bounds on one chat-template render. Templates are code from the model folder and messages are input from
 * clients; without bounds `{% for i in range(5000000) %}` or a string doubled in a loop runs for seconds and
 * takes gigabytes. The time check is cooperative (every few hundred interpreter steps), so one slow builtin
 * call can overrun it: a server should also run renders where it can kill them (tools/serve's worker watchdog).
 */
export interface TemplateBudget {
  /** Wall time for the whole render, ms. */
  readonly timeMs?: number;
  /** Largest rendered text (UTF-8 bytes); also bounds every intermediate string and list the template builds. */
  readonly maxBytes?: number;
  /** Largest `range()` the template may build (default 100,000 items). */
  readonly maxRangeItems?: number;
}

/** A template's own `raise_exception(message)`: the template rejects these messages (a client error). */
export class TemplateRaiseError extends TokenizerError {}

/** A render exceeded its TemplateBudget; `budget` names which limit. */
export class TemplateBudgetError extends TokenizerError {
  constructor(
    readonly budget: 'time' | 'bytes' | 'range',
    message: string,
  ) {
    super(message);
  }
}

/** Any other failure while rendering (the template hit an error with these messages). */
export class TemplateRenderError extends TokenizerError {}

/*
 * @huggingface/jinja's .d.ts files import './runtime' without an extension, which NodeNext resolution cannot
 * follow, so Environment and Interpreter arrive untyped: these are the parts of them used here.
 */
interface JinjaValue {
  readonly type: string;
  readonly value: unknown;
}
interface JinjaEnvironment {
  set(name: string, value: unknown): JinjaValue;
}
interface JinjaInterpreter {
  run(program: Template['parsed']): JinjaValue;
  evaluate(statement: unknown, environment: JinjaEnvironment): JinjaValue;
}
const JinjaEnvironmentClass = Environment as unknown as new (parent?: JinjaEnvironment) => JinjaEnvironment;
const JinjaInterpreterClass = Interpreter as unknown as new (env: JinjaEnvironment) => JinjaInterpreter;

const strftimeTemplate = new Template('{{ strftime_now(format) }}');

/** How often (interpreter steps) the render checks the clock: cheap enough, and fine-grained enough. */
const CLOCK_EVERY = 256;

/** Jinja's interpreter with a step clock and a size check on every value it produces. */
class BudgetedInterpreter extends JinjaInterpreterClass {
  #steps = 0;
  readonly #deadline: number;

  constructor(
    env: JinjaEnvironment,
    private readonly budget: TemplateBudget,
  ) {
    super(env);
    this.#deadline = budget.timeMs === undefined ? Infinity : performance.now() + budget.timeMs;
  }

  override evaluate(statement: unknown, environment: JinjaEnvironment): JinjaValue {
    if (++this.#steps % CLOCK_EVERY === 0 && performance.now() > this.#deadline)
      throw new TemplateBudgetError('time', `chat template: rendering took longer than the ${this.budget.timeMs} ms template time budget`);
    const v = super.evaluate(statement, environment);
    const max = this.budget.maxBytes;
    if (max !== undefined) {
      const x: unknown = v.value;
      // A string's UTF-8 size is at least its length, so length > max already exceeds the byte budget.
      if ((typeof x === 'string' || Array.isArray(x)) && x.length > max)
        throw new TemplateBudgetError('bytes', `chat template: a ${typeof x === 'string' ? 'string' : 'list'} of ${x.length} ${typeof x === 'string' ? 'characters' : 'items'} exceeds the ${max}-byte template output budget`);
    }
    return v;
  }
}

type JsonObject = Record<string, unknown>;

function readJsonFile(file: string): JsonObject {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TokenizerError(`${file}: cannot read tokenizer file: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TokenizerError(`${file}: must be a JSON object`);
  return v as JsonObject;
}

/** A special token in tokenizer_config.json is a string or an AddedToken object `{content, …}`. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as JsonObject).content === 'string') return (v as JsonObject).content as string;
  return undefined;
}

/**
 * Streams text for a growing list of ids. Decoding each new token alone is wrong twice over: sentencepiece
 * tokenizers strip the leading space of a decoded string, and a character split over byte-fallback tokens
 * (<0xF0><0x9F>…) decodes to U+FFFD until its last byte arrives. So it decodes a short window that starts a few
 * tokens back and emits only the text past what that window's prefix decoded to, holding output while it ends
 * in U+FFFD (an incomplete character).
 */
export class StreamDecoder {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;
  private emitted = '';

  constructor(
    private readonly tokenizer: HfTokenizer,
    private readonly options: DecodeOptions = {},
  ) {}

  /** Adds ids and returns the text they complete (possibly ''). */
  push(ids: number | readonly number[]): string {
    if (typeof ids === 'number') this.ids.push(ids);
    else this.ids.push(...ids);
    const prefix = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset), this.options);
    const full = this.tokenizer.decode(this.ids.slice(this.prefixOffset), this.options);
    if (full.length > prefix.length && !full.endsWith('\uFFFD') && full.startsWith(prefix)) {
      const delta = full.slice(prefix.length);
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      this.emitted += delta;
      return delta;
    }
    return '';
  }

  /** Feeds ids that are already shown (a prompt): later text is decoded after them, and none is emitted now. */
  prime(ids: readonly number[]): void {
    this.ids.push(...ids);
    this.prefixOffset = 0;
    this.readOffset = this.ids.length;
  }

  /** Text still held back (an incomplete character at the end): call once the ids are final. */
  flush(): string {
    const prefix = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset), this.options);
    const full = this.tokenizer.decode(this.ids.slice(this.prefixOffset), this.options);
    const delta = full.startsWith(prefix) ? full.slice(prefix.length) : '';
    this.prefixOffset = this.readOffset = this.ids.length;
    this.emitted += delta;
    return delta;
  }

  /** Everything emitted so far. */
  get text(): string {
    return this.emitted;
  }
}

/** A loaded tokenizer. Use `loadTokenizer(dir)`. */
export class HfTokenizer {
  readonly dir: string;
  /** tokenizer_config.json as parsed ({} when the folder has none). */
  readonly config: Readonly<JsonObject>;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly bosTokenId: number | undefined;
  /** The EOS id of the tokenizer config (a model's generation_config may add more: see Checkpoint.eosTokenIds). */
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | undefined;
  /** Vocabulary size including added tokens. */
  readonly vocabSize: number;
  /** The Jinja chat template, when the model has one. */
  readonly chatTemplate: string | undefined;
  private readonly tok: Tokenizer;
  /** add_bos_token / add_eos_token when the config sets them; undefined: tokenizer.json's post-processor decides. */
  private readonly addBos: boolean | undefined;
  private readonly addEos: boolean | undefined;
  private compiled: Template | undefined;
  #maxTokenChars: number | undefined;

  constructor(dir: string, tokenizerJson: JsonObject, config: JsonObject, chatTemplate: string | undefined) {
    this.dir = dir;
    this.config = config;
    try {
      this.tok = new Tokenizer(tokenizerJson, config);
    } catch (e) {
      throw new TokenizerError(`${path.join(dir, 'tokenizer.json')}: unsupported or invalid tokenizer: ${(e as Error).message}`);
    }
    const id = (text: string | undefined): number | undefined => (text === undefined ? undefined : this.tok.token_to_id(text));
    this.bosToken = tokenText(config.bos_token);
    this.eosToken = tokenText(config.eos_token);
    this.bosTokenId = id(this.bosToken);
    const eos = id(this.eosToken);
    this.eosTokenIds = eos === undefined ? [] : [eos];
    this.padTokenId = id(tokenText(config.pad_token));
    this.addBos = typeof config.add_bos_token === 'boolean' ? config.add_bos_token : undefined;
    this.addEos = typeof config.add_eos_token === 'boolean' ? config.add_eos_token : undefined;
    if (this.addBos && this.bosTokenId === undefined) throw new TokenizerError(`${dir}: add_bos_token is true but bos_token ${JSON.stringify(config.bos_token)} is not in the vocabulary`);
    if (this.addEos && eos === undefined) throw new TokenizerError(`${dir}: add_eos_token is true but eos_token ${JSON.stringify(config.eos_token)} is not in the vocabulary`);
    this.vocabSize = this.tok.get_vocab(true).size;
    this.chatTemplate = chatTemplate;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const special = options.addSpecialTokens ?? true;
    if (!special || (this.addBos === undefined && this.addEos === undefined)) return this.tok.encode(text, { add_special_tokens: special }).ids;
    // The config overrides the post-processor, as transformers' Llama tokenizers rebuild it from these flags.
    const ids = this.tok.encode(text, { add_special_tokens: false }).ids;
    if (this.addBos) ids.unshift(this.bosTokenId!);
    if (this.addEos) ids.push(this.eosTokenIds[0]!);
    return ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (ids.length === 0) return ''; // the library rejects an empty list
    return this.tok.decode([...ids], {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      ...(options.cleanUpTokenizationSpaces !== undefined ? { clean_up_tokenization_spaces: options.cleanUpTokenizationSpaces } : {}),
    });
  }

  /**
   * A decoder for streaming generated ids as text. `context` (the prompt's ids) is fed first without emitting
   * text, so the first generated token keeps the leading space sentencepiece drops from a lone decode.
   */
  streamDecoder(options: DecodeOptions & { context?: readonly number[] } = {}): StreamDecoder {
    const { context, ...decode } = options;
    const d = new StreamDecoder(this, decode);
    if (context?.length) d.prime(context);
    return d;
  }

  /**
   * The longest token's text, in UTF-16 code units. A text of more than `n × maxTokenChars` characters cannot
   * encode to n tokens or fewer (every token covers at most that much of the text; only a normalizer that
   * deletes characters could break this), so a server can refuse an oversized prompt before tokenizing it,
   * which for a long text takes seconds.
   */
  get maxTokenChars(): number {
    if (this.#maxTokenChars === undefined) {
      let m = 1;
      for (const t of this.tok.get_vocab(true).keys()) if (t.length > m) m = t.length;
      this.#maxTokenChars = m;
    }
    return this.#maxTokenChars;
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  /**
   * Renders a conversation with the model's chat template, as transformers' apply_chat_template(tokenize=False):
   * the template sees `messages`, `add_generation_prompt`, `tools` and the special tokens (`bos_token`,
   * `eos_token`, …) as strings. Encode the result with `{ addSpecialTokens: false }` (templates add BOS themselves).
   */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (this.chatTemplate === undefined)
      throw new TokenizerError(`${this.dir}: this tokenizer has no chat template (no chat_template in tokenizer_config.json, no chat_template.jinja): format the prompt yourself`);
    this.compiled ??= new Template(this.chatTemplate);
    const specials: Record<string, string> = {};
    for (const k of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
      const t = tokenText(this.config[k]);
      if (t !== undefined) specials[k] = t;
    }
    const items: Record<string, unknown> = {
      ...specials,
      ...options.variables,
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? false,
      ...(options.tools ? { tools: options.tools } : {}),
    };
    const budget = options.budget;
    if (!budget) return this.compiled.render(items);
    // What Template.render() does, with a budgeted interpreter and two of its globals replaced: a bounded
    // range, and a raise_exception we can tell apart from other errors. The library does not export its
    // globals setup, so the constants are declared here and strftime_now goes through the library's own.
    const scope = new JinjaEnvironmentClass();
    for (const [k, v] of [['true', true], ['false', false], ['none', null], ['True', true], ['False', false], ['None', null]] as const) scope.set(k, v);
    scope.set('strftime_now', (format: string) => strftimeTemplate.render({ format }));
    const maxRange = budget.maxRangeItems ?? 100_000;
    scope.set('range', (start: number, stop?: number, step = 1) => {
      const [a, b] = stop === undefined ? [0, start] : [start, stop];
      if (step === 0) throw new TemplateRenderError('chat template: range() step must not be zero');
      const n = Math.max(0, Math.ceil((b - a) / step));
      if (!(n <= maxRange)) throw new TemplateBudgetError('range', `chat template: range() of ${n} items exceeds the template budget of ${maxRange}`);
      return Array.from({ length: n }, (_, i) => a + i * step);
    });
    scope.set('raise_exception', (message: unknown) => {
      throw new TemplateRaiseError(`chat template: ${String(message)}`);
    });
    for (const [k, v] of Object.entries(items)) scope.set(k, v);
    let out: string;
    try {
      out = new BudgetedInterpreter(scope, budget).run(this.compiled.parsed).value as string;
    } catch (e) {
      if (e instanceof TokenizerError) throw e;
      throw new TemplateRenderError(`chat template: ${(e as Error).message}`);
    }
    if (budget.maxBytes !== undefined && Buffer.byteLength(out) > budget.maxBytes)
      throw new TemplateBudgetError('bytes', `chat template: the rendered prompt is ${Buffer.byteLength(out)} bytes, over the ${budget.maxBytes}-byte template output budget`);
    return out;
  }
}

function findChatTemplate(dir: string, config: JsonObject): string | undefined {
  const t = config.chat_template;
  if (typeof t === 'string') return t;
  // Several named templates: [{name, template}]; transformers uses 'default'.
  if (Array.isArray(t)) {
    const named = t.filter((x): x is { name: unknown; template: string } => typeof x === 'object' && x !== null && typeof (x as JsonObject).template === 'string');
    return (named.find((x) => x.name === 'default') ?? named[0])?.template;
  }
  const jinja = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(jinja)) return fs.readFileSync(jinja, 'utf8');
  const json = path.join(dir, 'chat_template.json');
  if (fs.existsSync(json)) {
    const c = readJsonFile(json).chat_template;
    if (typeof c === 'string') return c;
  }
  return undefined;
}

/**
 * A GPT-2 style byte-level BPE tokenizer.json built from `vocab.json` + `merges.txt`, as transformers converts
 * GPT2Tokenizer (OPT's checkpoints ship only these): byte-level pre-tokenizer with GPT-2's split regex, BPE,
 * byte-level decoder; the special tokens named in tokenizer_config.json become added tokens.
 */
function byteLevelBpe(dir: string, config: JsonObject): JsonObject {
  const vocabFile = path.join(dir, 'vocab.json');
  const vocab = readJsonFile(vocabFile);
  for (const [t, id] of Object.entries(vocab))
    if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw new TokenizerError(`${vocabFile}: token ${JSON.stringify(t)} has id ${JSON.stringify(id)}, not an integer`);
  const merges = fs
    .readFileSync(path.join(dir, 'merges.txt'), 'utf8')
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l !== '' && !l.startsWith('#version'));
  const added = new Map<number, string>();
  const decoderEntries = config.added_tokens_decoder;
  if (typeof decoderEntries === 'object' && decoderEntries !== null)
    for (const [id, t] of Object.entries(decoderEntries as JsonObject)) {
      const text = tokenText(t);
      if (text !== undefined && Number.isSafeInteger(Number(id))) added.set(Number(id), text);
    }
  for (const k of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
    const text = tokenText(config[k]);
    const id = text === undefined ? undefined : (vocab[text] as number | undefined);
    if (id !== undefined) added.set(id, text!);
  }
  const prefixSpace = config.add_prefix_space === true;
  const byteLevel = (addPrefixSpace: boolean, trimOffsets: boolean): JsonObject => ({ type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: trimOffsets, use_regex: true });
  return {
    version: '1.0',
    added_tokens: [...added].map(([id, content]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: byteLevel(prefixSpace, true),
    post_processor: byteLevel(true, false),
    decoder: byteLevel(true, true),
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

/** Which tokenizer files a folder has: `tokenizer.json`, GPT-2 style `vocab.json` + `merges.txt`, or none. */
export function tokenizerFiles(dir: string): 'tokenizer.json' | 'vocab.json+merges.txt' | undefined {
  if (fs.existsSync(path.join(dir, 'tokenizer.json'))) return 'tokenizer.json';
  if (fs.existsSync(path.join(dir, 'vocab.json')) && fs.existsSync(path.join(dir, 'merges.txt'))) return 'vocab.json+merges.txt';
  return undefined;
}

/**
 * Loads `tokenizer.json` (+ `tokenizer_config.json` when present) from a model folder; without a tokenizer.json,
 * a byte-level BPE tokenizer from `vocab.json` + `merges.txt` (GPT-2 / OPT).
 */
export function loadTokenizer(dir: string): HfTokenizer {
  const configFile = path.join(dir, 'tokenizer_config.json');
  const config = fs.existsSync(configFile) ? readJsonFile(configFile) : {};
  let json: JsonObject;
  const files = tokenizerFiles(dir);
  if (files === 'tokenizer.json') json = readJsonFile(path.join(dir, 'tokenizer.json'));
  else if (files === 'vocab.json+merges.txt') json = byteLevelBpe(dir, config);
  else {
    const other = ['tokenizer.model', 'vocab.json', 'merges.txt'].filter((f) => fs.existsSync(path.join(dir, f)));
    throw new TokenizerError(
      `${dir}: no tokenizer.json (nor vocab.json + merges.txt)` +
        (other.length ? ` (found ${other.join(', ')}: only tokenizer.json and GPT-2 style vocab.json + merges.txt are supported)` : ''),
    );
  }
  return new HfTokenizer(dir, json, config, findChatTemplate(dir, config));
}
