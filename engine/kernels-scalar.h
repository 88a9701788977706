/* Scalar code shared by every kernel set (internal): the output transform
 * and residual step of one value, as the portable set defines them, and
 * the scalar tails that the vector sets run after their last full vector.
 * One definition, so each set's tail is the reference bit for bit. */
#ifndef BEENET_KERNELS_SCALAR_H
#define BEENET_KERNELS_SCALAR_H

#include "kernels.h"

/* scale * x + bias (a multiply and an add), relu as `v < 0 ? 0 : v`. */
static inline float
beenet_finish1 (float scale, float x, float bias, bool relu)
{
  float v = scale * x + bias;
  return relu && v < 0.0f ? 0.0f : v;
}

/* The residual step of BeenetOutput: the add node's `res + v`, then its
 * relu as `s < 0 ? 0 : s`. */
static inline float
beenet_residual1 (float res, float v, bool relu)
{
  const float s = res + v;
  return relu && s < 0.0f ? 0.0f : s;
}

/* bfinish (see BeenetKernels) of outputs i0 .. n - 1. */
static inline void
beenet_bfinish_scalar (const int32_t *acc, int32_t valid, uint32_t i0,
    uint32_t n, const BeenetOutput *t, float *o)
{
  for (uint32_t i = i0; i < n; i++) {
    const float v = beenet_finish1 (t->scale[i], (float) (valid - 2 * acc[i]),
        t->bias[i], t->relu);
    o[i] = t->res ? beenet_residual1 (t->res[i], v, t->res_relu) : v;
  }
}

/* ffinish (see BeenetKernels) of outputs i0 .. n - 1. */
static inline void
beenet_ffinish_scalar (const float *acc, uint32_t i0, uint32_t n,
    const float *scale, const float *bias, bool relu, float *o)
{
  for (uint32_t i = i0; i < n; i++)
    o[i] = beenet_finish1 (scale[i], acc[i], bias[i], relu);
}

/* gap (see BeenetKernels) of channels c0 .. c - 1: the pixels summed in
 * order from +0.0, then one multiply. */
static inline void
beenet_gap_scalar (const float *in, size_t hw, uint32_t c0, uint32_t c,
    float scale, float *out)
{
  for (uint32_t ch = c0; ch < c; ch++) {
    float acc = 0.0f;
    for (size_t q = 0; q < hw; q++)
      acc += in[q * c + ch];
    out[ch] = acc * scale;
  }
}

#endif
