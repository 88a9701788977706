/* Exit policies: the policy table (names, descriptions, defaults,
 * round-trips), parameter validation and its error codes, the patience rule
 * (PABEE) on hand-made networks with known per-exit argmax sequences, and
 * max_exit capping every policy.  Networks come from
 * test_models_constant_exits: exit e always outputs the given logits. */
#include "beenet.h"
#include "exits-fixture.h"
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

/* class-exclusion factors that exclude nothing, so every policy of the
 * table runs on these networks (tests/engine/test-class-exclusion.c tests
 * the policy itself) */
static Fixture
fixture (const float *logits, unsigned n_exits)
{
  const float no_exclusion[8] = { 0 };
  return exits_fixture (logits, n_exits, K, no_exclusion);
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
    BeenetResult r = fixture_run (&f, &p);
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
  BeenetResult r = fixture_run (&f, &p);
  ck_assert_uint_eq (r.exit_index, 4);
  ck_assert_uint_eq (r.class_index, 0);
  p = patience (3, 0);
  r = fixture_run (&f, &p);
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
    BeenetResult r = fixture_run (&f, &cut);
    ck_assert_uint_eq (r.exit_index, 2);
    /* ... which must not carry into the next window: exit 1 counts 1 */
    r = fixture_run (&f, &k3);
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
      BeenetResult r = fixture_run (&f, &p);
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
  ck_assert_uint_eq (fixture_run (&f, &p).exit_index, 1);
  p = patience (2, 4);
  ck_assert_uint_eq (fixture_run (&f, &p).exit_index, 2);
  p = patience (3, 4);
  ck_assert_uint_eq (fixture_run (&f, &p).exit_index, 4);
  fixture_free (&f);
}
END_TEST

/* ---- keyword_exit ---------------------------------------------------------- */

/* AABBB with class 1 (B) the only keyword: a model whose exits 1-2 say A
 * (not a keyword) and 3-5 say B (a keyword). */
static void
add_keyword_keys (GgufWriter *w, const void *data)
{
  const uint32_t keyword_exit_key = *(const uint32_t *) data;
  const uint32_t keywords[1] = { 1 };
  gguf_writer_add_array_u32 (w, "beenet.keywords", keywords, 1);
  if (keyword_exit_key)
    gguf_writer_add_u32 (w, "beenet.keyword_exit", keyword_exit_key);
}

static Fixture
keyword_fixture (uint32_t keyword_exit_key)
{
  return exits_fixture_with (AABBB, 5, K, NULL, add_keyword_keys,
      &keyword_exit_key);
}

START_TEST (test_keyword_exit_holds_keywords_only)
{
  Fixture f = keyword_fixture (0);
  ck_assert (!beenet_model_is_keyword (f.model, 0));
  ck_assert (beenet_model_is_keyword (f.model, 1));
  ck_assert_uint_eq (beenet_model_default_params (f.model).keyword_exit, 0);
  for (size_t i = 0; i < beenet_policy_count (); i++) {
    BeenetPolicyParams p = beenet_policy_default_params ((BeenetPolicy) i);
    BeenetError err;
    /* class-exclusion and eenet need keys this model does not have */
    if (beenet_model_check_params (f.model, &p, &err) != BEENET_OK)
      continue;
    ck_assert_uint_eq (p.keyword_exit, 0);
    /* settings under which every exit wants to stop */
    p.threshold = i == BEENET_POLICY_ENTROPY ? 100.0f : 0.0f;
    p.patience = 1;
    ck_assert_uint_eq (fixture_run (&f, &p).exit_index, 1);
    /* A (not a keyword) at exits 1-2 still leaves early */
    p.keyword_exit = 5;
    ck_assert_uint_eq (fixture_run (&f, &p).exit_index, 1);
  }
  fixture_free (&f);
}
END_TEST

START_TEST (test_keyword_exit_runs_keyword_candidates_on)
{
  /* exits 3-5 say B (a keyword): with max_exit the window stops at exit 3
   * unless keyword_exit sends it on; max_exit still wins */
  Fixture f = keyword_fixture (0);
  BeenetPolicyParams p = beenet_policy_default_params (BEENET_POLICY_ENTROPY);
  /* exits 1-2 (A) do not stop: entropy of logits (1,0,0) and (2,0,0) is
   * above 0.4 nats, (3,0,0) onwards below it for B */
  p.threshold = 0.4f;
  BeenetResult r = fixture_run (&f, &p);
  ck_assert_uint_eq (r.exit_index, 3);
  ck_assert_uint_eq (r.class_index, 1);
  const struct { uint32_t keyword_exit, max_exit, exit; } cases[] = {
    { 0, 0, 3 }, { 1, 0, 3 }, { 3, 0, 3 }, { 4, 0, 4 }, { 5, 0, 5 },
    { 99, 0, 5 }, { 5, 4, 4 }, { 5, 3, 3 },
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    p.keyword_exit = cases[c].keyword_exit;
    p.max_exit = cases[c].max_exit;
    r = fixture_run (&f, &p);
    ck_assert_msg (r.exit_index == cases[c].exit,
        "keyword_exit %u max_exit %u: exit %u, want %u", p.keyword_exit,
        p.max_exit, r.exit_index, cases[c].exit);
    ck_assert_uint_eq (r.class_index, 1);
  }
  fixture_free (&f);
}
END_TEST

START_TEST (test_keyword_exit_from_model)
{
  Fixture f = keyword_fixture (4);
  BeenetPolicyParams p = beenet_model_default_params (f.model);
  ck_assert_uint_eq (p.keyword_exit, 4);
  p.threshold = 0.4f;
  ck_assert_uint_eq (fixture_run (&f, &p).exit_index, 4);
  char *d = beenet_model_describe (f.model);
  ck_assert_ptr_nonnull (strstr (d, "keyword exit 4"));
  free (d);
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
      b = fixture_run (&f, &p);
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
  tcase_add_test (tc, test_keyword_exit_holds_keywords_only);
  tcase_add_test (tc, test_keyword_exit_runs_keyword_candidates_on);
  tcase_add_test (tc, test_keyword_exit_from_model);
  tcase_add_test (tc, test_model_default_params);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return exits_run_suite (policy_suite ());
}
