/* Kernel sets against the portable reference, needing only the kernel
 * sources (engine/kernels*.c): no GStreamer, GLib, ORC or libcheck, so it
 * also cross-compiles for other architectures and runs under an emulator
 * (tools/test-aarch64.sh builds it statically for aarch64 and runs it
 * under qemu-aarch64).
 *
 * For every kernel set compiled in and supported by this CPU, on many
 * random shapes (channels not multiples of 32 or 16, cout not a multiple
 * of 16, strides, padding up to and beyond the kernel size so that some
 * windows have no in-bounds tap):
 *   - the op drivers of kernels-driver.c on prepared weights (the entry
 *     points the engine uses): beenet_bconv2d and beenet_bdense must give
 *     the same bits as with the portable set; beenet_conv2d (dense,
 *     depthwise, grouped) and beenet_dense within float rounding;
 *   - each micro-kernel directly (pack_signs, bdot, fgemv, fdw, bfinish,
 *     ffinish, add, gap) with odd strides, row counts (0 included), run
 *     lengths across the 31-word byte-counter limit, vector tails, and
 *     transform / add / pool inputs with -0.0, infinities and NaN (add and
 *     gap must give the same bits as the portable set).
 * The portable set is itself checked against a naive sign-product
 * reference for the binary ops.
 *
 * A set that is not compiled in or not supported prints "SKIPPED: ...".
 * Usage: test-kernels-standalone [--set NAME]... [--iters N] [--seed S]
 *   --set NAME  test only these sets; exit 77 (meson's SKIP) if any of them
 *               is skipped.
 * Exit status: 0 all tested sets passed, 1 a mismatch, 77 see --set. */
#include "kernels.h"
#include "kernel-shapes.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define L BEENET_LANES

static const char *const all_sets[] = { "portable", "avx2", "avx512", "neon" };
#define N_ALL (sizeof all_sets / sizeof all_sets[0])

/* ---- helpers ----------------------------------------------------------- */

static uint32_t rng_state;

static uint32_t
rnd32 (void)
{
  /* xorshift32 (state never 0). */
  uint32_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return rng_state = x;
}

static unsigned
rnd (unsigned n)
{
  return rnd32 () % n;
}

/* Uniform in [-1, 1). */
static float
rndf (void)
{
  return (float) ((double) (rnd32 () >> 8) / 8388608.0 - 1.0);
}

static void *
xmalloc (size_t n)
{
  void *p = malloc (n ? n : 1);
  if (!p) {
    fprintf (stderr, "out of memory\n");
    exit (2);
  }
  return p;
}

/* Prepared weights: 64-byte aligned, as the engine allocates them. */
static void *
xaligned (size_t bytes)
{
  void *p = aligned_alloc (64, (bytes + 63) / 64 * 64 + 64);
  if (!p) {
    fprintf (stderr, "out of memory\n");
    exit (2);
  }
  return p;
}

static uint32_t
bits_of (float f)
{
  uint32_t u;
  memcpy (&u, &f, sizeof u);
  return u;
}

/* Per-set results. */
typedef struct {
  unsigned long cases, values, failures;
} Tally;

static Tally tally;
static const char *cur_set;

#define MAX_REPORTS 20
static unsigned reports;

static void
fail (const char *what, size_t i, double got, double want)
{
  tally.failures++;
  if (reports++ < MAX_REPORTS)
    printf ("FAIL %s: %s: element %zu: got %.9g want %.9g\n", cur_set, what,
        i, got, want);
}

/* Same bits (both NaN counts as equal: NaN payloads are not part of the
 * contract). */
static void
check_exact_f (const char *what, const float *got, const float *want,
    size_t n)
{
  tally.cases++;
  for (size_t i = 0; i < n; i++) {
    tally.values++;
    if (isnan (got[i]) && isnan (want[i]))
      continue;
    if (bits_of (got[i]) != bits_of (want[i]))
      fail (what, i, got[i], want[i]);
  }
}

static void
check_exact_u (const char *what, const uint32_t *got, const uint32_t *want,
    size_t n)
{
  tally.cases++;
  for (size_t i = 0; i < n; i++) {
    tally.values++;
    if (got[i] != want[i])
      fail (what, i, got[i], want[i]);
  }
}

/* |got - want| <= 1e-5 * mag[i] + 1e-6 * (|want| + 1), mag being the sum
 * of |terms| (after |scale|) of that output: float rounding of any
 * summation order, fused or not, stays far below that. */
static void
check_close_f (const char *what, const float *got, const float *want,
    const float *mag, size_t n)
{
  tally.cases++;
  for (size_t i = 0; i < n; i++) {
    tally.values++;
    const double d = fabs ((double) got[i] - want[i]);
    const double tol = 1e-5 * (mag ? mag[i] : 0.0) + 1e-6 * (fabs (want[i]) + 1.0);
    if (!(d <= tol))
      fail (what, i, got[i], want[i]);
  }
}

static unsigned
out_dim (unsigned n, unsigned k, unsigned s, unsigned p)
{
  return (n + 2 * p - k) / s + 1;
}

static void
random_affine (unsigned n, float *scale, float *bias, int unit)
{
  for (unsigned i = 0; i < n; i++) {
    scale[i] = unit ? 1.0f : 0.05f + 0.1f * (float) rnd (100) / 100.0f;
    bias[i] = unit ? 0.0f : (float) ((int) rnd (200) - 100) / 100.0f;
  }
}

static uint32_t *
random_bits (unsigned c, size_t rows)
{
  const unsigned words = (c + 31) / 32;
  uint32_t *wb = xmalloc (sizeof (uint32_t) * words * rows);
  for (size_t r = 0; r < rows; r++)
    for (unsigned j = 0; j < words; j++) {
      uint32_t v = rnd32 ();
      if (c - 32 * j < 32)
        v &= (1u << (c - 32 * j)) - 1u;
      wb[r * words + j] = v;
    }
  return wb;
}

/* ---- coverage of the random shapes ------------------------------------- */

typedef struct {
  unsigned long shapes, c_odd32, c_odd16, cout_odd16, strided, padded,
      empty_window, multi_block;
} Coverage;

static Coverage cov_bin, cov_float;

static int
has_empty_window (const BeenetConvGeom *g)
{
  for (unsigned o = 0; o < g->ho; o++) {
    const long s = (long) o * g->sh - (long) g->ph;
    if (s + (long) g->kh <= 0 || s >= (long) g->h)
      return 1;
  }
  for (unsigned o = 0; o < g->wo; o++) {
    const long s = (long) o * g->sw - (long) g->pw;
    if (s + (long) g->kw <= 0 || s >= (long) g->w)
      return 1;
  }
  return 0;
}

static void
count_shape (Coverage *c, const BeenetConvGeom *g)
{
  c->shapes++;
  c->c_odd32 += g->c % 32 != 0;
  c->c_odd16 += g->c % 16 != 0;
  c->cout_odd16 += g->cout % 16 != 0;
  c->strided += g->sh > 1 || g->sw > 1;
  c->padded += g->ph > 0 || g->pw > 0;
  c->empty_window += has_empty_window (g);
  c->multi_block += g->cout > L * BEENET_UK_MAX_BLOCKS;
}

/* Random geometry (kernel-shapes.h): channel counts around multiples of
 * 32 / 16, strides, padding up to 3 (>= kernel size for small kernels:
 * empty windows). */
static BeenetConvGeom
random_geom (int binary, size_t max_work)
{
  static const unsigned cins[] = { 1, 3, 7, 15, 16, 17, 31, 32, 33, 48, 63,
    64, 65, 96, 100, 128, 130, 160, 256, 257, 513 };
  return kernel_test_random_geom (rnd, cins, sizeof cins / sizeof cins[0],
      9, binary, max_work);
}

/* ---- binary ops through the drivers ------------------------------------ */

static float
sgn (float x)
{
  return x < 0.0f ? -1.0f : 1.0f;
}

/* Naive reference (sign products over in-bounds taps), exact for the
 * integer accumulators used here. */
static void
naive_bconv2d (const BeenetConvGeom *g, const float *in, const uint32_t *wb,
    const float *scale, const float *bias, float *out)
{
  for (unsigned ho = 0; ho < g->ho; ho++)
    for (unsigned wo = 0; wo < g->wo; wo++)
      for (unsigned co = 0; co < g->cout; co++) {
        int acc = 0;
        for (unsigned ky = 0; ky < g->kh; ky++)
          for (unsigned kx = 0; kx < g->kw; kx++) {
            const long y = (long) (ho * g->sh + ky) - (long) g->ph;
            const long x = (long) (wo * g->sw + kx) - (long) g->pw;
            if (y < 0 || x < 0 || y >= (long) g->h || x >= (long) g->w)
              continue;
            const uint32_t *row = wb + (((size_t) co * g->kh + ky) * g->kw + kx)
                * g->words;
            const float *px = in + ((size_t) y * g->w + x) * g->c;
            for (unsigned ci = 0; ci < g->c; ci++) {
              const int ws = (row[ci / 32] >> (ci % 32)) & 1u ? -1 : 1;
              acc += (int) sgn (px[ci]) * ws;
            }
          }
        const float v = scale[co] * (float) acc + bias[co];
        out[((size_t) ho * g->wo + wo) * g->cout + co] =
            g->relu && v < 0.0f ? 0.0f : v;
      }
}

static void
describe (char *buf, size_t n, const char *op, const BeenetConvGeom *g)
{
  snprintf (buf, n, "%s in %ux%ux%u g%u k%ux%u s%ux%u p%ux%u cout %u relu %d",
      op, g->h, g->w, g->c, g->groups, g->kh, g->kw, g->sh, g->sw, g->ph,
      g->pw, g->cout, (int) g->relu);
}

/* The add node's `a + b` then `v < 0 ? 0 : v`, as the fused residual of
 * BeenetOutput must compute it. */
static float
strict_residual (float res, float v, bool relu)
{
  const float s = res + v;
  return relu && s < 0.0f ? 0.0f : s;
}

static void
test_bconv2d (const BeenetKernels *k, const BeenetKernels *ref,
    const BeenetConvGeom *g)
{
  const size_t npx = (size_t) g->h * g->w;
  float *in = xmalloc (sizeof (float) * npx * g->c);
  for (size_t i = 0; i < npx * g->c; i++)
    in[i] = (float) ((int) rnd (5) - 2);     /* exact zeros: sign(0) = +1 */
  uint32_t *bits = xmalloc (sizeof (uint32_t) * npx * g->words);
  uint32_t *bits_ref = xmalloc (sizeof (uint32_t) * npx * g->words);
  k->pack_signs (in, npx, g->c, bits);
  ref->pack_signs (in, npx, g->c, bits_ref);
  char what[200];
  describe (what, sizeof what, "pack_signs", g);
  check_exact_u (what, bits, bits_ref, npx * g->words);

  uint32_t *wb = random_bits (g->c, (size_t) g->kh * g->kw * g->cout);
  uint32_t *prep = xaligned (sizeof (uint32_t) * beenet_bconv2d_prepared_size (g));
  beenet_bconv2d_prepare (g, wb, prep);
  float *scale = xmalloc (sizeof (float) * g->cout);
  float *bias = xmalloc (sizeof (float) * g->cout);
  random_affine (g->cout, scale, bias, rnd (2));
  const size_t n = (size_t) g->ho * g->wo * g->cout;
  float *got = xmalloc (sizeof (float) * n), *want = xmalloc (sizeof (float) * n);
  /* Every other case with a fused residual add (+ relu half the time). */
  float *rv = xmalloc (sizeof (float) * n);
  for (size_t i = 0; i < n; i++)
    rv[i] = rndf () * 9.0f;
  const BeenetResidual r = { rv, rnd (2) };
  const BeenetResidual *res = rnd (2) ? &r : NULL;
  beenet_bconv2d (k, g, bits_ref, prep, scale, bias, res, got);
  if (k == ref) {
    naive_bconv2d (g, in, wb, scale, bias, want);
    for (size_t i = 0; res && i < n; i++)
      want[i] = strict_residual (rv[i], want[i], r.relu);
    describe (what, sizeof what, res ? "bconv2d+add (vs naive)"
        : "bconv2d (vs naive)", g);
  } else {
    beenet_bconv2d (ref, g, bits_ref, prep, scale, bias, res, want);
    describe (what, sizeof what, res ? "bconv2d+add" : "bconv2d", g);
  }
  check_exact_f (what, got, want, n);
  free (in); free (bits); free (bits_ref); free (wb); free (prep);
  free (scale); free (bias); free (got); free (want); free (rv);
}

static void
test_bdense (const BeenetKernels *k, const BeenetKernels *ref, unsigned cin,
    unsigned cout)
{
  const unsigned words = (cin + 31) / 32;
  float *in = xmalloc (sizeof (float) * cin);
  for (unsigned i = 0; i < cin; i++)
    in[i] = (float) ((int) rnd (5) - 2);
  uint32_t *fb = xmalloc (sizeof (uint32_t) * words);
  ref->pack_signs (in, 1, cin, fb);
  uint32_t *wb = random_bits (cin, cout);
  uint32_t *prep = xaligned (sizeof (uint32_t) * beenet_bdense_prepared_size (cin, cout));
  beenet_bdense_prepare (cin, cout, wb, prep);
  float *scale = xmalloc (sizeof (float) * cout), *bias = xmalloc (sizeof (float) * cout);
  random_affine (cout, scale, bias, rnd (2));
  const bool relu = rnd (2);
  float *got = xmalloc (sizeof (float) * cout), *want = xmalloc (sizeof (float) * cout);
  beenet_bdense (k, cin, cout, fb, prep, scale, bias, relu, got);
  char what[80];
  if (k == ref) {
    /* bdense is bconv2d of a 1x1 input with cin channels. */
    BeenetConvGeom g = { 1, 1, cin, 1, 1, cout, 1, 1, 1, 1, 0, 0, 1, words, relu };
    naive_bconv2d (&g, in, wb, scale, bias, want);
    snprintf (what, sizeof what, "bdense %u -> %u (vs naive)", cin, cout);
  } else {
    beenet_bdense (ref, cin, cout, fb, prep, scale, bias, relu, want);
    snprintf (what, sizeof what, "bdense %u -> %u", cin, cout);
  }
  check_exact_f (what, got, want, cout);
  free (in); free (fb); free (wb); free (prep); free (scale); free (bias);
  free (got); free (want);
}

/* ---- float ops through the drivers ------------------------------------- */

static void
test_conv2d (const BeenetKernels *k, const BeenetKernels *ref,
    BeenetConvGeom *g, unsigned mode)
{
  kernel_test_conv_mode (rnd, g, mode);
  count_shape (&cov_float, g);
  const unsigned cig = g->c / g->groups;
  const size_t nin = (size_t) g->h * g->w * g->c;
  const size_t nw = (size_t) g->cout * g->kh * g->kw * cig;
  const size_t n = (size_t) g->ho * g->wo * g->cout;
  float *in = xmalloc (sizeof (float) * nin), *wt = xmalloc (sizeof (float) * nw);
  float *in_abs = xmalloc (sizeof (float) * nin), *wt_abs = xmalloc (sizeof (float) * nw);
  for (size_t i = 0; i < nin; i++)
    in_abs[i] = fabsf (in[i] = rndf ());
  for (size_t i = 0; i < nw; i++)
    wt_abs[i] = fabsf (wt[i] = rndf ());
  const size_t psize = beenet_conv2d_prepared_size (g);
  float *prep = xaligned (sizeof (float) * psize);
  float *prep_abs = xaligned (sizeof (float) * psize);
  beenet_conv2d_prepare (g, wt, prep);
  beenet_conv2d_prepare (g, wt_abs, prep_abs);
  float *scale = xmalloc (sizeof (float) * g->cout), *bias = xmalloc (sizeof (float) * g->cout);
  float *zero = xmalloc (sizeof (float) * g->cout);
  memset (zero, 0, sizeof (float) * g->cout);
  random_affine (g->cout, scale, bias, 0);
  float *got = xmalloc (sizeof (float) * n), *want = xmalloc (sizeof (float) * n);
  float *mag = xmalloc (sizeof (float) * n);
  beenet_conv2d (k, g, in, prep, scale, bias, got);
  beenet_conv2d (ref, g, in, prep, scale, bias, want);
  /* Sum of |scale * term| per output: the same op on absolute values
   * (scale > 0 here), no bias, no relu. */
  const bool relu = g->relu;
  g->relu = false;
  beenet_conv2d (ref, g, in_abs, prep_abs, scale, zero, mag);
  g->relu = relu;
  char what[200];
  describe (what, sizeof what, mode == 1 ? "conv2d depthwise" : "conv2d", g);
  check_close_f (what, got, want, mag, n);
  free (in); free (wt); free (in_abs); free (wt_abs); free (prep);
  free (prep_abs); free (scale); free (bias); free (zero); free (got);
  free (want); free (mag);
}

static void
test_dense (const BeenetKernels *k, const BeenetKernels *ref, unsigned cin,
    unsigned cout)
{
  float *in = xmalloc (sizeof (float) * cin), *in_abs = xmalloc (sizeof (float) * cin);
  float *wt = xmalloc (sizeof (float) * cin * cout);
  float *wt_abs = xmalloc (sizeof (float) * cin * cout);
  for (unsigned i = 0; i < cin; i++)
    in_abs[i] = fabsf (in[i] = rndf ());
  for (size_t i = 0; i < (size_t) cin * cout; i++)
    wt_abs[i] = fabsf (wt[i] = rndf ());
  const size_t psize = beenet_dense_prepared_size (cin, cout);
  float *prep = xaligned (sizeof (float) * psize);
  float *prep_abs = xaligned (sizeof (float) * psize);
  beenet_dense_prepare (cin, cout, wt, prep);
  beenet_dense_prepare (cin, cout, wt_abs, prep_abs);
  float *scale = xmalloc (sizeof (float) * cout), *bias = xmalloc (sizeof (float) * cout);
  float *zero = xmalloc (sizeof (float) * cout);
  memset (zero, 0, sizeof (float) * cout);
  random_affine (cout, scale, bias, 0);
  const bool relu = rnd (2);
  float *got = xmalloc (sizeof (float) * cout), *want = xmalloc (sizeof (float) * cout);
  float *mag = xmalloc (sizeof (float) * cout);
  beenet_dense (k, cin, cout, in, prep, scale, bias, relu, got);
  beenet_dense (ref, cin, cout, in, prep, scale, bias, relu, want);
  beenet_dense (ref, cin, cout, in_abs, prep_abs, scale, zero, false, mag);
  char what[80];
  snprintf (what, sizeof what, "dense %u -> %u relu %d", cin, cout, (int) relu);
  check_close_f (what, got, want, mag, cout);
  free (in); free (in_abs); free (wt); free (wt_abs); free (prep);
  free (prep_abs); free (scale); free (bias); free (zero); free (got);
  free (want); free (mag);
}

/* ---- micro-kernels directly -------------------------------------------- */

/* Values where packing and the transforms must agree bit for bit. */
static float
special_float (void)
{
  switch (rnd (12)) {
    case 0: return 0.0f;
    case 1: return -0.0f;
    case 2: return INFINITY;
    case 3: return -INFINITY;
    case 4: return NAN;
    case 5: return -NAN;
    case 6: return 1e-40f;           /* subnormal */
    case 7: return -1e-40f;
    default: return rndf () * 100.0f;
  }
}

static void
test_pack_signs (const BeenetKernels *k, const BeenetKernels *ref)
{
  const size_t np = 1 + rnd (5);
  const uint32_t c = 1 + rnd (300);
  const uint32_t words = (c + 31) / 32;
  float *in = xmalloc (sizeof (float) * np * c);
  for (size_t i = 0; i < np * c; i++)
    in[i] = special_float ();
  uint32_t *got = xmalloc (sizeof (uint32_t) * np * words);
  uint32_t *want = xmalloc (sizeof (uint32_t) * np * words);
  memset (got, 0xa5, sizeof (uint32_t) * np * words);
  k->pack_signs (in, np, c, got);
  ref->pack_signs (in, np, c, want);
  char what[64];
  snprintf (what, sizeof what, "pack_signs %zu px x %u ch", np, c);
  check_exact_u (what, got, want, np * words);
  if (k == ref) {
    /* The documented contract: bit set iff x < 0, unused tail bits 0. */
    for (size_t p = 0; p < np; p++)
      for (uint32_t i = 0; i < words * 32; i++) {
        const uint32_t bit = (want[p * words + i / 32] >> (i % 32)) & 1u;
        const uint32_t exp = i < c && in[p * c + i] < 0.0f;
        tally.values++;
        if (bit != exp)
          fail ("pack_signs contract", p * words * 32 + i, bit, exp);
      }
  }
  free (in); free (got); free (want);
}

/* bdot on arbitrary strides: rows 0..4, runs of up to 100 words (the byte
 * counters of the SIMD sets are widened every 31 words), 1..4 blocks. */
static void
test_bdot (const BeenetKernels *k, const BeenetKernels *ref)
{
  const uint32_t nb = 1 + rnd (BEENET_UK_MAX_BLOCKS);
  const uint32_t rows = rnd (5);
  const uint32_t n = rnd (4) ? 1 + rnd (40) : 1 + rnd (100);
  const size_t a_rs = n + rnd (7);
  const size_t w_rs = (size_t) n * L + L * rnd (3);
  const size_t w_bs = rows * w_rs + L * rnd (3) + (rows ? 0 : (size_t) n * L);
  const size_t na = rows * a_rs + n, nw = nb * w_bs + (size_t) n * L;
  uint32_t *a = xmalloc (sizeof (uint32_t) * na);
  uint32_t *w = xaligned (sizeof (uint32_t) * nw);
  /* One case in four: every input bit differs from its weight bit, the
   * largest possible count (8 per byte), which overflows byte counters
   * that are kept for more than 31 words. */
  const int all_ones = rnd (4) == 0;
  for (size_t i = 0; i < na; i++)
    a[i] = all_ones ? ~0u : rnd32 ();
  for (size_t i = 0; i < nw; i++)
    w[i] = all_ones ? 0u : rnd (8) ? rnd32 () : (rnd (2) ? 0u : ~0u);
  const BeenetBTaps t = { a, w, a_rs, w_rs, w_bs, rows, n };
  int32_t got[BEENET_UK_MAX_BLOCKS * L], want[BEENET_UK_MAX_BLOCKS * L];
  memset (got, 0x5a, sizeof got);
  k->bdot (&t, nb, got);
  ref->bdot (&t, nb, want);
  char what[80];
  snprintf (what, sizeof what, "bdot nb %u rows %u n %u", nb, rows, n);
  check_exact_u (what, (const uint32_t *) got, (const uint32_t *) want, nb * L);
  if (k == ref) {
    for (uint32_t b = 0; b < nb; b++)
      for (uint32_t l = 0; l < L; l++) {
        int32_t s = 0;
        for (uint32_t r = 0; r < rows; r++)
          for (uint32_t i = 0; i < n; i++) {
            uint32_t x = a[r * a_rs + i] ^ w[b * w_bs + r * w_rs + i * L + l];
            for (; x; x &= x - 1)
              s++;
          }
        tally.values++;
        if (want[b * L + l] != s)
          fail ("bdot (vs naive)", b * L + l, want[b * L + l], s);
      }
  }
  free (a); free (w);
}

static void
test_fgemv (const BeenetKernels *k, const BeenetKernels *ref)
{
  const uint32_t nb = 1 + rnd (BEENET_UK_MAX_BLOCKS);
  const uint32_t np = 1 + rnd (BEENET_UK_MAX_PIXELS);
  const uint32_t rows = rnd (4), taps = rnd (4), n = 1 + rnd (50);
  const size_t a_ts = n + rnd (5), a_rs = taps * a_ts + rnd (5);
  const size_t a_ps = rows * a_rs + taps * a_ts + n + rnd (5);
  const size_t w_ts = (size_t) n * L + L * rnd (2);
  const size_t w_rs = taps * w_ts + L * rnd (2);
  const size_t w_bs = rows * w_rs + (size_t) n * L + L * rnd (2);
  const size_t na = np * a_ps, nw = nb * w_bs;
  float *a = xmalloc (sizeof (float) * na), *w = xaligned (sizeof (float) * nw);
  float *a_abs = xmalloc (sizeof (float) * na), *w_abs = xaligned (sizeof (float) * nw);
  for (size_t i = 0; i < na; i++)
    a_abs[i] = fabsf (a[i] = rndf ());
  for (size_t i = 0; i < nw; i++)
    w_abs[i] = fabsf (w[i] = rndf ());
  BeenetFTaps t = { a, w, a_rs, a_ts, w_rs, w_ts, w_bs, a_ps, rows, taps, n, np };
  const size_t nout = (size_t) np * nb * L;
  float got[BEENET_UK_MAX_PIXELS * BEENET_UK_MAX_BLOCKS * L];
  float want[BEENET_UK_MAX_PIXELS * BEENET_UK_MAX_BLOCKS * L];
  float mag[BEENET_UK_MAX_PIXELS * BEENET_UK_MAX_BLOCKS * L];
  k->fgemv (&t, nb, got);
  ref->fgemv (&t, nb, want);
  t.a = a_abs;
  t.w = w_abs;
  ref->fgemv (&t, nb, mag);
  char what[100];
  snprintf (what, sizeof what, "fgemv nb %u np %u rows %u taps %u n %u", nb,
      np, rows, taps, n);
  check_close_f (what, got, want, mag, nout);
  free (a); free (w); free (a_abs); free (w_abs);
}

static void
test_fdw (const BeenetKernels *k, const BeenetKernels *ref)
{
  const uint32_t np = 1 + rnd (BEENET_UK_MAX_PIXELS);
  const uint32_t rows = rnd (4), taps = rnd (4), n = 1 + rnd (70);
  const size_t a_ts = n + rnd (5), a_rs = taps * a_ts + rnd (5);
  const size_t a_ps = rows * a_rs + taps * a_ts + n + rnd (5);
  const size_t w_ts = n + rnd (3), w_rs = taps * w_ts + rnd (3);
  const size_t na = np * a_ps, nw = rows * w_rs + taps * w_ts + n;
  float *a = xmalloc (sizeof (float) * na), *w = xaligned (sizeof (float) * nw);
  float *a_abs = xmalloc (sizeof (float) * na), *w_abs = xaligned (sizeof (float) * nw);
  for (size_t i = 0; i < na; i++)
    a_abs[i] = fabsf (a[i] = rndf ());
  for (size_t i = 0; i < nw; i++)
    w_abs[i] = fabsf (w[i] = rndf ());
  BeenetFTaps t = { a, w, a_rs, a_ts, w_rs, w_ts, 0, a_ps, rows, taps, n, np };
  const size_t nout = (size_t) np * n;
  float *got = xmalloc (sizeof (float) * nout), *want = xmalloc (sizeof (float) * nout);
  float *mag = xmalloc (sizeof (float) * nout);
  for (size_t i = 0; i < nout; i++)
    got[i] = NAN;                       /* fdw must overwrite */
  k->fdw (&t, got);
  ref->fdw (&t, want);
  t.a = a_abs;
  t.w = w_abs;
  ref->fdw (&t, mag);
  char what[100];
  snprintf (what, sizeof what, "fdw np %u rows %u taps %u n %u", np, rows,
      taps, n);
  check_close_f (what, got, want, mag, nout);
  free (a); free (w); free (a_abs); free (w_abs); free (got); free (want);
  free (mag);
}

/* Mostly ordinary values (so sums round), with -0.0, infinities and NaN. */
static float
mixed_float (void)
{
  return rnd (6) ? rndf () * 100.0f : special_float ();
}

/* The transform of kernels.h with the product rounded on its own (the
 * volatile store keeps any compiler from contracting it into an FMA). */
static float
strict_finish (float scale, float x, float bias, bool relu)
{
  volatile float prod = scale * x;
  const float v = prod + bias;
  return relu && v < 0.0f ? 0.0f : v;
}

/* Output transforms: must give identical bits (one multiply, one add), to
 * the portable set and to strict_finish (which catches a build that
 * contracts both into FMAs alike, e.g. -ffp-contract=fast). */
static void
test_finish (const BeenetKernels *k, const BeenetKernels *ref)
{
  const uint32_t n = rnd (70);
  const bool relu = rnd (2);
  const int32_t valid = (int32_t) rnd (20000);
  int32_t *iacc = xmalloc (sizeof (int32_t) * (n + 1));
  float *facc = xmalloc (sizeof (float) * (n + 1));
  float *scale = xmalloc (sizeof (float) * (n + 1)), *bias = xmalloc (sizeof (float) * (n + 1));
  float *got = xmalloc (sizeof (float) * (n + 1)), *want = xmalloc (sizeof (float) * (n + 1));
  for (uint32_t i = 0; i < n; i++) {
    iacc[i] = (int32_t) rnd ((uint32_t) valid + 1);
    facc[i] = special_float ();
    /* Values whose product and sum round (an FMA would differ). */
    scale[i] = rnd (8) ? rndf () * 3.0f : special_float ();
    bias[i] = rnd (8) ? rndf () * 7.0f : special_float ();
  }
  char what[80];
  const BeenetOutput t = { scale, bias, NULL, relu, false };
  k->bfinish (iacc, valid, n, &t, got);
  ref->bfinish (iacc, valid, n, &t, want);
  snprintf (what, sizeof what, "bfinish n %u relu %d", n, (int) relu);
  check_exact_f (what, got, want, n);
  for (uint32_t i = 0; i < n; i++)
    want[i] = strict_finish (scale[i], (float) (valid - 2 * iacc[i]), bias[i],
        relu);
  snprintf (what, sizeof what, "bfinish n %u relu %d (vs unfused)", n,
      (int) relu);
  check_exact_f (what, got, want, n);
  /* With a residual (the fused add, + relu or not): res + v. */
  float *res = xmalloc (sizeof (float) * (n + 1));
  for (uint32_t i = 0; i < n; i++)
    res[i] = mixed_float ();
  const BeenetOutput tr = { scale, bias, res, relu, rnd (2) };
  k->bfinish (iacc, valid, n, &tr, got);
  ref->bfinish (iacc, valid, n, &tr, want);
  snprintf (what, sizeof what, "bfinish+add n %u relu %d/%d", n, (int) relu,
      (int) tr.res_relu);
  check_exact_f (what, got, want, n);
  for (uint32_t i = 0; i < n; i++)
    want[i] = strict_residual (res[i], strict_finish (scale[i],
            (float) (valid - 2 * iacc[i]), bias[i], relu), tr.res_relu);
  snprintf (what, sizeof what, "bfinish+add n %u relu %d/%d (vs unfused)", n,
      (int) relu, (int) tr.res_relu);
  check_exact_f (what, got, want, n);
  free (res);
  k->ffinish (facc, n, scale, bias, relu, got);
  ref->ffinish (facc, n, scale, bias, relu, want);
  snprintf (what, sizeof what, "ffinish n %u relu %d", n, (int) relu);
  check_exact_f (what, got, want, n);
  for (uint32_t i = 0; i < n; i++)
    want[i] = strict_finish (scale[i], facc[i], bias[i], relu);
  snprintf (what, sizeof what, "ffinish n %u relu %d (vs unfused)", n,
      (int) relu);
  check_exact_f (what, got, want, n);
  /* In place (acc == o), as the depthwise driver calls it. */
  memcpy (got, facc, sizeof (float) * n);
  k->ffinish (got, n, scale, bias, relu, got);
  snprintf (what, sizeof what, "ffinish in place n %u relu %d", n, (int) relu);
  check_exact_f (what, got, want, n);
  free (iacc); free (facc); free (scale); free (bias); free (got); free (want);
}

/* Elementwise add (+relu) and global average pool: identical bits to the
 * portable set, and to a naive loop written here (which catches a
 * reference that drifted from `v < 0 ? 0 : v` or from pixel order). */
static void
test_add_gap (const BeenetKernels *k, const BeenetKernels *ref)
{
  char what[80];
  const size_t n = rnd (4) ? rnd (70) : rnd (700);
  const bool relu = rnd (2);
  float *a = xmalloc (sizeof (float) * (n + 1)), *b = xmalloc (sizeof (float) * (n + 1));
  float *got = xmalloc (sizeof (float) * (n + 1)), *want = xmalloc (sizeof (float) * (n + 1));
  for (size_t i = 0; i < n; i++) {
    a[i] = mixed_float ();
    /* Some exact cancellations (+0.0) and sums of two -0.0. */
    b[i] = rnd (8) ? mixed_float () : (rnd (2) ? -a[i] : -0.0f);
    if (b[i] == -0.0f && !rnd (2))
      a[i] = -0.0f;
  }
  k->add (a, b, n, relu, got);
  ref->add (a, b, n, relu, want);
  snprintf (what, sizeof what, "add n %zu relu %d", n, (int) relu);
  check_exact_f (what, got, want, n);
  for (size_t i = 0; i < n; i++) {
    const float v = a[i] + b[i];
    want[i] = relu && v < 0.0f ? 0.0f : v;
  }
  snprintf (what, sizeof what, "add n %zu relu %d (vs naive)", n, (int) relu);
  check_exact_f (what, got, want, n);
  /* In place (o == a). */
  memcpy (got, a, sizeof (float) * n);
  k->add (got, b, n, relu, got);
  snprintf (what, sizeof what, "add in place n %zu relu %d", n, (int) relu);
  check_exact_f (what, got, want, n);
  free (a); free (b); free (got); free (want);

  const size_t hw = 1 + rnd (rnd (4) ? 12 : 60);
  const uint32_t c = 1 + rnd (rnd (2) ? 40 : 300);
  const float scale = 1.0f / (float) hw;
  float *in = xmalloc (sizeof (float) * hw * c);
  float *go = xmalloc (sizeof (float) * c), *wo = xmalloc (sizeof (float) * c);
  const bool specials = rnd (4) == 0;
  for (size_t i = 0; i < hw * c; i++)
    in[i] = specials ? mixed_float () : rndf () * 100.0f;
  k->gap (in, hw, c, scale, go);
  ref->gap (in, hw, c, scale, wo);
  snprintf (what, sizeof what, "gap hw %zu c %u", hw, c);
  check_exact_f (what, go, wo, c);
  for (uint32_t ch = 0; ch < c; ch++) {
    float acc = 0.0f;
    for (size_t p = 0; p < hw; p++)
      acc += in[p * c + ch];
    wo[ch] = acc * scale;
  }
  snprintf (what, sizeof what, "gap hw %zu c %u (vs naive)", hw, c);
  check_exact_f (what, go, wo, c);
  free (in); free (go); free (wo);
}

/* ---- one set ----------------------------------------------------------- */

/* Shapes like the shipped networks' layers (3x3 binary convs on 64..256
 * channels: 4 blocks per micro-kernel call and runs over 31 words; a wide
 * binary dense head), run once per set besides the random ones. */
static void
model_like (const BeenetKernels *k, const BeenetKernels *ref)
{
  static const unsigned shapes[][4] = KERNEL_TEST_MODEL_SHAPES;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    BeenetConvGeom g = { 0 };
    g.h = shapes[s][0]; g.w = shapes[s][1]; g.c = shapes[s][2];
    g.cout = shapes[s][3];
    g.kh = g.kw = 3; g.sh = g.sw = 1 + (unsigned) (s % 2); g.ph = g.pw = 1;
    g.groups = 1; g.relu = s % 2;
    g.ho = out_dim (g.h, g.kh, g.sh, g.ph);
    g.wo = out_dim (g.w, g.kw, g.sw, g.pw);
    g.words = (g.c + 31) / 32;
    count_shape (&cov_bin, &g);
    test_bconv2d (k, ref, &g);
    BeenetConvGeom f = g;
    test_conv2d (k, ref, &f, 0);
    f = g;
    test_conv2d (k, ref, &f, 1);
  }
  test_bdense (k, ref, 4000, 50);
  test_dense (k, ref, 1500, 40);
}

typedef struct {
  unsigned long bconv, bdense, conv, dense, micro;
} Counts;

static Counts
run_set (const BeenetKernels *k, const BeenetKernels *ref, unsigned iters,
    uint32_t seed)
{
  Counts c = { 0 };
  rng_state = seed;
  model_like (k, ref);
  c.bconv += 5;
  c.conv += 10;
  c.bdense++;
  c.dense++;
  for (unsigned it = 0; it < iters; it++) {
    BeenetConvGeom g = random_geom (1, 300000);
    count_shape (&cov_bin, &g);
    test_bconv2d (k, ref, &g);
    /* One random draw per statement: the argument evaluation order is
     * unspecified, and the shapes must not depend on the compiler. */
    const unsigned bcin = 1 + rnd (rnd (4) ? 300 : 3000);
    const unsigned bcout = 1 + rnd (90);
    test_bdense (k, ref, bcin, bcout);
    BeenetConvGeom f = random_geom (0, 300000);
    test_conv2d (k, ref, &f, it % 3);
    const unsigned fcin = 1 + rnd (300);
    const unsigned fcout = 1 + rnd (70);
    test_dense (k, ref, fcin, fcout);
    c.bconv++; c.bdense++; c.conv++; c.dense++;
    for (int m = 0; m < 2; m++) {
      test_pack_signs (k, ref);
      test_bdot (k, ref);
      test_fgemv (k, ref);
      test_fdw (k, ref);
      test_finish (k, ref);
      test_add_gap (k, ref);
      c.micro += 6;
    }
  }
  return c;
}

static void
print_coverage (const char *what, const Coverage *c, unsigned sets)
{
  printf ("  %s shapes: %lu (channels %% 32 != 0: %lu, %% 16 != 0: %lu; "
      "cout %% 16 != 0: %lu; stride > 1: %lu; padding > 0: %lu; some window "
      "with no in-bounds tap: %lu; cout > %u (several micro-kernel calls): "
      "%lu)\n", what, c->shapes / sets, c->c_odd32 / sets, c->c_odd16 / sets,
      c->cout_odd16 / sets, c->strided / sets, c->padded / sets,
      c->empty_window / sets, L * BEENET_UK_MAX_BLOCKS, c->multi_block / sets);
}

int
main (int argc, char **argv)
{
  const char *only[N_ALL + 1];
  unsigned n_only = 0, iters = 300;
  uint32_t seed = 20261201u;
  for (int i = 1; i < argc; i++) {
    if (strcmp (argv[i], "--set") == 0 && i + 1 < argc && n_only < N_ALL)
      only[n_only++] = argv[++i];
    else if (strcmp (argv[i], "--iters") == 0 && i + 1 < argc)
      iters = (unsigned) strtoul (argv[++i], NULL, 10);
    else if (strcmp (argv[i], "--seed") == 0 && i + 1 < argc)
      seed = (uint32_t) strtoul (argv[++i], NULL, 0);
    else {
      fprintf (stderr, "usage: %s [--set NAME]... [--iters N] [--seed S]\n",
          argv[0]);
      return 2;
    }
  }
  if (seed == 0)
    seed = 1;
  for (unsigned i = 0; i < n_only; i++) {
    int known = 0;
    for (size_t j = 0; j < N_ALL; j++)
      known |= strcmp (only[i], all_sets[j]) == 0;
    if (!known) {
      printf ("unknown kernel set '%s'\n", only[i]);
      return 2;
    }
  }

  const BeenetKernels *ref = beenet_kernels_get ("portable");
  if (!ref) {
    printf ("FAIL: no portable kernel set\n");
    return 1;
  }
  printf ("kernel sets against the portable reference: seed %" PRIu32
      ", %u random iterations per set\n", seed, iters);
  printf ("default set for this CPU: %s\n", beenet_kernels_select ()->name);
  unsigned tested = 0, skipped = 0, failed = 0, skipped_requested = 0;
  for (size_t s = 0; s < N_ALL; s++) {
    const char *name = all_sets[s];
    int wanted = n_only == 0;
    for (unsigned i = 0; i < n_only; i++)
      wanted |= strcmp (only[i], name) == 0;
    if (!wanted)
      continue;
    const BeenetKernels *k = beenet_kernels_get (name);
    if (!k) {
      printf ("SKIPPED: kernel set '%s' %s\n", name,
          beenet_kernels_compiled (name) ? "is not supported by this CPU"
          : "is not compiled into this build");
      skipped++;
      skipped_requested += n_only > 0;
      continue;
    }
    memset (&tally, 0, sizeof tally);
    reports = 0;
    cur_set = name;
    const Counts c = run_set (k, ref, iters, seed);
    printf ("%s: %s: %lu bconv2d + %lu bdense + %lu conv2d + %lu dense "
        "driver shapes, %lu direct micro-kernel cases; %lu comparisons, "
        "%lu values, %lu mismatches\n", tally.failures ? "FAIL" : "PASS",
        name, c.bconv, c.bdense, c.conv, c.dense, c.micro, tally.cases,
        tally.values, tally.failures);
    tested++;
    failed += tally.failures != 0;
  }
  if (cov_bin.shapes) {
    printf ("coverage per set:\n");
    /* Every set sees the same shapes (same seed): divide the totals. */
    print_coverage ("binary conv", &cov_bin, tested);
    print_coverage ("float conv", &cov_float, tested);
  }
  printf ("SUMMARY: %u set(s) tested, %u passed, %u failed, %u skipped\n",
      tested, tested - failed, failed, skipped);
  if (failed)
    return 1;
  if (skipped_requested)
    return 77;
  return 0;
}
