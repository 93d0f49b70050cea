/*
 * Prepared-weight files (opshift_npu.h "prepared-weight files"): npu_gemm_export writes a handle's prepared form
 * (every buffer a run reads, as npu_gemm_parts lists them) to a file; npu_gemm_import maps such a file read-only
 * and makes a handle whose buffers point into the mapping, so a cached weight costs no packing and its pages are
 * the page cache's (shared between processes, counted in RSS only once touched), as llama.cpp maps GGUF files.
 *
 * File layout (native byte order; the library and the machine that wrote it are part of what is checked):
 *   [0, 4096)   header: magic, format version, header size, impl name, variant/shape/group/w_bits, part table
 *               (offset, bytes per part), total file size, FNV-1a hash of the header;
 *   parts       each at an offset that is a multiple of 4096 (page-aligned in the mapping, which covers every
 *               alignment the kernels' loads want), zero-padded between parts.
 * Import trusts nothing: magic, version, impl name, header hash, shape/variant against what the caller expects,
 * part sizes against the sizes the shape implies, offsets inside the file, and the w8 correction lists (their
 * indices are used as addresses) are all checked, and a failure is NPU_E_ARG naming the file and the rule.
 * Panel contents are not hashed (that would read every page at load); the writer's atomic rename and the
 * caller's key (source identity, layout, library) are what keep them right.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "npu_emu_internal.h"
#include "opshift_npu.h"

#define CACHE_MAGIC "OPSNPUW\n"
#define CACHE_FORMAT 1u
#define CACHE_ALIGN 4096u
#define CACHE_HEADER 4096u

typedef struct {
  char magic[8];
  uint32_t format;
  uint32_t header_bytes;
  char impl[128];
  int32_t variant, group, w_bits, nparts;
  int64_t K, N;
  uint64_t file_bytes;
  struct {
    uint64_t offset, bytes;
  } part[NPU_MAX_PARTS];
  uint64_t hash; /* FNV-1a 64 of this struct with hash = 0 */
} cache_header;

_Static_assert(sizeof(cache_header) <= CACHE_HEADER, "cache header must fit its page");

static uint64_t fnv1a(const void* p, size_t n) {
  const unsigned char* b = (const unsigned char*)p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

static uint64_t align_up(uint64_t v) { return (v + CACHE_ALIGN - 1) / CACHE_ALIGN * CACHE_ALIGN; }

static int write_all(int fd, const void* p, uint64_t n, uint64_t off) {
  const char* c = (const char*)p;
  while (n > 0) {
    ssize_t w = pwrite(fd, c, n > (1u << 30) ? (1u << 30) : (size_t)n, (off_t)off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    c += w;
    n -= (uint64_t)w;
    off += (uint64_t)w;
  }
  return 0;
}

NPU_API npu_status npu_gemm_export(npu_gemm* g, const char* path) {
  const char* fn = "npu_gemm_export";
  if (!g || !path || !*path) return npu_fail(NPU_E_ARG, "%s: gemm and path must not be NULL or empty", fn);
  cache_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, CACHE_MAGIC, 8);
  h.format = CACHE_FORMAT;
  h.header_bytes = CACHE_HEADER;
  snprintf(h.impl, sizeof h.impl, "%s", npu_impl_name());
  npu_gemm_shape_t s;
  npu_gemm_shape(g, &s);
  h.variant = s.variant;
  h.group = s.group;
  h.w_bits = s.w_bits;
  h.K = s.K;
  h.N = s.N;
  npu_part p[NPU_MAX_PARTS];
  h.nparts = npu_gemm_parts(g, p);
  if (h.nparts == 0) return npu_fail(NPU_E_UNSUPPORTED, "%s: variant %d has no exportable prepared form", fn, s.variant);
  uint64_t off = CACHE_HEADER;
  for (int i = 0; i < h.nparts; i++) {
    if (p[i].bytes > 0 && !*p[i].ptr) return npu_fail(NPU_E_INTERNAL, "%s: buffer %s of the handle is missing", fn, p[i].name);
    h.part[i].offset = off;
    h.part[i].bytes = p[i].bytes;
    off = align_up(off + p[i].bytes);
  }
  h.file_bytes = off;
  h.hash = fnv1a(&h, sizeof h);

  /* atomic: a reader sees the old file, no file, or the whole new one (same directory, so rename is atomic) */
  size_t plen = strlen(path);
  char* tmp = (char*)malloc(plen + 64);
  if (!tmp) return npu_fail(NPU_E_OOM, "%s: out of memory", fn);
  static int counter;
  snprintf(tmp, plen + 64, "%s.tmp.%ld.%d", path, (long)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    npu_status st = npu_fail(NPU_E_NOFILE, "%s: cannot create '%s': %s", fn, tmp, strerror(errno));
    free(tmp);
    return st;
  }
  static const char zero_page[CACHE_HEADER];
  int bad = write_all(fd, zero_page, CACHE_HEADER, 0) || write_all(fd, &h, sizeof h, 0);
  for (int i = 0; i < h.nparts && !bad; i++) bad = p[i].bytes && write_all(fd, *p[i].ptr, p[i].bytes, h.part[i].offset);
  /* the padding after the last part: the file is exactly file_bytes long, which import checks */
  if (!bad) bad = ftruncate(fd, (off_t)h.file_bytes) != 0;
  const int err = errno;
  if (close(fd) != 0 && !bad) bad = 1;
  if (!bad && rename(tmp, path) != 0) {
    npu_status st = npu_fail(NPU_E_NOFILE, "%s: cannot rename '%s' to '%s': %s", fn, tmp, path, strerror(errno));
    unlink(tmp);
    free(tmp);
    return st;
  }
  if (bad) {
    npu_status st = npu_fail(NPU_E_NOFILE, "%s: writing '%s' (%llu bytes) failed: %s", fn, tmp, (unsigned long long)h.file_bytes, strerror(err));
    unlink(tmp);
    free(tmp);
    return st;
  }
  free(tmp);
  return NPU_OK;
}

static const char* vname(int32_t v) {
  switch (v) {
    case NPU_W8A8: return "w8a8";
    case NPU_W4ABF16: return "w4abf16";
    case NPU_F32: return "f32";
    case NPU_BF16: return "bf16";
    case NPU_W4A8: return "w4a8";
    default: return "unknown";
  }
}

/* The w8 correction lists are used as indices: corr_ptr must be a prefix sum from 0 ending at the corr_k count,
 * and every corr_k a row index below K. */
static int w8_lists_ok(const int64_t* ptr, const int32_t* k, int64_t N, int64_t K, uint64_t k_bytes) {
  if (ptr[0] != 0) return 0;
  for (int64_t n = 0; n < N; n++)
    if (ptr[n + 1] < ptr[n]) return 0;
  if ((uint64_t)ptr[N] * sizeof(int32_t) != k_bytes) return 0;
  for (int64_t e = 0; e < ptr[N]; e++)
    if (k[e] < 0 || k[e] >= K) return 0;
  return 1;
}

NPU_API npu_status npu_gemm_import(npu_ctx* ctx, const char* path, int32_t variant, int64_t K, int64_t N, int32_t group, int32_t w_bits,
                                   npu_gemm** out) {
  const char* fn = "npu_gemm_import";
  if (!out) return npu_fail(NPU_E_ARG, "%s: out is NULL", fn);
  *out = NULL;
  if (!ctx || !path) return npu_fail(NPU_E_ARG, "%s: ctx and path must not be NULL", fn);
  const int w4 = variant == NPU_W4ABF16 || variant == NPU_W4A8;
  const npu_gemm_shape_t want = {variant, w4 ? group : 0, w4 ? w_bits : 0, K, N};
  npu_status st = npu_check_shape(fn, &want);
  if (st) return st;
  if (variant == NPU_W8A16) return npu_fail(NPU_E_UNSUPPORTED, "%s: w8a16 is not provided by this library", fn);

  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return npu_fail(NPU_E_NOFILE, "%s: cannot open '%s': %s", fn, path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return npu_fail(NPU_E_ARG, "%s: '%s' is not a regular file", fn, path);
  }
  const uint64_t size = (uint64_t)sb.st_size;
  cache_header h;
  memset(&h, 0, sizeof h);
  ssize_t got = size >= CACHE_HEADER ? pread(fd, &h, sizeof h, 0) : -1;
  if (got != (ssize_t)sizeof h) {
    close(fd);
    return npu_fail(NPU_E_ARG, "%s: '%s' is %llu bytes, shorter than the %u-byte header of a prepared-weight file (truncated or not one)", fn, path,
                    (unsigned long long)size, CACHE_HEADER);
  }
#define REJECT(...)                                      \
  do {                                                   \
    close(fd);                                           \
    char why[512];                                       \
    snprintf(why, sizeof why, __VA_ARGS__);              \
    return npu_fail(NPU_E_ARG, "%s: '%s' rejected: %s", fn, path, why); \
  } while (0)
  if (memcmp(h.magic, CACHE_MAGIC, 8) != 0) REJECT("no prepared-weight magic (not a file written by npu_gemm_export)");
  if (h.format != CACHE_FORMAT || h.header_bytes != CACHE_HEADER)
    REJECT("format version %u (header %u bytes), this library reads version %u (%u bytes)", h.format, h.header_bytes, CACHE_FORMAT, CACHE_HEADER);
  const uint64_t stored = h.hash;
  h.hash = 0;
  if (fnv1a(&h, sizeof h) != stored) REJECT("header checksum mismatch (the header is corrupt)");
  h.impl[sizeof h.impl - 1] = 0;
  if (strcmp(h.impl, npu_impl_name()) != 0) REJECT("written by '%s', this library is '%s' (prepared layouts may differ)", h.impl, npu_impl_name());
  if (h.variant != want.variant || h.K != K || h.N != N || h.group != want.group || h.w_bits != want.w_bits)
    REJECT("holds %s K=%lld N=%lld group=%d w_bits=%d, expected %s K=%lld N=%lld group=%d w_bits=%d", vname(h.variant), (long long)h.K, (long long)h.N,
           h.group, h.w_bits, vname(variant), (long long)K, (long long)N, want.group, want.w_bits);
  if (h.file_bytes != size) REJECT("the header says %llu bytes, the file has %llu (truncated or extended)", (unsigned long long)h.file_bytes, (unsigned long long)size);

  npu_gemm* g = npu_gemm_alloc(ctx, &want);
  if (!g) {
    close(fd);
    return npu_fail(NPU_E_OOM, "%s: out of memory", fn);
  }
  npu_part p[NPU_MAX_PARTS];
  const int n = npu_gemm_parts(g, p);
  if (h.nparts != n) {
    npu_gemm_discard(g);
    REJECT("%d buffers, a %s handle has %d", h.nparts, vname(variant), n);
  }
  for (int i = 0; i < n; i++) {
    const uint64_t o = h.part[i].offset, b = h.part[i].bytes;
    if (o % CACHE_ALIGN != 0 || o < CACHE_HEADER || o > size || b > size - o) {
      npu_gemm_discard(g);
      REJECT("buffer %s at offset %llu (%llu bytes) is not a page-aligned range inside the file", p[i].name, (unsigned long long)o, (unsigned long long)b);
    }
    /* corr_k's size is data, checked against corr_ptr below; every other size follows from the shape */
    if (strcmp(p[i].name, "corr_k") != 0 && b != p[i].bytes) {
      npu_gemm_discard(g);
      REJECT("buffer %s has %llu bytes, a %s K=%lld N=%lld handle needs %llu", p[i].name, (unsigned long long)b, vname(variant), (long long)K, (long long)N,
             (unsigned long long)p[i].bytes);
    }
  }
  void* map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  close(fd);
  if (map == MAP_FAILED) {
    npu_gemm_discard(g);
    return npu_fail(NPU_E_NOFILE, "%s: cannot map '%s' (%llu bytes): %s", fn, path, (unsigned long long)size, strerror(map_err));
  }
  /* a hint: start reading the file ahead while the first layers run */
  madvise(map, (size_t)size, MADV_WILLNEED);
  npu_gemm_set_map(g, map, (size_t)size);
  for (int i = 0; i < n; i++) *p[i].ptr = h.part[i].bytes ? (char*)map + h.part[i].offset : NULL;
  if (variant == NPU_W8A8) {
    const int64_t* ptr = (const int64_t*)*p[1].ptr;
    if (!w8_lists_ok(ptr, (const int32_t*)*p[3].ptr, N, K, h.part[3].bytes)) {
      npu_gemm_discard(g); /* unmaps */
      return npu_fail(NPU_E_ARG, "%s: '%s' rejected: the w8 correction lists are inconsistent (corr_ptr must rise from 0 to the corr_k count, "
                      "every corr_k below K=%lld)", fn, path, (long long)K);
    }
  }
#undef REJECT
  npu_gemm_publish(ctx, g);
  *out = g;
  return NPU_OK;
}
