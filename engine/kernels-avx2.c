/* x86-64 kernel set "avx2": AVX2 + FMA micro-kernels, output channels in
 * the vector lanes (a 16-channel weight block is two registers).  The
 * binary popcount is a vector nibble lookup (pshufb) accumulated in bytes
 * and widened to 32-bit lanes every 31 words.  Compiled with per-function
 * target attributes, so the rest of the library stays baseline x86-64;
 * kernels.c only selects this table when __builtin_cpu_supports reports
 * avx2 and fma.  Binary results are bit-identical to the portable set; the
 * float ones differ by FMA rounding only. */
#include "kernels.h"
#include "kernels-scalar.h"

#if defined(BEENET_HAVE_AVX2)

#include <immintrin.h>

#define L BEENET_LANES
#define MAXB BEENET_UK_MAX_BLOCKS
#define TARGET __attribute__((target ("avx2,fma")))
#define INLINE TARGET static inline __attribute__((always_inline))

/* Sign bits of 8 floats: bit set iff x < 0 (so -0.0 and +0.0 give 0, and
 * NaN compares false as in the portable kernel). */
INLINE uint32_t
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

/* ---- binary ------------------------------------------------------------ */

/* Per-byte popcount by 4-bit table lookup. */
INLINE __m256i
popcount_bytes (__m256i x, __m256i lut, __m256i low4)
{
  const __m256i lo = _mm256_and_si256 (x, low4);
  const __m256i hi = _mm256_and_si256 (_mm256_srli_epi16 (x, 4), low4);
  return _mm256_add_epi8 (_mm256_shuffle_epi8 (lut, lo),
      _mm256_shuffle_epi8 (lut, hi));
}

/* acc (8 x int32) += sum of the 4 byte counts of each 32-bit lane. */
INLINE void
widen_add (int32_t *acc, __m256i c8)
{
  const __m256i c16 = _mm256_maddubs_epi16 (c8, _mm256_set1_epi8 (1));
  const __m256i c32 = _mm256_madd_epi16 (c16, _mm256_set1_epi16 (1));
  __m256i *p = (__m256i *) acc;
  _mm256_storeu_si256 (p, _mm256_add_epi32 (_mm256_loadu_si256 (p), c32));
}

/* c8[v] += byte popcounts of (a[i] ^ weights) for words i0 <= i < i1 of
 * one row; nb is a compile-time constant (see bdot_avx2), so c8 stays in
 * registers. */
INLINE void
bdot_run (const uint32_t *a, const uint32_t *w, size_t w_bs, uint32_t i0,
    uint32_t i1, const uint32_t nb, __m256i *c8)
{
  const __m256i lut = _mm256_setr_epi8 (0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3,
      2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low4 = _mm256_set1_epi8 (0x0f);
  for (uint32_t i = i0; i < i1; i++) {
    const __m256i va = _mm256_set1_epi32 ((int) a[i]);
    const uint32_t *wi = w + i * L;
#pragma GCC unroll 8
    for (uint32_t v = 0; v < 2 * nb; v++) {
      const __m256i wv = _mm256_loadu_si256 ((const __m256i *)
          (wi + (v / 2) * w_bs + (v % 2) * 8));
      c8[v] = _mm256_add_epi8 (c8[v],
          popcount_bytes (_mm256_xor_si256 (va, wv), lut, low4));
    }
  }
}

/* Byte counters hold at most 31 words (31 * 8 < 256): runs are cut into
 * chunks of at most `left` words, and the counters are widened into acc
 * (memory) between chunks. */
INLINE void
bdot_nb (const BeenetBTaps *t, const uint32_t nb, int32_t *acc)
{
  __m256i c8[2 * MAXB];
#pragma GCC unroll 8
  for (uint32_t v = 0; v < 2 * nb; v++) {
    c8[v] = _mm256_setzero_si256 ();
    _mm256_storeu_si256 ((__m256i *) (acc + 8 * v), c8[v]);
  }
  uint32_t left = 31;
  for (uint32_t r = 0; r < t->rows; r++) {
    const uint32_t *a = t->a + r * t->a_rs;
    const uint32_t *w = t->w + r * t->w_rs;
    for (uint32_t i = 0; i < t->n;) {
      const uint32_t end = t->n - i < left ? t->n : i + left;
      bdot_run (a, w, t->w_bs, i, end, nb, c8);
      left -= end - i;
      i = end;
      if (left == 0) {
#pragma GCC unroll 8
        for (uint32_t v = 0; v < 2 * nb; v++) {
          widen_add (acc + 8 * v, c8[v]);
          c8[v] = _mm256_setzero_si256 ();
        }
        left = 31;
      }
    }
  }
#pragma GCC unroll 8
  for (uint32_t v = 0; v < 2 * nb; v++)
    widen_add (acc + 8 * v, c8[v]);
}

TARGET static void
bdot_avx2 (const BeenetBTaps *t, uint32_t nb, int32_t *acc)
{
  switch (nb) {
    case 1: bdot_nb (t, 1, acc); break;
    case 2: bdot_nb (t, 2, acc); break;
    case 3: bdot_nb (t, 3, acc); break;
    default: bdot_nb (t, 4, acc); break;
  }
}

/* ---- float ------------------------------------------------------------- */

INLINE void
fgemv_nb (const BeenetFTaps *t, const float *ap, const uint32_t nb,
    float *acc)
{
  __m256 s[2 * MAXB];
#pragma GCC unroll 8
  for (uint32_t v = 0; v < 2 * nb; v++)
    s[v] = _mm256_setzero_ps ();
  for (uint32_t r = 0; r < t->rows; r++)
    for (uint32_t k = 0; k < t->taps; k++) {
      const float *a = ap + r * t->a_rs + k * t->a_ts;
      const float *w = t->w + r * t->w_rs + k * t->w_ts;
      for (uint32_t i = 0; i < t->n; i++) {
        const __m256 va = _mm256_broadcast_ss (a + i);
#pragma GCC unroll 8
        for (uint32_t v = 0; v < 2 * nb; v++)
          s[v] = _mm256_fmadd_ps (_mm256_loadu_ps (w + (v / 2) * t->w_bs
                  + i * L + (v % 2) * 8), va, s[v]);
      }
    }
#pragma GCC unroll 8
  for (uint32_t v = 0; v < 2 * nb; v++)
    _mm256_storeu_ps (acc + 8 * v, s[v]);
}

TARGET static void
fgemv_avx2 (const BeenetFTaps *t, uint32_t nb, float *acc)
{
  for (uint32_t p = 0; p < t->np; p++) {
    const float *ap = t->a + p * t->a_ps;
    float *o = acc + p * nb * L;
    switch (nb) {
      case 1: fgemv_nb (t, ap, 1, o); break;
      case 2: fgemv_nb (t, ap, 2, o); break;
      case 3: fgemv_nb (t, ap, 3, o); break;
      default: fgemv_nb (t, ap, 4, o); break;
    }
  }
}

/* Depthwise: channels i0 .. i0 + 8 * nv - 1 over every run. */
INLINE void
fdw_chunk (const BeenetFTaps *t, uint32_t i0, const uint32_t nv, float *acc)
{
  __m256 s[4];
#pragma GCC unroll 4
  for (uint32_t v = 0; v < nv; v++)
    s[v] = _mm256_setzero_ps ();
  for (uint32_t r = 0; r < t->rows; r++)
    for (uint32_t k = 0; k < t->taps; k++) {
      const float *a = t->a + r * t->a_rs + k * t->a_ts + i0;
      const float *w = t->w + r * t->w_rs + k * t->w_ts + i0;
#pragma GCC unroll 4
      for (uint32_t v = 0; v < nv; v++)
        s[v] = _mm256_fmadd_ps (_mm256_loadu_ps (w + 8 * v),
            _mm256_loadu_ps (a + 8 * v), s[v]);
    }
#pragma GCC unroll 4
  for (uint32_t v = 0; v < nv; v++)
    _mm256_storeu_ps (acc + i0 + 8 * v, s[v]);
}

TARGET static void
fdw_pixel (const BeenetFTaps *t, float *acc)
{
  uint32_t i = 0;
  for (; i + 32 <= t->n; i += 32)
    fdw_chunk (t, i, 4, acc);
  for (; i + 8 <= t->n; i += 8)
    fdw_chunk (t, i, 1, acc);
  for (; i < t->n; i++) {
    float s = 0.0f;
    for (uint32_t r = 0; r < t->rows; r++)
      for (uint32_t k = 0; k < t->taps; k++)
        s += t->w[r * t->w_rs + k * t->w_ts + i]
            * t->a[r * t->a_rs + k * t->a_ts + i];
    acc[i] = s;
  }
}

/* np pixels (see BeenetFTaps): pixel p's channels at acc + p * n. */
TARGET static void
fdw_avx2 (const BeenetFTaps *t, float *acc)
{
  for (uint32_t p = 0; p < t->np; p++) {
    BeenetFTaps tp = *t;
    tp.a += p * t->a_ps;
    fdw_pixel (&tp, acc + (size_t) p * t->n);
  }
}

/* ---- output transforms ------------------------------------------------- */

/* scale * x + bias as a multiply and an add (not fused: bit-identical to
 * the portable transform); relu as max(0, v), which keeps -0.0 and NaN
 * like `v < 0 ? 0 : v` (MAXPS returns its second operand then). */
INLINE __m256
finish8 (__m256 x, const float *scale, const float *bias, bool relu)
{
  __m256 v = _mm256_add_ps (_mm256_mul_ps (_mm256_loadu_ps (scale), x),
      _mm256_loadu_ps (bias));
  return relu ? _mm256_max_ps (_mm256_setzero_ps (), v) : v;
}

/* acc -> x = valid - 2 * acc for 8 lanes. */
INLINE __m256
bvalue8 (__m256i vv, const int32_t *acc)
{
  const __m256i a = _mm256_loadu_si256 ((const __m256i *) acc);
  return _mm256_cvtepi32_ps (_mm256_sub_epi32 (vv, _mm256_slli_epi32 (a, 1)));
}

/* The floor of a branch-free relu: max(floor, v) with floor +0.0 is the
 * relu of finish8, with floor -inf it returns v unchanged (-0.0 and NaN
 * included: MAXPS returns its second operand unless the first is
 * greater). */
INLINE __m256
relu_floor (bool relu)
{
  return relu ? _mm256_setzero_ps () : _mm256_set1_ps (-__builtin_inff ());
}

/* With a residual (BeenetOutput): res + v, then its relu, as add_avx2. */
TARGET static void
bfinish_avx2 (const int32_t *acc, int32_t valid, uint32_t n,
    const BeenetOutput *t, float *o)
{
  const __m256i vv = _mm256_set1_epi32 (valid);
  const float *scale = t->scale, *bias = t->bias, *res = t->res;
  const __m256 lo = relu_floor (t->relu), rlo = relu_floor (t->res_relu);
  uint32_t i = 0;
  if (res) {
    for (; i + 8 <= n; i += 8) {
      const __m256 v = _mm256_max_ps (lo, _mm256_add_ps (_mm256_mul_ps (
                  _mm256_loadu_ps (scale + i), bvalue8 (vv, acc + i)),
              _mm256_loadu_ps (bias + i)));
      _mm256_storeu_ps (o + i, _mm256_max_ps (rlo,
              _mm256_add_ps (_mm256_loadu_ps (res + i), v)));
    }
  } else {
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps (o + i, _mm256_max_ps (lo, _mm256_add_ps (
                  _mm256_mul_ps (_mm256_loadu_ps (scale + i),
                      bvalue8 (vv, acc + i)), _mm256_loadu_ps (bias + i))));
  }
  beenet_bfinish_scalar (acc, valid, i, n, t, o);
}

TARGET static void
ffinish_avx2 (const float *acc, uint32_t n, const float *scale,
    const float *bias, bool relu, float *o)
{
  uint32_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps (o + i, finish8 (_mm256_loadu_ps (acc + i), scale + i,
            bias + i, relu));
  beenet_ffinish_scalar (acc, i, n, scale, bias, relu, o);
}

/* ---- elementwise add, global average pool ----------------------------- */

/* relu as max(0, v) (see finish8): -0.0 and NaN pass like the portable
 * `v < 0 ? 0 : v`. */
TARGET static void
add_avx2 (const float *a, const float *b, size_t n, bool relu, float *o)
{
  const __m256 z = _mm256_setzero_ps ();
  size_t i = 0;
  if (relu) {
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps (o + i, _mm256_max_ps (z,
              _mm256_add_ps (_mm256_loadu_ps (a + i), _mm256_loadu_ps (b + i))));
    for (; i < n; i++) {
      const float v = a[i] + b[i];
      o[i] = v < 0.0f ? 0.0f : v;
    }
  } else {
    for (; i + 8 <= n; i += 8)
      _mm256_storeu_ps (o + i,
          _mm256_add_ps (_mm256_loadu_ps (a + i), _mm256_loadu_ps (b + i)));
    for (; i < n; i++)
      o[i] = a[i] + b[i];
  }
}

/* Channels in the lanes, 32 then 8 at a time, pixels summed in order from
 * +0.0 (as the portable loop), then one multiply. */
TARGET static void
gap_avx2 (const float *in, size_t hw, uint32_t c, float scale, float *out)
{
  const __m256 s = _mm256_set1_ps (scale);
  uint32_t ch = 0;
  for (; ch + 32 <= c; ch += 32) {
    __m256 a0 = _mm256_setzero_ps (), a1 = a0, a2 = a0, a3 = a0;
    const float *p = in + ch;
    for (size_t q = 0; q < hw; q++, p += c) {
      a0 = _mm256_add_ps (a0, _mm256_loadu_ps (p));
      a1 = _mm256_add_ps (a1, _mm256_loadu_ps (p + 8));
      a2 = _mm256_add_ps (a2, _mm256_loadu_ps (p + 16));
      a3 = _mm256_add_ps (a3, _mm256_loadu_ps (p + 24));
    }
    _mm256_storeu_ps (out + ch, _mm256_mul_ps (a0, s));
    _mm256_storeu_ps (out + ch + 8, _mm256_mul_ps (a1, s));
    _mm256_storeu_ps (out + ch + 16, _mm256_mul_ps (a2, s));
    _mm256_storeu_ps (out + ch + 24, _mm256_mul_ps (a3, s));
  }
  for (; ch + 8 <= c; ch += 8) {
    __m256 a0 = _mm256_setzero_ps ();
    const float *p = in + ch;
    for (size_t q = 0; q < hw; q++, p += c)
      a0 = _mm256_add_ps (a0, _mm256_loadu_ps (p));
    _mm256_storeu_ps (out + ch, _mm256_mul_ps (a0, s));
  }
  beenet_gap_scalar (in, hw, ch, c, scale, out);
}

const BeenetKernels beenet_kernels_avx2 = {
  .name = "avx2",
  .pack_signs = pack_signs_avx2,
  .bdot = bdot_avx2,
  .fgemv = fgemv_avx2,
  .fdw = fdw_avx2,
  .bfinish = bfinish_avx2,
  .ffinish = ffinish_avx2,
  .add = add_avx2,
  .gap = gap_avx2,
};

#endif
