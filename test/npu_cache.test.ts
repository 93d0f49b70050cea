/**
 * The prepared-weight cache (issue #17, backends/npu/prepared_cache.ts + npu_cache.c): exported handles imported
 * back run bit-identically to a fresh prepare for every variant; a cache hit never reads the checkpoint; corrupt,
 * truncated, foreign and wrong-shape files are rejected with the file and the rule named, and the weight is
 * prepared again; a checkpoint whose mtime changed misses; a seeded model is keyed by its draw.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { backendStatus, f32ToBf16, type Tensor } from '../core/index.js';
import { parsePolicy } from '../core/policy_spec.js';
import { withPolicy } from '../core/policy.js';
import { weightStats } from '../core/weight.js';
import { clearNpuCache } from '../backends/npu/kernels.js';
import { configureNpu } from '../backends/npu/config.js';
import { loadNpuLibrary, NpuContext, NpuDType, NpuVariant, type NpuGemm } from '../backends/npu/ffi.js';
import { preparedCacheStats, resetPreparedCacheStats } from '../backends/npu/prepared_cache.js';
import { parseConfig } from '../models/config.js';
import { buildModel, loadModel } from '../models/load.js';
import { JsonConfig, saveCheckpoint } from '../models/io/checkpoint.js';
import { idsTensor } from '../models/generate.js';
import type { CausalLM } from '../models/causal_lm.js';
import { quantize } from '../models/quantize/index.js';
import { xorshift } from './npu_reference.js';

const available = backendStatus('npu')?.available === true;
const loaded = loadNpuLibrary();
const lib = loaded.ok ? loaded.lib : undefined;
const canCache = available && lib?.optional.npu_gemm_import !== undefined;

let tmp = '';
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'opshift-npu-cache-'));
});
afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const bytesOf = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

// Header fields of a prepared-weight file (npu_cache.c cache_header, native little-endian on x86-64).
const H = { impl: 16, K: 160, N: 168, parts: 184, hash: 312, size: 320 };

/** FNV-1a 64 of the header with its hash field zeroed, as npu_cache.c computes it. */
function headerHash(h: Buffer): bigint {
  const c = Buffer.from(h.subarray(0, H.size));
  c.writeBigUInt64LE(0n, H.hash);
  let x = 1469598103934665603n;
  for (const b of c) x = ((x ^ BigInt(b)) * 1099511628211n) & 0xffffffffffffffffn;
  return x;
}

describe.skipIf(!canCache)('npu_gemm_export / npu_gemm_import', () => {
  const ctx = canCache ? new NpuContext(lib!) : (undefined as unknown as NpuContext);
  const K = 128;
  const N = 40; // not a multiple of the 16-column panels: the padded tail goes through the file too
  const M = 3;
  const r = xorshift(11);
  const wf = Float32Array.from({ length: N * K }, () => r.float(-1, 1));
  const x = Float32Array.from({ length: M * K }, () => r.float(-2, 2));
  const w8 = Int8Array.from({ length: N * K }, () => r.int(-128, 128));
  w8[5] = -128; // the -128 correction lists are part of the handle
  const q = Uint8Array.from({ length: (N * K) / 2 }, () => r.int(0, 256));
  const zeros = Uint8Array.from({ length: (N * K) / 32 }, () => r.int(0, 16));
  const scales = Float32Array.from({ length: (N * K) / 32 }, () => r.float(0.01, 0.1));
  const bias = Float32Array.from({ length: N }, () => r.float(-1, 1));

  interface Case {
    readonly name: string;
    readonly variant: NpuVariant;
    readonly group?: number;
    readonly make: () => NpuGemm;
    readonly run: (g: NpuGemm) => Buffer;
  }
  const cases: Case[] = [
    { name: 'f32', variant: NpuVariant.F32, make: () => ctx.createFFromNK(NpuVariant.F32, wf, K, N), run: (g) => runF(g, x, NpuDType.F32) },
    {
      name: 'bf16',
      variant: NpuVariant.BF16,
      make: () => ctx.createFFromNK(NpuVariant.BF16, Uint16Array.from(wf, f32ToBf16), K, N),
      run: (g) => runF(g, Uint16Array.from(x, f32ToBf16), NpuDType.BF16),
    },
    {
      name: 'w8a8',
      variant: NpuVariant.W8A8,
      make: () => ctx.createW8FromNK(w8, K, N),
      run: (g) => {
        const y = new Float32Array(M * N);
        g.runW8F32(x, M, Float32Array.from({ length: N }, (_, i) => 0.01 + i * 1e-4), bias, y);
        const c = new Int32Array(M * N);
        g.runW8(Int8Array.from(x, (v) => Math.round(v * 50)), M, c);
        return Buffer.concat([bytesOf(y), bytesOf(c)]);
      },
    },
    {
      name: 'w4abf16',
      variant: NpuVariant.W4ABF16,
      group: 32,
      make: () => ctx.createW4FromNK(NpuVariant.W4ABF16, q, zeros, scales, bias, K, N, 32),
      run: (g) => {
        const y = new Float32Array(M * N);
        g.runW4(x, NpuDType.F32, M, y, NpuDType.F32);
        return bytesOf(y);
      },
    },
    {
      name: 'w4a8',
      variant: NpuVariant.W4A8,
      group: 32,
      make: () => ctx.createW4FromNK(NpuVariant.W4A8, q, zeros, scales, bias, K, N, 32),
      run: (g) => {
        const y = new Float32Array(M * N);
        g.runW4A8(x, M, y);
        return bytesOf(y);
      },
    },
  ];
  function runF(g: NpuGemm, a: Float32Array | Uint16Array, dt: NpuDType): Buffer {
    const y = new Float32Array(M * N);
    g.runF(a, dt, M, bias, y, NpuDType.F32);
    return bytesOf(y);
  }

  it.each(cases)('$name: an imported handle runs bit-identically to a fresh prepare', (c) => {
    const fresh = c.make();
    const file = path.join(tmp, `${c.name}.npuw`);
    fresh.exportTo(file);
    expect(fs.readdirSync(tmp).filter((f) => f.includes('.tmp.'))).toEqual([]); // renamed into place
    expect(fs.statSync(file).size % 4096).toBe(0);
    const imported = ctx.importGemm(file, c.variant, K, N, c.group ?? 0, c.group ? 4 : 0);
    const want = c.run(fresh);
    fresh.dispose();
    expect(c.run(imported).equals(want)).toBe(true);
    // an imported handle exports the same bytes again
    const again = path.join(tmp, `${c.name}.again.npuw`);
    imported.exportTo(again);
    expect(fs.readFileSync(again).equals(fs.readFileSync(file))).toBe(true);
    imported.dispose();
  });

  /** Writes a valid f32 file and returns its path. */
  function f32File(name: string): string {
    const g = cases[0]!.make();
    const file = path.join(tmp, name);
    g.exportTo(file);
    g.dispose();
    return file;
  }
  const importF32 = (file: string, n = N) => () => ctx.importGemm(file, NpuVariant.F32, K, n);

  it('rejects a truncated file, naming the file and the rule', () => {
    const file = f32File('trunc.npuw');
    fs.truncateSync(file, fs.statSync(file).size - 4096);
    expect(importF32(file)).toThrow(/trunc\.npuw' rejected: the header says \d+ bytes, the file has \d+ \(truncated/);
    fs.truncateSync(file, 100);
    expect(importF32(file)).toThrow(/trunc\.npuw' is 100 bytes, shorter than the 4096-byte header/);
  });

  it('rejects a file that is not one (magic) and a corrupt header (checksum)', () => {
    const other = path.join(tmp, 'other.npuw');
    fs.writeFileSync(other, Buffer.alloc(8192, 7));
    expect(importF32(other)).toThrow(/other\.npuw' rejected: no prepared-weight magic/);
    const file = f32File('corrupt.npuw');
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([0x81]), 0, 1, H.K); // K field changed, hash not updated
    fs.closeSync(fd);
    expect(importF32(file)).toThrow(/corrupt\.npuw' rejected: header checksum mismatch/);
  });

  it('rejects a file of another library and one of another shape', () => {
    const file = f32File('foreign.npuw');
    const h = fs.readFileSync(file);
    h.fill(0, H.impl, H.impl + 128);
    h.write('some-other-npu-library 9.9', H.impl);
    h.writeBigUInt64LE(headerHash(h), H.hash);
    fs.writeFileSync(file, h);
    expect(importF32(file)).toThrow(/foreign\.npuw' rejected: written by 'some-other-npu-library 9\.9', this library is 'opshift-npu-emu/);
    const good = f32File('shape.npuw');
    expect(importF32(good, N + 1)).toThrow(new RegExp(`shape\\.npuw' rejected: holds f32 K=${K} N=${N} group=0 w_bits=0, expected f32 K=${K} N=${N + 1}`));
    expect(() => ctx.importGemm(good, NpuVariant.BF16, K, N)).toThrow(/holds f32 .* expected bf16/);
    expect(() => ctx.importGemm(path.join(tmp, 'missing.npuw'), NpuVariant.F32, K, N)).toThrow(/cannot open '.*missing\.npuw'/);
  });

  it('rejects w8 correction lists that would index outside the weights', () => {
    const g = cases[2]!.make();
    const file = path.join(tmp, 'w8bad.npuw');
    g.exportTo(file);
    g.dispose();
    const h = fs.readFileSync(file);
    const corrK = Number(h.readBigUInt64LE(H.parts + 3 * 16));
    expect(Number(h.readBigUInt64LE(H.parts + 3 * 16 + 8))).toBeGreaterThan(0);
    h.writeInt32LE(K + 5, corrK); // data, not header: only the structural check can see it
    fs.writeFileSync(file, h);
    expect(() => ctx.importGemm(file, NpuVariant.W8A8, K, N)).toThrow(/w8bad\.npuw' rejected: the w8 correction lists are inconsistent/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Through the kernels: OPSHIFT_CACHE semantics on a checkpoint and on a seeded model

const RAW = {
  model_type: 'llama', vocab_size: 96, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 64, rms_norm_eps: 1e-5,
  rope_theta: 10000, bos_token_id: 1, eos_token_id: 2, tie_word_embeddings: false,
};
const IDS = [1, 5, 9, 17, 33, 64, 3, 80];
const LINEARS = 2 * 7 + 1; // q k v o gate up down per layer + lm_head

const logits = (m: CausalLM) => withPolicy(parsePolicy('Linear=npu'), () => Buffer.from(Float32Array.from(m.forward(idsTensor(IDS)).storage.data as Float32Array).buffer));
const cacheFiles = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.endsWith('.npuw')) : []);

describe.skipIf(!canCache)('OPSHIFT_CACHE through the npu kernels', () => {
  const minBytes = process.env.OPSHIFT_RELEASE_MIN_BYTES;
  let ckpt = '';
  let cacheDir = '';
  let reference: Buffer;

  beforeAll(() => {
    // Linear weights (16-32 KB) get a source and are deferred; norms (256 B) stay resident without one.
    process.env.OPSHIFT_RELEASE_MIN_BYTES = '4096';
    const model = buildModel(parseConfig(new JsonConfig('test', RAW))).initRandom(7);
    const tensors = new Map<string, Tensor>();
    for (const [n, p] of model.namedParameters()) tensors.set(n, p.value);
    ckpt = path.join(tmp, 'ckpt');
    fs.mkdirSync(ckpt);
    saveCheckpoint(ckpt, tensors, RAW);
    clearNpuCache();
    reference = logits(loadModel(ckpt)); // no cache configured: the normal prepare
    cacheDir = path.join(tmp, 'cache');
  });
  afterEach(() => {
    configureNpu({ cacheDir: undefined });
    clearNpuCache();
  });
  afterAll(() => {
    if (minBytes === undefined) delete process.env.OPSHIFT_RELEASE_MIN_BYTES;
    else process.env.OPSHIFT_RELEASE_MIN_BYTES = minBytes;
  });

  const withCache = (): void => {
    configureNpu({ cacheDir });
    clearNpuCache();
    resetPreparedCacheStats();
  };

  it('a miss prepares and writes, a hit maps the file without reading the checkpoint; same logits', () => {
    withCache();
    const m0 = loadModel(ckpt);
    const r0 = weightStats().restores;
    expect(logits(m0).equals(reference)).toBe(true);
    expect(weightStats().restores - r0).toBe(LINEARS); // the miss reads every Linear weight from the checkpoint once
    expect(preparedCacheStats()).toMatchObject({ hits: 0, misses: LINEARS, writes: LINEARS, rejected: 0, errors: 0 });
    expect(cacheFiles(cacheDir)).toHaveLength(LINEARS);

    withCache();
    const m = loadModel(ckpt);
    const before = weightStats();
    expect(logits(m).equals(reference)).toBe(true);
    const after = weightStats();
    expect(preparedCacheStats()).toMatchObject({ hits: LINEARS, misses: 0, writes: 0 });
    expect(after.restores - before.restores).toBe(0); // no host bytes read back from the checkpoint
    expect(after.totalRestoredBytes - before.totalRestoredBytes).toBe(0);
  });

  it('rejects corrupt and truncated files with one warning, re-prepares and rewrites them', () => {
    withCache();
    logits(loadModel(ckpt)); // fill
    const files = cacheFiles(cacheDir);
    expect(files).toHaveLength(LINEARS);
    fs.truncateSync(path.join(cacheDir, files[0]!), 5000);
    const fd = fs.openSync(path.join(cacheDir, files[1]!), 'r+');
    fs.writeSync(fd, Buffer.from('garbage!'), 0, 8, 0);
    fs.closeSync(fd);
    withCache();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      expect(logits(loadModel(ckpt)).equals(reference)).toBe(true);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/prepared-weight cache: .*npu_gemm_import.*\.npuw' (rejected|is 5000 bytes)/);
    } finally {
      warn.mockRestore();
    }
    expect(preparedCacheStats()).toMatchObject({ hits: LINEARS - 2, rejected: 2, misses: 2, writes: 2 });
    withCache();
    logits(loadModel(ckpt));
    expect(preparedCacheStats()).toMatchObject({ hits: LINEARS, rejected: 0 });
  });

  it('a checkpoint with another mtime misses (stale key), the old files are not used', () => {
    withCache();
    logits(loadModel(ckpt));
    const n0 = cacheFiles(cacheDir).length;
    const st = path.join(ckpt, 'model.safetensors');
    const t = fs.statSync(st).mtime;
    fs.utimesSync(st, t, new Date(t.getTime() + 5000));
    withCache();
    expect(logits(loadModel(ckpt)).equals(reference)).toBe(true);
    expect(preparedCacheStats()).toMatchObject({ hits: 0, misses: LINEARS, writes: LINEARS });
    expect(cacheFiles(cacheDir).length).toBe(n0 + LINEARS);
  });

  it('seeded models are keyed by their draw: the same seed hits, another seed misses', () => {
    const seeded = (seed: number) => buildModel(parseConfig(new JsonConfig('test', RAW))).initRandom(seed);
    withCache();
    const a = logits(seeded(3));
    expect(preparedCacheStats()).toMatchObject({ hits: 0, misses: LINEARS });
    withCache();
    expect(logits(seeded(3)).equals(a)).toBe(true);
    expect(preparedCacheStats()).toMatchObject({ hits: LINEARS, misses: 0 });
    withCache();
    logits(seeded(4));
    expect(preparedCacheStats()).toMatchObject({ hits: 0, misses: LINEARS });
  });

  it('a kept weight without a source (a tied lm_head = the embedding) is cached by its identity', () => {
    const tied = { ...RAW, tie_word_embeddings: true };
    const model = buildModel(parseConfig(new JsonConfig('test', tied))).initRandom(9);
    const tensors = new Map<string, Tensor>();
    for (const [n, p] of model.namedParameters()) tensors.set(n, p.value);
    const dir = path.join(tmp, 'tied');
    fs.mkdirSync(dir);
    saveCheckpoint(dir, tensors, tied);
    withCache();
    const first = logits(loadModel(dir));
    expect(preparedCacheStats()).toMatchObject({ hits: 0, misses: LINEARS, writes: LINEARS });
    withCache();
    const m = loadModel(dir);
    expect(logits(m).equals(first)).toBe(true);
    expect(preparedCacheStats()).toMatchObject({ hits: LINEARS, misses: 0 });
    const emb = [...m.namedParameters()].find(([n]) => n.includes('embed'))![1].value;
    expect(emb.storage.source).toBeUndefined(); // still never released: the gather reads it every token
    expect(emb.storage.resident).toBe(true);
  });

  it.each([
    ['w8a8', { method: 'w8a8' }],
    ['w4 (uint4 g32)', { method: 'pergrp', groupSize: 32 }],
  ] as const)('quantized in memory (%s): the quantized tensors inherit an identity; the second load hits', (_name, recipe) => {
    const q = (): Buffer => {
      const m = loadModel(ckpt);
      quantize(m, recipe, { exclude: [] });
      return withPolicy(parsePolicy('Linear=npu,LinearW8A8=npu,LinearW4=npu'), () => Buffer.from(Float32Array.from(m.forward(idsTensor(IDS)).storage.data as Float32Array).buffer));
    };
    configureNpu({ cacheDir: undefined });
    clearNpuCache();
    const want = q();
    withCache();
    expect(q().equals(want)).toBe(true);
    expect(preparedCacheStats()).toMatchObject({ hits: 0, misses: LINEARS, writes: LINEARS });
    withCache();
    expect(q().equals(want)).toBe(true);
    expect(preparedCacheStats()).toMatchObject({ hits: LINEARS, misses: 0 });
  });

  it('an unusable cache directory degrades to the normal prepare with one warning', () => {
    const notDir = path.join(tmp, 'a-file');
    fs.writeFileSync(notDir, 'not a directory');
    configureNpu({ cacheDir: notDir });
    clearNpuCache();
    resetPreparedCacheStats();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      expect(logits(loadModel(ckpt)).equals(reference)).toBe(true);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/prepared-weight cache: .*a-file/);
    } finally {
      warn.mockRestore();
    }
    expect(preparedCacheStats()).toMatchObject({ hits: 0, writes: 0, errors: LINEARS });
  });

  it('does not write past OPSHIFT_CACHE_MAX_MB', () => {
    const prev = process.env.OPSHIFT_CACHE_MAX_MB;
    process.env.OPSHIFT_CACHE_MAX_MB = '0';
    const d = path.join(tmp, 'bounded');
    try {
      configureNpu({ cacheDir: d });
      clearNpuCache();
      resetPreparedCacheStats();
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      expect(logits(loadModel(ckpt)).equals(reference)).toBe(true);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/not writing: .*OPSHIFT_CACHE_MAX_MB=0/);
      warn.mockRestore();
      expect(preparedCacheStats()).toMatchObject({ writes: 0, skipped: LINEARS });
      expect(cacheFiles(d)).toEqual([]);
    } finally {
      if (prev === undefined) delete process.env.OPSHIFT_CACHE_MAX_MB;
      else process.env.OPSHIFT_CACHE_MAX_MB = prev;
    }
  });
});
