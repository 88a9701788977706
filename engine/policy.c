/* Exit policies: the one table that maps policy names to their rules and
 * default parameters (docs/engine.md, "Exit policies").  Everything that
 * lists, parses or prints a policy (model loader, element enum, tool,
 * trainer binding) goes through this table; a new policy is one entry. */
#include "policy-private.h"

#include <math.h>
#include <string.h>

/* ---- per-exit rules ------------------------------------------------------ */

static void
reset_nothing (BeenetPolicyState *state)
{
  (void) state;
}

static bool
entropy_stop (const BeenetPolicyParams *p, const BeenetExitView *x,
    BeenetPolicyState *state)
{
  (void) state;
  return x->entropy < p->threshold;
}

static bool
max_probability_stop (const BeenetPolicyParams *p, const BeenetExitView *x,
    BeenetPolicyState *state)
{
  (void) state;
  return x->probs[x->best] >= p->threshold;
}

static void
patience_reset (BeenetPolicyState *state)
{
  state->run = 0;
  state->last_class = 0;
}

/* PABEE: count consecutive exits with the same argmax (the first exit
 * counts as 1); stop when the count reaches `patience`. */
static bool
patience_stop (const BeenetPolicyParams *p, const BeenetExitView *x,
    BeenetPolicyState *state)
{
  if (state->run > 0 && x->best == state->last_class)
    state->run++;
  else {
    state->last_class = x->best;
    state->run = 1;
  }
  return state->run >= p->patience;
}

static BeenetStatus
patience_validate (const BeenetPolicyParams *p, BeenetError *err)
{
  if (p->patience < 1)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "patience must be >= 1 (got 0)");
  return BEENET_OK;
}

/* ---- the table ----------------------------------------------------------- */

#define DEFAULT_PATIENCE 2u

/* Indexed by BeenetPolicy.  Adding a policy = a BeenetPolicy value, its rule
 * functions above and one entry here (plus fields in BeenetPolicyParams /
 * BeenetPolicyState when it needs them). */
static const BeenetPolicyImpl POLICIES[] = {
  [BEENET_POLICY_ENTROPY] = {
    .name = "entropy",
    .description = "Stop at the first exit whose entropy is below the "
        "threshold",
    .defaults = { BEENET_POLICY_ENTROPY, 0.5f, DEFAULT_PATIENCE, 0 },
    .uses_threshold = true, .threshold_min = 0.0f, .threshold_max = INFINITY,
    .reset = reset_nothing, .should_stop = entropy_stop },
  [BEENET_POLICY_MAX_PROBABILITY] = {
    .name = "max-probability",
    .description = "Stop at the first exit whose top probability reaches "
        "the threshold",
    .defaults = { BEENET_POLICY_MAX_PROBABILITY, 0.9f, DEFAULT_PATIENCE, 0 },
    .uses_threshold = true, .threshold_min = 0.0f, .threshold_max = 1.0f,
    .reset = reset_nothing, .should_stop = max_probability_stop },
  [BEENET_POLICY_PATIENCE] = {
    .name = "patience",
    .description = "Stop when the top class has been the same at patience "
        "consecutive exits",
    .defaults = { BEENET_POLICY_PATIENCE, 0.0f, DEFAULT_PATIENCE, 0 },
    .uses_threshold = false, .threshold_min = 0.0f,
    .threshold_max = INFINITY, .validate = patience_validate,
    .reset = patience_reset, .should_stop = patience_stop },
};

#define N_POLICIES (sizeof POLICIES / sizeof POLICIES[0])

const BeenetPolicyImpl *
beenet_policy_impl (BeenetPolicy policy)
{
  return (unsigned) policy < N_POLICIES ? &POLICIES[policy] : NULL;
}

int
beenet_policy_lookup (const char *name, size_t len)
{
  for (size_t i = 0; i < N_POLICIES; i++)
    if (strlen (POLICIES[i].name) == len
        && memcmp (POLICIES[i].name, name, len) == 0)
      return (int) i;
  return -1;
}

size_t
beenet_policy_names (char *buf, size_t size)
{
  size_t n = 0;
  for (size_t i = 0; i < N_POLICIES && size; i++) {
    const char *sep = i == 0 ? "" : i + 1 < N_POLICIES ? ", " : " or ";
    int w = snprintf (buf + n, size - n, "%s\"%s\"", sep, POLICIES[i].name);
    if (w < 0 || (size_t) w >= size - n)
      break;
    n += (size_t) w;
  }
  return n;
}

/* ---- public API ---------------------------------------------------------- */

size_t
beenet_policy_count (void)
{
  return N_POLICIES;
}

const char *
beenet_policy_name (BeenetPolicy policy)
{
  const BeenetPolicyImpl *impl = beenet_policy_impl (policy);
  return impl ? impl->name : NULL;
}

const char *
beenet_policy_description (BeenetPolicy policy)
{
  const BeenetPolicyImpl *impl = beenet_policy_impl (policy);
  return impl ? impl->description : NULL;
}

int
beenet_policy_uses_threshold (BeenetPolicy policy)
{
  const BeenetPolicyImpl *impl = beenet_policy_impl (policy);
  return impl && impl->uses_threshold;
}

BeenetStatus
beenet_policy_from_name (const char *name, BeenetPolicy *out,
    BeenetError *err)
{
  beenet_clear_error (err);
  const int i = name ? beenet_policy_lookup (name, strlen (name)) : -1;
  if (i < 0 || !out) {
    char names[128];
    beenet_policy_names (names, sizeof names);
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "unknown exit policy \"%s\" (%s)", name ? name : "(null)", names);
  }
  *out = (BeenetPolicy) i;
  return BEENET_OK;
}

BeenetPolicyParams
beenet_policy_default_params (BeenetPolicy policy)
{
  const BeenetPolicyImpl *impl = beenet_policy_impl (policy);
  BeenetPolicyParams p = (impl ? impl : &POLICIES[0])->defaults;
  p.policy = policy;
  return p;
}

BeenetStatus
beenet_policy_params_validate (const BeenetPolicyParams *p, BeenetError *err)
{
  beenet_clear_error (err);
  if (!p)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "policy parameters must not be NULL");
  const BeenetPolicyImpl *impl = beenet_policy_impl (p->policy);
  if (!impl)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "unknown exit policy %d", (int) p->policy);
  if (isnan (p->threshold))
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "threshold is NaN");
  return impl->validate ? impl->validate (p, err) : BEENET_OK;
}
