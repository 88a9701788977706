/* Budget controller: keeps the average cost of a stream of windows at a
 * target share of the network's operations (docs/engine.md, "Budget
 * controller").  An integral controller on the policy's parameter in a
 * domain where it acts roughly evenly (log threshold), clamped to the
 * policy's useful range (anti-windup). */
#include "beenet-private.h"

#include <math.h>
#include <stdlib.h>

/* Useful threshold ranges: below ENTROPY_MIN nats (or above 1 - 1e-4 for
 * max-probability) practically every window runs to the last exit; at
 * ln(num_classes) nats (or 1/num_classes) every window stops at exit 1. */
#define ENTROPY_MIN 1e-3
#define MAXPROB_MISS_MIN 1e-4
/* Class exclusion: margin scales from 0.01 (practically every window stops
 * at exit 1) to 100 (practically nothing excluded, the last exit). */
#define EXCLUSION_SCALE_MAX 100.0
/* EENet: the controlled value is the scheduler's budget, x = -EENET_SCALE *
 * budget over budgets (0, 1]; the scale makes the budget's useful span
 * (about 0.7) as wide as the other domains (4-9), so the same gain gives
 * a similar settling speed. */
#define EENET_SCALE 8.0
#define EENET_BUDGET_MIN 0.01

struct BeenetBudget {
  BeenetBudgetParams params;
  bool started;          /* x holds a control value for `policy` */
  BeenetPolicy policy;
  double x, x_min, x_max;  /* control value, larger = cheaper */
  double carry;          /* patience: dithering remainder, [0, 1) */
  double average;        /* EMA of the cost */
  uint64_t windows;
  float threshold_in_force;
  uint32_t max_exit_in_force;
};

void
beenet_budget_params_default (const BeenetModel *model,
    BeenetBudgetParams *params)
{
  if (!params)
    return;
  params->target = BEENET_BUDGET_OFF;
  params->gain = BEENET_BUDGET_DEFAULT_GAIN;
  params->smoothing = BEENET_BUDGET_DEFAULT_SMOOTHING;
  params->num_classes = model ? (uint32_t) beenet_model_num_classes (model)
      : 12;
  params->num_exits = model ? (uint32_t) beenet_model_num_exits (model) : 5;
}

BeenetStatus
beenet_budget_params_validate (const BeenetBudgetParams *p, BeenetError *err)
{
  beenet_clear_error (err);
  if (!p)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "budget parameters must not be NULL");
  if (!(p->target > 0.0))
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "budget target must be in (0, 1] (got %g)", p->target);
  if (!(p->gain > 0.0 && p->gain <= 100.0))
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "budget gain must be in (0, 100] (got %g)", p->gain);
  if (!(p->smoothing >= 1.0 && p->smoothing <= 1e6))
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "budget smoothing must be in [1, 1e6] windows (got %g)",
        p->smoothing);
  if (p->num_classes < 2)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "budget num_classes must be >= 2 (got %u)", p->num_classes);
  if (p->num_exits < 1)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "budget num_exits must be >= 1 (got 0)");
  return BEENET_OK;
}

BeenetStatus
beenet_budget_new (const BeenetBudgetParams *params, BeenetBudget **out,
    BeenetError *err)
{
  BeenetStatus st = beenet_budget_params_validate (params, err);
  if (st != BEENET_OK)
    return st;
  if (!out)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "out must not be NULL");
  BeenetBudget *b = calloc (1, sizeof *b);
  if (!b)
    return beenet_set_error (err, BEENET_ERROR_NOMEM, "out of memory");
  b->params = *params;
  if (b->params.target > BEENET_BUDGET_OFF)
    b->params.target = BEENET_BUDGET_OFF;
  *out = b;
  return BEENET_OK;
}

void
beenet_budget_free (BeenetBudget *budget)
{
  free (budget);
}

static bool
budget_active (const BeenetBudget *b)
{
  return b->params.target < BEENET_BUDGET_OFF;
}

BeenetStatus
beenet_budget_set_target (BeenetBudget *budget, double target,
    BeenetError *err)
{
  beenet_clear_error (err);
  if (!budget)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "budget must not be NULL");
  if (!(target > 0.0))
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "budget target must be in (0, 1] (got %g)", target);
  budget->params.target = target < BEENET_BUDGET_OFF ? target
      : BEENET_BUDGET_OFF;
  if (!budget_active (budget))
    budget->started = false;   /* restart from the caller's value later */
  return BEENET_OK;
}

void
beenet_budget_reset (BeenetBudget *budget)
{
  if (!budget)
    return;
  budget->started = false;
  budget->average = 0.0;
  budget->windows = 0;
}

static double
clamp (double v, double lo, double hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

/* Start controlling `p->policy` from the caller's parameters. */
static void
budget_start (BeenetBudget *b, const BeenetPolicyParams *p)
{
  const double c = b->params.num_classes, n = b->params.num_exits;
  double x;

  switch (p->policy) {
    case BEENET_POLICY_MAX_PROBABILITY:
      b->x_min = log (MAXPROB_MISS_MIN);
      b->x_max = log (1.0 - 1.0 / c);
      x = log (1.0 - clamp (p->threshold, 1.0 / c, 1.0 - MAXPROB_MISS_MIN));
      break;
    case BEENET_POLICY_CLASS_EXCLUSION:
      b->x_min = -log (EXCLUSION_SCALE_MAX);
      b->x_max = log (EXCLUSION_SCALE_MAX);
      x = -log (clamp (p->threshold, 1.0 / EXCLUSION_SCALE_MAX,
              EXCLUSION_SCALE_MAX));
      break;
    case BEENET_POLICY_EENET:  /* start at the target's thresholds */
      b->x_min = -EENET_SCALE;
      b->x_max = -EENET_SCALE * EENET_BUDGET_MIN;
      x = -EENET_SCALE * b->params.target;
      break;
    case BEENET_POLICY_PATIENCE:
      b->x_min = -n;
      b->x_max = -1.0;
      x = -(p->max_exit ? (double) p->max_exit : n);
      break;
    default:
      b->x_min = log (ENTROPY_MIN);
      b->x_max = log (log (c));
      x = log (clamp (p->threshold, ENTROPY_MIN, log (c)));
      break;
  }
  b->x = clamp (x, b->x_min, b->x_max);
  b->carry = 0.0;
  b->policy = p->policy;
  b->started = true;
}

/* The controlled value as the policy's parameter. */
static double
budget_value (const BeenetBudget *b)
{
  switch (b->policy) {
    case BEENET_POLICY_MAX_PROBABILITY:
      return 1.0 - exp (b->x);
    case BEENET_POLICY_PATIENCE:
      return -b->x;
    case BEENET_POLICY_CLASS_EXCLUSION:
      return exp (-b->x);
    case BEENET_POLICY_EENET:
      return -b->x / EENET_SCALE;
    default:
      return exp (b->x);
  }
}

/* Patience: a whole max_exit whose running mean is the continuous one. */
static uint32_t
dither_exit (BeenetBudget *b)
{
  b->carry += -b->x;
  double k = floor (b->carry);
  b->carry -= k;
  return (uint32_t) clamp (k, 1.0, b->params.num_exits);
}

void
beenet_budget_apply (BeenetBudget *budget, BeenetPolicyParams *params)
{
  if (!budget || !params)
    return;
  if (budget_active (budget)) {
    if (!budget->started || budget->policy != params->policy)
      budget_start (budget, params);
    if (params->policy == BEENET_POLICY_PATIENCE) {
      uint32_t k = dither_exit (budget);
      if (params->max_exit == 0 || k < params->max_exit)
        params->max_exit = k;
    } else if (params->policy == BEENET_POLICY_EENET) {
      params->budget = (float) budget_value (budget);
    } else {
      params->threshold = (float) budget_value (budget);
    }
  }
  budget->threshold_in_force = params->policy == BEENET_POLICY_EENET
      ? params->budget : params->threshold;
  budget->max_exit_in_force = params->max_exit;
}

double
beenet_budget_update (BeenetBudget *budget, double ops_fraction)
{
  if (!budget)
    return NAN;
  if (isnan (ops_fraction))
    return budget->started ? budget_value (budget)
        : budget->threshold_in_force;
  const double cost = clamp (ops_fraction, 0.0, 1.0);
  const double alpha = 1.0 / budget->params.smoothing;
  budget->average = budget->windows == 0 ? cost
      : budget->average + alpha * (cost - budget->average);
  budget->windows++;
  if (!budget_active (budget) || !budget->started)
    return budget->threshold_in_force;
  budget->x = clamp (budget->x + budget->params.gain
      * (cost - budget->params.target), budget->x_min, budget->x_max);
  return budget_value (budget);
}

void
beenet_budget_get_state (const BeenetBudget *budget, BeenetBudgetState *state)
{
  if (!budget || !state)
    return;
  state->target = budget->params.target;
  state->active = budget_active (budget);
  state->average_cost = budget->average;
  state->threshold = budget->threshold_in_force;
  state->max_exit = budget->started && budget->policy == BEENET_POLICY_PATIENCE
      ? budget_value (budget) : budget->max_exit_in_force;
  state->windows = budget->windows;
}
