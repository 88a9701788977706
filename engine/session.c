/* Sessions: per-thread scratch and the early-exit graph interpreter
 * (Algorithm 1 of the BEENet paper). */
#include "model-private.h"
#include "policy-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct BeenetSession {
  BeenetModel *model;
  BeenetFrontend *frontend;
  float *features;     /* n_frames * n_mels raw log-Mel */
  float *act_block;    /* activations, 64-byte aligned slices shared by
                          activations that are never live together */
  size_t act_floats;   /* size of act_block */
  float **acts;        /* n_nodes + 1 pointers into act_block */
  uint32_t *bits;      /* packed-sign scratch */
  size_t bits_words;   /* size of bits */
  BeenetPolicyState policy_state; /* per window, reset before each */
  float *gate_probs;   /* num_classes: one-hot result of a gated window */
  uint32_t *remaining_counts; /* num_exits: BeenetResult.classes_remaining */
};

void
beenet_session_free (BeenetSession *s)
{
  if (!s)
    return;
  beenet_frontend_free (s->frontend);
  free (s->features);
  free (s->act_block);
  free (s->acts);
  free (s->bits);
  free (s->gate_probs);
  free (s->remaining_counts);
  free (s->policy_state.remaining);
  free (s->policy_state.exit_best);
  beenet_model_unref (s->model);
  free (s);
}

/* ---- activation memory plan --------------------------------------------
 * Time t = 0 is normalisation, node i runs at t = i + 1.  Activation a is
 * written at t = a (t = a - 1 for the output of an add fused into the conv
 * before it, beenet_act_written) and read up to last[a] (its last reader;
 * an activation nobody reads, e.g. exit probabilities, only when written).
 * Two activations may share memory iff their intervals [written, last] are
 * disjoint; a node's output is written while its inputs are read, so they
 * never alias.
 * Offsets are placed first fit in definition order.
 * BEENET_ACTIVATION_PLAN=off (read at session creation) keeps every
 * activation live for the whole run: one slice each, for comparisons. */

typedef struct {
  size_t off, end;
} Span;

static int
span_cmp (const void *x, const void *y)
{
  const Span *a = x, *b = y;
  return a->off < b->off ? -1 : a->off > b->off;
}

static size_t
act_floats (const BeenetModel *m, uint32_t a)
{
  return (beenet_shape_size (m->act_shapes[a]) + 15) / 16 * 16;
}

/* Lowest offset for `size` floats clear of the n spans (sorted here). */
static size_t
first_fit (Span *busy, size_t n, size_t size)
{
  qsort (busy, n, sizeof *busy, span_cmp);
  size_t off = 0;
  for (size_t k = 0; k < n && busy[k].off < off + size; k++)
    if (busy[k].end > off)
      off = busy[k].end;
  return off;
}

/* Fills off[a] (floats) for every activation; returns the block size, or
 * 0 when out of memory. */
static size_t
plan_activations (const BeenetModel *m, size_t *off)
{
  const uint32_t n_acts = m->n_nodes + 1;
  uint32_t *last = malloc (sizeof (uint32_t) * n_acts);
  Span *busy = malloc (sizeof (Span) * n_acts);
  size_t total = 0;
  const char *plan = getenv ("BEENET_ACTIVATION_PLAN");
  const bool keep_all = plan && strcmp (plan, "off") == 0;
  if (last && busy) {
    for (uint32_t a = 0; a < n_acts; a++)
      last[a] = keep_all ? n_acts : beenet_act_written (m, a);
    for (uint32_t i = 0; i < m->n_nodes; i++) {
      /* A fused-away add's inputs are read by the conv before it; the
       * conv's own output (activation i) is never written. */
      const bool fused = m->nodes[i].fused_away;
      for (uint32_t k = 0; k < m->nodes[i].n_inputs; k++) {
        const uint32_t a = m->nodes[i].inputs[k], t = fused ? i : i + 1;
        if (!(fused && a == i) && last[a] < t)
          last[a] = t;
      }
    }
    for (uint32_t a = 0; a < n_acts; a++) {
      const uint32_t born = beenet_act_written (m, a);
      size_t n = 0;
      for (uint32_t b = 0; b < a; b++)
        if (last[b] >= born)
          busy[n++] = (Span) { off[b], off[b] + act_floats (m, b) };
      off[a] = first_fit (busy, n, act_floats (m, a));
      if (off[a] + act_floats (m, a) > total)
        total = off[a] + act_floats (m, a);
    }
  }
  free (last);
  free (busy);
  return total;
}

BeenetStatus
beenet_session_new (BeenetModel *model, BeenetSession **out, BeenetError *err)
{
  beenet_clear_error (err);
  if (!model || !out)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "beenet_session_new: model and out must not be NULL");
  *out = NULL;
  BeenetSession *s = calloc (1, sizeof *s);
  if (!s)
    return beenet_set_error (err, BEENET_ERROR_NOMEM, "out of memory");
  s->model = beenet_model_ref (model);

  BeenetStatus st = beenet_frontend_new (&model->fe, &s->frontend, err);
  if (st) {
    beenet_session_free (s);
    return st;
  }
  const uint32_t n_acts = model->n_nodes + 1;
  size_t *off = malloc (sizeof (size_t) * n_acts);
  const size_t total = off ? plan_activations (model, off) : 0;
  s->act_floats = total;
  s->features = malloc (sizeof (float) * beenet_shape_size (model->act_shapes[0]));
  s->act_block = total ? aligned_alloc (64, total * sizeof (float)) : NULL;
  s->acts = calloc (n_acts, sizeof (float *));
  s->bits_words = (model->scratch_words + 15) / 16 * 16 + 16;
  s->bits = aligned_alloc (64, s->bits_words * sizeof (uint32_t));
  s->gate_probs = calloc (model->n_classes, sizeof (float));
  s->remaining_counts = calloc (model->n_exits, sizeof (uint32_t));
  s->policy_state.n_classes = model->n_classes;
  s->policy_state.n_words = (model->n_classes + 63) / 64;
  s->policy_state.remaining = calloc (s->policy_state.n_words,
      sizeof (uint64_t));
  s->policy_state.exit_best = calloc (model->n_exits, sizeof (uint32_t));
  if (!off || !s->features || !s->act_block || !s->acts || !s->bits
      || !s->gate_probs || !s->remaining_counts
      || !s->policy_state.remaining || !s->policy_state.exit_best) {
    free (off);
    beenet_session_free (s);
    return beenet_set_error (err, BEENET_ERROR_NOMEM,
        "out of memory allocating session buffers (%zu floats)", total);
  }
  memset (s->act_block, 0, total * sizeof (float));
  for (uint32_t a = 0; a < n_acts; a++)
    s->acts[a] = s->act_block + off[a];
  free (off);
  *out = s;
  return BEENET_OK;
}

size_t
beenet_session_activation_bytes (const BeenetSession *s)
{
  return s ? s->act_floats * sizeof (float) : 0;
}

size_t
beenet_session_scratch_bytes (const BeenetSession *s)
{
  return s ? s->act_floats * sizeof (float) + s->bits_words * sizeof (uint32_t)
      : 0;
}

const BeenetModel *
beenet_session_model (const BeenetSession *s)
{
  return s ? s->model : NULL;
}

/* act0 = (features - mean) * inv_std; NONFINITE on non-finite values. */
static BeenetStatus
normalise (BeenetSession *s, const float *features, BeenetError *err)
{
  const BeenetModel *m = s->model;
  const uint32_t T = m->fe.n_frames, M = m->fe.n_mels;
  float *x = s->acts[0];
  for (uint32_t t = 0; t < T; t++) {
    const float *f = features + (size_t) t * M;
    float *o = x + (size_t) t * M;
    for (uint32_t k = 0; k < M; k++)
      o[k] = (f[k] - m->mean[k]) * m->inv_std[k];
  }
  if (!beenet_all_finite (features, (size_t) T * M))
    return beenet_set_error (err, BEENET_ERROR_NONFINITE,
        "input features contain NaN or infinity");
  if (!beenet_all_finite (x, (size_t) T * M))
    return beenet_set_error (err, BEENET_ERROR_NONFINITE,
        "normalised features overflow to infinity");
  return BEENET_OK;
}

static BeenetStatus
check_args (BeenetSession *s, const void *p, const BeenetPolicyParams *params,
    const void *result, BeenetError *err)
{
  if (!s || !p || !result)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "session, input and result must not be NULL");
  return beenet_model_check_params (s->model, params, err);
}

static double
fraction (uint64_t done, uint64_t total)
{
  return total ? (double) done / (double) total : 1.0;
}

static void
fill_result (const BeenetModel *m, uint32_t node, const BeenetExitView *x,
    BeenetResult *result)
{
  const uint64_t bops = m->cum_bops[node], flops = m->cum_flops[node];
  result->class_index = x->best;
  result->label = m->labels[x->best];
  result->exit_index = x->exit_number;
  result->num_exits = m->n_exits;
  result->entropy = x->entropy;
  result->confidence = x->probs[x->best];
  result->probabilities = x->probs;
  result->num_classes = x->n_classes;
  result->bops_executed = bops;
  result->flops_executed = flops;
  result->bops_fraction = fraction (bops, m->total_bops);
  result->flops_fraction = fraction (flops, m->total_flops);
  const double ops = (double) flops + (double) bops / 64.0;
  const double total = (double) m->total_flops + (double) m->total_bops / 64.0;
  result->ops_fraction = total > 0.0 ? ops / total : 1.0;
}

/* Start a window: candidate set, factors in force, per-exit counts. */
static void
begin_window (BeenetSession *s, const BeenetPolicyImpl *policy,
    const BeenetPolicyParams *params)
{
  const BeenetModel *m = s->model;
  s->policy_state.factors = params->exclusion_factors
      ? params->exclusion_factors : m->exclusion_factors;
  s->policy_state.score = m->exclusion_score;
  s->policy_state.eenet = m->eenet;
  beenet_policy_state_begin (policy, &s->policy_state);
  memset (s->remaining_counts, 0, sizeof (uint32_t) * m->n_exits);
}

/* The exit that always stops: the last, or max_exit when it is lower. */
static uint32_t
final_exit (const BeenetModel *m, const BeenetPolicyParams *p)
{
  return p->max_exit && p->max_exit < m->n_exits ? p->max_exit : m->n_exits;
}

/* A keyword candidate before params->keyword_exit runs on. */
static bool
held_for_keyword (const BeenetModel *m, const BeenetPolicyParams *p,
    const BeenetExitView *x)
{
  return x->exit_number < p->keyword_exit && m->is_keyword[x->best];
}

/* params were validated by the caller. */
static BeenetStatus
run_network (BeenetSession *s, const BeenetPolicyParams *params,
    BeenetResult *result, BeenetError *err)
{
  const BeenetModel *m = s->model;
  const BeenetRunCtx ctx = { m->kernels, s->acts, m->act_shapes, s->bits };
  const uint32_t K = m->n_classes;
  const BeenetPolicyImpl *policy = beenet_policy_impl (params->policy);
  const uint32_t last = final_exit (m, params);

  begin_window (s, policy, params);
  for (uint32_t i = 0; i < m->n_nodes; i++) {
    const BeenetNode *n = &m->nodes[i];
    if (!n->exit_number) {
      n->op->run (&ctx, n);
      continue;
    }
    const float *logits = s->acts[n->inputs[0]];
    float *probs = s->acts[i + 1];
    if (!beenet_all_finite (logits, K))
      return beenet_set_error (err, BEENET_ERROR_NONFINITE,
          "exit %u produced non-finite logits", n->exit_number);
    BeenetExitView x = { logits, probs, K, 0, 0.0f, n->exit_number };
    x.entropy = (float) beenet_softmax_entropy (logits, K, probs);
    for (uint32_t k = 1; k < K; k++)
      if (probs[k] > probs[x.best])
        x.best = k;
    if (policy->restrict_view)
      policy->restrict_view (params, &x, &s->policy_state);
    s->remaining_counts[n->exit_number - 1] = s->policy_state.n_remaining;
    if (n->exit_number >= last
        || (policy->should_stop (params, &x, &s->policy_state)
            && !held_for_keyword (m, params, &x))) {
      fill_result (m, i, &x, result);
      result->classes_remaining = s->remaining_counts;
      return BEENET_OK;
    }
  }
  /* Unreachable: the loader guarantees the last node is an exit. */
  return beenet_set_error (err, BEENET_ERROR_CORRUPT, "graph has no exit");
}

BeenetStatus
beenet_session_classify_features_params (BeenetSession *s,
    const float *features, const BeenetPolicyParams *params,
    BeenetResult *result, BeenetError *err)
{
  beenet_clear_error (err);
  BeenetStatus st = check_args (s, features, params, result, err);
  if (st)
    return st;
  if ((st = normalise (s, features, err)))
    return st;
  return run_network (s, params, result, err);
}

BeenetStatus
beenet_session_classify_params (BeenetSession *s, const float *samples,
    size_t n, const BeenetPolicyParams *params, BeenetResult *result,
    BeenetError *err)
{
  beenet_clear_error (err);
  BeenetStatus st = check_args (s, samples, params, result, err);
  if (st)
    return st;
  if ((st = beenet_frontend_compute (s->frontend, samples, n, s->features,
              err)))
    return st;
  return beenet_session_classify_features_params (s, s->features, params,
      result, err);
}

static bool
same_config (const BeenetFrontendConfig *a, const BeenetFrontendConfig *b)
{
  return a->sample_rate == b->sample_rate
      && a->window_samples == b->window_samples
      && a->frame_length == b->frame_length && a->hop_length == b->hop_length
      && a->fft_size == b->fft_size && a->n_mels == b->n_mels
      && a->n_frames == b->n_frames && a->fmin == b->fmin
      && a->fmax == b->fmax && a->log_floor == b->log_floor;
}

BeenetStatus
beenet_session_classify_stream_params (BeenetSession *s, BeenetStream *stream,
    uint64_t start, const BeenetPolicyParams *params, BeenetResult *result,
    BeenetError *err)
{
  beenet_clear_error (err);
  BeenetStatus st = check_args (s, stream, params, result, err);
  if (st)
    return st;
  BeenetFrontendConfig c;
  beenet_stream_get_config (stream, &c);
  if (!same_config (&c, &s->model->fe))
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "the stream's front-end configuration is not the model's");
  if ((st = beenet_stream_features (stream, start, s->features, err)))
    return st;
  return beenet_session_classify_features_params (s, s->features, params,
      result, err);
}

/* ---- energy gate ---------------------------------------------------------- */

int
beenet_model_silence_class (const BeenetModel *m)
{
  if (!m)
    return -1;
  for (uint32_t i = 0; i < m->n_classes; i++)
    if (strcmp (m->labels[i], BEENET_SILENCE_LABEL) == 0)
      return (int) i;
  return -1;
}

/* The result of a window the gate stopped: the silence class (or class 0),
 * certain, at exit 0, no operations. */
static void
gated_result (BeenetSession *s, BeenetResult *result)
{
  const BeenetModel *m = s->model;
  const int sil = beenet_model_silence_class (m);
  const uint32_t k = sil < 0 ? 0 : (uint32_t) sil;
  memset (s->gate_probs, 0, sizeof (float) * m->n_classes);
  s->gate_probs[k] = 1.0f;
  memset (result, 0, sizeof *result);
  result->class_index = k;
  result->label = m->labels[k];
  result->num_exits = m->n_exits;
  result->confidence = 1.0f;
  result->probabilities = s->gate_probs;
  result->num_classes = m->n_classes;
  memset (s->remaining_counts, 0, sizeof (uint32_t) * m->n_exits);
  result->classes_remaining = s->remaining_counts;
}

BeenetStatus
beenet_session_classify_stream_gated (BeenetSession *s, BeenetStream *stream,
    uint64_t start, const BeenetPolicyParams *params, double gate_dbfs,
    BeenetResult *result, double *level_dbfs, BeenetError *err)
{
  beenet_clear_error (err);
  BeenetStatus st = check_args (s, stream, params, result, err);
  if (st)
    return st;
  if (isnan (gate_dbfs))
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "energy gate is NaN");
  double level;
  if ((st = beenet_stream_level (stream, start, &level, err)))
    return st;
  if (level_dbfs)
    *level_dbfs = level;
  if (level < gate_dbfs) {
    gated_result (s, result);
    return BEENET_OK;
  }
  return beenet_session_classify_stream_params (s, stream, start, params,
      result, err);
}

/* ---- positional wrappers (older API) ------------------------------------ */

static BeenetPolicyParams
positional (BeenetPolicy policy, float threshold)
{
  BeenetPolicyParams p = beenet_policy_default_params (policy);
  p.threshold = threshold;
  return p;
}

BeenetStatus
beenet_session_classify_features (BeenetSession *s, const float *features,
    BeenetPolicy policy, float threshold, BeenetResult *result,
    BeenetError *err)
{
  const BeenetPolicyParams p = positional (policy, threshold);
  return beenet_session_classify_features_params (s, features, &p, result,
      err);
}

BeenetStatus
beenet_session_classify (BeenetSession *s, const float *samples, size_t n,
    BeenetPolicy policy, float threshold, BeenetResult *result,
    BeenetError *err)
{
  const BeenetPolicyParams p = positional (policy, threshold);
  return beenet_session_classify_params (s, samples, n, &p, result, err);
}

BeenetStatus
beenet_session_classify_stream (BeenetSession *s, BeenetStream *stream,
    uint64_t start, BeenetPolicy policy, float threshold,
    BeenetResult *result, BeenetError *err)
{
  const BeenetPolicyParams p = positional (policy, threshold);
  return beenet_session_classify_stream_params (s, stream, start, &p, result,
      err);
}

BeenetStatus
beenet_session_run_all_exits (BeenetSession *s, const float *features,
    float *logits, BeenetError *err)
{
  beenet_clear_error (err);
  if (!s || !features || !logits)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "session, features and logits must not be NULL");
  BeenetStatus st = normalise (s, features, err);
  if (st)
    return st;
  const BeenetModel *m = s->model;
  const BeenetRunCtx ctx = { m->kernels, s->acts, m->act_shapes, s->bits };
  const uint32_t K = m->n_classes;
  for (uint32_t i = 0; i < m->n_nodes; i++) {
    const BeenetNode *n = &m->nodes[i];
    n->op->run (&ctx, n);
    if (n->exit_number) {
      const float *in = s->acts[n->inputs[0]];
      if (!beenet_all_finite (in, K))
        return beenet_set_error (err, BEENET_ERROR_NONFINITE,
            "exit %u produced non-finite logits", n->exit_number);
      memcpy (logits + (size_t) (n->exit_number - 1) * K, in,
          K * sizeof (float));
    }
  }
  return BEENET_OK;
}
