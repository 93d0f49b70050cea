/* What the per-ISA kernel units (nk_portable.c, nk_avx2.c, nk_avx512.c) share with the dispatcher (nk_core.c). */
#ifndef NK_INTERNAL_H
#define NK_INTERNAL_H
#include <stdint.h>
#include "opshift_native.h"

typedef struct {
  const float *q, *k, *v;
  const int32_t *q_off, *k_off, *v_off, *m_off;
  int64_t qsL, qsE, ksS, ksE, vsS, vsE, msL, msS;
  const void* mask;
  int32_t mask_kind;
  float* out;
  int64_t nbatch, L, S, E, Ev;
  float scale;
  int32_t causal;
  int64_t causal_offset;
} nk_attn_args;

/*
 * Query rows per attention work unit: the rows that share each key/value load. Prefill units are 6 rows: the
 * Q·Kᵀ and P·V micro-kernels then keep 6 × 2 vector accumulators (12 independent FMA chains, enough to cover an
 * FMA's latency on two pipes, and 15 of AVX2's 16 registers with the two loads and the broadcast). Decode with
 * grouped query heads takes up to 8 rows (one unit per key/value head of TinyLlama's 8-head groups), so each
 * cached K/V head is read once per call.
 */
#define NK_ATTN_ROWS 8
#define NK_ATTN_PREFILL_ROWS 6

/*
 * One ISA's kernels. Each works on a range of rows/elements so nk_core.c can split a call across threads;
 * `scratch` is per-thread memory of at least nk_attn_scratch(S, E, Ev) floats.
 */
typedef struct {
  const char* name;
  void (*attention)(const nk_attn_args* a, int64_t unit0, int64_t unit1, int64_t stride, float* scratch);
  void (*softmax)(const float* x, float* y, int64_t n, int64_t r0, int64_t r1, int32_t log);
  void (*rms_norm)(const float* x, const float* w, float* y, int64_t n, float eps, int64_t r0, int64_t r1);
  void (*layer_norm)(const float* x, const float* w, const float* b, float* y, int64_t n, float eps, int64_t r0, int64_t r1);
  void (*rope)(const float* x, const int32_t* x_rows, const float* c, const float* s, float* y, int64_t d, int64_t table_rows, int64_t r0, int64_t r1);
  void (*unary)(int32_t op, const float* x, float* y, int64_t i0, int64_t i1);
  void (*binary)(int32_t op, const float* a, const float* b, float* y, int64_t period, int64_t i0, int64_t i1);
  void (*silu_mul)(const float* a, int64_t lda, const float* b, int64_t ldb, float* y, int64_t n, int64_t r0, int64_t r1);
  void (*cast)(int32_t from, int32_t to, const void* src, void* dst, uint16_t bf16_nan, int64_t i0, int64_t i1);
} nk_kernels;

/* Keys are padded to a multiple of this (two vectors of the widest ISA) in the transposed K and the score rows. */
#define NK_KEY_PAD 32
/* Prefill (at least this many query rows) computes Q·Kᵀ from a transposed copy of K, packed once per key head. */
#define NK_QK_T_MIN_ROWS 16

static inline int64_t nk_key_pad(int64_t S) { return (S + NK_KEY_PAD - 1) / NK_KEY_PAD * NK_KEY_PAD; }

/* Rows per work unit for L query rows (nk_core.c counts units with it, the kernels walk them). */
static inline int64_t nk_attn_unit_rows(int64_t L) { return L >= NK_QK_T_MIN_ROWS ? NK_ATTN_PREFILL_ROWS : NK_ATTN_ROWS; }

static inline int64_t nk_attn_scratch(int64_t S, int64_t E, int64_t Ev) {
  /* scores for NK_ATTN_ROWS rows, the packed query rows, packed K and V when their inner stride is not 1,
   * and the transposed K */
  const int64_t w = E > Ev ? E : Ev, Sp = nk_key_pad(S);
  return NK_ATTN_ROWS * Sp + NK_ATTN_ROWS * w + 16 + S * E + S * Ev + E * Sp + 64;
}

extern const nk_kernels nk_kernels_portable;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NK_X86 1
extern const nk_kernels nk_kernels_avx2;
extern const nk_kernels nk_kernels_avx512;
#endif
#endif
