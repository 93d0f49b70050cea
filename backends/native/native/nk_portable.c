/* Portable kernels: the baseline vector width of the target (SSE2 on x86-64), no FMA. Always built. */
#include "nk_internal.h"
#define NK_VL 4
#define VFMA(a, b, c) ((a) * (b) + (c))
#define NK_TABLE nk_kernels_portable
#define NK_NAME "portable"
#include "nk_kernels.inc"
