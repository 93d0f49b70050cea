/*
 * opshift NPU ABI: a plain C interface to a GEMM library with the numerics of AMD Ryzen AI's eager mode
 * (../../../README.md "NPU backend", backends/npu/README.md, ../shared/RYZENAI_NOTES.md §1.2, §2 and the ABI
 * proposal at its end).
 *
 * Two implementations are meant to sit behind it:
 *   - libopshift_npu_emu.so (opshift_npu_emu.c, shipped): runs the NPU's arithmetic on the CPU, bit for bit;
 *   - a hardware library (Ryzen AI / XRT) exporting the same symbols, chosen with OPSHIFT_NPU_LIB.
 *
 * Conventions
 *   - Every call that can fail returns an npu_status (0 = NPU_OK). On failure, npu_last_error() returns a
 *     message naming the call, the shapes/variant and the cause. The message is thread-local and valid until
 *     the next failing call on the same thread. No C++ exception or longjmp ever crosses this boundary.
 *   - Shapes are the true shapes; the library owns zero-padding to its kernel tiles, tiling, the choice of the
 *     instruction-stream variant by M, and the accumulation over K tiles on the host.
 *   - Weights are K x N ROW-MAJOR (already transposed from torch's [N, K] nn.Linear layout), as AMD's
 *     qlinear_2::initialize_weights takes them; the optional npu_gemm_create_*_t entries (below) also take the
 *     [N, K] layout. Activations are M x K row-major, outputs M x N row-major.
 *   - Create copies: after npu_gemm_create_* returns, the library owns a formatted copy of the weights; the
 *     caller may free its arrays at once. Run borrows: a/x/c/y are only read/written during the call and are
 *     fully overwritten (never accumulated into).
 *   - One handle is never run concurrently with itself; runs on one context are serialized (a second
 *     concurrent run on the same context returns NPU_E_BUSY rather than blocking).
 *   - npu_ctx_destroy destroys every gemm still alive on that context; their handles are invalid afterwards.
 *
 * Numerics contract (what "bit-exact" means in the tests):
 *   bf16(f)  = round to nearest even of the float32 bits (i += 0x7fff + ((i >> 16) & 1), then >> 16);
 *              NaN maps to the quiet NaN 0x7fc0.
 *   w8a8:    c[m][n] = sum_k a[m][k] * w[k][n] in int32 (exact; the library rejects K that could overflow).
 *            Float entry: x_scale = max|x| / 128 over the whole M x K call (1 when that is 0); when any x is
            NaN or +-Inf, x_scale is undefined: every y is NaN (bias or not) and x_scale is reported as NaN;
 *            xq = clamp(round_half_even(x / x_scale), -128, 127) (float32 division);
 *            y = float(acc) * float(x_scale * w_scale[n]) + bias[n], each step a float32 operation, no FMA.
 *   w4abf16: w[k][n] = (q[k][n] - z[g][n]) * bf16(scale[g][n]) with g = k / group (exact in float32);
 *            per kernel K tile t (the tile sizes are in npu_query's padded_K and below):
 *              acc_t = (t == 0 ? bf16(bias[n]) : 0);
 *              for each group g in the tile, in order:  p = 0; for k in g, in order: p = p + bf16(x[m][k]) * w[k][n];
 *                                                        acc_t = acc_t + p;
 *            then on the host y = acc_0 + acc_1 + ... (float32, in tile order), rounded to bf16 if asked.
 *            Each product bf16(x) * w is exact in float32 (8 + 12 significant bits), so only the sums round,
 *            in exactly this order; fused or unfused multiply-add give the same bits.
 *   f32:     per K tile t: acc_t = 0; for k in order: acc_t = acc_t + round_f32(a[m][k] * w[k][n]) (no FMA);
 *            y = acc_0 + acc_1 + ... + bias[n].
 *   bf16:    as f32 with bf16 operands (products exact, so fused == unfused); output float32 or bf16.
 *   w4a8 (ABI 2; opshift's decode variant, not an AMD design): the weights of w4abf16, activations quantized per
 *            row and weight group: xs = max|x[m][g]| / 127 (1 when that is 0), xq = clamp(round_half_even(x / xs),
 *            -127, 127) (float32 division); per K tile t (the bf16/w4 tiles): acc_t = (t == 0 ? bf16(bias[n]) : 0);
 *            for each group g in the tile, in order: i = sum_k xq[m][k] * (q[k][n] - z[g][n]) (int32, exact);
 *            d = xs[m][g] * bf16(scale[g][n]); acc_t = acc_t + float(i) * d (each a float32 operation, no FMA);
 *            y = acc_0 + acc_1 + ... . The integer sums are exact, so every kernel order gives the same bits.
 *            A row with a NaN or +-Inf activation has every output NaN (its group scale is undefined).
 *   f32 with an unprepared right operand (npu_matmul_f32, ABI 2): exactly the f32 arithmetic above (the tiles of
 *            npu_query(NPU_F32, M, K, N)), reading b as given: no prepared copy is made.
 *   Kernel tiles (K x N), zero-padded, from AMD's set_kernel_shapes_kn: int8 2048x2048, 2048x8192, 8192x2048;
 *   bf16/w4 4096x4096, 11264x4096 (the 11008 kernel, padded), 4096x12288, 4096x32768. The tile with the least
 *   padded work is used (ties: fewer tiles). M is processed in chunks of M_max (64 for int8, 32 for bf16) with
 *   the instruction-stream variant 1/8/16/32/64 (int8) or 1/8/32 (bf16) that covers the chunk.
 */
#ifndef OPSHIFT_NPU_H
#define OPSHIFT_NPU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of a signature, struct or enum below. The TS side refuses other values. */
#define OPSHIFT_NPU_ABI_VERSION 2

#if defined(_WIN32)
#define NPU_API __declspec(dllexport)
#else
#define NPU_API __attribute__((visibility("default")))
#endif

typedef struct npu_ctx npu_ctx;   /* opaque: device + design (xclbin/hw_context) + instruction registry */
typedef struct npu_gemm npu_gemm; /* opaque: one prepared (formatted, padded, device-resident) weight */

typedef int32_t npu_status;
enum {
  NPU_OK = 0,
  NPU_E_ARG = 1,         /* a bad argument (null pointer, bad shape, bad enum) */
  NPU_E_UNSUPPORTED = 2, /* no kernel for this variant / shape / group size */
  NPU_E_NODEV = 3,       /* no such device, or the device/driver could not be opened */
  NPU_E_NOFILE = 4,      /* an artifact (xclbin, instruction stream) is missing */
  NPU_E_XRT = 5,         /* the runtime/driver failed a call */
  NPU_E_OOM = 6,
  NPU_E_BUSY = 7,        /* the context is running another call */
  NPU_E_INTERNAL = 8
};

/* GEMM variants (AMD's dtype triples). */
enum {
  NPU_W8A8 = 1,    /* int8 x int8 -> int32 */
  NPU_W8A16 = 2,   /* int16 x int8 -> int64 (STX only; the emulation reports it unsupported) */
  NPU_W4ABF16 = 3, /* bf16 x uint4 (per-group bf16 scales, uint4 zero points) -> fp32 accumulate */
  NPU_F32 = 4,     /* float32 x float32 -> float32 */
  NPU_BF16 = 5,    /* bf16 x bf16 -> fp32 accumulate */
  NPU_W4A8 = 6     /* int8 x uint4 (per-group int8 activations, integer dot products) -> fp32 accumulate (ABI 2) */
};

/* Element types of activations and outputs. */
enum { NPU_DT_F32 = 0, NPU_DT_BF16 = 1, NPU_DT_I32 = 2, NPU_DT_I64 = 3, NPU_DT_I8 = 4 };

/* Context flags. */
enum {
  NPU_F_EMULATE = 1u,      /* run the NPU arithmetic on the CPU (the emulation library always does) */
  NPU_F_PROFILE = 2u,      /* fill per-handle timings (calls and runs are always counted) */
  NPU_F_PORTABLE = 4u,     /* emulation: use the portable C kernels even where AVX2 is available */
  NPU_F_NO_VNNI = 8u,      /* emulation: no AVX-VNNI int8 kernels (plain AVX2) even where available */
  NPU_F_NO_AVX512 = 16u,   /* emulation: no AVX-512 kernels even where available */
  NPU_F_TEST_FAIL = 1u << 30 /* test only: every run on this context fails with NPU_E_XRT and a message */
};

typedef struct {
  uint32_t struct_size;     /* sizeof(npu_ctx_desc): lets the struct grow without breaking older callers */
  const char* artifact_dir; /* xclbins + instruction streams; NULL or "" = none needed (emulation) */
  const char* device;       /* "auto" | "phx" | "stx" | "emu"; NULL = "auto" */
  uint32_t flags;           /* NPU_F_* */
  const char* log_path;     /* optional per-call log (NULL = none) */
  int32_t threads;          /* host threads for the emulation / host accumulation; 0 = library default */
} npu_ctx_desc;

typedef struct {
  uint32_t struct_size; /* sizeof(npu_stats), set by the caller */
  uint32_t reserved;
  double ms_copy_in;  /* formatting/padding/quantizing activations into the input buffers */
  double ms_sync_in;  /* host -> device syncs (0 in the emulation: host memory) */
  double ms_run;      /* kernel runs */
  double ms_sync_out; /* device -> host syncs */
  double ms_host_acc; /* accumulating K tiles and dequantizing on the host */
  uint64_t runs;      /* kernel launches (M chunks x N tiles x K tiles) */
  uint64_t calls;     /* npu_gemm_run_* calls */
} npu_stats;

/* ---- library and context ---- */
NPU_API uint32_t npu_abi_version(void);
/* A short static description of the implementation, e.g. "opshift-npu-emu 0.1 (emulation)". */
NPU_API const char* npu_impl_name(void);
/* Thread-local text of the last failure on this thread ("" if none). */
NPU_API const char* npu_last_error(void);

NPU_API npu_status npu_ctx_create(const npu_ctx_desc* desc, npu_ctx** out);
NPU_API void npu_ctx_destroy(npu_ctx* ctx);
/* "key=value key=value ..." (device, design, isa, threads, flags); valid while ctx lives. */
NPU_API const char* npu_ctx_describe(npu_ctx* ctx);

/*
 * Capability query, for the dispatcher before it routes a call: *supported = 1 when a kernel exists for the
 * variant and shape (M may be anything), with the padded K and N the library will use. When *supported = 0 the
 * status is still NPU_OK and npu_last_error() holds the reason. group is the w4 group size (ignored otherwise).
 */
NPU_API npu_status npu_query(npu_ctx* ctx, int32_t variant, int64_t M, int64_t K, int64_t N, int32_t group,
                             int32_t* supported, int64_t* padded_K, int64_t* padded_N);

/* ---- w8a8 ---- */
/* w: K x N int8 row-major. */
NPU_API npu_status npu_gemm_create_w8(npu_ctx* ctx, int32_t variant, const int8_t* w, int64_t K, int64_t N,
                                      npu_gemm** out);
/* a: M x K int8; c: M x N int32 raw accumulators. */
NPU_API npu_status npu_gemm_run_w8(npu_gemm* g, const int8_t* a, int64_t M, int32_t* c);
/*
 * Float convenience entry (AMD's QLinear.forward): dynamic per-tensor activation quantization, the int8 GEMM,
 * dequantization and bias, as in the numerics contract. w_scale has n_scales = 1 (per tensor) or N (per output
 * channel) entries; bias is N floats or NULL; y is M x N float32; *x_scale_out (may be NULL) gets x_scale.
 */
NPU_API npu_status npu_gemm_run_w8_f32(npu_gemm* g, const float* x, int64_t M, const float* w_scale, int64_t n_scales,
                                       const float* bias, float* y, float* x_scale_out);

/* ---- w4abf16 ---- */
/*
 * q: K x N, one value per byte (0..15; 0..7 for w_bits 3); zeros: (K/group) x N one value per byte, or NULL for
 * the symmetric zero point 2^(w_bits-1); scales: (K/group) x N float32 (rounded to bf16 by the library, as the
 * hardware stores them); bias: N float32 (stored as bf16) or NULL. group: 32, 64 or 128; K % group == 0.
 */
NPU_API npu_status npu_gemm_create_w4(npu_ctx* ctx, const uint8_t* q, const uint8_t* zeros, const float* scales,
                                      const float* bias, int64_t K, int64_t N, int32_t group, int32_t w_bits,
                                      npu_gemm** out);
/* a: M x K, a_dtype NPU_DT_BF16 (uint16 bit patterns) or NPU_DT_F32 (rounded to bf16 by the library);
 * c: M x N, out_dtype NPU_DT_F32 or NPU_DT_BF16 (RNE). */
NPU_API npu_status npu_gemm_run_w4(npu_gemm* g, const void* a, int32_t a_dtype, int64_t M, void* c, int32_t out_dtype);

/* ---- f32 / bf16 GEMM ---- */
/* variant NPU_F32 (w float32) or NPU_BF16 (w bf16 bit patterns); w: K x N. */
NPU_API npu_status npu_gemm_create_f(npu_ctx* ctx, int32_t variant, const void* w, int64_t K, int64_t N, npu_gemm** out);
/* a: M x K of the gemm's element type (a_dtype must match it); bias: N float32 or NULL, added after the K-tile
 * accumulation; c: M x N, out_dtype NPU_DT_F32 or NPU_DT_BF16 (RNE). */
NPU_API npu_status npu_gemm_run_f(npu_gemm* g, const void* a, int32_t a_dtype, int64_t M, const float* bias, void* c,
                                  int32_t out_dtype);

/* ---- w4a8 (ABI 2) ---- */
/* Same inputs as npu_gemm_create_w4 (w_bits 4). The handle runs with npu_gemm_run_w4a8 only. */
NPU_API npu_status npu_gemm_create_w4a8(npu_ctx* ctx, const uint8_t* q, const uint8_t* zeros, const float* scales, const float* bias,
                                        int64_t K, int64_t N, int32_t group, npu_gemm** out);
/* x: M x K float32; y: M x N float32. */
NPU_API npu_status npu_gemm_run_w4a8(npu_gemm* g, const float* x, int64_t M, float* y);

/* ---- f32 GEMM with an unprepared right operand (ABI 2) ---- */
/*
 * c (M x N) = a (M x K) * b (K x N row-major, read in place) + bias (N or NULL), with the f32 arithmetic of the
 * contract. For right operands that change every call (activations x activations, weights not marked constant):
 * nothing is prepared or copied; the kernel streams b's rows once per call (per row block of a).
 */
NPU_API npu_status npu_matmul_f32(npu_ctx* ctx, const float* a, int64_t M, int64_t K, const float* b, int64_t N, const float* bias, float* c);

/* ---- prepared weights straight from nn.Linear's layout (ABI 2, optional entries) ---- */
/*
 * A library may lack these three: opshift then transposes on the host and calls the K x N entries above. Each
 * prepares exactly the handle the K x N entry would make from the transposed weights (same runs, same bits).
 *
 * f32/bf16: w is K x N (transposed = 0) or N x K (transposed = 1, nn.Linear) row-major, w_dtype NPU_DT_F32 or
 * NPU_DT_BF16 (bit patterns). An NPU_F32 gemm takes either (bf16 weights are widened exactly, inside the library);
 * an NPU_BF16 gemm takes bf16 only.
 */
NPU_API npu_status npu_gemm_create_f_t(npu_ctx* ctx, int32_t variant, const void* w, int32_t w_dtype, int32_t transposed, int64_t K, int64_t N,
                                       npu_gemm** out);
/* w8a8: w is K x N (transposed = 0, as npu_gemm_create_w8) or N x K (transposed = 1) int8. */
NPU_API npu_status npu_gemm_create_w8_t(npu_ctx* ctx, int32_t variant, const int8_t* w, int32_t transposed, int64_t K, int64_t N, npu_gemm** out);
/*
 * w4abf16 (variant NPU_W4ABF16, w_bits 3 or 4; run with npu_gemm_run_w4) or w4a8 (NPU_W4A8, w_bits 4; run with
 * npu_gemm_run_w4a8) from MatMulNBits' layout: qpacked N x K/2 bytes, byte j of row n = q[n][2j] | q[n][2j+1] << 4;
 * zeros N x (K/group) one value a byte, or NULL (symmetric); scales N x (K/group) float32 (stored bf16-rounded);
 * bias N float32 or NULL. Same arithmetic as npu_gemm_create_w4 / _w4a8 with the transposed inputs.
 */
NPU_API npu_status npu_gemm_create_w4_t(npu_ctx* ctx, int32_t variant, const uint8_t* qpacked, const uint8_t* zeros, const float* scales,
                                        const float* bias, int64_t K, int64_t N, int32_t group, int32_t w_bits, npu_gemm** out);

/* ---- prepared-weight files (ABI 2, optional entries; npu_cache.c) ---- */
/*
 * A library may lack these two: opshift then prepares every weight (no on-disk cache of prepared weights).
 * npu_gemm_export writes the handle's prepared form (variant, shape, group, w_bits and every buffer a run reads)
 * to `path` atomically (a temporary file in the same directory, then rename). npu_gemm_import maps such a file
 * read-only (pages shared with the page cache, resident only once touched) and returns a handle that runs exactly
 * as the exported one did (same bits); destroying it unmaps the file. The file must have been written by the same
 * library (npu_impl_name) on a machine of the same byte order and hold the expected variant, K, N and, for w4
 * variants, group and w_bits (ignored otherwise); anything else -- a missing file (NPU_E_NOFILE), a truncated,
 * corrupt or foreign file, other shapes (NPU_E_ARG) -- fails with npu_last_error() naming the file and the rule.
 */
NPU_API npu_status npu_gemm_export(npu_gemm* g, const char* path);
NPU_API npu_status npu_gemm_import(npu_ctx* ctx, const char* path, int32_t variant, int64_t K, int64_t N, int32_t group, int32_t w_bits,
                                   npu_gemm** out);

/* ---- handles ---- */
NPU_API npu_status npu_gemm_stats(npu_gemm* g, npu_stats* out, int32_t reset);
NPU_API void npu_gemm_destroy(npu_gemm* g);

#ifdef __cplusplus
}
#endif
#endif /* OPSHIFT_NPU_H */
