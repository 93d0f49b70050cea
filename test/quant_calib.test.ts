/**
 * The shipped default calibration text (issue #15 item 10): `opshift quantize --recipe smoothquant|awq` without
 * --calib works on a fresh clone, from models/demo/kjv-calib.txt, a sample of the demo models' TRAINING split.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultCalibrationFile } from '../models/quantize/index.js';
import { runQuantize } from '../tools/quantize.js';

const ROOT = join(import.meta.dirname, '..');
const DEMO = join(ROOT, 'models', 'demo');
const tmp = mkdtempSync(join(tmpdir(), 'opshift-calib-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Chapter headings ("Genesis 1", "1 Kings 18") of a corpus file: the first line of each blank-line-separated document. */
const headings = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n\n')
    .map((d) => d.split('\n')[0]!.trim())
    .filter(Boolean);

describe('the shipped calibration text', () => {
  it('is models/demo/kjv-calib.txt: tens of kB, 15 training chapters, none of them from the held-out split', () => {
    const file = defaultCalibrationFile();
    expect(file).toBe(join(DEMO, 'kjv-calib.txt'));
    const size = statSync(file).size;
    expect(size).toBeGreaterThan(20_000);
    expect(size).toBeLessThan(100_000);
    const calib = headings(file);
    expect(calib).toHaveLength(15);
    expect(calib[0]).toBe('Genesis 1');
    const valid = new Set(headings(join(DEMO, 'kjv-valid.txt')));
    expect(valid.size).toBe(30);
    expect(calib.filter((h) => valid.has(h))).toEqual([]);
  });
});

describe('quantize without --calib calibrates on the shipped text', { timeout: 60_000 }, () => {
  for (const recipe of ['smoothquant', 'awq'] as const)
    it(`${recipe} on demo:opt`, async () => {
      const out = join(tmp, recipe);
      // Layer 0 only keeps AWQ's grid search to a few seconds; calibration still runs the whole model.
      const r = await runQuantize({ model: 'demo:opt', recipe, out, calibTokens: 256, include: ['layers.0'] });
      expect(r.calibration).toBe(join(DEMO, 'kjv-calib.txt'));
      expect(r.report.calibrationTokens).toBe(256);
      expect(r.report.quantized.map((q) => q.path).every((p) => p.includes('layers.0.'))).toBe(true);
      expect(r.report.quantized.length).toBe(6); // q, k, v, out_proj, fc1, fc2
      const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { quantization_config: { calibration?: { file?: string; tokens: number } } };
      expect(cfg.quantization_config.calibration).toEqual({ file: join(DEMO, 'kjv-calib.txt'), tokens: 256 });
    });

  it('the built CLI: quantize --recipe smoothquant with no --calib succeeds and names the shipped file', () => {
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'dist', 'tools', 'cli.js'), 'quantize', '--model', 'demo:opt', '--recipe', 'smoothquant', '--calib-tokens', '128', '--out', join(tmp, 'cli')],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`calibration: 128 tokens of ${join(DEMO, 'kjv-calib.txt')}`);
  });
});
