/* Layer shapes shared by the kernel tests: test-kernels.c (through the
 * public API and the drivers, every compiled-in set) and
 * test-kernels-standalone.c (the bare kernels, natively and cross-built
 * for qemu-aarch64 by tools/test-aarch64.sh).  Macros, not arrays, so each
 * test takes what it uses without unused-variable warnings. */
#ifndef KERNEL_SHAPES_H
#define KERNEL_SHAPES_H

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

#endif
