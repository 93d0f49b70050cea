/**
 * One resident copy, seen by the OS (issue #17): a child process that loads OPT-125m's shapes and runs one prefill
 * with Linear on a GEMM backend holds less memory than one that keeps every host copy
 * (OPSHIFT_KEEP_HOST_WEIGHTS=1): about the Linear weights' float32 bytes less. Runs the built tool
 * (dist/tools/weights_rss.js, `npm run build` / `npx tsc`), like the CLI tests.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backendStatus } from '../core/index.js';
import { buildModel } from '../models/load.js';
import { presetConfig } from '../models/config.js';
import { Linear } from '../models/nn/layers.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const TOOL = path.join(ROOT, 'dist', 'tools', 'weights_rss.js');

describe('peak and resident memory in a child process', () => {
  it('after the first token, RSS is lower by at least half the Linear weights than with every host copy kept', async () => {
    if (!fs.existsSync(TOOL)) return console.warn(`${TOOL} not built: skipped`);
    const backend = ['npu', 'wasm', 'ort'].find((b) => backendStatus(b)?.available === true);
    if (!backend) return console.warn('no GEMM backend available: skipped');
    const { measureWeights } = (await import(TOOL)) as typeof import('../tools/weights_rss.js');
    const o = { model: 'synthetic:opt-125m', dispatch: `Linear=${backend}`, promptTokens: 16 };
    const kept = measureWeights(o, { OPSHIFT_KEEP_HOST_WEIGHTS: '1' });
    const released = measureWeights(o, { OPSHIFT_KEEP_HOST_WEIGHTS: '0' });
    expect(kept.gemmBackends[`Linear:${backend}`]).toBeGreaterThan(0);
    expect(released.gemmBackends[`Linear:${backend}`]).toBeGreaterThan(0);
    let linearMiB = 0;
    for (const { module } of buildModel(presetConfig('opt-125m')).namedModules())
      if (module instanceof Linear) linearMiB += (module.inFeatures * module.outFeatures * 4) / 2 ** 20;
    // Storage accounting first (exact), then the OS's view (allocator slack allowed: half the bytes).
    expect(kept.hostAfterFirstTokenMiB - released.hostAfterFirstTokenMiB).toBeCloseTo(linearMiB, 0);
    expect(kept.rssMiB - released.rssMiB, JSON.stringify({ kept, released })).toBeGreaterThan(linearMiB / 2);
    expect(released.peakRssMiB).toBeLessThan(kept.peakRssMiB);
  }, 120_000);
});
