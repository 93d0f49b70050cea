/**
 * The child process of test/fuzz_checkpoint.test.ts (run as JavaScript transpiled by test/fuzz/transpile.ts).
 * Builds three tiny model folders (Llama f32 single file, OPT f16, Llama bf16 sharded), then runs mutated
 * copies of them, case i derived only from (seed, i): safetensors headers (length, bytes, JSON fields,
 * truncation, trailing bytes, FIFOs and devices), index.json and config.json. For each case it prints
 * `{"start": i}` before and one JSON result line after, so the parent can time each case out, kill a hung
 * child and name the case. Argument: JSON { seed, start, end, deadline, dir }.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DTypeError, OpshiftError, fromTypedArray, type Tensor } from '../../core/index.js';
import { saveCheckpoint } from '../../models/io/checkpoint.js';
import { openSafetensors } from '../../models/io/safetensors.js';
import { buildModel, loadModel } from '../../models/load.js';
import { parseConfig } from '../../models/config.js';
import { JsonConfig } from '../../models/io/checkpoint.js';
import { referenceRead, REFERENCE_DTYPE_BITS } from './safetensors_reference.js';
import { rng } from './rng.js';

interface Args {
  seed: number;
  start: number;
  end: number;
  deadline: number;
  dir: string;
}

export interface CaseResult {
  i: number;
  kind: string;
  what: string;
  /** ok: loaded and ran; error: an OpshiftError; bad: any other exception; mismatch: disagrees with the oracle or the base. */
  outcome: 'ok' | 'error' | 'bad' | 'mismatch';
  error?: string;
  msg?: string;
  ms: number;
  rss: number;
}


type Rand = () => number;
const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

const LLAMA = {
  model_type: 'llama', vocab_size: 32, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4,
  num_key_value_heads: 2, max_position_embeddings: 64, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false,
  rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 },
};
const OPT = {
  model_type: 'opt', vocab_size: 40, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 4, ffn_dim: 32,
  max_position_embeddings: 16, word_embed_proj_dim: 16, do_layer_norm_before: true, enable_bias: true,
};
const BASES = ['llama', 'opt', 'sharded'] as const;
type Base = (typeof BASES)[number];

function makeBases(dir: string): Map<Base, { dir: string; logits: Float32Array }> {
  const out = new Map<Base, { dir: string; logits: Float32Array }>();
  const specs: [Base, Record<string, unknown>, 'float32' | 'float16' | 'bfloat16', number][] = [
    ['llama', LLAMA, 'float32', 5e9],
    ['opt', OPT, 'float16', 5e9],
    ['sharded', LLAMA, 'bfloat16', 2000],
  ];
  for (const [name, config, dtype, maxShardBytes] of specs) {
    const d = path.join(dir, `base-${name}`);
    const m = buildModel(parseConfig(new JsonConfig('config.json', config))).initRandom(7, dtype);
    const tensors = new Map<string, Tensor>();
    for (const [n, p] of m.namedParameters()) tensors.set(n, p.value);
    saveCheckpoint(d, tensors, config, { maxShardBytes });
    out.set(name, { dir: d, logits: logitsOf(d) });
  }
  return out;
}

const IDS = fromTypedArray(BigInt64Array.from([1n, 3n, 2n]), [1, 3]);
function logitsOf(dir: string): Float32Array {
  return loadModel(dir).forward(IDS).toTypedArray() as Float32Array;
}

function copyDir(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(to, f));
}

/** A safetensors file split into its parts, and put back together with a chosen padding. */
function splitFile(buf: Buffer): { header: Record<string, unknown>; data: Buffer } {
  const n = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>, data: buf.subarray(8 + n) };
}
function joinFile(headerText: string, data: Buffer): Buffer {
  const h = Buffer.from(headerText, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

const DTYPES = ['F32', 'F16', 'BF16', 'I32', 'I64', 'I16', 'I8', 'U8', 'BOOL', 'F64', 'U16', 'U32', 'U64', 'F8_E4M3', 'C64', 'f32', '', 'F33', 1, null];
const NUMBERS = [0, 1, -1, 2, 3, 7, 1.5, 2 ** 31, 2 ** 53, 2 ** 64, 1e300, -0.5];

/** One structured edit of a tensor entry; returns what it did, and whether the file means the same after. */
function editEntry(r: Rand, header: Record<string, unknown>): { what: string; neutral: boolean } {
  const names = Object.keys(header).filter((n) => n !== '__metadata__');
  if (names.length === 0) {
    header.t = { dtype: 'F32', shape: [1], data_offsets: [0, 4] };
    return { what: 'a tensor added to an empty header', neutral: false };
  }
  const name = pick(r, names);
  // An earlier edit of this case may have broken the entry: later edits work on what is there.
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(header[name])) header[name] = {};
  const e = header[name] as Record<string, unknown>;
  const shape = (Array.isArray(e.shape) ? e.shape : [1]) as number[];
  const offsets = (Array.isArray(e.data_offsets) && e.data_offsets.length === 2 ? e.data_offsets : [0, 4]) as number[];
  switch (int(r, 0, 10)) {
    case 0: {
      const v = pick(r, DTYPES);
      e.dtype = v;
      return { what: `${name}.dtype=${JSON.stringify(v)}`, neutral: false };
    }
    case 1: {
      const k = int(r, 0, 6);
      const s = [...shape];
      const j = int(r, 0, Math.max(0, s.length - 1));
      if (k === 0) s[j] = (s[j] ?? 1) + pick(r, [-1, 1]);
      else if (k === 1) s[j] = pick(r, NUMBERS);
      else if (k === 2) s.push(1);
      else if (k === 3) s.splice(j, 1);
      else if (k === 4) s.reverse();
      else if (k === 5) (s as unknown[])[j] = String(s[j]);
      else s.length = 0;
      e.shape = s;
      // [a, b] → [b, a] keeps the byte count: a different matrix, which the model's shape check must refuse.
      return { what: `${name}.shape=${JSON.stringify(s)}`, neutral: false };
    }
    case 2: {
      const k = int(r, 0, 6);
      const d = int(r, 1, 9);
      let o: unknown[] = [...offsets];
      if (k === 0) o = [offsets[0]! + d, offsets[1]! + d];
      else if (k === 1) o = [offsets[0]!, offsets[1]! + pick(r, [-d, d])];
      else if (k === 2) o = [offsets[0]! + pick(r, [-d, d]), offsets[1]!];
      else if (k === 3) o = [offsets[1], offsets[0]];
      else if (k === 4) o = [offsets[0]];
      else if (k === 5) o = [pick(r, NUMBERS), pick(r, NUMBERS)];
      else o = [String(offsets[0]), offsets[1]];
      e.data_offsets = o;
      return { what: `${name}.data_offsets=${JSON.stringify(o)}`, neutral: false };
    }
    case 3: {
      const key = pick(r, ['dtype', 'shape', 'data_offsets']);
      delete e[key];
      return { what: `delete ${name}.${key}`, neutral: false };
    }
    case 4:
      delete header[name];
      return { what: `delete tensor ${name}`, neutral: false };
    case 5: {
      header[`${name}.renamed`] = e;
      delete header[name];
      return { what: `rename ${name}`, neutral: false };
    }
    case 6: {
      const m = pick(r, [{ format: 1 }, 'pt', [], null, { a: 'b' }, { format: 'pt', x: '' }]);
      header.__metadata__ = m;
      return { what: `__metadata__=${JSON.stringify(m)}`, neutral: m === null || (typeof m === 'object' && !Array.isArray(m) && Object.values(m).every((v) => typeof v === 'string')) };
    }
    case 7: {
      e.extra_field = pick(r, [1, 'x', null, { a: 1 }]);
      return { what: `${name}.extra_field`, neutral: true }; // unknown fields are ignored, as serde does
    }
    case 8: {
      const entries = Object.entries(header).reverse();
      for (const k of Object.keys(header)) delete header[k];
      for (const [k, v] of entries) header[k] = v;
      return { what: 'keys reversed', neutral: true };
    }
    case 9:
      header[`new.${int(r, 0, 99)}`] = { dtype: pick(r, ['F32', 'U8']), shape: [int(r, 0, 3)], data_offsets: [0, int(r, 0, 12)] };
      return { what: 'extra tensor', neutral: false };
    default:
      header[name] = pick(r, [[], 'x', 1, null]);
      return { what: `${name}=non-object`, neutral: false };
  }
}

interface Case {
  kind: string;
  what: string;
  base: Base;
  /** The file the safetensors oracle checks (mutations of weight files), relative to the folder. */
  weights?: string;
  /** The mutation changes nothing the model sees: the result must be the base's logits, bit for bit. */
  neutral: boolean;
  /** Weights are the base's (config/index cases): a loaded model must give finite logits. */
  baseWeights: boolean;
  apply(dir: string): void;
}

function weightFileOf(r: Rand, base: Base, dir: string): string {
  if (base !== 'sharded') return 'model.safetensors';
  return pick(r, fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort());
}

const CONFIG_FIELDS = {
  llama: ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'max_position_embeddings', 'rms_norm_eps', 'rope_theta', 'rope_scaling', 'tie_word_embeddings', 'model_type', 'hidden_act', 'eos_token_id', 'bos_token_id', 'attention_bias', 'quantization_config'],
  opt: ['vocab_size', 'hidden_size', 'ffn_dim', 'num_hidden_layers', 'num_attention_heads', 'max_position_embeddings', 'word_embed_proj_dim', 'do_layer_norm_before', 'enable_bias', 'activation_function', 'tie_word_embeddings', '_remove_final_layer_norm'],
};
const CONFIG_VALUES: unknown[] = [0, -1, 1, 2, 3, 4, 8, 15.5, 16, 24, 32, 1e6, 1e9, 2 ** 53, 1e308, -1e-9, 1e-300, 'x', '', null, true, false, [], {}, [2, 3], { rope_type: 'linear', factor: 0 }, { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 16 }, { rope_type: 'linear', factor: 1e-300 }, { quant_method: 'awq' }];

function makeCase(seed: number, i: number, bases: Map<Base, { dir: string }>): Case {
  const r = rng((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
  const base = pick(r, BASES);
  const baseDir = bases.get(base)!.dir;
  const kind = pick(r, ['st-length', 'st-bytes', 'st-truncate', 'st-append', 'st-json', 'st-json', 'st-json', 'st-kind', 'index', 'config', 'config', 'config']);
  const st = (what: string, neutral: boolean, weights: string, edit: (buf: Buffer) => Buffer | undefined, special?: (file: string) => void): Case => ({
    kind, what: `${base}/${weights}: ${what}`, base, weights, neutral, baseWeights: false,
    apply: (dir) => {
      const file = path.join(dir, weights);
      if (special) return special(file);
      fs.writeFileSync(file, edit(fs.readFileSync(file))!);
    },
  });
  const weights = weightFileOf(r, base, baseDir);
  switch (kind) {
    case 'st-length': {
      const d = pick(r, [int(r, -16, -1), int(r, 1, 16), int(r, 17, 4096), 2 ** 32, 2 ** 53]);
      return st(`header length ${d > 0 ? '+' : ''}${d}`, false, weights, (buf) => {
        const b = Buffer.from(buf);
        b.writeBigUInt64LE(BigInt.asUintN(64, b.readBigUInt64LE(0) + BigInt(d)));
        return b;
      });
    }
    case 'st-bytes': {
      const flips = Array.from({ length: int(r, 1, 3) }, () => [r(), int(r, 0, 255)] as const);
      return st(`flip ${flips.length} header byte(s)`, false, weights, (buf) => {
        const b = Buffer.from(buf);
        const n = Number(b.readBigUInt64LE(0)) + 8;
        for (const [at, v] of flips) b[Math.floor(at * n)] = v;
        return b;
      });
    }
    case 'st-truncate': {
      const at = r();
      return st(`truncate at ${(at * 100).toFixed(1)}%`, false, weights, (buf) => buf.subarray(0, Math.floor(at * buf.length)));
    }
    case 'st-append': {
      const n = int(r, 1, 64);
      const front = r() < 0.3;
      return st(`${n} bytes ${front ? 'inserted before the data' : 'appended'}`, false, weights, (buf) => {
        if (!front) return Buffer.concat([buf, Buffer.alloc(n, 0x20)]);
        const h = Number(buf.readBigUInt64LE(0)) + 8;
        return Buffer.concat([buf.subarray(0, h), Buffer.alloc(n), buf.subarray(h)]);
      });
    }
    case 'st-json': {
      const k = int(r, 1, 2);
      const pad = pick(r, ['', ' ', '       ', '\n', '\t \n', '\u0000', ' x']);
      const pretty = r() < 0.2;
      const edits: { what: string; neutral: boolean }[] = [];
      // The edits are drawn inside apply (they need the header), from a generator seeded by this case.
      const sub = rng(Math.floor(r() * 2 ** 32));
      const c = st('', true, weights, (buf) => {
        const { header, data } = splitFile(buf);
        for (let j = 0; j < k; j++) edits.push(editEntry(sub, header));
        return joinFile(JSON.stringify(header, null, pretty ? 2 : undefined) + pad, data);
      });
      const write = c.apply;
      c.apply = (dir) => {
        write(dir);
        const padOk = /^\s*$/.test(pad) && !pad.includes('\u0000');
        c.what = `${base}/${weights}: ${edits.map((e) => e.what).join('; ')}; padding ${JSON.stringify(pad)}${pretty ? ', pretty' : ''}`;
        c.neutral = padOk && edits.every((e) => e.neutral);
      };
      return c;
    }
    case 'st-kind': {
      const how = pick(r, ['fifo', 'directory', '/dev/zero', '/dev/null', 'empty', 'dangling symlink', 'symlink loop']);
      return st(`replaced by ${how}`, false, weights, () => undefined, (file) => {
        fs.rmSync(file);
        if (how === 'fifo') spawnSync('mkfifo', [file]);
        else if (how === 'directory') fs.mkdirSync(file);
        else if (how.startsWith('/dev/')) fs.symlinkSync(how, file);
        else if (how === 'empty') fs.writeFileSync(file, '');
        else if (how === 'dangling symlink') fs.symlinkSync(path.join(path.dirname(file), 'nowhere'), file);
        else fs.symlinkSync(file, file);
      });
    }
    case 'index': {
      const b: Base = 'sharded';
      const op = int(r, 0, 8);
      const value = pick(r, ['../model-00001-of-00003.safetensors', '/etc/passwd', 'nope.safetensors', 1, null, [], '.', '..', 'config.json']);
      return {
        kind, base: b, neutral: op === 8, baseWeights: true, what: `index op ${op} value ${JSON.stringify(value)}`,
        apply: (dir) => {
          const file = path.join(dir, 'model.safetensors.index.json');
          const idx = JSON.parse(fs.readFileSync(file, 'utf8')) as { weight_map: Record<string, unknown>; metadata?: unknown };
          const names = Object.keys(idx.weight_map).sort();
          const shards = [...new Set(Object.values(idx.weight_map) as string[])].sort();
          const n = pick(r, names);
          if (op === 0) idx.weight_map[n] = value;
          else if (op === 1) (idx as Record<string, unknown>).weight_map = pick(r, [[], null, 'x', 1]);
          else if (op === 2) delete (idx as Record<string, unknown>).weight_map;
          else if (op === 3) idx.weight_map[n] = pick(r, shards.filter((s) => s !== idx.weight_map[n]).concat(shards[0]!));
          else if (op === 4) idx.weight_map['model.extra.weight'] = shards[0];
          else if (op === 5) delete idx.weight_map[n];
          else if (op === 6) return void fs.writeFileSync(file, JSON.stringify(idx).slice(0, int(r, 0, 40)));
          else if (op === 7) return void (fs.rmSync(file), spawnSync('mkfifo', [file]));
          else idx.metadata = { total_size: pick(r, [0, -5, 'x', 1e18]) }; // transformers ignores it too
          fs.writeFileSync(file, JSON.stringify(idx));
        },
      };
    }
    default: {
      const b: Base = base === 'opt' ? 'opt' : 'llama';
      const fields = CONFIG_FIELDS[b];
      const edits = Array.from({ length: int(r, 1, 3) }, () => [pick(r, fields), r() < 0.15 ? undefined : pick(r, CONFIG_VALUES)] as const);
      const broken = r() < 0.05 ? pick(r, ['truncated', 'fifo', 'directory', 'array', 'huge']) : undefined;
      return {
        kind, base: b, neutral: false, baseWeights: true,
        what: broken ? `config.json ${broken}` : `config ${edits.map(([f, v]) => `${f}=${v === undefined ? '(deleted)' : JSON.stringify(v)}`).join(', ')}`,
        apply: (dir) => {
          const file = path.join(dir, 'config.json');
          const cfg = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
          for (const [f, v] of edits) if (v === undefined) delete cfg[f]; else cfg[f] = v;
          const text = JSON.stringify(cfg);
          if (broken === 'truncated') fs.writeFileSync(file, text.slice(0, text.length >> 1));
          else if (broken === 'fifo') (fs.rmSync(file), spawnSync('mkfifo', [file]));
          else if (broken === 'directory') (fs.rmSync(file), fs.mkdirSync(file));
          else if (broken === 'array') fs.writeFileSync(file, '[1, 2]');
          else if (broken === 'huge') (fs.writeFileSync(file, text), fs.truncateSync(file, 65 * 1024 * 1024)); // sparse: no 65 MB in this process
          else fs.writeFileSync(file, text);
        },
      };
    }
  }
}

const bytesOf = (t: Tensor): Buffer => {
  const a = t.contiguous().toTypedArray();
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
};

/** Our reader against the reference rules on one weight file: undefined when they agree, else why not. */
function oracleDisagreement(file: string): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return undefined; // dangling or looping symlink: both refuse
  }
  if (!st.isFile()) return undefined;
  const buf = fs.readFileSync(file);
  const ref = referenceRead(buf);
  let ours: ReturnType<typeof openSafetensors> | undefined;
  let err: unknown;
  try {
    ours = openSafetensors(file);
  } catch (e) {
    err = e;
  }
  if (!ref.ok) return ours ? (ours.close(), `the reference refuses it (${ref.why}) but opshift opened it`) : undefined;
  if (!ours) return `the reference accepts it but opshift refused: ${(err as Error).message}`;
  try {
    for (const [name, t] of ref.tensors) {
      const info = ours.info(name);
      if (info.dtype !== t.dtype || JSON.stringify(info.shape) !== JSON.stringify(t.shape) || info.dataOffsets[0] !== t.begin) return `${name}: info differs from the reference`;
      const raw = buf.subarray(ref.dataStart + t.begin, ref.dataStart + t.end);
      if (!['F32', 'F16', 'BF16', 'I32', 'I64', 'I16', 'I8', 'U8'].includes(t.dtype)) {
        // BOOL is normalized to 0/1 and F64 converted on load; the rest have no opshift dtype and must say so.
        if (!(t.dtype in REFERENCE_DTYPE_BITS) || ['BOOL', 'F64'].includes(t.dtype)) continue;
        try {
          ours.load(name);
          return `${name}: dtype ${t.dtype} loaded without an error`;
        } catch (e) {
          if (!(e instanceof DTypeError)) return `${name}: ${t.dtype} failed with ${(e as Error).name}, not DTypeError`;
          continue;
        }
      }
      if (!bytesOf(ours.load(name)).equals(raw)) return `${name}: loaded bytes differ from the file's [${t.begin}, ${t.end})`;
    }
    return undefined;
  } finally {
    ours.close();
  }
}

function runCase(c: Case, dir: string, bases: Map<Base, { dir: string; logits: Float32Array }>): Pick<CaseResult, 'outcome' | 'error' | 'msg'> {
  if (c.weights) {
    const d = oracleDisagreement(path.join(dir, c.weights));
    if (d) return { outcome: 'mismatch', msg: d };
  }
  let logits: Float32Array;
  try {
    logits = logitsOf(dir);
  } catch (e) {
    const err = e as Error;
    if (!(e instanceof OpshiftError)) return { outcome: 'bad', error: err.name, msg: `${err.message}\n${err.stack ?? ''}` };
    if (c.neutral) return { outcome: 'mismatch', error: err.name, msg: `a neutral edit failed: ${err.message}` };
    return { outcome: 'error', error: err.name, msg: err.message };
  }
  if (c.neutral && !Buffer.from(logits.buffer).equals(Buffer.from(bases.get(c.base)!.logits.buffer))) return { outcome: 'mismatch', msg: 'a neutral edit changed the logits' };
  if (c.baseWeights && !logits.every(Number.isFinite)) return { outcome: 'mismatch', msg: 'the base weights under this config give non-finite logits: a config rule is missing' };
  return { outcome: 'ok' };
}

function main(): void {
  const args = JSON.parse(process.argv[2]!) as Args;
  const bases = makeBases(args.dir);
  for (let i = args.start; i < args.end && Date.now() < args.deadline; i++) {
    process.stdout.write(JSON.stringify({ start: i }) + '\n');
    const c = makeCase(args.seed, i, bases);
    const dir = path.join(args.dir, `case-${i}`);
    copyDir(bases.get(c.base)!.dir, dir);
    const t0 = performance.now();
    let r: Pick<CaseResult, 'outcome' | 'error' | 'msg'>;
    try {
      c.apply(dir);
      r = runCase(c, dir, bases);
    } catch (e) {
      r = { outcome: 'bad', error: (e as Error).name, msg: `the harness failed: ${(e as Error).stack}` };
    }
    const res: CaseResult = { i, kind: c.kind, what: c.what, ...r, ms: performance.now() - t0, rss: process.memoryUsage().rss };
    fs.rmSync(dir, { recursive: true, force: true });
    process.stdout.write(JSON.stringify(res) + '\n');
  }
  process.stdout.write(JSON.stringify({ done: true }) + '\n');
}

main();
