/* x86-64 kernel set "avx512": AVX-512 (F, BW, VL) + VPOPCNTDQ
 * micro-kernels, one 16-channel weight block per zmm register: broadcast an
 * input word, XOR with the block's 16 weight words, VPOPCNTD, add.  Built
 * with per-function target attributes only if the compiler accepts them
 * (meson check BEENET_HAVE_AVX512); kernels.c selects this table only when
 * __builtin_cpu_supports reports every feature.  Binary results are
 * bit-identical to the portable set; the float ones differ by FMA rounding
 * only. */
#include "kernels.h"

#if defined(BEENET_AVX512_EMULATED)
/* Test build (tests/engine): the same code on a plain-C model of the
 * intrinsics, so it can be checked on CPUs without AVX-512. */
#include "avx512-emu.h"
#define TARGET
#define KERNELS beenet_kernels_avx512_emulated
#define KERNELS_NAME "avx512-emulated"
#elif defined(BEENET_HAVE_AVX512)
#include <immintrin.h>
#define TARGET \
  __attribute__((target ("avx512f,avx512bw,avx512vl,avx512vpopcntdq,fma")))
#define KERNELS beenet_kernels_avx512
#define KERNELS_NAME "avx512"
#endif

#if defined(TARGET)

#define L BEENET_LANES
#define MAXB BEENET_UK_MAX_BLOCKS
#define INLINE TARGET static inline __attribute__((always_inline))
#if defined(BEENET_AVX512_EMULATED)
/* The emulated intrinsics are plain C over 16-lane structs: unrolled into
 * the tile kernels they took GCC over 7 minutes to compile with ASan. */
#define UNROLL4
#else
#define UNROLL4 _Pragma ("GCC unroll 4")
#endif

/* Lanes below n set (n <= 16). */
INLINE __mmask16
low_mask (uint32_t n)
{
  return (__mmask16) (n >= 16 ? 0xffffu : (1u << n) - 1u);
}

/* Lanes below n set (n <= 8). */
INLINE __mmask8
low_mask8 (uint32_t n)
{
  return (__mmask8) (n >= 8 ? 0xffu : (1u << n) - 1u);
}

/* min(n, 8) floats as one ymm: a full vector unmasked, a shorter one
 * masked (lanes past n neither read nor written).  Channel tails of 8 or
 * fewer go through these: as masked zmm they cost this CPU (AMD EPYC)
 * nearly twice the time of the whole 8-channel depthwise conv. */
INLINE __m256
load8 (const float *p, uint32_t n)
{
  return n >= 8 ? _mm256_loadu_ps (p) : _mm256_maskz_loadu_ps (low_mask8 (n),
      p);
}

INLINE void
store8 (float *p, uint32_t n, __m256 v)
{
  if (n >= 8)
    _mm256_storeu_ps (p, v);
  else
    _mm256_mask_storeu_ps (p, low_mask8 (n), v);
}

/* Sign bits of n <= 16 floats (x < 0; NaN and -0.0 give 0). */
INLINE uint32_t
signs16 (const float *p, uint32_t n)
{
  const __mmask16 m = low_mask (n);
  const __m512 v = _mm512_maskz_loadu_ps (m, p);
  return (uint32_t) _mm512_mask_cmp_ps_mask (m, v, _mm512_setzero_ps (),
      _CMP_LT_OQ);
}

TARGET static void
pack_signs_avx512 (const float *in, size_t n_pixels, uint32_t c,
    uint32_t *out)
{
  const uint32_t words = (c + 31) / 32;
  for (size_t p = 0; p < n_pixels; p++) {
    const float *px = in + p * c;
    uint32_t *o = out + p * words;
    for (uint32_t j = 0; j < words; j++) {
      const uint32_t n = c - 32 * j < 32 ? c - 32 * j : 32;
      const float *q = px + 32 * j;
      uint32_t v = signs16 (q, n < 16 ? n : 16);
      if (n > 16)
        v |= signs16 (q + 16, n - 16) << 16;
      o[j] = v;
    }
  }
}

/* ---- binary ------------------------------------------------------------ */

/* nb is a compile-time constant at every call site (see bdot_avx512). */
INLINE void
bdot_nb (const BeenetBTaps *t, const uint32_t nb, int32_t *acc)
{
  __m512i s[MAXB];
UNROLL4
  for (uint32_t b = 0; b < nb; b++)
    s[b] = _mm512_setzero_si512 ();
  for (uint32_t r = 0; r < t->rows; r++) {
    const uint32_t *a = t->a + r * t->a_rs;
    const uint32_t *w = t->w + r * t->w_rs;
    for (uint32_t i = 0; i < t->n; i++) {
      const __m512i va = _mm512_set1_epi32 ((int) a[i]);
UNROLL4
      for (uint32_t b = 0; b < nb; b++) {
        const __m512i wv = _mm512_loadu_si512 (w + b * t->w_bs + i * L);
        s[b] = _mm512_add_epi32 (s[b],
            _mm512_popcnt_epi32 (_mm512_xor_si512 (va, wv)));
      }
    }
  }
UNROLL4
  for (uint32_t b = 0; b < nb; b++)
    _mm512_storeu_si512 (acc + b * L, s[b]);
}

TARGET static void
bdot_avx512 (const BeenetBTaps *t, uint32_t nb, int32_t *acc)
{
  switch (nb) {
    case 1: bdot_nb (t, 1, acc); break;
    case 2: bdot_nb (t, 2, acc); break;
    case 3: bdot_nb (t, 3, acc); break;
    default: bdot_nb (t, 4, acc); break;
  }
}

/* np pixels x nb blocks (both compile-time constants at every call site,
 * see bdot_px_avx512): each weight vector is loaded once per word and
 * XORed with every pixel's broadcast input word, so the loads and the
 * loop overhead are shared by np pixels (4 x 4 accumulators + 4 weight
 * vectors fit the 32 zmm registers).  The sums are those of bdot_nb
 * pixel by pixel (integer adds: any order gives the same bits). */
INLINE void
bdot_px_nb (const BeenetBTaps *t, size_t a_ps, const uint32_t np,
    const uint32_t nb, int32_t *acc)
{
  __m512i s[BEENET_UK_MAX_BPIXELS][MAXB];
UNROLL4
  for (uint32_t p = 0; p < np; p++)
UNROLL4
    for (uint32_t b = 0; b < nb; b++)
      s[p][b] = _mm512_setzero_si512 ();
  for (uint32_t r = 0; r < t->rows; r++) {
    const uint32_t *a = t->a + r * t->a_rs;
    const uint32_t *w = t->w + r * t->w_rs;
    for (uint32_t i = 0; i < t->n; i++) {
      __m512i wv[MAXB];
UNROLL4
      for (uint32_t b = 0; b < nb; b++)
        wv[b] = _mm512_loadu_si512 (w + b * t->w_bs + i * L);
UNROLL4
      for (uint32_t p = 0; p < np; p++) {
        const __m512i va = _mm512_set1_epi32 ((int) a[p * a_ps + i]);
UNROLL4
        for (uint32_t b = 0; b < nb; b++)
          s[p][b] = _mm512_add_epi32 (s[p][b],
              _mm512_popcnt_epi32 (_mm512_xor_si512 (va, wv[b])));
      }
    }
  }
UNROLL4
  for (uint32_t p = 0; p < np; p++)
UNROLL4
    for (uint32_t b = 0; b < nb; b++)
      _mm512_storeu_si512 (acc + (p * nb + b) * L, s[p][b]);
}

#define BDOT_PX_NB(np_) \
  switch (nb) { \
    case 1: bdot_px_nb (t, a_ps, np_, 1, acc); break; \
    case 2: bdot_px_nb (t, a_ps, np_, 2, acc); break; \
    case 3: bdot_px_nb (t, a_ps, np_, 3, acc); break; \
    default: bdot_px_nb (t, a_ps, np_, 4, acc); break; \
  }

TARGET static void
bdot_px_avx512 (const BeenetBTaps *t, size_t a_ps, uint32_t np, uint32_t nb,
    int32_t *acc)
{
  switch (np) {
    case 1: BDOT_PX_NB (1); break;
    case 2: BDOT_PX_NB (2); break;
    case 3: BDOT_PX_NB (3); break;
    default: BDOT_PX_NB (4); break;
  }
}

/* One tile of np pixels x nb blocks with the output transform fused (np,
 * nb compile-time constants at every call site, see bconv_tiles_avx512):
 * the loop of bdot_px_nb with each pixel's input at its own offset, then
 * for each block the scale and bias loaded once and every pixel's sums
 * turned into outputs straight from the registers, with the operations of
 * bfinish_avx512 in its order (identical bits). */
INLINE void
bconv_tile_nb (const BeenetBTiles *tt, const BeenetBTilePlan *tp,
    const uint32_t np, const uint32_t nb, uint32_t n, const BeenetOutput *out)
{
  const BeenetBShape *sh = &tt->shapes[tp->shape];
  __m512i s[BEENET_UK_MAX_TILE][MAXB];
UNROLL4
  for (uint32_t p = 0; p < np; p++)
UNROLL4
    for (uint32_t b = 0; b < nb; b++)
      s[p][b] = _mm512_setzero_si512 ();
  for (uint32_t r = 0; r < sh->rows; r++) {
    const uint32_t *a[BEENET_UK_MAX_TILE];
UNROLL4
    for (uint32_t p = 0; p < np; p++)
      a[p] = tt->in + tp->a[p] + r * tt->a_rs;
    const uint32_t *w = tt->w + sh->w_off + r * tt->w_rs;
    for (uint32_t i = 0; i < sh->n; i++) {
      __m512i wv[MAXB];
UNROLL4
      for (uint32_t b = 0; b < nb; b++)
        wv[b] = _mm512_loadu_si512 (w + b * tt->w_bs + i * L);
UNROLL4
      for (uint32_t p = 0; p < np; p++) {
        const __m512i va = _mm512_set1_epi32 ((int) a[p][i]);
UNROLL4
        for (uint32_t b = 0; b < nb; b++)
          s[p][b] = _mm512_add_epi32 (s[p][b],
              _mm512_popcnt_epi32 (_mm512_xor_si512 (va, wv[b])));
      }
    }
  }
  const __m512i vv = _mm512_set1_epi32 (sh->valid);
  const __m512 zero = _mm512_setzero_ps ();
UNROLL4
  for (uint32_t b = 0; b < nb; b++) {
    const __mmask16 m = low_mask (n - b * L);
    const __m512 sc = _mm512_maskz_loadu_ps (m, out->scale + b * L);
    const __m512 bi = _mm512_maskz_loadu_ps (m, out->bias + b * L);
UNROLL4
    for (uint32_t p = 0; p < np; p++) {
      const __m512 x = _mm512_cvtepi32_ps (_mm512_sub_epi32 (vv,
              _mm512_slli_epi32 (s[p][b], 1)));
      __m512 v = _mm512_add_ps (_mm512_mul_ps (sc, x), bi);
      if (out->relu)
        v = _mm512_max_ps (zero, v);
      if (tt->res) {
        v = _mm512_add_ps (_mm512_maskz_loadu_ps (m,
                tt->res + tp->o[p] + b * L), v);
        if (out->res_relu)
          v = _mm512_max_ps (zero, v);
      }
      _mm512_mask_storeu_ps (tt->out + tp->o[p] + b * L, m, v);
    }
  }
}

/* Every tile of the plan, nb blocks (a compile-time constant). */
INLINE void
bconv_tiles_nb (const BeenetBTiles *t, const uint32_t nb, uint32_t n,
    const BeenetOutput *out)
{
  for (uint32_t i = 0; i < t->n_tiles; i++) {
    const BeenetBTilePlan *tp = &t->tiles[i];
    switch (tp->np) {
      case 1: bconv_tile_nb (t, tp, 1, nb, n, out); break;
      case 2: bconv_tile_nb (t, tp, 2, nb, n, out); break;
      case 3: bconv_tile_nb (t, tp, 3, nb, n, out); break;
      default: bconv_tile_nb (t, tp, 4, nb, n, out); break;
    }
  }
}

TARGET static void
bconv_tiles_avx512 (const BeenetBTiles *t, uint32_t nb, uint32_t n,
    const BeenetOutput *out)
{
  switch (nb) {
    case 1: bconv_tiles_nb (t, 1, n, out); break;
    case 2: bconv_tiles_nb (t, 2, n, out); break;
    case 3: bconv_tiles_nb (t, 3, n, out); break;
    default: bconv_tiles_nb (t, 4, n, out); break;
  }
}

/* ---- float ------------------------------------------------------------- */

INLINE void
fgemv_nb (const BeenetFTaps *t, const float *ap, const uint32_t nb,
    float *acc)
{
  __m512 s[MAXB];
UNROLL4
  for (uint32_t b = 0; b < nb; b++)
    s[b] = _mm512_setzero_ps ();
  for (uint32_t r = 0; r < t->rows; r++)
    for (uint32_t k = 0; k < t->taps; k++) {
      const float *a = ap + r * t->a_rs + k * t->a_ts;
      const float *w = t->w + r * t->w_rs + k * t->w_ts;
      for (uint32_t i = 0; i < t->n; i++) {
        const __m512 va = _mm512_set1_ps (a[i]);
UNROLL4
        for (uint32_t b = 0; b < nb; b++)
          s[b] = _mm512_fmadd_ps (_mm512_loadu_ps (w + b * t->w_bs + i * L),
              va, s[b]);
      }
    }
UNROLL4
  for (uint32_t b = 0; b < nb; b++)
    _mm512_storeu_ps (acc + b * L, s[b]);
}

TARGET static void
fgemv_avx512 (const BeenetFTaps *t, uint32_t nb, float *acc)
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

/* Depthwise: channels i0 .. i0 + 16 * nv - 1 (the last vector masked to
 * `last` lanes) over every run. */
INLINE void
fdw_chunk (const BeenetFTaps *t, uint32_t i0, const uint32_t nv,
    __mmask16 last, float *acc)
{
  __m512 s[4];
UNROLL4
  for (uint32_t v = 0; v < nv; v++)
    s[v] = _mm512_setzero_ps ();
  for (uint32_t r = 0; r < t->rows; r++)
    for (uint32_t k = 0; k < t->taps; k++) {
      const float *a = t->a + r * t->a_rs + k * t->a_ts + i0;
      const float *w = t->w + r * t->w_rs + k * t->w_ts + i0;
UNROLL4
      for (uint32_t v = 0; v < nv; v++) {
        const __mmask16 m = v + 1 == nv ? last : 0xffff;
        s[v] = _mm512_fmadd_ps (_mm512_maskz_loadu_ps (m, w + 16 * v),
            _mm512_maskz_loadu_ps (m, a + 16 * v), s[v]);
      }
    }
UNROLL4
  for (uint32_t v = 0; v < nv; v++)
    _mm512_mask_storeu_ps (acc + i0 + 16 * v, v + 1 == nv ? last : 0xffff,
        s[v]);
}

/* Depthwise: channels i0 .. i0 + min(n, 8) - 1 over every run (the same
 * order as fdw_chunk); `full` (n >= 8) a compile-time constant at both
 * call sites, so the full vector's loop has no mask and no branch. */
INLINE void
fdw_chunk8 (const BeenetFTaps *t, uint32_t i0, const bool full, uint32_t n,
    float *acc)
{
  if (full)
    n = 8;
  __m256 s = _mm256_setzero_ps ();
  for (uint32_t r = 0; r < t->rows; r++)
    for (uint32_t k = 0; k < t->taps; k++) {
      const float *a = t->a + r * t->a_rs + k * t->a_ts + i0;
      const float *w = t->w + r * t->w_rs + k * t->w_ts + i0;
      s = _mm256_fmadd_ps (load8 (w, n), load8 (a, n), s);
    }
  store8 (acc + i0, n, s);
}

TARGET static void
fdw_pixel (const BeenetFTaps *t, float *acc)
{
  uint32_t i = 0;
  for (; i + 64 <= t->n; i += 64)
    fdw_chunk (t, i, 4, 0xffff, acc);
  for (; i + 16 <= t->n; i += 16)
    fdw_chunk (t, i, 1, 0xffff, acc);
  for (; i + 8 <= t->n; i += 8)
    fdw_chunk8 (t, i, true, 8, acc);
  if (i < t->n)
    fdw_chunk8 (t, i, false, t->n - i, acc);
}

/* np pixels (see BeenetFTaps): pixel p's channels at acc + p * n. */
TARGET static void
fdw_avx512 (const BeenetFTaps *t, float *acc)
{
  for (uint32_t p = 0; p < t->np; p++) {
    BeenetFTaps tp = *t;
    tp.a += p * t->a_ps;
    fdw_pixel (&tp, acc + (size_t) p * t->n);
  }
}

/* ---- float conv with one input channel (fconv1) ---------------------- */

/* Inputs start .. start + 15 of a row of w (lanes outside the row are 0,
 * and their memory is not touched). */
INLINE __m512
row16 (const float *row, int64_t start, int64_t w)
{
  /* Lanes lo .. hi - 1 are in the row. */
  const int64_t lo = start < 0 ? -start : 0;
  const int64_t hi = w - start < 16 ? w - start : 16;
  if (lo >= hi)
    return _mm512_setzero_ps ();  /* (and no pointer past the row formed) */
  const __mmask16 m = (__mmask16) (low_mask ((uint32_t) hi)
      & ~low_mask ((uint32_t) lo));
  if (start >= 0)
    return _mm512_maskz_loadu_ps (m, row + start);
  /* Left of the row: the in-row lanes take row[0], row[1], ... in order. */
  return _mm512_maskz_expandloadu_ps (m, row);
}

/* The inputs start .. start + 31 of the input row under kernel row ky of
 * output row y, as two vectors; false for a padded row (it adds
 * nothing). */
INLINE bool
fconv1_row_pair (const BeenetConvGeom *g, const float *in, uint32_t y,
    uint32_t ky, int64_t start, __m512 *lo, __m512 *hi)
{
  const int64_t iy = (int64_t) y * g->sh - g->ph + ky;
  if (iy < 0 || iy >= g->h)
    return false;
  const float *row = in + iy * g->w;
  *lo = row16 (row, start, g->w);
  *hi = row16 (row, start + 16, g->w);
  return true;
}

/* Output pixels x0 .. x0 + 4 * P - 1 of row y (P = 16 / cout per vector):
 * 4 vectors of sums, lane l of vector j for pixel x0 + j * P + l / cout,
 * channel l % cout. */
INLINE void
fconv1_chunk (const BeenetConvGeom *g, const float *in, const __m512 *wv,
    const __m512i *idx, uint32_t y, uint32_t x0, __m512 *acc)
{
  for (int j = 0; j < 4; j++)
    acc[j] = _mm512_setzero_ps ();
  const int64_t start = (int64_t) x0 * g->sw - g->pw;
  for (uint32_t ky = 0; ky < g->kh; ky++) {
    __m512 lo, hi;
    if (!fconv1_row_pair (g, in, y, ky, start, &lo, &hi))
      continue;
    for (uint32_t kx = 0; kx < g->kw; kx++) {
      const __m512 w = wv[ky * g->kw + kx];
UNROLL4
      for (int j = 0; j < 4; j++)
        acc[j] = _mm512_fmadd_ps (_mm512_permutex2var_ps (lo,
                idx[kx * 4 + j], hi), w, acc[j]);
    }
  }
}

/* fconv1 with cout = nb * 16 (a stem wider than a vector), every output
 * row: 4 pixels x0 .. x0 + 3 at a time, acc[b][j] lane l = channel
 * 16 b + l of pixel x0 + j.  A pixel's tap is broadcast to the lanes once
 * and serves every block; the weights are read from the prepared layout
 * as they are (block b, tap t: 16 lanes at prep + 16 (b * taps + t)).
 * Called with nb a constant: the loops run to the fixed bound 4 and skip
 * b >= nb, so they unroll and the accumulators stay in registers. */
INLINE void
fconv1_rows_wide (const BeenetConvGeom *g, const float *in, const float *prep,
    const float *scale, const float *bias, const __m512i *idx,
    const uint32_t nb, float *out)
{
  const size_t taps = (size_t) g->kh * g->kw;
  for (uint32_t y = 0; y < g->ho; y++)
    for (uint32_t x0 = 0; x0 < g->wo; x0 += 4) {
      __m512 acc[BEENET_FCONV1_MAX_BLOCKS][4];
UNROLL4
      for (uint32_t b = 0; b < BEENET_FCONV1_MAX_BLOCKS; b++)
UNROLL4
        for (int j = 0; j < 4; j++)
          acc[b][j] = _mm512_setzero_ps ();
      const int64_t start = (int64_t) x0 * g->sw - g->pw;
      for (uint32_t ky = 0; ky < g->kh; ky++) {
        __m512 lo, hi;
        if (!fconv1_row_pair (g, in, y, ky, start, &lo, &hi))
          continue;
        for (uint32_t kx = 0; kx < g->kw; kx++) {
          const float *w = prep + 16 * (ky * g->kw + kx);
UNROLL4
          for (int j = 0; j < 4; j++) {
            const __m512 a = _mm512_permutex2var_ps (lo, idx[kx * 4 + j], hi);
UNROLL4
            for (uint32_t b = 0; b < BEENET_FCONV1_MAX_BLOCKS; b++)
              if (b < nb)
                acc[b][j] = _mm512_fmadd_ps (a,
                    _mm512_loadu_ps (w + 16 * b * taps), acc[b][j]);
          }
        }
      }
      float *o = out + ((size_t) y * g->wo + x0) * g->cout;
UNROLL4
      for (uint32_t b = 0; b < BEENET_FCONV1_MAX_BLOCKS; b++) {
        if (b >= nb)
          continue;
        const __m512 sc = _mm512_loadu_ps (scale + 16 * b);
        const __m512 bi = _mm512_loadu_ps (bias + 16 * b);
UNROLL4
        for (uint32_t j = 0; j < 4; j++) {
          if (x0 + j >= g->wo)
            continue;
          __m512 v = _mm512_add_ps (_mm512_mul_ps (sc, acc[b][j]), bi);
          if (g->relu)
            v = _mm512_max_ps (_mm512_setzero_ps (), v);
          _mm512_storeu_ps (o + j * g->cout + 16 * b, v);
        }
      }
    }
}

TARGET static void
fconv1_wide (const BeenetConvGeom *g, const float *in, const float *prep,
    const float *scale, const float *bias, float *out)
{
  /* Every lane of vector j, tap column kx: input j * sw + kx of the
   * chunk's 32 (< 32 by beenet_fconv1_fits). */
  __m512i idx[BEENET_FCONV1_MAX_KW * 4];
  for (uint32_t kx = 0; kx < g->kw; kx++)
    for (uint32_t j = 0; j < 4; j++)
      idx[kx * 4 + j] = _mm512_set1_epi32 ((int32_t) (j * g->sw + kx));
  _Static_assert (BEENET_FCONV1_MAX_BLOCKS == 4, "one case per block count");
  switch (g->cout / L) {         /* 2 .. BEENET_FCONV1_MAX_BLOCKS */
    case 2:
      fconv1_rows_wide (g, in, prep, scale, bias, idx, 2, out);
      break;
    case 3:
      fconv1_rows_wide (g, in, prep, scale, bias, idx, 3, out);
      break;
    default:
      fconv1_rows_wide (g, in, prep, scale, bias, idx, 4, out);
      break;
  }
}

TARGET static void
fconv1_avx512 (const BeenetConvGeom *g, const float *in, const float *prep,
    const float *scale, const float *bias, float *out)
{
  if (g->cout > L) {
    fconv1_wide (g, in, prep, scale, bias, out);
    return;
  }
  const uint32_t cout = g->cout, P = L / cout;
  int32_t ch[16], px[16];
  for (uint32_t l = 0; l < 16; l++) {
    ch[l] = (int32_t) (l % cout);
    px[l] = (int32_t) (l / cout);
  }
  const __m512i chv = _mm512_loadu_si512 (ch);
  /* Lane l of vector j, tap column kx: input (j * P + l / cout) * sw + kx
   * of the chunk's 32 (both < 32 by beenet_fconv1_fits). */
  __m512i idx[BEENET_FCONV1_MAX_KW * 4];
  for (uint32_t kx = 0; kx < g->kw; kx++)
    for (uint32_t j = 0; j < 4; j++) {
      int32_t v[16];
      for (uint32_t l = 0; l < 16; l++)
        v[l] = (int32_t) ((j * P + (uint32_t) px[l]) * g->sw + kx);
      idx[kx * 4 + j] = _mm512_loadu_si512 (v);
    }
  /* Weights and the transform spread to the lanes' channels (prepared
   * layout, one block: tap t's 16 lanes at prep + 16 t). */
  __m512 wv[BEENET_FCONV1_MAX_KW * BEENET_FCONV1_MAX_KW];
  for (uint32_t t = 0; t < g->kh * g->kw; t++)
    wv[t] = _mm512_permutexvar_ps (chv, _mm512_loadu_ps (prep + 16 * t));
  const __mmask16 cm = low_mask (cout);
  const __m512 sc = _mm512_permutexvar_ps (chv, _mm512_maskz_loadu_ps (cm,
          scale));
  const __m512 bi = _mm512_permutexvar_ps (chv, _mm512_maskz_loadu_ps (cm,
          bias));
  for (uint32_t y = 0; y < g->ho; y++)
    for (uint32_t x0 = 0; x0 < g->wo; x0 += 4 * P) {
      __m512 acc[4];
      fconv1_chunk (g, in, wv, idx, y, x0, acc);
      for (uint32_t j = 0; j < 4 && x0 + j * P < g->wo; j++) {
        const uint32_t p0 = x0 + j * P, np = g->wo - p0 < P ? g->wo - p0 : P;
        __m512 v = _mm512_add_ps (_mm512_mul_ps (sc, acc[j]), bi);
        if (g->relu)
          v = _mm512_max_ps (_mm512_setzero_ps (), v);
        _mm512_mask_storeu_ps (out + ((size_t) y * g->wo + p0) * cout,
            low_mask (np * cout), v);
      }
    }
}

/* ---- output transforms ------------------------------------------------- */

/* scale * x + bias as a multiply and an add (not fused: bit-identical to
 * the portable transform); relu as max(0, v), which keeps -0.0 and NaN
 * like `v < 0 ? 0 : v` (VMAXPS returns its second operand then).  Lanes
 * outside m are neither loaded nor stored. */
INLINE void
finish16 (__m512 x, __mmask16 m, const float *scale, const float *bias,
    bool relu, float *o)
{
  __m512 v = _mm512_add_ps (_mm512_mul_ps (_mm512_maskz_loadu_ps (m, scale),
          x), _mm512_maskz_loadu_ps (m, bias));
  if (relu)
    v = _mm512_max_ps (_mm512_setzero_ps (), v);
  _mm512_mask_storeu_ps (o, m, v);
}

/* finish16 with the residual step of BeenetOutput: res + v, relu as
 * max(0, s) (the operations of add_avx512). */
INLINE void
finish16_res (__m512 x, __mmask16 m, const BeenetOutput *t, uint32_t i,
    float *o)
{
  __m512 v = _mm512_add_ps (_mm512_mul_ps (_mm512_maskz_loadu_ps (m,
              t->scale + i), x), _mm512_maskz_loadu_ps (m, t->bias + i));
  if (t->relu)
    v = _mm512_max_ps (_mm512_setzero_ps (), v);
  v = _mm512_add_ps (_mm512_maskz_loadu_ps (m, t->res + i), v);
  if (t->res_relu)
    v = _mm512_max_ps (_mm512_setzero_ps (), v);
  _mm512_mask_storeu_ps (o + i, m, v);
}

TARGET static void
bfinish_avx512 (const int32_t *acc, int32_t valid, uint32_t n,
    const BeenetOutput *t, float *o)
{
  const __m512i vv = _mm512_set1_epi32 (valid);
  for (uint32_t i = 0; i < n; i += 16) {
    const __mmask16 m = low_mask (n - i);
    const __m512i a = _mm512_maskz_loadu_epi32 (m, acc + i);
    const __m512 x = _mm512_cvtepi32_ps (_mm512_sub_epi32 (vv,
            _mm512_slli_epi32 (a, 1)));
    if (t->res)
      finish16_res (x, m, t, i, o);
    else
      finish16 (x, m, t->scale + i, t->bias + i, t->relu, o + i);
  }
}

/* finish16 for min(n, 8) lanes (see load8); `full` (n >= 8) a
 * compile-time constant at both call sites. */
INLINE void
finish8 (const float *acc, const bool full, uint32_t n, const float *scale,
    const float *bias, bool relu, float *o)
{
  if (full)
    n = 8;
  __m256 v = _mm256_add_ps (_mm256_mul_ps (load8 (scale, n), load8 (acc, n)),
      load8 (bias, n));
  if (relu)
    v = _mm256_max_ps (_mm256_setzero_ps (), v);
  store8 (o, n, v);
}

TARGET static void
ffinish_avx512 (const float *acc, uint32_t n, const float *scale,
    const float *bias, bool relu, float *o)
{
  uint32_t i = 0;
  for (; i + 16 <= n; i += 16)
    finish16 (_mm512_loadu_ps (acc + i), 0xffff, scale + i, bias + i, relu,
        o + i);
  for (; i + 8 <= n; i += 8)
    finish8 (acc + i, true, 8, scale + i, bias + i, relu, o + i);
  if (i < n)
    finish8 (acc + i, false, n - i, scale + i, bias + i, relu, o + i);
}

/* ---- elementwise add, global average pool ----------------------------- */

/* relu as max(0, v) (see finish16).  Tails masked. */
TARGET static void
add_avx512 (const float *a, const float *b, size_t n, bool relu, float *o)
{
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 m = low_mask ((uint32_t) (n - i < 16 ? n - i : 16));
    __m512 v = _mm512_add_ps (_mm512_maskz_loadu_ps (m, a + i),
        _mm512_maskz_loadu_ps (m, b + i));
    if (relu)
      v = _mm512_max_ps (_mm512_setzero_ps (), v);
    _mm512_mask_storeu_ps (o + i, m, v);
  }
}

/* Channels in the lanes, 16 at a time (tail masked), pixels summed in
 * order from +0.0 (as the portable loop), then one multiply. */
TARGET static void
gap_avx512 (const float *in, size_t hw, uint32_t c, float scale, float *out)
{
  const __m512 s = _mm512_set1_ps (scale);
  for (uint32_t ch = 0; ch < c; ch += 16) {
    const __mmask16 m = low_mask (c - ch);
    __m512 acc = _mm512_setzero_ps ();
    const float *p = in + ch;
    for (size_t q = 0; q < hw; q++, p += c)
      acc = _mm512_add_ps (acc, _mm512_maskz_loadu_ps (m, p));
    _mm512_mask_storeu_ps (out + ch, m, _mm512_mul_ps (acc, s));
  }
}

extern const BeenetKernels KERNELS;
const BeenetKernels KERNELS = {
  .name = KERNELS_NAME,
  .pack_signs = pack_signs_avx512,
  .bdot = bdot_avx512,
  .bdot_px = bdot_px_avx512,
  .bconv_tiles = bconv_tiles_avx512,
  .fconv1 = fconv1_avx512,
  .fgemv = fgemv_avx512,
  .fdw = fdw_avx512,
  .bfinish = bfinish_avx512,
  .ffinish = ffinish_avx512,
  .add = add_avx512,
  .gap = gap_avx512,
};

#endif
