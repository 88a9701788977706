/* Budget controller (engine/budget.c) on a simulated plant: a deterministic
 * model of an early-exit network whose per-window cost is a monotone, noisy
 * function of the policy parameter (fixed-seed generator, no clock). */
#include "beenet.h"
#include "check-main.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(BEENET_TEST_WRAP_MALLOC)
#include "alloc-count.h"
#endif

#define N_EXITS 5
#define N_CLASSES 12

/* xorshift64*: the plant's noise, same sequence on every run. */
static uint64_t rng_state;

static double
rng_uniform (void)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (double) ((rng_state * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
}

/* One window: a random difficulty d in [0, 1) sets the entropy of exit e
 * to ln(C) * d * 0.55^(e-1) and its top probability to 1 - 0.9 * d *
 * 0.55^(e-1); the policy stops at the first exit that satisfies it (or
 * the last, or max_exit).  Exit e costs e / N_EXITS of the network. */
static double
plant (const BeenetPolicyParams *p)
{
  const double d = rng_uniform ();
  uint32_t last = p->max_exit && p->max_exit < N_EXITS ? p->max_exit
      : N_EXITS;
  uint32_t e;
  for (e = 1; e < last; e++) {
    const double s = d * pow (0.55, e - 1);
    if (p->policy == BEENET_POLICY_ENTROPY && log (N_CLASSES) * s
        < p->threshold)
      break;
    if (p->policy == BEENET_POLICY_MAX_PROBABILITY && 1.0 - 0.9 * s
        >= p->threshold)
      break;
    if (p->policy == BEENET_POLICY_PATIENCE && e >= 2 + (uint32_t) (4 * d))
      break;
  }
  return (double) e / N_EXITS;
}

static BeenetBudget *
new_budget (void)
{
  BeenetBudgetParams bp;
  BeenetBudget *b = NULL;
  BeenetError err;
  beenet_budget_params_default (NULL, &bp);
  bp.num_classes = N_CLASSES;
  bp.num_exits = N_EXITS;
  ck_assert_int_eq (beenet_budget_new (&bp, &b, &err), BEENET_OK);
  return b;
}

/* Run n windows; returns the mean cost of the windows after `skip`. */
static double
run (BeenetBudget *b, const BeenetPolicyParams *user, int n, int skip)
{
  double sum = 0.0;
  for (int i = 0; i < n; i++) {
    BeenetPolicyParams p = *user;
    beenet_budget_apply (b, &p);
    const double cost = plant (&p);
    beenet_budget_update (b, cost);
    if (i >= skip)
      sum += cost;
  }
  return sum / (n - skip);
}

/* Budget steps 1.0 -> 0.4 -> 0.6: after SETTLE windows (15 s at the
 * element's 500 ms interval) the mean cost is within +-5 % of the budget,
 * and so is every block of 200 windows. */
#define SETTLE 30
#define BLOCK 200

static void
check_steps (BeenetPolicy policy, float threshold)
{
  BeenetPolicyParams user = beenet_policy_default_params (policy);
  BeenetBudgetState st;
  user.threshold = threshold;
  rng_state = 0x9E3779B97F4A7C15ULL;
  BeenetBudget *b = new_budget ();

  run (b, &user, 100, 0);
  beenet_budget_get_state (b, &st);
  ck_assert_int_eq (st.active, 0);
  ck_assert_float_eq (st.threshold, threshold);

  const double targets[] = { 0.4, 0.6 };
  for (int t = 0; t < 2; t++) {
    ck_assert_int_eq (beenet_budget_set_target (b, targets[t], NULL),
        BEENET_OK);
    run (b, &user, SETTLE, 0);
    double total = 0.0;
    for (int k = 0; k < 4; k++) {
      const double m = run (b, &user, BLOCK, 0);
      ck_assert_msg (fabs (m - targets[t]) <= 0.05 * targets[t],
          "%s: budget %.2f block %d: mean cost %.4f",
          beenet_policy_name (policy), targets[t], k, m);
      total += m / 4;
    }
    beenet_budget_get_state (b, &st);
    ck_assert_int_eq (st.active, 1);
    ck_assert_double_eq_tol (total, targets[t], 0.05 * targets[t]);
    ck_assert_double_eq_tol (st.average_cost, targets[t], 0.25 * targets[t]);
  }
  beenet_budget_free (b);
}

START_TEST (test_steps_entropy)
{
  check_steps (BEENET_POLICY_ENTROPY, 0.5f);
}
END_TEST

START_TEST (test_steps_max_probability)
{
  check_steps (BEENET_POLICY_MAX_PROBABILITY, 0.9f);
}
END_TEST

START_TEST (test_steps_patience)
{
  check_steps (BEENET_POLICY_PATIENCE, 0.0f);
}
END_TEST

/* Monotone direction: a lower budget gives a higher entropy threshold, a
 * lower max-probability threshold, a lower max_exit. */
START_TEST (test_direction)
{
  const BeenetPolicy pols[] = { BEENET_POLICY_ENTROPY,
    BEENET_POLICY_MAX_PROBABILITY, BEENET_POLICY_PATIENCE };
  for (int i = 0; i < 3; i++) {
    BeenetPolicyParams user = beenet_policy_default_params (pols[i]);
    BeenetBudgetState lo, hi;
    BeenetBudget *b = new_budget ();
    rng_state = 42;
    beenet_budget_set_target (b, 0.3, NULL);
    run (b, &user, 400, 0);
    beenet_budget_get_state (b, &lo);
    beenet_budget_set_target (b, 0.8, NULL);
    run (b, &user, 400, 0);
    beenet_budget_get_state (b, &hi);
    if (pols[i] == BEENET_POLICY_ENTROPY)
      ck_assert_float_gt (lo.threshold, hi.threshold);
    else if (pols[i] == BEENET_POLICY_MAX_PROBABILITY)
      ck_assert_float_lt (lo.threshold, hi.threshold);
    else
      ck_assert_double_lt (lo.max_exit, hi.max_exit);
    beenet_budget_free (b);
  }
}
END_TEST

/* An unreachable budget (below the cost of exit 1) saturates the control
 * at its bound without winding up: a reachable budget afterwards is met
 * as quickly as from the start. */
START_TEST (test_anti_windup)
{
  BeenetPolicyParams user = beenet_policy_default_params (BEENET_POLICY_ENTROPY);
  BeenetBudgetState st;
  BeenetBudget *b = new_budget ();
  rng_state = 7;
  beenet_budget_set_target (b, 0.05, NULL);
  run (b, &user, 2000, 0);
  beenet_budget_get_state (b, &st);
  ck_assert_double_eq_tol (st.threshold, log (N_CLASSES), 1e-4);
  beenet_budget_set_target (b, 0.6, NULL);
  run (b, &user, SETTLE, 0);
  const double m = run (b, &user, BLOCK, 0);
  ck_assert_double_eq_tol (m, 0.6, 0.05 * 0.6);
  beenet_budget_free (b);
}
END_TEST

/* Off (1.0) passes the caller's parameters through; turning it on starts
 * from the caller's threshold; a caller's max_exit stays an upper bound. */
START_TEST (test_off_and_start)
{
  BeenetPolicyParams user = beenet_policy_default_params (BEENET_POLICY_ENTROPY);
  BeenetBudget *b = new_budget ();
  BeenetPolicyParams p = user;
  user.threshold = 0.3f;
  user.max_exit = 4;
  p = user;
  beenet_budget_apply (b, &p);
  ck_assert_float_eq (p.threshold, 0.3f);
  ck_assert_double_eq (beenet_budget_update (b, 0.7), 0.3f);
  beenet_budget_set_target (b, 0.5, NULL);
  p = user;
  beenet_budget_apply (b, &p);
  ck_assert_double_eq_tol (p.threshold, 0.3, 1e-6);
  ck_assert_uint_eq (p.max_exit, 4);
  /* cost above target: cheaper, i.e. a higher entropy threshold */
  ck_assert_double_gt (beenet_budget_update (b, 1.0), 0.3);
  beenet_budget_set_target (b, 1.0, NULL);
  p = user;
  beenet_budget_apply (b, &p);
  ck_assert_float_eq (p.threshold, 0.3f);

  BeenetPolicyParams pat = beenet_policy_default_params (BEENET_POLICY_PATIENCE);
  pat.max_exit = 2;
  beenet_budget_set_target (b, 0.9, NULL);
  for (int i = 0; i < 50; i++) {
    p = pat;
    beenet_budget_apply (b, &p);
    ck_assert_uint_le (p.max_exit, 2);
    ck_assert_uint_ge (p.max_exit, 1);
    beenet_budget_update (b, 0.4);
  }
  beenet_budget_reset (b);
  BeenetBudgetState st;
  beenet_budget_get_state (b, &st);
  ck_assert_uint_eq (st.windows, 0);
  beenet_budget_free (b);
}
END_TEST

START_TEST (test_invalid)
{
  BeenetBudgetParams bp;
  BeenetBudget *b = NULL;
  BeenetError err;
  beenet_budget_params_default (NULL, &bp);
  ck_assert_double_eq (bp.target, 1.0);
  bp.target = 0.0;
  ck_assert_int_eq (beenet_budget_new (&bp, &b, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (err.message, "target"));
  bp.target = NAN;
  ck_assert_int_eq (beenet_budget_params_validate (&bp, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  beenet_budget_params_default (NULL, &bp);
  bp.gain = -1;
  ck_assert_int_eq (beenet_budget_params_validate (&bp, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (err.message, "gain"));
  beenet_budget_params_default (NULL, &bp);
  bp.smoothing = 0.5;
  ck_assert_int_eq (beenet_budget_params_validate (&bp, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_ptr_nonnull (strstr (err.message, "smoothing"));
  ck_assert_int_eq (beenet_budget_params_validate (NULL, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  b = new_budget ();
  ck_assert_int_eq (beenet_budget_set_target (b, -0.1, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_budget_set_target (b, NAN, &err),
      BEENET_ERROR_INVALID_ARGUMENT);
  ck_assert_int_eq (beenet_budget_set_target (b, 2.0, &err), BEENET_OK);
  BeenetBudgetState st;
  beenet_budget_get_state (b, &st);
  ck_assert_double_eq (st.target, 1.0);
  beenet_budget_free (b);
}
END_TEST

#if defined(BEENET_TEST_WRAP_MALLOC)
START_TEST (test_no_alloc_per_window)
{
  BeenetPolicyParams user = beenet_policy_default_params (BEENET_POLICY_PATIENCE);
  BeenetBudget *b = new_budget ();
  beenet_budget_set_target (b, 0.5, NULL);
  rng_state = 3;
  n_allocs = 0;
  counting = 1;
  run (b, &user, 100, 0);
  counting = 0;
  ck_assert_int_eq (n_allocs, 0);
  beenet_budget_free (b);
}
END_TEST
#endif

static Suite *
budget_suite (void)
{
  Suite *s = suite_create ("budget");
  TCase *tc = tcase_create ("core");
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_steps_entropy);
  tcase_add_test (tc, test_steps_max_probability);
  tcase_add_test (tc, test_steps_patience);
  tcase_add_test (tc, test_direction);
  tcase_add_test (tc, test_anti_windup);
  tcase_add_test (tc, test_off_and_start);
  tcase_add_test (tc, test_invalid);
#if defined(BEENET_TEST_WRAP_MALLOC)
  tcase_add_test (tc, test_no_alloc_per_window);
#endif
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return check_run_suite (budget_suite ());
}
