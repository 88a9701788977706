/* Portable C micro-kernels (the reference set): straightforward loops over
 * the BEENET_LANES output channels of a weight block, written so the
 * compiler can vectorise the lane loop.  Every other kernel set is tested
 * against these; the drivers are in kernels-driver.c. */
#include "kernels.h"
#include "kernels-scalar.h"

#include <string.h>

#define L BEENET_LANES

static void
pack_signs_portable (const float *in, size_t n_pixels, uint32_t c,
    uint32_t *out)
{
  const uint32_t words = (c + 31) / 32;
  for (size_t p = 0; p < n_pixels; p++) {
    const float *px = in + p * c;
    uint32_t *o = out + p * words;
    for (uint32_t j = 0; j < words; j++) {
      const uint32_t n = c - 32 * j < 32 ? c - 32 * j : 32;
      uint32_t v = 0;
      for (uint32_t b = 0; b < n; b++)
        v |= (uint32_t) (px[32 * j + b] < 0.0f) << b;
      o[j] = v;
    }
  }
}

static void
bdot_portable (const BeenetBTaps *t, uint32_t nb, int32_t *acc)
{
  for (uint32_t b = 0; b < nb; b++) {
    uint32_t s[L] = { 0 };
    for (uint32_t r = 0; r < t->rows; r++) {
      const uint32_t *a = t->a + r * t->a_rs;
      const uint32_t *w = t->w + b * t->w_bs + r * t->w_rs;
      for (uint32_t i = 0; i < t->n; i++)
        for (uint32_t l = 0; l < L; l++)
          s[l] += beenet_popcount32 (a[i] ^ w[i * L + l]);
    }
    for (uint32_t l = 0; l < L; l++)
      acc[b * L + l] = (int32_t) s[l];
  }
}

static void
fgemv_pixel (const BeenetFTaps *t, const float *ap, uint32_t nb, float *acc)
{
  for (uint32_t b = 0; b < nb; b++) {
    float s[L] = { 0.0f };
    for (uint32_t r = 0; r < t->rows; r++)
      for (uint32_t k = 0; k < t->taps; k++) {
        const float *a = ap + r * t->a_rs + k * t->a_ts;
        const float *w = t->w + b * t->w_bs + r * t->w_rs + k * t->w_ts;
        for (uint32_t i = 0; i < t->n; i++)
          for (uint32_t l = 0; l < L; l++)
            s[l] += w[i * L + l] * a[i];
      }
    memcpy (acc + b * L, s, sizeof s);
  }
}

static void
fgemv_portable (const BeenetFTaps *t, uint32_t nb, float *acc)
{
  for (uint32_t p = 0; p < t->np; p++)
    fgemv_pixel (t, t->a + p * t->a_ps, nb, acc + p * nb * L);
}

static void
fdw_pixel (const BeenetFTaps *t, float *acc)
{
  for (uint32_t i = 0; i < t->n; i++)
    acc[i] = 0.0f;
  for (uint32_t r = 0; r < t->rows; r++)
    for (uint32_t k = 0; k < t->taps; k++) {
      const float *a = t->a + r * t->a_rs + k * t->a_ts;
      const float *w = t->w + r * t->w_rs + k * t->w_ts;
      for (uint32_t i = 0; i < t->n; i++)
        acc[i] += w[i] * a[i];
    }
}

/* np pixels (see BeenetFTaps): pixel p's channels at acc + p * n. */
static void
fdw_portable (const BeenetFTaps *t, float *acc)
{
  for (uint32_t p = 0; p < t->np; p++) {
    BeenetFTaps tp = *t;
    tp.a += p * t->a_ps;
    fdw_pixel (&tp, acc + (size_t) p * t->n);
  }
}

/* The output transforms: the scalar definitions (kernels-scalar.h) that
 * every set's tail shares. */
static void
bfinish_portable (const int32_t *acc, int32_t valid, uint32_t n,
    const BeenetOutput *t, float *o)
{
  beenet_bfinish_scalar (acc, valid, 0, n, t, o);
}

static void
ffinish_portable (const float *acc, uint32_t n, const float *scale,
    const float *bias, bool relu, float *o)
{
  beenet_ffinish_scalar (acc, 0, n, scale, bias, relu, o);
}

static void
add_portable (const float *a, const float *b, size_t n, bool relu, float *o)
{
  if (relu) {
    for (size_t i = 0; i < n; i++) {
      const float v = a[i] + b[i];
      o[i] = v < 0.0f ? 0.0f : v;
    }
  } else {
    for (size_t i = 0; i < n; i++)
      o[i] = a[i] + b[i];
  }
}

static void
gap_portable (const float *in, size_t hw, uint32_t c, float scale, float *out)
{
  for (uint32_t ch = 0; ch < c; ch++)
    out[ch] = 0.0f;
  for (size_t p = 0; p < hw; p++)
    for (uint32_t ch = 0; ch < c; ch++)
      out[ch] += in[p * c + ch];
  for (uint32_t ch = 0; ch < c; ch++)
    out[ch] *= scale;
}

const BeenetKernels beenet_kernels_portable = {
  .name = "portable",
  .pack_signs = pack_signs_portable,
  .bdot = bdot_portable,
  .fgemv = fgemv_portable,
  .fdw = fdw_portable,
  .bfinish = bfinish_portable,
  .ffinish = ffinish_portable,
  .add = add_portable,
  .gap = gap_portable,
};
