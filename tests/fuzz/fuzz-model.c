/* libFuzzer harness of the model loader (issue 12, docs/reliability.md):
 * bytes -> beenet_model_load_memory -> describe (name, labels, keywords,
 * exits, operation counts, front-end, policy, detection defaults) ->
 * classify one window of noise derived from the bytes, through the one-shot
 * path (posteriors fed to a detector) or the streaming path, as a bit of
 * the input's hash picks.
 * Copyright (C) 2026 gst-beenet authors, LGPL-2.1-or-later */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "beenet.h"

/* Windows longer than this are not classified (the loader accepts them; a
 * fuzzer-made 2^31-sample window would only measure malloc). */
#define MAX_FUZZ_WINDOW (1u << 20)

int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

static uint32_t
seed_of (const uint8_t * data, size_t size)
{
  uint32_t h = 2166136261u;     /* FNV-1a */

  for (size_t i = 0; i < size; i++)
    h = (h ^ data[i]) * 16777619u;
  return h ? h : 1;
}

static void
fill_noise (float *x, size_t n, uint32_t state)
{
  for (size_t i = 0; i < n; i++) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    x[i] = (float) ((int32_t) state) / 2147483648.0f;
  }
}

static void
describe (const BeenetModel * model)
{
  size_t i, n = beenet_model_num_classes (model);
  volatile size_t sink = 0;
  BeenetDetectorParams dp;
  char *text = beenet_model_describe (model);

  sink += text ? strlen (text) : 0;
  free (text);
  sink += strlen (beenet_model_name (model));
  for (i = 0; i < n; i++)
    sink += strlen (beenet_model_label (model, i))
        + (size_t) beenet_model_is_keyword (model, i);
  sink += beenet_model_num_exits (model);
  sink += (size_t) (beenet_model_total_bops (model)
      + beenet_model_total_flops (model));
  sink += (size_t) beenet_model_default_params (model).policy;
  beenet_detector_params_default (model, &dp);
  sink += (size_t) dp.min_windows;
  (void) sink;
}

static void
detect (BeenetModel * model, const BeenetResult * res)
{
  BeenetDetector *det = NULL;
  BeenetDetection d;
  int detected;

  if (beenet_detector_new (model, NULL, &det, NULL) != BEENET_OK)
    return;
  beenet_detector_push (det, 0, res->probabilities, res->num_classes, &d,
      &detected, NULL);
  beenet_detector_free (det);
}

static void
classify_stream (BeenetModel * model, BeenetSession * session,
    const float *x, size_t n, const BeenetPolicyParams * params)
{
  BeenetFrontendConfig config;
  BeenetStream *stream = NULL;
  BeenetResult res;

  beenet_model_frontend_config (model, &config);
  if (beenet_stream_new (&config, NULL, &stream, NULL) != BEENET_OK)
    return;
  beenet_stream_push (stream, x, n, NULL);
  beenet_session_classify_stream_params (session, stream, 0, params, &res,
      NULL);
  beenet_stream_free (stream);
}

static void
classify (BeenetModel * model, uint32_t seed)
{
  BeenetFrontendConfig config;
  BeenetSession *session = NULL;
  BeenetPolicyParams params = beenet_model_default_params (model);
  BeenetResult res;
  float *x;
  size_t n;

  beenet_model_frontend_config (model, &config);
  n = config.window_samples;
  if (n == 0 || n > MAX_FUZZ_WINDOW)
    return;
  if (beenet_session_new (model, &session, NULL) != BEENET_OK)
    return;
  x = malloc (n * sizeof (float));
  if (x) {
    fill_noise (x, n, seed);
    /* one window per input, through the one-shot path (then the detector)
     * or the streaming path with a policy and max_exit from the bytes:
     * both reach the same network code, the second window only cost time
     * (docs/reliability.md, "Harness speed") */
    if (seed & 0x10000u) {
      params.policy = (BeenetPolicy) (seed % beenet_policy_count ());
      params.max_exit = (seed >> 8) % 4;
      classify_stream (model, session, x, n, &params);
    } else if (beenet_session_classify_params (session, x, n, &params, &res,
            NULL) == BEENET_OK) {
      detect (model, &res);
    }
  }
  free (x);
  beenet_session_free (session);
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  BeenetModel *model = NULL;
  BeenetError err;

  if (beenet_model_load_memory (data, size, &model, &err) != BEENET_OK)
    return 0;
  describe (model);
  classify (model, seed_of (data, size));
  beenet_model_unref (model);
  return 0;
}
