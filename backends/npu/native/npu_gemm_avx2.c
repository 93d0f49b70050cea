/*
 * Prefill GEMMs (M rows at once) of the emulation library on AVX2 + FMA: the f32/bf16 and w4abf16 contracts of
 * opshift_npu.h for a range of 16-column panels, register-blocked so that the arithmetic, not the loads, bounds it.
 *
 * Why this shape (Zen 3 numbers): the f32 contract forbids FMA, so every multiply-add is a vmulps (pipes 0/1) and a
 * vaddps (pipes 2/3). Both pairs of pipes run in parallel, so mul+add sustains the FMA's MAC rate, but it costs two
 * instructions per 8 MACs; what remains of the 6-wide dispatch must cover the operand loads. The micro-kernel keeps
 * 3 rows x 32 columns (two panels) = 12 accumulators: per k, 2 weight loads, 3 broadcasts, 12 mul (the other weight
 * operands micro-fused from memory) + 12 add and the loop = 33 instructions for 96 MACs (5.5 per cycle at the pipes'
 * 16 MAC/cycle), and 12 independent add chains cover the add latency (3) on two pipes. Unrolling k spilled
 * accumulators (GCC 12), and 6 rows x 16 columns on pre-broadcast activations needed 8x their bytes and ran slower.
 *
 * Blocking: the activations of an M block (up to MC rows) and a KC slice of k are packed once, k-major in blocks of
 * 3 rows (xp[k][r]), so the micro-kernel's broadcasts read one sequential stream; NG panel pairs then reuse that
 * packed slice (L2) while each pair's weight slice (KC x 32 floats = 16 KiB) stays in L1 for all the rows. Between
 * KC slices the running sum p of each output is stored and reloaded as a float, which is exact, so each output is
 * still one k-ordered sum per contract K tile: the bits equal the portable kernel's (test/npu_prefill.test.ts).
 * Measured on the 2-core EPYC (Zen 3) while loaded, process CPU time, 128 rows: ~0.85-0.95x ORT's MLAS sgemm,
 * against ~0.8x for the f_chunk path; with FMA (w4abf16) the same loops run ~1.0x MLAS: the unfused f32 contract
 * costs about 10% here (33 instructions per k instead of 21 within the 6-wide dispatch).
 *
 * w4abf16: products bf16(x) * w are exact in float32, so FMA is allowed. Each group (G k) of a panel pair is
 * dequantized once per M block (fma(q, s, -z*s), exact) into a G x 32 buffer, then an FMA micro-kernel runs
 * p = sum_k fma(x, w, p) over the group for 3 rows x 32 columns and adds p to the tile accumulator (acc += p), in
 * group order, as the contract says.
 */
#include <stdlib.h>
#include <string.h>

#include "npu_emu_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC target("avx2,fma")
#include <immintrin.h>

#define AI static inline __attribute__((always_inline))

enum {
  MR = 3,     /* rows per micro-kernel call */
  NC = 32,    /* columns per micro-kernel call (two panels) */
  KC = 128,   /* k per L1 slice of the weights */
  XS = 4,     /* floats per k of a packed 3-row activation block (xp[k * XS + r]) */
  MC = 144,   /* most rows per M block */
  NG = 8,     /* panel pairs that share one packed activation slice (their accumulators: NG x MC x NC floats) */
};

/* One k: p[r][v] = p[r][v] + x[r] * w[v] (fused: one rounding) for R rows, P panels (w0: panel 0's 16 weights). */
AI void f_step(int R, int P, int fused, const float* x, const float* w0, const float* w1, __m256 p[MR][4]) {
  __m256 wv[4];
  wv[0] = _mm256_loadu_ps(w0);
  wv[1] = _mm256_loadu_ps(w0 + 8);
  if (P == 2) {
    wv[2] = _mm256_loadu_ps(w1);
    wv[3] = _mm256_loadu_ps(w1 + 8);
  }
  for (int r = 0; r < R; r++) {
    const __m256 xb = _mm256_broadcast_ss(x + r);
    for (int v = 0; v < 2 * P; v++) p[r][v] = fused ? _mm256_fmadd_ps(xb, wv[v], p[r][v]) : _mm256_add_ps(p[r][v], _mm256_mul_ps(xb, wv[v]));
  }
}

/* R rows x P panels over kc k: p = start (0, or the running sum at c) then p = p + x*w (fused: fma) per k in
 * order; stores p to c (row stride NC). w: panel 0's row k at w + k * NPU_NR, panel 1's at w + wstride + ... */
AI void f_micro(int R, int P, int fused, int fresh, const float* x, const float* w, int64_t wstride, int64_t kc, float* c) {
  __m256 p[MR][4];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < 2 * P; v++) p[r][v] = fresh ? _mm256_setzero_ps() : _mm256_loadu_ps(c + r * NC + v * 8);
  const float* w1 = w + wstride;
  for (int64_t k = 0; k < kc; k++) f_step(R, P, fused, x + k * XS, w + k * NPU_NR, w1 + k * NPU_NR, p);
  for (int r = 0; r < R; r++)
    for (int v = 0; v < 2 * P; v++) _mm256_storeu_ps(c + r * NC + v * 8, p[r][v]);
}

/* w4 group: p = 0, p = fma(x, w, p) over kc k, then acc = acc + p (acc at c, row stride NC). */
AI void w4_micro(int R, int P, const float* x, const float* w, int64_t wstride, int64_t kc, float* c) {
  __m256 p[MR][4];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < 2 * P; v++) p[r][v] = _mm256_setzero_ps();
  const float* w1 = w + wstride;
  for (int64_t k = 0; k < kc; k++) f_step(R, P, 1, x + k * XS, w + k * NPU_NR, w1 + k * NPU_NR, p);
  /* c + p into registers first, then stored: GCC 12 otherwise kept a stack copy of every accumulator updated in
   * the k loop (12 stores per k, measured 0.7x) */
  __m256 o[MR][4];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < 2 * P; v++) o[r][v] = _mm256_add_ps(_mm256_loadu_ps(c + r * NC + v * 8), p[r][v]);
  for (int r = 0; r < R; r++)
    for (int v = 0; v < 2 * P; v++) _mm256_storeu_ps(c + r * NC + v * 8, o[r][v]);
}

/* The full 3 x 32 block, the one that runs ~all the work, with named accumulators: with arrays GCC 12 kept a stack
 * copy of every accumulator updated in the k loop in some instantiations (12 stores per k, measured 0.7x). mode 0:
 * p from 0, c = p; 1: p from c, c = p; 2: p from 0, c = c + p. */
#define STEP(acc, xb, v) ((acc) = fused ? _mm256_fmadd_ps((xb), (v), (acc)) : _mm256_add_ps((acc), _mm256_mul_ps((xb), (v))))
AI void micro_3x2(int fused, int mode, const float* x, const float* w, int64_t wstride, int64_t kc, float* c) {
  __m256 a0, a1, a2, a3, b0, b1, b2, b3, d0, d1, d2, d3;
  if (mode == 1) {
    a0 = _mm256_loadu_ps(c), a1 = _mm256_loadu_ps(c + 8), a2 = _mm256_loadu_ps(c + 16), a3 = _mm256_loadu_ps(c + 24);
    b0 = _mm256_loadu_ps(c + NC), b1 = _mm256_loadu_ps(c + NC + 8), b2 = _mm256_loadu_ps(c + NC + 16), b3 = _mm256_loadu_ps(c + NC + 24);
    d0 = _mm256_loadu_ps(c + 2 * NC), d1 = _mm256_loadu_ps(c + 2 * NC + 8), d2 = _mm256_loadu_ps(c + 2 * NC + 16), d3 = _mm256_loadu_ps(c + 2 * NC + 24);
  } else {
    a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = d0 = d1 = d2 = d3 = _mm256_setzero_ps();
  }
  const float* w1 = w + wstride;
  for (int64_t k = 0; k < kc; k++) {
    const __m256 v0 = _mm256_loadu_ps(w + k * NPU_NR), v1 = _mm256_loadu_ps(w + k * NPU_NR + 8);
    const __m256 v2 = _mm256_loadu_ps(w1 + k * NPU_NR), v3 = _mm256_loadu_ps(w1 + k * NPU_NR + 8);
    __m256 xb = _mm256_broadcast_ss(x + k * XS);
    STEP(a0, xb, v0), STEP(a1, xb, v1), STEP(a2, xb, v2), STEP(a3, xb, v3);
    xb = _mm256_broadcast_ss(x + k * XS + 1);
    STEP(b0, xb, v0), STEP(b1, xb, v1), STEP(b2, xb, v2), STEP(b3, xb, v3);
    xb = _mm256_broadcast_ss(x + k * XS + 2);
    STEP(d0, xb, v0), STEP(d1, xb, v1), STEP(d2, xb, v2), STEP(d3, xb, v3);
  }
  if (mode == 2) {
    a0 = _mm256_add_ps(_mm256_loadu_ps(c), a0), a1 = _mm256_add_ps(_mm256_loadu_ps(c + 8), a1);
    a2 = _mm256_add_ps(_mm256_loadu_ps(c + 16), a2), a3 = _mm256_add_ps(_mm256_loadu_ps(c + 24), a3);
    b0 = _mm256_add_ps(_mm256_loadu_ps(c + NC), b0), b1 = _mm256_add_ps(_mm256_loadu_ps(c + NC + 8), b1);
    b2 = _mm256_add_ps(_mm256_loadu_ps(c + NC + 16), b2), b3 = _mm256_add_ps(_mm256_loadu_ps(c + NC + 24), b3);
    d0 = _mm256_add_ps(_mm256_loadu_ps(c + 2 * NC), d0), d1 = _mm256_add_ps(_mm256_loadu_ps(c + 2 * NC + 8), d1);
    d2 = _mm256_add_ps(_mm256_loadu_ps(c + 2 * NC + 16), d2), d3 = _mm256_add_ps(_mm256_loadu_ps(c + 2 * NC + 24), d3);
  }
  _mm256_storeu_ps(c, a0), _mm256_storeu_ps(c + 8, a1), _mm256_storeu_ps(c + 16, a2), _mm256_storeu_ps(c + 24, a3);
  _mm256_storeu_ps(c + NC, b0), _mm256_storeu_ps(c + NC + 8, b1), _mm256_storeu_ps(c + NC + 16, b2), _mm256_storeu_ps(c + NC + 24, b3);
  _mm256_storeu_ps(c + 2 * NC, d0), _mm256_storeu_ps(c + 2 * NC + 8, d1), _mm256_storeu_ps(c + 2 * NC + 16, d2), _mm256_storeu_ps(c + 2 * NC + 24, d3);
}
#undef STEP

/* Constant R and P per instantiation, so the accumulators are registers. */
static void f_micro_any(int R, int P, int fused, int fresh, const float* x, const float* w, int64_t wstride, int64_t kc, float* c) {
#define FM(r, pp)                                                      \
  do {                                                                 \
    if (fused) {                                                       \
      if (fresh) f_micro(r, pp, 1, 1, x, w, wstride, kc, c);      \
      else f_micro(r, pp, 1, 0, x, w, wstride, kc, c);            \
    } else {                                                           \
      if (fresh) f_micro(r, pp, 0, 1, x, w, wstride, kc, c);      \
      else f_micro(r, pp, 0, 0, x, w, wstride, kc, c);            \
    }                                                                  \
  } while (0)
  if (P == 2) {
    if (R == 3) {
      if (fused) micro_3x2(1, fresh ? 0 : 1, x, w, wstride, kc, c);
      else if (fresh) micro_3x2(0, 0, x, w, wstride, kc, c);
      else micro_3x2(0, 1, x, w, wstride, kc, c);
    }
    else if (R == 2) FM(2, 2);
    else FM(1, 2);
  } else {
    if (R == 3) FM(3, 1);
    else if (R == 2) FM(2, 1);
    else FM(1, 1);
  }
#undef FM
}

static void w4_micro_any(int R, int P, const float* x, const float* w, int64_t wstride, int64_t kc, float* c) {
  if (P == 2) {
    if (R == 3) micro_3x2(1, 2, x, w, wstride, kc, c);
    else if (R == 2) w4_micro(2, 2, x, w, wstride, kc, c);
    else w4_micro(1, 2, x, w, wstride, kc, c);
  } else {
    if (R == 3) w4_micro(3, 1, x, w, wstride, kc, c);
    else if (R == 2) w4_micro(2, 1, x, w, wstride, kc, c);
    else w4_micro(1, 1, x, w, wstride, kc, c);
  }
}

/* One group of one panel to G x 16 floats: the decode kernels' dequantizer (npu_kern_avx2.c), exact. */
#define dequant npu_w4_dequant_avx2

#include "npu_gemm_driver.inc"

static const npu_prefill_kernels avx2 = {f_gemm, w4_gemm, "avx2"};
const npu_prefill_kernels* const npu_prefill_avx2_ptr = &avx2;
#else
const npu_prefill_kernels* const npu_prefill_avx2_ptr = 0;
#endif
