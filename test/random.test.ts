/**
 * Random streams against PyTorch (test/fixtures/random.json): after manualSeed(s), rand/randint reproduce
 * torch.manual_seed(s) bit for bit, randn to 1e-6 (Box–Muller in double vs PyTorch's libm).
 */
import { describe, expect, it } from 'vitest';
import { Generator, manualSeed, rand, randint, randn, Tensor } from '../core/index.js';
import { expectClose, expectExact, loadFixture, type FixtureValue } from './helpers.js';

interface RandomCase {
  seed: number;
  fn: 'rand' | 'randn' | 'randint';
  args: (number | number[])[];
  dtype: string;
  values: FixtureValue[];
}

const fx = loadFixture<{ cases: RandomCase[] }>('random.json');

/** The same draw in opshift (torch.rand(5) takes a size, opshift's rand a shape). */
function draw(c: RandomCase, generator?: Generator): Tensor {
  const opts = generator ? { generator } : {};
  if (c.fn === 'rand') return rand([c.args[0] as number], opts);
  if (c.fn === 'randn') return randn([c.args[0] as number], opts);
  return randint(c.args[0] as number, c.args[1] as number, c.args[2] as number[], opts);
}

function shapeOf(c: RandomCase): number[] {
  return c.fn === 'randint' ? (c.args[2] as number[]) : [c.args[0] as number];
}

function check(c: RandomCase, t: Tensor): void {
  expect(t.dtype).toBe(c.dtype);
  expect([...t.shape]).toEqual(shapeOf(c));
  if (c.fn === 'randn') expectClose(t, c.values, { rtol: 0, atol: 1e-6 });
  else expectExact(t, c.values);
}

describe('random streams match torch.manual_seed', () => {
  it('fixture has every draw for seeds 0 and 42', () => {
    expect(fx.cases.length).toBe(12);
    expect(new Set(fx.cases.map((c) => c.seed))).toEqual(new Set([0, 42]));
  });

  for (const c of fx.cases) {
    const label = `seed ${c.seed}: ${c.fn}(${c.args.map((a) => JSON.stringify(a)).join(', ')})`;
    it(`${label} with the default generator`, () => {
      manualSeed(c.seed);
      check(c, draw(c));
    });
    it(`${label} with an explicit Generator`, () => {
      check(c, draw(c, new Generator(c.seed)));
    });
  }

  it('re-seeding restarts the stream; consecutive draws differ', () => {
    manualSeed(0);
    const a = rand([5]).tolist();
    const b = rand([5]).tolist();
    manualSeed(0);
    expect(rand([5]).tolist()).toEqual(a);
    expect(b).not.toEqual(a);
  });
});
