/*
 * float32 GEMM / GEMV kernels for the opshift `wasm` backend: WebAssembly SIMD (f32x4), no libc.
 *
 * Built by backends/wasm/build.mjs:
 *   clang --target=wasm32 -O3 -msimd128 -mbulk-memory -nostdlib -Wl,--no-entry -Wl,--export=__heap_base ...
 *
 * Memory is managed from TypeScript (backends/wasm/heap.ts): every pointer passed here was allocated there;
 * these functions never allocate. Strides and sizes are in elements (floats), may be negative where noted.
 *
 * Layouts:
 *   B(p, j) for p < K, j < N: the right-hand matrix of C = A·B, read from src[p·rs + j·cs].
 *   Packed B ("panels"): ceil(N/8) panels of 8 columns; panel q holds B(p, 8q + c) at Bp[q·K·8 + p·8 + c],
 *   zero-padded past N. This is the form the micro-kernel streams, and the form constant weights are cached in.
 *
 * Accuracy: float32 accumulation in K blocks of KC = 256: each block starts from fresh accumulators and is
 * added into C (or a GEMV total), a two-level sum whose error grows like (256 + K/256)·ε rather than K·ε.
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

#define MR 4
#define NR 8
#define KC 256
#define MC 64

typedef float f32;

static inline int min_i(int a, int b) { return a < b ? a : b; }

static inline v128_t madd(v128_t acc, v128_t a, v128_t b) { return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b)); }

/* ---------------------------------------------------------------------------------------------------------- */
/* Packing                                                                                                     */

/* Bp <- panels of B(p, j) = src[p·rs + j·cs] (strides may be negative). */
EXPORT(pack_b)
void pack_b(const f32 *src, int K, int N, int rs, int cs, f32 *Bp) {
  const int panels = (N + NR - 1) / NR;
  const int full = N / NR;
  int q0 = 0;
  if (cs == 1 && full > 0) {
    /*
     * Row-major [K, N]: 8 contiguous floats per row and panel. Walk 16 rows at a time across all full panels:
     * the 16 source rows stay in cache and each panel receives a contiguous 512-byte run, where a panel-by-panel
     * walk would stride through all K rows (and TLB entries) once per panel.
     */
    for (int p0 = 0; p0 < K; p0 += 16) {
      const int pe = min_i(K, p0 + 16);
      for (int q = 0; q < full; q++) {
        f32 *dst = Bp + (long)q * K * NR + (long)p0 * NR;
        const f32 *s = src + (long)q * NR;
        for (int p = p0; p < pe; p++) {
          const f32 *row = s + (long)p * rs;
          wasm_v128_store(dst, wasm_v128_load(row));
          wasm_v128_store(dst + 4, wasm_v128_load(row + 4));
          dst += NR;
        }
      }
    }
    q0 = full;
  }
  for (int q = q0; q < panels; q++) {
    const int j0 = q * NR;
    const int nr = min_i(NR, N - j0);
    f32 *dst = Bp + (long)q * K * NR;
    const f32 *s = src + (long)j0 * cs;
    if (nr == NR && rs == 1) {
      /* [N, K] (x @ Wᵀ): 8 rows of W contiguous along K; transpose 4×4 blocks */
      int p = 0;
      for (; p + 4 <= K; p += 4) {
        for (int h = 0; h < 2; h++) {
          const f32 *r = s + (long)(4 * h) * cs + p;
          v128_t r0 = wasm_v128_load(r);
          v128_t r1 = wasm_v128_load(r + cs);
          v128_t r2 = wasm_v128_load(r + 2 * (long)cs);
          v128_t r3 = wasm_v128_load(r + 3 * (long)cs);
          v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5); /* r0[0] r1[0] r0[1] r1[1] */
          v128_t t1 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5);
          v128_t t2 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);
          v128_t t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
          wasm_v128_store(dst + 0 * NR + 4 * h, wasm_i64x2_shuffle(t0, t1, 0, 2));
          wasm_v128_store(dst + 1 * NR + 4 * h, wasm_i64x2_shuffle(t0, t1, 1, 3));
          wasm_v128_store(dst + 2 * NR + 4 * h, wasm_i64x2_shuffle(t2, t3, 0, 2));
          wasm_v128_store(dst + 3 * NR + 4 * h, wasm_i64x2_shuffle(t2, t3, 1, 3));
        }
        dst += 4 * NR;
      }
      for (; p < K; p++) {
        for (int c = 0; c < NR; c++) dst[c] = s[(long)c * cs + p];
        dst += NR;
      }
    } else {
      for (int p = 0; p < K; p++) {
        const f32 *row = s + (long)p * rs;
        int c = 0;
        for (; c < nr; c++) dst[c] = row[(long)c * cs];
        for (; c < NR; c++) dst[c] = 0.0f;
        dst += NR;
      }
    }
  }
}

/* dst[i·cols + j] <- src[i·rs + j·cs]: make a strided matrix contiguous (row-major). */
EXPORT(copy_2d)
void copy_2d(const f32 *src, int rows, int cols, int rs, int cs, f32 *dst) {
  for (int i = 0; i < rows; i++) {
    const f32 *s = src + (long)i * rs;
    f32 *d = dst + (long)i * cols;
    if (cs == 1) __builtin_memcpy(d, s, (unsigned long)cols * sizeof(f32));
    else for (int j = 0; j < cols; j++) d[j] = s[(long)j * cs];
  }
}

/* ---------------------------------------------------------------------------------------------------------- */
/* GEMM: C[i·ldc + j] = Σp A[i·lda + p] · B(p, j), B packed                                                   */

/* Store (first K block) or accumulate an 8-wide row of results; nr < 8 columns at the right edge. */
static inline void put_row(f32 *c, v128_t lo, v128_t hi, int acc, int nr) {
  if (nr == NR) {
    if (acc) {
      lo = wasm_f32x4_add(lo, wasm_v128_load(c));
      hi = wasm_f32x4_add(hi, wasm_v128_load(c + 4));
    }
    wasm_v128_store(c, lo);
    wasm_v128_store(c + 4, hi);
  } else {
    f32 t[NR] __attribute__((aligned(16)));
    wasm_v128_store(t, lo);
    wasm_v128_store(t + 4, hi);
    for (int j = 0; j < nr; j++) c[j] = acc ? c[j] + t[j] : t[j];
  }
}

/* 4×8 tile: 8 f32x4 accumulators; per k step 2 vector loads of B, 4 broadcast loads of A, 8 mul + 8 add. */
static void kernel_4x8(int kc, const f32 *A, int lda, const f32 *B, f32 *C, int ldc, int acc, int nr) {
  v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  const f32 *a0 = A, *a1 = A + lda, *a2 = A + 2 * (long)lda, *a3 = A + 3 * (long)lda;
  for (int p = 0; p < kc; p++) {
    const v128_t b0 = wasm_v128_load(B);
    const v128_t b1 = wasm_v128_load(B + 4);
    B += NR;
    v128_t a = wasm_v128_load32_splat(a0 + p);
    c00 = madd(c00, a, b0);
    c01 = madd(c01, a, b1);
    a = wasm_v128_load32_splat(a1 + p);
    c10 = madd(c10, a, b0);
    c11 = madd(c11, a, b1);
    a = wasm_v128_load32_splat(a2 + p);
    c20 = madd(c20, a, b0);
    c21 = madd(c21, a, b1);
    a = wasm_v128_load32_splat(a3 + p);
    c30 = madd(c30, a, b0);
    c31 = madd(c31, a, b1);
  }
  put_row(C, c00, c01, acc, nr);
  put_row(C + ldc, c10, c11, acc, nr);
  put_row(C + 2 * (long)ldc, c20, c21, acc, nr);
  put_row(C + 3 * (long)ldc, c30, c31, acc, nr);
}

/* 1×8 tile for the bottom rows (M mod 4); two accumulator pairs over even/odd k for latency. */
static void kernel_1x8(int kc, const f32 *A, const f32 *B, f32 *C, int acc, int nr) {
  v128_t c0 = wasm_f32x4_splat(0.0f), c1 = c0, d0 = c0, d1 = c0;
  int p = 0;
  for (; p + 2 <= kc; p += 2) {
    v128_t a = wasm_v128_load32_splat(A + p);
    c0 = madd(c0, a, wasm_v128_load(B));
    c1 = madd(c1, a, wasm_v128_load(B + 4));
    a = wasm_v128_load32_splat(A + p + 1);
    d0 = madd(d0, a, wasm_v128_load(B + NR));
    d1 = madd(d1, a, wasm_v128_load(B + NR + 4));
    B += 2 * NR;
  }
  if (p < kc) {
    v128_t a = wasm_v128_load32_splat(A + p);
    c0 = madd(c0, a, wasm_v128_load(B));
    c1 = madd(c1, a, wasm_v128_load(B + 4));
  }
  put_row(C, wasm_f32x4_add(c0, d0), wasm_f32x4_add(c1, d1), acc, nr);
}

/*
 * C (M×N, row stride ldc) = A (M×K, row stride lda, unit column stride) · B (packed panels of K×N).
 * Loop nest (BLIS order): K blocks of KC; row blocks of MC (an MC×KC block of A, 64 KiB, stays in L2);
 * 8-column panels (a KC×8 slice of packed B, 8 KiB, stays in L1); 4-row tiles.
 */
EXPORT(sgemm_packed)
void sgemm_packed(int M, int N, int K, const f32 *A, int lda, const f32 *Bp, f32 *C, int ldc) {
  const int panels = (N + NR - 1) / NR;
  if (K == 0) {
    for (int i = 0; i < M; i++) __builtin_memset(C + (long)i * ldc, 0, (unsigned long)N * sizeof(f32));
    return;
  }
  for (int pc = 0; pc < K; pc += KC) {
    const int kc = min_i(KC, K - pc);
    const int acc = pc > 0;
    for (int ic = 0; ic < M; ic += MC) {
      const int mc = min_i(MC, M - ic);
      for (int q = 0; q < panels; q++) {
        const f32 *B = Bp + (long)q * K * NR + (long)pc * NR;
        const int nr = min_i(NR, N - q * NR);
        f32 *Cq = C + q * NR;
        int ir = 0;
        for (; ir + MR <= mc; ir += MR) {
          const int i = ic + ir;
          kernel_4x8(kc, A + (long)i * lda + pc, lda, B, Cq + (long)i * ldc, ldc, acc, nr);
        }
        for (; ir < mc; ir++) {
          const int i = ic + ir;
          kernel_1x8(kc, A + (long)i * lda + pc, B, Cq + (long)i * ldc, acc, nr);
        }
      }
    }
  }
}

/* ---------------------------------------------------------------------------------------------------------- */
/* GEMV                                                                                                        */

static inline f32 hsum(v128_t v) {
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_f32x4_extract_lane(v, 0);
}

/*
 * y[j·ys] = Σp x[p] · W[j·ldw + p] (rows of W contiguous along K: nn.Linear's [N, K] weight read in place).
 * Four rows at a time share each x load; two accumulators per row over alternating 4-element groups.
 */
EXPORT(sgemv_rows)
void sgemv_rows(int N, int K, const f32 *x, const f32 *W, int ldw, f32 *y, int ys) {
  int j = 0;
  for (; j + 4 <= N; j += 4) {
    const f32 *w0 = W + (long)j * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
    v128_t t0 = wasm_f32x4_splat(0.0f), t1 = t0, t2 = t0, t3 = t0;
    f32 r0 = 0, r1 = 0, r2 = 0, r3 = 0;
    for (int pb = 0; pb < K; pb += KC) {
      const int pe = min_i(K, pb + KC);
      v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0, s2 = s0, s3 = s0, u0 = s0, u1 = s0, u2 = s0, u3 = s0;
      int p = pb;
      for (; p + 8 <= pe; p += 8) {
        const v128_t xa = wasm_v128_load(x + p), xb = wasm_v128_load(x + p + 4);
        s0 = madd(s0, xa, wasm_v128_load(w0 + p));
        s1 = madd(s1, xa, wasm_v128_load(w1 + p));
        s2 = madd(s2, xa, wasm_v128_load(w2 + p));
        s3 = madd(s3, xa, wasm_v128_load(w3 + p));
        u0 = madd(u0, xb, wasm_v128_load(w0 + p + 4));
        u1 = madd(u1, xb, wasm_v128_load(w1 + p + 4));
        u2 = madd(u2, xb, wasm_v128_load(w2 + p + 4));
        u3 = madd(u3, xb, wasm_v128_load(w3 + p + 4));
      }
      for (; p < pe; p++) {
        const f32 xv = x[p];
        r0 += xv * w0[p];
        r1 += xv * w1[p];
        r2 += xv * w2[p];
        r3 += xv * w3[p];
      }
      t0 = wasm_f32x4_add(t0, wasm_f32x4_add(s0, u0));
      t1 = wasm_f32x4_add(t1, wasm_f32x4_add(s1, u1));
      t2 = wasm_f32x4_add(t2, wasm_f32x4_add(s2, u2));
      t3 = wasm_f32x4_add(t3, wasm_f32x4_add(s3, u3));
    }
    y[(long)j * ys] = hsum(t0) + r0;
    y[(long)(j + 1) * ys] = hsum(t1) + r1;
    y[(long)(j + 2) * ys] = hsum(t2) + r2;
    y[(long)(j + 3) * ys] = hsum(t3) + r3;
  }
  for (; j < N; j++) {
    const f32 *w0 = W + (long)j * ldw;
    v128_t t = wasm_f32x4_splat(0.0f);
    f32 r = 0;
    for (int pb = 0; pb < K; pb += KC) {
      const int pe = min_i(K, pb + KC);
      v128_t s = wasm_f32x4_splat(0.0f);
      int p = pb;
      for (; p + 4 <= pe; p += 4) s = madd(s, wasm_v128_load(x + p), wasm_v128_load(w0 + p));
      for (; p < pe; p++) r += x[p] * w0[p];
      t = wasm_f32x4_add(t, s);
    }
    y[(long)j * ys] = hsum(t) + r;
  }
}

/*
 * y[j] = Σp x[p] · W[p·ldw + j] (row-major [K, N]: x @ W read in place). Sweeps four rows of W per pass
 * over a block accumulator `work` (N floats), which is added into y every KC rows.
 */
EXPORT(sgemv_cols)
void sgemv_cols(int N, int K, const f32 *x, const f32 *W, int ldw, f32 *y, f32 *work) {
  __builtin_memset(y, 0, (unsigned long)N * sizeof(f32));
  for (int pb = 0; pb < K; pb += KC) {
    const int pe = min_i(K, pb + KC);
    __builtin_memset(work, 0, (unsigned long)N * sizeof(f32));
    int p = pb;
    for (; p + 4 <= pe; p += 4) {
      const f32 *w0 = W + (long)p * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
      const v128_t x0 = wasm_f32x4_splat(x[p]), x1 = wasm_f32x4_splat(x[p + 1]);
      const v128_t x2 = wasm_f32x4_splat(x[p + 2]), x3 = wasm_f32x4_splat(x[p + 3]);
      int j = 0;
      for (; j + 4 <= N; j += 4) {
        v128_t s = wasm_f32x4_add(wasm_f32x4_mul(x0, wasm_v128_load(w0 + j)), wasm_f32x4_mul(x1, wasm_v128_load(w1 + j)));
        s = wasm_f32x4_add(s, wasm_f32x4_add(wasm_f32x4_mul(x2, wasm_v128_load(w2 + j)), wasm_f32x4_mul(x3, wasm_v128_load(w3 + j))));
        wasm_v128_store(work + j, wasm_f32x4_add(wasm_v128_load(work + j), s));
      }
      for (; j < N; j++) work[j] += (x[p] * w0[j] + x[p + 1] * w1[j]) + (x[p + 2] * w2[j] + x[p + 3] * w3[j]);
    }
    for (; p < pe; p++) {
      const f32 *w0 = W + (long)p * ldw;
      const v128_t xv = wasm_f32x4_splat(x[p]);
      int j = 0;
      for (; j + 4 <= N; j += 4) wasm_v128_store(work + j, madd(wasm_v128_load(work + j), xv, wasm_v128_load(w0 + j)));
      for (; j < N; j++) work[j] += x[p] * w0[j];
    }
    int j = 0;
    for (; j + 4 <= N; j += 4) wasm_v128_store(y + j, wasm_f32x4_add(wasm_v128_load(y + j), wasm_v128_load(work + j)));
    for (; j < N; j++) y[j] += work[j];
  }
}

/* One 8-column panel of packed B: y[0..nr) = Σp x[p] · B[p·8 + c]. */
static void gemv_panel(int K, const f32 *x, const f32 *B, f32 *y, int nr) {
  v128_t t0 = wasm_f32x4_splat(0.0f), t1 = t0;
  for (int pb = 0; pb < K; pb += KC) {
    const int pe = min_i(K, pb + KC);
    v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0, u0 = s0, u1 = s0;
    int p = pb;
    for (; p + 2 <= pe; p += 2) {
      const f32 *b = B + (long)p * NR;
      v128_t a = wasm_v128_load32_splat(x + p);
      s0 = madd(s0, a, wasm_v128_load(b));
      s1 = madd(s1, a, wasm_v128_load(b + 4));
      a = wasm_v128_load32_splat(x + p + 1);
      u0 = madd(u0, a, wasm_v128_load(b + NR));
      u1 = madd(u1, a, wasm_v128_load(b + NR + 4));
    }
    if (p < pe) {
      const f32 *b = B + (long)p * NR;
      const v128_t a = wasm_v128_load32_splat(x + p);
      s0 = madd(s0, a, wasm_v128_load(b));
      s1 = madd(s1, a, wasm_v128_load(b + 4));
    }
    t0 = wasm_f32x4_add(t0, wasm_f32x4_add(s0, u0));
    t1 = wasm_f32x4_add(t1, wasm_f32x4_add(s1, u1));
  }
  put_row(y, t0, t1, 0, nr);
}

/*
 * y[j] = Σp x[p] · B(p, j) with B packed (cached constant weights). Four panels at a time: four sequential
 * streams keep more memory requests in flight than one (8 GFLOP/s against 6 at 4096×4096 here), and each x
 * broadcast feeds 8 multiply-adds.
 */
EXPORT(sgemv_packed)
void sgemv_packed(int N, int K, const f32 *x, const f32 *Bp, f32 *y) {
  const int panels = (N + NR - 1) / NR;
  const long ps = (long)K * NR;
  int q = 0;
  for (; q + 4 <= panels; q += 4) {
    const f32 *B0 = Bp + q * ps, *B1 = B0 + ps, *B2 = B1 + ps, *B3 = B2 + ps;
    v128_t t0 = wasm_f32x4_splat(0.0f), t1 = t0, t2 = t0, t3 = t0, t4 = t0, t5 = t0, t6 = t0, t7 = t0;
    for (int pb = 0; pb < K; pb += KC) {
      const int pe = min_i(K, pb + KC);
      v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
      for (int p = pb; p < pe; p++) {
        const v128_t a = wasm_v128_load32_splat(x + p);
        const long o = (long)p * NR;
        s0 = madd(s0, a, wasm_v128_load(B0 + o));
        s1 = madd(s1, a, wasm_v128_load(B0 + o + 4));
        s2 = madd(s2, a, wasm_v128_load(B1 + o));
        s3 = madd(s3, a, wasm_v128_load(B1 + o + 4));
        s4 = madd(s4, a, wasm_v128_load(B2 + o));
        s5 = madd(s5, a, wasm_v128_load(B2 + o + 4));
        s6 = madd(s6, a, wasm_v128_load(B3 + o));
        s7 = madd(s7, a, wasm_v128_load(B3 + o + 4));
      }
      t0 = wasm_f32x4_add(t0, s0);
      t1 = wasm_f32x4_add(t1, s1);
      t2 = wasm_f32x4_add(t2, s2);
      t3 = wasm_f32x4_add(t3, s3);
      t4 = wasm_f32x4_add(t4, s4);
      t5 = wasm_f32x4_add(t5, s5);
      t6 = wasm_f32x4_add(t6, s6);
      t7 = wasm_f32x4_add(t7, s7);
    }
    f32 *yq = y + q * NR;
    put_row(yq, t0, t1, 0, NR);
    put_row(yq + NR, t2, t3, 0, NR);
    put_row(yq + 2 * NR, t4, t5, 0, NR);
    put_row(yq + 3 * NR, t6, t7, 0, min_i(NR, N - (q + 3) * NR));
  }
  for (; q < panels; q++) gemv_panel(K, x, Bp + q * ps, y + q * NR, min_i(NR, N - q * NR));
}

/* C[i·ldc + j] += bias[j] for i < M, j < N. */
EXPORT(add_bias)
void add_bias(f32 *C, int M, int N, int ldc, const f32 *bias) {
  for (int i = 0; i < M; i++) {
    f32 *c = C + (long)i * ldc;
    int j = 0;
    for (; j + 4 <= N; j += 4) wasm_v128_store(c + j, wasm_f32x4_add(wasm_v128_load(c + j), wasm_v128_load(bias + j)));
    for (; j < N; j++) c[j] += bias[j];
  }
}

/* The ABI version the TypeScript side checks, so a stale .wasm is reported instead of misused. */
EXPORT(opshift_gemm_abi)
int opshift_gemm_abi(void) { return 1; }
