/**
 * The default generator: mt19937 with PyTorch's CPU sampling formulas, so `manualSeed(s)` followed by
 * rand/randn/randint reproduces torch.manual_seed(s) streams on the CPU (checked against PyTorch fixtures).
 */
const N = 624;

export class Generator {
  private readonly mt = new Uint32Array(N);
  private idx = N;
  /** Box–Muller's second value, cached as PyTorch's CPUGeneratorImpl does for scalar normal draws. */
  private nextNormal: number | undefined;
  private seedValue = 0;

  constructor(seed = 67280421310721) {
    this.manualSeed(seed);
  }

  manualSeed(seed: number): this {
    if (!Number.isInteger(seed) || seed < 0) throw new RangeError(`manualSeed: seed must be a non-negative integer, got ${seed}`);
    this.seedValue = seed;
    const mt = this.mt;
    mt[0] = seed >>> 0; // PyTorch seeds mt19937 with the low 32 bits
    for (let i = 1; i < N; i++) {
      const p = mt[i - 1]!;
      mt[i] = (Math.imul(1812433253, p ^ (p >>> 30)) + i) >>> 0;
    }
    this.idx = N;
    this.nextNormal = undefined;
    return this;
  }

  initialSeed(): number {
    return this.seedValue;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i]! & 0x80000000) | (mt[(i + 1) % N]! & 0x7fffffff);
      mt[i] = mt[(i + 397) % N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.idx = 0;
  }

  /** Next 32-bit output. */
  nextU32(): number {
    if (this.idx >= N) this.twist();
    let y = this.mt[this.idx++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Uniform float32 in [0,1): 24 random bits, as at::uniform_real_distribution<float>. */
  uniformF32(): number {
    return (this.nextU32() & 0xffffff) * 2 ** -24;
  }

  /** Uniform double in [0,1): 53 bits of random64 (first draw is the high word). */
  uniformF64(): number {
    const hi = this.nextU32();
    const lo = this.nextU32();
    // (hi·2^32 + lo) & (2^53 - 1): keep the low 21 bits of hi.
    return ((hi & 0x1fffff) * 4294967296 + lo) * 2 ** -53;
  }

  /** One standard normal draw (at::normal_distribution<double> with its cached second value). */
  normalF64(): number {
    if (this.nextNormal !== undefined) {
      const v = this.nextNormal;
      this.nextNormal = undefined;
      return v;
    }
    const u1 = this.uniformF64();
    const u2 = this.uniformF64();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.nextNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** Fill with standard normals the way PyTorch fills float tensors of 16+ elements (Box–Muller in blocks of 16). */
  fillNormal(out: Float32Array): void {
    const n = out.length;
    if (n < 16) {
      for (let i = 0; i < n; i++) out[i] = this.normalF64();
      return;
    }
    for (let i = 0; i < n; i++) out[i] = this.uniformF32();
    for (let i = 0; i + 16 <= n; i += 16) boxMuller16(out, i);
    if (n % 16 !== 0) {
      // PyTorch redraws the last 16 values and transforms them again.
      const start = n - 16;
      for (let i = 0; i < 16; i++) out[start + i] = this.uniformF32();
      boxMuller16(out, start);
    }
  }

  /** Uniform integer in [low, high), as PyTorch's random_from_to (modulo of 32- or 64-bit draws). */
  randint(low: number, high: number): number {
    const range = high - low;
    if (range >= 2 ** 32) {
      const hi = this.nextU32();
      const lo = this.nextU32();
      return Number(((BigInt(hi) << 32n) | BigInt(lo)) % BigInt(range)) + low;
    }
    return (this.nextU32() % range) + low;
  }
}

function boxMuller16(data: Float32Array, at: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = 1 - data[at + j]!;
    const u2 = data[at + j + 8]!;
    const radius = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    data[at + j] = radius * Math.cos(theta);
    data[at + j + 8] = radius * Math.sin(theta);
  }
}

export const defaultGenerator = new Generator();

/** Seed the default generator (torch.manual_seed). */
export function manualSeed(seed: number): Generator {
  return defaultGenerator.manualSeed(seed);
}
