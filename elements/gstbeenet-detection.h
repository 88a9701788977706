/* gst-beenet
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
/* Keyword-detection glue of the beenet element: feeds each classified
 * window's probabilities to the engine's BeenetDetector and posts a
 * "beenet-detection" element message when a keyword fires
 * (docs/element.md, "Detections"). */
#ifndef __GST_BEENET_DETECTION_H__
#define __GST_BEENET_DETECTION_H__

#include <gst/gst.h>

#include "beenet.h"

G_BEGIN_DECLS

/* Property sentinels: "use the model's value" (beenet.detection.*, or the
 * engine's built-in default when the model has none). */
#define GST_BEENET_DETECTION_THRESHOLD_FROM_MODEL (-1.0)
#define GST_BEENET_DETECTION_TIME_FROM_MODEL GST_CLOCK_TIME_NONE
#define GST_BEENET_MAX_SMOOTHING (10 * GST_SECOND)
#define GST_BEENET_MAX_REFRACTORY (60 * GST_SECOND)

/* Detection properties as set by the application (sentinels included). */
typedef struct
{
  gdouble threshold;            /* <= 0: the model's */
  guint64 smoothing;            /* ns; GST_CLOCK_TIME_NONE: the model's */
  guint64 refractory;           /* ns; GST_CLOCK_TIME_NONE: the model's */
  gboolean post;
} GstBeenetDetectionProps;

/* Time fields of a window, as in the "beenet" message. */
typedef struct
{
  GstClockTime timestamp, stream_time, running_time, duration;
} GstBeenetWindowTimes;

void gst_beenet_detection_props_init (GstBeenetDetectionProps * props);

/* Replaces the sentinels by the model's values (`model`, from
 * beenet_detector_params_default) and clamps the times to the engine's
 * limits.  min_windows always comes from the model. */
void gst_beenet_detection_resolve (const GstBeenetDetectionProps * props,
    const BeenetDetectorParams * model, BeenetDetectorParams * out);

/* Pushes one window's probabilities (time_ns: window start since the last
 * reset) after applying changed parameters.  Returns a "beenet-detection"
 * message to post (when props->post), or NULL. */
GstMessage *gst_beenet_detection_window (GstObject * src,
    BeenetDetector * detector, const GstBeenetDetectionProps * props,
    const BeenetDetectorParams * model, gint64 time_ns,
    const GstBeenetWindowTimes * times, const BeenetResult * res);

G_END_DECLS

#endif /* __GST_BEENET_DETECTION_H__ */
