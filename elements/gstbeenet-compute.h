/* gst-beenet
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
/* Compute control of the beenet element (docs/element.md, "Compute
 * control"): the `budget` property drives the engine's budget controller,
 * `energy-gate` the engine's energy gate, and QoS events from downstream
 * switch to the cheapest exit while the pipeline runs late.  The logic is
 * in the engine (BeenetBudget, beenet_session_classify_stream_gated); this
 * is the per-window glue. */
#ifndef __GST_BEENET_COMPUTE_H__
#define __GST_BEENET_COMPUTE_H__

#include <gst/gst.h>

#include "beenet.h"

G_BEGIN_DECLS

#define GST_BEENET_DEFAULT_BUDGET 1.0   /* off */
#define GST_BEENET_MIN_BUDGET 0.01
/* energy-gate at its minimum means off (not even digital silence is
 * gated) */
#define GST_BEENET_ENERGY_GATE_OFF (-200.0)
/* A QoS event reporting a buffer later than this degrades... */
#define GST_BEENET_QOS_LATE (20 * GST_MSECOND)
/* ...and this many consecutive QoS events with a jitter below
 * GST_BEENET_QOS_ON_TIME recover (a margin: without latency compensation
 * a live pipeline's buffers are always a little late). */
#define GST_BEENET_QOS_RECOVER 10
#define GST_BEENET_QOS_ON_TIME (GST_BEENET_QOS_LATE / 2)

/* Properties as set by the application (object lock). */
typedef struct
{
  gdouble budget;               /* (0, 1], 1 = off */
  gdouble energy_gate;          /* dBFS; GST_BEENET_ENERGY_GATE_OFF = off */
} GstBeenetComputeProps;

/* Streaming-thread state, plus the QoS state (object lock). */
typedef struct
{
  BeenetBudget *budget;         /* created for `model` on the first window */
  const BeenetModel *model;
  gboolean degraded;            /* QoS: running late (object lock) */
  guint on_time;                /* QoS: consecutive on-time events */
  /* the window in progress */
  gboolean window_degraded;
  gdouble window_budget;
  gdouble level;                /* dBFS */
} GstBeenetCompute;

void gst_beenet_compute_props_init (GstBeenetComputeProps * props);
void gst_beenet_compute_clear (GstBeenetCompute * c);
/* A new stream: the controller starts again from the properties. */
void gst_beenet_compute_reset (GstBeenetCompute * c);
/* From the src pad's event function: reads QoS events (never consumes
 * them).  Takes the object lock of `obj`. */
void gst_beenet_compute_src_event (GstBeenetCompute * c, GstObject * obj,
    GstEvent * event);
/* Classify the window at `start` under the compute properties: applies the
 * budget controller and QoS degradation to *policy (so the caller's message
 * shows the values in force), gates, classifies, feeds the controller.
 * `degraded` is the QoS state read under the object lock. */
BeenetStatus gst_beenet_compute_classify (GstBeenetCompute * c,
    BeenetSession * session, BeenetStream * stream, uint64_t start,
    const GstBeenetComputeProps * props, gboolean degraded,
    BeenetPolicyParams * policy, BeenetResult * res, BeenetError * err);
/* Adds budget, average-cost, degraded, gated and level to a window's
 * message. */
void gst_beenet_compute_add_fields (const GstBeenetCompute * c,
    const BeenetResult * res, GstStructure * s);

G_END_DECLS

#endif /* __GST_BEENET_COMPUTE_H__ */
