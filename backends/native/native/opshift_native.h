/*
 * opshift native CPU kernels: the non-GEMM ops (attention, softmax, norms, rope, activations, elementwise) in C,
 * called through koffi by backends/native/ffi.ts. Plain C ABI: every kernel returns an nk_status (0 = ok) and
 * leaves a message in a thread-local buffer (nk_last_error) on failure. All tensors are float32 host buffers;
 * offsets and strides are in elements. The library keeps process-wide settings (ISA, threads) because the
 * kernels themselves are stateless.
 */
#ifndef OPSHIFT_NATIVE_H
#define OPSHIFT_NATIVE_H
#include <stdint.h>

/* 2: nk_silu_mul, nk_cast, nk_embedding */
#define OPSHIFT_NATIVE_ABI_VERSION 2

#define NK_OK 0
#define NK_E_ARG 1
#define NK_E_ISA 2
#define NK_E_NOMEM 3
#define NK_E_INDEX 4

/* Instruction-set variants; NK_ISA_BEST selects the best the CPU has. */
#define NK_ISA_BEST (-1)
#define NK_ISA_PORTABLE 0
#define NK_ISA_AVX2 1
#define NK_ISA_AVX512 2

/* Unary ops. */
#define NK_SILU 0
#define NK_GELU_ERF 1
#define NK_GELU_TANH 2
#define NK_RELU 3

/* Binary ops. */
#define NK_ADD 0
#define NK_SUB 1
#define NK_MUL 2
#define NK_DIV 3

/* Float formats of nk_cast. */
#define NK_F32 0
#define NK_F16 1
#define NK_BF16 2

/* Attention masks. */
#define NK_MASK_NONE 0
#define NK_MASK_BOOL 1
#define NK_MASK_FLOAT 2

#ifdef __cplusplus
extern "C" {
#endif

uint32_t nk_abi_version(void);
const char* nk_last_error(void);
/* Whether this CPU (and this build) can run `isa`: 1 yes, 0 no. */
int32_t nk_isa_supported(int32_t isa);
/* Select the kernels; NK_E_ISA when the CPU lacks the ISA. */
int32_t nk_set_isa(int32_t isa);
const char* nk_isa_name(void);
/* 1..16 threads (the calling thread plus n-1 workers, started on first need). */
int32_t nk_set_threads(int32_t n);
int32_t nk_threads(void);

/*
 * Scaled dot-product attention over `nbatch` (batch x head) items, one call per layer. Item b reads q at
 * q + q_off[b] (rows of L, stride qsL; embed stride qsE), k at k + k_off[b] (S rows, ksS, ksE), v likewise, and
 * writes out[(b*L + i)*Ev + e]. GQA is expressed by k_off/v_off pointing several items at the same key/value
 * head (nothing is repeated). causal != 0: key j is visible to query i iff j <= i + causal_offset. mask_kind
 * NK_MASK_BOOL (uint8, 0 = masked) or NK_MASK_FLOAT (additive float32) at mask + m_off[b] + i*msL + j*msS.
 * A row with no visible key is NaN, as in PyTorch's math reference.
 */
int32_t nk_attention(const float* q, const int32_t* q_off, int64_t qsL, int64_t qsE, const float* k, const int32_t* k_off, int64_t ksS,
                     int64_t ksE, const float* v, const int32_t* v_off, int64_t vsS, int64_t vsE, const void* mask, int32_t mask_kind,
                     const int32_t* m_off, int64_t msL, int64_t msS, float* out, int64_t nbatch, int64_t L, int64_t S, int64_t E, int64_t Ev,
                     float scale, int32_t causal, int64_t causal_offset);

/* Row ops over `rows` contiguous rows of n floats. */
int32_t nk_softmax(const float* x, float* y, int64_t rows, int64_t n, int32_t log);
int32_t nk_rms_norm(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps);
int32_t nk_layer_norm(const float* x, const float* w, const float* b, float* y, int64_t rows, int64_t n, float eps);
/*
 * Rotate-half rope over `rows` rows of d floats; output row r is contiguous, input row r starts at x + x_rows[r]
 * (or x + r·d when x_rows is NULL: the head/sequence transposes models make stay views), and uses cos/sin row
 * (r % table_rows) (tables broadcast over the leading dims).
 */
int32_t nk_rope(const float* x, const int32_t* x_rows, const float* cos, const float* sin, float* y, int64_t rows, int64_t d, int64_t table_rows);
int32_t nk_unary(int32_t op, const float* x, float* y, int64_t n);
/* y[i] = a[i] op b[i % b_period]: b_period == n is elementwise, the row length is row broadcast, 1 a scalar. */
int32_t nk_binary(int32_t op, const float* a, const float* b, float* y, int64_t n, int64_t b_period);
/*
 * y[r][i] = silu(a[r][i])·b[r][i] (Llama's MLP gate) over rows × n: a's and b's rows lda and ldb apart (a fused
 * gate_up projection gives column slices), y packed; silu rounded to float32, then the float32 product.
 */
int32_t nk_silu_mul(const float* a, int64_t lda, const float* b, int64_t ldb, float* y, int64_t rows, int64_t n);
/*
 * n contiguous elements from one float format to another (NK_F32, NK_F16, NK_BF16; 16-bit formats as their bit
 * patterns), round to nearest even, subnormals and ±inf exact. NaN: float16 gets sign|0x7e00, float32 from
 * float16 keeps sign and payload (quieted), bfloat16 gets `bf16_nan` (PyTorch writes 0x7fc0 or 0xffff
 * depending on its loop: see backends/cpu/bf16_nan.ts), float32 from bfloat16 is the pattern shifted.
 */
int32_t nk_cast(const void* src, int32_t from, void* dst, int32_t to, int64_t n, uint32_t bf16_nan);
/*
 * out[i] = weight row indices[i] for n indices (int32, or int64 when idx64): rows of dim elements of elem_bytes
 * (2 or 4: any 16- or 32-bit format, copied bit for bit), ld elements apart. An index outside [0, num) is
 * NK_E_INDEX naming it and its position, checked before anything is written.
 */
int32_t nk_embedding(const void* weight, int64_t elem_bytes, int64_t num, int64_t dim, int64_t ld, const void* indices, int32_t idx64, int64_t n,
                     void* out);

/*
 * dst[view] = src[view] for float32 (or any 4-byte element, copied bit for bit) views of `ndim` dims (≤ 8):
 * element (i0, …) is src[Σ i_d·src_strides[d]] and dst[Σ i_d·dst_strides[d]]; a 0 source stride broadcasts.
 * The views must not overlap (the caller stages aliasing copies). This is the KV-cache append: copy_ into a
 * narrow of the cache.
 */
int32_t nk_copy_strided(const float* src, const int32_t* src_strides, float* dst, const int32_t* dst_strides, const int32_t* shape, int32_t ndim);

#ifdef __cplusplus
}
#endif
#endif
