/*
 * The exported surface of opshift_native.h: argument checks, ISA selection, and a small persistent thread pool
 * that splits one call's rows (or attention work units) across the configured threads.
 *
 * Threads: the calling thread always works; n-1 workers are started on first need and sleep on a condition
 * variable between calls. Calls are synchronous, so the pool's threads only run while a native kernel runs and
 * never overlap a GEMM backend's threads (which run in their own synchronous calls). A call that finds the pool
 * busy (another JS thread, e.g. the server's worker, is inside the library) runs single-threaded instead of
 * waiting. Small calls stay on the calling thread: waking a worker costs more than the work.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nk_internal.h"

#define NK_API __attribute__((visibility("default")))
#define NK_MAX_THREADS 16
/* Elements (or attention multiply-adds) below which a call stays on one thread. */
#define NK_PAR_MIN_ELEMS (1 << 16)
#define NK_PAR_MIN_FLOPS (1 << 18)

static __thread char last_error[512];

static int fail(int code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return code;
}

NK_API uint32_t nk_abi_version(void) { return OPSHIFT_NATIVE_ABI_VERSION; }
NK_API const char* nk_last_error(void) { return last_error; }

/* ---- ISA ---- */

static const nk_kernels* current;

NK_API int32_t nk_isa_supported(int32_t isa) {
  switch (isa) {
    case NK_ISA_PORTABLE: return 1;
#ifdef NK_X86
    case NK_ISA_AVX2:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case NK_ISA_AVX512:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
#endif
    default: return 0;
  }
}

static const nk_kernels* table_of(int32_t isa) {
#ifdef NK_X86
  if (isa == NK_ISA_AVX512) return &nk_kernels_avx512;
  if (isa == NK_ISA_AVX2) return &nk_kernels_avx2;
#endif
  (void)isa;
  return &nk_kernels_portable;
}

static const nk_kernels* kernels(void) {
  if (!current) nk_set_isa(NK_ISA_BEST);
  return current;
}

NK_API int32_t nk_set_isa(int32_t isa) {
  if (isa == NK_ISA_BEST) {
    isa = nk_isa_supported(NK_ISA_AVX512) ? NK_ISA_AVX512 : nk_isa_supported(NK_ISA_AVX2) ? NK_ISA_AVX2 : NK_ISA_PORTABLE;
  } else if (isa < NK_ISA_PORTABLE || isa > NK_ISA_AVX512) {
    return fail(NK_E_ARG, "nk_set_isa: unknown ISA %d (0 portable, 1 avx2, 2 avx512, -1 best)", isa);
  } else if (!nk_isa_supported(isa)) {
    return fail(NK_E_ISA, "nk_set_isa: this CPU (or this build) cannot run the %s kernels", table_of(isa)->name);
  }
  current = table_of(isa);
  return NK_OK;
}

NK_API const char* nk_isa_name(void) { return kernels()->name; }

/* ---- threads ---- */

typedef void (*job_fn)(void* ctx, int tid, int nthreads);

static int n_threads = 1;
static int n_workers;
static pthread_t workers[NK_MAX_THREADS];
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_start = PTHREAD_COND_INITIALIZER;
static pthread_cond_t pool_done = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t call_mu = PTHREAD_MUTEX_INITIALIZER; /* one parallel call at a time */
static uint64_t generation;
static int pending;
static job_fn job;
static void* job_ctx;
static int job_threads;

static void* worker_main(void* arg) {
  const int tid = (int)(intptr_t)arg;
  uint64_t seen = 0;
  for (;;) {
    pthread_mutex_lock(&pool_mu);
    while (generation == seen) pthread_cond_wait(&pool_start, &pool_mu);
    seen = generation;
    job_fn f = job;
    void* ctx = job_ctx;
    const int nt = job_threads;
    pthread_mutex_unlock(&pool_mu);
    if (tid < nt) f(ctx, tid, nt);
    pthread_mutex_lock(&pool_mu);
    if (--pending == 0) pthread_cond_signal(&pool_done);
    pthread_mutex_unlock(&pool_mu);
  }
  return NULL;
}

NK_API int32_t nk_set_threads(int32_t n) {
  if (n < 1 || n > NK_MAX_THREADS) return fail(NK_E_ARG, "nk_set_threads: threads must be in 1..%d, got %d", NK_MAX_THREADS, n);
  n_threads = n;
  return NK_OK;
}
NK_API int32_t nk_threads(void) { return n_threads; }

/* Run f on min(n_threads, want) threads (the caller is thread 0). */
static void run_parallel(job_fn f, void* ctx, int want) {
  int nt = want < n_threads ? want : n_threads;
  if (nt <= 1 || pthread_mutex_trylock(&call_mu) != 0) {
    f(ctx, 0, 1);
    return;
  }
  pthread_mutex_lock(&pool_mu);
  while (n_workers < nt - 1) {
    if (pthread_create(&workers[n_workers], NULL, worker_main, (void*)(intptr_t)(n_workers + 1)) != 0) break;
    pthread_detach(workers[n_workers]);
    n_workers++;
  }
  if (nt > n_workers + 1) nt = n_workers + 1;
  job = f;
  job_ctx = ctx;
  job_threads = nt;
  pending = n_workers;
  generation++;
  pthread_cond_broadcast(&pool_start);
  pthread_mutex_unlock(&pool_mu);
  f(ctx, 0, nt);
  pthread_mutex_lock(&pool_mu);
  while (pending > 0) pthread_cond_wait(&pool_done, &pool_mu);
  pthread_mutex_unlock(&pool_mu);
  pthread_mutex_unlock(&call_mu);
}

static int want_threads(int64_t work, int64_t min_work) { return work >= 2 * min_work ? NK_MAX_THREADS : 1; }

/* [lo, hi) of `n` items for thread tid of nt (contiguous chunks). */
static void chunk(int64_t n, int tid, int nt, int64_t* lo, int64_t* hi) {
  *lo = n * tid / nt;
  *hi = n * (tid + 1) / nt;
}

/* ---- attention ---- */

static __thread float* scratch_buf;
static __thread int64_t scratch_len;

static float* scratch(int64_t n) {
  if (n > scratch_len) {
    free(scratch_buf);
    scratch_buf = malloc((size_t)n * sizeof(float));
    scratch_len = scratch_buf ? n : 0;
  }
  return scratch_buf;
}

typedef struct {
  const nk_attn_args* a;
  const nk_kernels* k;
  int64_t units;
  int failed;
} attn_job;

static void attn_run(void* p, int tid, int nt) {
  attn_job* j = p;
  float* s = scratch(nk_attn_scratch(j->a->S, j->a->E, j->a->Ev));
  if (!s) {
    j->failed = 1;
    return;
  }
  /* interleaved units balance the causal triangle (late rows see more keys) */
  j->k->attention(j->a, tid, j->units, nt, s);
}

NK_API int32_t nk_attention(const float* q, const int32_t* q_off, int64_t qsL, int64_t qsE, const float* k, const int32_t* k_off, int64_t ksS,
                            int64_t ksE, const float* v, const int32_t* v_off, int64_t vsS, int64_t vsE, const void* mask, int32_t mask_kind,
                            const int32_t* m_off, int64_t msL, int64_t msS, float* out, int64_t nbatch, int64_t L, int64_t S, int64_t E, int64_t Ev,
                            float scale, int32_t causal, int64_t causal_offset) {
  if (nbatch < 0 || L < 0 || S < 0 || E < 0 || Ev < 0)
    return fail(NK_E_ARG, "nk_attention: sizes must be >= 0 (batch %lld, L %lld, S %lld, E %lld, Ev %lld)", (long long)nbatch, (long long)L,
                (long long)S, (long long)E, (long long)Ev);
  if (!q || !k || !v || !out || !q_off || !k_off || !v_off) return fail(NK_E_ARG, "nk_attention: q, k, v, out and their offsets are required");
  if (mask_kind < NK_MASK_NONE || mask_kind > NK_MASK_FLOAT || (mask_kind != NK_MASK_NONE && (!mask || !m_off)))
    return fail(NK_E_ARG, "nk_attention: mask kind %d needs a mask and its offsets (0 none, 1 bool, 2 float)", mask_kind);
  if (causal && mask_kind != NK_MASK_NONE) return fail(NK_E_ARG, "nk_attention: a mask and causal cannot both be set");
  if (nbatch == 0 || L == 0 || Ev == 0) return NK_OK;
  nk_attn_args a = {q, k, v, q_off, k_off, v_off, m_off, qsL, qsE, ksS, ksE, vsS, vsE, msL, msS, mask, mask_kind, out, nbatch, L, S, E, Ev, scale,
                    causal, causal_offset};
  attn_job j = {&a, kernels(), nbatch * ((L + nk_attn_unit_rows(L) - 1) / nk_attn_unit_rows(L)), 0};
  const int64_t work = nbatch * L * S * (E + Ev);
  run_parallel(attn_run, &j, j.units > 1 ? want_threads(work, NK_PAR_MIN_FLOPS) : 1);
  if (j.failed) return fail(NK_E_NOMEM, "nk_attention: out of memory for %lld floats of scratch", (long long)nk_attn_scratch(S, E, Ev));
  return NK_OK;
}

/* ---- row and elementwise ops ---- */

typedef struct {
  int kind;
  const nk_kernels* k;
  const float *x, *w, *b, *c, *s;
  const int32_t* rows_off;
  float* y;
  int64_t rows, n, period;
  float eps;
  int32_t op;
  /* silu_mul: row strides of its two operands */
  int64_t lda, ldb;
  /* casts: formats, untyped buffers, bfloat16 NaN pattern */
  int32_t from, to;
  const void* src;
  void* dst;
  uint16_t bf16_nan;
} row_job;

enum { J_SOFTMAX, J_RMS, J_LN, J_ROPE, J_UNARY, J_BINARY, J_SILU_MUL, J_CAST };

/* Elementwise jobs split the elements, row jobs the rows. */
static int elementwise_job(int kind) { return kind == J_UNARY || kind == J_BINARY || kind == J_CAST; }

static void row_run(void* p, int tid, int nt) {
  const row_job* j = p;
  int64_t lo, hi;
  chunk(elementwise_job(j->kind) ? j->n : j->rows, tid, nt, &lo, &hi);
  switch (j->kind) {
    case J_SOFTMAX: j->k->softmax(j->x, j->y, j->n, lo, hi, j->op); break;
    case J_RMS: j->k->rms_norm(j->x, j->w, j->y, j->n, j->eps, lo, hi); break;
    case J_LN: j->k->layer_norm(j->x, j->w, j->b, j->y, j->n, j->eps, lo, hi); break;
    case J_ROPE: j->k->rope(j->x, j->rows_off, j->c, j->s, j->y, j->n, j->period, lo, hi); break;
    case J_UNARY: j->k->unary(j->op, j->x, j->y, lo, hi); break;
    case J_BINARY: j->k->binary(j->op, j->x, j->w, j->y, j->period, lo, hi); break;
    case J_SILU_MUL: j->k->silu_mul(j->x, j->lda, j->w, j->ldb, j->y, j->n, lo, hi); break;
    case J_CAST: j->k->cast(j->from, j->to, j->src, j->dst, j->bf16_nan, lo, hi); break;
  }
}

static int check_rows(const char* op, const float* x, const float* y, int64_t rows, int64_t n) {
  if (rows < 0 || n < 0) return fail(NK_E_ARG, "%s: rows %lld and row length %lld must be >= 0", op, (long long)rows, (long long)n);
  if ((!x || !y) && rows * n > 0) return fail(NK_E_ARG, "%s: input and output are required", op);
  return NK_OK;
}

static void run_rows(row_job* j) {
  const int64_t total = elementwise_job(j->kind) ? j->n : j->rows * j->n;
  const int64_t items = elementwise_job(j->kind) ? j->n : j->rows;
  run_parallel(row_run, j, items > 1 ? want_threads(total, NK_PAR_MIN_ELEMS) : 1);
}

NK_API int32_t nk_softmax(const float* x, float* y, int64_t rows, int64_t n, int32_t log) {
  int st = check_rows("nk_softmax", x, y, rows, n);
  if (st) return st;
  row_job j = {.kind = J_SOFTMAX, .k = kernels(), .x = x, .y = y, .rows = rows, .n = n, .op = log ? 1 : 0};
  run_rows(&j);
  return NK_OK;
}

NK_API int32_t nk_rms_norm(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps) {
  int st = check_rows("nk_rms_norm", x, y, rows, n);
  if (st) return st;
  if (!(eps >= 0)) return fail(NK_E_ARG, "nk_rms_norm: eps must be >= 0, got %g", (double)eps);
  row_job j = {.kind = J_RMS, .k = kernels(), .x = x, .w = w, .y = y, .rows = rows, .n = n, .eps = eps};
  run_rows(&j);
  return NK_OK;
}

NK_API int32_t nk_layer_norm(const float* x, const float* w, const float* b, float* y, int64_t rows, int64_t n, float eps) {
  int st = check_rows("nk_layer_norm", x, y, rows, n);
  if (st) return st;
  if (!(eps >= 0)) return fail(NK_E_ARG, "nk_layer_norm: eps must be >= 0, got %g", (double)eps);
  row_job j = {.kind = J_LN, .k = kernels(), .x = x, .w = w, .b = b, .y = y, .rows = rows, .n = n, .eps = eps};
  run_rows(&j);
  return NK_OK;
}

NK_API int32_t nk_rope(const float* x, const int32_t* x_rows, const float* cos, const float* sin, float* y, int64_t rows, int64_t d, int64_t table_rows) {
  int st = check_rows("nk_rope", x, y, rows, d);
  if (st) return st;
  if (d % 2 != 0) return fail(NK_E_ARG, "nk_rope: the head dim %lld must be even (rotate-half)", (long long)d);
  if (table_rows < 1 || !cos || !sin) return fail(NK_E_ARG, "nk_rope: cos/sin tables need at least 1 row, got %lld", (long long)table_rows);
  row_job j = {.kind = J_ROPE, .k = kernels(), .x = x, .rows_off = x_rows, .c = cos, .s = sin, .y = y, .rows = rows, .n = d, .period = table_rows};
  run_rows(&j);
  return NK_OK;
}

NK_API int32_t nk_unary(int32_t op, const float* x, float* y, int64_t n) {
  if (op < NK_SILU || op > NK_RELU) return fail(NK_E_ARG, "nk_unary: unknown op %d (0 silu, 1 gelu erf, 2 gelu tanh, 3 relu)", op);
  int st = check_rows("nk_unary", x, y, 1, n);
  if (st) return st;
  row_job j = {.kind = J_UNARY, .k = kernels(), .x = x, .y = y, .rows = 1, .n = n, .op = op};
  run_rows(&j);
  return NK_OK;
}

NK_API int32_t nk_binary(int32_t op, const float* a, const float* b, float* y, int64_t n, int64_t b_period) {
  if (op < NK_ADD || op > NK_DIV) return fail(NK_E_ARG, "nk_binary: unknown op %d (0 add, 1 sub, 2 mul, 3 div)", op);
  int st = check_rows("nk_binary", a, y, 1, n);
  if (st) return st;
  if (n > 0 && (b_period < 1 || !b)) return fail(NK_E_ARG, "nk_binary: the second operand's period must be >= 1, got %lld", (long long)b_period);
  row_job j = {.kind = J_BINARY, .k = kernels(), .x = a, .w = b, .y = y, .rows = 1, .n = n, .period = b_period, .op = op};
  run_rows(&j);
  return NK_OK;
}

NK_API int32_t nk_silu_mul(const float* a, int64_t lda, const float* b, int64_t ldb, float* y, int64_t rows, int64_t n) {
  int st = check_rows("nk_silu_mul", a, y, rows, n);
  if (st) return st;
  if (rows * n > 0 && !b) return fail(NK_E_ARG, "nk_silu_mul: the second operand is required");
  if (rows > 1 && (lda < n || ldb < n))
    return fail(NK_E_ARG, "nk_silu_mul: row strides (%lld, %lld) must be >= the row length %lld", (long long)lda, (long long)ldb, (long long)n);
  row_job j = {.kind = J_SILU_MUL, .k = kernels(), .x = a, .w = b, .y = y, .rows = rows, .n = n, .lda = lda, .ldb = ldb};
  run_rows(&j);
  return NK_OK;
}

NK_API int32_t nk_cast(const void* src, int32_t from, void* dst, int32_t to, int64_t n, uint32_t bf16_nan) {
  if (from < NK_F32 || from > NK_BF16 || to < NK_F32 || to > NK_BF16 || from == to)
    return fail(NK_E_ARG, "nk_cast: formats must be two different ones of 0 float32, 1 float16, 2 bfloat16, got %d -> %d", from, to);
  if (n < 0) return fail(NK_E_ARG, "nk_cast: element count %lld must be >= 0", (long long)n);
  if (n > 0 && (!src || !dst)) return fail(NK_E_ARG, "nk_cast: source and destination are required");
  if (bf16_nan > 0xffff || (bf16_nan & 0x7f80) != 0x7f80 || !(bf16_nan & 0x7f))
    return fail(NK_E_ARG, "nk_cast: bf16_nan 0x%x is not a bfloat16 NaN pattern", bf16_nan);
  row_job j = {.kind = J_CAST, .k = kernels(), .rows = 1, .n = n, .from = from, .to = to, .src = src, .dst = dst, .bf16_nan = (uint16_t)bf16_nan};
  run_rows(&j);
  return NK_OK;
}

/* ---- embedding gather ---- */

static int64_t index_at(const void* idx, int32_t idx64, int64_t i) { return idx64 ? ((const int64_t*)idx)[i] : ((const int32_t*)idx)[i]; }

/* One thread: a row copy is memcpy, bound by memory, and the rows of a prompt are few. */
NK_API int32_t nk_embedding(const void* weight, int64_t elem_bytes, int64_t num, int64_t dim, int64_t ld, const void* indices, int32_t idx64,
                            int64_t n, void* out) {
  if (elem_bytes != 2 && elem_bytes != 4) return fail(NK_E_ARG, "nk_embedding: element size must be 2 or 4 bytes, got %lld", (long long)elem_bytes);
  if (num < 0 || dim < 0 || n < 0 || ld < dim)
    return fail(NK_E_ARG, "nk_embedding: sizes must be >= 0 and the row stride >= dim (num %lld, dim %lld, ld %lld, indices %lld)", (long long)num,
                (long long)dim, (long long)ld, (long long)n);
  if (n > 0 && (!indices || !out || (dim > 0 && !weight))) return fail(NK_E_ARG, "nk_embedding: weight, indices and output are required");
  /* every index is checked before anything is written, so a bad one leaves the output untouched */
  for (int64_t i = 0; i < n; i++) {
    const int64_t r = index_at(indices, idx64, i);
    if (r < 0 || r >= num)
      return fail(NK_E_INDEX, "nk_embedding: index %lld (position %lld) is out of range [0, %lld)", (long long)r, (long long)i, (long long)num);
  }
  const size_t row = (size_t)(dim * elem_bytes);
  for (int64_t i = 0; i < n; i++) memcpy((char*)out + i * row, (const char*)weight + index_at(indices, idx64, i) * ld * elem_bytes, row);
  return NK_OK;
}

/* ---- strided copy ---- */

#define NK_COPY_MAX_DIMS 8

NK_API int32_t nk_copy_strided(const float* src, const int32_t* src_strides, float* dst, const int32_t* dst_strides, const int32_t* shape, int32_t ndim) {
  if (ndim < 0 || ndim > NK_COPY_MAX_DIMS) return fail(NK_E_ARG, "nk_copy_strided: ndim must be in 0..%d, got %d", NK_COPY_MAX_DIMS, ndim);
  if (!src || !dst || (ndim > 0 && (!src_strides || !dst_strides || !shape))) return fail(NK_E_ARG, "nk_copy_strided: source, destination, strides and shape are required");
  int64_t total = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0) return fail(NK_E_ARG, "nk_copy_strided: dim %d has negative size %d", d, shape[d]);
    total *= shape[d];
  }
  if (total == 0) return NK_OK;
  if (ndim == 0) {
    *dst = *src;
    return NK_OK;
  }
  const int last = ndim - 1;
  const int64_t n = shape[last], ss = src_strides[last], ds = dst_strides[last];
  int32_t idx[NK_COPY_MAX_DIMS] = {0};
  int64_t so = 0, dof = 0;
  for (int64_t r = 0, rows = total / n; r < rows; r++) {
    if (ss == 1 && ds == 1) memcpy(dst + dof, src + so, (size_t)n * sizeof(float));
    else
      for (int64_t j = 0; j < n; j++) dst[dof + j * ds] = src[so + j * ss];
    /* odometer over the leading dims */
    for (int d = last - 1; d >= 0; d--) {
      so += src_strides[d];
      dof += dst_strides[d];
      if (++idx[d] < shape[d]) break;
      so -= (int64_t)idx[d] * src_strides[d];
      dof -= (int64_t)idx[d] * dst_strides[d];
      idx[d] = 0;
    }
  }
  return NK_OK;
}
