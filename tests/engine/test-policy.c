/* Exit policies: the policy table (names, descriptions, defaults,
 * round-trips), parameter validation and its error codes, the patience rule
 * (PABEE) on hand-made networks with known per-exit argmax sequences, and
 * max_exit capping every policy.  Networks come from
 * test_models_constant_exits: exit e always outputs the given logits. */
#include "beenet.h"
#include "test-models.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K 3
/* Argmax sequence A, A, B, B, B (A = class 0, B = class 1). */
static const float AABBB[5 * K] = {
  1.0f, 0.0f, 0.0f,
  2.0f, 0.0f, 0.0f,
  0.0f, 3.0f, 0.0f,
  0.0f, 4.0f, 0.0f,
  0.0f, 5.0f, 0.0f,
};
/* Argmax sequence A, B, A, A, C: a run broken by B restarts at 1. */
static const float ABAAC[5 * K] = {
  1.0f, 0.0f, 0.0f,
  0.0f, 1.0f, 0.0f,
  1.0f, 0.0f, 0.0f,
  1.0f, 0.0f, 0.0f,
  0.0f, 0.0f, 1.0f,
};

typedef struct {
  BeenetModel *model;
  BeenetSession *session;
  float *features;
} Fixture;

static Fixture
fixture (const float *logits, unsigned n_exits)
{
  Fixture f;
  size_t size;
  BeenetError err;
  /* class-exclusion factors that exclude nothing, so every policy of the
   * table runs on these networks (tests/engine/test-class-exclusion.c
   * tests the policy itself) */
  const float no_exclusion[8] = { 0 };
  GgufWriter *w = test_models_constant_exits_writer (n_exits, K, logits);
  ck_assert_ptr_nonnull (w);
  gguf_writer_add_array_f32 (w, "beenet.class_exclusion.factors",
      no_exclusion, n_exits);
  uint8_t *b = gguf_writer_serialize (w, &size);
  gguf_writer_free (w);
  ck_assert_int_eq (beenet_model_load_memory (b, size, &f.model, &err),
      BEENET_OK);
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

static BeenetResult
run (Fixture *f, const BeenetPolicyParams *p)
{
  BeenetResult r;
  BeenetError err;
  memset (&r, 0, sizeof r);
  ck_assert_msg (beenet_session_classify_features_params (f->session,
          f->features, p, &r, &err) == BEENET_OK, "%s", err.message);
  return r;
}

static BeenetPolicyParams
patience (uint32_t k, uint32_t max_exit)
{
  BeenetPolicyParams p = beenet_policy_default_params (BEENET_POLICY_PATIENCE);
  p.patience = k;
  p.max_exit = max_exit;
  return p;
}

/* ---- the table ----------------------------------------------------------- */

START_TEST (test_table_round_trip)
{
  const char *want[] = { "entropy", "max-probability", "patience",
    "class-exclusion", "eenet" };
  ck_assert_uint_eq (beenet_policy_count (), 5);
  for (size_t i = 0; i < beenet_policy_count (); i++) {
    const char *name = beenet_policy_name ((BeenetPolicy) i);
    BeenetPolicy back = (BeenetPolicy) 99;
    BeenetError err;
    ck_assert_str_eq (name, want[i]);
    ck_assert_ptr_nonnull (beenet_policy_description ((BeenetPolicy) i));
    ck_assert_int_gt (strlen (beenet_policy_description ((BeenetPolicy) i)), 10);
    ck_assert_int_eq (beenet_policy_from_name (name, &back, &err), BEENET_OK);
    ck_assert_int_eq (back, (int) i);
    ck_assert_int_eq (err.code, BEENET_OK);
    /* the defaults carry their own policy and validate */
    BeenetPolicyParams p = beenet_policy_default_params ((BeenetPolicy) i);
    ck_assert_int_eq (p.policy, (int) i);
    ck_assert_uint_eq (p.patience, 2);
    ck_assert_uint_eq (p.max_exit, 0);
    ck_assert_int_eq (beenet_policy_params_validate (&p, &err), BEENET_OK);
  }
  ck_assert_int_eq (BEENET_POLICY_PATIENCE, 2);
  ck_assert_int_eq (beenet_policy_uses_threshold (BEENET_POLICY_ENTROPY), 1);
  ck_assert_int_eq (beenet_policy_uses_threshold (
          BEENET_POLICY_MAX_PROBABILITY), 1);
  ck_assert_int_eq (beenet_policy_uses_threshold (BEENET_POLICY_PATIENCE), 0);
  ck_assert_int_eq (BEENET_POLICY_CLASS_EXCLUSION, 3);
  ck_assert_int_eq (BEENET_POLICY_EENET, 4);
  ck_assert_int_eq (beenet_policy_uses_threshold (BEENET_POLICY_EENET), 0);
  ck_assert_int_eq (beenet_policy_uses_threshold ((BeenetPolicy) 5), 0);
  ck_assert_ptr_null (beenet_policy_name ((BeenetPolicy) 5));
  ck_assert_ptr_null (beenet_policy_name ((BeenetPolicy) -1));
  ck_assert_ptr_null (beenet_policy_description ((BeenetPolicy) 5));
}
END_TEST

START_TEST (test_table_unknown_names)
{
  BeenetPolicy p = BEENET_POLICY_PATIENCE;
  BeenetError err;
  const char *bad[] = { "Entropy", "max_probability", "", "patience ",
    "maxprob" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_int_eq (beenet_policy_from_name (bad[i], &p, &err),
        BEENET_ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq (err.code, BEENET_ERROR_INVALID_ARGUMENT);
    /* the message lists the valid names */
    ck_assert_ptr_nonnull (strstr (err.message, "\"max-probability\""));
    ck_assert_ptr_nonnull (strstr (err.message, "\"patience\""));
    ck_assert_int_eq (p, BEENET_POLICY_PATIENCE);     /* untouched */
  }
  ck_assert_int_eq (beenet_policy_from_name (NULL, &p, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_policy_from_name ("entropy", NULL, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_policy_from_name ("entropy", &p, NULL), BEENET_OK);
  ck_assert_int_eq (p, BEENET_POLICY_ENTROPY);
}
END_TEST

/* ---- validation ---------------------------------------------------------- */

static void
expect_invalid (const BeenetPolicyParams *p, const char *in_message)
{
  BeenetError err;
  ck_assert_int_eq (beenet_policy_params_validate (p, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_msg (strstr (err.message, in_message) != NULL,
      "message \"%s\" lacks \"%s\"", err.message, in_message);
}

START_TEST (test_invalid_params)
{
  BeenetPolicyParams p = patience (0, 0);
  expect_invalid (&p, "patience");
  p = beenet_policy_default_params (BEENET_POLICY_ENTROPY);
  p.threshold = NAN;
  expect_invalid (&p, "NaN");
  p = beenet_policy_default_params ((BeenetPolicy) 7);
  ck_assert_int_eq (p.policy, 7);
  expect_invalid (&p, "policy");
  expect_invalid (NULL, "NULL");
  /* patience is only checked by the policy that uses it */
  p = beenet_policy_default_params (BEENET_POLICY_MAX_PROBABILITY);
  p.patience = 0;
  ck_assert_int_eq (beenet_policy_params_validate (&p, NULL), BEENET_OK);
  /* max_exit beyond the exits is not an error (clamped at run time) */
  p = patience (1, 1000);
  ck_assert_int_eq (beenet_policy_params_validate (&p, NULL), BEENET_OK);

  /* the session returns the same codes and leaves the result untouched */
  Fixture f = fixture (AABBB, 5);
  BeenetResult r;
  BeenetError err;
  memset (&r, 0xab, sizeof r);
  p = patience (0, 0);
  ck_assert_int_eq (beenet_session_classify_features_params (f.session,
          f.features, &p, &r, &err), BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (err.message, "patience"));
  ck_assert_uint_eq (r.exit_index, 0xabababab);
  ck_assert_int_eq (beenet_session_classify_features_params (f.session,
          f.features, NULL, &r, &err), BEENET_ERROR_INVALID_ARGUMENT);
  float *x = calloc (16000, sizeof (float));
  ck_assert_int_eq (beenet_session_classify_params (f.session, x, 16000, &p,
          &r, &err), BEENET_ERROR_INVALID_ARGUMENT);
  free (x);
  fixture_free (&f);
}
END_TEST

/* ---- patience ------------------------------------------------------------ */

START_TEST (test_patience_counts)
{
  Fixture f = fixture (AABBB, 5);
  /* k: exit, class.  A,A,B,B,B: k=1 stops at once, k=2 on the second A,
   * k=3 on the third B (the A run only reached 2), k>=4 never: last exit. */
  const struct { uint32_t k, exit, cls; } cases[] = {
    { 1, 1, 0 }, { 2, 2, 0 }, { 3, 5, 1 }, { 4, 5, 1 }, { 100, 5, 1 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    BeenetPolicyParams p = patience (cases[i].k, 0);
    BeenetResult r = run (&f, &p);
    ck_assert_msg (r.exit_index == cases[i].exit && r.class_index
        == cases[i].cls, "patience %u: exit %u class %u, want %u %u",
        cases[i].k, r.exit_index, r.class_index, cases[i].exit, cases[i].cls);
    ck_assert_uint_eq (r.num_exits, 5);
  }
  fixture_free (&f);

  /* A,B,A,A,C: the B resets the run, so k=2 stops at exit 4 (A, A), k=3
   * runs to the end. */
  f = fixture (ABAAC, 5);
  BeenetPolicyParams p = patience (2, 0);
  BeenetResult r = run (&f, &p);
  ck_assert_uint_eq (r.exit_index, 4);
  ck_assert_uint_eq (r.class_index, 0);
  p = patience (3, 0);
  r = run (&f, &p);
  ck_assert_uint_eq (r.exit_index, 5);
  ck_assert_uint_eq (r.class_index, 2);
  fixture_free (&f);
}
END_TEST

/* The run count starts again at every window. */
START_TEST (test_patience_state_per_window)
{
  Fixture f = fixture (AABBB, 5);
  /* a window cut at exit 2 leaves an A run of 2 behind ... */
  BeenetPolicyParams cut = patience (100, 2);
  BeenetPolicyParams k3 = patience (3, 0);
  for (int i = 0; i < 3; i++) {
    BeenetResult r = run (&f, &cut);
    ck_assert_uint_eq (r.exit_index, 2);
    /* ... which must not carry into the next window: exit 1 counts 1 */
    r = run (&f, &k3);
    ck_assert_uint_eq (r.exit_index, 5);
    ck_assert_uint_eq (r.class_index, 1);
  }
  fixture_free (&f);
}
END_TEST

/* ---- max_exit ------------------------------------------------------------ */

START_TEST (test_max_exit_caps_every_policy)
{
  Fixture f = fixture (AABBB, 5);
  for (size_t i = 0; i < beenet_policy_count (); i++) {
    if (i == BEENET_POLICY_EENET)
      continue;   /* needs a scheduler in the model (test-eenet.c) */
    BeenetPolicyParams p = beenet_policy_default_params ((BeenetPolicy) i);
    /* settings under which no exit before the last stops */
    p.threshold = i == BEENET_POLICY_ENTROPY ? -1.0f : 2.0f;
    p.patience = 100;
    const struct { uint32_t max_exit, exit; } cases[] = {
      { 0, 5 }, { 1, 1 }, { 2, 2 }, { 3, 3 }, { 4, 4 }, { 5, 5 }, { 6, 5 },
      { 1000, 5 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
      p.max_exit = cases[c].max_exit;
      BeenetResult r = run (&f, &p);
      ck_assert_msg (r.exit_index == cases[c].exit,
          "%s max_exit %u: exit %u, want %u", beenet_policy_name (p.policy),
          p.max_exit, r.exit_index, cases[c].exit);
      /* the forced exit reports its own prediction and cost */
      ck_assert_uint_eq (r.class_index, r.exit_index <= 2 ? 0 : 1);
      ck_assert (r.ops_fraction <= 1.0);
      ck_assert (r.exit_index == 5 ? r.ops_fraction == 1.0
          : r.ops_fraction < 1.0);
    }
  }
  /* a cap never delays an earlier stop */
  BeenetPolicyParams p = beenet_policy_default_params (BEENET_POLICY_ENTROPY);
  p.threshold = 100.0f;
  p.max_exit = 3;
  ck_assert_uint_eq (run (&f, &p).exit_index, 1);
  p = patience (2, 4);
  ck_assert_uint_eq (run (&f, &p).exit_index, 2);
  p = patience (3, 4);
  ck_assert_uint_eq (run (&f, &p).exit_index, 4);
  fixture_free (&f);
}
END_TEST

/* The positional calls are the _params calls with the policy's defaults. */
START_TEST (test_positional_wrappers)
{
  Fixture f = fixture (AABBB, 5);
  float *x = calloc (16000, sizeof (float));
  const float thresholds[] = { -1.0f, 0.5f, 0.9f, 1.2f, 100.0f };
  for (size_t i = 0; i < beenet_policy_count (); i++)
    for (size_t t = 0; t < sizeof thresholds / sizeof thresholds[0]; t++) {
      if (i == BEENET_POLICY_CLASS_EXCLUSION && thresholds[t] < 0.0f)
        continue;   /* its margin scale must be >= 0 */
      if (i == BEENET_POLICY_EENET)
        continue;   /* needs a scheduler in the model (test-eenet.c) */
      BeenetPolicyParams p = beenet_policy_default_params ((BeenetPolicy) i);
      p.threshold = thresholds[t];
      BeenetResult a, b, c, d;
      ck_assert_int_eq (beenet_session_classify_features (f.session,
              f.features, (BeenetPolicy) i, thresholds[t], &a, NULL), 0);
      b = run (&f, &p);
      ck_assert_int_eq (beenet_session_classify (f.session, x, 16000,
              (BeenetPolicy) i, thresholds[t], &c, NULL), 0);
      ck_assert_int_eq (beenet_session_classify_params (f.session, x, 16000,
              &p, &d, NULL), 0);
      ck_assert_uint_eq (a.exit_index, b.exit_index);
      ck_assert_uint_eq (c.exit_index, d.exit_index);
      ck_assert_uint_eq (a.class_index, b.class_index);
    }
  /* default patience 2 through the old entry point */
  BeenetResult r;
  ck_assert_int_eq (beenet_session_classify_features (f.session, f.features,
          BEENET_POLICY_PATIENCE, 0.0f, &r, NULL), 0);
  ck_assert_uint_eq (r.exit_index, 2);
  free (x);
  fixture_free (&f);
}
END_TEST

/* The model's recommendation, and "patience" in a model file. */
START_TEST (test_model_default_params)
{
  Fixture f = fixture (AABBB, 5);
  BeenetPolicyParams p = beenet_model_default_params (f.model);
  ck_assert_int_eq (p.policy, BEENET_POLICY_ENTROPY);
  ck_assert_float_eq (p.threshold, 0.5f);
  ck_assert_uint_eq (p.patience, 2);
  ck_assert_uint_eq (p.max_exit, 0);
  p = beenet_model_default_params (NULL);
  ck_assert_int_eq (p.policy, BEENET_POLICY_ENTROPY);
  fixture_free (&f);

  GgufWriter *w = test_models_constant_exits_writer (5, K, AABBB);
  gguf_writer_replace_string (w, "beenet.policy", "patience");
  size_t size;
  uint8_t *b = gguf_writer_serialize (w, &size);
  BeenetModel *m;
  BeenetError err;
  ck_assert_int_eq (beenet_model_load_memory (b, size, &m, &err), BEENET_OK);
  ck_assert_int_eq (beenet_model_default_policy (m), BEENET_POLICY_PATIENCE);
  char *d = beenet_model_describe (m);
  ck_assert_ptr_nonnull (strstr (d, "policy: patience"));
  free (d);
  beenet_model_unref (m);
  free (b);
  gguf_writer_replace_string (w, "beenet.policy", "max_probability");
  b = gguf_writer_serialize (w, &size);
  ck_assert_int_eq (beenet_model_load_memory (b, size, &m, &err),
      BEENET_ERROR_CORRUPT);
  ck_assert_ptr_nonnull (strstr (err.message, "\"patience\""));
  free (b);
  gguf_writer_free (w);
}
END_TEST

static Suite *
policy_suite (void)
{
  Suite *s = suite_create ("policy");
  TCase *tc = tcase_create ("core");
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_table_round_trip);
  tcase_add_test (tc, test_table_unknown_names);
  tcase_add_test (tc, test_invalid_params);
  tcase_add_test (tc, test_patience_counts);
  tcase_add_test (tc, test_patience_state_per_window);
  tcase_add_test (tc, test_max_exit_caps_every_policy);
  tcase_add_test (tc, test_positional_wrappers);
  tcase_add_test (tc, test_model_default_params);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (policy_suite ());
  srunner_run_all (sr, CK_NORMAL);
  int failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
