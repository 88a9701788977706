/* Layer/kernel tests: every op run through the public API on small random
 * shapes and compared with straightforward reference implementations of
 * docs/model-format.md section 4 written here (sign(x), sign(w), zero
 * padding, float/double accumulation).  Also compares every compiled-in
 * kernel set (engine/kernels.h) with the reference directly. */
#include "beenet.h"
#include "beenet-private.h"
#include "check-main.h"
#include "kernels.h"
#include "kernel-shapes.h"
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

/* Channels [c0, c0 + n) of a as an activation of their own. */
static Act
act_slice (const Act *a, unsigned c0, unsigned n)
{
  Act s = { a->h, a->w, n, malloc (sizeof (float) * a->h * a->w * n) };
  for (size_t p = 0; p < (size_t) a->h * a->w; p++)
    memcpy (s.v + p * n, a->v + p * a->c + c0, sizeof (float) * n);
  return s;
}

/* Reference grouped bconv2d: group gi is ref_bconv2d of input channels
 * [gi*cig, (gi+1)*cig) with the weight rows of its cout/groups outputs
 * (each row ceil(cig/32) words). */
static void
ref_bconv2d_grouped (const Act *in, unsigned kh, unsigned kw, unsigned sh,
    unsigned sw, unsigned ph, unsigned pw, unsigned groups, unsigned cout,
    const uint32_t *wb, const float *scale, const float *bias, int relu,
    float *out)
{
  const unsigned cig = in->c / groups, cog = cout / groups;
  const unsigned words = (cig + 31) / 32;
  const size_t hw = (size_t) out_dim (in->h, kh, sh, ph) * out_dim (in->w, kw, sw, pw);
  float *part = malloc (sizeof (float) * hw * cog);
  for (unsigned gi = 0; gi < groups; gi++) {
    Act sub = act_slice (in, gi * cig, cig);
    ref_bconv2d (&sub, kh, kw, sh, sw, ph, pw, cog,
        wb + (size_t) gi * cog * kh * kw * words, scale + gi * cog,
        bias + gi * cog, relu, part);
    for (size_t p = 0; p < hw; p++)
      memcpy (out + p * cout + gi * cog, part + p * cog, sizeof (float) * cog);
    free (sub.v);
  }
  free (part);
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

/* Same values when exact, else assert_close (tol 1e-6). */
static void
assert_result (const float *got, const float *want, size_t n, int exact,
    const char *what)
{
  if (exact)
    for (size_t i = 0; i < n; i++)
      ck_assert_msg (got[i] == want[i], "%s: element %zu: %g != %g", what, i,
          got[i], want[i]);
  else
    assert_close (got, want, n, 1e-6, what);
}

/* The inputs of a random binary layer, drawn in this order: features
 * (h x w), a model reading them through the expansion to c channels
 * (activation x, exact values in), `rows` rows of random weight bits over
 * `bits_cin` channels and the affine output transform of cout outputs. */
typedef struct {
  float *f;
  TestModel *m;
  Act in;
  int x;
  uint32_t *wb;
  float *scale, *bias;
} BinLayer;

static void
bin_layer_init (BinLayer *b, unsigned h, unsigned w, unsigned c,
    unsigned bits_cin, size_t rows, unsigned cout, int exact)
{
  b->f = make_features (h, w);
  b->m = test_model_new_with_shape (2, h, w);
  b->x = add_expansion (b->m, b->f, h, w, c, &b->in);
  b->wb = random_bits (bits_cin, rows);
  b->scale = malloc (sizeof (float) * cout);
  b->bias = malloc (sizeof (float) * cout);
  random_affine (cout, b->scale, b->bias, exact);
}

/* Frees all but the model (layer_run() frees it). */
static void
bin_layer_clear (BinLayer *b)
{
  free (b->f); free (b->in.v); free (b->wb); free (b->scale); free (b->bias);
}

START_TEST (test_bconv2d)
{
  static const unsigned cins[] = KERNEL_TEST_BINARY_CINS;
  const unsigned n_cins = sizeof cins / sizeof cins[0];
  unsigned done = 0;
  rng = 1000 + (uint32_t) _i;
  while (done < 60) {
    unsigned h = 1 + rnd (8), w = 1 + rnd (8), c = cins[rnd (n_cins)];
    unsigned kh = 1 + rnd (3), kw = 1 + rnd (3), sh = 1 + rnd (2), sw = 1 + rnd (2);
    unsigned ph = rnd (3), pw = rnd (3), cout = 1 + rnd (9);
    int exact = done % 2 == 0, relu = (done / 2) % 2;
    if (h + 2 * ph < kh || w + 2 * pw < kw)
      continue;
    unsigned ho = out_dim (h, kh, sh, ph), wo = out_dim (w, kw, sw, pw);
    size_t k = (size_t) ho * wo * cout;
    if (k < 2 || k > 1024)
      continue;
    BinLayer b;
    bin_layer_init (&b, h, w, c, c, (size_t) kh * kw * cout, cout, exact);
    int y = test_model_bconv2d (b.m, b.x, kh, kw, sh, sw, ph, pw, cout, relu,
        b.wb, b.scale, b.bias);
    ck_assert_int_ge (y, 0);
    float *got = malloc (sizeof (float) * k), *want = malloc (sizeof (float) * k);
    layer_run (b.m, y, b.f, got);
    ref_bconv2d (&b.in, kh, kw, sh, sw, ph, pw, cout, b.wb, b.scale, b.bias,
        relu, want);
    char what[160];
    snprintf (what, sizeof what, "bconv2d in %ux%ux%u k%ux%u s%ux%u p%ux%u cout %u",
        h, w, c, kh, kw, sh, sw, ph, pw, cout);
    assert_result (got, want, k, exact, what);
    bin_layer_clear (&b);
    free (got); free (want);
    done++;
  }
}
END_TEST

/* Grouped binary conv (format version 2) through the API against the
 * per-group reference, and against the engine's own ungrouped bconv2d on
 * slices concatenated (the same integers, so bit-identical). */
START_TEST (test_bconv2d_grouped)
{
  static const unsigned cigs[] = { 1, 7, 32, 33, 40, 64 };
  unsigned done = 0;
  rng = 3000 + (uint32_t) _i;
  while (done < 30) {
    unsigned groups = 2 + rnd (4), cig = cigs[rnd (6)], cin = groups * cig;
    unsigned h = 1 + rnd (6), w = 1 + rnd (6), kh = 1 + rnd (3), kw = 1 + rnd (3);
    unsigned sh = 1 + rnd (2), sw = 1 + rnd (2), ph = rnd (2), pw = rnd (2);
    unsigned cout = groups * (1 + rnd (5));
    int exact = done % 2 == 0, relu = (done / 2) % 2;
    if (h + 2 * ph < kh || w + 2 * pw < kw)
      continue;
    unsigned ho = out_dim (h, kh, sh, ph), wo = out_dim (w, kw, sw, pw);
    size_t k = (size_t) ho * wo * cout;
    if (k < 2 || k > 1024)
      continue;
    BinLayer b;
    bin_layer_init (&b, h, w, cin, cig, (size_t) kh * kw * cout, cout, exact);
    uint32_t *wb = b.wb;
    float *scale = b.scale, *bias = b.bias;
    int y = test_model_bconv2d_grouped (b.m, b.x, kh, kw, sh, sw, ph, pw,
        groups, cout, relu, wb, scale, bias);
    ck_assert_int_ge (y, 0);
    float *got = malloc (sizeof (float) * k), *want = malloc (sizeof (float) * k);
    layer_run (b.m, y, b.f, got);
    ref_bconv2d_grouped (&b.in, kh, kw, sh, sw, ph, pw, groups, cout, wb, scale,
        bias, relu, want);
    char what[160];
    snprintf (what, sizeof what, "bconv2d in %ux%ux%u g%u k%ux%u s%ux%u "
        "p%ux%u cout %u", h, w, cin, groups, kh, kw, sh, sw, ph, pw, cout);
    assert_result (got, want, k, exact, what);

    /* The same layer as slice -> bconv2d per group -> concat. */
    TestModel *m = test_model_new_with_shape (2, h, w);
    Act in2;
    int x = add_expansion (m, b.f, h, w, cin, &in2);
    int parts[8];
    const unsigned cog = cout / groups, words = (cig + 31) / 32;
    for (unsigned gi = 0; gi < groups; gi++) {
      int sl = test_model_slice (m, x, gi * cig, cig);
      ck_assert_int_ge (sl, 0);
      parts[gi] = test_model_bconv2d (m, sl, kh, kw, sh, sw, ph, pw, cog, relu,
          wb + (size_t) gi * cog * kh * kw * words, scale + gi * cog,
          bias + gi * cog);
      ck_assert_int_ge (parts[gi], 0);
    }
    int cat = test_model_concat (m, parts, groups);
    ck_assert_int_ge (cat, 0);
    float *split = malloc (sizeof (float) * k), *want2 = malloc (sizeof (float) * k);
    layer_run (m, cat, b.f, split);
    ref_bconv2d_grouped (&in2, kh, kw, sh, sw, ph, pw, groups, cout, wb, scale,
        bias, relu, want2);
    for (size_t i = 0; i < k; i++)
      ck_assert_msg (split[i] == want2[i], "%s as slices + concat: element "
          "%zu: %g != %g", what, i, split[i], want2[i]);
    bin_layer_clear (&b);
    free (in2.v); free (got); free (want); free (split); free (want2);
    done++;
  }
}
END_TEST

/* concat (1..4 inputs), slice and add with a channel offset: exact copies
 * and sums of the expansion's exact values. */
START_TEST (test_concat_slice_add_at)
{
  rng = 4000;
  for (int iter = 0; iter < 40; iter++) {
    unsigned h = 1 + rnd (5), w = 1 + rnd (5), n = 1 + rnd (4);
    float *f = make_features (h, w);
    TestModel *m = test_model_new_with_shape (2, h, w);
    Act a[4];
    int ids[4];
    unsigned ctot = 0;
    for (unsigned i = 0; i < n; i++) {
      ids[i] = add_expansion (m, f, h, w, 1 + rnd (9), &a[i]);
      ctot += a[i].c;
    }
    int cat = test_model_concat (m, ids, n);
    ck_assert_int_ge (cat, 0);
    const unsigned off = rnd (ctot), cnt = 1 + rnd (ctot - off);
    const int mode = iter % 3;   /* 0 concat, 1 slice of it, 2 add_at */
    int y = cat;
    if (mode == 1)
      y = test_model_slice (m, cat, off, cnt);
    else if (mode == 2)
      y = test_model_add_at (m, cat, ids[n - 1], off < ctot - a[n - 1].c
          ? off : ctot - a[n - 1].c, iter % 2);
    ck_assert_int_ge (y, 0);
    unsigned oh, ow, oc;
    ck_assert_int_eq (test_model_shape (m, y, &oh, &ow, &oc), 0);
    const size_t k = (size_t) oh * ow * oc;
    if (k < 2) {
      test_model_free (m);
      for (unsigned i = 0; i < n; i++)
        free (a[i].v);
      free (f);
      continue;
    }
    float *cv = malloc (sizeof (float) * h * w * ctot);
    for (size_t p = 0; p < (size_t) h * w; p++)
      for (unsigned i = 0, c0 = 0; i < n; c0 += a[i].c, i++)
        memcpy (cv + p * ctot + c0, a[i].v + p * a[i].c, sizeof (float) * a[i].c);
    float *want = malloc (sizeof (float) * k), *got = malloc (sizeof (float) * k);
    for (size_t p = 0; p < (size_t) h * w; p++) {
      if (mode == 1) {
        memcpy (want + p * cnt, cv + p * ctot + off, sizeof (float) * cnt);
        continue;
      }
      memcpy (want + p * ctot, cv + p * ctot, sizeof (float) * ctot);
      if (mode == 2) {
        const unsigned cb = a[n - 1].c, o2 = off < ctot - cb ? off : ctot - cb;
        for (unsigned c = 0; c < cb; c++)
          want[p * ctot + o2 + c] += a[n - 1].v[p * cb + c];
        if (iter % 2)
          for (unsigned c = 0; c < ctot; c++)
            want[p * ctot + c] = want[p * ctot + c] < 0 ? 0.0f : want[p * ctot + c];
      }
    }
    layer_run (m, y, f, got);
    for (size_t i = 0; i < k; i++)
      ck_assert_msg (got[i] == want[i], "mode %d n %u %ux%ux%u: element %zu: "
          "%g != %g", mode, n, h, w, ctot, i, got[i], want[i]);
    for (unsigned i = 0; i < n; i++)
      free (a[i].v);
    free (f); free (cv); free (want); free (got);
  }
}
END_TEST

/* bconv2d followed by add(residual, conv) (+ relu on either): the loader
 * folds the add into the conv's output transform (its output is read by
 * the add alone); the result must be the bits of the conv then the add.
 * Cases with the conv's output read twice (add(conv, conv)) or the
 * residual first/second exercise both the fused and the unfused graph. */
START_TEST (test_bconv2d_residual)
{
  static const unsigned cins[] = KERNEL_TEST_BINARY_CINS;
  const unsigned n_cins = sizeof cins / sizeof cins[0];
  rng = 5150 + (uint32_t) _i;
  for (unsigned done = 0; done < 40; done++) {
    unsigned h = 1 + rnd (7), w = 1 + rnd (7), c = cins[rnd (n_cins)];
    unsigned kh = 1 + 2 * rnd (2), kw = 1 + 2 * rnd (2);
    int conv_relu = rnd (2), add_relu = rnd (2), order = rnd (3);
    if ((size_t) h * w * c > 1024 || h * w * c < 2)
      continue;
    BinLayer b;
    bin_layer_init (&b, h, w, c, c, (size_t) kh * kw * c, c, 1);
    const int x = b.x;
    int y = test_model_bconv2d (b.m, x, kh, kw, 1, 1, kh / 2, kw / 2, c,
        conv_relu, b.wb, b.scale, b.bias);
    ck_assert_int_ge (y, 0);
    /* order 0: add(x, conv); 1: add(conv, x); 2: add(conv, conv). */
    int z = test_model_add (b.m, order == 0 ? x : y, order == 2 ? y : (order ? x : y),
        add_relu);
    ck_assert_int_ge (z, 0);
    const size_t k = (size_t) h * w * c;
    float *got = malloc (sizeof (float) * k), *conv = malloc (sizeof (float) * k);
    layer_run (b.m, z, b.f, got);
    ref_bconv2d (&b.in, kh, kw, 1, 1, kh / 2, kw / 2, c, b.wb, b.scale, b.bias,
        conv_relu, conv);
    for (size_t i = 0; i < k; i++) {
      const float a = order == 2 ? conv[i] : b.in.v[i];
      float v = a + conv[i];
      v = add_relu && v < 0.0f ? 0.0f : v;
      ck_assert_msg (got[i] == v, "bconv2d+add in %ux%ux%u k%ux%u relu %d/%d "
          "order %d: element %zu: %g != %g", h, w, c, kh, kw, conv_relu,
          add_relu, order, i, got[i], v);
    }
    bin_layer_clear (&b);
    free (got); free (conv);
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
    BinLayer b;
    bin_layer_init (&b, h, w, c, cin, cout, cout, exact);
    int y = test_model_bdense (b.m, b.x, cout, relu, b.wb, b.scale, b.bias);
    ck_assert_int_ge (y, 0);
    float got[64], want[64];
    layer_run (b.m, y, b.f, got);
    const unsigned words = (cin + 31) / 32;
    for (unsigned co = 0; co < cout; co++) {
      float acc = 0.0f;
      for (unsigned i = 0; i < cin; i++)
        acc += sgn (b.in.v[i]) * weight_sign (b.wb + (size_t) co * words, i);
      float v = b.scale[co] * acc + b.bias[co];
      want[co] = relu && v < 0.0f ? 0.0f : v;
    }
    char what[64];
    snprintf (what, sizeof what, "bdense cin %u", cin);
    assert_result (got, want, cout, exact, what);
    bin_layer_clear (&b);
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

/* pcen against the spec's formula in double precision (the smoother
 * recursion, E / (eps + M)^alpha via pow), on log-Mel-like inputs and
 * random per-channel parameters. */
START_TEST (test_pcen)
{
  rng = 4100;
  for (int iter = 0; iter < 20; iter++) {
    const unsigned h = 1 + rnd (30), w = 1 + rnd (30);
    if (h * w < 2)
      continue;
    float *f = malloc (sizeof (float) * h * w), *wt = malloc (sizeof (float) * 5 * w);
    for (unsigned i = 0; i < h * w; i++)
      f[i] = -14.0f + 20.0f * (float) rnd (1000) / 1000.0f;
    for (unsigned m = 0; m < w; m++) {
      wt[m] = 0.5f + 0.5f * (float) rnd (1000) / 1000.0f;            /* alpha */
      wt[w + m] = 0.1f + 3.0f * (float) rnd (1000) / 1000.0f;        /* delta */
      wt[2 * w + m] = 0.2f + 0.6f * (float) rnd (1000) / 1000.0f;    /* r */
      wt[3 * w + m] = 0.5f + (float) rnd (1000) / 1000.0f;           /* gain */
      wt[4 * w + m] = -0.5f + (float) rnd (1000) / 1000.0f;          /* offset */
    }
    const float smooth = 0.01f + 0.5f * (float) rnd (1000) / 1000.0f, eps = 1e-6f;
    const float scale = 1.25f, bias = -0.125f;
    TestModel *mdl = test_model_new_with_shape (2, h, w);
    int y = test_model_pcen (mdl, 0, smooth, eps, wt, scale, bias);
    ck_assert_int_ge (y, 0);
    float *got = malloc (sizeof (float) * h * w);
    layer_run (mdl, y, f, got);
    double *sm = malloc (sizeof (double) * w);
    for (unsigned t = 0; t < h; t++)
      for (unsigned m = 0; m < w; m++) {
        const double e = exp ((double) f[t * w + m]);
        sm[m] = t == 0 ? e : (1.0 - smooth) * sm[m] + smooth * e;
        const double delta = wt[w + m], r = wt[2 * w + m];
        const double yv = pow (e / pow (eps + sm[m], wt[m]) + delta, r) - pow (delta, r);
        const double want = scale * (wt[3 * w + m] * yv + wt[4 * w + m]) + bias;
        const float g = got[t * w + m];
        ck_assert_msg (fabs (g - want) <= 2e-5 * (fabs (want) + 1.0),
            "pcen %ux%u s=%g (%u,%u): engine %.9g reference %.9g", h, w,
            smooth, t, m, g, want);
      }
    free (sm); free (got); free (f); free (wt);
  }
}
END_TEST

/* noise_floor against a sort: the floor of each column is its (rank+1)-th
 * smallest value, with ties (values drawn from a coarse grid) and both
 * activations, at most 1024 values (layer_run); the result is exact (one
 * float subtraction). */
static int
cmp_float (const void *a, const void *b)
{
  const float x = *(const float *) a, y = *(const float *) b;
  return (x > y) - (x < y);
}

START_TEST (test_noise_floor)
{
  rng = 4200;
  for (int iter = 0; iter < 40; iter++) {
    const unsigned h = 2 + rnd (90), w = 2 + rnd (1024 / h - 2), rank = rnd (h);
    const int relu = iter % 2, grid = iter % 3 == 0 ? 7 : 100000;
    float *f = malloc (sizeof (float) * h * w), *col = malloc (sizeof (float) * h);
    for (unsigned i = 0; i < h * w; i++)
      f[i] = -4.0f + 8.0f * (float) rnd (grid) / (float) grid;
    TestModel *mdl = test_model_new_with_shape (2, h, w);
    int y = test_model_noise_floor (mdl, 0, rank, relu);
    ck_assert_int_ge (y, 0);
    float *got = malloc (sizeof (float) * h * w);
    layer_run (mdl, y, f, got);
    for (unsigned m = 0; m < w; m++) {
      for (unsigned t = 0; t < h; t++)
        col[t] = f[t * w + m];
      qsort (col, h, sizeof (float), cmp_float);
      for (unsigned t = 0; t < h; t++) {
        float want = f[t * w + m] - col[rank];
        if (relu && want < 0.0f)
          want = 0.0f;
        ck_assert_msg (got[t * w + m] == want,
            "noise_floor %ux%u rank %u (%u,%u): engine %.9g want %.9g", h, w,
            rank, t, m, got[t * w + m], want);
      }
    }
    free (got); free (col); free (f);
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

/* ---- kernel sets directly -------------------------------------------
 * Every set (engine/kernels.h) through the shared drivers on prepared
 * weights: binary results must equal the reference exactly, float ones the
 * portable set within float rounding.  A set that is not compiled in or not
 * supported by this CPU prints SKIPPED (and, run alone through
 * BEENET_TEST_KERNEL_SET, exits 77, which meson reports as SKIP). */

#if defined(BEENET_TEST_AVX512_EMULATED)
/* engine/kernels-avx512.c built on tests/engine/avx512-emu.h. */
extern const BeenetKernels beenet_kernels_avx512_emulated;
static const char *const kernel_names[] = { "portable", "avx2", "avx512",
  "neon", "avx512-emulated" };
#else
static const char *const kernel_names[] = { "portable", "avx2", "avx512",
  "neon" };
#endif

static const BeenetKernels *
lookup_set (const char *name)
{
#if defined(BEENET_TEST_AVX512_EMULATED)
  if (strcmp (name, beenet_kernels_avx512_emulated.name) == 0)
    return &beenet_kernels_avx512_emulated;
#endif
  return beenet_kernels_get (name);
}

static const BeenetKernels *
kernels_or_skip (const char *name)
{
  const BeenetKernels *k = lookup_set (name);
  if (!k)
    printf ("SKIPPED: kernel set '%s' %s\n", name,
        beenet_kernels_compiled (name) ? "is not supported by this CPU"
        : "is not compiled into this build");
  fflush (stdout);
  return k;
}

/* Random geometry (kernel-shapes.h); channel counts around multiples of
 * 32 / 16 and odd padding and strides, including padding >= kernel (empty
 * windows). */
static BeenetConvGeom
random_geom (int binary)
{
  static const unsigned cins[] = { 1, 3, 7, 31, 32, 33, 64, 96, 100, 128,
    130, 160, 256, 257, 513 };
  return kernel_test_random_geom (rnd, cins, sizeof cins / sizeof cins[0],
      10, binary, 4000000);
}

static uint32_t *
prepared_u32 (size_t n)
{
  return aligned_alloc (64, (n * 4 + 63) / 64 * 64 + 64);
}

static float *
prepared_f32 (size_t n)
{
  return aligned_alloc (64, (n * 4 + 63) / 64 * 64 + 64);
}

/* Every other case with a fused residual of n values (dyadic, so the sum
 * is exact): r's values are malloc'd; NULL or r. */
static const BeenetResidual *
random_residual (BeenetResidual *r, size_t n)
{
  float *rv = malloc (sizeof (float) * (n + 1));
  for (size_t i = 0; i < n; i++)
    rv[i] = 0.25f * (float) ((int) rnd (41) - 20);
  r->res = rv;
  r->relu = rnd (2);
  return rnd (2) ? r : NULL;
}

/* want += res (+ relu) when res is not NULL. */
static void
add_residual (const BeenetResidual *res, float *want, size_t n)
{
  for (size_t i = 0; res && i < n; i++) {
    want[i] = res->res[i] + want[i];
    want[i] = res->relu && want[i] < 0.0f ? 0.0f : want[i];
  }
}

static void
check_bconv2d_set (const BeenetKernels *k, const BeenetConvGeom *g,
    const Act *in)
{
  uint32_t *bits = malloc (sizeof (uint32_t) * g->h * g->w * g->words);
  k->pack_signs (in->v, (size_t) g->h * g->w, g->c, bits);
  for (size_t p = 0; p < (size_t) g->h * g->w; p++)
    for (unsigned ci = 0; ci < g->words * 32; ci++) {
      unsigned bit = (bits[p * g->words + ci / 32] >> (ci % 32)) & 1u;
      unsigned want = ci < g->c ? in->v[p * g->c + ci] < 0.0f : 0;
      ck_assert_msg (bit == want, "%s pack_signs c %u pixel %zu bit %u",
          k->name, g->c, p, ci);
    }
  uint32_t *wb = random_bits (g->c, (size_t) g->kh * g->kw * g->cout);
  uint32_t *prep = prepared_u32 (beenet_bconv2d_prepared_size (g));
  beenet_bconv2d_prepare (g, wb, prep);
  float *scale = malloc (sizeof (float) * g->cout), *bias = malloc (sizeof (float) * g->cout);
  random_affine (g->cout, scale, bias, rnd (2));
  const size_t n = (size_t) g->ho * g->wo * g->cout;
  float *got = malloc (sizeof (float) * n), *want = malloc (sizeof (float) * n);
  BeenetResidual r;
  const BeenetResidual *res = random_residual (&r, n);
  beenet_bconv2d (k, g, bits, prep, scale, bias, res, got);
  ref_bconv2d (in, g->kh, g->kw, g->sh, g->sw, g->ph, g->pw, g->cout, wb,
      scale, bias, g->relu, want);
  add_residual (res, want, n);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg (got[i] == want[i], "%s bconv2d%s %ux%ux%u k%ux%u s%ux%u "
        "p%ux%u cout %u: %zu: %g vs %g", k->name, res ? "+add" : "", g->h,
        g->w, g->c, g->kh, g->kw, g->sh, g->sw, g->ph, g->pw, g->cout, i,
        got[i], want[i]);
  free ((float *) r.res);
  free (bits); free (wb); free (prep); free (scale); free (bias);
  free (got); free (want);
}

static void
check_bdense_set (const BeenetKernels *k, const Act *in, unsigned cout)
{
  const unsigned cin = in->h * in->w * in->c, words = (cin + 31) / 32;
  uint32_t *fb = malloc (sizeof (uint32_t) * words);
  k->pack_signs (in->v, 1, cin, fb);
  uint32_t *dw = random_bits (cin, cout);
  uint32_t *prep = prepared_u32 (beenet_bdense_prepared_size (cin, cout));
  beenet_bdense_prepare (cin, cout, dw, prep);
  float *scale = malloc (sizeof (float) * cout), *bias = malloc (sizeof (float) * cout);
  float *got = malloc (sizeof (float) * cout);
  random_affine (cout, scale, bias, 0);
  const int relu = rnd (2);
  beenet_bdense (k, cin, cout, fb, prep, scale, bias, relu, got);
  for (unsigned co = 0; co < cout; co++) {
    float acc = 0.0f;
    for (unsigned i = 0; i < cin; i++)
      acc += sgn (in->v[i]) * weight_sign (dw + (size_t) co * words, i);
    float v = scale[co] * acc + bias[co];
    v = relu && v < 0 ? 0.0f : v;
    ck_assert_msg (got[co] == v, "%s bdense cin %u cout %u: %u: %g vs %g",
        k->name, cin, cout, co, got[co], v);
  }
  free (fb); free (dw); free (prep); free (scale); free (bias); free (got);
}

/* A grouped bconv2d through one set's driver, input packed group-major as
 * ops.c does, against the per-group reference. */
static void
check_bconv2d_grouped_set (const BeenetKernels *k, BeenetConvGeom g,
    const Act *in0)
{
  g.groups = 2 + rnd (3);
  const unsigned cig = 1 + rnd (70);
  g.c = g.groups * cig;
  g.cout = g.groups * (1 + rnd (20));
  g.words = (cig + 31) / 32;
  Act in = { g.h, g.w, g.c, malloc (sizeof (float) * g.h * g.w * g.c) };
  for (size_t i = 0; i < (size_t) g.h * g.w * g.c; i++)
    in.v[i] = in0->v[i % ((size_t) in0->h * in0->w * in0->c)];
  const size_t hw = (size_t) g.h * g.w;
  uint32_t *bits = malloc (sizeof (uint32_t) * hw * g.groups * g.words);
  for (unsigned gi = 0; gi < g.groups; gi++)
    for (size_t p = 0; p < hw; p++)
      k->pack_signs (in.v + p * g.c + gi * cig, 1, cig,
          bits + (gi * hw + p) * g.words);
  uint32_t *wb = random_bits (cig, (size_t) g.kh * g.kw * g.cout);
  uint32_t *prep = prepared_u32 (beenet_bconv2d_prepared_size (&g));
  beenet_bconv2d_prepare (&g, wb, prep);
  float *scale = malloc (sizeof (float) * g.cout), *bias = malloc (sizeof (float) * g.cout);
  random_affine (g.cout, scale, bias, rnd (2));
  const size_t n = (size_t) g.ho * g.wo * g.cout;
  float *got = malloc (sizeof (float) * n), *want = malloc (sizeof (float) * n);
  /* each group's outputs must meet their own residual channels */
  BeenetResidual r;
  const BeenetResidual *res = random_residual (&r, n);
  beenet_bconv2d (k, &g, bits, prep, scale, bias, res, got);
  ref_bconv2d_grouped (&in, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.groups,
      g.cout, wb, scale, bias, g.relu, want);
  add_residual (res, want, n);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg (got[i] == want[i], "%s bconv2d%s %ux%ux%u g%u k%ux%u "
        "s%ux%u p%ux%u cout %u: %zu: %g vs %g", k->name, res ? "+add" : "",
        g.h, g.w, g.c, g.groups, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.cout,
        i, got[i], want[i]);
  free (in.v); free (bits); free (wb); free (prep); free (scale); free (bias);
  free (got); free (want); free ((float *) r.res);
}

/* Every binary op of set k against the reference: the shipped networks'
 * layer shapes, then random geometries (borders, strides, empty windows,
 * channel counts off the 32-bit word and 16-lane block edges). */
static void
check_binary_set (const BeenetKernels *k)
{
  rng = 9000;
  /* The shipped networks' layer shapes (3x3, stride 1, same padding). */
  static const unsigned shapes[][4] = KERNEL_TEST_MODEL_SHAPES;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    BeenetConvGeom g = { .h = shapes[s][0], .w = shapes[s][1],
      .c = shapes[s][2], .cout = shapes[s][3], .kh = 3, .kw = 3, .sh = 1,
      .sw = 1, .ph = 1, .pw = 1, .groups = 1, .relu = s % 2 };
    g.ho = g.h;
    g.wo = g.w;
    g.words = (g.c + 31) / 32;
    Act in = { g.h, g.w, g.c, malloc (sizeof (float) * g.h * g.w * g.c) };
    for (size_t i = 0; i < (size_t) g.h * g.w * g.c; i++)
      in.v[i] = (float) ((int) rnd (5) - 2);
    check_bconv2d_set (k, &g, &in);
    free (in.v);
  }
  for (int iter = 0; iter < 150; iter++) {
    BeenetConvGeom g = random_geom (1);
    Act in = { g.h, g.w, g.c, malloc (sizeof (float) * g.h * g.w * g.c) };
    for (size_t i = 0; i < (size_t) g.h * g.w * g.c; i++)
      in.v[i] = (float) ((int) rnd (5) - 2);     /* includes exact zeros */
    check_bconv2d_set (k, &g, &in);
    if (iter % 5 == 0)
      check_bconv2d_grouped_set (k, g, &in);
    check_bdense_set (k, &in, 1 + rnd (40));
    free (in.v);
  }
}

START_TEST (test_kernel_set_binary)
{
  const BeenetKernels *k = kernels_or_skip (kernel_names[_i]);
  if (!k)
    return;
  ck_assert_str_eq (k->name, kernel_names[_i]);
  /* The avx512 sets convolve through their fused tile micro-kernel
   * (bconv_tiles); this test is what checks it. */
  if (strncmp (k->name, "avx512", 6) == 0)
    ck_assert_msg (k->bconv_tiles != NULL, "%s: no bconv_tiles", k->name);
  check_binary_set (k);
  /* A set with bconv_tiles keeps its per-pixel path (bdot_px / bdot +
   * bfinish, what the driver uses without it) bit-exact too. */
  if (k->bconv_tiles) {
    BeenetKernels no_tile = *k;
    no_tile.bconv_tiles = NULL;
    check_binary_set (&no_tile);
  }
}
END_TEST

/* |a - b| <= tol * (|b| + 1), a float kernel against the portable one. */
static void
assert_set_close (const BeenetKernels *k, const float *got,
    const float *want, size_t n, const char *what)
{
  char msg[200];
  snprintf (msg, sizeof msg, "%s %s", k->name, what);
  assert_close (got, want, n, 1e-5, msg);
}

static void
check_conv2d_set (const BeenetKernels *k, const BeenetKernels *ref,
    BeenetConvGeom *g, unsigned mode)
{
  kernel_test_conv_mode (rnd, g, mode);
  const unsigned cig = g->c / g->groups;
  const size_t nin = (size_t) g->h * g->w * g->c;
  const size_t nw = (size_t) g->cout * g->kh * g->kw * cig;
  const size_t n = (size_t) g->ho * g->wo * g->cout;
  float *in = malloc (sizeof (float) * nin), *wt = malloc (sizeof (float) * nw);
  for (size_t i = 0; i < nin; i++)
    in[i] = test_rand_float (&rng);
  for (size_t i = 0; i < nw; i++)
    wt[i] = test_rand_float (&rng);
  float *prep = prepared_f32 (beenet_conv2d_prepared_size (g));
  beenet_conv2d_prepare (g, wt, prep);
  float *scale = malloc (sizeof (float) * g->cout), *bias = malloc (sizeof (float) * g->cout);
  random_affine (g->cout, scale, bias, 0);
  float *got = malloc (sizeof (float) * n), *want = malloc (sizeof (float) * n);
  beenet_conv2d (k, g, in, prep, scale, bias, got);
  beenet_conv2d (ref, g, in, prep, scale, bias, want);
  char what[160];
  snprintf (what, sizeof what, "conv2d %ux%ux%u g%u k%ux%u s%ux%u p%ux%u "
      "cout %u", g->h, g->w, g->c, g->groups, g->kh, g->kw, g->sh, g->sw,
      g->ph, g->pw, g->cout);
  assert_set_close (k, got, want, n, what);
  free (in); free (wt); free (prep); free (scale); free (bias);
  free (got); free (want);
}

static void
check_dense_set (const BeenetKernels *k, const BeenetKernels *ref,
    unsigned cin, unsigned cout)
{
  float *in = malloc (sizeof (float) * cin), *wt = malloc (sizeof (float) * cin * cout);
  for (unsigned i = 0; i < cin; i++)
    in[i] = test_rand_float (&rng);
  for (size_t i = 0; i < (size_t) cin * cout; i++)
    wt[i] = test_rand_float (&rng);
  float *prep = prepared_f32 (beenet_dense_prepared_size (cin, cout));
  beenet_dense_prepare (cin, cout, wt, prep);
  float *scale = malloc (sizeof (float) * cout), *bias = malloc (sizeof (float) * cout);
  random_affine (cout, scale, bias, 0);
  float *got = malloc (sizeof (float) * cout), *want = malloc (sizeof (float) * cout);
  const int relu = rnd (2);
  beenet_dense (k, cin, cout, in, prep, scale, bias, relu, got);
  beenet_dense (ref, cin, cout, in, prep, scale, bias, relu, want);
  char what[64];
  snprintf (what, sizeof what, "dense %u -> %u", cin, cout);
  assert_set_close (k, got, want, cout, what);
  free (in); free (wt); free (prep); free (scale); free (bias);
  free (got); free (want);
}

START_TEST (test_kernel_set_float)
{
  const BeenetKernels *k = kernels_or_skip (kernel_names[_i]);
  if (!k)
    return;
  const BeenetKernels *ref = beenet_kernels_get ("portable");
  rng = 9100;
  for (int iter = 0; iter < 150; iter++) {
    BeenetConvGeom g = random_geom (0);
    check_conv2d_set (k, ref, &g, (unsigned) iter % 3);
    check_dense_set (k, ref, 1 + rnd (300), 1 + rnd (70));
  }
  /* Stem-like convs (one input channel, cout dividing 16 or whole
   * vectors): the avx512 sets take them through fconv1; this is what
   * checks it. */
  if (strncmp (k->name, "avx512", 6) == 0)
    ck_assert_msg (k->fconv1 != NULL, "%s: no fconv1", k->name);
  static const unsigned couts[] = { 1, 2, 4, 8, 16, 32, 48, 64 };
  int fitted = 0;
  for (int iter = 0; iter < 192; iter++) {
    BeenetConvGeom g = random_geom (0);
    g.c = 1;
    g.h = 1 + rnd (70);
    g.w = 1 + rnd (70);
    g.cout = couts[iter % 8];
    if (g.h + 2 * g.ph < g.kh || g.w + 2 * g.pw < g.kw)
      continue;
    g.ho = (g.h + 2 * g.ph - g.kh) / g.sh + 1;
    g.wo = (g.w + 2 * g.pw - g.kw) / g.sw + 1;
    fitted += beenet_fconv1_fits (&g);
    check_conv2d_set (k, ref, &g, 0);
  }
  /* The stem itself (98x64 log-Mel, 8 channels, stride 2). */
  BeenetConvGeom stem = { 98, 64, 1, 49, 32, 8, 3, 3, 2, 2, 1, 1, 1, 0, true };
  ck_assert (beenet_fconv1_fits (&stem));
  check_conv2d_set (k, ref, &stem, 0);
  /* The default model's since v9 (32 channels: two vectors a pixel). */
  stem.cout = 32;
  ck_assert (beenet_fconv1_fits (&stem));
  check_conv2d_set (k, ref, &stem, 0);
  /* Not whole vectors, or more than BEENET_FCONV1_MAX_BLOCKS: the driver's
   * general path. */
  stem.cout = 24;
  ck_assert (!beenet_fconv1_fits (&stem));
  stem.cout = 16 * (BEENET_FCONV1_MAX_BLOCKS + 1);
  ck_assert (!beenet_fconv1_fits (&stem));
  ck_assert_int_gt (fitted, 64);
}
END_TEST

/* Same bits, NaN matching any NaN (payloads are not part of the
 * contract); -0.0 and +0.0 differ. */
static void
assert_same_bits (const BeenetKernels *k, const float *got, const float *want,
    size_t n, const char *what)
{
  for (size_t i = 0; i < n; i++) {
    if (isnan (got[i]) && isnan (want[i]))
      continue;
    uint32_t g, w;
    memcpy (&g, &got[i], sizeof g);
    memcpy (&w, &want[i], sizeof w);
    ck_assert_msg (g == w, "%s %s: element %zu: got %.9g (0x%08x) want %.9g "
        "(0x%08x)", k->name, what, i, got[i], g, want[i], w);
  }
}

static float
mixed_float (void)
{
  static const float special[] = { 0.0f, -0.0f, INFINITY, -INFINITY, NAN,
    -NAN, 1e-40f, -1e-40f };
  return rnd (5) ? test_rand_float (&rng) * 37.0f
      : special[rnd (sizeof special / sizeof special[0])];
}

/* add (+relu) and global average pool of every set: identical bits to the
 * portable set on random lengths (vector tails), -0.0, inf and NaN. */
START_TEST (test_kernel_set_add_gap)
{
  const BeenetKernels *k = kernels_or_skip (kernel_names[_i]);
  if (!k)
    return;
  const BeenetKernels *ref = beenet_kernels_get ("portable");
  rng = 9200;
  for (int iter = 0; iter < 300; iter++) {
    const size_t n = rnd (iter % 4 ? 80 : 1100);
    const bool relu = rnd (2);
    float *a = malloc (sizeof (float) * (n + 1)), *b = malloc (sizeof (float) * (n + 1));
    float *got = malloc (sizeof (float) * (n + 1)), *want = malloc (sizeof (float) * (n + 1));
    for (size_t i = 0; i < n; i++) {
      a[i] = mixed_float ();
      b[i] = rnd (6) ? mixed_float () : -a[i];
    }
    k->add (a, b, n, relu, got);
    ref->add (a, b, n, relu, want);
    assert_same_bits (k, got, want, n, relu ? "add+relu" : "add");
    for (size_t i = 0; i < n; i++) {
      const float v = a[i] + b[i];
      want[i] = relu && v < 0.0f ? 0.0f : v;
    }
    assert_same_bits (k, got, want, n, "add (vs naive)");
    free (a); free (b); free (got); free (want);

    const size_t hw = 1 + rnd (iter % 3 ? 16 : 70);
    const uint32_t c = 1 + rnd (iter % 2 ? 40 : 260);
    float *in = malloc (sizeof (float) * hw * c);
    float *go = malloc (sizeof (float) * c), *wo = malloc (sizeof (float) * c);
    for (size_t i = 0; i < hw * c; i++)
      in[i] = iter % 4 ? test_rand_float (&rng) * 37.0f : mixed_float ();
    k->gap (in, hw, c, 1.0f / (float) hw, go);
    ref->gap (in, hw, c, 1.0f / (float) hw, wo);
    assert_same_bits (k, go, wo, c, "gap");
    free (in); free (go); free (wo);
  }
}
END_TEST

/* beenet_all_finite (block-wise bit test) against isfinite() per element,
 * one non-finite value at every position of short arrays and at random
 * positions of long ones. */
START_TEST (test_all_finite)
{
  static const float bad[] = { INFINITY, -INFINITY, NAN, -NAN };
  static const float good[] = { 0.0f, -0.0f, 1e-40f, -1e-40f, 3.4e38f,
    -3.4e38f, 1.0f };
  float v[300] = { 0.0f };
  rng = 9300;
  for (size_t n = 0; n <= 300; n += 1 + (n > 140) * rnd (9)) {
    for (size_t i = 0; i < n; i++)
      v[i] = good[rnd (sizeof good / sizeof good[0])];
    ck_assert (beenet_all_finite (v, n));
    const size_t first = n > 140 ? rnd ((unsigned) n) : 0;
    for (size_t i = first; i < n; i += n > 140 ? n : 1) {
      const float keep = v[i];
      v[i] = bad[rnd (sizeof bad / sizeof bad[0])];
      ck_assert_msg (!beenet_all_finite (v, n), "n %zu bad at %zu", n, i);
      /* Only the first n elements count. */
      ck_assert (i == 0 || beenet_all_finite (v, i));
      v[i] = keep;
    }
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
  tcase_add_loop_test (tc, test_bconv2d_residual, 0, 2);
  tcase_add_loop_test (tc, test_bconv2d_grouped, 0, 2);
  tcase_add_test (tc, test_concat_slice_add_at);
  tcase_add_test (tc, test_pcen);
  tcase_add_test (tc, test_noise_floor);
  tcase_add_test (tc, test_bdense);
  tcase_add_test (tc, test_conv2d);
  tcase_add_test (tc, test_pools);
  tcase_add_test (tc, test_add_gap_dense);
  tcase_add_loop_test (tc, test_kernel_set_binary, 0,
      (int) (sizeof kernel_names / sizeof kernel_names[0]));
  tcase_add_loop_test (tc, test_kernel_set_float, 0,
      (int) (sizeof kernel_names / sizeof kernel_names[0]));
  tcase_add_loop_test (tc, test_kernel_set_add_gap, 0,
      (int) (sizeof kernel_names / sizeof kernel_names[0]));
  tcase_add_test (tc, test_kernel_name);
  tcase_add_test (tc, test_all_finite);
  suite_add_tcase (s, tc);
  return s;
}

/* Only the direct comparisons of one kernel set (index i). */
static Suite *
kernel_set_suite (int i)
{
  Suite *s = suite_create (kernel_names[i]);
  TCase *tc = tcase_create ("set");
  tcase_set_timeout (tc, 300);
  tcase_add_loop_test (tc, test_kernel_set_binary, i, i + 1);
  tcase_add_loop_test (tc, test_kernel_set_float, i, i + 1);
  tcase_add_loop_test (tc, test_kernel_set_add_gap, i, i + 1);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  /* BEENET_TEST_KERNEL_SET=<name>: test that set alone; exit 77 (meson's
   * SKIP) when it is not compiled in or this CPU lacks it. */
  const char *only = getenv ("BEENET_TEST_KERNEL_SET");
  Suite *suite = NULL;
  if (only && *only) {
    for (int i = 0; i < (int) (sizeof kernel_names / sizeof kernel_names[0]); i++)
      if (strcmp (kernel_names[i], only) == 0)
        suite = kernel_set_suite (i);
    if (!suite) {
      printf ("unknown kernel set '%s'\n", only);
      return EXIT_FAILURE;
    }
    if (!kernels_or_skip (only))
      return 77;
  } else {
    suite = kernels_suite ();
  }
  return check_run_suite (suite);
}
