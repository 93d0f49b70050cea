import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { byRows, linear, profile, randn, withPolicy } from '../core/index.js';

describe('README', () => {
  it('the first example runs as written', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    // Keep the snippet below identical to the README's (this test fails when one changes without the other).
    expect(readme).toContain("withPolicy({ Linear: byRows(8, ['cpu'], ['cpu']), Softmax: 'decompose' }, () => linear(x, w).gelu().softmax(-1)),");
    const x = randn([16, 64]);
    const w = randn([256, 64]).markConstant();
    const p = profile(() =>
      withPolicy({ Linear: byRows(8, ['cpu'], ['cpu']), Softmax: 'decompose' }, () => linear(x, w).gelu().softmax(-1)),
    );
    expect(p.result.shape).toEqual([16, 256]);
    expect(p.summary()).toMatch(/Softmax\s+decompose/);
    expect((p.result.sum(-1).toArray() as Float32Array).every((v) => Math.abs(v - 1) < 1e-5)).toBe(true);
  });

  it('states the two commands', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toContain('npm test');
    const ci = readFileSync(new URL('../.ci/run', import.meta.url), 'utf8');
    expect(ci).toMatch(/^npm test$/m);
  });
});
