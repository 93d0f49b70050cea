/*
 * AVX2 + FMA kernels: compiled with a target pragma (never -march=native) and chosen at run time by nk_core.c
 * only when the CPU reports avx2 and fma, so the library still loads on any x86-64.
 */
#include "nk_internal.h"
#ifdef NK_X86
#pragma GCC target("avx2,fma")
#include <immintrin.h>
#define NK_VL 8
#define VFMA(a, b, c) ((vf)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
#define NK_MAXPS(a, b) ((vf)_mm256_max_ps((__m256)(a), (__m256)(b)))
#define NK_MINPS(a, b) ((vf)_mm256_min_ps((__m256)(a), (__m256)(b)))
#define NK_BLENDV(m, a, b) ((vf)_mm256_blendv_ps((__m256)(b), (__m256)(a), (__m256)(m)))
#define NK_TABLE nk_kernels_avx2
#define NK_NAME "avx2"
#include "nk_kernels.inc"
#endif
