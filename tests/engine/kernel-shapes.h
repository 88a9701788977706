/* Layer shapes shared by the kernel tests: test-kernels.c (through the
 * public API and the drivers, every compiled-in set) and
 * test-kernels-standalone.c (the bare kernels, natively and cross-built
 * for qemu-aarch64 by tools/test-aarch64.sh).  Macros, not arrays, so each
 * test takes what it uses without unused-variable warnings; the geometry
 * draw is a static inline function for the same reason. */
#ifndef KERNEL_SHAPES_H
#define KERNEL_SHAPES_H

#include <stddef.h>

#include "kernels.h"

/* { h, w, c, cout } of 3x3 binary convs like the shipped networks' layers:
 * models/kws12.gguf's two block shapes first (12x8x64 and 6x4x160), then
 * wider ones (4 blocks per micro-kernel call, runs over 31 words) and
 * channel counts that are not multiples of 16 or 32. */
#define KERNEL_TEST_MODEL_SHAPES { \
    { 12, 8, 64, 64 }, { 6, 4, 160, 160 }, { 6, 4, 128, 128 }, \
    { 3, 2, 256, 256 }, { 5, 5, 96, 80 }, { 4, 3, 160, 72 }, \
  }

/* Input channel counts of the random binary layer tests: one word and
 * around the 32-bit word and 16-lane block edges. */
#define KERNEL_TEST_BINARY_CINS { 1, 5, 31, 32, 33, 45, 64, 70 }

/* A random conv geometry for the kernel-set tests (groups 1): h and w in
 * 1..hw_draw, c one of cins, kernels 1..4, strides 1..3, padding 0..3
 * (>= the kernel for small ones: empty windows), cout 1..90 (binary) or
 * 1..70, relu 0 or 1; drawn again until the multiply-adds are at most
 * max_work.  draw (n) is the caller's generator, 0..n-1, called in the
 * order of the fields. */
static inline BeenetConvGeom
kernel_test_random_geom (unsigned (*draw) (unsigned), const unsigned *cins,
    unsigned n_cins, unsigned hw_draw, int binary, size_t max_work)
{
  for (;;) {
    BeenetConvGeom g = { 0 };
    g.h = 1 + draw (hw_draw);
    g.w = 1 + draw (hw_draw);
    g.c = cins[draw (n_cins)];
    g.kh = 1 + draw (4);
    g.kw = 1 + draw (4);
    g.sh = 1 + draw (3);
    g.sw = 1 + draw (3);
    g.ph = draw (4);
    g.pw = draw (4);
    g.cout = 1 + draw (binary ? 90 : 70);
    g.relu = draw (2);
    g.groups = 1;
    if (g.h + 2 * g.ph < g.kh || g.w + 2 * g.pw < g.kw)
      continue;
    g.ho = (g.h + 2 * g.ph - g.kh) / g.sh + 1;
    g.wo = (g.w + 2 * g.pw - g.kw) / g.sw + 1;
    g.words = (g.c + 31) / 32;
    if ((size_t) g.ho * g.wo * g.cout * g.kh * g.kw * g.c <= max_work)
      return g;
  }
}

/* Turns a random_geom draw into mode 0 dense conv (unchanged), 1 depthwise
 * (cout = groups = c) or 2 grouped (1..4 groups of 1..40 input and output
 * channels each, drawn with draw). */
static inline void
kernel_test_conv_mode (unsigned (*draw) (unsigned), BeenetConvGeom *g,
    unsigned mode)
{
  if (mode == 1)
    g->cout = g->groups = g->c;
  if (mode == 2) {
    g->groups = 1 + draw (4);
    g->c = g->groups * (1 + draw (40));
    g->cout = g->groups * (1 + draw (40));
  }
}

#endif
