/*
 * opshift NPU emulation library: the ABI of opshift_npu.h implemented on the CPU with the NPU's numerics
 * (see the contract in the header). Structure of a run, as AMD's qlinear_2::execute does it on hardware:
 *   M is cut into chunks of M_max rows (one kernel launch per chunk, N tile and K tile, counted in stats.runs);
 *   each launch computes one K x N kernel tile (K and N zero-padded to the tile grid);
 *   partial results of the K tiles are accumulated on the host (int32 add for w8; float32 add for w4/f32/bf16).
 * The emulation computes only the real (unpadded) region: zero padding contributes exact zeros (+0.0 products,
 * which never change a float32 sum that starts from +0 or a bias), so results are those of the padded grid.
 * Columns are processed in panels of 16 (the prepacked layouts of npu_emu_internal.h), split across threads.
 */
#define _GNU_SOURCE
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "npu_emu_internal.h"
#include "opshift_npu.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__SSE2__)
#include <emmintrin.h> /* packing only (pure data movement, part of x86-64): never in the arithmetic */
#endif

#define MAX_THREADS 16
/* rows of a K x N weight packed per block (keeps packing reads and writes sequential) */
#define PACK_KB 64

/* ---------------------------------------------------------------------------------------------------------
 * Errors: thread-local last error; every failing entry point sets it and returns the status. */

static __thread char g_err[1024];

static npu_status fail(npu_status st, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static npu_status fail(npu_status st, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_err, sizeof g_err, fmt, ap);
  va_end(ap);
  return st;
}

NPU_API uint32_t npu_abi_version(void) {
  /* Tests build a library that reports another version to check the loader refuses it. */
#ifdef OPSHIFT_NPU_ABI_OVERRIDE
  return OPSHIFT_NPU_ABI_OVERRIDE;
#else
  return OPSHIFT_NPU_ABI_VERSION;
#endif
}

NPU_API const char* npu_impl_name(void) { return "opshift-npu-emu 0.1 (CPU emulation of the Ryzen AI GEMM numerics)"; }

NPU_API const char* npu_last_error(void) { return g_err; }

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* ---------------------------------------------------------------------------------------------------------
 * Thread pool: threads-1 workers that share a call's column panels with the calling thread, in small chunks that
 * every thread claims from an atomic counter. The caller claims chunks too, so when a worker is slow to wake (a
 * busy machine), the caller simply does the work itself instead of waiting for it.
 *
 * Decode runs GEMVs of 30 µs - 1 ms back to back with other backends' kernels in between, on as few as 2 cores
 * (issue #17: the 2-thread decode was slower than the 1-thread one). So:
 *   - a worker sleeps on the condition variable as soon as a job is done (OPSHIFT_NPU_SPIN_US = n makes it spin,
 *     yielding, for n µs first): the former spin of 20000 pauses (~0.5 ms on Zen 2) after every job held the second
 *     core while the native library's pool, whose caller waits for its worker, needed it for the norms and
 *     attention between GEMVs, and on a shared machine it spent the process's share of the CPU. OPT-125m w8a8
 *     decode at 2 threads, same run, load ~7: no spin 58-67 tok/s, 100 µs yielding spin 26, the old spin 17-18
 *     (1 thread: 34);
 *   - the caller, waiting for a chunk a worker claimed, yields the core soon (after ~20 µs): on a busy machine
 *     that worker is often preempted mid-chunk and must run to finish it;
 *   - the job counter, the claim counter and the done counter live on separate cache lines, so claims do not
 *     invalidate the line the spinning workers poll. */

typedef void (*task_fn)(void* arg, int64_t begin, int64_t end);

#define NPU_CACHELINE 64

typedef struct {
  int n; /* total threads including the caller */
  int spin_us;
  pthread_t th[MAX_THREADS];
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stop;
  int attached; /* workers holding a snapshot of the current job (under mu) */
  /* the current job (written by the caller under mu while attached == 0) */
  task_fn fn;
  void* arg;
  int64_t total, chunk, nchunks;
  /* padding rather than _Alignas: the context is calloc'ed (16-byte aligned), and 64 bytes apart is enough */
  char pad0_[NPU_CACHELINE];
  atomic_uint gen; /* job number; workers wait for it to change */
  char pad1_[NPU_CACHELINE];
  atomic_llong next; /* next chunk to claim */
  char pad2_[NPU_CACHELINE];
  atomic_llong done; /* chunks finished */
  char pad3_[NPU_CACHELINE];
} pool_t;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static inline int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void run_chunks(task_fn fn, void* arg, int64_t total, int64_t chunk, int64_t nchunks, atomic_llong* next, atomic_llong* done) {
  for (;;) {
    const int64_t c = atomic_fetch_add_explicit(next, 1, memory_order_acq_rel);
    if (c >= nchunks) return;
    const int64_t b = c * chunk, e = b + chunk < total ? b + chunk : total;
    fn(arg, b, e);
    atomic_fetch_add_explicit(done, 1, memory_order_acq_rel);
  }
}

static void* worker_main(void* p) {
  pool_t* pool = (pool_t*)p;
  unsigned seen = 0;
  for (;;) {
    unsigned g = atomic_load_explicit(&pool->gen, memory_order_acquire);
    if (g == seen && pool->spin_us > 0) {
      /* A bounded spin that gives way: every 32 pauses it yields (a thread woken on this core, e.g. the native
       * library's worker for the norm or attention between two GEMVs, runs at once instead of waiting for the
       * spin to end) and reads the clock (vDSO, ~20 ns). */
      const int64_t until = now_us() + pool->spin_us;
      for (int i = 1; g == seen; i++) {
        cpu_relax();
        g = atomic_load_explicit(&pool->gen, memory_order_acquire);
        if ((i & 31) == 0) {
          if (now_us() >= until) break;
          sched_yield();
        }
      }
    }
    pthread_mutex_lock(&pool->mu);
    while ((g = atomic_load_explicit(&pool->gen, memory_order_acquire)) == seen && !pool->stop) pthread_cond_wait(&pool->cv, &pool->mu);
    if (pool->stop) {
      pthread_mutex_unlock(&pool->mu);
      return NULL;
    }
    seen = g;
    const task_fn fn = pool->fn;
    void* const arg = pool->arg;
    const int64_t total = pool->total, chunk = pool->chunk, nchunks = pool->nchunks;
    pool->attached++;
    pthread_mutex_unlock(&pool->mu);
    run_chunks(fn, arg, total, chunk, nchunks, &pool->next, &pool->done);
    pthread_mutex_lock(&pool->mu);
    pool->attached--;
    if (pool->attached == 0) pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
  }
}

/* OPSHIFT_NPU_SPIN_US: 0..100000 µs of worker spinning after a job (0: sleep at once), else the default */
static int spin_us_setting(int dflt) {
  const char* v = getenv("OPSHIFT_NPU_SPIN_US");
  if (!v || !*v) return dflt;
  char* end;
  const long x = strtol(v, &end, 10);
  return *end == 0 && x >= 0 && x <= 100000 ? (int)x : dflt;
}

static int pool_start(pool_t* pool, int n, int spin_us) {
  memset(pool, 0, sizeof *pool);
  pool->n = 1;
  pool->spin_us = spin_us;
  pthread_mutex_init(&pool->mu, NULL);
  pthread_cond_init(&pool->cv, NULL);
  for (int i = 1; i < n; i++) {
    if (pthread_create(&pool->th[i], NULL, worker_main, pool) != 0) break;
    pool->n = i + 1;
  }
  return pool->n;
}

static void pool_stop(pool_t* pool) {
  pthread_mutex_lock(&pool->mu);
  pool->stop = 1;
  atomic_fetch_add(&pool->gen, 1);
  pthread_cond_broadcast(&pool->cv);
  pthread_mutex_unlock(&pool->mu);
  for (int i = 1; i < pool->n; i++) pthread_join(pool->th[i], NULL);
  pthread_mutex_destroy(&pool->mu);
  pthread_cond_destroy(&pool->cv);
}

/* Run fn over [0, total) on up to `use` threads (use <= 1: on the caller only). */
static void pool_run(pool_t* pool, int use, task_fn fn, void* arg, int64_t total) {
  if (use <= 1 || pool->n <= 1 || total < 2) {
    fn(arg, 0, total);
    return;
  }
  /* about four chunks per thread: small enough to balance, large enough to keep panels' weights streaming */
  int64_t nchunks = 4 * (int64_t)pool->n;
  if (nchunks > total) nchunks = total;
  const int64_t chunk = (total + nchunks - 1) / nchunks;
  nchunks = (total + chunk - 1) / chunk;
  pthread_mutex_lock(&pool->mu);
  while (pool->attached > 0) pthread_cond_wait(&pool->cv, &pool->mu); /* a late worker still holds the previous job */
  pool->fn = fn;
  pool->arg = arg;
  pool->total = total;
  pool->chunk = chunk;
  pool->nchunks = nchunks;
  atomic_store(&pool->next, 0);
  atomic_store(&pool->done, 0);
  atomic_fetch_add_explicit(&pool->gen, 1, memory_order_release);
  pthread_cond_broadcast(&pool->cv); /* no system call when every worker is still spinning */
  pthread_mutex_unlock(&pool->mu);
  run_chunks(fn, arg, total, chunk, nchunks, &pool->next, &pool->done);
  /* only chunks a worker already claimed can be outstanding: spin ~20 µs, then let a preempted worker run */
  int64_t since = 0;
  for (int i = 1; atomic_load_explicit(&pool->done, memory_order_acquire) < nchunks; i++) {
    if (since == 0) since = now_us();
    if ((i & 63) == 0 && now_us() - since > 20)
      sched_yield();
    else
      cpu_relax();
  }
}

/* ---------------------------------------------------------------------------------------------------------
 * Context */

struct npu_ctx {
  uint32_t flags;
  char device[16];
  char artifacts[512];
  const npu_kernels* k;
  const npu_prefill_kernels* pk; /* register-blocked M > 1 GEMMs (NULL: the f_chunk path) */
  pool_t pool;
  pthread_mutex_t run_lock;
  pthread_mutex_t list_lock;
  npu_gemm* gemms;
  /* Per-call scratch (quantized rows, int32 accumulators, bf16-rounded activations) of whichever run holds
   * run_lock: runs on a context are serialized, so one buffer serves every handle. Kept per handle, it grew to
   * each handle's largest call and stayed: ~3 MB per w8a8 weight after a 128-row prefill, 0.45 GB for
   * TinyLlama's 155 linears. */
  void* scratch;
  size_t scratch_bytes;
  char describe[1024];
};

struct npu_gemm {
  npu_ctx* ctx;
  npu_gemm* prev;
  npu_gemm* next;
  int32_t variant;
  int64_t K, N;
  int64_t Kt, Nt, Kp, Np; /* kernel tile and padded sizes */
  int64_t panels;         /* ceil(N / 16) */
  int32_t group, w_bits;
  /* w8 */
  int64_t Kq; /* K rounded up to a multiple of 4 */
  int8_t* w8;
  int64_t* corr_ptr; /* per column: [corr_ptr[n], corr_ptr[n+1]) indexes corr_k: rows k where w[k][n] == -128 */
  int32_t* corr_k;
  int32_t* csum128; /* [K tile][panel][16]: 128 * column sums of the stored weights over the tile (VNNI kernel) */
  /* w4 */
  uint8_t* q4;  /* panels x (Ke/2) x 16, Ke = K rounded up to even */
  float* s4;    /* panels x groups x 16 */
  float* nzs4;  /* panels x groups x 16 */
  float* bias;  /* N floats (bf16-rounded for w4), or NULL */
  /* w4a8 (layout in npu_emu_internal.h) */
  uint8_t* q48; /* panels x (K/8) x 64 */
  float* s48;   /* panels x groups x 16, bf16-rounded scales */
  uint8_t* z48; /* panels x groups x 16 zero points */
  /* f32 / bf16 */
  float* wf; /* panels x K x 16 */
  /* npu_cache.c: an imported handle's prepared buffers point into this read-only file mapping (not freed; unmapped) */
  void* map;
  size_t map_bytes;
  npu_stats stats;
};

static const char* device_names[] = {"auto", "emu", "phx", "stx"};

static int env_int(const char* name, int dflt) {
  const char* v = getenv(name);
  if (!v || !*v) return dflt;
  char* end;
  long x = strtol(v, &end, 10);
  return *end == 0 && x > 0 && x <= MAX_THREADS ? (int)x : dflt;
}

NPU_API npu_status npu_ctx_create(const npu_ctx_desc* desc, npu_ctx** out) {
  if (!out) return fail(NPU_E_ARG, "npu_ctx_create: out is NULL");
  *out = NULL;
  if (!desc) return fail(NPU_E_ARG, "npu_ctx_create: desc is NULL");
  if (desc->struct_size < offsetof(npu_ctx_desc, threads))
    return fail(NPU_E_ARG, "npu_ctx_create: desc->struct_size %u is smaller than this library's oldest npu_ctx_desc (%zu)", desc->struct_size,
                offsetof(npu_ctx_desc, threads));
  const char* dev = desc->device && *desc->device ? desc->device : "auto";
  int known = 0;
  for (size_t i = 0; i < sizeof device_names / sizeof *device_names; i++) known |= strcmp(dev, device_names[i]) == 0;
  if (!known) return fail(NPU_E_NODEV, "npu_ctx_create: unknown device '%s' (the emulation accepts auto, emu, phx, stx)", dev);
  if (desc->artifact_dir && *desc->artifact_dir) {
    struct stat st;
    if (stat(desc->artifact_dir, &st) != 0 || !S_ISDIR(st.st_mode))
      return fail(NPU_E_NOFILE, "npu_ctx_create: artifact directory '%s' does not exist", desc->artifact_dir);
  }
  npu_ctx* c = (npu_ctx*)calloc(1, sizeof *c);
  if (!c) return fail(NPU_E_OOM, "npu_ctx_create: out of memory");
  c->flags = desc->flags | NPU_F_EMULATE;
  snprintf(c->device, sizeof c->device, "%s", dev);
  snprintf(c->artifacts, sizeof c->artifacts, "%s", desc->artifact_dir && *desc->artifact_dir ? desc->artifact_dir : "none");
  c->k = &npu_kernels_portable;
#if defined(__x86_64__)
  if (!(c->flags & NPU_F_PORTABLE) && npu_kernels_avx2_ptr) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      c->k = npu_kernels_avx2_ptr;
      /* AVX-VNNI: CPUID.(EAX=7, ECX=1):EAX bit 4 (the VEX-encoded vpdpbusd; the OS saves YMM state since AVX2 runs) */
      unsigned a = 0, b = 0, cc = 0, d = 0;
      if (!(c->flags & NPU_F_NO_VNNI) && npu_kernels_vnni_ptr && __get_cpuid_count(7, 1, &a, &b, &cc, &d) && (a & (1u << 4))) c->k = npu_kernels_vnni_ptr;
      /* AVX-512 F/BW/VL + VNNI (and the OS saving ZMM state): 16 columns = one register */
      if (!(c->flags & (NPU_F_NO_AVX512 | NPU_F_NO_VNNI)) && npu_kernels_avx512_ptr && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
        c->k = npu_kernels_avx512_ptr;
    }
  }
#endif
  /* the prefill GEMMs follow the kernel ISA; an AVX-512 context without its own uses the AVX2 ones (same bits) */
  c->pk = c->k == &npu_kernels_portable ? NULL : c->k == npu_kernels_avx512_ptr && npu_prefill_avx512_ptr ? npu_prefill_avx512_ptr : npu_prefill_avx2_ptr;
  int threads = 0;
  if (desc->struct_size >= offsetof(npu_ctx_desc, threads) + sizeof(int32_t)) threads = desc->threads;
  if (threads <= 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    threads = env_int("OPSHIFT_NPU_THREADS", cpus >= 2 ? 2 : 1);
  }
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  pool_start(&c->pool, threads, spin_us_setting(0));
  pthread_mutex_init(&c->run_lock, NULL);
  pthread_mutex_init(&c->list_lock, NULL);
  snprintf(c->describe, sizeof c->describe, "device=%s design=emulated-%s isa=%s threads=%d flags=0x%x artifacts=%s", c->device,
           strcmp(dev, "stx") == 0 ? "stx" : "phx", c->k->name, c->pool.n, c->flags, c->artifacts);
  *out = c;
  return NPU_OK;
}

NPU_API const char* npu_ctx_describe(npu_ctx* ctx) { return ctx ? ctx->describe : ""; }

static void gemm_free(npu_gemm* g) {
  if (g->map) npu_gemm_unmap(g); /* NULLs the buffers that live in the mapping */
  free(g->w8);
  free(g->corr_ptr);
  free(g->corr_k);
  free(g->csum128);
  free(g->q4);
  free(g->s4);
  free(g->nzs4);
  free(g->bias);
  free(g->q48);
  free(g->s48);
  free(g->z48);
  free(g->wf);
  free(g);
}

NPU_API void npu_ctx_destroy(npu_ctx* ctx) {
  if (!ctx) return;
  npu_gemm* g = ctx->gemms;
  while (g) {
    npu_gemm* next = g->next;
    gemm_free(g);
    g = next;
  }
  pool_stop(&ctx->pool);
  free(ctx->scratch);
  pthread_mutex_destroy(&ctx->run_lock);
  pthread_mutex_destroy(&ctx->list_lock);
  free(ctx);
}

NPU_API void npu_gemm_destroy(npu_gemm* g) {
  if (!g) return;
  npu_ctx* c = g->ctx;
  pthread_mutex_lock(&c->list_lock);
  if (g->prev)
    g->prev->next = g->next;
  else
    c->gemms = g->next;
  if (g->next) g->next->prev = g->prev;
  pthread_mutex_unlock(&c->list_lock);
  gemm_free(g);
}

static void link_gemm(npu_ctx* c, npu_gemm* g) {
  pthread_mutex_lock(&c->list_lock);
  g->next = c->gemms;
  if (c->gemms) c->gemms->prev = g;
  c->gemms = g;
  pthread_mutex_unlock(&c->list_lock);
}

/* ---------------------------------------------------------------------------------------------------------
 * Kernel tiles and the capability query */

static const int64_t TILES_I8[][2] = {{2048, 2048}, {2048, 8192}, {8192, 2048}};
static const int64_t TILES_BF16[][2] = {{4096, 4096}, {11264, 4096}, {4096, 12288}, {4096, 32768}};

static int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/* The kernel tile with the least padded work (ties: fewer launches). */
static void pick_tile(int32_t variant, int64_t K, int64_t N, int64_t* Kt, int64_t* Nt) {
  const int64_t(*t)[2] = variant == NPU_W8A8 ? TILES_I8 : TILES_BF16; /* w4a8 runs on the w4 tiles */
  int n = variant == NPU_W8A8 ? 3 : 4;
  double best = 0, best_runs = 0;
  for (int i = 0; i < n; i++) {
    double kp = (double)round_up(K, t[i][0]), np = (double)round_up(N, t[i][1]);
    double work = kp * np, runs = kp / t[i][0] * (np / t[i][1]);
    if (i == 0 || work < best || (work == best && runs < best_runs)) {
      best = work;
      best_runs = runs;
      *Kt = t[i][0];
      *Nt = t[i][1];
    }
  }
}

static const char* variant_name(int32_t v) {
  switch (v) {
    case NPU_W8A8: return "w8a8";
    case NPU_W8A16: return "w8a16";
    case NPU_W4ABF16: return "w4abf16";
    case NPU_F32: return "f32";
    case NPU_BF16: return "bf16";
    case NPU_W4A8: return "w4a8";
    default: return "unknown";
  }
}

/* Checks shared by npu_query and the create calls; returns NPU_OK or NPU_E_UNSUPPORTED/NPU_E_ARG with the text set. */
static npu_status check_shape(const char* fn, int32_t variant, int64_t M, int64_t K, int64_t N, int32_t group) {
  if (M < 0 || K < 1 || N < 1) return fail(NPU_E_ARG, "%s: %s needs M >= 0, K >= 1, N >= 1, got M=%lld K=%lld N=%lld", fn, variant_name(variant), (long long)M, (long long)K, (long long)N);
  switch (variant) {
    case NPU_W8A8:
      /* |acc| <= 128 * 128 * K must fit int32 */
      if (K > 131071) return fail(NPU_E_UNSUPPORTED, "%s: w8a8 K=%lld exceeds 131071 (int32 accumulators could overflow)", fn, (long long)K);
      break;
    case NPU_W8A16:
      return fail(NPU_E_UNSUPPORTED, "%s: w8a16 (int16 activations, int64 accumulators) is an STX-only design the emulation does not provide", fn);
    case NPU_W4ABF16:
    case NPU_W4A8:
      if (group != 32 && group != 64 && group != 128)
        return fail(NPU_E_UNSUPPORTED, "%s: w4abf16 group size %d is not one of the kernel's 32, 64, 128", fn, group);
      if (K % group != 0) return fail(NPU_E_UNSUPPORTED, "%s: w4abf16 K=%lld is not a multiple of the group size %d", fn, (long long)K, group);
      break;
    case NPU_F32:
    case NPU_BF16:
      break;
    default:
      return fail(NPU_E_ARG, "%s: unknown variant %d", fn, variant);
  }
  if (K > (1LL << 24) || N > (1LL << 24)) return fail(NPU_E_UNSUPPORTED, "%s: %s K=%lld N=%lld exceeds 2^24", fn, variant_name(variant), (long long)K, (long long)N);
  return NPU_OK;
}

NPU_API npu_status npu_query(npu_ctx* ctx, int32_t variant, int64_t M, int64_t K, int64_t N, int32_t group, int32_t* supported,
                             int64_t* padded_K, int64_t* padded_N) {
  if (!ctx || !supported) return fail(NPU_E_ARG, "npu_query: ctx and supported must not be NULL");
  *supported = 0;
  npu_status st = check_shape("npu_query", variant, M, K, N, group);
  if (st == NPU_E_ARG && (variant < NPU_W8A8 || variant > NPU_W4A8)) return st;
  if (st != NPU_OK) return NPU_OK; /* not supported; the reason stays in npu_last_error() */
  int64_t Kt, Nt;
  pick_tile(variant, K, N, &Kt, &Nt);
  if (padded_K) *padded_K = round_up(K, Kt);
  if (padded_N) *padded_N = round_up(N, Nt);
  *supported = 1;
  g_err[0] = 0;
  return NPU_OK;
}

static npu_gemm* new_gemm(npu_ctx* ctx, int32_t variant, int64_t K, int64_t N) {
  npu_gemm* g = (npu_gemm*)calloc(1, sizeof *g);
  if (!g) return NULL;
  g->ctx = ctx;
  g->variant = variant;
  g->K = K;
  g->N = N;
  pick_tile(variant, K, N, &g->Kt, &g->Nt);
  g->Kp = round_up(K, g->Kt);
  g->Np = round_up(N, g->Nt);
  g->panels = (N + NPU_NR - 1) / NPU_NR;
  g->stats.struct_size = sizeof(npu_stats);
  return g;
}

static void* aligned_zalloc(size_t bytes) {
  void* p = NULL;
  if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) return NULL;
  memset(p, 0, bytes ? bytes : 64);
  return p;
}

/* Prepared-weight buffers: large ones 2 MiB-aligned and advised as transparent huge pages, so that first touching
 * them while packing takes one page fault per 2 MiB instead of per 4 KiB (the faults, not the copies, bounded
 * packing at ~1.5 GB/s); zeroed only when the packing leaves gaps. */
static void* panel_alloc(size_t bytes, int zero) {
  const size_t huge = (size_t)2 << 20;
  void* p = NULL;
  if (bytes < 4 * huge) return zero ? aligned_zalloc(bytes) : (posix_memalign(&p, 64, bytes ? bytes : 64) == 0 ? p : NULL);
  if (posix_memalign(&p, huge, bytes) != 0) return NULL;
#ifdef MADV_HUGEPAGE
  madvise(p, bytes / huge * huge, MADV_HUGEPAGE); /* a hint: without THP the buffer simply uses 4 KiB pages */
#endif
  if (zero) memset(p, 0, bytes);
  return p;
}

/* The context's scratch, at least `bytes` (called while the run holds run_lock). */
static void* scratch(npu_gemm* g, size_t bytes) {
  npu_ctx* c = g->ctx;
  if (c->scratch_bytes < bytes) {
    free(c->scratch);
    c->scratch = aligned_zalloc(bytes);
    c->scratch_bytes = c->scratch ? bytes : 0;
  }
  return c->scratch;
}

/* Packing jobs run on the context's pool when no run holds it (packing is pure data movement: the bits are the
 * same whichever thread packs a panel), else on the caller alone. */
static void pack_parallel(npu_ctx* ctx, task_fn fn, void* arg, int64_t panels, double bytes) {
  if (bytes >= (double)(1 << 20) && pthread_mutex_trylock(&ctx->run_lock) == 0) {
    pool_run(&ctx->pool, ctx->pool.n, fn, arg, panels);
    pthread_mutex_unlock(&ctx->run_lock);
  } else
    fn(arg, 0, panels);
}

/* ---------------------------------------------------------------------------------------------------------
 * w8a8 */

NPU_API npu_status npu_gemm_create_w8(npu_ctx* ctx, int32_t variant, const int8_t* w, int64_t K, int64_t N, npu_gemm** out) {
  if (!out) return fail(NPU_E_ARG, "npu_gemm_create_w8: out is NULL");
  *out = NULL;
  if (!ctx || !w) return fail(NPU_E_ARG, "npu_gemm_create_w8: ctx and w must not be NULL");
  if (variant != NPU_W8A8 && variant != NPU_W8A16) return fail(NPU_E_ARG, "npu_gemm_create_w8: variant %d is not w8a8 or w8a16", variant);
  npu_status st = check_shape("npu_gemm_create_w8", variant, 0, K, N, 0);
  if (st) return st;
  npu_gemm* g = new_gemm(ctx, variant, K, N);
  if (!g) return fail(NPU_E_OOM, "npu_gemm_create_w8: out of memory");
  g->Kq = round_up(K, 4);
  g->w8 = (int8_t*)aligned_zalloc((size_t)g->panels * g->Kq * NPU_NR);
  g->corr_ptr = (int64_t*)calloc((size_t)N + 1, sizeof(int64_t));
  if (!g->w8 || !g->corr_ptr) {
    gemm_free(g);
    return fail(NPU_E_OOM, "npu_gemm_create_w8: out of memory for K=%lld N=%lld", (long long)K, (long long)N);
  }
  int64_t ncorr = 0;
  for (int64_t k = 0; k < K; k++)
    for (int64_t n = 0; n < N; n++)
      if (w[k * N + n] == -128) {
        g->corr_ptr[n + 1]++;
        ncorr++;
      }
  /* blocks of K rows so that both the reads (rows of w) and the writes (a panel's k range) stay sequential */
  const int64_t nq = g->Kq / 4;
  for (int64_t kb = 0; kb < K; kb += PACK_KB)
    for (int64_t p = 0; p < g->panels; p++)
      for (int64_t k = kb; k < K && k < kb + PACK_KB; k++) {
        int8_t* d = g->w8 + (p * nq + k / 4) * 64 + (k & 3);
        const int8_t* src = w + k * N + p * NPU_NR;
        const int cols = (int)(N - p * NPU_NR < NPU_NR ? N - p * NPU_NR : NPU_NR);
        for (int c = 0; c < cols; c++) d[(c >> 3) * 32 + (c & 7) * 4] = src[c] == -128 ? -127 : src[c];
      }
  for (int64_t n = 0; n < N; n++) g->corr_ptr[n + 1] += g->corr_ptr[n];
  const int64_t tiles = (g->Kq + g->Kt - 1) / g->Kt;
  g->csum128 = (int32_t*)aligned_zalloc((size_t)tiles * g->panels * NPU_NR * sizeof(int32_t));
  if (!g->csum128) {
    gemm_free(g);
    return fail(NPU_E_OOM, "npu_gemm_create_w8: out of memory");
  }
  for (int64_t k = 0; k < K; k++)
    for (int64_t n = 0; n < N; n++) {
      const int8_t v = w[k * N + n] == -128 ? -127 : w[k * N + n];
      g->csum128[((k / g->Kt) * g->panels + n / NPU_NR) * NPU_NR + n % NPU_NR] += 128 * v;
    }
  if (ncorr) {
    g->corr_k = (int32_t*)malloc((size_t)ncorr * sizeof(int32_t));
    int64_t* fill = (int64_t*)malloc((size_t)N * sizeof(int64_t));
    if (!g->corr_k || !fill) {
      free(fill);
      gemm_free(g);
      return fail(NPU_E_OOM, "npu_gemm_create_w8: out of memory");
    }
    memcpy(fill, g->corr_ptr, (size_t)N * sizeof(int64_t));
    for (int64_t k = 0; k < K; k++)
      for (int64_t n = 0; n < N; n++)
        if (w[k * N + n] == -128) g->corr_k[fill[n]++] = (int32_t)k;
    free(fill);
  }
  link_gemm(ctx, g);
  *out = g;
  return NPU_OK;
}

/* w8 from nn.Linear's N x K int8 rows: a panel's k-quad of a column is 4 consecutive bytes of one weight row, so
 * packing is a 4-byte copy per (column, quad), with the same -128 -> -127 storage, column sums and correction
 * lists as npu_gemm_create_w8 (a column's list is its row's -128 positions, already in k order). */
typedef struct {
  npu_gemm* g;
  const int8_t* w;
  int64_t* counts; /* per column: -128 entries (corr_ptr[n + 1] before the prefix sum) */
} w8pack_job;

static void w8pack_task(void* arg, int64_t p0, int64_t p1) {
  const w8pack_job* j = (const w8pack_job*)arg;
  npu_gemm* g = j->g;
  const int64_t K = g->K, N = g->N, nq = g->Kq / 4, Kt = g->Kt;
  for (int64_t p = p0; p < p1; p++) {
    const int cols = (int)(N - p * NPU_NR < NPU_NR ? N - p * NPU_NR : NPU_NR);
    int8_t* panel = g->w8 + p * nq * 64;
    int64_t cnt[NPU_NR] = {0};
    for (int64_t k0 = 0, t = 0; k0 < K; k0 += Kt, t++) { /* Kt is a multiple of 4: quads never straddle tiles */
      const int64_t k1 = k0 + Kt < K ? k0 + Kt : K;
      int32_t sum[NPU_NR] = {0};
      /* 256 k at a time: the panel's 4 KiB for them stays in L1 while the 16 rows are read */
      for (int64_t kb = k0; kb < k1; kb += 256) {
        const int64_t ke = kb + 256 < k1 ? kb + 256 : k1;
        for (int c = 0; c < cols; c++) {
          const int8_t* row = j->w + (p * NPU_NR + c) * K;
          int64_t k = kb;
#if defined(__SSE2__)
          /* 16 k: -128 -> -127 is r - (r == -128); the signed sum via sad_epu8 of r ^ 0x80 (= r + 128) */
          for (; k + 16 <= ke; k += 16) {
            const __m128i r = _mm_loadu_si128((const __m128i*)(row + k));
            const __m128i m = _mm_cmpeq_epi8(r, _mm_set1_epi8(-128));
            const __m128i v = _mm_sub_epi8(r, m);
            cnt[c] += __builtin_popcount((unsigned)_mm_movemask_epi8(m));
            const __m128i sd = _mm_sad_epu8(_mm_xor_si128(v, _mm_set1_epi8((char)0x80)), _mm_setzero_si128());
            sum[c] += _mm_cvtsi128_si32(sd) + _mm_extract_epi16(sd, 4) - 128 * 16;
            int32_t q[4];
            _mm_storeu_si128((__m128i*)q, v);
            int8_t* d = panel + (k >> 2) * 64 + c * 4;
            for (int i = 0; i < 4; i++) memcpy(d + i * 64, &q[i], 4);
          }
#endif
          for (; k < ke; k++) {
            const int8_t v = row[k] == -128 ? -127 : row[k];
            cnt[c] += row[k] == -128;
            panel[(k >> 2) * 64 + c * 4 + (k & 3)] = v;
            sum[c] += v;
          }
        }
      }
      for (int c = 0; c < cols; c++) g->csum128[(t * g->panels + p) * NPU_NR + c] = 128 * sum[c];
    }
    for (int c = 0; c < cols; c++) j->counts[p * NPU_NR + c] = cnt[c];
  }
}

NPU_API npu_status npu_gemm_create_w8_t(npu_ctx* ctx, int32_t variant, const int8_t* w, int32_t transposed, int64_t K, int64_t N, npu_gemm** out) {
  const char* fn = "npu_gemm_create_w8_t";
  if (!out) return fail(NPU_E_ARG, "%s: out is NULL", fn);
  *out = NULL;
  if (transposed != 0 && transposed != 1) return fail(NPU_E_ARG, "%s: transposed=%d must be 0 (K x N) or 1 (N x K)", fn, transposed);
  if (!transposed) return npu_gemm_create_w8(ctx, variant, w, K, N, out);
  if (!ctx || !w) return fail(NPU_E_ARG, "%s: ctx and w must not be NULL", fn);
  if (variant != NPU_W8A8 && variant != NPU_W8A16) return fail(NPU_E_ARG, "%s: variant %d is not w8a8 or w8a16", fn, variant);
  npu_status st = check_shape(fn, variant, 0, K, N, 0);
  if (st) return st;
  npu_gemm* g = new_gemm(ctx, variant, K, N);
  if (!g) return fail(NPU_E_OOM, "%s: out of memory", fn);
  g->Kq = round_up(K, 4);
  const int64_t tiles = (g->Kq + g->Kt - 1) / g->Kt;
  g->w8 = (int8_t*)panel_alloc((size_t)g->panels * g->Kq * NPU_NR, 1);
  g->corr_ptr = (int64_t*)calloc((size_t)N + 1, sizeof(int64_t));
  g->csum128 = (int32_t*)aligned_zalloc((size_t)tiles * g->panels * NPU_NR * sizeof(int32_t));
  if (!g->w8 || !g->corr_ptr || !g->csum128) {
    gemm_free(g);
    return fail(NPU_E_OOM, "%s: out of memory for K=%lld N=%lld", fn, (long long)K, (long long)N);
  }
  w8pack_job job = {g, w, g->corr_ptr + 1};
  pack_parallel(ctx, w8pack_task, &job, g->panels, (double)K * (double)N);
  for (int64_t n = 0; n < N; n++) g->corr_ptr[n + 1] += g->corr_ptr[n];
  const int64_t ncorr = g->corr_ptr[N];
  if (ncorr) {
    g->corr_k = (int32_t*)malloc((size_t)ncorr * sizeof(int32_t));
    if (!g->corr_k) {
      gemm_free(g);
      return fail(NPU_E_OOM, "%s: out of memory", fn);
    }
    for (int64_t n = 0; n < N; n++) {
      int64_t e = g->corr_ptr[n], k = 0;
      const int8_t* row = w + n * K;
#if defined(__SSE2__)
      /* 16 k per compare; the set bits of the mask are the -128 positions, in k order */
      for (; k + 16 <= K && e < g->corr_ptr[n + 1]; k += 16)
        for (unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i*)(row + k)), _mm_set1_epi8(-128))); m; m &= m - 1)
          g->corr_k[e++] = (int32_t)(k + __builtin_ctz(m));
#endif
      for (; k < K && e < g->corr_ptr[n + 1]; k++)
        if (row[k] == -128) g->corr_k[e++] = (int32_t)k;
    }
  }
  link_gemm(ctx, g);
  *out = g;
  return NPU_OK;
}

#define W8_MMAX 64
#define BF_MMAX 32

typedef struct {
  npu_gemm* g;
  const int8_t* x; /* M x Kq, zero-padded rows, each byte ^ flip */
  int64_t M;
  int32_t* c; /* M x N */
  uint8_t flip; /* 0x80 when the kernel wants x + 128 as unsigned bytes */
} w8_job;

/* Exact corrections for stored -127 (weights that were -128), then the valid columns of one panel into c. */
static void w8_store(const w8_job* j, int64_t p, int64_t r0, int R, const int32_t* acc_in, int32_t* acc) {
  const npu_gemm* g = j->g;
  const int64_t Kq = g->Kq, N = g->N, n0 = p * NPU_NR;
  const int cols = (int)(N - n0 < NPU_NR ? N - n0 : NPU_NR);
  const int8_t* xr = j->x + r0 * Kq;
  if (acc != acc_in) memcpy(acc, acc_in, sizeof(int32_t) * R * NPU_NR);
  for (int c = 0; c < cols; c++) {
    const int64_t n = n0 + c;
    for (int64_t e = g->corr_ptr[n]; e < g->corr_ptr[n + 1]; e++) {
      const int32_t kk = g->corr_k[e];
      for (int r = 0; r < R; r++) acc[r * NPU_NR + c] -= (int8_t)(xr[r * Kq + kk] ^ j->flip);
    }
    for (int r = 0; r < R; r++) j->c[(r0 + r) * N + n] = acc[r * NPU_NR + c];
  }
}

static void w8_task(void* arg, int64_t p0, int64_t p1) {
  const w8_job* j = (const w8_job*)arg;
  const npu_gemm* g = j->g;
  const npu_kernels* k = g->ctx->k;
  const int64_t Kq = g->Kq, qt = g->Kt / 4, nq = Kq / 4;
  int32_t acc[NPU_GEMV_P * NPU_MAXR * NPU_NR];
  /* few rows (decode): the streamed GEMV kernel over up to NPU_GEMV_P / R panels at once */
  const int gemv = k->w8_gemv && j->M >= 1 && j->M <= 2;
  for (int64_t p = p0; p < p1;) {
    const int8_t* panel = g->w8 + p * nq * 64;
    /* two panels per call where the kernel has it and there are enough rows to fill its accumulators */
    const int two = !gemv && k->w8_block2 && p + 1 < p1 && j->M >= k->rows;
    const int np = gemv ? (int)(p1 - p < NPU_GEMV_P / j->M ? p1 - p : NPU_GEMV_P / j->M) : two ? 2 : 1;
    for (int64_t r0 = 0; r0 < j->M; r0 += k->rows) {
      const int R = (int)(j->M - r0 < k->rows ? j->M - r0 : k->rows);
      const int8_t* xr = j->x + r0 * Kq;
      /* one launch per K tile; the host adds the tiles' int32 results */
      for (int64_t q0 = 0, t = 0; q0 < nq; q0 += qt, t++) {
        const int64_t cnt = nq - q0 < qt ? nq - q0 : qt;
        const int32_t* cs = g->csum128 + (t * g->panels + p) * NPU_NR;
        if (gemv)
          k->w8_gemv(R, np, xr + q0 * 4, Kq, panel + q0 * 64, nq * 64, cnt, cs, acc, t > 0);
        else if (two)
          k->w8_block2(R, xr + q0 * 4, Kq, panel + q0 * 64, nq * 64, cnt, cs, acc, t > 0);
        else
          k->w8_block(R, xr + q0 * 4, Kq, panel + q0 * 64, cnt, cs, acc, t > 0);
      }
      for (int q = 0; q < np; q++) w8_store(j, p + q, r0, R, acc + q * NPU_MAXR * NPU_NR, acc + q * NPU_MAXR * NPU_NR);
    }
    p += np;
  }
}

static int threads_for(const npu_gemm* g, int64_t M) {
  /* Waking a sleeping worker costs 10-50 µs on a VM (more on a busy host, where the caller may also wait for a
   * chunk the worker claimed and was preempted in): split only calls of 2^21 multiply-adds and more, e.g. a
   * 768 x 3072 decode GEMV (~0.1 ms), not a 768 x 768 one (~30 µs). */
  double work = (double)M * (double)g->K * (double)g->N;
  return work >= 2097152.0 && g->panels >= 2 ? g->ctx->pool.n : 1;
}

static uint64_t launches(const npu_gemm* g, int64_t M, int mmax) {
  return (uint64_t)((M + mmax - 1) / mmax) * (uint64_t)(g->Np / g->Nt) * (uint64_t)(g->Kp / g->Kt);
}

static npu_status begin_run(npu_gemm* g, const char* fn, int64_t M, const char* prefix) {
  if (M < 0) return fail(NPU_E_ARG, "%s: M=%lld is negative", fn, (long long)M);
  if (g->ctx->flags & NPU_F_TEST_FAIL)
    return fail(NPU_E_XRT, "%s: injected failure (NPU_F_TEST_FAIL): launch of %s_%lld_%lld_%lld on device '%s' did not complete", fn, prefix,
                (long long)(M < 1 ? 1 : M), (long long)g->Kt, (long long)g->Nt, g->ctx->device);
  if (pthread_mutex_trylock(&g->ctx->run_lock) != 0) return fail(NPU_E_BUSY, "%s: the context is running another call", fn);
  return NPU_OK;
}

/* Activation rows into the kernel's buffer: padded to Kq with zeros, every byte ^ flip. */
static void pad_rows(int8_t* dst, const int8_t* src, int64_t M, int64_t K, int64_t Kq, uint8_t flip) {
  for (int64_t m = 0; m < M; m++) {
    int8_t* d = dst + m * Kq;
    const int8_t* s = src + m * K;
    if (flip)
      for (int64_t k = 0; k < K; k++) d[k] = (int8_t)(s[k] ^ 0x80);
    else
      memcpy(d, s, (size_t)K);
    memset(d + K, (int)flip, (size_t)(Kq - K));
  }
}

static npu_status w8_core(npu_gemm* g, const char* fn, const int8_t* a, int64_t M, int32_t* c, double t0) {
  int8_t* x = (int8_t*)scratch(g, (size_t)(M ? M : 1) * g->Kq);
  if (!x) return fail(NPU_E_OOM, "%s: out of memory for the activation buffer", fn);
  const uint8_t flip = g->ctx->k->w8_flip ? 0x80 : 0;
  pad_rows(x, a, M, g->K, g->Kq, flip);
  double t1 = now_ms();
  w8_job job = {g, x, M, c, flip};
  pool_run(&g->ctx->pool, threads_for(g, M), w8_task, &job, g->panels);
  double t2 = now_ms();
  g->stats.ms_copy_in += t1 - t0;
  g->stats.ms_run += t2 - t1;
  g->stats.runs += launches(g, M, W8_MMAX);
  return NPU_OK;
}

NPU_API npu_status npu_gemm_run_w8(npu_gemm* g, const int8_t* a, int64_t M, int32_t* c) {
  if (!g || (M > 0 && (!a || !c))) return fail(NPU_E_ARG, "npu_gemm_run_w8: gemm, a and c must not be NULL");
  if (g->variant != NPU_W8A8) return fail(NPU_E_ARG, "npu_gemm_run_w8: the handle is a %s gemm", variant_name(g->variant));
  npu_status st = begin_run(g, "npu_gemm_run_w8", M, "a8w8acc32");
  if (st) return st;
  double t0 = now_ms();
  st = w8_core(g, "npu_gemm_run_w8", a, M, c, t0);
  g->stats.calls++;
  pthread_mutex_unlock(&g->ctx->run_lock);
  return st;
}

NPU_API npu_status npu_gemm_run_w8_f32(npu_gemm* g, const float* x, int64_t M, const float* w_scale, int64_t n_scales, const float* bias, float* y,
                                       float* x_scale_out) {
  const char* fn = "npu_gemm_run_w8_f32";
  if (!g || !w_scale || (M > 0 && (!x || !y))) return fail(NPU_E_ARG, "%s: gemm, x, w_scale and y must not be NULL", fn);
  if (g->variant != NPU_W8A8) return fail(NPU_E_ARG, "%s: the handle is a %s gemm", fn, variant_name(g->variant));
  if (n_scales != 1 && n_scales != g->N) return fail(NPU_E_ARG, "%s: n_scales=%lld must be 1 or N=%lld", fn, (long long)n_scales, (long long)g->N);
  npu_status st = begin_run(g, fn, M, "a8w8acc32");
  if (st) return st;
  const int64_t N = g->N, K = g->K;
  double t0 = now_ms();
  const npu_kernels* k = g->ctx->k;
  /* x_scale = max|x| / 128 over the whole call (1 for an all-zero input, which then stays zero) */
  float xs = k->absmax(x, M * K) / 128.0f;
  if (xs == 0.0f) xs = 1.0f;
  if (!(xs <= FLT_MAX)) {
    /* a NaN or +-Inf activation: the per-tensor scale is undefined, so the whole output is NaN (contract) */
    xs = NAN;
    if (x_scale_out) *x_scale_out = xs;
    for (int64_t i = 0; i < M * N; i++) y[i] = NAN;
    g->stats.ms_host_acc += now_ms() - t0;
    g->stats.calls++;
    pthread_mutex_unlock(&g->ctx->run_lock);
    return NPU_OK;
  }
  if (x_scale_out) *x_scale_out = xs;
  /* quantized rows and int32 accumulators share one scratch block: [M x K int8][M x N int32] */
  size_t qbytes = (size_t)round_up(M * K, 64);
  int8_t* xq = (int8_t*)scratch(g, qbytes + (size_t)M * N * sizeof(int32_t) + (size_t)(M ? M : 1) * g->Kq + 64);
  if (!xq) {
    pthread_mutex_unlock(&g->ctx->run_lock);
    return fail(NPU_E_OOM, "%s: out of memory", fn);
  }
  int32_t* acc = (int32_t*)(xq + qbytes);
  k->quantize(x, M * K, xs, xq);
  /* w8_core copies into its own padded rows: give it the tail of the scratch block */
  int8_t* padded = (int8_t*)(acc + M * N);
  const uint8_t flip = k->w8_flip ? 0x80 : 0;
  pad_rows(padded, xq, M, K, g->Kq, flip);
  double t1 = now_ms();
  w8_job job = {g, padded, M, acc, flip};
  pool_run(&g->ctx->pool, threads_for(g, M), w8_task, &job, g->panels);
  double t2 = now_ms();
  /* y = float(acc) * float(x_scale * w_scale) (+ bias): float32 steps, no FMA (-ffp-contract=off) */
  if (n_scales == 1) {
    const float s = xs * w_scale[0];
    for (int64_t m = 0; m < M; m++) {
      const int32_t* a = acc + m * N;
      float* o = y + m * N;
      if (bias)
        for (int64_t n = 0; n < N; n++) o[n] = (float)a[n] * s + bias[n];
      else
        for (int64_t n = 0; n < N; n++) o[n] = (float)a[n] * s;
    }
  } else {
    for (int64_t m = 0; m < M; m++) {
      const int32_t* a = acc + m * N;
      float* o = y + m * N;
      for (int64_t n = 0; n < N; n++) {
        const float s = xs * w_scale[n];
        o[n] = bias ? (float)a[n] * s + bias[n] : (float)a[n] * s;
      }
    }
  }
  double t3 = now_ms();
  g->stats.ms_copy_in += t1 - t0;
  g->stats.ms_run += t2 - t1;
  g->stats.ms_host_acc += t3 - t2;
  g->stats.runs += launches(g, M, W8_MMAX);
  g->stats.calls++;
  pthread_mutex_unlock(&g->ctx->run_lock);
  return NPU_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * w4abf16, f32, bf16: float panels */

NPU_API npu_status npu_gemm_create_w4(npu_ctx* ctx, const uint8_t* q, const uint8_t* zeros, const float* scales, const float* bias, int64_t K,
                                      int64_t N, int32_t group, int32_t w_bits, npu_gemm** out) {
  const char* fn = "npu_gemm_create_w4";
  if (!out) return fail(NPU_E_ARG, "%s: out is NULL", fn);
  *out = NULL;
  if (!ctx || !q || !scales) return fail(NPU_E_ARG, "%s: ctx, q and scales must not be NULL", fn);
  if (w_bits != 3 && w_bits != 4) return fail(NPU_E_UNSUPPORTED, "%s: w_bits %d is not 3 or 4", fn, w_bits);
  npu_status st = check_shape(fn, NPU_W4ABF16, 0, K, N, group);
  if (st) return st;
  const int qmax = (1 << w_bits) - 1;
  for (int64_t i = 0; i < K * N; i++)
    if (q[i] > qmax) return fail(NPU_E_ARG, "%s: q[%lld][%lld] = %d exceeds %d for %d-bit weights", fn, (long long)(i / N), (long long)(i % N), q[i], qmax, w_bits);
  const int64_t groups = K / group;
  if (zeros)
    for (int64_t i = 0; i < groups * N; i++)
      if (zeros[i] > qmax) return fail(NPU_E_ARG, "%s: zeros[%lld][%lld] = %d exceeds %d", fn, (long long)(i / N), (long long)(i % N), zeros[i], qmax);
  npu_gemm* g = new_gemm(ctx, NPU_W4ABF16, K, N);
  if (!g) return fail(NPU_E_OOM, "%s: out of memory", fn);
  g->group = group;
  g->w_bits = w_bits;
  const int64_t Ke = round_up(K, 2);
  g->q4 = (uint8_t*)aligned_zalloc((size_t)g->panels * (Ke / 2) * NPU_NR);
  g->s4 = (float*)aligned_zalloc((size_t)g->panels * groups * NPU_NR * sizeof(float));
  g->nzs4 = (float*)aligned_zalloc((size_t)g->panels * groups * NPU_NR * sizeof(float));
  g->bias = (float*)aligned_zalloc((size_t)N * sizeof(float));
  if (!g->q4 || !g->s4 || !g->nzs4 || !g->bias) {
    gemm_free(g);
    return fail(NPU_E_OOM, "%s: out of memory for K=%lld N=%lld", fn, (long long)K, (long long)N);
  }
  for (int64_t kb = 0; kb < K; kb += PACK_KB)
    for (int64_t p = 0; p < g->panels; p++)
      for (int64_t k = kb; k < K && k < kb + PACK_KB; k++) {
        uint8_t* d = g->q4 + (p * (Ke / 2) + k / 2) * NPU_NR;
        const uint8_t* src = q + k * N + p * NPU_NR;
        const int cols = (int)(N - p * NPU_NR < NPU_NR ? N - p * NPU_NR : NPU_NR);
        for (int c = 0; c < cols; c++) d[c] |= (uint8_t)(src[c] << ((k & 1) * 4));
      }
  const int zdef = 1 << (w_bits - 1);
  for (int64_t gi = 0; gi < groups; gi++)
    for (int64_t n = 0; n < N; n++) {
      int64_t p = n / NPU_NR, c = n % NPU_NR;
      const float s = npu_bf16_round(scales[gi * N + n]); /* the hardware stores bf16 scales */
      const float z = (float)(zeros ? zeros[gi * N + n] : zdef);
      g->s4[(p * groups + gi) * NPU_NR + c] = s;
      g->nzs4[(p * groups + gi) * NPU_NR + c] = -(z * s); /* exact: 4-bit x 8-bit significands */
    }
  for (int64_t n = 0; n < N; n++) g->bias[n] = bias ? npu_bf16_round(bias[n]) : 0.0f; /* bias lives in the bf16 weight buffer */
  link_gemm(ctx, g);
  *out = g;
  return NPU_OK;
}

typedef struct {
  npu_gemm* g;
  const void* w;
  int bf16;       /* w holds bf16 bits (widened exactly) rather than float32 */
  int transposed; /* w is N x K (nn.Linear) rather than K x N */
  int simd;       /* the AVX2 8 x 8 transposer may be used */
} fpack_job;

static inline float f_elem(const void* w, int bf16, int64_t i) { return bf16 ? npu_bf16_value(((const uint16_t*)w)[i]) : ((const float*)w)[i]; }

static void fpack_task(void* arg, int64_t p0, int64_t p1) {
  const fpack_job* j = (const fpack_job*)arg;
  const int64_t K = j->g->K, N = j->g->N;
  const size_t es = j->bf16 ? 2 : 4;
  if (!j->transposed) {
    /* K x N: each panel row is a slice of one weight row; blocks of rows keep reads and writes sequential */
    for (int64_t kb = 0; kb < K; kb += PACK_KB)
      for (int64_t p = p0; p < p1; p++) {
        const int cols = (int)(N - p * NPU_NR < NPU_NR ? N - p * NPU_NR : NPU_NR);
        for (int64_t k = kb; k < K && k < kb + PACK_KB; k++) {
          float* d = j->g->wf + (p * K + k) * NPU_NR;
          const int64_t i = k * N + p * NPU_NR;
          if (!j->bf16)
            memcpy(d, (const float*)j->w + i, sizeof(float) * cols);
          else
            for (int c = 0; c < cols; c++) d[c] = f_elem(j->w, 1, i + c);
        }
      }
    return;
  }
  for (int64_t p = p0; p < p1; p++) {
    float* dst = j->g->wf + p * K * NPU_NR;
    const int cols = (int)(N - p * NPU_NR < NPU_NR ? N - p * NPU_NR : NPU_NR);
    /* the buffer is not pre-zeroed on this path (one write pass less): only a partial panel has columns to zero */
    if (cols < NPU_NR) memset(dst, 0, sizeof(float) * (size_t)(K * NPU_NR));
    /* N x K: the panel is the transpose of `cols` consecutive weight rows. Full groups of 8 rows go through the
     * 8 x 8 register transposer up to the last multiple of 8 in k; the rest in 8-k blocks of scalar copies (each
     * block touches 8 panel rows, 512 bytes, while it reads 8 consecutive elements of each weight row). */
    const char* rows = (const char*)j->w + (size_t)(p * NPU_NR) * (size_t)K * es;
    const int full = j->simd ? cols / 8 * 8 : 0;
    const int64_t kv = full ? K / 8 * 8 : 0;
    for (int h = 0; h < full; h += 8) npu_pack_f8x8(rows + (size_t)h * (size_t)K * es, j->bf16, K, kv, dst + h);
    for (int64_t k0 = 0; k0 < K; k0 += 8) {
      const int64_t k1 = k0 + 8 < K ? k0 + 8 : K;
      for (int c = k0 < kv ? full : 0; c < cols; c++)
        for (int64_t k = k0; k < k1; k++) dst[k * NPU_NR + c] = f_elem(rows, j->bf16, (int64_t)c * K + k);
    }
  }
}

/* f32/bf16 gemm from K x N or N x K weights, float32 or bf16 bits (bf16 values are exact in float32). */
static npu_status create_f(const char* fn, npu_ctx* ctx, int32_t variant, const void* w, int bf16, int transposed, int64_t K, int64_t N, npu_gemm** out) {
  npu_status st = check_shape(fn, variant, 0, K, N, 0);
  if (st) return st;
  npu_gemm* g = new_gemm(ctx, variant, K, N);
  if (!g) return fail(NPU_E_OOM, "%s: out of memory", fn);
  /* from N x K every element of a full panel is written by the packing: skip the zeroing pass there */
  g->wf = (float*)panel_alloc((size_t)g->panels * K * NPU_NR * sizeof(float), !transposed);
  if (!g->wf) {
    gemm_free(g);
    return fail(NPU_E_OOM, "%s: out of memory for K=%lld N=%lld", fn, (long long)K, (long long)N);
  }
  fpack_job job = {g, w, bf16, transposed, npu_pack_f8x8 && ctx->k != &npu_kernels_portable};
  pack_parallel(ctx, fpack_task, &job, g->panels, (double)K * (double)N * (bf16 ? 2 : 4));
  link_gemm(ctx, g);
  *out = g;
  return NPU_OK;
}

NPU_API npu_status npu_gemm_create_f(npu_ctx* ctx, int32_t variant, const void* w, int64_t K, int64_t N, npu_gemm** out) {
  const char* fn = "npu_gemm_create_f";
  if (!out) return fail(NPU_E_ARG, "%s: out is NULL", fn);
  *out = NULL;
  if (!ctx || !w) return fail(NPU_E_ARG, "%s: ctx and w must not be NULL", fn);
  if (variant != NPU_F32 && variant != NPU_BF16) return fail(NPU_E_ARG, "%s: variant %d is not NPU_F32 or NPU_BF16", fn, variant);
  return create_f(fn, ctx, variant, w, variant == NPU_BF16, 0, K, N, out);
}

NPU_API npu_status npu_gemm_create_f_t(npu_ctx* ctx, int32_t variant, const void* w, int32_t w_dtype, int32_t transposed, int64_t K, int64_t N,
                                       npu_gemm** out) {
  const char* fn = "npu_gemm_create_f_t";
  if (!out) return fail(NPU_E_ARG, "%s: out is NULL", fn);
  *out = NULL;
  if (!ctx || !w) return fail(NPU_E_ARG, "%s: ctx and w must not be NULL", fn);
  if (variant != NPU_F32 && variant != NPU_BF16) return fail(NPU_E_ARG, "%s: variant %d is not NPU_F32 or NPU_BF16", fn, variant);
  if (w_dtype != NPU_DT_F32 && w_dtype != NPU_DT_BF16) return fail(NPU_E_ARG, "%s: w_dtype %d is not NPU_DT_F32 or NPU_DT_BF16", fn, w_dtype);
  if (variant == NPU_BF16 && w_dtype != NPU_DT_BF16)
    return fail(NPU_E_ARG, "%s: a bf16 gemm takes bf16 weights (w_dtype NPU_DT_BF16), got float32: round them to bf16 first", fn);
  if (transposed != 0 && transposed != 1) return fail(NPU_E_ARG, "%s: transposed=%d must be 0 (K x N) or 1 (N x K)", fn, transposed);
  return create_f(fn, ctx, variant, w, w_dtype == NPU_DT_BF16, transposed, K, N, out);
}

typedef struct {
  npu_gemm* g;
  const float* x; /* M x K float32 (bf16 values for w4/bf16) */
  int64_t M;
  const float* bias; /* added after the tiles (f32/bf16), or NULL */
  void* c;
  int32_t out_dtype;
} f_job;

/* The accumulators of one K tile for P panels x R rows (row stride NPU_NR, panel stride astride): the w4 contract's
 * bf16(bias) in the first tile (`with_bias`), 0 in the others and in the padded columns past N. */
static void tile_acc_start(float* acc, int64_t astride, int64_t p, int P, int R, int64_t N, const float* bias, int with_bias) {
  for (int q = 0; q < P; q++)
    for (int r = 0; r < R; r++)
      for (int c = 0; c < NPU_NR; c++) {
        const int64_t n = (p + q) * NPU_NR + c;
        acc[q * astride + r * NPU_NR + c] = with_bias && n < N ? bias[n] : 0.0f;
      }
}

/* w4 with M <= 3: straight from the packed nibbles, several panels at once (see w4_rows). Same loop nest. */
static void w4_small_task(const f_job* j, int64_t p0, int64_t p1) {
  const npu_gemm* g = j->g;
  const npu_kernels* k = g->ctx->k;
  const int64_t K = g->K, N = g->N, Kt = g->Kt, G = g->group, groups = K / G, Ke = round_up(K, 2);
  const int R = (int)j->M;
  const int pmax = R == 1 ? k->w4p : R == 2 ? (k->w4p / 2 > 0 ? k->w4p / 2 : 1) : (k->w4p / 4 > 0 ? k->w4p / 4 : 1);
  float acc[8 * 3 * NPU_NR], y[8 * 3 * NPU_NR];
  const int64_t astride = 3 * NPU_NR;
  for (int64_t p = p0; p < p1; p += pmax) {
    const int P = (int)(p1 - p < pmax ? p1 - p : pmax);
    for (int64_t k0 = 0, t = 0; k0 < K; k0 += Kt, t++) {
      const int64_t k1 = k0 + Kt < K ? k0 + Kt : K;
      tile_acc_start(acc, astride, p, P, R, N, g->bias, t == 0);
      for (int64_t gs = k0; gs < k1; gs += G) {
        const int64_t gi = gs / G;
        k->w4_rows(R, P, j->x + gs, K, g->q4 + (p * (Ke / 2) + gs / 2) * NPU_NR, (Ke / 2) * NPU_NR, G, g->s4 + (p * groups + gi) * NPU_NR,
                   g->nzs4 + (p * groups + gi) * NPU_NR, groups * NPU_NR, acc, astride);
      }
      for (int i = 0; i < P * (int)astride; i++) y[i] = t == 0 ? acc[i] : y[i] + acc[i];
    }
    for (int q = 0; q < P; q++)
      for (int r = 0; r < R; r++)
        for (int c = 0; c < NPU_NR; c++) {
          const int64_t n = (p + q) * NPU_NR + c;
          if (n >= N) break;
          const float v = y[q * astride + r * NPU_NR + c];
          if (j->out_dtype == NPU_DT_BF16)
            ((uint16_t*)j->c)[r * N + n] = npu_bf16_bits(v);
          else
            ((float*)j->c)[r * N + n] = v;
        }
  }
}

/* Rows from which the register-blocked prefill GEMMs beat the f_chunk path (measured with `bench npu --prefill`). */
#define PREFILL_MIN_M_F 4
#define PREFILL_MIN_M_W4 8

static void f_task(void* arg, int64_t p0, int64_t p1) {
  const f_job* j = (const f_job*)arg;
  const npu_prefill_kernels* pk = j->g->ctx->pk;
  /* (a prefill GEMM that cannot allocate its scratch returns -1: the f_chunk path below then does the work) */
  if (pk && j->g->variant == NPU_W4ABF16 && j->M >= PREFILL_MIN_M_W4) {
    const npu_gemm* g = j->g;
    if (pk->w4_gemm(j->x, j->M, g->K, g->Kt, g->group, g->q4, g->s4, g->nzs4, p0, p1, g->N, g->bias, j->c, j->out_dtype == NPU_DT_BF16) == 0) return;
  }
  if (pk && j->g->variant != NPU_W4ABF16 && j->M >= PREFILL_MIN_M_F) {
    const npu_gemm* g = j->g;
    if (pk->f_gemm(j->x, j->M, g->K, g->Kt, g->wf, p0, p1, g->N, j->bias, j->c, j->out_dtype == NPU_DT_BF16, g->variant != NPU_F32) == 0) return;
  }
  if (j->g->variant == NPU_W4ABF16 && j->M >= 1 && j->M <= 3 && j->g->ctx->k->w4_rows) {
    w4_small_task(j, p0, p1);
    return;
  }
  const npu_gemm* g = j->g;
  const npu_kernels* k = g->ctx->k;
  const int64_t K = g->K, N = g->N, Kt = g->Kt, Ke = round_up(K, 2);
  const int w4 = g->variant == NPU_W4ABF16;
  const int fused = g->variant != NPU_F32; /* exact products: fused == unfused, and fused is faster */
  const int64_t groups = w4 ? K / g->group : 0;
  enum { AS = BF_MMAX * NPU_NR, WS = 128 * NPU_NR };
  float acc[NPU_GEMV_P * AS], y[NPU_GEMV_P * AS];
  float wbuf[2 * WS] __attribute__((aligned(64)));
  /* few rows of float weights (decode): the streamed GEMV kernel over up to NPU_GEMV_P / M panels at once */
  const int gemv = !w4 && k->f_gemv && j->M >= 1 && j->M <= 2;
  for (int64_t p = p0; p < p1;) {
    /* two panels per kernel call where the kernel has it: twice the independent accumulator chains */
    const int PP = gemv ? (int)(p1 - p < NPU_GEMV_P / j->M ? p1 - p : NPU_GEMV_P / j->M) : k->f_chunk2 && p + 1 < p1 && j->M >= k->rows ? 2 : 1;
    for (int64_t m0 = 0; m0 < j->M; m0 += BF_MMAX) {
      const int rows = (int)(j->M - m0 < BF_MMAX ? j->M - m0 : BF_MMAX);
      const float* xm = j->x + m0 * K;
      for (int64_t k0 = 0, t = 0; k0 < K; k0 += Kt, t++) {
        const int64_t k1 = k0 + Kt < K ? k0 + Kt : K;
        tile_acc_start(acc, AS, p, PP, rows, N, g->bias, w4 && t == 0);
        if (w4) {
          for (int64_t gs = k0; gs < k1; gs += g->group) {
            const int64_t gi = gs / g->group;
            for (int q = 0; q < PP; q++)
              k->w4_dequant(g->q4 + ((p + q) * (Ke / 2) + gs / 2) * NPU_NR, g->group, g->s4 + ((p + q) * groups + gi) * NPU_NR,
                            g->nzs4 + ((p + q) * groups + gi) * NPU_NR, wbuf + q * WS);
            for (int r0 = 0; r0 < rows; r0 += k->rows) {
              const int R = rows - r0 < k->rows ? rows - r0 : k->rows;
              if (PP == 2)
                k->f_chunk2(R, xm + r0 * K + gs, K, wbuf, WS, g->group, acc + r0 * NPU_NR, AS, 1);
              else
                k->f_chunk(R, xm + r0 * K + gs, K, wbuf, g->group, acc + r0 * NPU_NR, 1);
            }
          }
        } else {
          const float* wp = g->wf + (p * K + k0) * NPU_NR;
          for (int r0 = 0; r0 < rows; r0 += k->rows) {
            const int R = rows - r0 < k->rows ? rows - r0 : k->rows;
            if (gemv)
              k->f_gemv(R, PP, xm + r0 * K + k0, K, wp, K * NPU_NR, k1 - k0, acc + r0 * NPU_NR, AS, fused);
            else if (PP == 2)
              k->f_chunk2(R, xm + r0 * K + k0, K, wp, K * NPU_NR, k1 - k0, acc + r0 * NPU_NR, AS, fused);
            else
              k->f_chunk(R, xm + r0 * K + k0, K, wp, k1 - k0, acc + r0 * NPU_NR, fused);
          }
        }
        /* host accumulation of the K tiles, in tile order */
        for (int q = 0; q < PP; q++) {
          if (t == 0)
            memcpy(y + q * AS, acc + q * AS, sizeof(float) * rows * NPU_NR);
          else
            for (int i = 0; i < rows * NPU_NR; i++) y[q * AS + i] = y[q * AS + i] + acc[q * AS + i];
        }
      }
      for (int q = 0; q < PP; q++) {
        const int64_t n0 = (p + q) * NPU_NR;
        const int cols = (int)(N - n0 < NPU_NR ? N - n0 : NPU_NR);
        for (int r = 0; r < rows; r++)
          for (int c = 0; c < cols; c++) {
            float v = y[q * AS + r * NPU_NR + c];
            if (j->bias) v = v + j->bias[n0 + c];
            const int64_t o = (m0 + r) * N + n0 + c;
            if (j->out_dtype == NPU_DT_BF16)
              ((uint16_t*)j->c)[o] = npu_bf16_bits(v);
            else
              ((float*)j->c)[o] = v;
          }
      }
    }
    p += PP;
  }
}

static npu_status f_run(npu_gemm* g, const float* x, int64_t M, const float* bias, void* c, int32_t out_dtype, double t0) {
  double t1 = now_ms();
  f_job job = {g, x, M, bias, c, out_dtype};
  pool_run(&g->ctx->pool, threads_for(g, M), f_task, &job, g->panels);
  double t2 = now_ms();
  g->stats.ms_copy_in += t1 - t0;
  g->stats.ms_run += t2 - t1;
  g->stats.runs += launches(g, M, BF_MMAX);
  g->stats.calls++;
  return NPU_OK;
}

NPU_API npu_status npu_gemm_run_w4(npu_gemm* g, const void* a, int32_t a_dtype, int64_t M, void* c, int32_t out_dtype) {
  const char* fn = "npu_gemm_run_w4";
  if (!g || (M > 0 && (!a || !c))) return fail(NPU_E_ARG, "%s: gemm, a and c must not be NULL", fn);
  if (g->variant != NPU_W4ABF16) return fail(NPU_E_ARG, "%s: the handle is a %s gemm", fn, variant_name(g->variant));
  if (a_dtype != NPU_DT_BF16 && a_dtype != NPU_DT_F32) return fail(NPU_E_ARG, "%s: a_dtype %d is not NPU_DT_BF16 or NPU_DT_F32", fn, a_dtype);
  if (out_dtype != NPU_DT_F32 && out_dtype != NPU_DT_BF16) return fail(NPU_E_ARG, "%s: out_dtype %d is not NPU_DT_F32 or NPU_DT_BF16", fn, out_dtype);
  npu_status st = begin_run(g, fn, M, out_dtype == NPU_DT_BF16 ? "a16fw4acc32fo16f" : "a16fw4acc32f");
  if (st) return st;
  double t0 = now_ms();
  const int64_t n = M * g->K;
  float* x = (float*)scratch(g, (size_t)(n ? n : 1) * sizeof(float));
  if (!x) {
    pthread_mutex_unlock(&g->ctx->run_lock);
    return fail(NPU_E_OOM, "%s: out of memory", fn);
  }
  if (a_dtype == NPU_DT_F32)
    g->ctx->k->round_bf16((const float*)a, n, x);
  else
    for (int64_t i = 0; i < n; i++) x[i] = npu_bf16_value(((const uint16_t*)a)[i]);
  st = f_run(g, x, M, NULL, c, out_dtype, t0);
  pthread_mutex_unlock(&g->ctx->run_lock);
  return st;
}

NPU_API npu_status npu_gemm_run_f(npu_gemm* g, const void* a, int32_t a_dtype, int64_t M, const float* bias, void* c, int32_t out_dtype) {
  const char* fn = "npu_gemm_run_f";
  if (!g || (M > 0 && (!a || !c))) return fail(NPU_E_ARG, "%s: gemm, a and c must not be NULL", fn);
  if (g->variant != NPU_F32 && g->variant != NPU_BF16) return fail(NPU_E_ARG, "%s: the handle is a %s gemm", fn, variant_name(g->variant));
  const int32_t want = g->variant == NPU_F32 ? NPU_DT_F32 : NPU_DT_BF16;
  if (a_dtype != want) return fail(NPU_E_ARG, "%s: a_dtype %d does not match the %s gemm (expected %d)", fn, a_dtype, variant_name(g->variant), want);
  if (out_dtype != NPU_DT_F32 && out_dtype != NPU_DT_BF16) return fail(NPU_E_ARG, "%s: out_dtype %d is not NPU_DT_F32 or NPU_DT_BF16", fn, out_dtype);
  npu_status st = begin_run(g, fn, M, g->variant == NPU_F32 ? "a32fw32facc32f" : "a16fw16facc32f");
  if (st) return st;
  double t0 = now_ms();
  const float* x = (const float*)a;
  if (a_dtype == NPU_DT_BF16) {
    const int64_t n = M * g->K;
    float* buf = (float*)scratch(g, (size_t)(n ? n : 1) * sizeof(float));
    if (!buf) {
      pthread_mutex_unlock(&g->ctx->run_lock);
      return fail(NPU_E_OOM, "%s: out of memory", fn);
    }
    for (int64_t i = 0; i < n; i++) buf[i] = npu_bf16_value(((const uint16_t*)a)[i]);
    x = buf;
  }
  st = f_run(g, x, M, bias, c, out_dtype, t0);
  pthread_mutex_unlock(&g->ctx->run_lock);
  return st;
}

/* ---------------------------------------------------------------------------------------------------------
 * w4a8: the w4 weights with per-group int8 activations and integer dot products (contract in the header) */

NPU_API npu_status npu_gemm_create_w4a8(npu_ctx* ctx, const uint8_t* q, const uint8_t* zeros, const float* scales, const float* bias, int64_t K,
                                        int64_t N, int32_t group, npu_gemm** out) {
  const char* fn = "npu_gemm_create_w4a8";
  if (!out) return fail(NPU_E_ARG, "%s: out is NULL", fn);
  *out = NULL;
  if (!ctx || !q || !scales) return fail(NPU_E_ARG, "%s: ctx, q and scales must not be NULL", fn);
  npu_status st = check_shape(fn, NPU_W4A8, 0, K, N, group);
  if (st) return st;
  for (int64_t i = 0; i < K * N; i++)
    if (q[i] > 15) return fail(NPU_E_ARG, "%s: q[%lld][%lld] = %d exceeds 15 for 4-bit weights", fn, (long long)(i / N), (long long)(i % N), q[i]);
  const int64_t groups = K / group;
  if (zeros)
    for (int64_t i = 0; i < groups * N; i++)
      if (zeros[i] > 15) return fail(NPU_E_ARG, "%s: zeros[%lld][%lld] = %d exceeds 15", fn, (long long)(i / N), (long long)(i % N), zeros[i]);
  npu_gemm* g = new_gemm(ctx, NPU_W4A8, K, N);
  if (!g) return fail(NPU_E_OOM, "%s: out of memory", fn);
  g->group = group;
  g->w_bits = 4;
  g->q48 = (uint8_t*)aligned_zalloc((size_t)g->panels * (K / 8) * 64);
  g->s48 = (float*)aligned_zalloc((size_t)g->panels * groups * NPU_NR * sizeof(float));
  g->z48 = (uint8_t*)aligned_zalloc((size_t)g->panels * groups * NPU_NR);
  g->bias = (float*)aligned_zalloc((size_t)N * sizeof(float));
  if (!g->q48 || !g->s48 || !g->z48 || !g->bias) {
    gemm_free(g);
    return fail(NPU_E_OOM, "%s: out of memory for K=%lld N=%lld", fn, (long long)K, (long long)N);
  }
  for (int64_t kb = 0; kb < K; kb += PACK_KB)
    for (int64_t p = 0; p < g->panels; p++)
      for (int64_t k = kb; k < K && k < kb + PACK_KB; k++) {
        /* octet k/8, half c/8, byte 4(c%8) + k%4, low nibble for k%8 < 4, high for the rest */
        uint8_t* d = g->q48 + (p * (K / 8) + k / 8) * 64 + (k & 3);
        const uint8_t* src = q + k * N + p * NPU_NR;
        const int cols = (int)(N - p * NPU_NR < NPU_NR ? N - p * NPU_NR : NPU_NR);
        const int shift = (k & 4) ? 4 : 0;
        for (int c = 0; c < cols; c++) d[(c >> 3) * 32 + (c & 7) * 4] |= (uint8_t)(src[c] << shift);
      }
  for (int64_t gi = 0; gi < groups; gi++)
    for (int64_t n = 0; n < N; n++) {
      const int64_t i = (n / NPU_NR * groups + gi) * NPU_NR + n % NPU_NR;
      g->s48[i] = npu_bf16_round(scales[gi * N + n]);
      g->z48[i] = zeros ? zeros[gi * N + n] : 8;
    }
  for (int64_t n = 0; n < N; n++) g->bias[n] = bias ? npu_bf16_round(bias[n]) : 0.0f;
  link_gemm(ctx, g);
  *out = g;
  return NPU_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * w4abf16 / w4a8 from MatMulNBits' layout (N x K/2 bytes, k even in the low nibble): the w4abf16 panel stores the
 * same bytes (two k per byte, low nibble first), so packing is a 16-row byte transpose; the w4a8 octet bytes are
 * regrouped from 4 source bytes per column. Scales, zero points and bias are stored exactly as the K x N entries
 * store them. */

typedef struct {
  npu_gemm* g;
  const uint8_t* qp; /* N x K/2 */
} w4pack_job;

#if defined(__SSE2__)
/* dst[b * 16 + i] = src[i * lds + b] for a 16 x 16 byte block: unpacks of 8, 16, 32 and 64 bits (SSE2 is part of
 * x86-64; pure data movement, so every ISA context may use it). */
static void transpose16x16_u8(const uint8_t* src, int64_t lds, uint8_t* dst) {
  __m128i r[16], a[16], b[16], c[16];
  for (int i = 0; i < 16; i++) r[i] = _mm_loadu_si128((const __m128i*)(src + i * lds));
  for (int i = 0; i < 8; i++) { /* a[i]: rows 2i, 2i+1 for bytes 0..7; a[8 + i]: bytes 8..15 */
    a[i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
    a[8 + i] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
  }
  for (int h = 0; h < 2; h++)
    for (int i = 0; i < 4; i++) { /* b[8h + 2i + e]: rows 4i..4i+3, bytes 8h + 4e .. 8h + 4e + 3 */
      b[h * 8 + 2 * i] = _mm_unpacklo_epi16(a[h * 8 + 2 * i], a[h * 8 + 2 * i + 1]);
      b[h * 8 + 2 * i + 1] = _mm_unpackhi_epi16(a[h * 8 + 2 * i], a[h * 8 + 2 * i + 1]);
    }
  for (int he = 0; he < 4; he++) /* he = 2h + e */
    for (int j = 0; j < 2; j++) { /* c[4he + 2j + f]: rows 8j..8j+7, bytes 4he + 2f, +1 */
      const __m128i x = b[(he >> 1) * 8 + 2 * (2 * j) + (he & 1)], y = b[(he >> 1) * 8 + 2 * (2 * j + 1) + (he & 1)];
      c[he * 4 + 2 * j] = _mm_unpacklo_epi32(x, y);
      c[he * 4 + 2 * j + 1] = _mm_unpackhi_epi32(x, y);
    }
  for (int he = 0; he < 4; he++)
    for (int f = 0; f < 2; f++) {
      const int base = 4 * he + 2 * f;
      _mm_storeu_si128((__m128i*)(dst + base * 16), _mm_unpacklo_epi64(c[he * 4 + f], c[he * 4 + 2 + f]));
      _mm_storeu_si128((__m128i*)(dst + (base + 1) * 16), _mm_unpackhi_epi64(c[he * 4 + f], c[he * 4 + 2 + f]));
    }
}
#endif

static void w4pack_task(void* arg, int64_t p0, int64_t p1) {
  const w4pack_job* j = (const w4pack_job*)arg;
  const npu_gemm* g = j->g;
  const int64_t K = g->K, N = g->N, hk = K / 2;
  for (int64_t p = p0; p < p1; p++) {
    const int cols = (int)(N - p * NPU_NR < NPU_NR ? N - p * NPU_NR : NPU_NR);
    const uint8_t* rows = j->qp + p * NPU_NR * hk;
    if (g->variant == NPU_W4ABF16) {
      uint8_t* d = g->q4 + p * hk * NPU_NR;
      int64_t done = 0;
#if defined(__SSE2__)
      if (cols == NPU_NR)
        for (; done + 16 <= hk; done += 16) transpose16x16_u8(rows + done, hk, d + done * NPU_NR);
#endif
      for (int64_t jb = done; jb < hk; jb += 64) /* 64 source bytes a row, 1 KiB of panel: both stay in L1 */
        for (int c = 0; c < cols; c++)
          for (int64_t b = jb; b < hk && b < jb + 64; b++) d[b * NPU_NR + c] = rows[c * hk + b];
      (void)done;
    } else {
      uint8_t* d = g->q48 + p * (K / 8) * 64;
      for (int c = 0; c < cols; c++) {
        const uint8_t* r = rows + c * hk;
        uint8_t* dc = d + (c >> 3) * 32 + (c & 7) * 4;
        for (int64_t o = 0; o < K / 8; o++) {
          const uint8_t b0 = r[4 * o], b1 = r[4 * o + 1], b2 = r[4 * o + 2], b3 = r[4 * o + 3];
          /* byte i = q[8o + i] | q[8o + 4 + i] << 4, with q[8o + 2m] = b_m & 15 and q[8o + 2m + 1] = b_m >> 4 */
          dc[o * 64 + 0] = (uint8_t)((b0 & 15) | (b2 & 15) << 4);
          dc[o * 64 + 1] = (uint8_t)((b0 >> 4) | (b2 & 0xf0));
          dc[o * 64 + 2] = (uint8_t)((b1 & 15) | (b3 & 15) << 4);
          dc[o * 64 + 3] = (uint8_t)((b1 >> 4) | (b3 & 0xf0));
        }
      }
    }
  }
}

NPU_API npu_status npu_gemm_create_w4_t(npu_ctx* ctx, int32_t variant, const uint8_t* qpacked, const uint8_t* zeros, const float* scales,
                                        const float* bias, int64_t K, int64_t N, int32_t group, int32_t w_bits, npu_gemm** out) {
  const char* fn = "npu_gemm_create_w4_t";
  if (!out) return fail(NPU_E_ARG, "%s: out is NULL", fn);
  *out = NULL;
  if (!ctx || !qpacked || !scales) return fail(NPU_E_ARG, "%s: ctx, qpacked and scales must not be NULL", fn);
  if (variant != NPU_W4ABF16 && variant != NPU_W4A8) return fail(NPU_E_ARG, "%s: variant %d is not w4abf16 or w4a8", fn, variant);
  if (w_bits != 4 && !(w_bits == 3 && variant == NPU_W4ABF16))
    return fail(NPU_E_UNSUPPORTED, "%s: w_bits %d is not supported by %s (w4abf16: 3 or 4, w4a8: 4)", fn, w_bits, variant_name(variant));
  npu_status st = check_shape(fn, variant, 0, K, N, group);
  if (st) return st;
  const int qmax = (1 << w_bits) - 1;
  const int64_t groups = K / group, hk = K / 2;
  if (w_bits == 3)
    for (int64_t i = 0; i < N * hk; i++)
      if ((qpacked[i] & 15) > qmax || (qpacked[i] >> 4) > qmax) {
        const int v = (qpacked[i] & 15) > qmax ? qpacked[i] & 15 : qpacked[i] >> 4;
        const int64_t k = 2 * (i % hk) + ((qpacked[i] & 15) > qmax ? 0 : 1);
        return fail(NPU_E_ARG, "%s: q[n=%lld][k=%lld] = %d exceeds %d for 3-bit weights", fn, (long long)(i / hk), (long long)k, v, qmax);
      }
  if (zeros)
    for (int64_t i = 0; i < N * groups; i++)
      if (zeros[i] > qmax)
        return fail(NPU_E_ARG, "%s: zeros[n=%lld][group=%lld] = %d exceeds %d", fn, (long long)(i / groups), (long long)(i % groups), zeros[i], qmax);
  npu_gemm* g = new_gemm(ctx, variant, K, N);
  if (!g) return fail(NPU_E_OOM, "%s: out of memory", fn);
  g->group = group;
  g->w_bits = w_bits;
  const size_t sg = (size_t)g->panels * groups * NPU_NR;
  g->bias = (float*)aligned_zalloc((size_t)N * sizeof(float));
  int ok;
  if (variant == NPU_W4ABF16) {
    g->q4 = (uint8_t*)panel_alloc((size_t)g->panels * hk * NPU_NR, 1);
    g->s4 = (float*)aligned_zalloc(sg * sizeof(float));
    g->nzs4 = (float*)aligned_zalloc(sg * sizeof(float));
    ok = g->q4 && g->s4 && g->nzs4;
  } else {
    g->q48 = (uint8_t*)panel_alloc((size_t)g->panels * (K / 8) * 64, 1);
    g->s48 = (float*)aligned_zalloc(sg * sizeof(float));
    g->z48 = (uint8_t*)aligned_zalloc(sg);
    ok = g->q48 && g->s48 && g->z48;
  }
  if (!ok || !g->bias) {
    gemm_free(g);
    return fail(NPU_E_OOM, "%s: out of memory for K=%lld N=%lld", fn, (long long)K, (long long)N);
  }
  w4pack_job job = {g, qpacked};
  pack_parallel(ctx, w4pack_task, &job, g->panels, (double)N * (double)hk);
  const int zdef = 1 << (w_bits - 1);
  for (int64_t n = 0; n < N; n++)
    for (int64_t gi = 0; gi < groups; gi++) {
      const int64_t i = (n / NPU_NR * groups + gi) * NPU_NR + n % NPU_NR;
      const float s = npu_bf16_round(scales[n * groups + gi]);
      const int z = zeros ? zeros[n * groups + gi] : zdef;
      if (variant == NPU_W4ABF16) {
        g->s4[i] = s;
        g->nzs4[i] = -((float)z * s);
      } else {
        g->s48[i] = s;
        g->z48[i] = (uint8_t)z;
      }
    }
  for (int64_t n = 0; n < N; n++) g->bias[n] = bias ? npu_bf16_round(bias[n]) : 0.0f;
  link_gemm(ctx, g);
  *out = g;
  return NPU_OK;
}

typedef struct {
  const npu_gemm* g;
  const int8_t* xq;    /* M x K */
  const float* xs;     /* M x groups */
  const int32_t* xsum; /* M x groups: sum of xq over the group (the zero point's share) */
  int64_t M;
  float* y; /* M x N */
} w4a8_job;

#define W4A8_GCHUNK 32 /* groups per kernel call: the int32 sums of 4 rows stay in 8 KB */

/* w4a8 through the kernel's w4a8_gemv: up to NPU_GEMV_P / R panels streamed at once, the float steps in the
 * kernel (same operations and order as the scalar loop of w4a8_task), K tiles added here in tile order. */
static void w4a8_gemv_task(const w4a8_job* j, int64_t p0, int64_t p1) {
  const npu_gemm* g = j->g;
  const npu_kernels* k = g->ctx->k;
  const int64_t K = g->K, N = g->N, G = g->group, groups = K / G, Kt = g->Kt;
  enum { AST = 4 * NPU_NR };
  float acc[NPU_GEMV_P * AST], y[NPU_GEMV_P * AST];
  for (int64_t m0 = 0; m0 < j->M; m0 += 4) {
    const int R = (int)(j->M - m0 < 4 ? j->M - m0 : 4);
    const int pmax = R == 1 ? NPU_GEMV_P : R == 2 ? NPU_GEMV_P / 2 : 1;
    for (int64_t p = p0; p < p1; p += pmax) {
      const int P = (int)(p1 - p < pmax ? p1 - p : pmax);
      for (int64_t k0 = 0, t = 0; k0 < K; k0 += Kt, t++) {
        const int64_t k1 = k0 + Kt < K ? k0 + Kt : K;
        tile_acc_start(acc, AST, p, P, R, N, g->bias, t == 0);
        const int64_t g0 = k0 / G;
        k->w4a8_gemv(R, P, j->xq + m0 * K + k0, K, j->xs + m0 * groups + g0, j->xsum + m0 * groups + g0, groups,
                     g->q48 + (p * (K / 8) + k0 / 8) * 64, (K / 8) * 64, g->s48 + (p * groups + g0) * NPU_NR, g->z48 + (p * groups + g0) * NPU_NR,
                     groups * NPU_NR, k1 / G - g0, G, acc, AST);
        for (int q = 0; q < P; q++)
          for (int i = q * AST; i < q * AST + R * NPU_NR; i++) y[i] = t == 0 ? acc[i] : y[i] + acc[i];
      }
      for (int q = 0; q < P; q++) {
        const int64_t n0 = (p + q) * NPU_NR;
        const int cols = (int)(N - n0 < NPU_NR ? N - n0 : NPU_NR);
        for (int r = 0; r < R; r++)
          for (int c = 0; c < cols; c++) j->y[(m0 + r) * N + n0 + c] = y[q * AST + r * NPU_NR + c];
      }
    }
  }
}

static void w4a8_task(void* arg, int64_t p0, int64_t p1) {
  const w4a8_job* j = (const w4a8_job*)arg;
  const npu_gemm* g = j->g;
  const npu_kernels* k = g->ctx->k;
  const int64_t K = g->K, N = g->N, G = g->group, groups = K / G, Kt = g->Kt;
  int32_t isum[W4A8_GCHUNK * 4 * NPU_NR];
  float acc[4 * NPU_NR], y[4 * NPU_NR];
  if (k->w4a8_gemv) {
    w4a8_gemv_task(j, p0, p1);
    return;
  }
  for (int64_t p = p0; p < p1; p++) {
    const int64_t n0 = p * NPU_NR;
    const int cols = (int)(N - n0 < NPU_NR ? N - n0 : NPU_NR);
    const float* sp = g->s48 + p * groups * NPU_NR;
    const uint8_t* zp = g->z48 + p * groups * NPU_NR;
    for (int64_t m0 = 0; m0 < j->M; m0 += 4) {
      const int R = (int)(j->M - m0 < 4 ? j->M - m0 : 4);
      for (int64_t k0 = 0, t = 0; k0 < K; k0 += Kt, t++) {
        const int64_t k1 = k0 + Kt < K ? k0 + Kt : K;
        for (int r = 0; r < R; r++)
          for (int c = 0; c < NPU_NR; c++) acc[r * NPU_NR + c] = t == 0 && c < cols ? g->bias[n0 + c] : 0.0f;
        for (int64_t g0 = k0 / G; g0 < k1 / G; g0 += W4A8_GCHUNK) {
          const int64_t ng = k1 / G - g0 < W4A8_GCHUNK ? k1 / G - g0 : W4A8_GCHUNK;
          k->w4a8_panel(R, j->xq + m0 * K + g0 * G, K, g->q48 + (p * (K / 8) + g0 * G / 8) * 64, ng, G, isum);
          /* the float steps, in group order, shared by every ISA */
          for (int64_t gg = 0; gg < ng; gg++) {
            const float* s = sp + (g0 + gg) * NPU_NR;
            const uint8_t* z = zp + (g0 + gg) * NPU_NR;
            for (int r = 0; r < R; r++) {
              const int32_t xsum = j->xsum[(m0 + r) * groups + g0 + gg];
              const float xs = j->xs[(m0 + r) * groups + g0 + gg];
              const int32_t* is = isum + (gg * R + r) * NPU_NR;
              float* a = acc + r * NPU_NR;
              for (int c = 0; c < NPU_NR; c++) {
                const float d = xs * s[c];
                a[c] = a[c] + (float)(is[c] - (int32_t)z[c] * xsum) * d;
              }
            }
          }
        }
        for (int i = 0; i < R * NPU_NR; i++) y[i] = t == 0 ? acc[i] : y[i] + acc[i];
      }
      for (int r = 0; r < R; r++)
        for (int c = 0; c < cols; c++) j->y[(m0 + r) * N + n0 + c] = y[r * NPU_NR + c];
    }
  }
}

NPU_API npu_status npu_gemm_run_w4a8(npu_gemm* g, const float* x, int64_t M, float* y) {
  const char* fn = "npu_gemm_run_w4a8";
  if (!g || (M > 0 && (!x || !y))) return fail(NPU_E_ARG, "%s: gemm, x and y must not be NULL", fn);
  if (g->variant != NPU_W4A8) return fail(NPU_E_ARG, "%s: the handle is a %s gemm", fn, variant_name(g->variant));
  npu_status st = begin_run(g, fn, M, "a8w4acc32f");
  if (st) return st;
  double t0 = now_ms();
  const int64_t K = g->K, G = g->group, groups = K / G;
  const size_t qb = (size_t)round_up(M * K, 64), fb = (size_t)M * groups * sizeof(float);
  int8_t* xq = (int8_t*)scratch(g, qb + 2 * fb + (size_t)M + 64);
  if (!xq) {
    pthread_mutex_unlock(&g->ctx->run_lock);
    return fail(NPU_E_OOM, "%s: out of memory", fn);
  }
  float* xs = (float*)(xq + qb);
  int32_t* xsum = (int32_t*)(xq + qb + fb);
  uint8_t* row_bad = (uint8_t*)(xq + qb + 2 * fb);
  memset(row_bad, 0, (size_t)M);
  /* per row and group: xs = max|x| / 127, xq = clamp(rint(x / xs), -127, 127), with the kernel table's absmax and
   * quantize (the scalar loop with its divisions was ~7 µs of a 2048-deep call, a fifth of it from cache). Same
   * bits for every ISA: max|x| and the IEEE division are exact operations, rounding is to nearest-even in both,
   * and quantize's -128 floor becomes -127 here; a row with NaN/Inf gets NaN outputs below whatever xq holds. */
  const npu_kernels* kk = g->ctx->k;
  for (int64_t m = 0; m < M; m++)
    for (int64_t gi = 0; gi < groups; gi++) {
      const float* xg = x + m * K + gi * G;
      int8_t* qg = xq + m * K + gi * G;
      const float amax = kk->absmax(xg, G); /* NaN when any x is NaN, +Inf when one is infinite */
      if (!(amax <= FLT_MAX)) row_bad[m] = 1; /* NaN or Inf: the row's outputs are NaN (contract) */
      float s = amax / 127.0f;
      if (s == 0.0f) s = 1.0f;
      kk->quantize(xg, G, s, qg);
      int32_t sum = 0;
      for (int64_t i = 0; i < G; i++) {
        if (qg[i] < -127) qg[i] = -127;
        sum += qg[i];
      }
      xs[m * groups + gi] = s;
      xsum[m * groups + gi] = sum;
    }
  double t1 = now_ms();
  w4a8_job job = {g, xq, xs, xsum, M, y};
  pool_run(&g->ctx->pool, threads_for(g, M), w4a8_task, &job, g->panels);
  for (int64_t m = 0; m < M; m++)
    if (row_bad[m])
      for (int64_t n = 0; n < g->N; n++) y[m * g->N + n] = NAN;
  double t2 = now_ms();
  g->stats.ms_copy_in += t1 - t0;
  g->stats.ms_run += t2 - t1;
  g->stats.runs += launches(g, M, BF_MMAX);
  g->stats.calls++;
  pthread_mutex_unlock(&g->ctx->run_lock);
  return NPU_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * f32 GEMM with an unprepared right operand: column blocks of b, rows of a in blocks of MM_R; for each K tile the
 * block's accumulators restart at 0 and the k steps run in order (f_axpy: acc + round(x * b), no FMA), then the
 * tiles are added in order and the bias last: the f32 contract, with b read in place, row by row. */

#define MM_R 8
#define MM_FLOATS 65536 /* accumulator floats per row block (256 KB, L2): columns per block = this / rows */

typedef struct {
  const npu_kernels* k;
  const float *a, *b, *bias;
  float* c;
  atomic_int* oom; /* set by a task that could not allocate its accumulators */
  int64_t M, K, N, Kt, cb; /* cb: columns per block */
} mm_job;

static void mm_task(void* arg, int64_t b0, int64_t b1) {
  const mm_job* j = (const mm_job*)arg;
  const int64_t rmax = j->M < MM_R ? j->M : MM_R, MM_CB = j->cb;
  float* acc = (float*)aligned_zalloc((size_t)(2 * rmax * MM_CB) * sizeof(float));
  if (!acc) {
    atomic_store(&j->oom, 1);
    return;
  }
  float* y = acc + rmax * MM_CB;
  for (int64_t blk = b0; blk < b1; blk++) {
    const int64_t n0 = blk * j->cb, nc = j->N - n0 < j->cb ? j->N - n0 : j->cb;
    for (int64_t m0 = 0; m0 < j->M; m0 += MM_R) {
      const int R = (int)(j->M - m0 < MM_R ? j->M - m0 : MM_R);
      for (int64_t k0 = 0, t = 0; k0 < j->K; k0 += j->Kt, t++) {
        const int64_t k1 = k0 + j->Kt < j->K ? k0 + j->Kt : j->K;
        float* dst = t == 0 ? y : acc;
        memset(dst, 0, sizeof(float) * (size_t)(R * MM_CB));
        for (int64_t kk = k0; kk < k1; kk += 4) {
          const int nk = (int)(k1 - kk < 4 ? k1 - kk : 4);
          const float* brow = j->b + kk * j->N + n0;
          for (int r = 0; r < R; r++) j->k->f_axpy(j->a + (m0 + r) * j->K + kk, nk, brow, j->N, nc, dst + r * MM_CB);
        }
        if (t > 0)
          for (int r = 0; r < R; r++)
            for (int64_t i = 0; i < nc; i++) y[r * MM_CB + i] = y[r * MM_CB + i] + acc[r * MM_CB + i];
      }
      for (int r = 0; r < R; r++) {
        float* o = j->c + (m0 + r) * j->N + n0;
        if (j->bias)
          for (int64_t i = 0; i < nc; i++) o[i] = y[r * MM_CB + i] + j->bias[n0 + i];
        else
          memcpy(o, y + r * MM_CB, sizeof(float) * (size_t)nc);
      }
    }
  }
  free(acc);
}

NPU_API npu_status npu_matmul_f32(npu_ctx* ctx, const float* a, int64_t M, int64_t K, const float* b, int64_t N, const float* bias, float* c) {
  const char* fn = "npu_matmul_f32";
  if (!ctx || (M > 0 && (!a || !b || !c))) return fail(NPU_E_ARG, "%s: ctx, a, b and c must not be NULL", fn);
  npu_status st = check_shape(fn, NPU_F32, M, K, N, 0);
  if (st) return st;
  int64_t Kt, Nt;
  pick_tile(NPU_F32, K, N, &Kt, &Nt);
  if (ctx->flags & NPU_F_TEST_FAIL)
    return fail(NPU_E_XRT, "%s: injected failure (NPU_F_TEST_FAIL): launch of a32fw32facc32f_%lld_%lld_%lld on device '%s' did not complete", fn,
                (long long)(M < 1 ? 1 : M), (long long)Kt, (long long)Nt, ctx->device);
  if (pthread_mutex_trylock(&ctx->run_lock) != 0) return fail(NPU_E_BUSY, "%s: the context is running another call", fn);
  /* small calls stay on the caller (waking a worker costs microseconds). Column blocks: one per thread when they
   * fit (whole row segments of b: one sequential stream per thread), else as wide as MM_FLOATS allows. */
  const int use = (double)M * (double)K * (double)N >= 262144.0 ? ctx->pool.n : 1;
  const int64_t rmax = M < MM_R ? (M > 0 ? M : 1) : MM_R;
  int64_t cb = round_up((N + use - 1) / use, 16);
  if (cb > MM_FLOATS / rmax) cb = MM_FLOATS / rmax;
  atomic_int oom = 0;
  mm_job job = {ctx->k, a, b, bias, c, &oom, M, K, N, Kt, cb};
  if (M > 0) pool_run(&ctx->pool, use, mm_task, &job, (N + cb - 1) / cb);
  if (atomic_load(&oom)) {
    pthread_mutex_unlock(&ctx->run_lock);
    return fail(NPU_E_OOM, "%s: out of memory for the accumulators (M=%lld N=%lld)", fn, (long long)M, (long long)N);
  }
  pthread_mutex_unlock(&ctx->run_lock);
  return NPU_OK;
}

NPU_API npu_status npu_gemm_stats(npu_gemm* g, npu_stats* out, int32_t reset) {
  if (!g || !out) return fail(NPU_E_ARG, "npu_gemm_stats: gemm and out must not be NULL");
  if (out->struct_size < sizeof(npu_stats)) return fail(NPU_E_ARG, "npu_gemm_stats: out->struct_size %u < %zu", out->struct_size, sizeof(npu_stats));
  *out = g->stats;
  out->struct_size = sizeof(npu_stats);
  if (reset) {
    memset(&g->stats, 0, sizeof g->stats);
    g->stats.struct_size = sizeof(npu_stats);
  }
  return NPU_OK;
}

/* ---------------------------------------------------------------------------------------------------------
 * For npu_cache.c (prepared-weight files): the handle's prepared buffers without exposing the struct. Every
 * buffer a run reads must be listed in npu_gemm_parts, in a fixed order per variant (the file format). */

npu_status npu_fail(npu_status st, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_err, sizeof g_err, fmt, ap);
  va_end(ap);
  return st;
}

void npu_gemm_shape(const npu_gemm* g, npu_gemm_shape_t* s) {
  s->variant = g->variant;
  s->group = g->group;
  s->w_bits = g->w_bits;
  s->K = g->K;
  s->N = g->N;
}

int npu_gemm_parts(npu_gemm* g, npu_part* p) {
  const int64_t P = g->panels, groups = g->group > 0 ? g->K / g->group : 0, sg = P * groups * NPU_NR;
  int n = 0;
#define PART(field, size) (p[n].ptr = (void**)&g->field, p[n].bytes = (uint64_t)(size), p[n].name = #field, n++)
  switch (g->variant) {
    case NPU_W8A8:
      PART(w8, P * g->Kq * NPU_NR);
      PART(corr_ptr, (g->N + 1) * (int64_t)sizeof(int64_t));
      PART(csum128, (g->Kq + g->Kt - 1) / g->Kt * P * NPU_NR * (int64_t)sizeof(int32_t));
      /* its length is data (the count of -128 weights): known once corr_ptr is there */
      PART(corr_k, g->corr_ptr ? g->corr_ptr[g->N] * (int64_t)sizeof(int32_t) : 0);
      break;
    case NPU_W4ABF16:
      PART(q4, P * (round_up(g->K, 2) / 2) * NPU_NR);
      PART(s4, sg * (int64_t)sizeof(float));
      PART(nzs4, sg * (int64_t)sizeof(float));
      PART(bias, g->N * (int64_t)sizeof(float));
      break;
    case NPU_W4A8:
      PART(q48, P * (g->K / 8) * 64);
      PART(s48, sg * (int64_t)sizeof(float));
      PART(z48, sg);
      PART(bias, g->N * (int64_t)sizeof(float));
      break;
    case NPU_F32:
    case NPU_BF16:
      PART(wf, P * g->K * NPU_NR * (int64_t)sizeof(float));
      break;
    default:
      break;
  }
#undef PART
  return n;
}

npu_gemm* npu_gemm_alloc(npu_ctx* ctx, const npu_gemm_shape_t* s) {
  npu_gemm* g = new_gemm(ctx, s->variant, s->K, s->N);
  if (!g) return NULL;
  g->group = s->group;
  g->w_bits = s->w_bits;
  if (s->variant == NPU_W8A8) g->Kq = round_up(s->K, 4);
  return g;
}

void npu_gemm_set_map(npu_gemm* g, void* map, size_t bytes) {
  g->map = map;
  g->map_bytes = bytes;
}

void npu_gemm_unmap(npu_gemm* g) {
  npu_part p[NPU_MAX_PARTS];
  const int n = npu_gemm_parts(g, p);
  const char *lo = (const char*)g->map, *hi = lo + g->map_bytes;
  for (int i = 0; i < n; i++)
    if ((const char*)*p[i].ptr >= lo && (const char*)*p[i].ptr < hi) *p[i].ptr = NULL;
  munmap(g->map, g->map_bytes);
  g->map = NULL;
  g->map_bytes = 0;
}

void npu_gemm_discard(npu_gemm* g) { gemm_free(g); }

void npu_gemm_publish(npu_ctx* ctx, npu_gemm* g) { link_gemm(ctx, g); }

int npu_check_shape(const char* fn, const npu_gemm_shape_t* s) { return check_shape(fn, s->variant, 0, s->K, s->N, s->group); }
