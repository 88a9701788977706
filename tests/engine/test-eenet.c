/* The eenet policy (Ilhan et al. 2023) on hand-made networks whose exits
 * output fixed logits (exits-fixture.h) and a hand-made
 * scheduler (beenet.eenet.*): the utility scores against a reference
 * computed here from the logits and the weights, the stop decisions at
 * stored and interpolated budgets (worked out by hand in the comments),
 * the agreement measure, the model keys (missing, corrupt, describe), the
 * params checks, the budget controller driving the scheduler's budget, and
 * no allocation per window. */
#include "beenet.h"
#include "exits-fixture.h"
#include "gguf-writer.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(BEENET_TEST_WRAP_MALLOC)
#include "alloc-count.h"
#endif

#define K 4
#define E 3
#define H 2
#define D (4 + K)   /* 4 confidence measures, then the K probabilities */
#define NB 2

/* Exit 1: p = softmax(2, 1, 0, 0) = 0.6103 0.2245 0.0826 0.0826, best 0.
 * Exit 2: p = softmax(0, 3, 0, 0) = 0.0433 0.8701 0.0433 0.0433, best 1.
 * Exit 3: best 1. */
static const float LOGITS[E * K] = {
  2.0f, 1.0f, 0.0f, 0.0f,
  0.0f, 3.0f, 0.0f, 0.0f,
  0.0f, 3.0f, 0.0f, 1.0f,
};
/* Same, but exit 1 agrees with exit 2 (best 1, same probabilities). */
static const float LOGITS_AGREE[E * K] = {
  1.0f, 2.0f, 0.0f, 0.0f,
  0.0f, 3.0f, 0.0f, 0.0f,
  0.0f, 3.0f, 0.0f, 1.0f,
};

/* Exit 1: h0 = relu(4 * maxprob - 1) = 1.441, h1 = relu(10 * p[2]) = 0.826,
 *   z = h0 - h1 = 0.615, q = 0.649.
 * Exit 2: h0 = relu(3 * agreement + 0.5) = 0.5 (exit 1 disagrees) or 3.5
 *   (agrees), h1 = relu(2 * margin) = 2 * (0.8701 - 0.0433) = 1.653,
 *   z = 2 h0 + h1 - 1 = 1.653 (q = 0.839) or 7.653 (q = 0.9995).
 * Exit 3: never scored (the last exit always stops). */
static const float W1[E * H * D] = {
  4, 0, 0, 0, 0, 0, 0, 0,    0, 0, 0, 0, 0, 0, 10, 0,
  0, 0, 0, 3, 0, 0, 0, 0,    0, 0, 2, 0, 0, 0, 0, 0,
  1, 1, 1, 1, 1, 1, 1, 1,    1, 1, 1, 1, 1, 1, 1, 1,
};
static const float B1[E * H] = { -1, 0, 0.5f, 0, 0, 0 };
static const float W2[E * H] = { 1, -1, 2, 1, 1, 1 };
static const float B2[E] = { 0, -1, 0 };
static const float BUDGETS[NB] = { 0.4f, 1.0f };
/* At 0.4 exit 1 stops (0.649 >= 0.6); at 1.0 nothing stops before exit 3
 * unless exit 2 agrees with exit 1 (0.9995 >= 0.95). */
static const float THRESHOLDS[NB * E] = {
  0.6f, 0.5f, 0.0f,
  0.95f, 0.95f, 0.0f,
};

/* The scheduler keys (exits_fixture_with's extra keys). */
static void
scheduler_keys (GgufWriter *w, const void *data)
{
  (void) data;
  gguf_writer_add_u32 (w, "beenet.eenet.hidden", H);
  gguf_writer_add_array_f32 (w, "beenet.eenet.w1", W1, E * H * D);
  gguf_writer_add_array_f32 (w, "beenet.eenet.b1", B1, E * H);
  gguf_writer_add_array_f32 (w, "beenet.eenet.w2", W2, E * H);
  gguf_writer_add_array_f32 (w, "beenet.eenet.b2", B2, E);
  gguf_writer_add_array_f32 (w, "beenet.eenet.budgets", BUDGETS, NB);
  gguf_writer_add_array_f32 (w, "beenet.eenet.thresholds", THRESHOLDS,
      NB * E);
}

static Fixture
fixture (const float *logits)
{
  return exits_fixture_with (logits, E, K, NULL, scheduler_keys, NULL);
}

static BeenetResult
run_budget (Fixture *f, float budget)
{
  BeenetPolicyParams p = beenet_policy_default_params (BEENET_POLICY_EENET);
  p.budget = budget;
  return fixture_run (f, &p);
}

/* ---- the reference, from the logits and the weights ---------------------- */

static void
softmax (const float *z, double *p)
{
  double m = z[0], s = 0.0;
  for (int k = 1; k < K; k++)
    m = z[k] > m ? z[k] : m;
  for (int k = 0; k < K; k++)
    s += (p[k] = exp (z[k] - m));
  for (int k = 0; k < K; k++)
    p[k] /= s;
}

static int
argmax (const double *p)
{
  int b = 0;
  for (int k = 1; k < K; k++)
    if (p[k] > p[b])
      b = k;
  return b;
}

/* q of exit e (0-based) of `logits`. */
static double
ref_score (const float *logits, int e)
{
  double p[K], in[D], h = 0.0;
  int best[E];
  for (int j = 0; j <= e; j++) {
    softmax (logits + j * K, p);
    best[j] = argmax (p);
  }
  double second = 0.0;
  for (int k = 0; k < K; k++) {
    if (k != best[e] && p[k] > second)
      second = p[k];
    if (p[k] > 0)
      h -= p[k] * log (p[k]);
    in[4 + k] = p[k];
  }
  int agree = 0;
  for (int j = 0; j < e; j++)
    agree += best[j] == best[e];
  in[0] = p[best[e]];
  in[1] = h / log (K);
  in[2] = p[best[e]] - second;
  in[3] = e > 0 ? (double) agree / e : 0.0;
  double z = B2[e];
  for (int u = 0; u < H; u++) {
    double a = B1[e * H + u];
    for (int i = 0; i < D; i++)
      a += W1[(e * H + u) * D + i] * in[i];
    z += W2[e * H + u] * (a > 0 ? a : 0);
  }
  return 1.0 / (1.0 + exp (-z));
}

static double
ref_threshold (float budget, int e)
{
  if (budget <= BUDGETS[0])
    return THRESHOLDS[e];
  if (budget >= BUDGETS[NB - 1])
    return THRESHOLDS[(NB - 1) * E + e];
  const double w = (budget - BUDGETS[0]) / (BUDGETS[1] - BUDGETS[0]);
  return THRESHOLDS[e] + w * (THRESHOLDS[E + e] - THRESHOLDS[e]);
}

/* ---- tests --------------------------------------------------------------- */

START_TEST (test_reference_scores)
{
  /* The hand-computed scores of the comments above. */
  ck_assert_double_eq_tol (ref_score (LOGITS, 0), 0.649, 1e-3);
  ck_assert_double_eq_tol (ref_score (LOGITS, 1), 0.839, 1e-3);
  ck_assert_double_eq_tol (ref_score (LOGITS_AGREE, 1), 0.9995, 1e-4);
}
END_TEST

/* Stored budgets: at 0.4 exit 1 stops (class 0), at 1.0 exit 3 (class 1);
 * below the stored range the lowest budget's thresholds.  Interpolated:
 * budget 0.7, halfway: thresholds 0.775 (exit 1: 0.649, go on) and 0.725
 * (exit 2: 0.839, stop).  Budget 0.9: 0.8917 and 0.875 -> exit 3. */
static const struct
{
  float budget;
  unsigned exit, class_index;
} BUDGET_CASES[] = {
  { 0.4f, 1, 0 }, { 1.0f, 3, 1 }, { 0.2f, 1, 0 }, { 0.7f, 2, 1 },
  { 0.9f, 3, 1 },
};

START_TEST (test_stored_and_interpolated_budgets)
{
  Fixture f = fixture (LOGITS);
  for (size_t i = 0; i < sizeof BUDGET_CASES / sizeof BUDGET_CASES[0]; i++) {
    BeenetResult r = run_budget (&f, BUDGET_CASES[i].budget);
    ck_assert_msg (r.exit_index == BUDGET_CASES[i].exit
        && r.class_index == BUDGET_CASES[i].class_index,
        "budget %g: exit %u class %u", BUDGET_CASES[i].budget, r.exit_index,
        r.class_index);
  }
  fixture_free (&f);
}
END_TEST

/* Every budget on a fine grid: the engine stops where the reference does
 * (decisions within 1e-6 of the threshold are skipped as ambiguous). */
START_TEST (test_grid_against_reference)
{
  const float *sets[2] = { LOGITS, LOGITS_AGREE };
  for (int s = 0; s < 2; s++) {
    Fixture f = fixture (sets[s]);
    int checked = 0;
    for (int i = 1; i <= 100; i++) {
      const float budget = (float) i / 100.0f;
      int want = E, ambiguous = 0;
      for (int e = 0; e < E - 1; e++) {
        const double q = ref_score (sets[s], e), t = ref_threshold (budget, e);
        ambiguous |= fabs (q - t) < 1e-6;
        if (q >= t) {
          want = e + 1;
          break;
        }
      }
      if (ambiguous)
        continue;
      ck_assert_uint_eq (run_budget (&f, budget).exit_index, (unsigned) want);
      checked++;
    }
    ck_assert_int_ge (checked, 95);
    fixture_free (&f);
  }
}
END_TEST

/* The agreement measure: with exit 1 agreeing, exit 2 scores 0.9995 and
 * stops even at budget 1 (threshold 0.95); disagreeing it does not. */
START_TEST (test_agreement)
{
  Fixture a = fixture (LOGITS_AGREE), d = fixture (LOGITS);
  ck_assert_uint_eq (run_budget (&a, 1.0f).exit_index, 2);
  ck_assert_uint_eq (run_budget (&d, 1.0f).exit_index, 3);
  /* The per-window state does not leak: the same windows again. */
  ck_assert_uint_eq (run_budget (&d, 1.0f).exit_index, 3);
  ck_assert_uint_eq (run_budget (&a, 1.0f).exit_index, 2);
  fixture_free (&a);
  fixture_free (&d);
}
END_TEST

START_TEST (test_max_exit)
{
  Fixture f = fixture (LOGITS);
  BeenetPolicyParams p = beenet_policy_default_params (BEENET_POLICY_EENET);
  p.max_exit = 2;
  ck_assert_uint_eq (fixture_run (&f, &p).exit_index, 2);
  fixture_free (&f);
}
END_TEST

START_TEST (test_model_keys)
{
  Fixture f = fixture (LOGITS);
  float b[4] = { 0 };
  ck_assert_uint_eq (beenet_model_eenet_budgets (f.model, b, 4), NB);
  ck_assert_float_eq (b[0], 0.4f);
  ck_assert_float_eq (b[1], 1.0f);
  char *desc = beenet_model_describe (f.model);
  ck_assert_ptr_nonnull (strstr (desc, "eenet scheduler: 2 hidden units, "
          "budgets 0.4 1"));
  free (desc);
  fixture_free (&f);
}
END_TEST

START_TEST (test_model_without_scheduler_refuses)
{
  Fixture f = exits_fixture (LOGITS, E, K, NULL);
  BeenetError err;
  ck_assert_uint_eq (beenet_model_eenet_budgets (f.model, NULL, 0), 0);
  BeenetPolicyParams p = beenet_policy_default_params (BEENET_POLICY_EENET);
  ck_assert_int_eq (beenet_model_check_params (f.model, &p, &err),
      BEENET_ERROR_UNSUPPORTED);
  ck_assert_ptr_nonnull (strstr (err.message, "no EENet scheduler"));
  ck_assert_ptr_nonnull (strstr (err.message, "beenet_train eenet"));
  BeenetResult r;
  ck_assert_int_eq (beenet_session_classify_features_params (f.session,
          f.features, &p, &r, &err), BEENET_ERROR_UNSUPPORTED);
  fixture_free (&f);
}
END_TEST

typedef struct {
  const char *key;
  const float *v;               /* NULL: the key is left out */
  size_t n;
} KeyChange;

/* The scheduler keys with one of them replaced (or removed). */
static void
changed_scheduler_keys (GgufWriter *w, const void *data)
{
  const KeyChange *c = data;
  scheduler_keys (w, NULL);
  gguf_writer_remove (w, c->key);
  if (c->v)
    gguf_writer_add_array_f32 (w, c->key, c->v, c->n);
}

static BeenetStatus
load_changed (const char *key, const float *v, size_t n, BeenetError *err)
{
  const KeyChange c = { key, v, n };
  BeenetModel *m = NULL;
  BeenetStatus st = exits_model_load_with (LOGITS, E, K, NULL, NULL,
      changed_scheduler_keys, &c, &m, err);
  beenet_model_unref (m);
  return st;
}

START_TEST (test_corrupt_keys)
{
  BeenetError err;
  const float down[2] = { 0.8f, 0.4f }, over[2] = { 0.4f, 1.5f };
  ck_assert_int_eq (load_changed ("beenet.eenet.budgets", down, 2, &err),
      BEENET_ERROR_CORRUPT);
  ck_assert_ptr_nonnull (strstr (err.message, "strictly increasing"));
  ck_assert_int_eq (load_changed ("beenet.eenet.budgets", over, 2, &err),
      BEENET_ERROR_CORRUPT);
  ck_assert_int_eq (load_changed ("beenet.eenet.w2", W2, 3, &err),
      BEENET_ERROR_CORRUPT);
  ck_assert_ptr_nonnull (strstr (err.message, "beenet.eenet.w2"));
  ck_assert_int_eq (load_changed ("beenet.eenet.thresholds", NULL, 0, &err),
      BEENET_ERROR_CORRUPT);
  ck_assert_ptr_nonnull (strstr (err.message, "missing"));
  const float nan[E] = { 0, NAN, 0 };
  ck_assert_int_eq (load_changed ("beenet.eenet.b2", nan, E, &err),
      BEENET_ERROR_CORRUPT);
  /* A file recommending eenet must carry the scheduler. */
  BeenetModel *m = NULL;
  ck_assert_int_eq (exits_model_load (LOGITS, E, K, NULL, "eenet", &m, &err),
      BEENET_ERROR_CORRUPT);
  ck_assert_ptr_nonnull (strstr (err.message, "eenet"));
}
END_TEST

START_TEST (test_params_validation)
{
  BeenetError err;
  BeenetPolicy pol;
  ck_assert_int_eq (beenet_policy_from_name ("eenet", &pol, &err), BEENET_OK);
  ck_assert_int_eq (pol, BEENET_POLICY_EENET);
  ck_assert_str_eq (beenet_policy_name (BEENET_POLICY_EENET), "eenet");
  ck_assert_int_eq (beenet_policy_uses_threshold (BEENET_POLICY_EENET), 0);
  BeenetPolicyParams p = beenet_policy_default_params (BEENET_POLICY_EENET);
  ck_assert_float_eq (p.budget, 1.0f);
  ck_assert_int_eq (beenet_policy_params_validate (&p, &err), BEENET_OK);
  const float bad[3] = { 0.0f, 1.5f, NAN };
  for (int i = 0; i < 3; i++) {
    p.budget = bad[i];
    ck_assert_int_eq (beenet_policy_params_validate (&p, &err),
        BEENET_ERROR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull (strstr (err.message, "budget"));
  }
}
END_TEST

/* The budget controller drives the scheduler's budget: it starts at the
 * target, then x = -8 budget moves by gain * (cost - target) per window. */
START_TEST (test_budget_controller)
{
  BeenetBudgetParams bp;
  beenet_budget_params_default (NULL, &bp);
  bp.target = 0.5;
  BeenetBudget *b;
  BeenetError err;
  ck_assert_int_eq (beenet_budget_new (&bp, &b, &err), BEENET_OK);
  BeenetPolicyParams p = beenet_policy_default_params (BEENET_POLICY_EENET);
  beenet_budget_apply (b, &p);
  ck_assert_float_eq_tol (p.budget, 0.5f, 1e-6f);
  ck_assert_float_eq (p.threshold, 0.0f);   /* untouched */
  /* Cost 0.9: x += 0.4, budget 0.5 - 0.4 / 8 = 0.45. */
  ck_assert_double_eq_tol (beenet_budget_update (b, 0.9), 0.45, 1e-9);
  beenet_budget_apply (b, &p);
  ck_assert_float_eq_tol (p.budget, 0.45f, 1e-6f);
  BeenetBudgetState s;
  beenet_budget_get_state (b, &s);
  ck_assert_float_eq_tol (s.threshold, 0.45f, 1e-6f);
  /* Cost 0.1 twice: back up by 0.05 each. */
  beenet_budget_update (b, 0.1);
  ck_assert_double_eq_tol (beenet_budget_update (b, 0.1), 0.55, 1e-9);
  /* Off: the caller's budget is left as it is. */
  ck_assert_int_eq (beenet_budget_set_target (b, 1.0, &err), BEENET_OK);
  p.budget = 0.8f;
  beenet_budget_apply (b, &p);
  ck_assert_float_eq (p.budget, 0.8f);
  beenet_budget_free (b);
}
END_TEST

START_TEST (test_no_allocation_per_window)
{
#if defined(BEENET_TEST_WRAP_MALLOC)
  Fixture f = fixture (LOGITS_AGREE);
  BeenetPolicyParams p = beenet_policy_default_params (BEENET_POLICY_EENET);
  BeenetResult r;
  BeenetError err;
  n_allocs = 0;
  counting = 1;
  for (int i = 0; i < 20; i++) {
    p.budget = (float) (i + 1) / 20.0f;
    beenet_session_classify_features_params (f.session, f.features, &p, &r,
        &err);
  }
  counting = 0;
  ck_assert_int_eq (n_allocs, 0);
  fixture_free (&f);
#endif
}
END_TEST

static Suite *
eenet_suite (void)
{
  Suite *s = suite_create ("eenet");
  TCase *tc = tcase_create ("core");
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_reference_scores);
  tcase_add_test (tc, test_stored_and_interpolated_budgets);
  tcase_add_test (tc, test_grid_against_reference);
  tcase_add_test (tc, test_agreement);
  tcase_add_test (tc, test_max_exit);
  tcase_add_test (tc, test_model_keys);
  tcase_add_test (tc, test_model_without_scheduler_refuses);
  tcase_add_test (tc, test_corrupt_keys);
  tcase_add_test (tc, test_params_validation);
  tcase_add_test (tc, test_budget_controller);
  tcase_add_test (tc, test_no_allocation_per_window);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return exits_run_suite (eenet_suite ());
}
