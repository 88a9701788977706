/* gst-beenet
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
#ifndef __GST_BEENET_H__
#define __GST_BEENET_H__

#include <gst/gst.h>
#include <gst/audio/audio.h>
#include <gst/audio/gstaudiofilter.h>

#include "beenet.h"
#include "beenet-windower.h"
#include "beenet-input.h"
#include "gstbeenet-detection.h"
#include "gstbeenet-compute.h"

G_BEGIN_DECLS

#define GST_TYPE_BEENET (gst_beenet_get_type ())
G_DECLARE_FINAL_TYPE (GstBeenet, gst_beenet, GST, BEENET, GstAudioFilter)

#define GST_TYPE_BEENET_POLICY (gst_beenet_policy_get_type ())
GType gst_beenet_policy_get_type (void);

/* Defaults.  The threshold default is the shipped model's recommended one
 * (beenet.threshold of models/kws12.gguf, chosen on validation data). */
#define GST_BEENET_DEFAULT_THRESHOLD 0.75
#define GST_BEENET_DEFAULT_POLICY BEENET_POLICY_ENTROPY
/* "interval" left at its default: the model's (beenet_model_interval_ms) */
#define GST_BEENET_INTERVAL_FROM_MODEL GST_CLOCK_TIME_NONE
#define GST_BEENET_MIN_INTERVAL (10 * GST_MSECOND)
#define GST_BEENET_MAX_INTERVAL (10 * GST_SECOND)
#define GST_BEENET_MAX_THRESHOLD 100.0
/* "refine-level" left at its default: the model's (beenet_model_refine_level) */
#define GST_BEENET_REFINE_LEVEL_FROM_MODEL (-1.0)

/* Where the embedded default model lives in the GResource namespace
 * (registered by the plugin / tools when models/kws12.gguf was present at
 * build time). */
#define GST_BEENET_DEFAULT_MODEL_RESOURCE "/org/gstreamer/beenet/models/default.gguf"

GST_ELEMENT_REGISTER_DECLARE (beenet);

typedef struct _GstBeenetModelState GstBeenetModelState;

/**
 * GstBeenet:
 *
 * Instance structure; all fields are private.
 */
struct _GstBeenet
{
  GstAudioFilter parent;

  /* properties, protected by the object lock */
  gdouble threshold;
  BeenetPolicy policy;
  guint patience;
  guint max_exit;
  gint keyword_exit;            /* -1 = the model's beenet.keyword_exit */
  gchar *model_path;
  guint64 interval;
  gdouble refine_level;         /* < 0: the model's */
  gboolean post_messages;
  GstBeenetDetectionProps detection;
  GstBeenetComputeProps compute;

  /* model cache, protected by model_lock */
  GMutex model_lock;
  BeenetModel *model;
  gchar *model_loaded_path;     /* path the cached model came from */

  /* streaming state (streaming thread, set up in start/setup) */
  BeenetSession *session;
  BeenetDetector *detector;
  BeenetDetectorParams model_detection;   /* the model's detection defaults */
  guint model_keyword_exit;     /* the model's beenet.keyword_exit */
  BeenetStream *stream;         /* samples and log-Mel frames of the stream */
  BeenetWindower windower;      /* when windows start; feeds the stream */
  guint window_samples;
  guint model_rate;             /* the model's sample rate (windower's) */
  GstBeenetInput input;         /* input -> mono F32 at model_rate */
  guint64 interval_samples;     /* window hop of the current buffer */
  GstClockTime base_ts;         /* timestamp of sample 0 */
  gboolean need_base_ts;
  gboolean warned_nonfinite;
  gboolean caps_error_posted;
  GstFlowReturn window_ret;

  /* live model swap (gstbeenet-model.h) */
  gboolean started;             /* object lock: a model is running */
  GstBeenetModelState *pending; /* object lock: loaded, not yet swapped in */
  guint64 sample_offset;        /* windower sample 0 = this model-rate
                                 * sample after base_ts */
  gboolean swap_now;            /* a window boundary was reached: swap */
  gboolean finishing;           /* EOS: no swap before the last windows */
  gboolean announce_model;      /* post "beenet-model" at the next window */
  GstBeenetCompute compute_state;  /* budget controller, QoS (its own doc) */
};

G_END_DECLS

#endif /* __GST_BEENET_H__ */
