/*
 * Internal types of the emulation library (not part of the ABI): the prepacked weight layouts and the table of
 * compute kernels, one implementation in portable C (npu_kern_portable.c) and one with AVX2 intrinsics
 * (npu_kern_avx2.c), chosen once per context at run time.
 *
 * Prepacked layouts (made by npu_gemm_create_*; NR = 16 output columns per panel, zero-padded past N):
 *   w8:  panel p, k-quad q: 64 bytes = columns 0..15, 4 consecutive k each (column-major quads), so one 32-byte
 *        load is 8 columns x 4 k, the operand of vpmaddubsw. K is padded to a multiple of 4 with zeros.
 *        -128 is stored as -127 and the difference is added back from a per-column list (see npu_emu.c): the
 *        AVX2 kernel multiplies |x| (u8) by sign(w, x) (s8), and -(-128) does not fit an int8.
 *   w4:  panel p, k-pair j: 16 bytes, byte c = q[2j][c] | q[2j+1][c] << 4; per (panel, group) 16 bf16-rounded
 *        scales and 16 values -z*s (exact), so w = fma(q, s, -z*s) is exact.
 *   f32/bf16: panel p: K rows of 16 floats (bf16 weights are stored as their float32 values).
 *   w4a8: panel p, k-octet o (k = 8o..8o+7): 64 bytes, columns 0..7 then 8..15 (32 bytes each); in a half, byte
 *        4c + i = q[8o+i][c] | q[8o+4+i][c] << 4 (i = 0..3). The low nibbles of a half are then 8 columns x 4
 *        consecutive k, the high nibbles the next 4 k: the operands of vpmaddubsw (and of vpdpbusd) against 4
 *        broadcast activation bytes, as the w8 quads are. Scales (float, bf16-rounded) and zero points (bytes) are
 *        separate [panel][group][16] arrays read once per group.
 */
#ifndef NPU_EMU_INTERNAL_H
#define NPU_EMU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define NPU_NR 16

typedef struct {
  /* int8: acc[r][c] (+)= sum_{k in [0, kq*4)} x[r][k] * w[k][c] for R rows; x rows are kq*4 bytes (padded),
   * panel points at the panel's quad 0 of the k range. add=0 stores, add=1 adds (host accumulation).
   * csum128[c] = 128 * sum of the panel's weights over the k range (used by the VNNI kernel, which multiplies
   * x + 128 as unsigned bytes and subtracts it). */
  void (*w8_block)(int R, const int8_t* x, int64_t ldx, const int8_t* panel, int64_t kq, const int32_t* csum128, int32_t* acc, int add);
  /* Two adjacent panels (the second at panel + pstride bytes, its csum128 right after the first's), R = rows:
   * accumulators of panel 0 at acc, of panel 1 at acc + NPU_MAXR * NPU_NR. NULL: one panel at a time. */
  void (*w8_block2)(int R, const int8_t* x, int64_t ldx, const int8_t* panel, int64_t pstride, int64_t kq, const int32_t* csum128, int32_t* acc,
                    int add);
  /* w4 for a few rows without a dequantized buffer, P consecutive panels at once (panel q's pairs at qp + q*qstride,
   * scales at s + q*sstride, accumulators at acc + q*astride): p = 0; for k in [0, kc): p += x[r][k] * w[k][c] (w
   * dequantized in registers as in w4_dequant; products exact); acc[r][c] += p. R <= 3, P <= w4p (R=2: w4p/2; R=3:
   * w4p/4). NULL: the caller uses w4_dequant + f_chunk. */
  void (*w4_rows)(int R, int P, const float* x, int64_t ldx, const uint8_t* qpairs, int64_t qstride, int64_t kc, const float* s, const float* nzs,
                  int64_t sstride, float* acc, int64_t astride);
  /* float chunk: p = 0; for k: p = p + x[r][k] * w[k][c] (fused multiply-add when `fused`, else the product is
   * rounded first); acc[r][c] = acc[r][c] + p. w is k-major, NR floats per k. */
  void (*f_chunk)(int R, const float* x, int64_t ldx, const float* w, int64_t kc, float* acc, int fused);
  /* f_chunk on two panels: the second's weights at w + wstride floats, its accumulators at acc + astride. NULL:
   * one panel at a time. */
  void (*f_chunk2)(int R, const float* x, int64_t ldx, const float* w, int64_t wstride, int64_t kc, float* acc, int64_t astride, int fused);
  /* w4 dequantization of k in [0, kc) (kc even) of one panel group: out[k][c] = fma(q, s[c], nzs[c]). */
  void (*w4_dequant)(const uint8_t* qpairs, int64_t kc, const float* s, const float* nzs, float* out);
  /* max |x| over n floats; NaN when any x is NaN (+Inf when one is infinite) */
  float (*absmax)(const float* x, int64_t n);
  /* xq[i] = clamp(rint(x[i] / scale), -128, 127) (RNE) */
  void (*quantize)(const float* x, int64_t n, float scale, int8_t* xq);
  /* f32 -> bf16 -> f32 (RNE, NaN -> quiet NaN) for n values */
  void (*round_bf16)(const float* x, int64_t n, float* out);
  /* w4a8: isum[g][r][c] = sum over the k of group g (G k each, ngroups groups from wq on) of xq[r][k] * q[k][c] for
   * one panel, R <= 4 rows (q without the zero point; the caller subtracts z * sum(xq)). wq: the panel's octets
   * (npu_emu_internal.h, w4a8 layout) of the first group; xq rows at ldx bytes. Integer sums: any order is exact. */
  void (*w4a8_panel)(int R, const int8_t* xq, int64_t ldx, const uint8_t* wq, int64_t ngroups, int64_t G, int32_t* isum);
  /* f32 with b unprepared, nk (1..4) consecutive k at once: for each i in [0, n), for r in 0..nk-1 in order:
   * acc[i] = acc[i] + round(x[r] * b[r * ldb + i]) (no FMA). The running sum of a column stays in a register
   * across the nk steps, the order of the rounded steps is that of one k at a time. */
  void (*f_axpy)(const float* x, int nk, const float* b, int64_t ldb, int64_t n, float* acc);
  const char* name;
  /* rows per w8_block / f_chunk call (at most NPU_MAXR): enough accumulators to hide the FMA/dot latency */
  int rows;
  /* the w8 kernel wants activation bytes stored as x ^ 0x80 (x + 128 as unsigned, for vpdpbusd) */
  int w8_flip;
  /* panels per w4_rows call for one row (two rows: half, three rows: a quarter; at most 8) */
  int w4p;
  /* Decode GEMV paths (issue #17): R rows (R * P <= NPU_GEMV_P) over P consecutive panels at once, their weights
   * read as P interleaved streams (a single sequential stream keeps too few misses in flight to read memory at a
   * core's rate), each column's arithmetic exactly as the one-panel entry. NULL: the one-panel entries.
   * w8_gemv: w8_block on panel q at panel + q * pstride bytes, csum128 + q * NPU_NR, acc + q * NPU_MAXR * NPU_NR.
   * f_gemv: f_chunk on panel q at w + q * wstride floats, acc + q * astride.
   * w4a8_gemv: a whole w4a8 K tile: for each of ngroups groups in order, acc[r][c] = acc[r][c] + float(isum - z[c] *
   * xsum[r]) * (xs[r] * s[c]) (float32 steps, no FMA), isum as w4a8_panel; per row r: xq + r * ldx, xs / xsum +
   * r * ldg (indexed by group); panel q: octets at wq + q * qstride bytes, s / z at + q * sstride elements (their
   * group 0 of the tile), acc + q * astride. */
  void (*w8_gemv)(int R, int P, const int8_t* x, int64_t ldx, const int8_t* panel, int64_t pstride, int64_t kq, const int32_t* csum128, int32_t* acc,
                  int add);
  void (*f_gemv)(int R, int P, const float* x, int64_t ldx, const float* w, int64_t wstride, int64_t kc, float* acc, int64_t astride, int fused);
  void (*w4a8_gemv)(int R, int P, const int8_t* xq, int64_t ldx, const float* xs, const int32_t* xsum, int64_t ldg, const uint8_t* wq, int64_t qstride,
                    const float* s, const uint8_t* z, int64_t sstride, int64_t ngroups, int64_t G, float* acc, int64_t astride);
} npu_kernels;

/* Panels x rows per *_gemv call: 4 streams for one row, 2 for two rows, 1 from three rows on (the register budget) */
#define NPU_GEMV_P 4

#define NPU_MAXR 8

extern const npu_kernels npu_kernels_portable;
/* NULL when the compiler could not build the AVX2 (or AVX-VNNI) variant. */
extern const npu_kernels* const npu_kernels_avx2_ptr;
extern const npu_kernels* const npu_kernels_vnni_ptr;
extern const npu_kernels* const npu_kernels_avx512_ptr;

/* Prefill GEMMs (npu_gemm_avx2.c, npu_gemm_avx512.c): whole contract runs for the panels [p0, p1) of one handle,
 * register-blocked over several rows, for M large enough that the weights are reused from cache. Chosen per context
 * next to the kernel table (NULL for the portable context: the f_chunk path is the reference they must match).
 *   f_gemm: f32/bf16. wf = the handle's panels (panel p at wf + p * K * NPU_NR), x M x K floats; per K tile of Kt
 *     p = sum_k x*w in k order (fused: FMA, allowed when the products are exact, i.e. bf16), tiles added in order,
 *     then bias (or NULL); out M x N float32, or bf16 bits when out_bf16.
 *   w4_gemm: w4abf16 on the w4 layout (q4 panel p at q4 + p * (K/2) * NPU_NR, scales/-z*s at [p][K/G][16]); x holds
 *     bf16 values; bias0 the bf16-rounded bias (N floats) or NULL; per tile acc = bias0 (tile 0) or 0, per group
 *     p = sum fma(x, w, p), acc += p; tiles added in order; out as f_gemm.
 * Both return 0, or -1 without computing anything when their scratch buffers cannot be allocated. */
typedef struct {
  int (*f_gemm)(const float* x, int64_t M, int64_t K, int64_t Kt, const float* wf, int64_t p0, int64_t p1, int64_t N, const float* bias, void* c,
                int out_bf16, int fused);
  int (*w4_gemm)(const float* x, int64_t M, int64_t K, int64_t Kt, int64_t G, const uint8_t* q4, const float* s4, const float* nzs4, int64_t p0,
                 int64_t p1, int64_t N, const float* bias0, void* c, int out_bf16);
  const char* name;
} npu_prefill_kernels;

/* NULL when the compiler could not build the variant. */
extern const npu_prefill_kernels* const npu_prefill_avx2_ptr;
extern const npu_prefill_kernels* const npu_prefill_avx512_ptr;

/* Packing from N x K rows (npu_gemm_create_*_t): 8 rows of w (row r at w + r * ldw elements, float32 or bf16 bits)
 * x k in [0, kv) (kv a multiple of 8) into dst[k * NPU_NR + r] (a panel's float rows, at the rows' first column),
 * widening bf16 exactly. NULL without AVX2; the caller packs everything else in scalar C. */
extern void (*const npu_pack_f8x8)(const void* w, int bf16, int64_t ldw, int64_t kv, float* dst);

/* w4 panels to floats, one group: out[k][c] = q[k][c] * s[c] + nzs[c] (exact in float32), k in [0, kc). The
 * decode kernel tables and the prefill GEMMs (npu_gemm_*.c) share these. */
void npu_w4_dequant_avx2(const uint8_t* qpairs, int64_t kc, const float* s, const float* nzs, float* out);
void npu_w4_dequant_avx512(const uint8_t* qpairs, int64_t kc, const float* s, const float* nzs, float* out);

/* ---- prepared-weight files (npu_cache.c): opshift_npu_emu.c owns struct npu_gemm and lends these ---- */
typedef struct npu_ctx npu_ctx;
typedef struct npu_gemm npu_gemm;
typedef struct {
  int32_t variant, group, w_bits;
  int64_t K, N;
} npu_gemm_shape_t;
/* One prepared buffer of a handle: the struct field holding it (so an import can point it into a mapping), its size. */
typedef struct {
  void** ptr;
  uint64_t bytes;
  const char* name;
} npu_part;
#define NPU_MAX_PARTS 8
/* Every buffer a run reads, in a fixed order per variant (the file format of npu_cache.c): a new prepared buffer
 * must be added there, or exported files would miss it. Returns the count. */
int npu_gemm_parts(npu_gemm* g, npu_part* parts);
void npu_gemm_shape(const npu_gemm* g, npu_gemm_shape_t* s);
/* A handle with its shape fields set and no buffers; npu_gemm_publish links it into ctx, npu_gemm_discard frees it. */
npu_gemm* npu_gemm_alloc(npu_ctx* ctx, const npu_gemm_shape_t* s);
void npu_gemm_publish(npu_ctx* ctx, npu_gemm* g);
void npu_gemm_discard(npu_gemm* g);
/* The buffers inside [map, map + bytes) are unmapped, not freed, by destroy. */
void npu_gemm_set_map(npu_gemm* g, void* map, size_t bytes);
void npu_gemm_unmap(npu_gemm* g);
/* check_shape of the create calls (NPU_OK or the status, with the message set). */
int npu_check_shape(const char* fn, const npu_gemm_shape_t* s);
/* Sets npu_last_error() and returns st. */
int32_t npu_fail(int32_t st, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

/* bf16 rounding of one float (RNE; NaN -> 0x7fc0), returned as the float32 value. */
static inline float npu_bf16_round(float f) {
  union {
    float f;
    uint32_t u;
  } v = {f};
  if ((v.u & 0x7fffffffu) > 0x7f800000u) {
    v.u = 0x7fc00000u;
    return v.f;
  }
  v.u = (v.u + 0x7fffu + ((v.u >> 16) & 1u)) & 0xffff0000u;
  return v.f;
}

static inline uint16_t npu_bf16_bits(float f) {
  union {
    float f;
    uint32_t u;
  } v = {npu_bf16_round(f)};
  return (uint16_t)(v.u >> 16);
}

static inline float npu_bf16_value(uint16_t b) {
  union {
    uint32_t u;
    float f;
  } v = {(uint32_t)b << 16};
  return v.f;
}

#endif
