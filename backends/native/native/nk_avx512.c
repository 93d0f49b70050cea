/*
 * AVX-512 kernels (16 lanes): compiled with a target pragma on every x86-64 build and selected only when the CPU
 * reports avx512f/bw/dq/vl, so a machine without AVX-512 (this one: AVX2 only) never runs them.
 */
#include "nk_internal.h"
#ifdef NK_X86
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,fma")
#include <immintrin.h>
#define NK_VL 16
#define VFMA(a, b, c) ((vf)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#define NK_MAXPS(a, b) ((vf)_mm512_max_ps((__m512)(a), (__m512)(b)))
#define NK_MINPS(a, b) ((vf)_mm512_min_ps((__m512)(a), (__m512)(b)))
#define NK_TABLE nk_kernels_avx512
#define NK_NAME "avx512"
#include "nk_kernels.inc"
#endif
