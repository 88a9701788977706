/* Exit policies: the one table that maps policy names to their rules and
 * default parameters (docs/engine.md, "Exit policies").  Everything that
 * lists, parses or prints a policy (model loader, element enum, tool,
 * trainer binding) goes through this table; a new policy is one entry. */
#include "model-private.h"
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

/* Class exclusion (Wang, Li, Zhang 2023).  The candidate set is a bitmask
 * in the session; the test runs on log scores (exact where the softmax
 * saturates): class k is excluded when its score (the logit, or ln sigmoid
 * of it: the model's beenet.class_exclusion.score) is more than
 * margin = -threshold * ln(factor) below the top candidate's. */

static bool
is_candidate (const BeenetPolicyState *s, uint32_t k)
{
  return (s->remaining[k / 64] >> (k % 64)) & 1u;
}

static void
exclusion_reset (BeenetPolicyState *s)
{
  for (uint32_t w = 0; w < s->n_words; w++) {
    const uint32_t left = s->n_classes - w * 64;
    s->remaining[w] = left >= 64 ? ~UINT64_C (0) : (UINT64_C (1) << left) - 1;
  }
}

static float
exclusion_margin (const BeenetPolicyParams *p, const BeenetPolicyState *s,
    uint32_t exit_number)
{
  const float f = s->factors[exit_number - 1];
  if (f <= 0.0f)
    return INFINITY;
  return p->threshold > 0.0f ? -p->threshold * logf (f) : 0.0f;
}

static float
score_logit (float z)
{
  return z;
}

/* ln sigmoid(z) without overflow, in double, rounded once. */
static float
score_log_sigmoid (float z)
{
  const double d = z;
  return (float) (d >= 0.0 ? -log1p (exp (-d)) : d - log1p (exp (d)));
}

static const BeenetExclusionScore exclusion_scores[] = {
  { "softmax", score_logit },
  { "sigmoid", score_log_sigmoid },
};
#define N_SCORES (sizeof exclusion_scores / sizeof exclusion_scores[0])

const BeenetExclusionScore *
beenet_exclusion_score_lookup (const char *name, size_t len)
{
  for (size_t i = 0; i < N_SCORES; i++)
    if (strlen (exclusion_scores[i].name) == len
        && memcmp (exclusion_scores[i].name, name, len) == 0)
      return &exclusion_scores[i];
  return NULL;
}

const BeenetExclusionScore *
beenet_exclusion_score_default (void)
{
  return &exclusion_scores[0];
}

void
beenet_exclusion_score_names (char *buf, size_t size)
{
  if (!size)
    return;
  buf[0] = '\0';
  for (size_t i = 0; i < N_SCORES; i++) {
    strncat (buf, i == 0 ? "" : i + 1 == N_SCORES ? " or " : ", ",
        size - strlen (buf) - 1);
    strncat (buf, exclusion_scores[i].name, size - strlen (buf) - 1);
  }
}

/* Top candidate by logit (lowest index on ties; the same class by either
 * score, both being increasing in the logit). */
static uint32_t
top_candidate (const BeenetExitView *x, const BeenetPolicyState *s)
{
  uint32_t best = UINT32_MAX;
  for (uint32_t k = 0; k < x->n_classes; k++)
    if (is_candidate (s, k)
        && (best == UINT32_MAX || x->logits[k] > x->logits[best]))
      best = k;
  return best;
}

/* Drop the candidates below the margin, then mask and renormalise the
 * softmax to the candidates left (entropy over them). */
static void
exclusion_restrict (const BeenetPolicyParams *p, BeenetExitView *x,
    BeenetPolicyState *s)
{
  const uint32_t best = top_candidate (x, s);
  const float margin = exclusion_margin (p, s, x->exit_number);
  float (*score) (float) = s->score->score;
  const float top = score (x->logits[best]);
  double sum = 0.0;
  for (uint32_t k = 0; k < x->n_classes; k++) {
    if (is_candidate (s, k) && top - score (x->logits[k]) > margin) {
      s->remaining[k / 64] &= ~(UINT64_C (1) << (k % 64));
      s->n_remaining--;
    }
    if (!is_candidate (s, k))
      x->probs[k] = 0.0f;
    sum += x->probs[k];
  }
  double h = 0.0;
  for (uint32_t k = 0; k < x->n_classes; k++) {
    x->probs[k] = sum > 0.0 ? (float) (x->probs[k] / sum) : 0.0f;
    if (x->probs[k] > 0.0f)
      h -= x->probs[k] * log (x->probs[k]);
  }
  if (sum <= 0.0)  /* every candidate underflowed: the top one is certain */
    x->probs[best] = 1.0f;
  x->best = best;
  x->entropy = (float) h;
}

static bool
exclusion_stop (const BeenetPolicyParams *p, const BeenetExitView *x,
    BeenetPolicyState *state)
{
  (void) p;
  (void) x;
  return state->n_remaining <= 1;
}

static BeenetStatus
exclusion_validate (const BeenetPolicyParams *p, BeenetError *err)
{
  if (!(p->threshold >= 0.0f))
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "class-exclusion threshold (margin scale) must be >= 0 (got %g)",
        (double) p->threshold);
  if (p->exclusion_factors)
    for (uint32_t e = 0; e < p->num_exclusion_factors; e++)
      if (!(p->exclusion_factors[e] >= 0.0f && p->exclusion_factors[e] <= 1.0f))
        return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
            "exclusion factor %u is %g, not in [0, 1]", e + 1,
            (double) p->exclusion_factors[e]);
  return BEENET_OK;
}

static BeenetStatus
exclusion_check_model (const BeenetPolicyParams *p, const BeenetModel *m,
    BeenetError *err)
{
  if (p->exclusion_factors) {
    if (p->num_exclusion_factors != m->n_exits)
      return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
          "%u exclusion factors given for a model with %u exits",
          p->num_exclusion_factors, m->n_exits);
    return BEENET_OK;
  }
  if (!m->exclusion_factors)
    return beenet_set_error (err, BEENET_ERROR_UNSUPPORTED,
        "model \"%s\" has no class-exclusion factors "
        "(beenet.class_exclusion.factors): the class-exclusion policy needs "
        "them (python3 -m beenet_train exclusion searches and writes them)",
        m->name);
  return BEENET_OK;
}

/* EENet (Ilhan et al. 2023): the scheduler's utility score of the exit
 * against the exit's threshold at the budget in force (engine/eenet.c). */

/* The confidence measures, in the order of BEENET_EENET_MEASURES: largest
 * probability, entropy / ln(classes), margin of the two largest
 * probabilities, share of the earlier exits whose argmax agrees. */
static void
eenet_measures (const BeenetExitView *x, const BeenetPolicyState *s,
    double *v)
{
  const float top = x->probs[x->best];
  float second = 0.0f;
  for (uint32_t k = 0; k < x->n_classes; k++)
    if (k != x->best && x->probs[k] > second)
      second = x->probs[k];
  uint32_t agree = 0;
  for (uint32_t j = 0; j + 1 < x->exit_number; j++)
    agree += s->exit_best[j] == x->best;
  v[0] = top;
  v[1] = (double) x->entropy / log ((double) x->n_classes);
  v[2] = (double) top - (double) second;
  v[3] = x->exit_number > 1 ? (double) agree / (x->exit_number - 1) : 0.0;
}

static bool
eenet_stop (const BeenetPolicyParams *p, const BeenetExitView *x,
    BeenetPolicyState *state)
{
  double v[BEENET_EENET_MEASURES];
  eenet_measures (x, state, v);
  state->exit_best[x->exit_number - 1] = x->best;
  const double q = beenet_eenet_score (state->eenet, x->exit_number, v,
      x->probs);
  return q >= beenet_eenet_threshold (state->eenet, p->budget,
      x->exit_number);
}

static BeenetStatus
eenet_validate (const BeenetPolicyParams *p, BeenetError *err)
{
  if (!(p->budget > 0.0f && p->budget <= 1.0f))
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "eenet budget must be in (0, 1] (got %g)", (double) p->budget);
  return BEENET_OK;
}

static BeenetStatus
eenet_check_model (const BeenetPolicyParams *p, const BeenetModel *m,
    BeenetError *err)
{
  (void) p;
  if (!m->eenet)
    return beenet_set_error (err, BEENET_ERROR_UNSUPPORTED,
        "model \"%s\" has no EENet scheduler (beenet.eenet.*): the eenet "
        "policy needs it (python3 -m beenet_train eenet trains and writes "
        "it)", m->name);
  return BEENET_OK;
}

/* ---- the table ----------------------------------------------------------- */

#define DEFAULT_PATIENCE 2u

/* Indexed by BeenetPolicy.  Adding a policy = a BeenetPolicy value, its rule
 * functions above and one entry here (plus fields in BeenetPolicyParams /
 * BeenetPolicyState when it needs them). */
/* Every policy's defaults: no max_exit, the model's exclusion factors, no
 * keyword exit, the eenet budget 1 (designated: fields are appended). */
#define POLICY_DEFAULTS(pol, th) { .policy = (pol), .threshold = (th), \
    .patience = DEFAULT_PATIENCE, .max_exit = 0, .exclusion_factors = NULL, \
    .num_exclusion_factors = 0, .keyword_exit = 0, .budget = 1.0f }

static const BeenetPolicyImpl POLICIES[] = {
  [BEENET_POLICY_ENTROPY] = {
    .name = "entropy",
    .description = "Stop at the first exit whose entropy is below the "
        "threshold",
    .defaults = POLICY_DEFAULTS (BEENET_POLICY_ENTROPY, 0.5f),
    .uses_threshold = true, .threshold_min = 0.0f, .threshold_max = INFINITY,
    .reset = reset_nothing, .should_stop = entropy_stop },
  [BEENET_POLICY_MAX_PROBABILITY] = {
    .name = "max-probability",
    .description = "Stop at the first exit whose top probability reaches "
        "the threshold",
    .defaults = POLICY_DEFAULTS (BEENET_POLICY_MAX_PROBABILITY, 0.9f),
    .uses_threshold = true, .threshold_min = 0.0f, .threshold_max = 1.0f,
    .reset = reset_nothing, .should_stop = max_probability_stop },
  [BEENET_POLICY_PATIENCE] = {
    .name = "patience",
    .description = "Stop when the top class has been the same at patience "
        "consecutive exits",
    .defaults = POLICY_DEFAULTS (BEENET_POLICY_PATIENCE, 0.0f),
    .uses_threshold = false, .threshold_min = 0.0f,
    .threshold_max = INFINITY, .validate = patience_validate,
    .reset = patience_reset, .should_stop = patience_stop },
  [BEENET_POLICY_CLASS_EXCLUSION] = {
    .name = "class-exclusion",
    .description = "Each exit excludes the classes it is sure are wrong; "
        "stop when one class remains",
    .defaults = POLICY_DEFAULTS (BEENET_POLICY_CLASS_EXCLUSION, 1.0f),
    .uses_threshold = true, .threshold_min = 0.0f,
    .threshold_max = INFINITY, .validate = exclusion_validate,
    .check_model = exclusion_check_model, .reset = exclusion_reset,
    .restrict_view = exclusion_restrict, .should_stop = exclusion_stop },
  [BEENET_POLICY_EENET] = {
    .name = "eenet",
    .description = "A scheduler trained on validation exit outputs stops "
        "where the exit's utility score reaches its threshold for the budget",
    .defaults = POLICY_DEFAULTS (BEENET_POLICY_EENET, 0.0f),
    .uses_threshold = false, .threshold_min = -INFINITY,
    .threshold_max = INFINITY, .validate = eenet_validate,
    .check_model = eenet_check_model, .reset = reset_nothing,
    .should_stop = eenet_stop },
};

#define N_POLICIES (sizeof POLICIES / sizeof POLICIES[0])

void
beenet_policy_state_begin (const BeenetPolicyImpl *impl,
    BeenetPolicyState *state)
{
  state->n_remaining = state->n_classes;
  impl->reset (state);
}

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

BeenetStatus
beenet_model_check_params (const BeenetModel *m, const BeenetPolicyParams *p,
    BeenetError *err)
{
  BeenetStatus st = beenet_policy_params_validate (p, err);
  if (st)
    return st;
  if (!m)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "model must not be NULL");
  const BeenetPolicyImpl *impl = beenet_policy_impl (p->policy);
  return impl->check_model ? impl->check_model (p, m, err) : BEENET_OK;
}
