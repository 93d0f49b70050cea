/**
 * float32 GEMM in plain TypeScript, accumulating in double (results are float32-rounded double sums, so they
 * stay within ~1 ulp of a double-precision reference for any K we care about).
 *
 *   gemm(m, n, k, A, aOff, aRs, aCs, B, bOff, bRs, bCs, C, cOff, ldc)
 *     C[cOff + i·ldc + j] = Σp A[aOff + i·aRs + p·aCs] · B[bOff + p·bRs + j·bCs]
 *
 * Any strides (transposed and sliced operands need no copy by the caller). Three paths:
 *   - M = 1 or N = 1: GEMV, reading the matrix in place, for both layouts (dot products along contiguous rows,
 *     as for nn.Linear's [N,K] weight; or row sweeps for a row-major [K,N] matrix);
 *   - small M (a few rows): one GEMV per row (packing B would cost more than the rows reuse it);
 *   - otherwise the GotoBLAS/BLIS loop nest: K blocked by KC, B packed per KC×NC block, A packed per MC×KC
 *     block, and a 3×3 register-tiled micro-kernel over the packed panels.
 *
 * Why these shapes (V8 11/Node 20, measured on a 2-core AVX2 EPYC): every JS array load costs ~3–6
 * instructions (index arithmetic, bounds check, map/backing-store reloads per iteration), and TurboFan has 15
 * usable xmm registers and schedules all products of an iteration before the adds, so tiles beyond 9
 * accumulators spill. Panels are packed into a plain JS array of doubles (PACKED_DOUBLE_ELEMENTS): loads from
 * it are cheaper than from a Float32Array (no float→double conversion, no int64 index extension, no base
 * pointer add), and A and B panels share one array so the micro-kernel indexes both with one induction
 * variable. 3×3 tiles: 6 loads and 18 flops per k step, no spills; ~3.9 GFLOP/s in isolation, 4×4 (spilling)
 * ~2.9, 2×4 ~3.5.
 */

const MR = 3;
const NR = 3;
/** K block: a 3×KC panel of doubles is 6 KiB, so the B micro-panel stays in L1 while A panels stream from L2. */
const KC = 256;
/** M block: MC×KC doubles = 192 KiB of packed A, reused from L2 across every B micro-panel. */
const MC = 96;
/** N block: KC×NC doubles of packed B (4 MiB at most). */
const NC = 2046; // a multiple of NR
/** Below this many rows, run one GEMV per row instead of packing B. */
const SMALL_M = 5;
/** Below this many rows, and B's columns contiguous along K, use the unpacked 3×3 kernel (gemmDirectDot). */
const DIRECT_M = 20;

// ---------------------------------------------------------------------------------------------------------
// Scratch: one packed-doubles JS array (A block, then B block) and a Float64Array accumulator for C. Kept
// between calls and grown on demand.

let packed: number[] = [];
let accum = new Float64Array(0);

function packedScratch(size: number): number[] {
  const p = packed;
  // push keeps the array's elements kind PACKED_DOUBLE (filled with a non-integer so it never starts as SMI).
  while (p.length < size) p.push(0.5);
  return p;
}

function accumScratch(size: number): Float64Array {
  if (accum.length < size) accum = new Float64Array(Math.max(size, accum.length * 2));
  else accum.fill(0, 0, size);
  return accum;
}

// ---------------------------------------------------------------------------------------------------------
// Packing

/** A rows i0..i0+mc, columns p0..p0+kc into H[0..]: panels of MR rows, each [kc][MR], zero-padded rows. */
function packA(A: Float32Array, aOff: number, aRs: number, aCs: number, i0: number, mc: number, p0: number, kc: number, H: number[]): void {
  let o = 0;
  for (let ip = 0; ip < mc; ip += MR) {
    const rows = Math.min(MR, mc - ip);
    const base = aOff + (i0 + ip) * aRs + p0 * aCs;
    if (rows === MR) {
      const r1 = base + aRs;
      const r2 = r1 + aRs;
      for (let p = 0, q = 0; p < kc; p++, q += aCs) {
        H[o] = A[base + q]!;
        H[o + 1] = A[r1 + q]!;
        H[o + 2] = A[r2 + q]!;
        o += 3;
      }
    } else {
      for (let p = 0; p < kc; p++) {
        for (let r = 0; r < MR; r++) H[o + r] = r < rows ? A[base + r * aRs + p * aCs]! : 0;
        o += 3;
      }
    }
  }
}

/** B rows p0..p0+kc, columns j0..j0+nc into H[at..]: panels of NR columns, each [kc][NR], zero-padded columns. */
function packB(B: Float32Array, bOff: number, bRs: number, bCs: number, p0: number, kc: number, j0: number, nc: number, H: number[], at: number): void {
  let o = at;
  for (let jp = 0; jp < nc; jp += NR) {
    const cols = Math.min(NR, nc - jp);
    const base = bOff + p0 * bRs + (j0 + jp) * bCs;
    if (cols === NR) {
      const c1 = base + bCs;
      const c2 = c1 + bCs;
      for (let p = 0, q = 0; p < kc; p++, q += bRs) {
        H[o] = B[base + q]!;
        H[o + 1] = B[c1 + q]!;
        H[o + 2] = B[c2 + q]!;
        o += 3;
      }
    } else {
      for (let p = 0; p < kc; p++) {
        for (let c = 0; c < NR; c++) H[o + c] = c < cols ? B[base + c * bCs + p * bRs]! : 0;
        o += 3;
      }
    }
  }
}

/**
 * The 3×3 micro-kernel: Cd[ic + r·ldc + c] += Σp H[ia + 3p + r] · H[ia + d + 3p + c]. A's panel and B's panel
 * live in the same array at a fixed distance d, so one index walks both. `|0` keeps index arithmetic in int32
 * without overflow checks.
 */
function kernel3x3(kc: number, H: number[], ia: number, d: number, Cd: Float64Array, ic: number, ldc: number): void {
  let c00 = 0, c01 = 0, c02 = 0, c10 = 0, c11 = 0, c12 = 0, c20 = 0, c21 = 0, c22 = 0;
  const end = (ia + kc * 3) | 0;
  for (; ia < end; ia = (ia + 3) | 0) {
    const a0 = H[ia]!;
    const a1 = H[(ia + 1) | 0]!;
    const a2 = H[(ia + 2) | 0]!;
    const ib = (ia + d) | 0;
    const b0 = H[ib]!;
    const b1 = H[(ib + 1) | 0]!;
    const b2 = H[(ib + 2) | 0]!;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2;
  }
  Cd[ic] += c00; Cd[ic + 1] += c01; Cd[ic + 2] += c02;
  ic += ldc;
  Cd[ic] += c10; Cd[ic + 1] += c11; Cd[ic + 2] += c12;
  ic += ldc;
  Cd[ic] += c20; Cd[ic + 1] += c21; Cd[ic + 2] += c22;
}

function gemmPacked(
  m: number, n: number, k: number,
  A: Float32Array, aOff: number, aRs: number, aCs: number,
  B: Float32Array, bOff: number, bRs: number, bCs: number,
  C: Float32Array, cOff: number, ldc: number,
): void {
  const mPad = Math.ceil(m / MR) * MR;
  const nPad = Math.ceil(n / NR) * NR;
  const Cd = accumScratch(mPad * nPad);
  const kcMax = Math.min(KC, k);
  const mcMax = Math.min(MC, mPad);
  const ncMax = Math.min(NC, nPad);
  const bAt = mcMax * kcMax; // B block follows the A block in the shared array
  const H = packedScratch(bAt + ncMax * kcMax);
  for (let jc = 0; jc < n; jc += NC) {
    const nc = Math.min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = Math.min(KC, k - pc);
      packB(B, bOff, bRs, bCs, pc, kc, jc, nc, H, bAt);
      for (let ic = 0; ic < m; ic += MC) {
        const mc = Math.min(MC, m - ic);
        packA(A, aOff, aRs, aCs, ic, mc, pc, kc, H);
        for (let jr = 0; jr < nc; jr += NR) {
          const ib = bAt + jr * kc; // panel jr/NR starts at bAt + (jr/NR)·kc·NR
          for (let ir = 0; ir < mc; ir += MR) {
            const ia = ir * kc;
            kernel3x3(kc, H, ia, ib - ia, Cd, (ic + ir) * nPad + jc + jr, nPad);
          }
        }
      }
    }
  }
  for (let i = 0; i < m; i++) {
    const src = i * nPad;
    const dst = cOff + i * ldc;
    for (let j = 0; j < n; j++) C[dst + j] = Cd[src + j]!;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Few rows, B(p, j) = B[bOff + j·bCs + p] (columns contiguous along K: x @ Wᵀ). Packing B would cost more than
// the few rows reuse it, so a 3×3 tile reads B's rows in place (float32) and only the 3 rows of A are packed
// into doubles: ~3.1 GFLOP/s against ~1.9 for row-by-row GEMV.

function gemmDirectDot(
  m: number, n: number, k: number,
  A: Float32Array, aOff: number, aRs: number, aCs: number,
  B: Float32Array, bOff: number, bCs: number,
  C: Float32Array, cOff: number, ldc: number,
): void {
  let i = 0;
  const X = packedScratch(3 * k);
  for (; i + 3 <= m; i += 3) {
    const a0 = aOff + i * aRs;
    const a1 = a0 + aRs;
    const a2 = a1 + aRs;
    for (let p = 0, q = 0; p < k; p++, q += 3) {
      X[q] = A[a0 + p * aCs]!;
      X[q + 1] = A[a1 + p * aCs]!;
      X[q + 2] = A[a2 + p * aCs]!;
    }
    const c0 = cOff + i * ldc;
    let j = 0;
    for (; j + 3 <= n; j += 3) directTile3x3(k, X, B, bOff + j * bCs, bCs, C, c0 + j, ldc);
    for (; j < n; j++) {
      const w = bOff + j * bCs;
      let s0 = 0, s1 = 0, s2 = 0;
      for (let p = 0, q = 0; p < k; p++, q += 3) {
        const b = B[w + p]!;
        s0 += X[q]! * b;
        s1 += X[q + 1]! * b;
        s2 += X[q + 2]! * b;
      }
      C[c0 + j] = s0;
      C[c0 + ldc + j] = s1;
      C[c0 + 2 * ldc + j] = s2;
    }
  }
  for (; i < m; i++) gemv(n, k, vectorF64(A, aOff + i * aRs, aCs, k), B, bOff, bCs, 1, C, cOff + i * ldc, 1);
}

/** C[c + r·ldc + s] = Σp X[3p + r] · B[w + s·ws + p] for r, s < 3. */
function directTile3x3(k: number, X: number[], B: Float32Array, w0: number, ws: number, C: Float32Array, c: number, ldc: number): void {
  const w1 = w0 + ws;
  const w2 = w1 + ws;
  let c00 = 0, c01 = 0, c02 = 0, c10 = 0, c11 = 0, c12 = 0, c20 = 0, c21 = 0, c22 = 0;
  for (let p = 0, q = 0; p < k; p = (p + 1) | 0, q = (q + 3) | 0) {
    const a0 = X[q]!;
    const a1 = X[(q + 1) | 0]!;
    const a2 = X[(q + 2) | 0]!;
    const b0 = B[(w0 + p) | 0]!;
    const b1 = B[(w1 + p) | 0]!;
    const b2 = B[(w2 + p) | 0]!;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2;
  }
  C[c] = c00; C[c + 1] = c01; C[c + 2] = c02;
  c += ldc;
  C[c] = c10; C[c + 1] = c11; C[c + 2] = c12;
  c += ldc;
  C[c] = c20; C[c + 1] = c21; C[c + 2] = c22;
}

// ---------------------------------------------------------------------------------------------------------
// GEMV: y[r·ys] = Σp x[p] · W(r, p) for r < rows, with x already in doubles.

/**
 * W(r, p) = W[wOff + r·wRs + p] (rows contiguous along p: nn.Linear's [N,K] weight). Six rows at a time share
 * each x[p] load: 6 independent accumulator chains, 13 flops... per 7 loads.
 */
function gemvDot(rows: number, k: number, x: Float64Array, W: Float32Array, wOff: number, wRs: number, Y: Float32Array, yOff: number, ys: number): void {
  let r = 0;
  for (; r + 6 <= rows; r += 6) {
    const r0 = wOff + r * wRs;
    const r1 = r0 + wRs, r2 = r1 + wRs, r3 = r2 + wRs, r4 = r3 + wRs, r5 = r4 + wRs;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0;
    for (let p = 0; p < k; p = (p + 1) | 0) {
      const xv = x[p]!;
      s0 += xv * W[(r0 + p) | 0]!;
      s1 += xv * W[(r1 + p) | 0]!;
      s2 += xv * W[(r2 + p) | 0]!;
      s3 += xv * W[(r3 + p) | 0]!;
      s4 += xv * W[(r4 + p) | 0]!;
      s5 += xv * W[(r5 + p) | 0]!;
    }
    const y = yOff + r * ys;
    Y[y] = s0; Y[y + ys] = s1; Y[y + 2 * ys] = s2; Y[y + 3 * ys] = s3; Y[y + 4 * ys] = s4; Y[y + 5 * ys] = s5;
  }
  for (; r < rows; r++) {
    const r0 = wOff + r * wRs;
    let s0 = 0, s1 = 0;
    let p = 0;
    for (; p + 2 <= k; p += 2) {
      s0 += x[p]! * W[r0 + p]!;
      s1 += x[p + 1]! * W[r0 + p + 1]!;
    }
    if (p < k) s0 += x[p]! * W[r0 + p]!;
    Y[yOff + r * ys] = s0 + s1;
  }
}

let gemvAcc = new Float64Array(0);

/**
 * W(r, p) = W[wOff + p·wPs + r] (a row-major [K, rows] matrix: x @ W). Sweeps 8 rows of W per pass into a
 * double accumulator row, so each accumulator load/store is shared by 8 multiply-adds.
 */
function gemvRows(rows: number, k: number, x: Float64Array, W: Float32Array, wOff: number, wPs: number, Y: Float32Array, yOff: number, ys: number): void {
  if (gemvAcc.length < rows) gemvAcc = new Float64Array(Math.max(rows, gemvAcc.length * 2));
  const acc = gemvAcc;
  acc.fill(0, 0, rows);
  let p = 0;
  for (; p + 8 <= k; p += 8) {
    const x0 = x[p]!, x1 = x[p + 1]!, x2 = x[p + 2]!, x3 = x[p + 3]!, x4 = x[p + 4]!, x5 = x[p + 5]!, x6 = x[p + 6]!, x7 = x[p + 7]!;
    const w0 = wOff + p * wPs;
    const w1 = w0 + wPs, w2 = w1 + wPs, w3 = w2 + wPs, w4 = w3 + wPs, w5 = w4 + wPs, w6 = w5 + wPs, w7 = w6 + wPs;
    for (let r = 0; r < rows; r = (r + 1) | 0) {
      acc[r] +=
        x0 * W[(w0 + r) | 0]! + x1 * W[(w1 + r) | 0]! + (x2 * W[(w2 + r) | 0]! + x3 * W[(w3 + r) | 0]!) +
        (x4 * W[(w4 + r) | 0]! + x5 * W[(w5 + r) | 0]! + (x6 * W[(w6 + r) | 0]! + x7 * W[(w7 + r) | 0]!));
    }
  }
  for (; p < k; p++) {
    const xv = x[p]!;
    const w0 = wOff + p * wPs;
    for (let r = 0; r < rows; r++) acc[r] += xv * W[w0 + r]!;
  }
  for (let r = 0; r < rows; r++) Y[yOff + r * ys] = acc[r]!;
}

let xScratch = new Float64Array(0);

/** x[p] = V[vOff + p·vs] as doubles (a scratch array, valid until the next call). */
function vectorF64(V: Float32Array, vOff: number, vs: number, k: number): Float64Array {
  if (xScratch.length < k) xScratch = new Float64Array(Math.max(k, xScratch.length * 2));
  const x = xScratch;
  for (let p = 0; p < k; p++) x[p] = V[vOff + p * vs]!;
  return x;
}

/** y[r·ys] = Σp x[p]·M[mOff + r·rs + p·ps] for any strides. */
function gemv(rows: number, k: number, x: Float64Array, M: Float32Array, mOff: number, rs: number, ps: number, Y: Float32Array, yOff: number, ys: number): void {
  if (ps === 1) gemvDot(rows, k, x, M, mOff, rs, Y, yOff, ys);
  else if (rs === 1) gemvRows(rows, k, x, M, mOff, ps, Y, yOff, ys);
  else
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += x[p]! * M[mOff + r * rs + p * ps]!;
      Y[yOff + r * ys] = s;
    }
}

// ---------------------------------------------------------------------------------------------------------
// Entry points

/**
 * C[cOff + i·ldc + j] = Σp A[aOff + i·aRs + p·aCs] · B[bOff + p·bRs + j·bCs] for i < m, j < n (C is written,
 * not accumulated). Strides may be anything (0 for broadcast, negative for flipped views).
 */
export function gemm(
  m: number, n: number, k: number,
  A: Float32Array, aOff: number, aRs: number, aCs: number,
  B: Float32Array, bOff: number, bRs: number, bCs: number,
  C: Float32Array, cOff: number, ldc: number,
): void {
  if (m === 0 || n === 0) return;
  if (k === 0) {
    for (let i = 0; i < m; i++) C.fill(0, cOff + i * ldc, cOff + i * ldc + n);
    return;
  }
  if (m === 1) {
    // y[j] = Σp x[p]·B(p, j): B's columns are the GEMV's rows.
    gemv(n, k, vectorF64(A, aOff, aCs, k), B, bOff, bCs, bRs, C, cOff, 1);
    return;
  }
  if (n === 1) {
    gemv(m, k, vectorF64(B, bOff, bRs, k), A, aOff, aRs, aCs, C, cOff, ldc);
    return;
  }
  if (bRs === 1 && m < DIRECT_M) {
    gemmDirectDot(m, n, k, A, aOff, aRs, aCs, B, bOff, bCs, C, cOff, ldc);
    return;
  }
  if (m < SMALL_M) {
    for (let i = 0; i < m; i++) gemv(n, k, vectorF64(A, aOff + i * aRs, aCs, k), B, bOff, bCs, bRs, C, cOff + i * ldc, 1);
    return;
  }
  gemmPacked(m, n, k, A, aOff, aRs, aCs, B, bOff, bRs, bCs, C, cOff, ldc);
}

/** C[i·ldc + j] = Σk A[aOff + i·lda + k] · B[bOff + j·ldb + k]   (B rows contiguous along K: x @ Wᵀ). */
export function gemmDot(
  m: number, n: number, k: number,
  A: Float32Array, aOff: number, lda: number,
  B: Float32Array, bOff: number, ldb: number,
  C: Float32Array, cOff: number, ldc: number,
): void {
  gemm(m, n, k, A, aOff, lda, 1, B, bOff, 1, ldb, C, cOff, ldc);
}

/** C[i·ldc + j] = Σk A[aOff + i·lda + k] · B[bOff + k·ldb + j]   (B row-major [K, N]: x @ W). */
export function gemmAxpy(
  m: number, n: number, k: number,
  A: Float32Array, aOff: number, lda: number,
  B: Float32Array, bOff: number, ldb: number,
  C: Float32Array, cOff: number, ldc: number,
): void {
  gemm(m, n, k, A, aOff, lda, 1, B, bOff, ldb, 1, C, cOff, ldc);
}
