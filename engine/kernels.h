/* Compute kernels behind a dispatch table (internal).
 *
 * The interpreter (session.c / ops.c) only calls kernels through a
 * BeenetKernels table chosen once per model from the host CPU
 * (beenet_kernels_select).  A new instruction set = a new table; the
 * interpreter does not change.  Every table must give results identical to
 * the portable one for the binary kernels (integer popcount arithmetic) and
 * within float rounding for the float kernels. */
#ifndef BEENET_KERNELS_H
#define BEENET_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Geometry of a windowed op: input (h, w, c) HWC, output (ho, wo, cout). */
typedef struct {
  uint32_t h, w, c;
  uint32_t ho, wo, cout;
  uint32_t kh, kw, sh, sw, ph, pw;
  uint32_t groups;      /* conv2d only */
  uint32_t words;       /* binary ops: ceil(c / 32) words per pixel */
  bool relu;
} BeenetConvGeom;

typedef struct BeenetKernels {
  const char *name;
  /* Pack sign bits: for each of n_pixels pixels of c channels, write
   * ceil(c/32) words; bit b of word j is set iff in[p*c + 32j + b] < 0
   * (bit 1 = -1); unused tail bits are 0. */
  void (*pack_signs) (const float *in, size_t n_pixels, uint32_t c,
      uint32_t *out);
  /* Binary conv on packed input (g->words words per pixel) and packed
   * weights ([cout][kh][kw][words]), exact zero padding. */
  void (*bconv2d) (const BeenetConvGeom *g, const uint32_t *in_bits,
      const uint32_t *weight, const float *scale, const float *bias,
      float *out);
  /* Binary dense: acc[co] = cin - 2 * popcount(in ^ w[co]). */
  void (*bdense) (uint32_t cin, uint32_t cout, const uint32_t *in_bits,
      const uint32_t *weight, const float *scale, const float *bias,
      bool relu, float *out);
  /* Float conv (grouped), weight [cout][kh][kw][c/groups]. */
  void (*conv2d) (const BeenetConvGeom *g, const float *in,
      const float *weight, const float *scale, const float *bias, float *out);
  /* Float dense, weight [cout][cin]. */
  void (*dense) (uint32_t cin, uint32_t cout, const float *in,
      const float *weight, const float *scale, const float *bias, bool relu,
      float *out);
} BeenetKernels;

extern const BeenetKernels beenet_kernels_portable;

/* The portable float kernels, shared by sets that only accelerate the
 * binary ops. */
void beenet_conv2d_portable (const BeenetConvGeom *g, const float *in,
    const float *weight, const float *scale, const float *bias, float *out);
void beenet_dense_portable (uint32_t cin, uint32_t cout, const float *in,
    const float *weight, const float *scale, const float *bias, bool relu,
    float *out);

/* Extra kernel sets compiled in for this architecture, NULL-terminated,
 * best first; each entry has a CPU check. */
typedef struct {
  const BeenetKernels *kernels;
  bool (*supported) (void);
} BeenetKernelCandidate;

/* Best set for this CPU (portable when nothing better is supported).
 * Honours the environment variable BEENET_KERNELS=portable to force the
 * reference kernels (read once at first call). */
const BeenetKernels *beenet_kernels_select (void);
/* Lookup by name ("portable", "avx2"); NULL if not compiled in or not
 * supported by this CPU.  For tests comparing implementations. */
const BeenetKernels *beenet_kernels_get (const char *name);

static inline uint32_t
beenet_popcount32 (uint32_t x)
{
#if (defined(__GNUC__) || defined(__clang__)) \
    && (defined(__POPCNT__) || defined(__aarch64__) || defined(__powerpc64__))
  /* One instruction on these targets. */
  return (uint32_t) __builtin_popcount (x);
#else
  /* Baseline x86-64 has no POPCNT and __builtin_popcount becomes a libgcc
   * call; this SWAR version is inlined and branch-free. */
  x = x - ((x >> 1) & 0x55555555u);
  x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
  x = (x + (x >> 4)) & 0x0f0f0f0fu;
  return (x * 0x01010101u) >> 24;
#endif
}

#endif
