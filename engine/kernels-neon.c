/* aarch64 kernel set "neon": Advanced SIMD micro-kernels, output channels in
 * the vector lanes (a 16-channel weight block is four 128-bit registers).
 * The binary popcount is CNT (vcntq_u8) on XOR-ed words, accumulated in
 * byte counters and widened to 32-bit lanes with pairwise widening adds
 * (vpaddlq_u8, vpadalq_u16) every 31 words, as in the avx2 set.  The float
 * micro-kernels use FMLA (vfmaq_f32).  NEON is part of the aarch64 base
 * architecture, so kernels.c offers this set unconditionally on aarch64
 * builds (BEENET_HAVE_NEON, set by engine/meson.build there).
 *
 * Binary results are bit-identical to the portable set; the float ones
 * differ by FMA rounding only.  The output transforms are one multiply
 * (vmulq_f32) then one add (vaddq_f32): GCC's arm_neon.h implements these
 * as plain vector `*` and `+`, so the build must not contract them into
 * FMLA.  The project builds as ISO C11 (-std=c11), where GCC's default is
 * -ffp-contract=off; tools/test-aarch64.sh passes the same flags. */
#include "kernels.h"
#include "kernels-scalar.h"

#if defined(BEENET_HAVE_NEON)

#include <arm_neon.h>

#define L BEENET_LANES
#define MAXB BEENET_UK_MAX_BLOCKS
#define INLINE static inline __attribute__((always_inline))

/* Words whose byte counts fit in a uint8 lane: 31 * 8 = 248 < 256. */
#define BYTE_RUN 31u

/* ---- sign packing ------------------------------------------------------ */

/* Sign bits of the 4 floats at p, as bits shifted by `shift` within the
 * returned word's lanes: lane l holds (p[l] < 0) << (shift + l).  FCMLT
 * is an ordered compare, so NaN, -0.0 and +0.0 give 0 as in the portable
 * kernel. */
INLINE uint32x4_t
signs4 (const float *p, uint32x4_t bits)
{
  const uint32x4_t lt = vcltq_f32 (vld1q_f32 (p), vdupq_n_f32 (0.0f));
  return vandq_u32 (lt, bits);
}

static void
pack_signs_neon (const float *in, size_t n_pixels, uint32_t c, uint32_t *out)
{
  static const uint32_t bit0[4] = { 1u, 2u, 4u, 8u };
  const uint32x4_t bits = vld1q_u32 (bit0);
  const uint32_t words = (c + 31) / 32;
  for (size_t p = 0; p < n_pixels; p++) {
    const float *px = in + p * c;
    uint32_t *o = out + p * words;
    for (uint32_t j = 0; j < words; j++) {
      const uint32_t n = c - 32 * j < 32 ? c - 32 * j : 32;
      const float *q = px + 32 * j;
      /* Each lane collects distinct bits, so the horizontal add is an OR. */
      uint32x4_t v4 = vdupq_n_u32 (0);
      uint32_t b = 0;
      for (; b + 4 <= n; b += 4)
        v4 = vorrq_u32 (v4, signs4 (q + b,
                vshlq_u32 (bits, vdupq_n_s32 ((int32_t) b))));
      uint32_t v = vaddvq_u32 (v4);
      for (; b < n; b++)
        v |= (uint32_t) (q[b] < 0.0f) << b;
      o[j] = v;
    }
  }
}

/* ---- binary ------------------------------------------------------------ */

/* acc (4 x int32) += sum of the 4 byte counts of each 32-bit lane. */
INLINE void
widen_add (int32_t *acc, uint8x16_t c8)
{
  const uint16x8_t c16 = vpaddlq_u8 (c8);
  const uint32x4_t a = vreinterpretq_u32_s32 (vld1q_s32 (acc));
  vst1q_s32 (acc, vreinterpretq_s32_u32 (vpadalq_u16 (a, c16)));
}

/* c8[v] += byte popcounts of (a[i] ^ weights) for words i0 <= i < i1 of
 * one row; vector v covers lanes 4 (v % 4) .. 4 (v % 4) + 3 of block v / 4.
 * nb is a compile-time constant (see bdot_neon), so c8 stays in
 * registers (at most 16 of the 32). */
INLINE void
bdot_run (const uint32_t *a, const uint32_t *w, size_t w_bs, uint32_t i0,
    uint32_t i1, const uint32_t nb, uint8x16_t *c8)
{
  for (uint32_t i = i0; i < i1; i++) {
    const uint32x4_t va = vdupq_n_u32 (a[i]);
    const uint32_t *wi = w + i * L;
#pragma GCC unroll 16
    for (uint32_t v = 0; v < 4 * nb; v++) {
      const uint32x4_t wv = vld1q_u32 (wi + (v / 4) * w_bs + (v % 4) * 4);
      c8[v] = vaddq_u8 (c8[v],
          vcntq_u8 (vreinterpretq_u8_u32 (veorq_u32 (va, wv))));
    }
  }
}

/* Byte counters hold at most BYTE_RUN words: runs are cut into chunks of
 * at most `left` words, and the counters are widened into acc (memory)
 * between chunks. */
INLINE void
bdot_nb (const BeenetBTaps *t, const uint32_t nb, int32_t *acc)
{
  uint8x16_t c8[4 * MAXB];
#pragma GCC unroll 16
  for (uint32_t v = 0; v < 4 * nb; v++) {
    c8[v] = vdupq_n_u8 (0);
    vst1q_s32 (acc + 4 * v, vdupq_n_s32 (0));
  }
  uint32_t left = BYTE_RUN;
  for (uint32_t r = 0; r < t->rows; r++) {
    const uint32_t *a = t->a + r * t->a_rs;
    const uint32_t *w = t->w + r * t->w_rs;
    for (uint32_t i = 0; i < t->n;) {
      const uint32_t end = t->n - i < left ? t->n : i + left;
      bdot_run (a, w, t->w_bs, i, end, nb, c8);
      left -= end - i;
      i = end;
      if (left == 0) {
#pragma GCC unroll 16
        for (uint32_t v = 0; v < 4 * nb; v++) {
          widen_add (acc + 4 * v, c8[v]);
          c8[v] = vdupq_n_u8 (0);
        }
        left = BYTE_RUN;
      }
    }
  }
#pragma GCC unroll 16
  for (uint32_t v = 0; v < 4 * nb; v++)
    widen_add (acc + 4 * v, c8[v]);
}

static void
bdot_neon (const BeenetBTaps *t, uint32_t nb, int32_t *acc)
{
  switch (nb) {
    case 1: bdot_nb (t, 1, acc); break;
    case 2: bdot_nb (t, 2, acc); break;
    case 3: bdot_nb (t, 3, acc); break;
    default: bdot_nb (t, 4, acc); break;
  }
}

/* ---- float ------------------------------------------------------------- */

/* One pixel, nb blocks: 4 * nb accumulators of 4 lanes, summed in the
 * portable order (runs r, t, then inputs i) per lane. */
INLINE void
fgemv_nb (const BeenetFTaps *t, const float *ap, const uint32_t nb,
    float *acc)
{
  float32x4_t s[4 * MAXB];
#pragma GCC unroll 16
  for (uint32_t v = 0; v < 4 * nb; v++)
    s[v] = vdupq_n_f32 (0.0f);
  for (uint32_t r = 0; r < t->rows; r++)
    for (uint32_t k = 0; k < t->taps; k++) {
      const float *a = ap + r * t->a_rs + k * t->a_ts;
      const float *w = t->w + r * t->w_rs + k * t->w_ts;
      for (uint32_t i = 0; i < t->n; i++) {
        const float32x4_t va = vdupq_n_f32 (a[i]);
#pragma GCC unroll 16
        for (uint32_t v = 0; v < 4 * nb; v++)
          s[v] = vfmaq_f32 (s[v], vld1q_f32 (w + (v / 4) * t->w_bs
                  + i * L + (v % 4) * 4), va);
      }
    }
#pragma GCC unroll 16
  for (uint32_t v = 0; v < 4 * nb; v++)
    vst1q_f32 (acc + 4 * v, s[v]);
}

static void
fgemv_neon (const BeenetFTaps *t, uint32_t nb, float *acc)
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

/* Depthwise: channels i0 .. i0 + 4 * nv - 1 over every run. */
INLINE void
fdw_chunk (const BeenetFTaps *t, uint32_t i0, const uint32_t nv, float *acc)
{
  float32x4_t s[4];
#pragma GCC unroll 4
  for (uint32_t v = 0; v < nv; v++)
    s[v] = vdupq_n_f32 (0.0f);
  for (uint32_t r = 0; r < t->rows; r++)
    for (uint32_t k = 0; k < t->taps; k++) {
      const float *a = t->a + r * t->a_rs + k * t->a_ts + i0;
      const float *w = t->w + r * t->w_rs + k * t->w_ts + i0;
#pragma GCC unroll 4
      for (uint32_t v = 0; v < nv; v++)
        s[v] = vfmaq_f32 (s[v], vld1q_f32 (w + 4 * v),
            vld1q_f32 (a + 4 * v));
    }
#pragma GCC unroll 4
  for (uint32_t v = 0; v < nv; v++)
    vst1q_f32 (acc + i0 + 4 * v, s[v]);
}

static void
fdw_pixel (const BeenetFTaps *t, float *acc)
{
  uint32_t i = 0;
  for (; i + 16 <= t->n; i += 16)
    fdw_chunk (t, i, 4, acc);
  for (; i + 4 <= t->n; i += 4)
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
static void
fdw_neon (const BeenetFTaps *t, float *acc)
{
  for (uint32_t p = 0; p < t->np; p++) {
    BeenetFTaps tp = *t;
    tp.a += p * t->a_ps;
    fdw_pixel (&tp, acc + (size_t) p * t->n);
  }
}

/* ---- output transforms ------------------------------------------------- */

/* scale * x + bias as a multiply and an add (not fused: bit-identical to
 * the portable transform); relu as a select on v < 0 (ordered compare),
 * which is literally `v < 0 ? 0 : v`, so -0.0 and NaN pass through as in
 * the portable kernel (FMAX would not keep them the same way). */
INLINE float32x4_t
finish4 (float32x4_t x, const float *scale, const float *bias, bool relu)
{
  const float32x4_t v = vaddq_f32 (vmulq_f32 (vld1q_f32 (scale), x),
      vld1q_f32 (bias));
  if (!relu)
    return v;
  const float32x4_t zero = vdupq_n_f32 (0.0f);
  return vbslq_f32 (vcltq_f32 (v, zero), zero, v);
}

/* The residual step of BeenetOutput: res + v, relu as a select on s < 0
 * (as finish4 and add_neon). */
INLINE float32x4_t
residual4 (const float *res, float32x4_t v, bool relu)
{
  const float32x4_t s = vaddq_f32 (vld1q_f32 (res), v);
  if (!relu)
    return s;
  const float32x4_t zero = vdupq_n_f32 (0.0f);
  return vbslq_f32 (vcltq_f32 (s, zero), zero, s);
}

static void
bfinish_neon (const int32_t *acc, int32_t valid, uint32_t n,
    const BeenetOutput *t, float *o)
{
  const int32x4_t vv = vdupq_n_s32 (valid);
  uint32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const int32x4_t a = vld1q_s32 (acc + i);
    /* SCVTF rounds to nearest like the C int -> float conversion. */
    const float32x4_t x = vcvtq_f32_s32 (vsubq_s32 (vv, vshlq_n_s32 (a, 1)));
    float32x4_t v = finish4 (x, t->scale + i, t->bias + i, t->relu);
    if (t->res)
      v = residual4 (t->res + i, v, t->res_relu);
    vst1q_f32 (o + i, v);
  }
  beenet_bfinish_scalar (acc, valid, i, n, t, o);
}

static void
ffinish_neon (const float *acc, uint32_t n, const float *scale,
    const float *bias, bool relu, float *o)
{
  uint32_t i = 0;
  for (; i + 4 <= n; i += 4)
    vst1q_f32 (o + i, finish4 (vld1q_f32 (acc + i), scale + i, bias + i,
            relu));
  beenet_ffinish_scalar (acc, i, n, scale, bias, relu, o);
}

extern const BeenetKernels beenet_kernels_neon;
/* ---- elementwise add, global average pool ----------------------------- */

/* relu as a select on v < 0 (see finish4; FMAX would turn -0.0 into +0.0). */
INLINE float32x4_t
relu4 (float32x4_t v)
{
  const float32x4_t zero = vdupq_n_f32 (0.0f);
  return vbslq_f32 (vcltq_f32 (v, zero), zero, v);
}

static void
add_neon (const float *a, const float *b, size_t n, bool relu, float *o)
{
  size_t i = 0;
  if (relu) {
    for (; i + 4 <= n; i += 4)
      vst1q_f32 (o + i, relu4 (vaddq_f32 (vld1q_f32 (a + i),
                  vld1q_f32 (b + i))));
    for (; i < n; i++) {
      const float v = a[i] + b[i];
      o[i] = v < 0.0f ? 0.0f : v;
    }
  } else {
    for (; i + 4 <= n; i += 4)
      vst1q_f32 (o + i, vaddq_f32 (vld1q_f32 (a + i), vld1q_f32 (b + i)));
    for (; i < n; i++)
      o[i] = a[i] + b[i];
  }
}

/* Channels in the lanes, 16 then 4 at a time, pixels summed in order from
 * +0.0 (as the portable loop), then one multiply. */
static void
gap_neon (const float *in, size_t hw, uint32_t c, float scale, float *out)
{
  uint32_t ch = 0;
  for (; ch + 16 <= c; ch += 16) {
    float32x4_t a0 = vdupq_n_f32 (0.0f), a1 = a0, a2 = a0, a3 = a0;
    const float *p = in + ch;
    for (size_t q = 0; q < hw; q++, p += c) {
      a0 = vaddq_f32 (a0, vld1q_f32 (p));
      a1 = vaddq_f32 (a1, vld1q_f32 (p + 4));
      a2 = vaddq_f32 (a2, vld1q_f32 (p + 8));
      a3 = vaddq_f32 (a3, vld1q_f32 (p + 12));
    }
    vst1q_f32 (out + ch, vmulq_n_f32 (a0, scale));
    vst1q_f32 (out + ch + 4, vmulq_n_f32 (a1, scale));
    vst1q_f32 (out + ch + 8, vmulq_n_f32 (a2, scale));
    vst1q_f32 (out + ch + 12, vmulq_n_f32 (a3, scale));
  }
  for (; ch + 4 <= c; ch += 4) {
    float32x4_t a0 = vdupq_n_f32 (0.0f);
    const float *p = in + ch;
    for (size_t q = 0; q < hw; q++, p += c)
      a0 = vaddq_f32 (a0, vld1q_f32 (p));
    vst1q_f32 (out + ch, vmulq_n_f32 (a0, scale));
  }
  beenet_gap_scalar (in, hw, ch, c, scale, out);
}

const BeenetKernels beenet_kernels_neon = {
  .name = "neon",
  .pack_signs = pack_signs_neon,
  .bdot = bdot_neon,
  .fgemv = fgemv_neon,
  .fdw = fdw_neon,
  .bfinish = bfinish_neon,
  .ffinish = ffinish_neon,
  .add = add_neon,
  .gap = gap_neon,
};

#endif
