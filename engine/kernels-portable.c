/* Portable C reference kernels.  Straightforward loops, written so the
 * compiler can vectorise the inner ones; every other kernel set is tested
 * against these. */
#include "kernels.h"

#include <string.h>

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

static inline float
finish (float scale, int32_t acc, float bias, bool relu)
{
  float v = scale * (float) acc + bias;
  return relu && v < 0.0f ? 0.0f : v;
}

/* Range of kernel taps k in [0, k_size) with 0 <= o*s - p + k < n. */
static inline void
tap_range (uint32_t o, uint32_t s, uint32_t p, uint32_t k_size, uint32_t n,
    uint32_t *lo, uint32_t *hi)
{
  const int64_t start = (int64_t) o * s - p;
  int64_t a = start < 0 ? -start : 0;
  int64_t b = (int64_t) n - start;
  if (b > k_size)
    b = k_size;
  if (b < a)
    b = a;
  *lo = (uint32_t) a;
  *hi = (uint32_t) b;
}

static void
bconv2d_portable (const BeenetConvGeom *g, const uint32_t *in_bits,
    const uint32_t *weight, const float *scale, const float *bias, float *out)
{
  const uint32_t words = g->words;
  for (uint32_t ho = 0; ho < g->ho; ho++) {
    uint32_t y_lo, y_hi;
    tap_range (ho, g->sh, g->ph, g->kh, g->h, &y_lo, &y_hi);
    const int64_t y0 = (int64_t) ho * g->sh - g->ph;
    for (uint32_t wo = 0; wo < g->wo; wo++) {
      uint32_t x_lo, x_hi;
      tap_range (wo, g->sw, g->pw, g->kw, g->w, &x_lo, &x_hi);
      const int64_t x0 = (int64_t) wo * g->sw - g->pw;
      const int32_t valid_bits =
          (int32_t) ((y_hi - y_lo) * (x_hi - x_lo) * g->c);
      float *o = out + ((size_t) ho * g->wo + wo) * g->cout;
      for (uint32_t co = 0; co < g->cout; co++) {
        uint32_t pc = 0;
        for (uint32_t ky = y_lo; ky < y_hi; ky++) {
          const uint32_t *a_row = in_bits
              + ((size_t) (y0 + ky) * g->w + (size_t) (x0 + x_lo)) * words;
          const uint32_t *w_row = weight
              + (((size_t) co * g->kh + ky) * g->kw + x_lo) * words;
          const uint32_t n = (x_hi - x_lo) * words;
          /* Taps x_lo..x_hi-1 are contiguous pixels in both the input row
           * and the weight row, so one flat loop covers them. */
          for (uint32_t j = 0; j < n; j++)
            pc += beenet_popcount32 (a_row[j] ^ w_row[j]);
        }
        o[co] = finish (scale[co], valid_bits - 2 * (int32_t) pc, bias[co],
            g->relu);
      }
    }
  }
}

static void
bdense_portable (uint32_t cin, uint32_t cout, const uint32_t *in_bits,
    const uint32_t *weight, const float *scale, const float *bias, bool relu,
    float *out)
{
  const uint32_t words = (cin + 31) / 32;
  for (uint32_t co = 0; co < cout; co++) {
    const uint32_t *w = weight + (size_t) co * words;
    uint32_t pc = 0;
    for (uint32_t j = 0; j < words; j++)
      pc += beenet_popcount32 (in_bits[j] ^ w[j]);
    out[co] = finish (scale[co], (int32_t) cin - 2 * (int32_t) pc, bias[co],
        relu);
  }
}

void
beenet_conv2d_portable (const BeenetConvGeom *g, const float *in,
    const float *weight, const float *scale, const float *bias, float *out)
{
  const uint32_t cig = g->c / g->groups;
  const uint32_t cog = g->cout / g->groups;
  for (uint32_t ho = 0; ho < g->ho; ho++) {
    uint32_t y_lo, y_hi;
    tap_range (ho, g->sh, g->ph, g->kh, g->h, &y_lo, &y_hi);
    const int64_t y0 = (int64_t) ho * g->sh - g->ph;
    for (uint32_t wo = 0; wo < g->wo; wo++) {
      uint32_t x_lo, x_hi;
      tap_range (wo, g->sw, g->pw, g->kw, g->w, &x_lo, &x_hi);
      const int64_t x0 = (int64_t) wo * g->sw - g->pw;
      float *o = out + ((size_t) ho * g->wo + wo) * g->cout;
      for (uint32_t co = 0; co < g->cout; co++) {
        const uint32_t c0 = (co / cog) * cig;
        float acc = 0.0f;
        for (uint32_t ky = y_lo; ky < y_hi; ky++) {
          for (uint32_t kx = x_lo; kx < x_hi; kx++) {
            const float *a = in
                + ((size_t) (y0 + ky) * g->w + (size_t) (x0 + kx)) * g->c + c0;
            const float *w = weight
                + (((size_t) co * g->kh + ky) * g->kw + kx) * cig;
            for (uint32_t ci = 0; ci < cig; ci++)
              acc += w[ci] * a[ci];
          }
        }
        float v = scale[co] * acc + bias[co];
        o[co] = g->relu && v < 0.0f ? 0.0f : v;
      }
    }
  }
}

void
beenet_dense_portable (uint32_t cin, uint32_t cout, const float *in,
    const float *weight, const float *scale, const float *bias, bool relu,
    float *out)
{
  for (uint32_t co = 0; co < cout; co++) {
    const float *w = weight + (size_t) co * cin;
    float acc = 0.0f;
    for (uint32_t ci = 0; ci < cin; ci++)
      acc += w[ci] * in[ci];
    float v = scale[co] * acc + bias[co];
    out[co] = relu && v < 0.0f ? 0.0f : v;
  }
}

const BeenetKernels beenet_kernels_portable = {
  .name = "portable",
  .pack_signs = pack_signs_portable,
  .bconv2d = bconv2d_portable,
  .bdense = bdense_portable,
  .conv2d = beenet_conv2d_portable,
  .dense = beenet_dense_portable,
};
