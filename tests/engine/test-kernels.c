/* Layer/kernel tests: every op run through the public API on small random
 * shapes and compared with straightforward reference implementations of
 * docs/model-format.md section 4 written here (sign(x), sign(w), zero
 * padding, float/double accumulation).  Also compares every compiled-in
 * kernel set (engine/kernels.h) with the reference directly. */
#include "beenet.h"
#include "kernels.h"
#include "test-layers.h"
#include "test-models.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- exact random inputs ----------------------------------------------
 * Features are small integers and the expansion conv2d 1x1 (1 -> C
 * channels) uses dyadic weights/biases, so every activation value is exact
 * in float (and some are exactly 0, exercising sign(0) = +1). */

typedef struct {
  unsigned h, w, c;
  float *v;           /* HWC */
} Act;

static uint32_t rng = 2024;

static unsigned
rnd (unsigned n)
{
  return test_rand_u32 (&rng) % n;
}

static float *
make_features (unsigned h, unsigned w)
{
  float *f = malloc (sizeof (float) * h * w);
  for (unsigned i = 0; i < h * w; i++)
    f[i] = (float) ((int) rnd (9) - 4);
  return f;
}

/* Adds the expansion conv to m reading activation 0; fills act with the
 * exact values the engine will compute. */
static int
add_expansion (TestModel *m, const float *features, unsigned h, unsigned w,
    unsigned c, Act *act)
{
  static const float wv[] = { -2.0f, -1.0f, -0.5f, 0.5f, 1.0f, 2.0f };
  float *wt = malloc (sizeof (float) * c), *b = malloc (sizeof (float) * c);
  float *one = malloc (sizeof (float) * c);
  for (unsigned i = 0; i < c; i++) {
    wt[i] = wv[rnd (6)];
    b[i] = 0.25f * (float) ((int) rnd (9) - 4);
    one[i] = 1.0f;
  }
  int a = test_model_conv2d (m, 0, 1, 1, 1, 1, 0, 0, 1, c, 0, wt, one, b);
  act->h = h; act->w = w; act->c = c;
  act->v = malloc (sizeof (float) * h * w * c);
  for (unsigned p = 0; p < h * w; p++)
    for (unsigned i = 0; i < c; i++)
      act->v[p * c + i] = wt[i] * features[p] + b[i];
  free (wt); free (b); free (one);
  return a;
}

static float
sgn (float x)
{
  return x >= 0.0f ? 1.0f : -1.0f;
}

static unsigned
out_dim (unsigned n, unsigned k, unsigned s, unsigned p)
{
  return (n + 2 * p - k) / s + 1;
}

static uint32_t *
random_bits (unsigned cin, size_t rows)
{
  const unsigned words = (cin + 31) / 32;
  uint32_t *wb = malloc (sizeof (uint32_t) * words * rows);
  for (size_t r = 0; r < rows; r++)
    for (unsigned j = 0; j < words; j++) {
      uint32_t v = test_rand_u32 (&rng);
      if (cin - 32 * j < 32)
        v &= (1u << (cin - 32 * j)) - 1u;
      wb[r * words + j] = v;
    }
  return wb;
}

static float
weight_sign (const uint32_t *row, unsigned ci)
{
  return (row[ci / 32] >> (ci % 32)) & 1u ? -1.0f : 1.0f;
}

/* Reference bconv2d: acc = sum over in-bounds taps and channels of
 * sign(x) * sign(w); out-of-bounds taps contribute 0. */
static void
ref_bconv2d (const Act *in, unsigned kh, unsigned kw, unsigned sh,
    unsigned sw, unsigned ph, unsigned pw, unsigned cout, const uint32_t *wb,
    const float *scale, const float *bias, int relu, float *out)
{
  const unsigned words = (in->c + 31) / 32;
  const unsigned ho_n = out_dim (in->h, kh, sh, ph), wo_n = out_dim (in->w, kw, sw, pw);
  for (unsigned ho = 0; ho < ho_n; ho++)
    for (unsigned wo = 0; wo < wo_n; wo++)
      for (unsigned co = 0; co < cout; co++) {
        float acc = 0.0f;
        for (unsigned ky = 0; ky < kh; ky++)
          for (unsigned kx = 0; kx < kw; kx++) {
            long y = (long) (ho * sh + ky) - (long) ph;
            long x = (long) (wo * sw + kx) - (long) pw;
            if (y < 0 || x < 0 || y >= (long) in->h || x >= (long) in->w)
              continue;
            const uint32_t *row = wb + (((size_t) co * kh + ky) * kw + kx) * words;
            for (unsigned ci = 0; ci < in->c; ci++)
              acc += sgn (in->v[((size_t) y * in->w + x) * in->c + ci])
                  * weight_sign (row, ci);
          }
        float v = scale[co] * acc + bias[co];
        out[((size_t) ho * wo_n + wo) * cout + co] = relu && v < 0.0f ? 0.0f : v;
      }
}

static void
random_affine (unsigned n, float *scale, float *bias, int exact)
{
  for (unsigned i = 0; i < n; i++) {
    if (exact) {
      scale[i] = 1.0f;
      bias[i] = 0.0f;
    } else {
      scale[i] = 0.05f + 0.1f * (float) rnd (100) / 100.0f;
      bias[i] = (float) ((int) rnd (200) - 100) / 100.0f;
    }
  }
}

/* |a - b| <= tol * (|b| + 1) */
static void
assert_close (const float *got, const float *want, size_t n, double tol,
    const char *what)
{
  for (size_t i = 0; i < n; i++)
    ck_assert_msg (fabs ((double) got[i] - want[i]) <= tol * (fabs (want[i]) + 1.0),
        "%s: element %zu: engine %.9g reference %.9g", what, i, got[i], want[i]);
}

START_TEST (test_bconv2d)
{
  static const unsigned cins[] = { 1, 5, 31, 32, 33, 45, 64, 70 };
  unsigned done = 0;
  rng = 1000 + (uint32_t) _i;
  while (done < 60) {
    unsigned h = 1 + rnd (8), w = 1 + rnd (8), c = cins[rnd (8)];
    unsigned kh = 1 + rnd (3), kw = 1 + rnd (3), sh = 1 + rnd (2), sw = 1 + rnd (2);
    unsigned ph = rnd (3), pw = rnd (3), cout = 1 + rnd (9);
    int exact = done % 2 == 0, relu = (done / 2) % 2;
    if (h + 2 * ph < kh || w + 2 * pw < kw)
      continue;
    unsigned ho = out_dim (h, kh, sh, ph), wo = out_dim (w, kw, sw, pw);
    size_t k = (size_t) ho * wo * cout;
    if (k < 2 || k > 1024)
      continue;
    float *f = make_features (h, w);
    TestModel *m = test_model_new_with_shape (2, h, w);
    Act in;
    int x = add_expansion (m, f, h, w, c, &in);
    uint32_t *wb = random_bits (c, (size_t) kh * kw * cout);
    float *scale = malloc (sizeof (float) * cout), *bias = malloc (sizeof (float) * cout);
    random_affine (cout, scale, bias, exact);
    int y = test_model_bconv2d (m, x, kh, kw, sh, sw, ph, pw, cout, relu, wb,
        scale, bias);
    ck_assert_int_ge (y, 0);
    float *got = malloc (sizeof (float) * k), *want = malloc (sizeof (float) * k);
    layer_run (m, y, f, got);
    ref_bconv2d (&in, kh, kw, sh, sw, ph, pw, cout, wb, scale, bias, relu, want);
    char what[160];
    snprintf (what, sizeof what, "bconv2d in %ux%ux%u k%ux%u s%ux%u p%ux%u cout %u",
        h, w, c, kh, kw, sh, sw, ph, pw, cout);
    if (exact)
      for (size_t i = 0; i < k; i++)
        ck_assert_msg (got[i] == want[i], "%s: element %zu: %g != %g", what, i,
            got[i], want[i]);
    else
      assert_close (got, want, k, 1e-6, what);
    free (f); free (in.v); free (wb); free (scale); free (bias);
    free (got); free (want);
    done++;
  }
}
END_TEST

START_TEST (test_bdense)
{
  unsigned done = 0;
  rng = 77;
  while (done < 40) {
    unsigned h = 1 + rnd (6), w = 1 + rnd (6), c = 1 + rnd (40);
    unsigned cout = 2 + rnd (30);
    int exact = done % 2 == 0, relu = (done / 2) % 2;
    const unsigned cin = h * w * c;
    float *f = make_features (h, w);
    TestModel *m = test_model_new_with_shape (2, h, w);
    Act in;
    int x = add_expansion (m, f, h, w, c, &in);
    uint32_t *wb = random_bits (cin, cout);
    float *scale = malloc (sizeof (float) * cout), *bias = malloc (sizeof (float) * cout);
    random_affine (cout, scale, bias, exact);
    int y = test_model_bdense (m, x, cout, relu, wb, scale, bias);
    ck_assert_int_ge (y, 0);
    float got[64], want[64];
    layer_run (m, y, f, got);
    const unsigned words = (cin + 31) / 32;
    for (unsigned co = 0; co < cout; co++) {
      float acc = 0.0f;
      for (unsigned i = 0; i < cin; i++)
        acc += sgn (in.v[i]) * weight_sign (wb + (size_t) co * words, i);
      float v = scale[co] * acc + bias[co];
      want[co] = relu && v < 0.0f ? 0.0f : v;
    }
    if (exact)
      for (unsigned i = 0; i < cout; i++)
        ck_assert_msg (got[i] == want[i], "bdense cin %u: %u: %g != %g", cin,
            i, got[i], want[i]);
    else
      assert_close (got, want, cout, 1e-6, "bdense");
    free (f); free (in.v); free (wb); free (scale); free (bias);
    done++;
  }
}
END_TEST

START_TEST (test_conv2d)
{
  unsigned done = 0;
  rng = 555;
  while (done < 50) {
    unsigned h = 1 + rnd (8), w = 1 + rnd (8), c = 1 + rnd (12);
    unsigned kh = 1 + rnd (5), kw = 1 + rnd (3), sh = 1 + rnd (2), sw = 1 + rnd (2);
    unsigned ph = rnd (3), pw = rnd (2);
    unsigned mode = done % 3; /* 0 dense conv, 1 depthwise, 2 grouped */
    unsigned groups = mode == 1 ? c : 1, cout = 1 + rnd (8);
    if (mode == 1)
      cout = c * (1 + rnd (2));             /* depthwise (multiplier 1 or 2) */
    if (mode == 2) {
      if (c % 2)
        c++;
      groups = 2;
      cout = 2 * (1 + rnd (4));
    }
    int relu = (done / 3) % 2;
    if (h + 2 * ph < kh || w + 2 * pw < kw)
      continue;
    unsigned ho = out_dim (h, kh, sh, ph), wo = out_dim (w, kw, sw, pw);
    size_t k = (size_t) ho * wo * cout;
    if (k < 2 || k > 1024)
      continue;
    const unsigned cig = c / groups, cog = cout / groups;
    float *f = make_features (h, w);
    TestModel *m = test_model_new_with_shape (2, h, w);
    Act in;
    int x = add_expansion (m, f, h, w, c, &in);
    size_t nw = (size_t) cout * kh * kw * cig;
    float *wt = malloc (sizeof (float) * nw);
    for (size_t i = 0; i < nw; i++)
      wt[i] = test_rand_float (&rng);
    float *scale = malloc (sizeof (float) * cout), *bias = malloc (sizeof (float) * cout);
    random_affine (cout, scale, bias, 0);
    int y = test_model_conv2d (m, x, kh, kw, sh, sw, ph, pw, groups, cout,
        relu, wt, scale, bias);
    ck_assert_int_ge (y, 0);
    float *got = malloc (sizeof (float) * k);
    layer_run (m, y, f, got);
    for (unsigned oh = 0; oh < ho; oh++)
      for (unsigned ow = 0; ow < wo; ow++)
        for (unsigned co = 0; co < cout; co++) {
          double acc = 0.0, mag = 0.0;
          const unsigned g = co / cog;
          for (unsigned ky = 0; ky < kh; ky++)
            for (unsigned kx = 0; kx < kw; kx++) {
              long yy = (long) (oh * sh + ky) - (long) ph;
              long xx = (long) (ow * sw + kx) - (long) pw;
              if (yy < 0 || xx < 0 || yy >= (long) h || xx >= (long) w)
                continue;
              for (unsigned ci = 0; ci < cig; ci++) {
                double t = (double) wt[(((size_t) co * kh + ky) * kw + kx) * cig + ci]
                    * in.v[((size_t) yy * w + xx) * c + g * cig + ci];
                acc += t;
                mag += fabs (t);
              }
            }
          double v = scale[co] * acc + bias[co];
          if (relu && v < 0.0)
            v = 0.0;
          const float e = got[((size_t) oh * wo + ow) * cout + co];
          /* float accumulation: error <= n * eps * sum|terms|. */
          ck_assert_msg (fabs (e - v) <= 1e-5 * (scale[co] * mag + fabs (bias[co])) + 1e-6,
              "conv2d in %ux%ux%u g%u k%ux%u s%ux%u p%ux%u: (%u,%u,%u) %g vs %g",
              h, w, c, groups, kh, kw, sh, sw, ph, pw, oh, ow, co, e, v);
        }
    free (f); free (in.v); free (wt); free (scale); free (bias); free (got);
    done++;
  }
}
END_TEST

static void
pool_case (int is_max, unsigned h, unsigned w, unsigned c, unsigned kh,
    unsigned kw, unsigned sh, unsigned sw, unsigned ph, unsigned pw)
{
  float *f = make_features (h, w);
  TestModel *m = test_model_new_with_shape (2, h, w);
  Act in;
  int x = add_expansion (m, f, h, w, c, &in);
  int y = is_max ? test_model_maxpool (m, x, kh, kw, sh, sw, ph, pw)
      : test_model_avgpool (m, x, kh, kw, sh, sw, ph, pw);
  ck_assert_int_ge (y, 0);
  unsigned ho = out_dim (h, kh, sh, ph), wo = out_dim (w, kw, sw, pw);
  float *got = malloc (sizeof (float) * ho * wo * c);
  layer_run (m, y, f, got);
  for (unsigned oh = 0; oh < ho; oh++)
    for (unsigned ow = 0; ow < wo; ow++)
      for (unsigned ch = 0; ch < c; ch++) {
        double best = -INFINITY, sum = 0.0;
        unsigned count = 0;
        for (unsigned ky = 0; ky < kh; ky++)
          for (unsigned kx = 0; kx < kw; kx++) {
            long yy = (long) (oh * sh + ky) - (long) ph;
            long xx = (long) (ow * sw + kx) - (long) pw;
            if (yy < 0 || xx < 0 || yy >= (long) h || xx >= (long) w)
              continue;   /* padded taps: never selected / not counted */
            double v = in.v[((size_t) yy * w + xx) * c + ch];
            best = v > best ? v : best;
            sum += v;
            count++;
          }
        ck_assert_uint_gt (count, 0);
        const float e = got[((size_t) oh * wo + ow) * c + ch];
        if (is_max)
          ck_assert_msg (e == (float) best, "maxpool (%u,%u,%u): %g vs %g",
              oh, ow, ch, e, best);
        else
          ck_assert_msg (fabs (e - sum / count) <= 1e-6 * (fabs (sum / count) + 1),
              "avgpool k%ux%u p%ux%u (%u,%u,%u): %g vs %g", kh, kw, ph, pw,
              oh, ow, ch, e, sum / count);
      }
  free (f); free (in.v); free (got);
}

START_TEST (test_pools)
{
  rng = 31337;
  for (int is_max = 0; is_max < 2; is_max++) {
    pool_case (is_max, 8, 6, 3, 2, 2, 2, 2, 0, 0);
    pool_case (is_max, 7, 5, 4, 3, 3, 2, 2, 1, 1);   /* padded corners */
    pool_case (is_max, 5, 5, 2, 3, 3, 1, 1, 1, 1);
    pool_case (is_max, 6, 7, 3, 2, 3, 1, 2, 1, 2);   /* asymmetric */
    pool_case (is_max, 9, 4, 5, 3, 1, 3, 1, 2, 0);
    pool_case (is_max, 1, 3, 7, 1, 3, 1, 1, 0, 1);
  }
}
END_TEST

START_TEST (test_add_gap_dense)
{
  rng = 4242;
  for (int relu = 0; relu < 2; relu++) {
    /* add: exact on dyadic inputs. */
    unsigned h = 5, w = 4, c = 6;
    float *f = make_features (h, w);
    TestModel *m = test_model_new_with_shape (2, h, w);
    Act a, b;
    int xa = add_expansion (m, f, h, w, c, &a);
    int xb = add_expansion (m, f, h, w, c, &b);
    int y = test_model_add (m, xa, xb, relu);
    float got[120];
    layer_run (m, y, f, got);
    for (unsigned i = 0; i < h * w * c; i++) {
      float v = a.v[i] + b.v[i];
      ck_assert (got[i] == (relu && v < 0 ? 0.0f : v));
    }
    free (f); free (a.v); free (b.v);
  }
  {
    /* global_avgpool */
    unsigned h = 7, w = 9, c = 5;
    float *f = make_features (h, w);
    TestModel *m = test_model_new_with_shape (2, h, w);
    Act a;
    int x = add_expansion (m, f, h, w, c, &a);
    int y = test_model_global_avgpool (m, x);
    float got[5];
    layer_run (m, y, f, got);
    for (unsigned ch = 0; ch < c; ch++) {
      double s = 0;
      for (unsigned p = 0; p < h * w; p++)
        s += a.v[p * c + ch];
      ck_assert_msg (fabs (got[ch] - s / (h * w)) <= 1e-6 * (fabs (s / (h * w)) + 1),
          "gap %u: %g vs %g", ch, got[ch], s / (h * w));
    }
    free (f); free (a.v);
  }
  for (int relu = 0; relu < 2; relu++) {
    /* dense over a flattened HWC map (checks the flattening order). */
    unsigned h = 3, w = 4, c = 5, cout = 7, cin = h * w * c;
    float *f = make_features (h, w);
    TestModel *m = test_model_new_with_shape (2, h, w);
    Act a;
    int x = add_expansion (m, f, h, w, c, &a);
    float *wt = malloc (sizeof (float) * cin * cout), scale[7], bias[7];
    for (unsigned i = 0; i < cin * cout; i++)
      wt[i] = test_rand_float (&rng);
    random_affine (cout, scale, bias, 0);
    int y = test_model_dense (m, x, cout, relu, wt, scale, bias);
    float got[7];
    layer_run (m, y, f, got);
    for (unsigned co = 0; co < cout; co++) {
      double acc = 0, mag = 0;
      for (unsigned i = 0; i < cin; i++) {
        acc += (double) wt[co * cin + i] * a.v[i];
        mag += fabs ((double) wt[co * cin + i] * a.v[i]);
      }
      double v = scale[co] * acc + bias[co];
      if (relu && v < 0)
        v = 0;
      ck_assert_msg (fabs (got[co] - v) <= 1e-5 * (scale[co] * mag + fabs (bias[co])) + 1e-6,
          "dense %u: %g vs %g", co, got[co], v);
    }
    free (f); free (a.v); free (wt);
  }
}
END_TEST

/* ---- kernel sets directly ------------------------------------------- */

static const char *const kernel_names[] = { "portable", "avx2", "neon" };

START_TEST (test_kernel_sets)
{
  /* For every kernel set available on this CPU: pack_signs, bconv2d and
   * bdense must match the reference exactly (integer arithmetic), on
   * larger random shapes than the API tests. */
  const char *name = kernel_names[_i];
  const BeenetKernels *k = beenet_kernels_get (name);
  if (!k)
    return;   /* not compiled in or not supported by this CPU */
  ck_assert_str_eq (k->name, name);
  rng = 9000;
  static const unsigned cins[] = { 1, 7, 32, 33, 64, 96, 100, 128, 130, 256, 257 };
  for (int iter = 0; iter < 40; iter++) {
    BeenetConvGeom g = { 0 };
    g.h = 1 + rnd (12);
    g.w = 1 + rnd (12);
    g.c = cins[rnd (sizeof cins / sizeof cins[0])];
    g.kh = 1 + rnd (3);
    g.kw = 1 + rnd (3);
    g.sh = 1 + rnd (2);
    g.sw = 1 + rnd (2);
    g.ph = rnd (2);
    g.pw = rnd (2);
    g.cout = 1 + rnd (40);
    g.relu = iter % 2;
    g.groups = 1;
    if (g.h + 2 * g.ph < g.kh || g.w + 2 * g.pw < g.kw)
      continue;
    g.ho = out_dim (g.h, g.kh, g.sh, g.ph);
    g.wo = out_dim (g.w, g.kw, g.sw, g.pw);
    g.words = (g.c + 31) / 32;
    Act in = { g.h, g.w, g.c, malloc (sizeof (float) * g.h * g.w * g.c) };
    for (size_t i = 0; i < (size_t) g.h * g.w * g.c; i++)
      in.v[i] = (float) ((int) rnd (5) - 2);     /* includes exact zeros */
    uint32_t *bits = malloc (sizeof (uint32_t) * g.h * g.w * g.words);
    k->pack_signs (in.v, (size_t) g.h * g.w, g.c, bits);
    for (size_t p = 0; p < (size_t) g.h * g.w; p++)
      for (unsigned ci = 0; ci < g.words * 32; ci++) {
        unsigned bit = (bits[p * g.words + ci / 32] >> (ci % 32)) & 1u;
        unsigned want = ci < g.c ? in.v[p * g.c + ci] < 0.0f : 0;
        ck_assert_msg (bit == want, "%s pack_signs pixel %zu bit %u", name, p, ci);
      }
    uint32_t *wb = random_bits (g.c, (size_t) g.kh * g.kw * g.cout);
    float *scale = malloc (sizeof (float) * g.cout), *bias = malloc (sizeof (float) * g.cout);
    random_affine (g.cout, scale, bias, 1);
    const size_t n = (size_t) g.ho * g.wo * g.cout;
    float *got = malloc (sizeof (float) * n), *want = malloc (sizeof (float) * n);
    k->bconv2d (&g, bits, wb, scale, bias, got);
    ref_bconv2d (&in, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.cout, wb, scale,
        bias, g.relu, want);
    for (size_t i = 0; i < n; i++)
      ck_assert_msg (got[i] == want[i], "%s bconv2d c=%u k%ux%u: %zu: %g vs %g",
          name, g.c, g.kh, g.kw, i, got[i], want[i]);
    /* bdense on the flattened map. */
    const unsigned cin = g.h * g.w * g.c, cout = g.cout;
    uint32_t *fb = malloc (sizeof (uint32_t) * ((cin + 31) / 32));
    k->pack_signs (in.v, 1, cin, fb);
    uint32_t *dw = random_bits (cin, cout);
    k->bdense (cin, cout, fb, dw, scale, bias, g.relu, got);
    for (unsigned co = 0; co < cout; co++) {
      float acc = 0.0f;
      for (unsigned i = 0; i < cin; i++)
        acc += sgn (in.v[i]) * weight_sign (dw + (size_t) co * ((cin + 31) / 32), i);
      float v = acc;
      ck_assert_msg (got[co] == (g.relu && v < 0 ? 0.0f : v),
          "%s bdense cin %u: %u: %g vs %g", name, cin, co, got[co], v);
    }
    free (in.v); free (bits); free (wb); free (scale); free (bias);
    free (got); free (want); free (fb); free (dw);
  }
}
END_TEST

START_TEST (test_kernel_name)
{
  const char *name = beenet_kernel_name ();
  ck_assert_ptr_nonnull (name);
  ck_assert_ptr_nonnull (beenet_kernels_get (name));
  ck_assert_ptr_nonnull (beenet_kernels_get ("portable"));
  ck_assert_ptr_null (beenet_kernels_get ("no-such-kernels"));
}
END_TEST

static Suite *
kernels_suite (void)
{
  Suite *s = suite_create ("kernels");
  TCase *tc = tcase_create ("core");
  tcase_set_timeout (tc, 300);
  tcase_add_loop_test (tc, test_bconv2d, 0, 3);
  tcase_add_test (tc, test_bdense);
  tcase_add_test (tc, test_conv2d);
  tcase_add_test (tc, test_pools);
  tcase_add_test (tc, test_add_gap_dense);
  tcase_add_loop_test (tc, test_kernel_sets, 0,
      (int) (sizeof kernel_names / sizeof kernel_names[0]));
  tcase_add_test (tc, test_kernel_name);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (kernels_suite ());
  srunner_run_all (sr, CK_NORMAL);
  int failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
