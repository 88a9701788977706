/* Sessions: softmax/entropy/argmax against hand values, early-exit depth
 * for both policies around their thresholds, operation counts and
 * fractions, normalisation, non-finite inputs, argument checks, and
 * concurrent sessions sharing one model. */
#include "beenet.h"
#include "check-main.h"
#include "model-private.h"
#include "test-layers.h"
#include "test-models.h"

#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K 4
static const float LOGITS[3 * K] = {
  0.0f, 0.0f, 0.0f, 0.0f,      /* exit 1: uniform, H = ln 4 */
  5.0f, 0.0f, 0.0f, 0.0f,      /* exit 2: class 0 */
  0.0f, 0.0f, 9.0f, 0.0f,      /* exit 3: class 2 */
};

typedef struct {
  BeenetModel *model;
  BeenetSession *session;
  float *features;             /* zeros: any input gives the same logits */
} Fixture;

static Fixture
fixture (const float *logits, unsigned n_exits, unsigned n_classes)
{
  Fixture f;
  size_t size;
  BeenetError err;
  uint8_t *b = test_models_constant_exits (n_exits, n_classes, logits, &size);
  ck_assert_ptr_nonnull (b);
  ck_assert_int_eq (beenet_model_load_memory (b, size, &f.model, &err), BEENET_OK);
  free (b);
  ck_assert_int_eq (beenet_session_new (f.model, &f.session, &err), BEENET_OK);
  f.features = calloc (98 * 64, sizeof (float));
  return f;
}

static void
fixture_free (Fixture *f)
{
  beenet_session_free (f->session);
  beenet_model_unref (f->model);
  free (f->features);
}

/* Reference softmax + entropy in double, straight from the definitions. */
static void
ref_softmax (const float *l, unsigned n, double *p, double *h)
{
  double m = l[0], s = 0.0;
  for (unsigned k = 1; k < n; k++)
    m = fmax (m, l[k]);
  for (unsigned k = 0; k < n; k++)
    s += exp (l[k] - m);
  *h = 0.0;
  for (unsigned k = 0; k < n; k++) {
    p[k] = exp (l[k] - m) / s;
    if (p[k] > 0.0)
      *h -= p[k] * log (p[k]);
  }
}

static BeenetResult
classify (Fixture *f, BeenetPolicy policy, float threshold)
{
  BeenetResult r;
  BeenetError err;
  memset (&r, 0, sizeof r);
  ck_assert_msg (beenet_session_classify_features (f->session, f->features,
          policy, threshold, &r, &err) == BEENET_OK, "%s", err.message);
  return r;
}

START_TEST (test_exit_values)
{
  Fixture f = fixture (LOGITS, 3, K);
  double p[3][K], h[3];
  for (int e = 0; e < 3; e++)
    ref_softmax (LOGITS + e * K, K, p[e], &h[e]);
  ck_assert_double_eq_tol (h[0], log (4.0), 1e-12);   /* hand value */

  /* Threshold 0 never stops early: the last exit always reports. */
  BeenetResult r = classify (&f, BEENET_POLICY_ENTROPY, 0.0f);
  ck_assert_uint_eq (r.exit_index, 3);
  ck_assert_uint_eq (r.num_exits, 3);
  ck_assert_uint_eq (r.num_classes, K);
  ck_assert_uint_eq (r.class_index, 2);
  ck_assert_str_eq (r.label, "class2");
  ck_assert_double_eq_tol (r.entropy, h[2], 1e-6);
  ck_assert_double_eq_tol (r.confidence, p[2][2], 1e-6);
  double sum = 0.0;
  for (int k = 0; k < K; k++) {
    ck_assert_double_eq_tol (r.probabilities[k], p[2][k], 1e-7);
    sum += r.probabilities[k];
  }
  ck_assert_double_eq_tol (sum, 1.0, 1e-6);
  ck_assert_double_eq_tol (r.ops_fraction, 1.0, 1e-12);
  ck_assert_double_eq_tol (r.bops_fraction, 1.0, 1e-12);
  ck_assert_double_eq_tol (r.flops_fraction, 1.0, 1e-12);

  /* Uniform exit 1: argmax ties resolve to the lowest class. */
  r = classify (&f, BEENET_POLICY_ENTROPY, 10.0f);
  ck_assert_uint_eq (r.exit_index, 1);
  ck_assert_uint_eq (r.class_index, 0);
  ck_assert_double_eq_tol (r.entropy, log (4.0), 1e-6);
  ck_assert_double_eq_tol (r.confidence, 0.25, 1e-7);

  /* run_all_exits returns every exit's logits bit for bit. */
  float all[3 * K];
  BeenetError err;
  ck_assert_int_eq (beenet_session_run_all_exits (f.session, f.features, all,
          &err), BEENET_OK);
  ck_assert_mem_eq (all, LOGITS, sizeof all);
  fixture_free (&f);
}
END_TEST

START_TEST (test_entropy_policy)
{
  Fixture f = fixture (LOGITS, 3, K);
  double p[K], h1, h2, h3;
  ref_softmax (LOGITS, K, p, &h1);
  ref_softmax (LOGITS + K, K, p, &h2);
  ref_softmax (LOGITS + 2 * K, K, p, &h3);
  ck_assert (h3 < h2 && h2 < h1);
  struct { float th; unsigned exit; } cases[] = {
    { (float) h1 * 1.001f, 1 },    /* just above H1: stop at exit 1 */
    { 100.0f, 1 },
    { (float) h1 * 0.999f, 2 },    /* just below H1: exit 1 does not stop */
    { (float) h2 * 1.01f, 2 },
    { (float) h2 * 0.99f, 3 },
    { (float) h3 * 1.01f, 3 },     /* exit 3 stops (and is last anyway) */
    { 0.0f, 3 },
    { -1.0f, 3 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    BeenetResult r = classify (&f, BEENET_POLICY_ENTROPY, cases[i].th);
    ck_assert_msg (r.exit_index == cases[i].exit, "threshold %g: exit %u, want %u",
        cases[i].th, r.exit_index, cases[i].exit);
  }
  /* Strictly below: a threshold equal to the reported entropy does not
   * stop there. */
  BeenetResult r1 = classify (&f, BEENET_POLICY_ENTROPY, 100.0f);
  BeenetResult r = classify (&f, BEENET_POLICY_ENTROPY, r1.entropy);
  ck_assert_uint_eq (r.exit_index, 2);
  fixture_free (&f);
}
END_TEST

START_TEST (test_max_probability_policy)
{
  Fixture f = fixture (LOGITS, 3, K);
  double p2[K], p3[K], h;
  ref_softmax (LOGITS + K, K, p2, &h);
  ref_softmax (LOGITS + 2 * K, K, p3, &h);
  struct { float th; unsigned exit; } cases[] = {
    { 0.0f, 1 }, { 0.25f, 1 },     /* >= : exactly 0.25 stops at exit 1 */
    { 0.2501f, 2 }, { (float) p2[0] * 0.999f, 2 },
    { (float) p2[0] * 1.0001f, 3 }, { 1.0f, 3 }, { 2.0f, 3 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    BeenetResult r = classify (&f, BEENET_POLICY_MAX_PROBABILITY, cases[i].th);
    ck_assert_msg (r.exit_index == cases[i].exit, "threshold %g: exit %u, want %u",
        cases[i].th, r.exit_index, cases[i].exit);
    ck_assert_float_eq (r.confidence, r.probabilities[r.class_index]);
  }
  BeenetResult r = classify (&f, BEENET_POLICY_MAX_PROBABILITY, 0.9f);
  ck_assert_uint_eq (r.exit_index, 2);
  ck_assert_uint_eq (r.class_index, 0);
  ck_assert_double_eq_tol (r.confidence, p2[0], 1e-6);
  fixture_free (&f);
}
END_TEST

START_TEST (test_op_fractions)
{
  Fixture f = fixture (LOGITS, 3, K);
  /* Spec formulas for the constant-exits graph (see test-models.h):
   * conv2d 3x3/2 1->8 -> 49x32x8; head = global_avgpool + dense 8->4 +
   * exit; bconv2d 3x3 8->8 before exits 2 and 3. */
  const uint64_t hw = 49 * 32;
  const uint64_t conv = hw * 8 * 9 + 2 * hw * 8;
  const uint64_t head = hw * 8 + 8 * K + 2 * K + 3 * K;
  const uint64_t bb = hw * 8 * 9 * 8, bf = 2 * hw * 8;
  const uint64_t exe_b[3] = { 0, bb, 2 * bb };
  const uint64_t exe_f[3] = { conv + head, conv + head + bf + head,
    conv + 3 * head + 2 * bf };
  const double total = (double) exe_f[2] + (double) exe_b[2] / 64.0;
  const float th[3] = { 10.0f, 1.0f, 0.0f };   /* -> exits 1, 2, 3 */
  double prev = 0.0;
  for (int e = 0; e < 3; e++) {
    BeenetResult r = classify (&f, BEENET_POLICY_ENTROPY, th[e]);
    ck_assert_uint_eq (r.exit_index, e + 1);
    ck_assert_uint_eq (r.bops_executed, exe_b[e]);
    ck_assert_uint_eq (r.flops_executed, exe_f[e]);
    ck_assert_double_eq_tol (r.bops_fraction, (double) exe_b[e] / exe_b[2], 1e-12);
    ck_assert_double_eq_tol (r.flops_fraction, (double) exe_f[e] / exe_f[2], 1e-12);
    const double ops = ((double) exe_f[e] + (double) exe_b[e] / 64.0) / total;
    ck_assert_double_eq_tol (r.ops_fraction, ops, 1e-12);
    ck_assert (r.ops_fraction > prev);   /* grows with depth */
    prev = r.ops_fraction;
  }
  ck_assert_uint_eq (beenet_model_total_bops (f.model), exe_b[2]);
  ck_assert_uint_eq (beenet_model_total_flops (f.model), exe_f[2]);
  fixture_free (&f);
}
END_TEST

START_TEST (test_softmax_extremes)
{
  /* Huge logits must not overflow; underflowing probabilities give
   * 0 ln 0 = 0 in the entropy. */
  const float l[2 * K] = {
    1000.0f, 0.0f, -1000.0f, 999.0f,
    0.0f, -1000.0f, -1000.0f, -1000.0f,
  };
  Fixture f = fixture (l, 2, K);
  BeenetResult r = classify (&f, BEENET_POLICY_ENTROPY, 0.0f);
  ck_assert_uint_eq (r.exit_index, 2);
  ck_assert_float_eq (r.probabilities[0], 1.0f);
  ck_assert_float_eq (r.probabilities[1], 0.0f);
  ck_assert_float_eq (r.entropy, 0.0f);
  r = classify (&f, BEENET_POLICY_ENTROPY, 100.0f);
  ck_assert_uint_eq (r.exit_index, 1);
  double p[K], h;
  ref_softmax (l, K, p, &h);
  for (int k = 0; k < K; k++) {
    ck_assert (isfinite (r.probabilities[k]));
    ck_assert_double_eq_tol (r.probabilities[k], p[k], 1e-7);
  }
  ck_assert_double_eq_tol (r.entropy, h, 1e-6);
  fixture_free (&f);
}
END_TEST

START_TEST (test_samples_vs_features)
{
  /* classify(samples) == front-end + classify_features, on a real model. */
  size_t size;
  uint8_t *b = test_models_realistic (3, &size);
  BeenetModel *m;
  BeenetSession *s;
  BeenetFrontend *fe;
  BeenetFrontendConfig c;
  ck_assert_int_eq (beenet_model_load_memory (b, size, &m, NULL), BEENET_OK);
  free (b);
  ck_assert_int_eq (beenet_session_new (m, &s, NULL), BEENET_OK);
  beenet_model_frontend_config (m, &c);
  ck_assert_int_eq (beenet_frontend_new (&c, &fe, NULL), BEENET_OK);
  float *x = malloc (sizeof (float) * c.window_samples);
  float *feat = malloc (sizeof (float) * c.n_frames * c.n_mels);
  float *all = malloc (sizeof (float) * 5 * 12);
  uint32_t seed = 5;
  for (int w = 0; w < 4; w++) {
    for (uint32_t i = 0; i < c.window_samples; i++)
      x[i] = 0.3f * test_rand_float (&seed) + 0.2f * sinf (0.01f * w * i);
    ck_assert_int_eq (beenet_frontend_compute (fe, x, c.window_samples, feat, NULL), 0);
    for (int pol = 0; pol < 2; pol++) {
      const float th = pol ? 0.3f : 2.0f;
      BeenetResult r1, r2;
      ck_assert_int_eq (beenet_session_classify (s, x, c.window_samples, pol,
              th, &r1, NULL), BEENET_OK);
      float p1[12];
      memcpy (p1, r1.probabilities, sizeof p1);
      ck_assert_int_eq (beenet_session_classify_features (s, feat, pol, th,
              &r2, NULL), BEENET_OK);
      ck_assert_uint_eq (r1.exit_index, r2.exit_index);
      ck_assert_uint_eq (r1.class_index, r2.class_index);
      ck_assert_float_eq (r1.entropy, r2.entropy);
      ck_assert_mem_eq (p1, r2.probabilities, sizeof p1);
      /* The reporting exit's probabilities are the softmax of the logits
       * run_all_exits gives for that exit. */
      ck_assert_int_eq (beenet_session_run_all_exits (s, feat, all, NULL), 0);
      double p[12], h;
      ref_softmax (all + (r2.exit_index - 1) * 12, 12, p, &h);
      for (int k = 0; k < 12; k++)
        ck_assert_double_eq_tol (p1[k], p[k], 1e-6);
      ck_assert_double_eq_tol (r1.entropy, h, 1e-5);
      if (pol == 0) {
        /* Entropy policy: every earlier exit had H >= threshold. */
        for (uint32_t e = 0; e + 1 < r1.exit_index; e++) {
          ref_softmax (all + e * 12, 12, p, &h);
          ck_assert (h >= th - 1e-5);
        }
        if (r1.exit_index < r1.num_exits)
          ck_assert (r1.entropy < th);
      }
    }
  }
  beenet_frontend_free (fe);
  beenet_session_free (s);
  beenet_model_unref (m);
  free (x); free (feat); free (all);
}
END_TEST

START_TEST (test_normalisation)
{
  /* Activation 0 = (features - mean) * inv_std, read back exactly. */
  const unsigned H = 3, W = 5;
  TestModel *m = test_model_new_with_shape (2, H, W);
  float mean[5] = { 1.0f, -2.0f, 0.5f, 0.0f, 3.0f };
  float inv[5] = { 0.5f, 2.0f, -1.0f, 1.0f, 0.25f };
  test_model_set_normalisation (m, mean, inv);
  float f[15], got[15];
  for (unsigned i = 0; i < H * W; i++)
    f[i] = (float) i - 7.0f;
  layer_run (m, 0, f, got);
  for (unsigned t = 0; t < H; t++)
    for (unsigned k = 0; k < W; k++)
      ck_assert_float_eq (got[t * W + k], (f[t * W + k] - mean[k]) * inv[k]);
}
END_TEST

START_TEST (test_nonfinite)
{
  Fixture f = fixture (LOGITS, 3, K);
  BeenetResult r, sentinel;
  BeenetError err;
  memset (&sentinel, 0x5a, sizeof sentinel);
  float *x = calloc (16000, sizeof (float));
  const float bad[] = { NAN, INFINITY, -INFINITY };
  for (int i = 0; i < 3; i++) {
    x[777] = bad[i];
    r = sentinel;
    ck_assert_int_eq (beenet_session_classify (f.session, x, 16000,
            BEENET_POLICY_ENTROPY, 0.5f, &r, &err), BEENET_ERROR_NONFINITE);
    ck_assert_int_eq (err.code, BEENET_ERROR_NONFINITE);
    ck_assert_mem_eq (&r, &sentinel, sizeof r);    /* untouched */
    x[777] = 0.0f;
    f.features[98 * 64 - 1] = bad[i];
    ck_assert_int_eq (beenet_session_classify_features (f.session, f.features,
            BEENET_POLICY_ENTROPY, 0.5f, &r, &err), BEENET_ERROR_NONFINITE);
    ck_assert_mem_eq (&r, &sentinel, sizeof r);
    float all[3 * K];
    ck_assert_int_eq (beenet_session_run_all_exits (f.session, f.features,
            all, &err), BEENET_ERROR_NONFINITE);
    f.features[98 * 64 - 1] = 0.0f;
  }
  /* Huge but finite features are valid input (identity normalisation). */
  f.features[0] = 3e38f;
  f.features[1] = -3e38f;
  r = sentinel;
  ck_assert_int_eq (beenet_session_classify_features (f.session, f.features,
          BEENET_POLICY_ENTROPY, 0.5f, &r, &err), BEENET_OK);  /* mean 0, inv 1 */
  f.features[0] = 0.0f;
  f.features[1] = 0.0f;
  /* And the session still works afterwards. */
  r = classify (&f, BEENET_POLICY_ENTROPY, 0.0f);
  ck_assert_uint_eq (r.exit_index, 3);
  free (x);
  fixture_free (&f);

  /* A network whose activations overflow reports NONFINITE, not NaN
   * probabilities. */
  TestModel *m = test_model_new_with_shape (2, 4, 4);
  float w1[1] = { 3e38f }, s1[1] = { 3e38f }, b1[1] = { 0.0f };
  int a = test_model_conv2d (m, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, w1, s1, b1);
  int g = test_model_global_avgpool (m, a);
  float w2[2] = { 1.0f, -1.0f }, s2[2] = { 1.0f, 1.0f }, b2[2] = { 0.0f, 0.0f };
  int d = test_model_dense (m, g, 2, 0, w2, s2, b2);
  test_model_exit (m, d);
  size_t size;
  uint8_t *bytes = test_model_finish_bytes (m, &size);
  BeenetModel *model;
  BeenetSession *s;
  ck_assert_int_eq (beenet_model_load_memory (bytes, size, &model, &err), BEENET_OK);
  free (bytes);
  ck_assert_int_eq (beenet_session_new (model, &s, &err), BEENET_OK);
  float feats[16];
  for (int i = 0; i < 16; i++)
    feats[i] = 1.0f;
  ck_assert_int_eq (beenet_session_classify_features (s, feats,
          BEENET_POLICY_ENTROPY, 0.5f, &r, &err), BEENET_ERROR_NONFINITE);
  ck_assert_ptr_nonnull (strstr (err.message, "exit 1"));
  beenet_session_free (s);
  beenet_model_unref (model);
}
END_TEST

START_TEST (test_bad_arguments)
{
  Fixture f = fixture (LOGITS, 3, K);
  BeenetResult r;
  BeenetError err;
  float *x = calloc (16000, sizeof (float));
  ck_assert_int_eq (beenet_session_classify (f.session, x, 15999,
          BEENET_POLICY_ENTROPY, 0.5f, &r, &err), BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_session_classify (f.session, NULL, 16000,
          BEENET_POLICY_ENTROPY, 0.5f, &r, &err), BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_session_classify (NULL, x, 16000,
          BEENET_POLICY_ENTROPY, 0.5f, &r, &err), BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_session_classify (f.session, x, 16000,
          BEENET_POLICY_ENTROPY, 0.5f, NULL, &err), BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_session_classify (f.session, x, 16000,
          (BeenetPolicy) 7, 0.5f, &r, &err), BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_session_classify (f.session, x, 16000,
          BEENET_POLICY_ENTROPY, NAN, &r, &err), BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_session_classify_features (f.session, NULL,
          BEENET_POLICY_ENTROPY, 0.5f, &r, &err), BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_session_run_all_exits (f.session, f.features, NULL,
          &err), BEENET_ERROR_INVALID_ARGUMENT);
  BeenetSession *s = (BeenetSession *) 0x1;
  ck_assert_int_eq (beenet_session_new (NULL, &s, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_session_classify (f.session, x, 16000,
          BEENET_POLICY_ENTROPY, 0.5f, &r, NULL), BEENET_OK);  /* err optional */
  beenet_session_free (NULL);
  ck_assert_str_eq (beenet_status_name (BEENET_ERROR_NONFINITE), "non-finite");
  ck_assert_str_eq (beenet_status_name (BEENET_OK), "ok");
  ck_assert_ptr_nonnull (beenet_version ());
  free (x);
  fixture_free (&f);
}
END_TEST

/* ---- no allocation per window ----------------------------------------
 * The test executable is linked with -Wl,--wrap for the allocation
 * functions (tests/engine/meson.build), which redirects every call made by
 * the statically linked engine to the counters below. */

#if defined(BEENET_TEST_WRAP_MALLOC)
#include "alloc-count.h"

START_TEST (test_no_allocation_per_window)
{
  size_t size;
  uint8_t *b = test_models_realistic (5, &size);
  BeenetModel *m;
  BeenetSession *s;
  /* The counter works: loading allocates. */
  counting = 1;
  n_allocs = 0;
  ck_assert_int_eq (beenet_model_load_memory (b, size, &m, NULL), BEENET_OK);
  ck_assert_int_eq (beenet_session_new (m, &s, NULL), BEENET_OK);
  counting = 0;
  ck_assert_int_gt (n_allocs, 3);
  free (b);
  float *x = malloc (sizeof (float) * 16000);
  float *feat = calloc (98 * 64, sizeof (float));
  float *logits = malloc (sizeof (float) * 5 * 12);
  uint32_t seed = 1;
  for (int i = 0; i < 16000; i++)
    x[i] = 0.2f * test_rand_float (&seed);
  BeenetResult r;
  /* Warm-up (ORC compiles its programs on first use, inside liborc). */
  ck_assert_int_eq (beenet_session_classify (s, x, 16000,
          BEENET_POLICY_ENTROPY, 0.0f, &r, NULL), BEENET_OK);
  BeenetPolicyParams pat = beenet_policy_default_params (BEENET_POLICY_PATIENCE);
  pat.patience = 3;
  BeenetPolicyParams capped = pat;
  capped.max_exit = 2;
  /* No ck_assert inside the counted region: Check itself allocates when it
   * records a passed assertion. */
  int bad = 0;
  counting = 1;
  n_allocs = 0;
  for (int i = 0; i < 20; i++) {
    x[i] = -x[i];
    bad |= beenet_session_classify (s, x, 16000, BEENET_POLICY_ENTROPY,
        i % 2 ? 0.0f : 100.0f, &r, NULL);
    bad |= beenet_session_classify (s, x, 16000,
        BEENET_POLICY_MAX_PROBABILITY, 0.5f, &r, NULL);
    bad |= beenet_session_classify_features (s, feat, BEENET_POLICY_ENTROPY,
        0.5f, &r, NULL);
    bad |= beenet_session_run_all_exits (s, feat, logits, NULL);
    /* patience keeps its run count in the session */
    bad |= beenet_session_classify_params (s, x, 16000, &pat, &r, NULL);
    bad |= beenet_session_classify_features_params (s, feat, &capped, &r,
        NULL);
  }
  counting = 0;
  ck_assert_int_eq (bad, 0);
  ck_assert_int_eq (n_allocs, 0);
  beenet_session_free (s);
  beenet_model_unref (m);
  free (x); free (feat); free (logits);
}
END_TEST
#endif

/* ---- threads: one model, one session per thread --------------------- */

typedef struct {
  BeenetModel *model;
  const float *features;
  int n_windows;
  float probs[8][12];
  uint32_t exits[8];
  int status;
} Worker;

static void *
worker_main (void *arg)
{
  Worker *w = arg;
  BeenetSession *s;
  w->status = beenet_session_new (w->model, &s, NULL);
  if (w->status)
    return NULL;
  for (int rep = 0; rep < 5; rep++)
    for (int i = 0; i < w->n_windows; i++) {
      BeenetResult r;
      w->status |= beenet_session_classify_features (s,
          w->features + (size_t) i * 98 * 64, BEENET_POLICY_ENTROPY, 2.0f, &r,
          NULL);
      memcpy (w->probs[i], r.probabilities, sizeof w->probs[i]);
      w->exits[i] = r.exit_index;
    }
  beenet_session_free (s);
  return NULL;
}

START_TEST (test_threads)
{
  size_t size;
  uint8_t *b = test_models_realistic (11, &size);
  BeenetModel *m;
  ck_assert_int_eq (beenet_model_load_memory (b, size, &m, NULL), BEENET_OK);
  free (b);
  const int n = 8;
  float *feats = malloc (sizeof (float) * 98 * 64 * n);
  uint32_t seed = 17;
  for (int i = 0; i < 98 * 64 * n; i++)
    feats[i] = -8.0f + 4.0f * test_rand_float (&seed);
  Worker ref = { m, feats, n, { { 0 } }, { 0 }, 0 };
  worker_main (&ref);
  ck_assert_int_eq (ref.status, 0);
  Worker w[4];
  pthread_t th[4];
  for (int t = 0; t < 4; t++) {
    w[t] = (Worker) { beenet_model_ref (m), feats, n, { { 0 } }, { 0 }, 0 };
    ck_assert_int_eq (pthread_create (&th[t], NULL, worker_main, &w[t]), 0);
  }
  beenet_model_unref (m);   /* the threads' references keep it alive */
  for (int t = 0; t < 4; t++) {
    pthread_join (th[t], NULL);
    ck_assert_int_eq (w[t].status, 0);
    ck_assert_mem_eq (w[t].probs, ref.probs, sizeof ref.probs);
    ck_assert_mem_eq (w[t].exits, ref.exits, sizeof ref.exits);
    beenet_model_unref (w[t].model);
  }
  free (feats);
}
END_TEST

START_TEST (test_activation_plan)
{
  /* Activations that are never live together share memory; the logits of
   * every exit must be bit-identical to a session with one slice per
   * activation (BEENET_ACTIVATION_PLAN=off), and the plan much smaller. */
  size_t size;
  uint8_t *b = test_models_realistic (7, &size);
  BeenetModel *m;
  BeenetSession *planned, *flat;
  BeenetFrontendConfig c;
  ck_assert_int_eq (beenet_model_load_memory (b, size, &m, NULL), BEENET_OK);
  free (b);
  ck_assert_int_eq (beenet_session_new (m, &planned, NULL), BEENET_OK);
  setenv ("BEENET_ACTIVATION_PLAN", "off", 1);
  ck_assert_int_eq (beenet_session_new (m, &flat, NULL), BEENET_OK);
  unsetenv ("BEENET_ACTIVATION_PLAN");
  const size_t bp = beenet_session_activation_bytes (planned);
  const size_t bf = beenet_session_activation_bytes (flat);
  printf ("activation memory: planned %zu bytes, one slice each %zu bytes\n",
      bp, bf);
  ck_assert_uint_gt (bp, 0);
  ck_assert_uint_lt (2 * bp, bf);
  beenet_model_frontend_config (m, &c);
  const size_t n_feat = (size_t) c.n_frames * c.n_mels;
  const size_t n_log = beenet_model_num_exits (m) * beenet_model_num_classes (m);
  float *feat = malloc (sizeof (float) * n_feat);
  float *l1 = malloc (sizeof (float) * n_log), *l2 = malloc (sizeof (float) * n_log);
  uint32_t seed = 99;
  for (int w = 0; w < 3; w++) {
    for (size_t i = 0; i < n_feat; i++)
      feat[i] = 4.0f * test_rand_float (&seed);
    ck_assert_int_eq (beenet_session_run_all_exits (planned, feat, l1, NULL), 0);
    ck_assert_int_eq (beenet_session_run_all_exits (flat, feat, l2, NULL), 0);
    ck_assert_mem_eq (l1, l2, sizeof (float) * n_log);
  }
  beenet_session_free (planned);
  beenet_session_free (flat);
  beenet_model_unref (m);
  free (feat); free (l1); free (l2);
}
END_TEST

/* A dense block (format version 2): every binary conv's output is
 * concatenated onto the running feature map.  With the liveness plan the
 * block does not keep a buffer per layer: each concat's inputs die at the
 * next concat, so the planned block stays well below one slice per
 * activation, and the logits are bit-identical. */
START_TEST (test_activation_plan_dense_block)
{
  TestModel *tm = test_model_new_with_shape (4, 24, 16);
  int x = test_model_conv2d (tm, 0, 3, 3, 1, 1, 1, 1, 1, 16, 0, NULL, NULL,
      NULL);
  for (int l = 0; l < 6; l++) {
    int y = test_model_bconv2d (tm, x, 3, 3, 1, 1, 1, 1, 8, 0, NULL, NULL,
        NULL);
    int in[2] = { x, y };
    x = test_model_concat (tm, in, 2);
    ck_assert_int_ge (x, 0);
  }
  int g = test_model_global_avgpool (tm, x);
  int d = test_model_dense (tm, g, 4, 0, NULL, NULL, NULL);
  ck_assert_int_ge (test_model_exit (tm, d), 0);
  size_t size;
  uint8_t *b = test_model_finish_bytes (tm, &size);
  BeenetModel *m;
  BeenetSession *planned, *flat;
  ck_assert_int_eq (beenet_model_load_memory (b, size, &m, NULL), BEENET_OK);
  free (b);
  ck_assert_int_eq (beenet_session_new (m, &planned, NULL), BEENET_OK);
  setenv ("BEENET_ACTIVATION_PLAN", "off", 1);
  ck_assert_int_eq (beenet_session_new (m, &flat, NULL), BEENET_OK);
  unsetenv ("BEENET_ACTIVATION_PLAN");
  const size_t bp = beenet_session_activation_bytes (planned);
  const size_t bf = beenet_session_activation_bytes (flat);
  const size_t sp = beenet_session_scratch_bytes (planned);
  printf ("dense block: activations planned %zu bytes, one slice each %zu "
      "bytes; scratch %zu bytes\n", bp, bf, sp);
  /* The largest concat (64 channels) and its inputs (56 + 8) must be live
   * together: 24*16*(64+56+8) floats is a lower bound. */
  ck_assert_uint_ge (bp, (size_t) 24 * 16 * (64 + 56 + 8) * 4);
  ck_assert_uint_lt (2 * bp, bf);
  ck_assert_uint_gt (sp, bp);   /* plus the packed-sign buffer */
  const size_t n_feat = (size_t) 24 * 16;
  float feat[24 * 16], l1[4], l2[4];
  uint32_t seed = 5;
  for (size_t i = 0; i < n_feat; i++)
    feat[i] = 4.0f * test_rand_float (&seed);
  ck_assert_int_eq (beenet_session_run_all_exits (planned, feat, l1, NULL), 0);
  ck_assert_int_eq (beenet_session_run_all_exits (flat, feat, l2, NULL), 0);
  ck_assert_mem_eq (l1, l2, sizeof l1);
  beenet_session_free (planned);
  beenet_session_free (flat);
  beenet_model_unref (m);
}
END_TEST

/* Fused-away add nodes of a loaded model (model-private.h). */
static unsigned
fused_adds (const BeenetModel *m)
{
  unsigned n = 0;
  for (uint32_t i = 0; i < m->n_nodes; i++)
    if (m->nodes[i].fused_away) {
      ck_assert (i > 0 && m->nodes[i - 1].fused_res);
      n++;
    }
  return n;
}

START_TEST (test_residual_fusion)
{
  /* The loader folds each bconv2d -> add into the conv's output transform
   * (BEENET_FUSE=off keeps them apart): every exit's logits must be
   * bit-identical, with the activation plan of either graph. */
  size_t size;
  uint8_t *b = test_models_realistic (11, &size);
  BeenetModel *fused, *apart;
  BeenetSession *s[3];
  ck_assert_int_eq (beenet_model_load_memory (b, size, &fused, NULL), BEENET_OK);
  setenv ("BEENET_FUSE", "off", 1);
  ck_assert_int_eq (beenet_model_load_memory (b, size, &apart, NULL), BEENET_OK);
  unsetenv ("BEENET_FUSE");
  free (b);
  const unsigned nf = fused_adds (fused);
  printf ("residual adds fused: %u\n", nf);
  ck_assert_uint_gt (nf, 0);
  ck_assert_uint_eq (fused_adds (apart), 0);
  ck_assert_int_eq (beenet_session_new (fused, &s[0], NULL), BEENET_OK);
  ck_assert_int_eq (beenet_session_new (apart, &s[1], NULL), BEENET_OK);
  setenv ("BEENET_ACTIVATION_PLAN", "off", 1);
  ck_assert_int_eq (beenet_session_new (fused, &s[2], NULL), BEENET_OK);
  unsetenv ("BEENET_ACTIVATION_PLAN");
  BeenetFrontendConfig c;
  beenet_model_frontend_config (fused, &c);
  const size_t n_feat = (size_t) c.n_frames * c.n_mels;
  const size_t n_log = beenet_model_num_exits (fused)
      * beenet_model_num_classes (fused);
  float *feat = malloc (sizeof (float) * n_feat);
  float *l[3];
  for (int k = 0; k < 3; k++)
    l[k] = malloc (sizeof (float) * n_log);
  uint32_t seed = 7;
  for (int w = 0; w < 3; w++) {
    for (size_t i = 0; i < n_feat; i++)
      feat[i] = 4.0f * test_rand_float (&seed);
    for (int k = 0; k < 3; k++)
      ck_assert_int_eq (beenet_session_run_all_exits (s[k], feat, l[k], NULL), 0);
    ck_assert_mem_eq (l[0], l[1], sizeof (float) * n_log);
    ck_assert_mem_eq (l[2], l[1], sizeof (float) * n_log);
  }
  for (int k = 0; k < 3; k++) {
    beenet_session_free (s[k]);
    free (l[k]);
  }
  beenet_model_unref (fused);
  beenet_model_unref (apart);
  free (feat);
}
END_TEST

static Suite *
session_suite (void)
{
  Suite *s = suite_create ("session");
  TCase *tc = tcase_create ("core");
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_exit_values);
  tcase_add_test (tc, test_entropy_policy);
  tcase_add_test (tc, test_max_probability_policy);
  tcase_add_test (tc, test_op_fractions);
  tcase_add_test (tc, test_softmax_extremes);
  tcase_add_test (tc, test_samples_vs_features);
  tcase_add_test (tc, test_normalisation);
  tcase_add_test (tc, test_nonfinite);
  tcase_add_test (tc, test_bad_arguments);
  tcase_add_test (tc, test_threads);
  tcase_add_test (tc, test_activation_plan);
  tcase_add_test (tc, test_residual_fusion);
  tcase_add_test (tc, test_activation_plan_dense_block);
#if defined(BEENET_TEST_WRAP_MALLOC)
  tcase_add_test (tc, test_no_allocation_per_window);
#endif
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return check_run_suite (session_suite ());
}
