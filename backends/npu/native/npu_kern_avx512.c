/*
 * AVX-512 (F, BW, VL, VNNI) kernels of the emulation library: a 16-column panel is one register, so the packed
 * layouts of npu_emu_internal.h are used as they are. Same arithmetic as the portable and AVX2 kernels (the tests
 * run all of them on the same inputs and compare bits); chosen at run time, compiled with target attributes.
 */
#include "npu_emu_internal.h"

#if defined(__x86_64__) && ((defined(__clang__) && __clang_major__ >= 8) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 8))
#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))

/* vpdpbusd: (x + 128) as u8 times w as s8, four products summed into each int32 lane, exact; minus 128*sum(w). */
T512 static inline void w8_rows(int R, const int8_t* x, int64_t ldx, const int8_t* panel, int64_t kq, __m512i* acc) {
  for (int r = 0; r < NPU_MAXR; r++) acc[r] = _mm512_setzero_si512();
  for (int64_t q = 0; q < kq; q++) {
    const __m512i w = _mm512_loadu_si512((const void*)(panel + q * 64));
    for (int r = 0; r < R; r++) {
      int32_t xv;
      __builtin_memcpy(&xv, x + r * ldx + q * 4, 4);
      acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_set1_epi32(xv), w);
    }
  }
}

/* One row: four accumulators over interleaved k-quads hide the vpdpbusd latency (integer sums: any split is exact). */
T512 static inline __m512i w8_row1(const int8_t* x, const int8_t* panel, int64_t kq) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  int64_t q = 0;
  int32_t xv[4];
  for (; q + 4 <= kq; q += 4) {
    __builtin_memcpy(xv, x + q * 4, 16);
    a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(xv[0]), _mm512_loadu_si512((const void*)(panel + q * 64)));
    a1 = _mm512_dpbusd_epi32(a1, _mm512_set1_epi32(xv[1]), _mm512_loadu_si512((const void*)(panel + q * 64 + 64)));
    a2 = _mm512_dpbusd_epi32(a2, _mm512_set1_epi32(xv[2]), _mm512_loadu_si512((const void*)(panel + q * 64 + 128)));
    a3 = _mm512_dpbusd_epi32(a3, _mm512_set1_epi32(xv[3]), _mm512_loadu_si512((const void*)(panel + q * 64 + 192)));
  }
  for (; q < kq; q++) {
    __builtin_memcpy(xv, x + q * 4, 4);
    a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(xv[0]), _mm512_loadu_si512((const void*)(panel + q * 64)));
  }
  return _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
}

T512 static void w8_block(int R, const int8_t* x, int64_t ldx, const int8_t* panel, int64_t kq, const int32_t* csum128, int32_t* acc, int add) {
  __m512i a[NPU_MAXR];
  switch (R) {
    case 8: w8_rows(8, x, ldx, panel, kq, a); break;
    case 7: w8_rows(7, x, ldx, panel, kq, a); break;
    case 6: w8_rows(6, x, ldx, panel, kq, a); break;
    case 5: w8_rows(5, x, ldx, panel, kq, a); break;
    case 4: w8_rows(4, x, ldx, panel, kq, a); break;
    case 3: w8_rows(3, x, ldx, panel, kq, a); break;
    case 2: w8_rows(2, x, ldx, panel, kq, a); break;
    default: a[0] = w8_row1(x, panel, kq); break;
  }
  const __m512i c = _mm512_loadu_si512((const void*)csum128);
  for (int r = 0; r < R; r++) {
    int32_t* o = acc + r * NPU_NR;
    __m512i v = _mm512_sub_epi32(a[r], c);
    if (add) v = _mm512_add_epi32(_mm512_loadu_si512((const void*)o), v);
    _mm512_storeu_si512((void*)o, v);
  }
}

T512 static inline void w8_rows2(int R, const int8_t* x, int64_t ldx, const int8_t* panel, int64_t pstride, int64_t kq, __m512i* a0, __m512i* a1) {
  for (int r = 0; r < NPU_MAXR; r++) a0[r] = a1[r] = _mm512_setzero_si512();
  for (int64_t q = 0; q < kq; q++) {
    const __m512i w0 = _mm512_loadu_si512((const void*)(panel + q * 64));
    const __m512i w1 = _mm512_loadu_si512((const void*)(panel + pstride + q * 64));
    for (int r = 0; r < R; r++) {
      int32_t xv;
      __builtin_memcpy(&xv, x + r * ldx + q * 4, 4);
      const __m512i u = _mm512_set1_epi32(xv);
      a0[r] = _mm512_dpbusd_epi32(a0[r], u, w0);
      a1[r] = _mm512_dpbusd_epi32(a1[r], u, w1);
    }
  }
}

/* 8 rows x 2 panels: 16 independent vpdpbusd chains. */
T512 static void w8_block2(int R, const int8_t* x, int64_t ldx, const int8_t* panel, int64_t pstride, int64_t kq, const int32_t* csum128, int32_t* acc,
                           int add) {
  __m512i a0[NPU_MAXR], a1[NPU_MAXR];
  if (R == 8)
    w8_rows2(8, x, ldx, panel, pstride, kq, a0, a1);
  else
    w8_rows2(R, x, ldx, panel, pstride, kq, a0, a1);
  const __m512i c0 = _mm512_loadu_si512((const void*)csum128), c1 = _mm512_loadu_si512((const void*)(csum128 + NPU_NR));
  for (int r = 0; r < R; r++) {
    int32_t* o0 = acc + r * NPU_NR;
    int32_t* o1 = acc + (NPU_MAXR + r) * NPU_NR;
    __m512i v0 = _mm512_sub_epi32(a0[r], c0), v1 = _mm512_sub_epi32(a1[r], c1);
    if (add) {
      v0 = _mm512_add_epi32(_mm512_loadu_si512((const void*)o0), v0);
      v1 = _mm512_add_epi32(_mm512_loadu_si512((const void*)o1), v1);
    }
    _mm512_storeu_si512((void*)o0, v0);
    _mm512_storeu_si512((void*)o1, v1);
  }
}

T512 static inline void f_rows(int R, const float* x, int64_t ldx, const float* w, int64_t kc, float* acc, int fused) {
  __m512 p[NPU_MAXR];
  for (int r = 0; r < NPU_MAXR; r++) p[r] = _mm512_setzero_ps();
  if (fused) {
    for (int64_t k = 0; k < kc; k++) {
      const __m512 wv = _mm512_loadu_ps(w + k * NPU_NR);
      for (int r = 0; r < R; r++) p[r] = _mm512_fmadd_ps(_mm512_set1_ps(x[r * ldx + k]), wv, p[r]);
    }
  } else {
    for (int64_t k = 0; k < kc; k++) {
      const __m512 wv = _mm512_loadu_ps(w + k * NPU_NR);
      for (int r = 0; r < R; r++) p[r] = _mm512_add_ps(p[r], _mm512_mul_ps(_mm512_set1_ps(x[r * ldx + k]), wv));
    }
  }
  for (int r = 0; r < R; r++) _mm512_storeu_ps(acc + r * NPU_NR, _mm512_add_ps(_mm512_loadu_ps(acc + r * NPU_NR), p[r]));
}

T512 static void f_chunk(int R, const float* x, int64_t ldx, const float* w, int64_t kc, float* acc, int fused) {
  switch (R) {
    case 8: f_rows(8, x, ldx, w, kc, acc, fused); break;
    case 7: f_rows(7, x, ldx, w, kc, acc, fused); break;
    case 6: f_rows(6, x, ldx, w, kc, acc, fused); break;
    case 5: f_rows(5, x, ldx, w, kc, acc, fused); break;
    case 4: f_rows(4, x, ldx, w, kc, acc, fused); break;
    case 3: f_rows(3, x, ldx, w, kc, acc, fused); break;
    case 2: f_rows(2, x, ldx, w, kc, acc, fused); break;
    default: f_rows(1, x, ldx, w, kc, acc, fused); break;
  }
}

T512 static inline void f_rows2(int R, const float* x, int64_t ldx, const float* w, int64_t wstride, int64_t kc, float* acc, int64_t astride, int fused) {
  __m512 p0[NPU_MAXR], p1[NPU_MAXR];
  for (int r = 0; r < NPU_MAXR; r++) p0[r] = p1[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; k++) {
    const __m512 w0 = _mm512_loadu_ps(w + k * NPU_NR), w1 = _mm512_loadu_ps(w + wstride + k * NPU_NR);
    for (int r = 0; r < R; r++) {
      const __m512 xb = _mm512_set1_ps(x[r * ldx + k]);
      if (fused) {
        p0[r] = _mm512_fmadd_ps(xb, w0, p0[r]);
        p1[r] = _mm512_fmadd_ps(xb, w1, p1[r]);
      } else {
        p0[r] = _mm512_add_ps(p0[r], _mm512_mul_ps(xb, w0));
        p1[r] = _mm512_add_ps(p1[r], _mm512_mul_ps(xb, w1));
      }
    }
  }
  for (int r = 0; r < R; r++) {
    float* a0 = acc + r * NPU_NR;
    float* a1 = acc + astride + r * NPU_NR;
    _mm512_storeu_ps(a0, _mm512_add_ps(_mm512_loadu_ps(a0), p0[r]));
    _mm512_storeu_ps(a1, _mm512_add_ps(_mm512_loadu_ps(a1), p1[r]));
  }
}

/* 8 rows x 2 panels: 16 independent FMA chains. */
T512 static void f_chunk2(int R, const float* x, int64_t ldx, const float* w, int64_t wstride, int64_t kc, float* acc, int64_t astride, int fused) {
  if (R == 8 && fused)
    f_rows2(8, x, ldx, w, wstride, kc, acc, astride, 1);
  else if (R == 8)
    f_rows2(8, x, ldx, w, wstride, kc, acc, astride, 0);
  else
    f_rows2(R, x, ldx, w, wstride, kc, acc, astride, fused);
}

T512 void npu_w4_dequant_avx512(const uint8_t* qpairs, int64_t kc, const float* s, const float* nzs, float* out) {
  const __m512 sv = _mm512_loadu_ps(s), zv = _mm512_loadu_ps(nzs);
  const __m512i lo = _mm512_set1_epi32(15);
  for (int64_t j = 0; j < kc / 2; j++) {
    const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)(qpairs + j * NPU_NR)));
    _mm512_storeu_ps(out + 2 * j * NPU_NR, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(v, lo)), sv, zv));
    _mm512_storeu_ps(out + (2 * j + 1) * NPU_NR, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(v, 4)), sv, zv));
  }
}

/* R rows x P panels straight from the nibbles; scales and -z*s of the P panels stay in registers. */
T512 static inline void w4_rows_t(int R, int P, const float* x, int64_t ldx, const uint8_t* qp, int64_t qstride, int64_t kc, const float* s,
                                  const float* nzs, int64_t sstride, float* acc, int64_t astride) {
  const __m512i lo = _mm512_set1_epi32(15);
  __m512 sv[8], zv[8], p[3][8];
  for (int q = 0; q < 8; q++) {
    sv[q] = q < P ? _mm512_loadu_ps(s + q * sstride) : _mm512_setzero_ps();
    zv[q] = q < P ? _mm512_loadu_ps(nzs + q * sstride) : _mm512_setzero_ps();
    for (int r = 0; r < 3; r++) p[r][q] = _mm512_setzero_ps();
  }
  for (int64_t j = 0; j < kc / 2; j++) {
    __m512 xa[3], xb[3];
    for (int r = 0; r < R; r++) {
      xa[r] = _mm512_set1_ps(x[r * ldx + 2 * j]);
      xb[r] = _mm512_set1_ps(x[r * ldx + 2 * j + 1]);
    }
    for (int q = 0; q < P; q++) {
      const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)(qp + q * qstride + j * NPU_NR)));
      const __m512 wa = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(v, lo)), sv[q], zv[q]);
      const __m512 wb = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(v, 4)), sv[q], zv[q]);
      for (int r = 0; r < R; r++) {
        p[r][q] = _mm512_fmadd_ps(xa[r], wa, p[r][q]);
        p[r][q] = _mm512_fmadd_ps(xb[r], wb, p[r][q]);
      }
    }
  }
  for (int q = 0; q < P; q++)
    for (int r = 0; r < R; r++) {
      float* a = acc + q * astride + r * NPU_NR;
      _mm512_storeu_ps(a, _mm512_add_ps(_mm512_loadu_ps(a), p[r][q]));
    }
}

T512 static void w4_rows(int R, int P, const float* x, int64_t ldx, const uint8_t* qp, int64_t qstride, int64_t kc, const float* s, const float* nzs,
                         int64_t sstride, float* acc, int64_t astride) {
#define W4R(r, pp) w4_rows_t(r, pp, x, ldx, qp, qstride, kc, s, nzs, sstride, acc, astride)
  if (R == 1) {
    switch (P) {
      case 8: W4R(1, 8); break;
      case 7: W4R(1, 7); break;
      case 6: W4R(1, 6); break;
      case 5: W4R(1, 5); break;
      case 4: W4R(1, 4); break;
      case 3: W4R(1, 3); break;
      case 2: W4R(1, 2); break;
      default: W4R(1, 1); break;
    }
  } else if (R == 2) {
    switch (P) {
      case 4: W4R(2, 4); break;
      case 3: W4R(2, 3); break;
      case 2: W4R(2, 2); break;
      default: W4R(2, 1); break;
    }
  } else {
    if (P >= 2) W4R(3, 2);
    else W4R(3, 1);
  }
#undef W4R
}

/* The element-wise helpers are the AVX2 ones (memory-bound; wider registers gain nothing there). */
static float absmax(const float* x, int64_t n) { return npu_kernels_avx2_ptr->absmax(x, n); }
static void quantize(const float* x, int64_t n, float scale, int8_t* xq) { npu_kernels_avx2_ptr->quantize(x, n, scale, xq); }
static void round_bf16(const float* x, int64_t n, float* out) { npu_kernels_avx2_ptr->round_bf16(x, n, out); }

/* w4a8 and the unprepared f32 path use the AVX2 kernels (integer dot products and streaming adds: the bandwidth, not
 * the register width, bounds them at decode sizes) */
static void w4a8_panel(int R, const int8_t* xq, int64_t ldx, const uint8_t* wq, int64_t ngroups, int64_t G, int32_t* isum) {
  npu_kernels_avx2_ptr->w4a8_panel(R, xq, ldx, wq, ngroups, G, isum);
}
static void f_axpy(const float* x, int nk, const float* b, int64_t ldb, int64_t n, float* acc) { npu_kernels_avx2_ptr->f_axpy(x, nk, b, ldb, n, acc); }

static const npu_kernels avx512 = {w8_block, w8_block2, w4_rows, f_chunk, f_chunk2, npu_w4_dequant_avx512, absmax, quantize, round_bf16, w4a8_panel, f_axpy, "avx512", 8, 1, 8,
    /* NULL: its one- and two-panel kernels (no AVX-512 host here to test streamed ones bit for bit) */
    .w8_gemv = NULL, .f_gemv = NULL, .w4a8_gemv = NULL};
const npu_kernels* const npu_kernels_avx512_ptr = &avx512;
#else
const npu_kernels* const npu_kernels_avx512_ptr = 0;
#endif
