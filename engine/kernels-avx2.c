/* x86-64 kernel set "avx2": AVX2 sign packing and hardware POPCNT for the
 * XNOR/popcount loops.  Compiled with per-function target attributes, so the
 * rest of the library stays baseline x86-64; kernels.c only selects this
 * table when __builtin_cpu_supports reports avx2 and popcnt.  Results are
 * bit-identical to the portable set (integer arithmetic; the float kernels
 * are the portable ones). */
#include "kernels.h"

#if defined(BEENET_HAVE_AVX2)

#include <immintrin.h>
#include <string.h>

#define TARGET __attribute__((target ("avx2,popcnt")))

/* Sign bits of 8 floats: bit set iff x < 0 (so -0.0 and +0.0 give 0, and
 * NaN compares false as in the portable kernel). */
TARGET static inline uint32_t
signs8 (const float *p)
{
  __m256 v = _mm256_loadu_ps (p);
  __m256 lt = _mm256_cmp_ps (v, _mm256_setzero_ps (), _CMP_LT_OQ);
  return (uint32_t) _mm256_movemask_ps (lt);
}

TARGET static void
pack_signs_avx2 (const float *in, size_t n_pixels, uint32_t c, uint32_t *out)
{
  const uint32_t words = (c + 31) / 32;
  for (size_t p = 0; p < n_pixels; p++) {
    const float *px = in + p * c;
    uint32_t *o = out + p * words;
    for (uint32_t j = 0; j < words; j++) {
      const uint32_t n = c - 32 * j < 32 ? c - 32 * j : 32;
      const float *q = px + 32 * j;
      uint32_t v = 0, b = 0;
      for (; b + 8 <= n; b += 8)
        v |= signs8 (q + b) << b;
      for (; b < n; b++)
        v |= (uint32_t) (q[b] < 0.0f) << b;
      o[j] = v;
    }
  }
}

/* popcount(a ^ w) over n uint32 words. */
TARGET static inline uint32_t
xor_popcount (const uint32_t *a, const uint32_t *w, uint32_t n)
{
  uint64_t pc = 0;
  uint32_t j = 0;
  for (; j + 2 <= n; j += 2) {
    uint64_t x, y;
    memcpy (&x, a + j, 8);
    memcpy (&y, w + j, 8);
    pc += (uint64_t) _mm_popcnt_u64 (x ^ y);
  }
  if (j < n)
    pc += (uint64_t) _mm_popcnt_u32 (a[j] ^ w[j]);
  return (uint32_t) pc;
}

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

TARGET static void
bconv2d_avx2 (const BeenetConvGeom *g, const uint32_t *in_bits,
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
      const uint32_t n = (x_hi - x_lo) * words;
      float *o = out + ((size_t) ho * g->wo + wo) * g->cout;
      for (uint32_t co = 0; co < g->cout; co++) {
        uint32_t pc = 0;
        for (uint32_t ky = y_lo; ky < y_hi; ky++) {
          const uint32_t *a_row = in_bits
              + ((size_t) (y0 + ky) * g->w + (size_t) (x0 + x_lo)) * words;
          const uint32_t *w_row = weight
              + (((size_t) co * g->kh + ky) * g->kw + x_lo) * words;
          pc += xor_popcount (a_row, w_row, n);
        }
        float v = scale[co] * (float) (valid_bits - 2 * (int32_t) pc) + bias[co];
        o[co] = g->relu && v < 0.0f ? 0.0f : v;
      }
    }
  }
}

TARGET static void
bdense_avx2 (uint32_t cin, uint32_t cout, const uint32_t *in_bits,
    const uint32_t *weight, const float *scale, const float *bias, bool relu,
    float *out)
{
  const uint32_t words = (cin + 31) / 32;
  for (uint32_t co = 0; co < cout; co++) {
    uint32_t pc = xor_popcount (in_bits, weight + (size_t) co * words, words);
    float v = scale[co] * (float) ((int32_t) cin - 2 * (int32_t) pc) + bias[co];
    out[co] = relu && v < 0.0f ? 0.0f : v;
  }
}

const BeenetKernels beenet_kernels_avx2 = {
  .name = "avx2",
  .pack_signs = pack_signs_avx2,
  .bconv2d = bconv2d_avx2,
  .bdense = bdense_avx2,
  .conv2d = beenet_conv2d_portable,
  .dense = beenet_dense_portable,
};

#endif
