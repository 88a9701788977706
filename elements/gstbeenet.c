/* gst-beenet
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 *
 * This library is distributed in the hope that it will be useful,
 * but WITHOUT ANY WARRANTY; without even the implied warranty of
 * MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the GNU
 * Library General Public License for more details.
 */

/**
 * SECTION:element-beenet
 * @title: beenet
 *
 * beenet classifies audio with a binary early-exit network (BEENet) and
 * posts one element message named "beenet" per analysed window.  Audio of
 * any rate, channel count and layout (S16, S32, F32 or F64) flows through
 * unchanged; a mono copy is resampled to the model's rate internally
 * (GstAudioConverter, Kaiser, default quality).
 *
 * Windows hold one model window (1 s for the shipped model)
 * and start every #GstBeenet:interval nanoseconds.  The window
 * probabilities also feed a keyword detector (smoothing, threshold,
 * refractory period) that posts one "beenet-detection" element message per
 * detected keyword.  The message fields are documented in docs/element.md.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m filesrc location=speech.wav ! decodebin ! audioconvert !
 *     beenet ! fakesink
 * ]|
 *
 * Inference runs in the streaming thread: one window takes a few
 * milliseconds, far less than the interval (docs/element.md).
 */

#ifdef HAVE_CONFIG_H
#include "gst-beenet-config.h"
#endif

#include <math.h>
#include <string.h>
#include <time.h>

#include <gio/gio.h>
#include <glib/gi18n-lib.h>

#include "gstbeenet.h"
#include "gstbeenet-model.h"

GST_DEBUG_CATEGORY (beenet_debug);
#define GST_CAT_DEFAULT beenet_debug

/* Any rate, channel count and layout (as level): the element only reads
 * the samples; GstBeenetInput converts a mono copy to the model's rate. */
#define ALLOWED_CAPS \
  "audio/x-raw, format = (string) { " GST_AUDIO_NE (S16) ", " \
  GST_AUDIO_NE (S32) ", " GST_AUDIO_NE (F32) ", " GST_AUDIO_NE (F64) " }, " \
  "rate = (int) [ 1, MAX ], channels = (int) [ 1, MAX ], " \
  "layout = (string) { interleaved, non-interleaved }"

enum
{
  PROP_0,
  PROP_THRESHOLD,
  PROP_POLICY,
  PROP_MODEL,
  PROP_INTERVAL,
  PROP_REFINE_LEVEL,
  PROP_POST_MESSAGES,
  PROP_DETECTION_THRESHOLD,
  PROP_SMOOTHING,
  PROP_REFRACTORY,
  PROP_POST_DETECTIONS,
  PROP_LABELS,
  PROP_NUM_EXITS,
  PROP_TASK,
  PROP_ARCHITECTURE,
  PROP_PATIENCE,
  PROP_MAX_EXIT,
  PROP_BUDGET,
  PROP_ENERGY_GATE,
  PROP_KEYWORD_EXIT
};

#define gst_beenet_parent_class parent_class
G_DEFINE_TYPE (GstBeenet, gst_beenet, GST_TYPE_AUDIO_FILTER);
GST_ELEMENT_REGISTER_DEFINE (beenet, "beenet", GST_RANK_NONE, GST_TYPE_BEENET);

/* The GEnum is built from the engine's policy table (beenet_policy_*), so a
 * policy added to the engine appears here with its nick and description. */
static GEnumValue *
policy_enum_values (void)
{
  gsize i, n = beenet_policy_count ();
  GEnumValue *values = g_new0 (GEnumValue, n + 1);      /* leaked: static type */

  for (i = 0; i < n; i++) {
    values[i].value = (gint) i;
    values[i].value_name = beenet_policy_description ((BeenetPolicy) i);
    values[i].value_nick = beenet_policy_name ((BeenetPolicy) i);
  }
  return values;
}

GType
gst_beenet_policy_get_type (void)
{
  static gsize id = 0;

  if (g_once_init_enter (&id)) {
    GType tmp = g_enum_register_static ("GstBeenetPolicy",
        policy_enum_values ());
    g_once_init_leave (&id, tmp);
  }
  return (GType) id;
}

static void gst_beenet_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_beenet_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static void gst_beenet_finalize (GObject * object);

static gboolean gst_beenet_start (GstBaseTransform * trans);
static gboolean gst_beenet_stop (GstBaseTransform * trans);
static gboolean gst_beenet_src_event (GstBaseTransform * trans,
    GstEvent * event);
static gboolean gst_beenet_sink_event (GstBaseTransform * trans,
    GstEvent * event);
static GstFlowReturn gst_beenet_transform_ip (GstBaseTransform * trans,
    GstBuffer * buf);
static gboolean gst_beenet_setup (GstAudioFilter * filter,
    const GstAudioInfo * info);
static GstPadProbeReturn gst_beenet_caps_probe (GstPad * pad,
    GstPadProbeInfo * info, gpointer user_data);
static gboolean push_mono (const gfloat * mono, gsize n, gpointer user_data);

/* The early-exit policy: which exit a window stops at. */
static void
install_policy_properties (GObjectClass * gobject_class)
{
  /**
   * GstBeenet:threshold:
   *
   * Early-exit threshold.  With the entropy policy a window stops at the
   * first exit whose softmax entropy (nats) is strictly below it; with the
   * max-probability policy at the first exit whose top probability is at
   * least it; the patience policy does not use it.  With the
   * class-exclusion policy it scales the model's exclusion margins (1 = the
   * factors as searched by the trainer, smaller = cheaper).  The last exit
   * (or #GstBeenet:max-exit) always stops.  Controllable.
   */
  g_object_class_install_property (gobject_class, PROP_THRESHOLD,
      g_param_spec_double ("threshold", "Threshold",
          "Early-exit threshold: entropy in nats (entropy policy), "
          "probability (max-probability policy) or exclusion-margin scale "
          "(class-exclusion policy)", 0.0,
          GST_BEENET_MAX_THRESHOLD, GST_BEENET_DEFAULT_THRESHOLD,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          GST_PARAM_CONTROLLABLE | G_PARAM_STATIC_STRINGS));

  g_object_class_install_property (gobject_class, PROP_POLICY,
      g_param_spec_enum ("policy", "Policy", "Early-exit policy",
          GST_TYPE_BEENET_POLICY, GST_BEENET_DEFAULT_POLICY,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          G_PARAM_STATIC_STRINGS));

  /**
   * GstBeenet:patience:
   *
   * With the patience policy a window stops when the top class has been the
   * same at this many consecutive exits (the first exit counts as 1).
   * Ignored by the other policies.  Controllable.
   */
  g_object_class_install_property (gobject_class, PROP_PATIENCE,
      g_param_spec_uint ("patience", "Patience",
          "Patience policy: stop when the top class has been the same at "
          "this many consecutive exits (1 = the first exit)", 1, G_MAXUINT,
          beenet_policy_default_params (BEENET_POLICY_PATIENCE).patience,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          GST_PARAM_CONTROLLABLE | G_PARAM_STATIC_STRINGS));

  /**
   * GstBeenet:max-exit:
   *
   * Never run a window past this exit (1-based), whatever the policy; 0 =
   * no limit, and so is a value beyond the model's number of exits.
   * Controllable.
   */
  g_object_class_install_property (gobject_class, PROP_MAX_EXIT,
      g_param_spec_uint ("max-exit", "Maximum exit",
          "Never run past this exit (1-based), for every policy; 0 = no "
          "limit (as is a value beyond the model's exits)", 0, G_MAXUINT, 0,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          GST_PARAM_CONTROLLABLE | G_PARAM_STATIC_STRINGS));

  /**
   * GstBeenet:keyword-exit:
   *
   * A window whose best class at an exit is a keyword does not stop before
   * this exit (1-based), whatever the policy: keyword candidates are
   * decided by the deeper, more accurate exits while silence and other
   * speech still leave early.  0 = no constraint; a value beyond the
   * model's exits means the last exit; -1 (the default) = the model's
   * value (beenet.keyword_exit, 0 when absent).  #GstBeenet:max-exit still
   * wins.  Controllable.
   */
  g_object_class_install_property (gobject_class, PROP_KEYWORD_EXIT,
      g_param_spec_int ("keyword-exit", "Keyword exit",
          "A window whose best class is a keyword does not stop before this "
          "exit (1-based; 0 = no constraint, beyond the model's exits = the "
          "last); -1 = the model's value (beenet.keyword_exit)", -1, G_MAXINT,
          -1, G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          GST_PARAM_CONTROLLABLE | G_PARAM_STATIC_STRINGS));
}

/* The model, the windows it classifies and their messages. */
static void
install_window_properties (GObjectClass * gobject_class)
{
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Path of a beenet GGUF model file (NULL = built-in default model); "
          "set while running, it is loaded in the setting thread and takes "
          "over at the next window boundary (docs/element.md)", NULL,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          G_PARAM_STATIC_STRINGS));

  g_object_class_install_property (gobject_class, PROP_INTERVAL,
      g_param_spec_uint64 ("interval", "Interval",
          "Time between the starts of two analysed windows (in nanoseconds, "
          "10 ms to 10 s; longer values mean 10 s); 18446744073709551615 "
          "(GST_CLOCK_TIME_NONE) = the model's value, the interval its "
          "detection defaults were tuned for (beenet.detection.interval_ms, "
          "else 500 ms)", GST_BEENET_MIN_INTERVAL, G_MAXUINT64,
          GST_BEENET_INTERVAL_FROM_MODEL,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          G_PARAM_STATIC_STRINGS));

  g_object_class_install_property (gobject_class, PROP_REFINE_LEVEL,
      g_param_spec_double ("refine-level", "Refine level",
          "Also classify the window starting half an interval after a "
          "window whose likeliest keyword has a "
          "probability above this level, so keyword candidates are seen "
          "twice as often (1 = never; 0 = after nearly every window); -1 = "
          "the model's value (beenet.detection.refine_level, else 1)",
          GST_BEENET_REFINE_LEVEL_FROM_MODEL, BEENET_REFINE_OFF,
          GST_BEENET_REFINE_LEVEL_FROM_MODEL,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          GST_PARAM_CONTROLLABLE | G_PARAM_STATIC_STRINGS));

  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Classify each window and post a \"beenet\" element message with "
          "the fields timestamp, stream-time, running-time, duration "
          "(GstClockTime, as the level element), class (uint), label "
          "(string), confidence (double), entropy (double, nats), exit "
          "(uint, 1-based), num-exits (uint), threshold (double), policy "
          "(string), patience (uint), max-exit (uint), probabilities "
          "(GValueArray of double, one per class), classes-remaining "
          "(GValueArray of uint: candidate classes after each exit that "
          "ran; only class-exclusion narrows them), "
          "ops-fraction (double), inference-time (guint64 ns), budget "
          "(double), average-cost (double), degraded (boolean), gated "
          "(boolean), level (double, dBFS) and, with the eenet policy, "
          "eenet-budget (double, the scheduler's budget in force)", TRUE,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          G_PARAM_STATIC_STRINGS));
}

/* Keyword detections on top of the windows' classes. */
static void
install_detection_properties (GObjectClass * gobject_class)
{
  /**
   * GstBeenet:detection-threshold:
   *
   * A keyword is detected when its smoothed probability reaches this value.
   * 0 or less (the default, -1) uses the model's value.  Controllable.
   */
  g_object_class_install_property (gobject_class, PROP_DETECTION_THRESHOLD,
      g_param_spec_double ("detection-threshold", "Detection threshold",
          "A keyword is detected when its smoothed probability is >= this "
          "value (0 < t <= 1); <= 0 = the model's value "
          "(beenet.detection.threshold, else 0.7)", -1.0, 1.0,
          GST_BEENET_DETECTION_THRESHOLD_FROM_MODEL,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          GST_PARAM_CONTROLLABLE | G_PARAM_STATIC_STRINGS));

  g_object_class_install_property (gobject_class, PROP_SMOOTHING,
      g_param_spec_uint64 ("smoothing", "Smoothing",
          "Keyword probabilities are averaged over the windows that started "
          "within this time before the latest one (in nanoseconds, 0 = the "
          "latest window only, at most 10 s); 18446744073709551615 "
          "(GST_CLOCK_TIME_NONE) = the model's value "
          "(beenet.detection.smoothing_ms, else 500 ms)", 0, G_MAXUINT64,
          GST_BEENET_DETECTION_TIME_FROM_MODEL,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          GST_PARAM_CONTROLLABLE | G_PARAM_STATIC_STRINGS));

  g_object_class_install_property (gobject_class, PROP_REFRACTORY,
      g_param_spec_uint64 ("refractory", "Refractory period",
          "No keyword is detected within this time after a detection (in "
          "nanoseconds, at most 60 s); a detected keyword must also fall "
          "below the threshold before it can fire again; "
          "18446744073709551615 (GST_CLOCK_TIME_NONE) = the model's value "
          "(beenet.detection.refractory_ms, else 1 s)", 0, G_MAXUINT64,
          GST_BEENET_DETECTION_TIME_FROM_MODEL,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          GST_PARAM_CONTROLLABLE | G_PARAM_STATIC_STRINGS));

  g_object_class_install_property (gobject_class, PROP_POST_DETECTIONS,
      g_param_spec_boolean ("post-detections", "Post detections",
          "Post a \"beenet-detection\" element message when a keyword is "
          "detected, with the fields timestamp, stream-time, running-time, "
          "duration (GstClockTime, of the window that fired), keyword "
          "(string), class (uint), score (double, smoothed probability), "
          "confidence (double, the window's probability of the keyword), "
          "exit (uint), num-windows (uint, windows averaged) and threshold "
          "(double); needs post-messages", TRUE,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          GST_PARAM_CONTROLLABLE | G_PARAM_STATIC_STRINGS));
}

/* What a window may cost: the compute budget and the energy gate. */
static void
install_cost_properties (GObjectClass * gobject_class)
{
  /**
   * GstBeenet:budget:
   *
   * Average share of the network's operations per window (the messages'
   * ops-fraction), 1 = no constraint.  Below 1 the engine's budget
   * controller adjusts the threshold (patience: max-exit) from window to
   * window so that the average cost follows it.  With the eenet policy it
   * selects the scheduler's thresholds for that budget (stored in the
   * model), and below 1 the controller corrects the budget in force
   * (message field eenet-budget) so that the average cost follows it.
   * Controllable.
   */
  g_object_class_install_property (gobject_class, PROP_BUDGET,
      g_param_spec_double ("budget", "Compute budget",
          "Average share of the network's operations per window (0.01-1, "
          "1 = off): the threshold (patience policy: max-exit, eenet: the "
          "scheduler's budget) is adjusted window by window so that the "
          "average ops-fraction follows it",
          GST_BEENET_MIN_BUDGET, 1.0, GST_BEENET_DEFAULT_BUDGET,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          GST_PARAM_CONTROLLABLE | G_PARAM_STATIC_STRINGS));

  /**
   * GstBeenet:energy-gate:
   *
   * Windows whose rms level (dBFS) is below this are reported as silence
   * at exit 0 without running the network.  -200 (the minimum) = off.
   * Controllable.
   */
  g_object_class_install_property (gobject_class, PROP_ENERGY_GATE,
      g_param_spec_double ("energy-gate", "Energy gate",
          "Windows whose rms level is below this (dBFS) are reported as "
          "_silence_ at exit 0 without running the network; -200 = off",
          GST_BEENET_ENERGY_GATE_OFF, 0.0, GST_BEENET_ENERGY_GATE_OFF,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          GST_PARAM_CONTROLLABLE | G_PARAM_STATIC_STRINGS));
}

/* Read-only facts of the loaded model. */
static void
install_model_info_properties (GObjectClass * gobject_class)
{
  g_object_class_install_property (gobject_class, PROP_LABELS,
      g_param_spec_boxed ("labels", "Labels",
          "Class labels of the model, index = class id (NULL if the model "
          "cannot be loaded)", G_TYPE_STRV,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  g_object_class_install_property (gobject_class, PROP_NUM_EXITS,
      g_param_spec_uint ("num-exits", "Number of exits",
          "Number of early exits of the model (0 if the model cannot be "
          "loaded)", 0, G_MAXUINT, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  g_object_class_install_property (gobject_class, PROP_TASK,
      g_param_spec_string ("task", "Task",
          "What the model is for, from its file: kws12, kws31, lid6, or a "
          "user's own task name (NULL if the model does not say or cannot be "
          "loaded)", NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  g_object_class_install_property (gobject_class, PROP_ARCHITECTURE,
      g_param_spec_string ("architecture", "Architecture",
          "Network family of the model, from its file: quicknet, birealnet, "
          "densenet or meliusnet (NULL if the model does not say or cannot "
          "be loaded)", NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
}

static void
gst_beenet_class_init (GstBeenetClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstAudioFilterClass *filter_class = GST_AUDIO_FILTER_CLASS (klass);
  GstCaps *caps;

  GST_DEBUG_CATEGORY_INIT (beenet_debug, "beenet", 0,
      "Binary early-exit network audio classifier");

  gobject_class->set_property = gst_beenet_set_property;
  gobject_class->get_property = gst_beenet_get_property;
  gobject_class->finalize = gst_beenet_finalize;

  install_policy_properties (gobject_class);
  install_window_properties (gobject_class);
  install_detection_properties (gobject_class);
  install_cost_properties (gobject_class);
  install_model_info_properties (gobject_class);

  gst_element_class_set_static_metadata (element_class,
      "Binary early-exit network classifier", "Filter/Analyzer/Audio",
      "Classifies audio windows (any rate, resampled internally to the "
      "model's) with a binary early-exit network and posts the results as "
      "element messages (docs/element.md)", "gst-beenet developers");
  gst_element_class_add_static_metadata (element_class,
      GST_ELEMENT_METADATA_DOC_URI, BEENET_DOC_URI);

  caps = gst_caps_from_string (ALLOWED_CAPS);
  gst_audio_filter_class_add_pad_templates (filter_class, caps);
  gst_caps_unref (caps);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_beenet_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_beenet_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_beenet_sink_event);
  trans_class->src_event = GST_DEBUG_FUNCPTR (gst_beenet_src_event);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_beenet_transform_ip);
  trans_class->transform_ip_on_passthrough = TRUE;
  trans_class->passthrough_on_same_caps = TRUE;
  filter_class->setup = GST_DEBUG_FUNCPTR (gst_beenet_setup);

  gst_type_mark_as_plugin_api (GST_TYPE_BEENET_POLICY, 0);
}

static void
gst_beenet_init (GstBeenet * self)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);

  self->threshold = GST_BEENET_DEFAULT_THRESHOLD;
  self->policy = GST_BEENET_DEFAULT_POLICY;
  self->patience =
      beenet_policy_default_params (BEENET_POLICY_PATIENCE).patience;
  self->max_exit = 0;
  self->keyword_exit = -1;
  self->interval = GST_BEENET_INTERVAL_FROM_MODEL;
  self->refine_level = GST_BEENET_REFINE_LEVEL_FROM_MODEL;
  self->post_messages = TRUE;
  gst_beenet_detection_props_init (&self->detection);
  gst_beenet_compute_props_init (&self->compute);
  g_mutex_init (&self->model_lock);
  gst_beenet_input_init (&self->input);
  self->base_ts = GST_CLOCK_TIME_NONE;
  self->need_base_ts = TRUE;
  self->window_ret = GST_FLOW_OK;

  gst_base_transform_set_in_place (trans, TRUE);
  gst_base_transform_set_passthrough (trans, TRUE);
  gst_base_transform_set_gap_aware (trans, TRUE);

  /* Explain refused caps: the pad rejects them before any event function
   * runs, so look at CAPS events as they arrive. */
  gst_pad_add_probe (GST_BASE_TRANSFORM_SINK_PAD (trans),
      GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, gst_beenet_caps_probe, self, NULL);
}

static void
gst_beenet_finalize (GObject * object)
{
  GstBeenet *self = GST_BEENET (object);

  if (self->session)
    beenet_session_free (self->session);
  beenet_detector_free (self->detector);
  gst_beenet_compute_clear (&self->compute_state);
  if (self->model)
    beenet_model_unref (self->model);
  beenet_windower_clear (&self->windower);
  beenet_stream_free (self->stream);
  gst_beenet_input_clear (&self->input);
  gst_beenet_model_state_free (self->pending);
  g_free (self->model_path);
  g_free (self->model_loaded_path);
  g_mutex_clear (&self->model_lock);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

/* ------------------------------------------------------------------------ */
/* Model loading                                                            */

typedef GstBeenetLoadResult LoadResult;
#define LOAD_OK GST_BEENET_LOAD_OK
#define LOAD_NO_DEFAULT GST_BEENET_LOAD_NO_DEFAULT

/* Makes sure self->model is the model for the current `model` property.
 * Call with model_lock held.  On failure fills err (engine error) and
 * returns the kind of failure; *path_out receives the path tried. */
static LoadResult
ensure_model_locked (GstBeenet * self, BeenetError * err, gchar ** path_out)
{
  gchar *path;
  BeenetModel *model = NULL;
  LoadResult res;

  GST_OBJECT_LOCK (self);
  path = g_strdup (self->model_path);
  GST_OBJECT_UNLOCK (self);

  memset (err, 0, sizeof (*err));
  if (path_out)
    *path_out = g_strdup (path);

  if (self->model != NULL && g_strcmp0 (path, self->model_loaded_path) == 0) {
    g_free (path);
    return LOAD_OK;
  }

  res = gst_beenet_model_load (self, path, &model, err);
  if (res != LOAD_OK) {
    g_free (path);
    return res;
  }
  if (self->model)
    beenet_model_unref (self->model);
  self->model = model;
  g_free (self->model_loaded_path);
  self->model_loaded_path = path;
  return LOAD_OK;
}

static void
post_load_error (GstBeenet * self, LoadResult res, const gchar * path,
    const BeenetError * err)
{
  if (res == LOAD_NO_DEFAULT) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        (_("No model set and no default model is built in.")),
        ("Set the \"model\" property to a beenet GGUF model file; this build "
            "has no embedded default model (models/kws12.gguf was missing "
            "at build time)."));
    return;
  }

  if (path == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        (_("Could not load the built-in default model.")),
        ("%s: %s", beenet_status_name (err->code), err->message));
    return;
  }

  switch (err->code) {
    case BEENET_ERROR_IO:
      if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
        GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
            (_("Could not load model \"%s\": the file does not exist."), path),
            ("%s: %s", beenet_status_name (err->code), err->message));
      } else {
        GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
            (_("Could not load model \"%s\": the file cannot be read."), path),
            ("%s: %s", beenet_status_name (err->code), err->message));
      }
      break;
    case BEENET_ERROR_FORMAT:
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          (_("Could not load model \"%s\": it is not a beenet model file."),
              path), ("%s: %s", beenet_status_name (err->code),
              err->message));
      break;
    case BEENET_ERROR_TRUNCATED:
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          (_("Could not load model \"%s\": the file is truncated."), path),
          ("%s: %s", beenet_status_name (err->code), err->message));
      break;
    case BEENET_ERROR_CORRUPT:
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          (_("Could not load model \"%s\": the file is corrupt."), path),
          ("%s: %s", beenet_status_name (err->code), err->message));
      break;
    case BEENET_ERROR_UNSUPPORTED:
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          (_("Could not load model \"%s\": it needs a newer version of "
                  "beenet."), path),
          ("%s: %s", beenet_status_name (err->code), err->message));
      break;
    default:
      GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
          (_("Could not load model \"%s\"."), path),
          ("%s: %s", beenet_status_name (err->code), err->message));
      break;
  }
}

/* ------------------------------------------------------------------------ */
/* Properties                                                               */

static void
gst_beenet_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstBeenet *self = GST_BEENET (object);

  switch (prop_id) {
    case PROP_THRESHOLD:
      GST_OBJECT_LOCK (self);
      self->threshold = g_value_get_double (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_POLICY:
      GST_OBJECT_LOCK (self);
      self->policy = (BeenetPolicy) g_value_get_enum (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_PATIENCE:
      GST_OBJECT_LOCK (self);
      self->patience = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_MAX_EXIT:
      GST_OBJECT_LOCK (self);
      self->max_exit = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_KEYWORD_EXIT:
      GST_OBJECT_LOCK (self);
      self->keyword_exit = g_value_get_int (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_MODEL:{
      gboolean started;

      GST_OBJECT_LOCK (self);
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      started = self->started;
      GST_OBJECT_UNLOCK (self);
      /* running: load here, off the streaming thread, which swaps it in
       * at the next window boundary; otherwise start() loads it */
      if (started)
        gst_beenet_model_load_pending (self, g_value_get_string (value));
      break;
    }
    case PROP_INTERVAL:
      GST_OBJECT_LOCK (self);
      self->interval = g_value_get_uint64 (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_REFINE_LEVEL:
      GST_OBJECT_LOCK (self);
      self->refine_level = g_value_get_double (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_POST_MESSAGES:
      GST_OBJECT_LOCK (self);
      self->post_messages = g_value_get_boolean (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_DETECTION_THRESHOLD:
      GST_OBJECT_LOCK (self);
      self->detection.threshold = g_value_get_double (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_SMOOTHING:
      GST_OBJECT_LOCK (self);
      self->detection.smoothing = g_value_get_uint64 (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_REFRACTORY:
      GST_OBJECT_LOCK (self);
      self->detection.refractory = g_value_get_uint64 (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_POST_DETECTIONS:
      GST_OBJECT_LOCK (self);
      self->detection.post = g_value_get_boolean (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_BUDGET:
      GST_OBJECT_LOCK (self);
      self->compute.budget = g_value_get_double (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_ENERGY_GATE:
      GST_OBJECT_LOCK (self);
      self->compute.energy_gate = g_value_get_double (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

/* The model-describing read-only properties of a loaded model. */
static void
get_model_property (const BeenetModel * model, guint prop_id, GValue * value)
{
  gsize i, n;
  gchar **labels;

  switch (prop_id) {
    case PROP_LABELS:
      n = beenet_model_num_classes (model);
      labels = g_new0 (gchar *, n + 1);
      for (i = 0; i < n; i++)
        labels[i] = g_strdup (beenet_model_label (model, i));
      g_value_take_boxed (value, labels);
      break;
    case PROP_NUM_EXITS:
      g_value_set_uint (value, beenet_model_num_exits (model));
      break;
    case PROP_TASK:
      g_value_set_string (value, beenet_model_task (model));
      break;
    case PROP_ARCHITECTURE:
      g_value_set_string (value, beenet_model_architecture (model));
      break;
    default:
      g_assert_not_reached ();
  }
}

static void
gst_beenet_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstBeenet *self = GST_BEENET (object);

  switch (prop_id) {
    case PROP_THRESHOLD:
      GST_OBJECT_LOCK (self);
      g_value_set_double (value, self->threshold);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_POLICY:
      GST_OBJECT_LOCK (self);
      g_value_set_enum (value, self->policy);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_PATIENCE:
      GST_OBJECT_LOCK (self);
      g_value_set_uint (value, self->patience);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_MAX_EXIT:
      GST_OBJECT_LOCK (self);
      g_value_set_uint (value, self->max_exit);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_KEYWORD_EXIT:
      GST_OBJECT_LOCK (self);
      g_value_set_int (value, self->keyword_exit);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_MODEL:
      GST_OBJECT_LOCK (self);
      g_value_set_string (value, self->model_path);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_INTERVAL:
      GST_OBJECT_LOCK (self);
      g_value_set_uint64 (value, self->interval);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_REFINE_LEVEL:
      GST_OBJECT_LOCK (self);
      g_value_set_double (value, self->refine_level);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_POST_MESSAGES:
      GST_OBJECT_LOCK (self);
      g_value_set_boolean (value, self->post_messages);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_DETECTION_THRESHOLD:
      GST_OBJECT_LOCK (self);
      g_value_set_double (value, self->detection.threshold);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_SMOOTHING:
      GST_OBJECT_LOCK (self);
      g_value_set_uint64 (value, self->detection.smoothing);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_REFRACTORY:
      GST_OBJECT_LOCK (self);
      g_value_set_uint64 (value, self->detection.refractory);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_POST_DETECTIONS:
      GST_OBJECT_LOCK (self);
      g_value_set_boolean (value, self->detection.post);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_BUDGET:
      GST_OBJECT_LOCK (self);
      g_value_set_double (value, self->compute.budget);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_ENERGY_GATE:
      GST_OBJECT_LOCK (self);
      g_value_set_double (value, self->compute.energy_gate);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_LABELS:
    case PROP_NUM_EXITS:
    case PROP_TASK:
    case PROP_ARCHITECTURE:{
      BeenetError err;
      gboolean running;

      /* Reading these loads the configured model on demand (without
       * posting errors), so applications can inspect it before playing. */
      GST_OBJECT_LOCK (self);
      running = self->started;
      GST_OBJECT_UNLOCK (self);
      /* while running: the running model, not a pending or failed one */
      g_mutex_lock (&self->model_lock);
      if (!(running && self->model != NULL) &&
          ensure_model_locked (self, &err, NULL) != LOAD_OK)
        g_param_value_set_default (pspec, value);
      else
        get_model_property (self->model, prop_id, value);
      g_mutex_unlock (&self->model_lock);
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

/* ------------------------------------------------------------------------ */
/* Caps                                                                     */

static GstPadProbeReturn
gst_beenet_caps_probe (GstPad * pad, GstPadProbeInfo * info,
    gpointer user_data)
{
  GstBeenet *self = GST_BEENET (user_data);
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  GstCaps *caps, *templ;
  const GstStructure *s;
  const gchar *name;
  gboolean ok;

  if (GST_EVENT_TYPE (event) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;

  gst_event_parse_caps (event, &caps);
  templ = gst_pad_get_pad_template_caps (pad);
  ok = gst_caps_can_intersect (caps, templ);
  gst_caps_unref (templ);
  if (ok || self->caps_error_posted || gst_caps_is_empty (caps))
    return GST_PAD_PROBE_OK;

  /* The pad refuses these caps right after this probe; say why. */
  self->caps_error_posted = TRUE;
  s = gst_caps_get_structure (caps, 0);
  name = gst_structure_get_name (s);

  if (!gst_structure_has_name (s, "audio/x-raw")) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        (_("Input of type \"%s\" is not raw audio. Decode and convert it "
                "first, e.g. with \"decodebin ! audioconvert ! "
                "audioresample\"."), name),
        ("refused caps %" GST_PTR_FORMAT "; beenet accepts %s", caps,
            ALLOWED_CAPS));
  } else {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        (_("This audio sample format is not supported: beenet reads S16, "
                "S32, F32 or F64 samples. Add \"audioconvert\" before "
                "beenet.")),
        ("refused caps %" GST_PTR_FORMAT "; beenet accepts %s", caps,
            ALLOWED_CAPS));
  }
  return GST_PAD_PROBE_OK;
}

static gboolean
gst_beenet_setup (GstAudioFilter * filter, const GstAudioInfo * info)
{
  GstBeenet *self = GST_BEENET (filter);

  /* new caps mid-stream: the old converter's delay still holds input that
   * belongs to the stream, so the windows go on without losing time */
  if (self->session != NULL && !self->need_base_ts &&
      gst_beenet_input_is_ready (&self->input))
    gst_beenet_input_drain (&self->input, push_mono, self);
  /* the converter itself is built at the next buffer */
  if (!gst_beenet_input_set_format (&self->input, info)) {
    GST_ERROR_OBJECT (self, "unsupported audio info");
    return FALSE;
  }
  GST_DEBUG_OBJECT (self, "%s %s, %d Hz, %u channel(s)",
      GST_AUDIO_INFO_NAME (info),
      GST_AUDIO_INFO_LAYOUT (info) == GST_AUDIO_LAYOUT_INTERLEAVED ?
      "interleaved" : "non-interleaved", GST_AUDIO_INFO_RATE (info),
      GST_AUDIO_INFO_CHANNELS (info));
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Start / stop                                                             */

static void
reset_stream (GstBeenet * self)
{
  beenet_windower_reset (&self->windower);
  gst_beenet_input_reset (&self->input);
  beenet_detector_reset (self->detector);
  self->sample_offset = 0;
  gst_beenet_compute_reset (&self->compute_state);
  self->base_ts = GST_CLOCK_TIME_NONE;
  self->need_base_ts = TRUE;
}

static gboolean
gst_beenet_start (GstBaseTransform * trans)
{
  GstBeenet *self = GST_BEENET (trans);
  GstBeenetModelState *st;
  BeenetError err;
  LoadResult res;
  gchar *path = NULL;
  gboolean nomem = FALSE;

  g_mutex_lock (&self->model_lock);
  res = ensure_model_locked (self, &err, &path);
  if (res != LOAD_OK) {
    g_mutex_unlock (&self->model_lock);
    post_load_error (self, res, path, &err);
    g_free (path);
    return FALSE;
  }
  st = gst_beenet_model_state_new (self->model, path, &err, &nomem);
  g_mutex_unlock (&self->model_lock);
  g_free (path);
  if (st == NULL && nomem) {
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
        (_("Out of memory.")), ("%s: %s", beenet_status_name (err.code),
            err.message));
    return FALSE;
  } else if (st == NULL) {
    GST_ELEMENT_ERROR (self, LIBRARY, INIT,
        (_("Could not initialise the classifier.")),
        ("%s: %s", beenet_status_name (err.code), err.message));
    return FALSE;
  }

  gst_beenet_model_install (self, st);
  reset_stream (self);
  self->warned_nonfinite = FALSE;
  self->caps_error_posted = FALSE;
  self->window_ret = GST_FLOW_OK;
  self->swap_now = self->finishing = self->announce_model = FALSE;
  GST_OBJECT_LOCK (self);
  /* a model set while stopping never ran: the property's is loaded above */
  st = g_steal_pointer (&self->pending);
  self->started = TRUE;
  GST_OBJECT_UNLOCK (self);
  gst_beenet_model_state_free (st);
  return TRUE;
}

static gboolean
gst_beenet_stop (GstBaseTransform * trans)
{
  GstBeenet *self = GST_BEENET (trans);
  GstBeenetModelState *st;

  GST_OBJECT_LOCK (self);
  self->started = FALSE;
  st = g_steal_pointer (&self->pending);
  GST_OBJECT_UNLOCK (self);
  gst_beenet_model_state_free (st);
  g_clear_pointer (&self->session, beenet_session_free);
  g_clear_pointer (&self->detector, beenet_detector_free);
  gst_beenet_compute_clear (&self->compute_state);
  beenet_windower_clear (&self->windower);
  g_clear_pointer (&self->stream, beenet_stream_free);
  /* drop the cached model so the next start reads the file again */
  g_mutex_lock (&self->model_lock);
  if (self->model) {
    beenet_model_unref (self->model);
    self->model = NULL;
  }
  g_clear_pointer (&self->model_loaded_path, g_free);
  g_mutex_unlock (&self->model_lock);
  /* self->input keeps the negotiated format: a restart with the same caps
   * need not call setup() again.  Freed in finalize. */
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Windows                                                                  */

static guint64
monotonic_ns (void)
{
#ifdef CLOCK_MONOTONIC
  struct timespec ts;

  if (clock_gettime (CLOCK_MONOTONIC, &ts) == 0)
    return (guint64) ts.tv_sec * G_GUINT64_CONSTANT (1000000000) +
        (guint64) ts.tv_nsec;
#endif
  return (guint64) g_get_monotonic_time () * 1000;
}

/* The time fields of a window's messages (as level's). */
static void
window_times (GstBeenet * self, GstClockTime timestamp, GstClockTime duration,
    GstBeenetWindowTimes * t)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);

  t->timestamp = timestamp;
  t->duration = duration;
  t->running_time = GST_CLOCK_TIME_NONE;
  t->stream_time = GST_CLOCK_TIME_NONE;
  if (trans->segment.format == GST_FORMAT_TIME
      && GST_CLOCK_TIME_IS_VALID (timestamp)) {
    t->running_time = gst_segment_to_running_time (&trans->segment,
        GST_FORMAT_TIME, timestamp);
    t->stream_time = gst_segment_to_stream_time (&trans->segment,
        GST_FORMAT_TIME, timestamp);
  }
}

/* "classes-remaining": one uint per exit that ran (none for a gated
 * window), a GValueArray like "probabilities". */
static void
add_classes_remaining (GstStructure * s, const BeenetResult * res)
{
  GValue array = G_VALUE_INIT;
  GValue v = G_VALUE_INIT;
  GValueArray *counts;
  guint e;

  G_GNUC_BEGIN_IGNORE_DEPRECATIONS;
  counts = g_value_array_new (res->exit_index);
  g_value_init (&v, G_TYPE_UINT);
  for (e = 0; e < res->exit_index; e++) {
    g_value_set_uint (&v, res->classes_remaining[e]);
    g_value_array_append (counts, &v);
  }
  g_value_unset (&v);
  g_value_init (&array, g_value_array_get_type ());
  g_value_take_boxed (&array, counts);
  gst_structure_take_value (s, "classes-remaining", &array);
  G_GNUC_END_IGNORE_DEPRECATIONS;
}

static GstMessage *
build_message (GstBeenet * self, const GstBeenetWindowTimes * t,
    const BeenetResult * res, gdouble threshold,
    const BeenetPolicyParams * policy, guint64 inference_ns)
{
  GstStructure *s;
  GValue array = G_VALUE_INIT;
  GValue v = G_VALUE_INIT;
  GValueArray *probs;
  guint i;

  s = gst_structure_new ("beenet",
      "timestamp", G_TYPE_UINT64, t->timestamp,
      "stream-time", G_TYPE_UINT64, t->stream_time,
      "running-time", G_TYPE_UINT64, t->running_time,
      "duration", G_TYPE_UINT64, t->duration,
      "class", G_TYPE_UINT, res->class_index,
      "label", G_TYPE_STRING, res->label,
      "confidence", G_TYPE_DOUBLE, (gdouble) res->confidence,
      "entropy", G_TYPE_DOUBLE, (gdouble) res->entropy,
      "exit", G_TYPE_UINT, res->exit_index,
      "num-exits", G_TYPE_UINT, res->num_exits,
      "threshold", G_TYPE_DOUBLE, threshold,
      "policy", G_TYPE_STRING, beenet_policy_name (policy->policy),
      "patience", G_TYPE_UINT, policy->patience,
      "max-exit", G_TYPE_UINT, policy->max_exit,
      "keyword-exit", G_TYPE_UINT, policy->keyword_exit,
      "ops-fraction", G_TYPE_DOUBLE, res->ops_fraction,
      "inference-time", G_TYPE_UINT64, inference_ns, NULL);

  /* A GValueArray, like level's rms/peak/decay: gst-launch -m prints it as
   * "(GValueArray)< 0.1, 0.9 >" and plain PyGObject turns it into a list
   * (a GstValueArray needs the gst-python overrides). */
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS;
  probs = g_value_array_new (res->num_classes);
  g_value_init (&v, G_TYPE_DOUBLE);
  for (i = 0; i < res->num_classes; i++) {
    g_value_set_double (&v, res->probabilities[i]);
    g_value_array_append (probs, &v);
  }
  g_value_unset (&v);
  g_value_init (&array, g_value_array_get_type ());
  g_value_take_boxed (&array, probs);
  gst_structure_take_value (s, "probabilities", &array);
  G_GNUC_END_IGNORE_DEPRECATIONS;
  add_classes_remaining (s, res);
  if (policy->policy == BEENET_POLICY_EENET)
    gst_structure_set (s, "eenet-budget", G_TYPE_DOUBLE,
        (gdouble) policy->budget, NULL);

  return gst_message_new_element (GST_OBJECT (self), s);
}

/* The exit-policy parameters in force; call with the object lock held. */
static void
policy_params (GstBeenet * self, BeenetPolicyParams * p)
{
  *p = beenet_policy_default_params (self->policy);
  p->threshold = (float) self->threshold;
  p->patience = self->patience;
  p->max_exit = self->max_exit;
  p->keyword_exit = self->keyword_exit < 0 ? self->model_keyword_exit
      : (guint) self->keyword_exit;
  /* eenet: the budget property selects the scheduler's thresholds (and,
   * below 1, the budget controller corrects it window by window) */
  p->budget = (float) self->compute.budget;
}

/* Buffer time and duration of the window of `real` samples at start (a
 * windower sample, counted from sample_offset). */
static void
window_span (GstBeenet * self, guint64 start, gsize real,
    GstClockTime * timestamp, GstClockTime * duration)
{
  guint64 first = self->sample_offset + start;

  *duration = gst_util_uint64_scale_int (first + real, GST_SECOND,
      self->model_rate) - gst_util_uint64_scale_int (first, GST_SECOND,
      self->model_rate);
  *timestamp = GST_CLOCK_TIME_NONE;
  if (GST_CLOCK_TIME_IS_VALID (self->base_ts))
    *timestamp = self->base_ts + gst_util_uint64_scale_int (first, GST_SECOND,
        self->model_rate);
}

/* Classify one window of the stream and post its message. */
static int
classify_one (BeenetStream * stream, uint64_t start, size_t real,
    void *user_data)
{
  GstBeenet *self = GST_BEENET (user_data);
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstClockTime timestamp = GST_CLOCK_TIME_NONE, duration;
  gdouble threshold;
  BeenetPolicyParams policy;
  gboolean post;
  GstBeenetDetectionProps detection;
  GstBeenetComputeProps compute;
  gboolean degraded;
  GstMessage *msg;
  GstBeenetWindowTimes times;
  GstMessage *detection_msg;
  BeenetResult res;
  BeenetError err;
  BeenetStatus status;
  guint64 t0, t1;
  gdouble refine_level;
  const BeenetModel *model;

  window_span (self, start, real, &timestamp, &duration);
  if (GST_CLOCK_TIME_IS_VALID (timestamp)) {
    /* controlled properties take the value at the window's start */
    if (trans->segment.format == GST_FORMAT_TIME) {
      GstClockTime stream_time = gst_segment_to_stream_time (&trans->segment,
          GST_FORMAT_TIME, timestamp);
      if (GST_CLOCK_TIME_IS_VALID (stream_time))
        gst_object_sync_values (GST_OBJECT (self), stream_time);
    }
  }

  GST_OBJECT_LOCK (self);
  threshold = self->threshold;
  refine_level = self->refine_level;
  policy_params (self, &policy);
  post = self->post_messages;
  detection = self->detection;
  compute = self->compute;
  degraded = self->compute_state.degraded;
  GST_OBJECT_UNLOCK (self);

  if (!post)
    return 0;

  t0 = monotonic_ns ();
  status = gst_beenet_compute_classify (&self->compute_state, self->session,
      stream, start, &compute, degraded, &policy, &res, &err);
  t1 = monotonic_ns ();

  if (status == BEENET_ERROR_NONFINITE) {
    GST_DEBUG_OBJECT (self, "skipping window at %" GST_TIME_FORMAT
        ": %s", GST_TIME_ARGS (timestamp), err.message);
    if (!self->warned_nonfinite) {
      self->warned_nonfinite = TRUE;
      GST_ELEMENT_WARNING (self, STREAM, DECODE,
          (_("The audio contains invalid samples (NaN or infinity); windows "
                  "containing them are not classified.")),
          ("first window skipped at %" GST_TIME_FORMAT ": %s",
              GST_TIME_ARGS (timestamp), err.message));
    }
    return 0;
  } else if (status == BEENET_ERROR_UNSUPPORTED) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        (_("The model does not support the selected exit policy \"%s\"."),
            beenet_policy_name (policy.policy)),
        ("%s", err.message));
    self->window_ret = GST_FLOW_ERROR;
    return 1;
  } else if (status != BEENET_OK) {
    GST_ELEMENT_ERROR (self, LIBRARY, FAILED,
        (_("Classification of an audio window failed.")),
        ("%s: %s", beenet_status_name (status), err.message));
    self->window_ret = GST_FLOW_ERROR;
    return 1;
  }

  GST_LOG_OBJECT (self, "window %" GST_TIME_FORMAT ": %s (%.3f) exit %u/%u",
      GST_TIME_ARGS (timestamp), res.label, res.confidence, res.exit_index,
      res.num_exits);

  window_times (self, timestamp, duration, &times);
  /* the threshold in force: the controller's while it runs */
  if (compute.budget < GST_BEENET_DEFAULT_BUDGET)
    threshold = policy.threshold;
  msg = build_message (self, &times, &res, threshold, &policy, t1 - t0);
  gst_beenet_compute_add_fields (&self->compute_state, &res,
      gst_message_writable_structure (msg));
  gst_element_post_message (GST_ELEMENT (self), msg);

  /* the detector's clock: window start since the last reset */
  detection_msg = gst_beenet_detection_window (GST_OBJECT (self),
      self->detector, &detection, &self->model_detection,
      (gint64) gst_util_uint64_scale_int (start, GST_SECOND, self->model_rate),
      &times, &res);
  if (detection_msg)
    gst_element_post_message (GST_ELEMENT (self), detection_msg);
  model = beenet_session_model (self->session);
  if (refine_level < 0.0)
    refine_level = beenet_model_refine_level (model);
  return beenet_model_keyword_peak (model, res.probabilities,
      res.num_classes) > refine_level ? BEENET_WINDOW_REFINE : 0;
}

/* BeenetWindowFunc: classifies the window; at this window boundary a
 * pending model stops the push (push_mono swaps it in).  The first window
 * of a new model is announced by a "beenet-model" message. */
static int
classify_window (BeenetStream * stream, uint64_t start, size_t real,
    void *user_data)
{
  GstBeenet *self = GST_BEENET (user_data);
  gboolean pending;
  int ret;

  if (self->announce_model) {
    GstBeenetWindowTimes times;
    GstClockTime timestamp, duration;

    self->announce_model = FALSE;
    window_span (self, start, real, &timestamp, &duration);
    window_times (self, timestamp, duration, &times);
    gst_element_post_message (GST_ELEMENT (self),
        gst_beenet_model_message (self, &times));
  }
  ret = classify_one (stream, start, real, user_data);
  GST_OBJECT_LOCK (self);
  pending = self->pending != NULL;
  GST_OBJECT_UNLOCK (self);
  if ((ret & BEENET_WINDOW_STOP) || !pending || self->finishing)
    return ret;
  self->swap_now = TRUE;
  return BEENET_WINDOW_STOP;
}

static guint64
current_interval_samples (GstBeenet * self)
{
  guint64 interval, samples;

  GST_OBJECT_LOCK (self);
  interval = self->interval;
  GST_OBJECT_UNLOCK (self);
  if (interval == GST_BEENET_INTERVAL_FROM_MODEL) {
    g_mutex_lock (&self->model_lock);
    interval = (guint64) (beenet_model_interval_ms (self->model) *
        GST_MSECOND + 0.5);
    g_mutex_unlock (&self->model_lock);
  }
  interval = MIN (interval, GST_BEENET_MAX_INTERVAL);
  samples = gst_util_uint64_scale_int (interval, self->model_rate, GST_SECOND);
  return MAX (samples, 1);
}

/* GstBeenetInputFunc: mono samples at the model's rate into the windower.
 * A model swapped in at a window boundary with the old model's rate goes on
 * with the rest of the samples (its windows start where the last window of
 * the old model ended); with another rate the stream restarts at the next
 * buffer. */
static gboolean
push_mono (const gfloat * mono, gsize n, gpointer user_data)
{
  GstBeenet *self = GST_BEENET (user_data);

  while (n > 0) {
    guint64 before = self->windower.pos, end;
    gboolean same_rate = TRUE;

    if (!beenet_windower_push (&self->windower, mono, n,
            self->interval_samples, classify_window, self))
      return FALSE;
    if (self->window_ret != GST_FLOW_OK || !self->swap_now)
      return TRUE;
    self->swap_now = FALSE;
    end = self->windower.pos;
    if (gst_beenet_model_swap (self, &same_rate)) {
      if (!same_rate) {
        reset_stream (self);
        return TRUE;
      }
      self->sample_offset += end;
    }
    mono += end - before;
    n -= (gsize) (end - before);
  }
  return FALSE;
}

static void
take_base_ts (GstBeenet * self, GstBuffer * buf)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);

  if (GST_BUFFER_PTS_IS_VALID (buf))
    self->base_ts = GST_BUFFER_PTS (buf);
  else if (trans->segment.format == GST_FORMAT_TIME)
    self->base_ts = trans->segment.start;
  else
    self->base_ts = GST_CLOCK_TIME_NONE;
  self->need_base_ts = FALSE;
  GST_DEBUG_OBJECT (self, "sample 0 at %" GST_TIME_FORMAT,
      GST_TIME_ARGS (self->base_ts));
}

static GstFlowReturn
gst_beenet_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  GstBeenet *self = GST_BEENET (trans);
  const gchar *msg = NULL;

  if (G_UNLIKELY (self->session == NULL || self->windower.stream == NULL ||
          !gst_beenet_input_is_ready (&self->input)))
    return GST_FLOW_NOT_NEGOTIATED;

  if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT)
      && !self->need_base_ts) {
    GST_DEBUG_OBJECT (self, "discontinuity: dropping partial window");
    reset_stream (self);
  }
  if (self->need_base_ts) {
    gboolean same_rate;

    /* a (re)starting stream is a window boundary too: a model set before
     * the first buffer classifies it from its first sample */
    gst_beenet_model_swap (self, &same_rate);
    take_base_ts (self, buf);
  }

  self->interval_samples = current_interval_samples (self);
  self->window_ret = GST_FLOW_OK;
  if (!gst_beenet_input_process (&self->input, buf,
          GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_GAP), push_mono, self,
          &msg)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL), ("%s", msg));
    return GST_FLOW_ERROR;
  }
  return self->window_ret;
}

/* QoS events from downstream degrade the compute while it runs late
 * (gstbeenet-compute.c); every event goes on upstream as usual. */
static gboolean
gst_beenet_src_event (GstBaseTransform * trans, GstEvent * event)
{
  GstBeenet *self = GST_BEENET (trans);

  gst_beenet_compute_src_event (&self->compute_state, GST_OBJECT (self),
      event);
  return GST_BASE_TRANSFORM_CLASS (parent_class)->src_event (trans, event);
}

static gboolean
gst_beenet_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstBeenet *self = GST_BEENET (trans);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:
      self->warned_nonfinite = FALSE;
      reset_stream (self);
      break;
    case GST_EVENT_FLUSH_STOP:
      GST_DEBUG_OBJECT (self, "flush: dropping partial window");
      reset_stream (self);
      break;
    case GST_EVENT_GAP:
      /* no samples for a while: restart counting at the next buffer */
      reset_stream (self);
      break;
    case GST_EVENT_EOS:
      if (self->session && self->windower.stream &&
          gst_beenet_input_is_ready (&self->input)) {
        /* the resampler's delay first, then the padded last windows */
        self->interval_samples = current_interval_samples (self);
        self->finishing = TRUE;
        gst_beenet_input_drain (&self->input, push_mono, self);
        beenet_windower_finish (&self->windower,
            current_interval_samples (self), classify_window, self);
        self->finishing = FALSE;
      }
      reset_stream (self);
      break;
    default:
      break;
  }

  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}
