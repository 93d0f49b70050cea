/*
 * Portable C kernels of the emulation library: the definition the AVX2 kernels must match bit for bit (the
 * library is compiled with -ffp-contract=off, so `p + x * w` is a rounded product and a rounded sum).
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "npu_emu_internal.h"

static void w8_block(int R, const int8_t* x, int64_t ldx, const int8_t* panel, int64_t kq, const int32_t* csum128, int32_t* acc, int add) {
  (void)csum128;
  for (int r = 0; r < R; r++) {
    int32_t s[NPU_NR] = {0};
    const int8_t* xr = x + r * ldx;
    for (int64_t q = 0; q < kq; q++) {
      const int8_t* wq = panel + q * 64;
      const int8_t* xq = xr + q * 4;
      for (int c = 0; c < NPU_NR; c++) {
        const int8_t* w = wq + (c >> 3) * 32 + (c & 7) * 4;
        s[c] += xq[0] * w[0] + xq[1] * w[1] + xq[2] * w[2] + xq[3] * w[3];
      }
    }
    int32_t* a = acc + r * NPU_NR;
    for (int c = 0; c < NPU_NR; c++) a[c] = add ? a[c] + s[c] : s[c];
  }
}

static void f_chunk(int R, const float* x, int64_t ldx, const float* w, int64_t kc, float* acc, int fused) {
  for (int r = 0; r < R; r++) {
    float p[NPU_NR];
    for (int c = 0; c < NPU_NR; c++) p[c] = 0.0f;
    const float* xr = x + r * ldx;
    if (fused) {
      for (int64_t k = 0; k < kc; k++)
        for (int c = 0; c < NPU_NR; c++) p[c] = fmaf(xr[k], w[k * NPU_NR + c], p[c]);
    } else {
      for (int64_t k = 0; k < kc; k++)
        for (int c = 0; c < NPU_NR; c++) p[c] = p[c] + xr[k] * w[k * NPU_NR + c];
    }
    float* a = acc + r * NPU_NR;
    for (int c = 0; c < NPU_NR; c++) a[c] = a[c] + p[c];
  }
}

static void w4_dequant(const uint8_t* qpairs, int64_t kc, const float* s, const float* nzs, float* out) {
  for (int64_t j = 0; j < kc / 2; j++) {
    const uint8_t* b = qpairs + j * NPU_NR;
    for (int c = 0; c < NPU_NR; c++) {
      out[(2 * j) * NPU_NR + c] = fmaf((float)(b[c] & 15), s[c], nzs[c]);
      out[(2 * j + 1) * NPU_NR + c] = fmaf((float)(b[c] >> 4), s[c], nzs[c]);
    }
  }
}

static float absmax(const float* x, int64_t n) {
  float m = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    float a = fabsf(x[i]);
    if (a > m) m = a;
    else if (a != a) return a; /* NaN: the scale is undefined (the float w8 entry then outputs NaN) */
  }
  return m;
}

static void quantize(const float* x, int64_t n, float scale, int8_t* xq) {
  for (int64_t i = 0; i < n; i++) {
    float v = rintf(x[i] / scale); /* the default rounding mode: to nearest, ties to even */
    if (!(v >= -128.0f)) v = -128.0f; /* NaN saturates low, as vcvtps2dq + packsswb do */
    if (v > 127.0f) v = 127.0f;
    xq[i] = (int8_t)v;
  }
}

static void round_bf16(const float* x, int64_t n, float* out) {
  for (int64_t i = 0; i < n; i++) out[i] = npu_bf16_round(x[i]);
}

static void w4a8_panel(int R, const int8_t* xq, int64_t ldx, const uint8_t* wq, int64_t ngroups, int64_t G, int32_t* isum) {
  for (int64_t g = 0; g < ngroups; g++)
    for (int r = 0; r < R; r++) {
      int32_t s[NPU_NR] = {0};
      const int8_t* x = xq + r * ldx + g * G;
      for (int64_t o = 0; o < G / 8; o++) {
        const uint8_t* b = wq + (g * (G / 8) + o) * 64;
        for (int c = 0; c < NPU_NR; c++) {
          const uint8_t* bc = b + (c >> 3) * 32 + (c & 7) * 4;
          for (int i = 0; i < 4; i++) s[c] += x[8 * o + i] * (bc[i] & 15) + x[8 * o + 4 + i] * (bc[i] >> 4);
        }
      }
      for (int c = 0; c < NPU_NR; c++) isum[(g * R + r) * NPU_NR + c] = s[c];
    }
}

static void f_axpy(const float* x, int nk, const float* b, int64_t ldb, int64_t n, float* acc) {
  for (int64_t i = 0; i < n; i++) {
    float a = acc[i];
    for (int r = 0; r < nk; r++) a = a + x[r] * b[r * ldb + i];
    acc[i] = a;
  }
}

const npu_kernels npu_kernels_portable = {w8_block, NULL, NULL, f_chunk, NULL, w4_dequant, absmax, quantize, round_bf16, w4a8_panel, f_axpy, "portable", 4, 0, 1,
    /* NULL: one panel at a time, the reference path the streamed AVX2 kernels are tested against */
    .w8_gemv = NULL, .f_gemv = NULL, .w4a8_gemv = NULL};

/* ---------------------------------------------------------------------------------------------------------
 * `bench machine`'s read roof (not part of the ABI; opshift binds it only from the emulation library): the
 * single-thread rate at which one core can READ memory, which is what a decode GEMV does (its weights are read
 * once, its outputs are a few KB). A plain one-pointer sum under-reports it on this kind of CPU: one sequential
 * stream keeps too few misses in flight (measured 12.5 vs 19.5 GB/s with 4 streams on the 2-core EPYC VM), so
 * the buffer is read as `streams` interleaved contiguous parts, 256 bytes of each per step, the way a kernel that
 * walks several weight panels at once reads. 16-byte vectors (SSE2 on x86-64, generic elsewhere): the loads, not
 * the adds, are the bound. Returns the best GB/s over `reps` passes after a first touching pass, or -1 when the
 * buffer cannot be allocated. */
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "opshift_npu.h"

typedef float npu_v4f __attribute__((vector_size(16)));

static double probe_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static float probe_sum(const float* p, int64_t n, int streams) {
  npu_v4f a0 = {0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0;
  const int64_t per = n / streams;
  for (int64_t i = 0; i + 64 <= per; i += 64)
    for (int s = 0; s < streams; s++) {
      const npu_v4f* q = (const npu_v4f*)(p + s * per + i);
      for (int j = 0; j < 16; j += 4) {
        a0 += q[j];
        a1 += q[j + 1];
        a2 += q[j + 2];
        a3 += q[j + 3];
      }
    }
  const npu_v4f t = (a0 + a1) + (a2 + a3);
  return t[0] + t[1] + t[2] + t[3];
}

NPU_API double npu_emu_read_gbps(int64_t mib, int32_t streams, int32_t reps) {
  if (mib < 1 || streams < 1 || streams > 64 || reps < 1) return -1.0;
  const size_t bytes = (size_t)mib << 20, align = (size_t)2 << 20;
  float* p = (float*)aligned_alloc(align, bytes);
  if (!p) return -1.0;
#ifdef MADV_HUGEPAGE
  madvise(p, bytes, MADV_HUGEPAGE); /* as the packed weights of 8 MiB and more are */
#endif
  memset(p, 0, bytes);
  const int64_t n = (int64_t)(bytes / sizeof(float));
  volatile float sink = probe_sum(p, n, streams);
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    const double t0 = probe_now_s();
    sink = probe_sum(p, n, streams);
    const double dt = probe_now_s() - t0;
    if (dt < best) best = dt;
  }
  (void)sink;
  free(p);
  return (double)bytes / best / 1e9;
}
