/* The class-exclusion policy (Wang, Li, Zhang 2023) on hand-made networks
 * whose exits output fixed logits (test_models_constant_exits): which
 * classes each exit excludes, the masked softmax of later exits, the stop at
 * one class, the last exit's argmax among the candidates, the per-exit
 * counts in BeenetResult.classes_remaining, the factors in the model file
 * and in the params, and no allocation per window.  Expected values are
 * computed by hand in the comments. */
#include "beenet.h"
#include "exits-fixture.h"
#include "gguf-writer.h"
#include "test-models.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(BEENET_TEST_WRAP_MALLOC)
#include "alloc-count.h"
#endif

#define FACTORS_KEY EXITS_FACTORS_KEY
#define K 4
#define E 3

/* Exit 1: class 0 on top (3), class 1 0.5 below, classes 2 and 3 3 and 4
 * below.  Exit 2: class 2 on top overall (5), then class 1 (1), class 0 (0).
 * Exit 3: class 3 on top (9), then class 0 (2), class 1 (1). */
static const float LOGITS[E * K] = {
  3.0f, 2.5f, 0.0f, -1.0f,
  0.0f, 1.0f, 5.0f, 0.0f,
  2.0f, 1.0f, 0.0f, 9.0f,
};

static Fixture
fixture (const float *factors)
{
  return exits_fixture (LOGITS, E, K, factors);
}

static BeenetPolicyParams
exclusion (float scale)
{
  BeenetPolicyParams p =
      beenet_policy_default_params (BEENET_POLICY_CLASS_EXCLUSION);
  p.threshold = scale;
  return p;
}

static BeenetResult
run (Fixture *f, const BeenetPolicyParams *p)
{
  BeenetResult r = fixture_run (f, p);
  ck_assert_ptr_nonnull (r.classes_remaining);
  return r;
}

static void
expect_counts (const BeenetResult *r, const uint32_t *want, unsigned n)
{
  for (unsigned e = 0; e < n; e++)
    ck_assert_msg (r->classes_remaining[e] == want[e],
        "exit %u: %u classes remaining, expected %u", e + 1,
        r->classes_remaining[e], want[e]);
}

/* Margins (scale 1): exit 1 ln(1/f) = 2, exit 2 0.5, exit 3 unused. */
static const float FACTORS[E] = { 0.13533528f /* e^-2 */,
  0.60653066f /* e^-0.5 */, 0.0f };

START_TEST (test_exclude_then_decide)
{
  Fixture f = fixture (FACTORS);
  BeenetPolicyParams p = exclusion (1.0f);
  BeenetResult r = run (&f, &p);
  /* Exit 1: gaps 0.5, 3, 4 to class 0; margin 2 excludes 2 and 3.
   * Exit 2: class 2 (logit 5) is excluded, so the top candidate is class 1
   * (1); class 0 is 1 below, more than the margin 0.5: excluded, one class
   * left: stop at exit 2 with class 1, certain. */
  const uint32_t want[E] = { 2, 1, 0 };
  ck_assert_uint_eq (r.exit_index, 2);
  ck_assert_uint_eq (r.class_index, 1);
  ck_assert_str_eq (r.label, "class1");
  expect_counts (&r, want, E);
  ck_assert_float_eq (r.probabilities[1], 1.0f);
  ck_assert_float_eq (r.probabilities[2], 0.0f);
  ck_assert_float_eq (r.confidence, 1.0f);
  ck_assert_float_eq (r.entropy, 0.0f);

  /* The entropy policy at the same exit would report class 2. */
  BeenetPolicyParams q = beenet_policy_default_params (BEENET_POLICY_ENTROPY);
  q.threshold = 0.0f;
  q.max_exit = 2;
  ck_assert_uint_eq (run (&f, &q).class_index, 2);
  fixture_free (&f);
}
END_TEST

START_TEST (test_masked_softmax)
{
  /* Exit 2 excludes nothing (factor 0): classes 0 and 1 stay and exit 2's
   * softmax is masked to them: p1 = e / (1 + e), p0 = 1 / (1 + e). */
  const float factors[E] = { 0.13533528f, 0.0f, 0.0f };
  Fixture f = fixture (factors);
  BeenetPolicyParams p = exclusion (1.0f);
  p.max_exit = 2;
  BeenetResult r = run (&f, &p);
  const double e = exp (1.0), p1 = e / (1.0 + e), p0 = 1.0 / (1.0 + e);
  const uint32_t want[E] = { 2, 2, 0 };
  ck_assert_uint_eq (r.exit_index, 2);
  ck_assert_uint_eq (r.class_index, 1);
  expect_counts (&r, want, E);
  ck_assert_double_eq_tol (r.probabilities[0], p0, 1e-6);
  ck_assert_double_eq_tol (r.probabilities[1], p1, 1e-6);
  ck_assert_float_eq (r.probabilities[2], 0.0f);
  ck_assert_float_eq (r.probabilities[3], 0.0f);
  ck_assert_double_eq_tol (r.confidence, p1, 1e-6);
  ck_assert_double_eq_tol (r.entropy, -(p0 * log (p0) + p1 * log (p1)),
      1e-6);
  fixture_free (&f);
}
END_TEST

START_TEST (test_last_exit_argmax_of_candidates)
{
  /* Exit 1 keeps {0, 1}, exits 2 and 3 exclude nothing: the last exit's
   * overall top class 3 (logit 9) is no candidate; among {0, 1} class 0
   * (2 > 1) wins.  Two classes remain to the end. */
  const float factors[E] = { 0.13533528f, 0.0f, 0.0f };
  Fixture f = fixture (factors);
  BeenetPolicyParams p = exclusion (1.0f);
  BeenetResult r = run (&f, &p);
  const uint32_t want[E] = { 2, 2, 2 };
  ck_assert_uint_eq (r.exit_index, 3);
  ck_assert_uint_eq (r.num_exits, 3);
  ck_assert_uint_eq (r.class_index, 0);
  expect_counts (&r, want, E);
  ck_assert_double_eq_tol (r.probabilities[0], exp (1.0) / (1.0 + exp (1.0)),
      1e-6);
  ck_assert_float_eq (r.probabilities[3], 0.0f);
  ck_assert_double_eq_tol (r.ops_fraction, 1.0, 1e-12);

  /* Factors that exclude nothing anywhere: every class to the last exit,
   * whose plain argmax (class 3) wins, as with any other policy there. */
  const float none[E] = { 0.0f, 0.0f, 0.0f };
  p.exclusion_factors = none;
  p.num_exclusion_factors = E;
  r = run (&f, &p);
  const uint32_t all[E] = { K, K, K };
  ck_assert_uint_eq (r.exit_index, 3);
  ck_assert_uint_eq (r.class_index, 3);
  expect_counts (&r, all, E);
  fixture_free (&f);
}
END_TEST

START_TEST (test_scale)
{
  Fixture f = fixture (FACTORS);
  /* Scale 0: margin 0 at exits with a factor > 0: only the top class stays
   * at exit 1. */
  BeenetPolicyParams p = exclusion (0.0f);
  BeenetResult r = run (&f, &p);
  const uint32_t one[E] = { 1, 0, 0 };
  ck_assert_uint_eq (r.exit_index, 1);
  ck_assert_uint_eq (r.class_index, 0);
  expect_counts (&r, one, E);
  ck_assert (r.ops_fraction < 1.0);
  /* Scale 2.5: margins 5 and 1.25.  Exit 1 excludes nothing (largest gap
   * 4); exit 2 (top: class 2 at 5) excludes 0, 1 and 3 (gaps 5, 4, 5 >
   * 1.25): stop at exit 2 with class 2. */
  p = exclusion (2.5f);
  r = run (&f, &p);
  const uint32_t two[E] = { K, 1, 0 };
  ck_assert_uint_eq (r.exit_index, 2);
  ck_assert_uint_eq (r.class_index, 2);
  expect_counts (&r, two, E);
  /* Scale 0.2: margins 0.4 and 0.1: exit 1 keeps only class 0. */
  p = exclusion (0.2f);
  r = run (&f, &p);
  ck_assert_uint_eq (r.exit_index, 1);
  ck_assert_uint_eq (r.class_index, 0);
  fixture_free (&f);
}
END_TEST

START_TEST (test_state_per_window)
{
  /* A window that excluded classes leaves nothing behind: the next window
   * starts from every class (same results twice, and a different policy in
   * between reports num_classes at every exit it ran). */
  Fixture f = fixture (FACTORS);
  BeenetPolicyParams p = exclusion (1.0f);
  BeenetResult a = run (&f, &p);
  BeenetPolicyParams q = beenet_policy_default_params (BEENET_POLICY_ENTROPY);
  q.threshold = 0.0f;
  BeenetResult b = run (&f, &q);
  const uint32_t all[E] = { K, K, K };
  ck_assert_uint_eq (b.exit_index, 3);
  expect_counts (&b, all, E);
  BeenetResult c = run (&f, &p);
  ck_assert_uint_eq (a.exit_index, c.exit_index);
  ck_assert_uint_eq (a.class_index, c.class_index);
  const uint32_t want[E] = { 2, 1, 0 };
  expect_counts (&c, want, E);
#if defined(BEENET_TEST_WRAP_MALLOC)
  BeenetResult r;
  BeenetError err;
  n_allocs = 0;
  counting = 1;
  for (int i = 0; i < 20; i++)
    beenet_session_classify_features_params (f.session, f.features, &p, &r,
        &err);
  counting = 0;
  ck_assert_int_eq (n_allocs, 0);
#endif
  fixture_free (&f);
}
END_TEST

START_TEST (test_many_classes)
{
  /* 70 classes: the candidate mask spans two 64-bit words.  Exit 1: class 66
   * on top (10), class 3 at 9.5, class 65 at 9, the rest 0; margin 2 keeps
   * {3, 65, 66}.  Exit 2: class 65 on top among them (4 vs 1 and 0), margin
   * 0.5: stop with class 65. */
  enum { N = 70 };
  static float logits[2 * N];
  memset (logits, 0, sizeof logits);
  logits[66] = 10.0f;
  logits[3] = 9.5f;
  logits[65] = 9.0f;
  logits[N + 65] = 4.0f;
  logits[N + 3] = 1.0f;
  logits[N + 10] = 50.0f;  /* excluded at exit 1 */
  const float factors[2] = { 0.13533528f, 0.60653066f };
  Fixture f = exits_fixture (logits, 2, N, factors);
  BeenetPolicyParams p = exclusion (1.0f);
  BeenetResult r = run (&f, &p);
  const uint32_t want[2] = { 3, 1 };
  ck_assert_uint_eq (r.exit_index, 2);
  ck_assert_uint_eq (r.class_index, 65);
  expect_counts (&r, want, 2);
  fixture_free (&f);
}
END_TEST

START_TEST (test_max_exit)
{
  /* max_exit 1 with margins that keep two classes: exit 1 decides among
   * them (class 0). */
  Fixture f = fixture (FACTORS);
  BeenetPolicyParams p = exclusion (1.0f);
  p.max_exit = 1;
  BeenetResult r = run (&f, &p);
  const uint32_t want[E] = { 2, 0, 0 };
  ck_assert_uint_eq (r.exit_index, 1);
  ck_assert_uint_eq (r.class_index, 0);
  expect_counts (&r, want, E);
  fixture_free (&f);
}
END_TEST

/* ---- factors: model file, params, refusal ------------------------------- */

START_TEST (test_model_without_factors_refuses)
{
  Fixture f = fixture (NULL);
  BeenetPolicyParams p = exclusion (1.0f);
  BeenetResult r;
  BeenetError err;
  ck_assert_uint_eq (beenet_model_exclusion_factors (f.model, NULL, 0), 0);
  ck_assert_int_eq (beenet_model_check_params (f.model, &p, &err),
      BEENET_ERROR_UNSUPPORTED);
  ck_assert_ptr_nonnull (strstr (err.message, FACTORS_KEY));
  ck_assert_int_eq (beenet_session_classify_features_params (f.session,
          f.features, &p, &r, &err), BEENET_ERROR_UNSUPPORTED);
  ck_assert_ptr_nonnull (strstr (err.message, "class-exclusion"));
  /* the other policies still run on such a model */
  BeenetPolicyParams q = beenet_policy_default_params (BEENET_POLICY_ENTROPY);
  ck_assert_int_eq (beenet_model_check_params (f.model, &q, &err), BEENET_OK);
  /* factors given in the params: used, one per exit */
  p.exclusion_factors = FACTORS;
  p.num_exclusion_factors = E;
  r = run (&f, &p);
  ck_assert_uint_eq (r.exit_index, 2);
  ck_assert_uint_eq (r.class_index, 1);
  p.num_exclusion_factors = 2;
  ck_assert_int_eq (beenet_model_check_params (f.model, &p, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (err.message, "3 exits"));
  fixture_free (&f);
}
END_TEST

START_TEST (test_params_validation)
{
  BeenetPolicyParams p = exclusion (1.0f);
  BeenetError err;
  ck_assert_float_eq (p.threshold, 1.0f);
  ck_assert_ptr_null (p.exclusion_factors);
  ck_assert_int_eq (beenet_policy_uses_threshold (
          BEENET_POLICY_CLASS_EXCLUSION), 1);
  ck_assert_int_eq (beenet_policy_params_validate (&p, &err), BEENET_OK);
  p.threshold = -0.5f;
  ck_assert_int_eq (beenet_policy_params_validate (&p, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (err.message, ">= 0"));
  const float bad[E] = { 0.5f, 1.5f, 0.0f };
  p = exclusion (1.0f);
  p.exclusion_factors = bad;
  p.num_exclusion_factors = E;
  ck_assert_int_eq (beenet_policy_params_validate (&p, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (err.message, "factor 2"));
  BeenetPolicy id;
  ck_assert_int_eq (beenet_policy_from_name ("class-exclusion", &id, &err),
      BEENET_OK);
  ck_assert_int_eq (id, BEENET_POLICY_CLASS_EXCLUSION);
}
END_TEST

START_TEST (test_model_file_factors)
{
  BeenetModel *m;
  BeenetError err;
  /* read back, listed by describe, and the model may recommend the policy */
  ck_assert_int_eq (exits_model_load (LOGITS, E, K, FACTORS,
          "class-exclusion", &m, &err), BEENET_OK);
  float got[E] = { -1, -1, -1 };
  ck_assert_uint_eq (beenet_model_exclusion_factors (m, got, E), E);
  for (unsigned e = 0; e < E; e++)
    ck_assert_float_eq (got[e], FACTORS[e]);
  ck_assert_int_eq (beenet_model_default_policy (m),
      BEENET_POLICY_CLASS_EXCLUSION);
  BeenetPolicyParams p = beenet_model_default_params (m);
  ck_assert_int_eq (beenet_model_check_params (m, &p, &err), BEENET_OK);
  char *d = beenet_model_describe (m);
  ck_assert_ptr_nonnull (strstr (d, "class-exclusion factors: 0.135335"));
  free (d);
  beenet_model_unref (m);

  /* recommending the policy without factors, a factor out of [0, 1], the
   * wrong number of factors: corrupt files */
  ck_assert_int_eq (exits_model_load (LOGITS, E, K, NULL, "class-exclusion",
          &m, &err), BEENET_ERROR_CORRUPT);
  ck_assert_ptr_nonnull (strstr (err.message, FACTORS_KEY));
  const float bad[E] = { 0.5f, -0.1f, 0.0f };
  ck_assert_int_eq (exits_model_load (LOGITS, E, K, bad, NULL, &m, &err),
      BEENET_ERROR_CORRUPT);
  ck_assert_ptr_nonnull (strstr (err.message, "factor 2"));
  const float nan_f[E] = { 0.5f, 0.5f, NAN };
  ck_assert_int_eq (exits_model_load (LOGITS, E, K, nan_f, NULL, &m, &err),
      BEENET_ERROR_CORRUPT);
  GgufWriter *w = test_models_constant_exits_writer (E, K, LOGITS);
  gguf_writer_add_array_f32 (w, FACTORS_KEY, FACTORS, E - 1);
  size_t size;
  uint8_t *b = gguf_writer_serialize (w, &size);
  ck_assert_int_eq (beenet_model_load_memory (b, size, &m, &err),
      BEENET_ERROR_CORRUPT);
  ck_assert_ptr_nonnull (strstr (err.message, FACTORS_KEY));
  free (b);
  gguf_writer_free (w);
}
END_TEST

/* ---- sigmoid scores (beenet.class_exclusion.score) ----------------------- */

static void
add_score_key (GgufWriter *w, const void *data)
{
  gguf_writer_add_string (w, "beenet.class_exclusion.score", data);
}

/* Exit 1: logits 4, 1, -2, -3; exit 2: class 1 on top (5).  One margin of
 * 1 nat at exit 1 (factor e^-1), none at exit 2. */
static const float SIG_LOGITS[2 * K] = {
  4.0f, 1.0f, -2.0f, -3.0f,
  0.0f, 5.0f, 0.0f, 0.0f,
};
static const float SIG_FACTORS[2] = { 0.36787944f /* e^-1 */, 0.0f };

START_TEST (test_sigmoid_scores)
{
  BeenetPolicyParams p = exclusion (1.0f);
  /* softmax scores (the logits): gaps 3, 6, 7 > 1, one class left: class 0
   * at exit 1 */
  Fixture f = exits_fixture (SIG_LOGITS, 2, K, SIG_FACTORS);
  ck_assert_str_eq (beenet_model_exclusion_score (f.model), "softmax");
  BeenetResult r = run (&f, &p);
  ck_assert_uint_eq (r.exit_index, 1);
  ck_assert_uint_eq (r.class_index, 0);
  const uint32_t want_softmax[2] = { 1, 0 };
  expect_counts (&r, want_softmax, 2);
  fixture_free (&f);

  /* sigmoid scores: ln sigmoid = -0.01815, -0.31326, -2.12693, -3.04859;
   * gaps to class 0: 0.2951 (kept), 2.1088 and 3.0304 (excluded): two
   * candidates go on to exit 2, whose top candidate is class 1 (5 against
   * 0); no margin there.  Masked softmax over {0, 1}: e^5 / (1 + e^5). */
  f = exits_fixture_with (SIG_LOGITS, 2, K, SIG_FACTORS, add_score_key,
      "sigmoid");
  ck_assert_str_eq (beenet_model_exclusion_score (f.model), "sigmoid");
  r = run (&f, &p);
  ck_assert_uint_eq (r.exit_index, 2);
  ck_assert_uint_eq (r.class_index, 1);
  const uint32_t want_sigmoid[2] = { 2, 2 };
  expect_counts (&r, want_sigmoid, 2);
  ck_assert_float_eq_tol (r.probabilities[1], 0.99330715f, 1e-6f);
  ck_assert_float_eq (r.probabilities[2], 0.0f);
  /* scale 3: margin 3 keeps class 2 (gap 2.1088) and drops class 3
   * (3.0304) */
  p.threshold = 3.0f;
  r = run (&f, &p);
  const uint32_t want_scale3[2] = { 3, 3 };
  expect_counts (&r, want_scale3, 2);
  char *d = beenet_model_describe (f.model);
  ck_assert_ptr_nonnull (strstr (d, "(sigmoid scores)"));
  free (d);
  fixture_free (&f);
}
END_TEST

START_TEST (test_bad_score_key)
{
  BeenetModel *m;
  BeenetError err;
  ck_assert_int_eq (exits_model_load_with (SIG_LOGITS, 2, K, SIG_FACTORS,
          NULL, add_score_key, "tanh", &m, &err), BEENET_ERROR_CORRUPT);
  ck_assert_msg (strstr (err.message, "beenet.class_exclusion.score")
      && strstr (err.message, "softmax or sigmoid"), "message: %s",
      err.message);
}
END_TEST

static Suite *
exclusion_suite (void)
{
  Suite *s = suite_create ("class-exclusion");
  TCase *tc = tcase_create ("core");
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_exclude_then_decide);
  tcase_add_test (tc, test_masked_softmax);
  tcase_add_test (tc, test_last_exit_argmax_of_candidates);
  tcase_add_test (tc, test_scale);
  tcase_add_test (tc, test_state_per_window);
  tcase_add_test (tc, test_many_classes);
  tcase_add_test (tc, test_max_exit);
  tcase_add_test (tc, test_model_without_factors_refuses);
  tcase_add_test (tc, test_params_validation);
  tcase_add_test (tc, test_model_file_factors);
  tcase_add_test (tc, test_sigmoid_scores);
  tcase_add_test (tc, test_bad_score_key);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return exits_run_suite (exclusion_suite ());
}
