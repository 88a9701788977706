/* Keyword detector: posterior smoothing, threshold, re-arming and a
 * refractory period over a stream of windows (beenet.h, docs/engine.md). */
#include "model-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct BeenetDetector {
  BeenetModel *model;
  uint32_t n_classes;
  BeenetDetectorParams params;
  int64_t smoothing_ns, refractory_ns;
  /* Ring of the last BEENET_DETECTOR_HISTORY windows: slot i holds
   * times[i] and probs[i * n_classes ..]. */
  int64_t *times;
  float *probs;
  uint32_t head;             /* slot of the newest window */
  uint32_t count;            /* windows in the ring */
  uint8_t *armed;            /* per class */
  bool have_detection;
  int64_t last_detection;
  double *scores;            /* per class, scratch of push */
  float *thresholds;         /* per class: params.threshold with the
                                model's class offset applied */
};

/* ---- parameters -------------------------------------------------------- */

void
beenet_detector_params_default (const BeenetModel *model,
    BeenetDetectorParams *p)
{
  if (!p)
    return;
  if (model) {
    *p = model->detection;
    return;
  }
  memset (p, 0, sizeof *p);
  p->threshold = BEENET_DETECTOR_DEFAULT_THRESHOLD;
  p->smoothing_ms = BEENET_DETECTOR_DEFAULT_SMOOTHING_MS;
  p->refractory_ms = BEENET_DETECTOR_DEFAULT_REFRACTORY_MS;
  p->min_windows = BEENET_DETECTOR_DEFAULT_MIN_WINDOWS;
}

/* One row per double field: name, offset, range, whether the lower bound
 * itself is excluded. */
static const struct {
  const char *name;
  size_t off;
  double lo, hi;
  bool lo_open;
} param_ranges[] = {
  { "threshold", offsetof (BeenetDetectorParams, threshold), 0.0, 1.0, true },
  { "smoothing_ms", offsetof (BeenetDetectorParams, smoothing_ms), 0.0,
    BEENET_DETECTOR_MAX_SMOOTHING_MS, false },
  { "refractory_ms", offsetof (BeenetDetectorParams, refractory_ms), 0.0,
    BEENET_DETECTOR_MAX_REFRACTORY_MS, false },
};

BeenetStatus
beenet_detector_params_check (const BeenetDetectorParams *p,
    BeenetStatus code, const char *prefix, BeenetError *err)
{
  for (size_t i = 0; i < sizeof param_ranges / sizeof param_ranges[0]; i++) {
    double v;
    memcpy (&v, (const char *) p + param_ranges[i].off, sizeof v);
    const bool low = param_ranges[i].lo_open ? !(v > param_ranges[i].lo)
        : !(v >= param_ranges[i].lo);
    if (low || !(v <= param_ranges[i].hi))
      return beenet_set_error (err, code, "%s%s = %g out of range %c%g, %g]",
          prefix, param_ranges[i].name, v, param_ranges[i].lo_open ? '(' : '[',
          param_ranges[i].lo, param_ranges[i].hi);
  }
  if (p->min_windows < 1 || p->min_windows > BEENET_DETECTOR_HISTORY)
    return beenet_set_error (err, code, "%smin_windows = %u out of range "
        "[1, %u]", prefix, p->min_windows, BEENET_DETECTOR_HISTORY);
  return BEENET_OK;
}

BeenetStatus
beenet_detector_params_validate (const BeenetDetectorParams *params,
    BeenetError *err)
{
  beenet_clear_error (err);
  if (!params)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "beenet_detector_params_validate: params must not be NULL");
  return beenet_detector_params_check (params,
      BEENET_ERROR_INVALID_ARGUMENT, "", err);
}

int
beenet_model_is_keyword (const BeenetModel *model, size_t i)
{
  return model && i < model->n_classes && model->is_keyword[i];
}

double
beenet_model_keyword_peak (const BeenetModel *model,
    const float *probabilities, uint32_t num_classes)
{
  double peak = 0.0;

  if (!model || !probabilities)
    return 0.0;
  for (uint32_t i = 0; i < num_classes && i < model->n_classes; i++)
    if (model->is_keyword[i] && probabilities[i] > peak)
      peak = probabilities[i];
  return peak;
}

double
beenet_model_detection_class_offset (const BeenetModel *model, size_t i)
{
  if (!model || !model->class_offsets || i >= model->n_classes)
    return 0.0;
  return model->class_offsets[i];
}

/* Threshold t moved by the logit offset d: sigmoid(logit(t) + d); t itself
 * for d = 0 (exactly) and 1 for t = 1. */
static double
offset_threshold (double t, double d)
{
  if (d == 0.0 || t >= 1.0)
    return t;
  return 1.0 / (1.0 + exp (-(log (t / (1.0 - t)) + d)));
}

/* ---- lifecycle --------------------------------------------------------- */

static void
apply_params (BeenetDetector *d, const BeenetDetectorParams *p)
{
  d->params = *p;
  /* <= 60 s: exact in int64 nanoseconds */
  d->smoothing_ns = (int64_t) llround (p->smoothing_ms * 1e6);
  d->refractory_ns = (int64_t) llround (p->refractory_ms * 1e6);
  /* Compared in single precision, the precision of the probabilities: a
   * window of probability 0.7f reaches a threshold of 0.7. */
  for (uint32_t k = 0; k < d->n_classes; k++)
    d->thresholds[k] = (float) offset_threshold (p->threshold,
        beenet_model_detection_class_offset (d->model, k));
}

BeenetStatus
beenet_detector_new (BeenetModel *model, const BeenetDetectorParams *params,
    BeenetDetector **out, BeenetError *err)
{
  BeenetDetectorParams p;
  BeenetStatus st;

  beenet_clear_error (err);
  if (!model || !out)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "beenet_detector_new: model and out must not be NULL");
  *out = NULL;
  beenet_detector_params_default (model, &p);
  if (params)
    p = *params;
  if ((st = beenet_detector_params_check (&p, BEENET_ERROR_INVALID_ARGUMENT,
              "", err)))
    return st;

  BeenetDetector *d = calloc (1, sizeof *d);
  if (!d)
    return beenet_set_error (err, BEENET_ERROR_NOMEM, "out of memory");
  d->n_classes = model->n_classes;
  d->times = calloc (BEENET_DETECTOR_HISTORY, sizeof (int64_t));
  d->probs = calloc ((size_t) BEENET_DETECTOR_HISTORY * d->n_classes,
      sizeof (float));
  d->armed = calloc (d->n_classes, 1);
  d->scores = calloc (d->n_classes, sizeof (double));
  d->thresholds = calloc (d->n_classes, sizeof (float));
  if (!d->times || !d->probs || !d->armed || !d->scores || !d->thresholds) {
    d->model = NULL;
    beenet_detector_free (d);
    return beenet_set_error (err, BEENET_ERROR_NOMEM, "out of memory");
  }
  d->model = beenet_model_ref (model);
  apply_params (d, &p);
  beenet_detector_reset (d);
  *out = d;
  return BEENET_OK;
}

void
beenet_detector_free (BeenetDetector *d)
{
  if (!d)
    return;
  free (d->times);
  free (d->probs);
  free (d->armed);
  free (d->scores);
  free (d->thresholds);
  beenet_model_unref (d->model);
  free (d);
}

BeenetStatus
beenet_detector_set_params (BeenetDetector *d,
    const BeenetDetectorParams *params, BeenetError *err)
{
  BeenetStatus st;

  beenet_clear_error (err);
  if (!d || !params)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "beenet_detector_set_params: detector and params must not be NULL");
  if ((st = beenet_detector_params_check (params,
              BEENET_ERROR_INVALID_ARGUMENT, "", err)))
    return st;
  apply_params (d, params);
  return BEENET_OK;
}

void
beenet_detector_get_params (const BeenetDetector *d,
    BeenetDetectorParams *params)
{
  if (d && params)
    *params = d->params;
}

double
beenet_detector_class_threshold (const BeenetDetector *d, size_t i)
{
  if (!d || i >= d->n_classes || !d->model->is_keyword[i])
    return 0.0;
  return d->thresholds[i];
}

void
beenet_detector_reset (BeenetDetector *d)
{
  if (!d)
    return;
  d->head = 0;
  d->count = 0;
  d->have_detection = false;
  d->last_detection = 0;
  memset (d->armed, 1, d->n_classes);
}

/* ---- push -------------------------------------------------------------- */

/* Distance later - earlier (later >= earlier) without signed overflow. */
static uint64_t
elapsed (int64_t later, int64_t earlier)
{
  return (uint64_t) later - (uint64_t) earlier;
}

static BeenetStatus
check_push (const BeenetDetector *d, int64_t time_ns, const float *probs,
    uint32_t num_classes, const BeenetDetection *det, const int *detected,
    BeenetError *err)
{
  if (!d || !probs || !det || !detected)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "beenet_detector_push: detector, probabilities, detection and "
        "detected must not be NULL");
  if (num_classes != d->n_classes)
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "beenet_detector_push: %u probabilities for a model of %u classes",
        num_classes, d->n_classes);
  if (d->count && time_ns <= d->times[d->head])
    return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
        "beenet_detector_push: time %lld ns is not after the previous "
        "window (%lld ns); reset the detector for a new stream",
        (long long) time_ns, (long long) d->times[d->head]);
  for (uint32_t k = 0; k < num_classes; k++) {
    if (!isfinite (probs[k]))
      return beenet_set_error (err, BEENET_ERROR_NONFINITE,
          "beenet_detector_push: probability of class %u is not finite", k);
    if (probs[k] < 0.0f || probs[k] > 1.0f)
      return beenet_set_error (err, BEENET_ERROR_INVALID_ARGUMENT,
          "beenet_detector_push: probability of class %u = %g is outside "
          "[0, 1]", k, (double) probs[k]);
  }
  return BEENET_OK;
}

/* Mean of every keyword's probability over the windows within the
 * smoothing span of the newest one, into d->scores; returns the number of
 * windows averaged. */
static uint32_t
smooth (BeenetDetector *d)
{
  const int64_t now = d->times[d->head];
  const uint32_t nc = d->n_classes;
  uint32_t n = 0;

  for (uint32_t k = 0; k < nc; k++)
    d->scores[k] = 0.0;
  for (uint32_t age = 0; age < d->count; age++) {
    uint32_t slot = (d->head + BEENET_DETECTOR_HISTORY - age)
        % BEENET_DETECTOR_HISTORY;
    if (elapsed (now, d->times[slot]) > (uint64_t) d->smoothing_ns)
      break;
    const float *p = d->probs + (size_t) slot * nc;
    for (uint32_t k = 0; k < nc; k++)
      if (d->model->is_keyword[k])
        d->scores[k] += p[k];
    n++;
  }
  for (uint32_t k = 0; k < nc; k++)
    d->scores[k] /= n;
  return n;
}

BeenetStatus
beenet_detector_push (BeenetDetector *d, int64_t time_ns,
    const float *probabilities, uint32_t num_classes,
    BeenetDetection *detection, int *detected, BeenetError *err)
{
  BeenetStatus st;

  beenet_clear_error (err);
  if (detected)
    *detected = 0;
  if ((st = check_push (d, time_ns, probabilities, num_classes, detection,
              detected, err)))
    return st;

  const uint32_t nc = d->n_classes;
  if (d->count)
    d->head = (d->head + 1) % BEENET_DETECTOR_HISTORY;
  if (d->count < BEENET_DETECTOR_HISTORY)
    d->count++;
  d->times[d->head] = time_ns;
  memcpy (d->probs + (size_t) d->head * nc, probabilities,
      nc * sizeof (float));

  const uint32_t n = smooth (d);
  uint32_t best = nc;
  for (uint32_t k = 0; k < nc; k++) {
    if (!d->model->is_keyword[k])
      continue;
    if ((float) d->scores[k] < d->thresholds[k])
      d->armed[k] = 1;          /* fell below the threshold: re-armed */
    else if (d->armed[k] && (best == nc || d->scores[k] > d->scores[best]))
      best = k;
  }
  if (best == nc || n < d->params.min_windows)
    return BEENET_OK;
  if (d->have_detection
      && elapsed (time_ns, d->last_detection) < (uint64_t) d->refractory_ns)
    return BEENET_OK;

  d->armed[best] = 0;
  d->have_detection = true;
  d->last_detection = time_ns;
  detection->class_index = best;
  detection->label = d->model->labels[best];
  detection->score = (float) d->scores[best];
  detection->time_ns = time_ns;
  detection->num_windows = n;
  *detected = 1;
  return BEENET_OK;
}
