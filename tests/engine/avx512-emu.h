/* Plain-C model of the few AVX-512 intrinsics engine/kernels-avx512.c
 * uses, lane by lane after the Intel intrinsics guide, so the avx512
 * micro-kernels' indexing, masking and tails can be tested on CPUs without
 * AVX-512 (test-kernels-avx512-emu).  Not a general emulator; it does not
 * check the real instructions' encoding or speed. */
#ifndef AVX512_EMU_H
#define AVX512_EMU_H

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct { float f[16]; } __m512;
typedef struct { int32_t i[16]; } __m512i;
typedef uint16_t __mmask16;

#define _CMP_LT_OQ 0x11

static inline __m512
_mm512_setzero_ps (void)
{
  __m512 r;
  memset (&r, 0, sizeof r);
  return r;
}

static inline __m512i
_mm512_setzero_si512 (void)
{
  __m512i r;
  memset (&r, 0, sizeof r);
  return r;
}

static inline __m512
_mm512_set1_ps (float x)
{
  __m512 r;
  for (int l = 0; l < 16; l++)
    r.f[l] = x;
  return r;
}

static inline __m512i
_mm512_set1_epi32 (int x)
{
  __m512i r;
  for (int l = 0; l < 16; l++)
    r.i[l] = x;
  return r;
}

static inline __m512
_mm512_loadu_ps (const void *p)
{
  __m512 r;
  memcpy (&r, p, sizeof r);
  return r;
}

static inline __m512i
_mm512_loadu_si512 (const void *p)
{
  __m512i r;
  memcpy (&r, p, sizeof r);
  return r;
}

/* Masked-off lanes are zero and their memory is not touched. */
static inline __m512
_mm512_maskz_loadu_ps (__mmask16 m, const void *p)
{
  __m512 r = _mm512_setzero_ps ();
  for (int l = 0; l < 16; l++)
    if (m >> l & 1)
      memcpy (&r.f[l], (const float *) p + l, sizeof (float));
  return r;
}

static inline void
_mm512_storeu_ps (void *p, __m512 v)
{
  memcpy (p, &v, sizeof v);
}

static inline void
_mm512_storeu_si512 (void *p, __m512i v)
{
  memcpy (p, &v, sizeof v);
}

static inline void
_mm512_mask_storeu_ps (void *p, __mmask16 m, __m512 v)
{
  for (int l = 0; l < 16; l++)
    if (m >> l & 1)
      memcpy ((float *) p + l, &v.f[l], sizeof (float));
}

static inline __mmask16
_mm512_mask_cmp_ps_mask (__mmask16 m, __m512 a, __m512 b, int pred)
{
  __mmask16 r = 0;
  (void) pred;     /* only _CMP_LT_OQ is used: ordered, quiet a < b */
  for (int l = 0; l < 16; l++)
    if ((m >> l & 1) && a.f[l] < b.f[l])
      r |= (__mmask16) (1u << l);
  return r;
}

static inline __m512i
_mm512_xor_si512 (__m512i a, __m512i b)
{
  for (int l = 0; l < 16; l++)
    a.i[l] = (int32_t) ((uint32_t) a.i[l] ^ (uint32_t) b.i[l]);
  return a;
}

static inline __m512i
_mm512_add_epi32 (__m512i a, __m512i b)
{
  for (int l = 0; l < 16; l++)
    a.i[l] = (int32_t) ((uint32_t) a.i[l] + (uint32_t) b.i[l]);
  return a;
}

static inline __m512i
_mm512_popcnt_epi32 (__m512i a)
{
  for (int l = 0; l < 16; l++)
    a.i[l] = __builtin_popcount ((uint32_t) a.i[l]);
  return a;
}

static inline __m512i
_mm512_maskz_loadu_epi32 (__mmask16 m, const void *p)
{
  __m512i r = _mm512_setzero_si512 ();
  for (int l = 0; l < 16; l++)
    if (m >> l & 1)
      memcpy (&r.i[l], (const int32_t *) p + l, sizeof (int32_t));
  return r;
}

static inline __m512i
_mm512_sub_epi32 (__m512i a, __m512i b)
{
  for (int l = 0; l < 16; l++)
    a.i[l] = (int32_t) ((uint32_t) a.i[l] - (uint32_t) b.i[l]);
  return a;
}

static inline __m512i
_mm512_slli_epi32 (__m512i a, unsigned n)
{
  for (int l = 0; l < 16; l++)
    a.i[l] = (int32_t) ((uint32_t) a.i[l] << n);
  return a;
}

static inline __m512
_mm512_cvtepi32_ps (__m512i a)
{
  __m512 r;
  for (int l = 0; l < 16; l++)
    r.f[l] = (float) a.i[l];
  return r;
}

static inline __m512
_mm512_mul_ps (__m512 a, __m512 b)
{
  for (int l = 0; l < 16; l++)
    a.f[l] = a.f[l] * b.f[l];
  return a;
}

static inline __m512
_mm512_add_ps (__m512 a, __m512 b)
{
  for (int l = 0; l < 16; l++)
    a.f[l] = a.f[l] + b.f[l];
  return a;
}

/* VMAXPS: the second operand when equal (+-0) or either is NaN. */
static inline __m512
_mm512_max_ps (__m512 a, __m512 b)
{
  for (int l = 0; l < 16; l++)
    a.f[l] = a.f[l] > b.f[l] ? a.f[l] : b.f[l];
  return a;
}

/* a * b + c with one rounding, as VFMADD. */
static inline __m512
_mm512_fmadd_ps (__m512 a, __m512 b, __m512 c)
{
  for (int l = 0; l < 16; l++)
    c.f[l] = fmaf (a.f[l], b.f[l], c.f[l]);
  return c;
}

/* VPERMPS: lane l = a[idx[l] mod 16]. */
static inline __m512
_mm512_permutexvar_ps (__m512i idx, __m512 a)
{
  __m512 r;
  for (int l = 0; l < 16; l++)
    r.f[l] = a.f[idx.i[l] & 15];
  return r;
}

/* VPERMT2PS: lane l = (a, b)[idx[l] mod 32], a the low 16. */
static inline __m512
_mm512_permutex2var_ps (__m512 a, __m512i idx, __m512 b)
{
  __m512 r;
  for (int l = 0; l < 16; l++) {
    const int k = idx.i[l] & 31;
    r.f[l] = k < 16 ? a.f[k] : b.f[k - 16];
  }
  return r;
}

/* VEXPANDPS: the lanes set in m take p[0], p[1], ... in order, the others
 * are zero; only as many floats as lanes set are read. */
static inline __m512
_mm512_maskz_expandloadu_ps (__mmask16 m, const void *p)
{
  __m512 r = _mm512_setzero_ps ();
  int k = 0;
  for (int l = 0; l < 16; l++)
    if (m >> l & 1)
      memcpy (&r.f[l], (const float *) p + k++, sizeof (float));
  return r;
}

/* ---- 256-bit (AVX + AVX-512VL masks): the kernels' 8-channel tails ---- */

typedef struct { float f[8]; } __m256;
typedef uint8_t __mmask8;

static inline __m256
_mm256_setzero_ps (void)
{
  __m256 r;
  memset (&r, 0, sizeof r);
  return r;
}

static inline __m256
_mm256_loadu_ps (const float *p)
{
  __m256 r;
  memcpy (&r, p, sizeof r);
  return r;
}

/* Masked-off lanes are zero and their memory is not touched. */
static inline __m256
_mm256_maskz_loadu_ps (__mmask8 m, const void *p)
{
  __m256 r = _mm256_setzero_ps ();
  for (int l = 0; l < 8; l++)
    if (m >> l & 1)
      memcpy (&r.f[l], (const float *) p + l, sizeof (float));
  return r;
}

static inline void
_mm256_storeu_ps (float *p, __m256 v)
{
  memcpy (p, &v, sizeof v);
}

static inline void
_mm256_mask_storeu_ps (void *p, __mmask8 m, __m256 v)
{
  for (int l = 0; l < 8; l++)
    if (m >> l & 1)
      memcpy ((float *) p + l, &v.f[l], sizeof (float));
}

static inline __m256
_mm256_add_ps (__m256 a, __m256 b)
{
  for (int l = 0; l < 8; l++)
    a.f[l] += b.f[l];
  return a;
}

static inline __m256
_mm256_mul_ps (__m256 a, __m256 b)
{
  for (int l = 0; l < 8; l++)
    a.f[l] *= b.f[l];
  return a;
}

/* VMAXPS: the second operand when equal (+-0) or either is NaN. */
static inline __m256
_mm256_max_ps (__m256 a, __m256 b)
{
  for (int l = 0; l < 8; l++)
    a.f[l] = a.f[l] > b.f[l] ? a.f[l] : b.f[l];
  return a;
}

static inline __m256
_mm256_fmadd_ps (__m256 a, __m256 b, __m256 c)
{
  for (int l = 0; l < 8; l++)
    c.f[l] = fmaf (a.f[l], b.f[l], c.f[l]);
  return c;
}

#endif
