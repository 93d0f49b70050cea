/*
 * AVX2 + FMA kernels of the emulation library. Compiled for every x86-64 build with a target pragma (never
 * -march=native) and selected at run time with __builtin_cpu_supports, so the shipped library runs anywhere.
 * Each kernel computes exactly what its portable twin in npu_kern_portable.c computes:
 *   - int8: vpmaddubsw(|x|, sign(w, x)) gives pairs of exact products in int16 (|x| <= 128, |w| <= 127, so a
 *     pair is at most 32512: no saturation); vpmaddwd with ones widens to int32. Integer sums are exact.
 *   - float: the lanes are output columns, k runs in order, one rounding per step as the contract says.
 */
#include "npu_emu_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC target("avx2,fma")
#include <immintrin.h>

/* R rows (1..4) x 16 columns of int32 over kq k-quads. */
static inline void w8_rows(int R, const int8_t* x, int64_t ldx, const int8_t* panel, int64_t kq, __m256i acc[4][2]) {
  const __m256i ones = _mm256_set1_epi16(1);
  for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  for (int64_t q = 0; q < kq; q++) {
    const __m256i w0 = _mm256_loadu_si256((const __m256i*)(panel + q * 64));
    const __m256i w1 = _mm256_loadu_si256((const __m256i*)(panel + q * 64 + 32));
    for (int r = 0; r < R; r++) {
      int32_t xv;
      __builtin_memcpy(&xv, x + r * ldx + q * 4, 4);
      const __m256i xb = _mm256_set1_epi32(xv);
      const __m256i u = _mm256_abs_epi8(xb);
      const __m256i p0 = _mm256_maddubs_epi16(u, _mm256_sign_epi8(w0, xb));
      const __m256i p1 = _mm256_maddubs_epi16(u, _mm256_sign_epi8(w1, xb));
      acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(p0, ones));
      acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(p1, ones));
    }
  }
}

static void w8_block(int R, const int8_t* x, int64_t ldx, const int8_t* panel, int64_t kq, const int32_t* csum128, int32_t* acc, int add) {
  (void)csum128;
  __m256i a[4][2];
  /* Constant R for the common cases so the row loop unrolls and the accumulators stay in registers. */
  switch (R) {
    case 4: w8_rows(4, x, ldx, panel, kq, a); break;
    case 3: w8_rows(3, x, ldx, panel, kq, a); break;
    case 2: w8_rows(2, x, ldx, panel, kq, a); break;
    default: w8_rows(1, x, ldx, panel, kq, a); break;
  }
  for (int r = 0; r < R; r++) {
    __m256i* o = (__m256i*)(acc + r * NPU_NR);
    if (add) {
      _mm256_storeu_si256(o, _mm256_add_epi32(_mm256_loadu_si256(o), a[r][0]));
      _mm256_storeu_si256(o + 1, _mm256_add_epi32(_mm256_loadu_si256(o + 1), a[r][1]));
    } else {
      _mm256_storeu_si256(o, a[r][0]);
      _mm256_storeu_si256(o + 1, a[r][1]);
    }
  }
}

static inline void f_rows(int R, const float* x, int64_t ldx, const float* w, int64_t kc, float* acc, int fused) {
  __m256 p[4][2];
  for (int r = 0; r < 4; r++) p[r][0] = p[r][1] = _mm256_setzero_ps();
  if (fused) {
    for (int64_t k = 0; k < kc; k++) {
      const __m256 w0 = _mm256_loadu_ps(w + k * NPU_NR);
      const __m256 w1 = _mm256_loadu_ps(w + k * NPU_NR + 8);
      for (int r = 0; r < R; r++) {
        const __m256 xb = _mm256_broadcast_ss(x + r * ldx + k);
        p[r][0] = _mm256_fmadd_ps(xb, w0, p[r][0]);
        p[r][1] = _mm256_fmadd_ps(xb, w1, p[r][1]);
      }
    }
  } else {
    for (int64_t k = 0; k < kc; k++) {
      const __m256 w0 = _mm256_loadu_ps(w + k * NPU_NR);
      const __m256 w1 = _mm256_loadu_ps(w + k * NPU_NR + 8);
      for (int r = 0; r < R; r++) {
        const __m256 xb = _mm256_broadcast_ss(x + r * ldx + k);
        p[r][0] = _mm256_add_ps(p[r][0], _mm256_mul_ps(xb, w0));
        p[r][1] = _mm256_add_ps(p[r][1], _mm256_mul_ps(xb, w1));
      }
    }
  }
  for (int r = 0; r < R; r++) {
    float* a = acc + r * NPU_NR;
    _mm256_storeu_ps(a, _mm256_add_ps(_mm256_loadu_ps(a), p[r][0]));
    _mm256_storeu_ps(a + 8, _mm256_add_ps(_mm256_loadu_ps(a + 8), p[r][1]));
  }
}

static void f_chunk(int R, const float* x, int64_t ldx, const float* w, int64_t kc, float* acc, int fused) {
  switch (R) {
    case 4: f_rows(4, x, ldx, w, kc, acc, fused); break;
    case 3: f_rows(3, x, ldx, w, kc, acc, fused); break;
    case 2: f_rows(2, x, ldx, w, kc, acc, fused); break;
    default: f_rows(1, x, ldx, w, kc, acc, fused); break;
  }
}

void npu_w4_dequant_avx2(const uint8_t* qpairs, int64_t kc, const float* s, const float* nzs, float* out) {
  const __m256 s0 = _mm256_loadu_ps(s), s1 = _mm256_loadu_ps(s + 8);
  const __m256 z0 = _mm256_loadu_ps(nzs), z1 = _mm256_loadu_ps(nzs + 8);
  const __m256i lo = _mm256_set1_epi32(15);
  for (int64_t j = 0; j < kc / 2; j++) {
    const uint8_t* b = qpairs + j * NPU_NR;
    const __m256i v0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)b));
    const __m256i v1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(b + 8)));
    float* o = out + 2 * j * NPU_NR;
    _mm256_storeu_ps(o, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v0, lo)), s0, z0));
    _mm256_storeu_ps(o + 8, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v1, lo)), s1, z1));
    _mm256_storeu_ps(o + 16, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v0, 4)), s0, z0));
    _mm256_storeu_ps(o + 24, _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v1, 4)), s1, z1));
  }
}

/*
 * w4 for 1..3 rows straight from the packed nibbles: P panels at once so that enough independent accumulator
 * chains (R x P x 2 vectors) hide the FMA latency — each output column is one serial chain by definition.
 */
static inline void w4_rows_t(int R, int P, const float* x, int64_t ldx, const uint8_t* qp, int64_t qstride, int64_t kc, const float* s,
                             const float* nzs, int64_t sstride, float* acc, int64_t astride) {
  const __m256i lo = _mm256_set1_epi32(15);
  __m256 p[3][4][2];
  for (int r = 0; r < 3; r++)
    for (int q = 0; q < 4; q++) p[r][q][0] = p[r][q][1] = _mm256_setzero_ps();
  for (int64_t j = 0; j < kc / 2; j++) {
    __m256 xa[3], xb[3];
    for (int r = 0; r < R; r++) {
      xa[r] = _mm256_broadcast_ss(x + r * ldx + 2 * j);
      xb[r] = _mm256_broadcast_ss(x + r * ldx + 2 * j + 1);
    }
    for (int q = 0; q < P; q++) {
      const uint8_t* b = qp + q * qstride + j * NPU_NR;
      const float* sq = s + q * sstride;
      const float* zq = nzs + q * sstride;
      const __m256i v0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)b));
      const __m256i v1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(b + 8)));
      const __m256 s0 = _mm256_loadu_ps(sq), s1 = _mm256_loadu_ps(sq + 8);
      const __m256 z0 = _mm256_loadu_ps(zq), z1 = _mm256_loadu_ps(zq + 8);
      const __m256 wa0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v0, lo)), s0, z0);
      const __m256 wa1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v1, lo)), s1, z1);
      const __m256 wb0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v0, 4)), s0, z0);
      const __m256 wb1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v1, 4)), s1, z1);
      for (int r = 0; r < R; r++) {
        p[r][q][0] = _mm256_fmadd_ps(xa[r], wa0, p[r][q][0]);
        p[r][q][1] = _mm256_fmadd_ps(xa[r], wa1, p[r][q][1]);
        p[r][q][0] = _mm256_fmadd_ps(xb[r], wb0, p[r][q][0]);
        p[r][q][1] = _mm256_fmadd_ps(xb[r], wb1, p[r][q][1]);
      }
    }
  }
  for (int q = 0; q < P; q++)
    for (int r = 0; r < R; r++) {
      float* a = acc + q * astride + r * NPU_NR;
      _mm256_storeu_ps(a, _mm256_add_ps(_mm256_loadu_ps(a), p[r][q][0]));
      _mm256_storeu_ps(a + 8, _mm256_add_ps(_mm256_loadu_ps(a + 8), p[r][q][1]));
    }
}

static void w4_rows(int R, int P, const float* x, int64_t ldx, const uint8_t* qp, int64_t qstride, int64_t kc, const float* s, const float* nzs,
                    int64_t sstride, float* acc, int64_t astride) {
  /* constant shapes so the loops over rows and panels unroll and the accumulators stay in registers */
#define W4R(r, pp) w4_rows_t(r, pp, x, ldx, qp, qstride, kc, s, nzs, sstride, acc, astride)
  if (R == 1) {
    if (P == 4) W4R(1, 4);
    else if (P == 3) W4R(1, 3);
    else if (P == 2) W4R(1, 2);
    else W4R(1, 1);
  } else if (R == 2) {
    if (P >= 2) W4R(2, 2);
    else W4R(2, 1);
  } else {
    W4R(3, 1);
  }
#undef W4R
}

static float absmax(const float* x, int64_t n) {
  const __m256 mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 m = _mm256_setzero_ps();
  __m256 nan = _mm256_setzero_ps(); /* all-ones lanes where some x was NaN: vmaxps alone would drop them */
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    m = _mm256_max_ps(_mm256_and_ps(v, mask), m);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  if (_mm256_movemask_ps(nan)) return __builtin_nanf(""); /* as the portable loop: NaN when any x is NaN */
  float t[8];
  _mm256_storeu_ps(t, m);
  float r = 0.0f;
  for (int j = 0; j < 8; j++)
    if (t[j] > r) r = t[j];
  for (; i < n; i++) {
    float a = __builtin_fabsf(x[i]);
    if (a > r) r = a;
    else if (a != a) return a;
  }
  return r;
}

static void quantize(const float* x, int64_t n, float scale, int8_t* xq) {
  const __m256 s = _mm256_set1_ps(scale);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    /* RNE conversion (MXCSR default), then saturating packs clamp to [-128, 127]; NaN -> INT_MIN -> -128. */
    __m256i a = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(x + i), s));
    __m256i b = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(x + i + 8), s));
    __m256i c = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(x + i + 16), s));
    __m256i d = _mm256_cvtps_epi32(_mm256_div_ps(_mm256_loadu_ps(x + i + 24), s));
    __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    __m256i v = _mm256_packs_epi16(ab, cd);
    /* the packs interleave 128-bit lanes: restore element order */
    v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i*)(xq + i), v);
  }
  npu_kernels_portable.quantize(x + i, n - i, scale, xq + i);
}

static void round_bf16(const float* x, int64_t n, float* out) {
  const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff), hi = _mm256_set1_epi32((int)0xffff0000u);
  const __m256i absm = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000), qnan = _mm256_set1_epi32(0x7fc00000);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i v = _mm256_loadu_si256((const __m256i*)(x + i));
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(v, 16), one);
    __m256i r = _mm256_and_si256(_mm256_add_epi32(v, _mm256_add_epi32(bias, lsb)), hi);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(v, absm), inf);
    r = _mm256_blendv_epi8(r, qnan, nan);
    _mm256_storeu_si256((__m256i*)(out + i), r);
  }
  for (; i < n; i++) out[i] = npu_bf16_round(x[i]);
}

/*
 * w4a8: integer dot products straight from the nibbles (the w4a8 layout of npu_emu_internal.h). Per half octet,
 * vpmaddubsw(low nibbles, 4 activation bytes) + vpmaddubsw(high nibbles, the next 4) is at most 4 * 15 * 127 = 7620
 * per int16 lane (no saturation); vpmaddwd with ones widens to int32. Exact, so equal to the portable loop.
 */
static inline void w4a8_rows(int R, const int8_t* xq, int64_t ldx, const uint8_t* wq, int64_t ngroups, int64_t G, int32_t* isum) {
  const __m256i m4 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
  for (int64_t g = 0; g < ngroups; g++) {
    __m256i a[4][2];
    for (int r = 0; r < 4; r++) a[r][0] = a[r][1] = _mm256_setzero_si256();
    const uint8_t* b = wq + g * (G / 8) * 64;
    const int8_t* x = xq + g * G;
    for (int64_t o = 0; o < G / 8; o++) {
      const __m256i v0 = _mm256_loadu_si256((const __m256i*)(b + o * 64));
      const __m256i v1 = _mm256_loadu_si256((const __m256i*)(b + o * 64 + 32));
      const __m256i l0 = _mm256_and_si256(v0, m4), h0 = _mm256_and_si256(_mm256_srli_epi16(v0, 4), m4);
      const __m256i l1 = _mm256_and_si256(v1, m4), h1 = _mm256_and_si256(_mm256_srli_epi16(v1, 4), m4);
      for (int r = 0; r < R; r++) {
        int32_t xv[2];
        __builtin_memcpy(xv, x + r * ldx + 8 * o, 8);
        const __m256i xa = _mm256_set1_epi32(xv[0]), xb = _mm256_set1_epi32(xv[1]);
        a[r][0] = _mm256_add_epi32(a[r][0], _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(l0, xa), _mm256_maddubs_epi16(h0, xb)), ones));
        a[r][1] = _mm256_add_epi32(a[r][1], _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(l1, xa), _mm256_maddubs_epi16(h1, xb)), ones));
      }
    }
    for (int r = 0; r < R; r++) {
      _mm256_storeu_si256((__m256i*)(isum + (g * R + r) * NPU_NR), a[r][0]);
      _mm256_storeu_si256((__m256i*)(isum + (g * R + r) * NPU_NR + 8), a[r][1]);
    }
  }
}

static void w4a8_panel(int R, const int8_t* xq, int64_t ldx, const uint8_t* wq, int64_t ngroups, int64_t G, int32_t* isum) {
  switch (R) {
    case 4: w4a8_rows(4, xq, ldx, wq, ngroups, G, isum); break;
    case 3: w4a8_rows(3, xq, ldx, wq, ngroups, G, isum); break;
    case 2: w4a8_rows(2, xq, ldx, wq, ngroups, G, isum); break;
    default: w4a8_rows(1, xq, ldx, wq, ngroups, G, isum); break;
  }
}

/* acc + x[r] * b[r][i] for r in order: rounded products and rounded sums (the f32 contract has no FMA); the
 * column's running sum stays in a register over the nk rows, so acc is loaded and stored once per nk rows */
static inline void f_axpy_t(const float* x, int nk, const float* b, int64_t ldb, int64_t n, float* acc) {
  __m256 xv[4];
  for (int r = 0; r < nk; r++) xv[r] = _mm256_set1_ps(x[r]);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 a0 = _mm256_loadu_ps(acc + i), a1 = _mm256_loadu_ps(acc + i + 8);
    for (int r = 0; r < nk; r++) {
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(xv[r], _mm256_loadu_ps(b + r * ldb + i)));
      a1 = _mm256_add_ps(a1, _mm256_mul_ps(xv[r], _mm256_loadu_ps(b + r * ldb + i + 8)));
    }
    _mm256_storeu_ps(acc + i, a0);
    _mm256_storeu_ps(acc + i + 8, a1);
  }
  for (; i < n; i++) {
    float a = acc[i];
    for (int r = 0; r < nk; r++) a = a + x[r] * b[r * ldb + i];
    acc[i] = a;
  }
}

static void f_axpy(const float* x, int nk, const float* b, int64_t ldb, int64_t n, float* acc) {
  switch (nk) {
    case 4: f_axpy_t(x, 4, b, ldb, n, acc); break;
    case 3: f_axpy_t(x, 3, b, ldb, n, acc); break;
    case 2: f_axpy_t(x, 2, b, ldb, n, acc); break;
    default: f_axpy_t(x, 1, b, ldb, n, acc); break;
  }
}

/*
 * Decode GEMVs (npu_emu_internal.h, *_gemv): P panels advance together, one k step (64 bytes of each panel) at a
 * time, so their weights are read as P interleaved streams. Each column keeps its own serial chain exactly as in
 * the one-panel kernels above, so the bits are theirs. R * P <= NPU_GEMV_P: at most 8 accumulator vectors.
 */
static inline void w8_gemv_t(int R, int P, const int8_t* x, int64_t ldx, const int8_t* panel, int64_t pstride, int64_t kq, int32_t* acc, int add) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i a[4][4][2]; /* [panel][row][half] */
  for (int q = 0; q < 4; q++)
    for (int r = 0; r < 4; r++) a[q][r][0] = a[q][r][1] = _mm256_setzero_si256();
  for (int64_t i = 0; i < kq; i++) {
    __m256i xb[4], u[4];
    for (int r = 0; r < R; r++) {
      int32_t xv;
      __builtin_memcpy(&xv, x + r * ldx + i * 4, 4);
      xb[r] = _mm256_set1_epi32(xv);
      u[r] = _mm256_abs_epi8(xb[r]);
    }
    for (int q = 0; q < P; q++) {
      const int8_t* w = panel + q * pstride + i * 64;
      const __m256i w0 = _mm256_loadu_si256((const __m256i*)w), w1 = _mm256_loadu_si256((const __m256i*)(w + 32));
      for (int r = 0; r < R; r++) {
        a[q][r][0] = _mm256_add_epi32(a[q][r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(u[r], _mm256_sign_epi8(w0, xb[r])), ones));
        a[q][r][1] = _mm256_add_epi32(a[q][r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(u[r], _mm256_sign_epi8(w1, xb[r])), ones));
      }
    }
  }
  for (int q = 0; q < P; q++)
    for (int r = 0; r < R; r++) {
      __m256i* o = (__m256i*)(acc + q * NPU_MAXR * NPU_NR + r * NPU_NR);
      if (add) {
        _mm256_storeu_si256(o, _mm256_add_epi32(_mm256_loadu_si256(o), a[q][r][0]));
        _mm256_storeu_si256(o + 1, _mm256_add_epi32(_mm256_loadu_si256(o + 1), a[q][r][1]));
      } else {
        _mm256_storeu_si256(o, a[q][r][0]);
        _mm256_storeu_si256(o + 1, a[q][r][1]);
      }
    }
}

static void w8_gemv(int R, int P, const int8_t* x, int64_t ldx, const int8_t* panel, int64_t pstride, int64_t kq, const int32_t* csum128, int32_t* acc,
                    int add) {
  (void)csum128;
  /* constant shapes: the loops unroll and the accumulators stay in registers */
  if (R == 1 && P == 4) w8_gemv_t(1, 4, x, ldx, panel, pstride, kq, acc, add);
  else if (R == 1 && P == 3) w8_gemv_t(1, 3, x, ldx, panel, pstride, kq, acc, add);
  else if (R == 1 && P == 2) w8_gemv_t(1, 2, x, ldx, panel, pstride, kq, acc, add);
  else if (R == 2 && P == 2) w8_gemv_t(2, 2, x, ldx, panel, pstride, kq, acc, add);
  else
    for (int q = 0; q < P; q++) w8_block(R, x, ldx, panel + q * pstride, kq, NULL, acc + q * NPU_MAXR * NPU_NR, add);
}

static inline void f_gemv_t(int R, int P, const float* x, int64_t ldx, const float* w, int64_t wstride, int64_t kc, float* acc, int64_t astride,
                            int fused) {
  __m256 p[4][4][2];
  for (int q = 0; q < 4; q++)
    for (int r = 0; r < 4; r++) p[q][r][0] = p[q][r][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; k++) {
    __m256 xb[4];
    for (int r = 0; r < R; r++) xb[r] = _mm256_broadcast_ss(x + r * ldx + k);
    for (int q = 0; q < P; q++) {
      const __m256 w0 = _mm256_loadu_ps(w + q * wstride + k * NPU_NR), w1 = _mm256_loadu_ps(w + q * wstride + k * NPU_NR + 8);
      for (int r = 0; r < R; r++) {
        if (fused) {
          p[q][r][0] = _mm256_fmadd_ps(xb[r], w0, p[q][r][0]);
          p[q][r][1] = _mm256_fmadd_ps(xb[r], w1, p[q][r][1]);
        } else {
          p[q][r][0] = _mm256_add_ps(p[q][r][0], _mm256_mul_ps(xb[r], w0));
          p[q][r][1] = _mm256_add_ps(p[q][r][1], _mm256_mul_ps(xb[r], w1));
        }
      }
    }
  }
  for (int q = 0; q < P; q++)
    for (int r = 0; r < R; r++) {
      float* a = acc + q * astride + r * NPU_NR;
      _mm256_storeu_ps(a, _mm256_add_ps(_mm256_loadu_ps(a), p[q][r][0]));
      _mm256_storeu_ps(a + 8, _mm256_add_ps(_mm256_loadu_ps(a + 8), p[q][r][1]));
    }
}

static void f_gemv(int R, int P, const float* x, int64_t ldx, const float* w, int64_t wstride, int64_t kc, float* acc, int64_t astride, int fused) {
#define FG(r, pp)                                                                                                                           \
  do {                                                                                                                                      \
    if (fused) f_gemv_t(r, pp, x, ldx, w, wstride, kc, acc, astride, 1);                                                                    \
    else f_gemv_t(r, pp, x, ldx, w, wstride, kc, acc, astride, 0);                                                                          \
  } while (0)
  if (R == 1 && P == 4) FG(1, 4);
  else if (R == 1 && P == 3) FG(1, 3);
  else if (R == 1 && P == 2) FG(1, 2);
  else if (R == 2 && P == 2) FG(2, 2);
  else
    for (int q = 0; q < P; q++) f_chunk(R, x, ldx, w + q * wstride, kc, acc + q * astride, fused);
#undef FG
}

/* One group of one panel for R rows: the int32 sums of w4a8_rows, then the float steps in AVX2 (each lane is the
 * scalar expression's float32 operations in the same order: cvtdq2ps rounds to nearest-even as (float) does). */
static inline void w4a8_gemv_t(int R, int P, const int8_t* xq, int64_t ldx, const float* xs, const int32_t* xsum, int64_t ldg, const uint8_t* wq,
                               int64_t qstride, const float* s, const uint8_t* z, int64_t sstride, int64_t ngroups, int64_t G, float* acc,
                               int64_t astride) {
  const __m256i m4 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
  const int64_t no = G / 8;
  for (int64_t g = 0; g < ngroups; g++)
    for (int q = 0; q < P; q++) {
      __m256i a[4][2];
      for (int r = 0; r < 4; r++) a[r][0] = a[r][1] = _mm256_setzero_si256();
      const uint8_t* b = wq + q * qstride + g * no * 64;
      /* 4 octets summed in int16 before one vpmaddwd: an octet adds at most 4 * 15 * 127 = 7620 per lane in magnitude,
       * four at most 30480 < 32767, so the int16 sums are exact (G is a multiple of 32: no / 4 whole blocks) */
      for (int64_t o0 = 0; o0 < no; o0 += 4) {
        __m256i h16[4][2];
        for (int o = 0; o < 4; o++) {
          const uint8_t* bo = b + (o0 + o) * 64;
          const __m256i v0 = _mm256_loadu_si256((const __m256i*)bo), v1 = _mm256_loadu_si256((const __m256i*)(bo + 32));
          const __m256i l0 = _mm256_and_si256(v0, m4), hi0 = _mm256_and_si256(_mm256_srli_epi16(v0, 4), m4);
          const __m256i l1 = _mm256_and_si256(v1, m4), hi1 = _mm256_and_si256(_mm256_srli_epi16(v1, 4), m4);
          for (int r = 0; r < R; r++) {
            int32_t xv[2];
            __builtin_memcpy(xv, xq + r * ldx + g * G + 8 * (o0 + o), 8);
            const __m256i xa = _mm256_set1_epi32(xv[0]), xb = _mm256_set1_epi32(xv[1]);
            const __m256i s0 = _mm256_add_epi16(_mm256_maddubs_epi16(l0, xa), _mm256_maddubs_epi16(hi0, xb));
            const __m256i s1 = _mm256_add_epi16(_mm256_maddubs_epi16(l1, xa), _mm256_maddubs_epi16(hi1, xb));
            h16[r][0] = o == 0 ? s0 : _mm256_add_epi16(h16[r][0], s0);
            h16[r][1] = o == 0 ? s1 : _mm256_add_epi16(h16[r][1], s1);
          }
        }
        for (int r = 0; r < R; r++) {
          a[r][0] = _mm256_add_epi32(a[r][0], _mm256_madd_epi16(h16[r][0], ones));
          a[r][1] = _mm256_add_epi32(a[r][1], _mm256_madd_epi16(h16[r][1], ones));
        }
      }
      const float* sg = s + q * sstride + g * NPU_NR;
      const uint8_t* zg = z + q * sstride + g * NPU_NR;
      const __m256 s0 = _mm256_loadu_ps(sg), s1 = _mm256_loadu_ps(sg + 8);
      const __m256i z0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)zg)), z1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(zg + 8)));
      for (int r = 0; r < R; r++) {
        const __m256 xsv = _mm256_set1_ps(xs[r * ldg + g]);
        const __m256i xsm = _mm256_set1_epi32(xsum[r * ldg + g]);
        float* ac = acc + q * astride + r * NPU_NR;
        const __m256 i0 = _mm256_cvtepi32_ps(_mm256_sub_epi32(a[r][0], _mm256_mullo_epi32(z0, xsm)));
        const __m256 i1 = _mm256_cvtepi32_ps(_mm256_sub_epi32(a[r][1], _mm256_mullo_epi32(z1, xsm)));
        _mm256_storeu_ps(ac, _mm256_add_ps(_mm256_loadu_ps(ac), _mm256_mul_ps(i0, _mm256_mul_ps(xsv, s0))));
        _mm256_storeu_ps(ac + 8, _mm256_add_ps(_mm256_loadu_ps(ac + 8), _mm256_mul_ps(i1, _mm256_mul_ps(xsv, s1))));
      }
    }
}

static void w4a8_gemv(int R, int P, const int8_t* xq, int64_t ldx, const float* xs, const int32_t* xsum, int64_t ldg, const uint8_t* wq, int64_t qstride,
                      const float* s, const uint8_t* z, int64_t sstride, int64_t ngroups, int64_t G, float* acc, int64_t astride) {
#define WG(r) w4a8_gemv_t(r, P, xq, ldx, xs, xsum, ldg, wq, qstride, s, z, sstride, ngroups, G, acc, astride)
  switch (R) {
    case 4: WG(4); break;
    case 3: WG(3); break;
    case 2: WG(2); break;
    default: WG(1); break;
  }
#undef WG
}

static const npu_kernels avx2 = {w8_block, NULL, w4_rows, f_chunk, NULL, npu_w4_dequant_avx2, absmax, quantize, round_bf16, w4a8_panel, f_axpy, "avx2", 4, 0, 4,
                                 .w8_gemv = w8_gemv, .f_gemv = f_gemv, .w4a8_gemv = w4a8_gemv};
const npu_kernels* const npu_kernels_avx2_ptr = &avx2;

/*
 * AVX-VNNI (vpdpbusd, 256-bit VEX form): u8 x s8 products summed in fours into int32 without saturation. The
 * activation byte x becomes x + 128 (x ^ 0x80, stored so by the caller) so it is unsigned; the kernel subtracts 128 * sum(w) per column
 * (csum128, precomputed per K tile when the weight is prepared). Exact like every other int8 kernel.
 */
#if (defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11)
#define NPU_HAVE_VNNI 1
__attribute__((target("avx2,fma,avxvnni"))) static inline void w8v_rows(int R, const int8_t* x, int64_t ldx, const int8_t* panel, int64_t kq,
                                                                         __m256i acc[4][2]) {
  for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  for (int64_t q = 0; q < kq; q++) {
    const __m256i w0 = _mm256_loadu_si256((const __m256i*)(panel + q * 64));
    const __m256i w1 = _mm256_loadu_si256((const __m256i*)(panel + q * 64 + 32));
    for (int r = 0; r < R; r++) {
      int32_t xv;
      __builtin_memcpy(&xv, x + r * ldx + q * 4, 4);
      const __m256i u = _mm256_set1_epi32(xv); /* the caller stored x ^ 0x80 (w8_flip) */
      acc[r][0] = _mm256_dpbusd_avx_epi32(acc[r][0], u, w0);
      acc[r][1] = _mm256_dpbusd_avx_epi32(acc[r][1], u, w1);
    }
  }
}

/* One row: interleaved accumulators hide the vpdpbusd latency (integer sums: any split is exact). */
__attribute__((target("avx2,fma,avxvnni"))) static inline void w8v_row1(const int8_t* x, const int8_t* panel, int64_t kq, __m256i acc[4][2]) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, b0 = a0, b1 = a0;
  int64_t q = 0;
  int32_t xv[2];
  for (; q + 2 <= kq; q += 2) {
    __builtin_memcpy(xv, x + q * 4, 8);
    const __m256i u0 = _mm256_set1_epi32(xv[0]), u1 = _mm256_set1_epi32(xv[1]);
    a0 = _mm256_dpbusd_avx_epi32(a0, u0, _mm256_loadu_si256((const __m256i*)(panel + q * 64)));
    a1 = _mm256_dpbusd_avx_epi32(a1, u0, _mm256_loadu_si256((const __m256i*)(panel + q * 64 + 32)));
    b0 = _mm256_dpbusd_avx_epi32(b0, u1, _mm256_loadu_si256((const __m256i*)(panel + q * 64 + 64)));
    b1 = _mm256_dpbusd_avx_epi32(b1, u1, _mm256_loadu_si256((const __m256i*)(panel + q * 64 + 96)));
  }
  for (; q < kq; q++) {
    __builtin_memcpy(xv, x + q * 4, 4);
    const __m256i u0 = _mm256_set1_epi32(xv[0]);
    a0 = _mm256_dpbusd_avx_epi32(a0, u0, _mm256_loadu_si256((const __m256i*)(panel + q * 64)));
    a1 = _mm256_dpbusd_avx_epi32(a1, u0, _mm256_loadu_si256((const __m256i*)(panel + q * 64 + 32)));
  }
  acc[0][0] = _mm256_add_epi32(a0, b0);
  acc[0][1] = _mm256_add_epi32(a1, b1);
}

__attribute__((target("avx2,fma,avxvnni"))) static void w8v_block(int R, const int8_t* x, int64_t ldx, const int8_t* panel, int64_t kq,
                                                                   const int32_t* csum128, int32_t* acc, int add) {
  __m256i a[4][2];
  switch (R) {
    case 4: w8v_rows(4, x, ldx, panel, kq, a); break;
    case 3: w8v_rows(3, x, ldx, panel, kq, a); break;
    case 2: w8v_rows(2, x, ldx, panel, kq, a); break;
    default: w8v_row1(x, panel, kq, a); break;
  }
  const __m256i c0 = _mm256_loadu_si256((const __m256i*)csum128), c1 = _mm256_loadu_si256((const __m256i*)(csum128 + 8));
  for (int r = 0; r < R; r++) {
    __m256i* o = (__m256i*)(acc + r * NPU_NR);
    __m256i v0 = _mm256_sub_epi32(a[r][0], c0), v1 = _mm256_sub_epi32(a[r][1], c1);
    if (add) {
      v0 = _mm256_add_epi32(_mm256_loadu_si256(o), v0);
      v1 = _mm256_add_epi32(_mm256_loadu_si256(o + 1), v1);
    }
    _mm256_storeu_si256(o, v0);
    _mm256_storeu_si256(o + 1, v1);
  }
}

/* w8_gemv stays NULL here: this host has no AVX-VNNI to test a streamed vpdpbusd kernel bit for bit */
static const npu_kernels vnni = {w8v_block, NULL, w4_rows, f_chunk, NULL, npu_w4_dequant_avx2, absmax, quantize, round_bf16, w4a8_panel, f_axpy, "avx2+avxvnni", 4, 1, 4,
                                 .f_gemv = f_gemv, .w4a8_gemv = w4a8_gemv};
const npu_kernels* const npu_kernels_vnni_ptr = &vnni;
#else
const npu_kernels* const npu_kernels_vnni_ptr = 0;
#endif

/* Weight packing from nn.Linear's N x K rows (npu_emu_internal.h, npu_pack_f8x8): 8 source rows x 8 k per step,
 * an 8 x 8 register transpose, 8 stores of 8 floats (one half of 8 panel rows). Pure data movement (bf16 widening
 * is a zero-extend and a shift), so the packed bits equal the scalar path's. */
static inline __m256 load8(const void* w, int bf16, int64_t i) {
  if (bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)((const uint16_t*)w + i))), 16));
  return _mm256_loadu_ps((const float*)w + i);
}

static void pack_f8x8(const void* w, int bf16, int64_t ldw, int64_t kv, float* dst) {
  for (int64_t k0 = 0; k0 < kv; k0 += 8) {
    const __m256 r0 = load8(w, bf16, 0 * ldw + k0), r1 = load8(w, bf16, 1 * ldw + k0), r2 = load8(w, bf16, 2 * ldw + k0),
                 r3 = load8(w, bf16, 3 * ldw + k0), r4 = load8(w, bf16, 4 * ldw + k0), r5 = load8(w, bf16, 5 * ldw + k0),
                 r6 = load8(w, bf16, 6 * ldw + k0), r7 = load8(w, bf16, 7 * ldw + k0);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5), t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE), u2 = _mm256_shuffle_ps(t1, t3, 0x44),
                 u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE), u6 = _mm256_shuffle_ps(t5, t7, 0x44),
                 u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    float* d = dst + k0 * NPU_NR;
    _mm256_storeu_ps(d + 0 * NPU_NR, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(d + 1 * NPU_NR, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(d + 2 * NPU_NR, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(d + 3 * NPU_NR, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(d + 4 * NPU_NR, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(d + 5 * NPU_NR, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(d + 6 * NPU_NR, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(d + 7 * NPU_NR, _mm256_permute2f128_ps(u3, u7, 0x31));
  }
}
void (*const npu_pack_f8x8)(const void*, int, int64_t, int64_t, float*) = pack_f8x8;

#else
const npu_kernels* const npu_kernels_avx2_ptr = 0;
const npu_kernels* const npu_kernels_vnni_ptr = 0;
void (*const npu_pack_f8x8)(const void*, int, int64_t, int64_t, float*) = 0;
#endif
