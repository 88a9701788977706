/* gst-beenet
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
/* Keyword-detection glue of the beenet element; see gstbeenet-detection.h. */
#ifdef HAVE_CONFIG_H
#include "gst-beenet-config.h"
#endif

#include "gstbeenet-detection.h"

GST_DEBUG_CATEGORY_EXTERN (beenet_debug);
#define GST_CAT_DEFAULT beenet_debug

void
gst_beenet_detection_props_init (GstBeenetDetectionProps * props)
{
  props->threshold = GST_BEENET_DETECTION_THRESHOLD_FROM_MODEL;
  props->smoothing = GST_BEENET_DETECTION_TIME_FROM_MODEL;
  props->refractory = GST_BEENET_DETECTION_TIME_FROM_MODEL;
  props->post = TRUE;
}

/* A time property in ms: the model's value for the sentinel, else the
 * property clamped to `max`. */
static gdouble
time_ms (guint64 prop, guint64 max, gdouble model_ms)
{
  if (prop == GST_BEENET_DETECTION_TIME_FROM_MODEL)
    return model_ms;
  return (gdouble) MIN (prop, max) / GST_MSECOND;
}

void
gst_beenet_detection_resolve (const GstBeenetDetectionProps * props,
    const BeenetDetectorParams * model, BeenetDetectorParams * out)
{
  *out = *model;
  if (props->threshold > 0.0)
    out->threshold = MIN (props->threshold, 1.0);
  out->smoothing_ms = time_ms (props->smoothing, GST_BEENET_MAX_SMOOTHING,
      model->smoothing_ms);
  out->refractory_ms = time_ms (props->refractory, GST_BEENET_MAX_REFRACTORY,
      model->refractory_ms);
}

/* Lazy live change: set_params only when a resolved value differs. */
static void
apply_params (GstObject * src, BeenetDetector * detector,
    const GstBeenetDetectionProps * props, const BeenetDetectorParams * model)
{
  BeenetDetectorParams want, have;
  BeenetError err;

  gst_beenet_detection_resolve (props, model, &want);
  beenet_detector_get_params (detector, &have);
  if (want.threshold == have.threshold
      && want.smoothing_ms == have.smoothing_ms
      && want.refractory_ms == have.refractory_ms
      && want.min_windows == have.min_windows)
    return;
  GST_DEBUG_OBJECT (src, "detection: threshold %g, smoothing %g ms, "
      "refractory %g ms, min windows %u", want.threshold, want.smoothing_ms,
      want.refractory_ms, want.min_windows);
  if (beenet_detector_set_params (detector, &want, &err) != BEENET_OK)
    GST_WARNING_OBJECT (src, "detection parameters refused: %s",
        err.message);
}

static GstMessage *
build_detection_message (GstObject * src, const BeenetDetection * det,
    const GstBeenetWindowTimes * times, const BeenetResult * res,
    gdouble threshold)
{
  GstStructure *s = gst_structure_new ("beenet-detection",
      "timestamp", G_TYPE_UINT64, times->timestamp,
      "stream-time", G_TYPE_UINT64, times->stream_time,
      "running-time", G_TYPE_UINT64, times->running_time,
      "duration", G_TYPE_UINT64, times->duration,
      "keyword", G_TYPE_STRING, det->label,
      "class", G_TYPE_UINT, det->class_index,
      "score", G_TYPE_DOUBLE, (gdouble) det->score,
      "confidence", G_TYPE_DOUBLE,
      (gdouble) res->probabilities[det->class_index],
      "exit", G_TYPE_UINT, res->exit_index,
      "num-windows", G_TYPE_UINT, det->num_windows,
      "threshold", G_TYPE_DOUBLE, threshold, NULL);

  return gst_message_new_element (src, s);
}

GstMessage *
gst_beenet_detection_window (GstObject * src, BeenetDetector * detector,
    const GstBeenetDetectionProps * props, const BeenetDetectorParams * model,
    gint64 time_ns, const GstBeenetWindowTimes * times,
    const BeenetResult * res)
{
  BeenetDetection det;
  BeenetDetectorParams used;
  BeenetError err;
  int detected = 0;

  apply_params (src, detector, props, model);
  if (beenet_detector_push (detector, time_ns, res->probabilities,
          res->num_classes, &det, &detected, &err) != BEENET_OK) {
    /* cannot happen with the engine's own probabilities and the element's
     * increasing window times */
    GST_WARNING_OBJECT (src, "detector: %s", err.message);
    return NULL;
  }
  if (!detected)
    return NULL;
  GST_DEBUG_OBJECT (src, "detected \"%s\" (score %.3f over %u windows) at %"
      GST_TIME_FORMAT, det.label, det.score, det.num_windows,
      GST_TIME_ARGS (times->timestamp));
  if (!props->post)
    return NULL;
  beenet_detector_get_params (detector, &used);
  /* the keyword's own threshold when the model moves it (class offsets;
   * the engine holds it in single precision, so without an offset it is
   * the parameter rounded to float, and the parameter itself is posted) */
  const double own = beenet_detector_class_threshold (detector,
      det.class_index);
  return build_detection_message (src, &det, times, res,
      own == (double) (float) used.threshold ? used.threshold : own);
}
