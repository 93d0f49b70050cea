/*
 * Prefill GEMMs on AVX-512 (F/BW/VL): the loops of npu_gemm_driver.inc (the blocking is explained in
 * npu_gemm_avx2.c) with a 16-column panel in one zmm register. 32 registers hold 8 rows x 2 panels = 16 accumulators
 * plus the two weight vectors and a broadcast: per k, 2 weight loads, 8 broadcasts and 16 mul + 16 add (f32) or 16
 * fma (exact products: bf16, w4abf16). Same arithmetic per output as the portable kernels: k in order, one rounding
 * per step (the tests compare the bits on every ISA the CPU has). Chosen at run time, compiled with a target pragma.
 */
#include <stdlib.h>
#include <string.h>

#include "npu_emu_internal.h"

#if defined(__x86_64__) && ((defined(__clang__) && __clang_major__ >= 8) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 8))
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma")
#include <immintrin.h>

#define AI static inline __attribute__((always_inline))

enum {
  MR = 8,    /* rows per micro-kernel call */
  XS = 8,    /* floats per k of a packed row block */
  NC = 32,   /* columns per micro-kernel call (two panels) */
  KC = 128,  /* k per L1 slice of the weights */
  MC = 144,  /* most rows per M block */
  NG = 8,    /* panel pairs that share one packed activation slice */
};

/* R rows x P panels over kc k: p from 0 (fresh) or the sums at c, p = p + x*w (fused: fma) per k in order, c = p. */
AI void f_micro(int R, int P, int fused, int fresh, const float* x, const float* w, int64_t wstride, int64_t kc, float* c) {
  __m512 p[MR][2];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < P; v++) p[r][v] = fresh ? _mm512_setzero_ps() : _mm512_loadu_ps(c + r * NC + v * NPU_NR);
  const float* w1 = w + wstride;
  for (int64_t k = 0; k < kc; k++) {
    __m512 wv[2];
    wv[0] = _mm512_loadu_ps(w + k * NPU_NR);
    if (P == 2) wv[1] = _mm512_loadu_ps(w1 + k * NPU_NR);
    for (int r = 0; r < R; r++) {
      const __m512 xb = _mm512_set1_ps(x[k * XS + r]);
      for (int v = 0; v < P; v++) p[r][v] = fused ? _mm512_fmadd_ps(xb, wv[v], p[r][v]) : _mm512_add_ps(p[r][v], _mm512_mul_ps(xb, wv[v]));
    }
  }
  for (int r = 0; r < R; r++)
    for (int v = 0; v < P; v++) _mm512_storeu_ps(c + r * NC + v * NPU_NR, p[r][v]);
}

/* w4 group: p = 0, p = fma(x, w, p) over kc k, then c = c + p. */
AI void w4_micro(int R, int P, const float* x, const float* w, int64_t wstride, int64_t kc, float* c) {
  __m512 p[MR][2];
  for (int r = 0; r < R; r++)
    for (int v = 0; v < P; v++) p[r][v] = _mm512_setzero_ps();
  const float* w1 = w + wstride;
  for (int64_t k = 0; k < kc; k++) {
    __m512 wv[2];
    wv[0] = _mm512_loadu_ps(w + k * NPU_NR);
    if (P == 2) wv[1] = _mm512_loadu_ps(w1 + k * NPU_NR);
    for (int r = 0; r < R; r++) {
      const __m512 xb = _mm512_set1_ps(x[k * XS + r]);
      for (int v = 0; v < P; v++) p[r][v] = _mm512_fmadd_ps(xb, wv[v], p[r][v]);
    }
  }
  for (int r = 0; r < R; r++)
    for (int v = 0; v < P; v++) {
      float* o = c + r * NC + v * NPU_NR;
      _mm512_storeu_ps(o, _mm512_add_ps(_mm512_loadu_ps(o), p[r][v]));
    }
}

/* Constant R, P and flags per instantiation, so the accumulators are registers. */
#define F_ALL(r, pp)                                                     \
  do {                                                                   \
    if (fused) {                                                         \
      if (fresh) f_micro(r, pp, 1, 1, x, w, wstride, kc, c);             \
      else f_micro(r, pp, 1, 0, x, w, wstride, kc, c);                   \
    } else {                                                             \
      if (fresh) f_micro(r, pp, 0, 1, x, w, wstride, kc, c);             \
      else f_micro(r, pp, 0, 0, x, w, wstride, kc, c);                   \
    }                                                                    \
  } while (0)
#define BY_ROWS(M_, pp)     \
  switch (R) {              \
    case 8: M_(8, pp); break; \
    case 7: M_(7, pp); break; \
    case 6: M_(6, pp); break; \
    case 5: M_(5, pp); break; \
    case 4: M_(4, pp); break; \
    case 3: M_(3, pp); break; \
    case 2: M_(2, pp); break; \
    default: M_(1, pp); break; \
  }
static void f_micro_any(int R, int P, int fused, int fresh, const float* x, const float* w, int64_t wstride, int64_t kc, float* c) {
  if (P == 2) {
    BY_ROWS(F_ALL, 2)
  } else {
    BY_ROWS(F_ALL, 1)
  }
}

#define W4_ONE(r, pp) w4_micro(r, pp, x, w, wstride, kc, c)
static void w4_micro_any(int R, int P, const float* x, const float* w, int64_t wstride, int64_t kc, float* c) {
  if (P == 2) {
    BY_ROWS(W4_ONE, 2)
  } else {
    BY_ROWS(W4_ONE, 1)
  }
}
#undef W4_ONE
#undef BY_ROWS
#undef F_ALL

/* One group of one panel to G x 16 floats: the decode kernels' dequantizer (npu_kern_avx512.c), exact. */
#define dequant npu_w4_dequant_avx512

#include "npu_gemm_driver.inc"

static const npu_prefill_kernels avx512 = {f_gemm, w4_gemm, "avx512"};
const npu_prefill_kernels* const npu_prefill_avx512_ptr = &avx512;
#else
const npu_prefill_kernels* const npu_prefill_avx512_ptr = 0;
#endif
