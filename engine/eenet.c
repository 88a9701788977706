/* EENet scheduler (Ilhan et al., "EENet: Learning to Early Exit for
 * Adaptive Inference", 2023): the model keys (beenet.eenet.*), the per-exit
 * utility score and the budget-indexed thresholds.  The rule that uses them
 * is the eenet entry of the policy table (engine/policy.c); the trainer
 * that fits them is train/beenet_train/eenet.py. */
#include "model-private.h"

#include <math.h>
#include <stdlib.h>

#define KEY(name) "beenet.eenet." name

/* Array key of exactly `count` f32 values, every one finite, into out. */
static BeenetStatus
read_f32s (const GgufFile *f, const char *key, uint64_t count, float *out,
    BeenetError *err)
{
  const GgufKV *kv = gguf_find_kv (f, key);
  if (!kv)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "missing required key '%s' (the file has other beenet.eenet.* keys)",
        key);
  if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_FLOAT32)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "key '%s' must be an array of f32", key);
  if (kv->arr_count != count)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "key '%s' has %llu elements (expected %llu)", key,
        (unsigned long long) kv->arr_count, (unsigned long long) count);
  for (uint64_t i = 0; i < count; i++)
    if (!isfinite (out[i] = gguf_array_f32 (kv, i)))
      return beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "key '%s': element %llu is not finite", key,
          (unsigned long long) i);
  return BEENET_OK;
}

/* hidden and the number of budgets, from beenet.eenet.hidden and the
 * length of beenet.eenet.budgets. */
static BeenetStatus
read_sizes (const GgufFile *f, const GgufKV *hk, BeenetEENet *s,
    BeenetError *err)
{
  if (hk->type != GGUF_TYPE_UINT32 || hk->v.u < 1
      || hk->v.u > BEENET_EENET_MAX_HIDDEN)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "key '" KEY ("hidden") "' must be a u32 in [1, %u]",
        BEENET_EENET_MAX_HIDDEN);
  s->hidden = (uint32_t) hk->v.u;
  const GgufKV *bk = gguf_find_kv (f, KEY ("budgets"));
  if (!bk || bk->type != GGUF_TYPE_ARRAY || bk->arr_count < 1
      || bk->arr_count > BEENET_EENET_MAX_BUDGETS)
    return beenet_set_error (err, BEENET_ERROR_CORRUPT,
        "key '" KEY ("budgets") "' must be an array of 1..%u f32",
        BEENET_EENET_MAX_BUDGETS);
  s->n_budgets = (uint32_t) bk->arr_count;
  return BEENET_OK;
}

static BeenetStatus
check_budgets (const BeenetEENet *s, BeenetError *err)
{
  for (uint32_t b = 0; b < s->n_budgets; b++)
    if (!(s->budgets[b] > 0.0f && s->budgets[b] <= 1.0f)
        || (b > 0 && !(s->budgets[b] > s->budgets[b - 1])))
      return beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "key '" KEY ("budgets") "': budget %u is %g (budgets must be "
          "strictly increasing in (0, 1])", b + 1, (double) s->budgets[b]);
  return BEENET_OK;
}

/* The arrays, in one allocation after the struct. */
static BeenetStatus
read_arrays (const GgufFile *f, BeenetEENet *s, BeenetError *err)
{
  const uint64_t E = s->n_exits, H = s->hidden, D = s->n_inputs;
  BeenetStatus st;
  if ((st = read_f32s (f, KEY ("w1"), E * H * D, s->w1, err))
      || (st = read_f32s (f, KEY ("b1"), E * H, s->b1, err))
      || (st = read_f32s (f, KEY ("w2"), E * H, s->w2, err))
      || (st = read_f32s (f, KEY ("b2"), E, s->b2, err))
      || (st = read_f32s (f, KEY ("budgets"), s->n_budgets, s->budgets, err))
      || (st = read_f32s (f, KEY ("thresholds"), s->n_budgets * E,
              s->thresholds, err)))
    return st;
  return check_budgets (s, err);
}

BeenetStatus
beenet_eenet_parse (BeenetModel *m, const GgufFile *f, BeenetError *err)
{
  const GgufKV *hk = gguf_find_kv (f, KEY ("hidden"));
  if (!hk) {
    if (m->policy == BEENET_POLICY_EENET)
      return beenet_set_error (err, BEENET_ERROR_CORRUPT,
          "beenet.policy is eenet but '" KEY ("hidden") "' is missing");
    return BEENET_OK;
  }
  BeenetEENet h = { .n_exits = m->n_exits,
    .n_inputs = BEENET_EENET_MEASURES + m->n_classes };
  BeenetStatus st = read_sizes (f, hk, &h, err);
  if (st)
    return st;
  const size_t E = h.n_exits, H = h.hidden, n_floats = E * H * h.n_inputs
      + 2 * E * H + E + h.n_budgets + (size_t) h.n_budgets * E;
  BeenetEENet *s = malloc (sizeof *s + n_floats * sizeof (float));
  if (!s)
    return beenet_set_error (err, BEENET_ERROR_NOMEM, "out of memory");
  *s = h;
  s->w1 = (float *) (s + 1);
  s->b1 = s->w1 + E * H * h.n_inputs;
  s->w2 = s->b1 + E * H;
  s->b2 = s->w2 + E * H;
  s->budgets = s->b2 + E;
  s->thresholds = s->budgets + h.n_budgets;
  m->eenet = s;   /* freed with the model, also on error */
  return read_arrays (f, s, err);
}

double
beenet_eenet_score (const BeenetEENet *s, uint32_t exit_number,
    const double *measures, const float *probs)
{
  const uint32_t e = exit_number - 1, H = s->hidden, D = s->n_inputs;
  double z = s->b2[e];
  for (uint32_t h = 0; h < H; h++) {
    const float *w = s->w1 + ((size_t) e * H + h) * D;
    double a = s->b1[e * H + h];
    for (uint32_t i = 0; i < BEENET_EENET_MEASURES; i++)
      a += (double) w[i] * measures[i];
    for (uint32_t k = 0; k < D - BEENET_EENET_MEASURES; k++)
      a += (double) w[BEENET_EENET_MEASURES + k] * probs[k];
    if (a > 0.0)
      z += (double) s->w2[e * H + h] * a;
  }
  return 1.0 / (1.0 + exp (-z));
}

double
beenet_eenet_threshold (const BeenetEENet *s, float budget,
    uint32_t exit_number)
{
  const uint32_t e = exit_number - 1, E = s->n_exits, B = s->n_budgets;
  if (budget <= s->budgets[0])
    return s->thresholds[e];
  for (uint32_t b = 0; b + 1 < B; b++)
    if (budget < s->budgets[b + 1]) {
      const double w = ((double) budget - s->budgets[b])
          / ((double) s->budgets[b + 1] - s->budgets[b]);
      const double t0 = s->thresholds[b * E + e];
      return t0 + w * ((double) s->thresholds[(b + 1) * E + e] - t0);
    }
  return s->thresholds[(B - 1) * E + e];
}
