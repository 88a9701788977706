/* gst-beenet
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
#include <math.h>

#include "gstbeenet-compute.h"

GST_DEBUG_CATEGORY_EXTERN (beenet_debug);
#define GST_CAT_DEFAULT beenet_debug

void
gst_beenet_compute_props_init (GstBeenetComputeProps * props)
{
  props->budget = GST_BEENET_DEFAULT_BUDGET;
  props->energy_gate = GST_BEENET_ENERGY_GATE_OFF;
}

static void
drop_budget (GstBeenetCompute * c)
{
  g_clear_pointer (&c->budget, beenet_budget_free);
  c->model = NULL;
}

void
gst_beenet_compute_clear (GstBeenetCompute * c)
{
  drop_budget (c);
  c->degraded = FALSE;          /* a new run starts at full compute */
  c->on_time = 0;
}

void
gst_beenet_compute_reset (GstBeenetCompute * c)
{
  beenet_budget_reset (c->budget);
}

void
gst_beenet_compute_src_event (GstBeenetCompute * c, GstObject * obj,
    GstEvent * event)
{
  GstQOSType type;
  gdouble proportion;
  GstClockTimeDiff diff;
  GstClockTime timestamp;

  if (GST_EVENT_TYPE (event) != GST_EVENT_QOS)
    return;
  gst_event_parse_qos (event, &type, &proportion, &diff, &timestamp);
  GST_OBJECT_LOCK (obj);
  if (diff > (GstClockTimeDiff) GST_BEENET_QOS_LATE) {
    if (!c->degraded)
      GST_INFO_OBJECT (obj, "downstream is %" GST_STIME_FORMAT " late "
          "(proportion %.2f): degrading to the first exit",
          GST_STIME_ARGS (diff), proportion);
    c->degraded = TRUE;
    c->on_time = 0;
  } else if (diff < (GstClockTimeDiff) GST_BEENET_QOS_ON_TIME && c->degraded
      && ++c->on_time >= GST_BEENET_QOS_RECOVER) {
    GST_INFO_OBJECT (obj, "downstream on time again: full compute");
    c->degraded = FALSE;
  }
  GST_OBJECT_UNLOCK (obj);
}

/* The controller for the session's model (created on the first window, and
 * again if the model changed). */
static gboolean
ensure_budget (GstBeenetCompute * c, const BeenetModel * model)
{
  BeenetBudgetParams bp;

  if (c->budget && c->model == model)
    return TRUE;
  drop_budget (c);
  beenet_budget_params_default (model, &bp);
  if (beenet_budget_new (&bp, &c->budget, NULL) != BEENET_OK)
    return FALSE;
  c->model = model;
  return TRUE;
}

BeenetStatus
gst_beenet_compute_classify (GstBeenetCompute * c, BeenetSession * session,
    BeenetStream * stream, uint64_t start,
    const GstBeenetComputeProps * props, gboolean degraded,
    BeenetPolicyParams * policy, BeenetResult * res, BeenetError * err)
{
  const gboolean have_budget = ensure_budget (c,
      beenet_session_model (session));
  const gdouble gate = props->energy_gate <= GST_BEENET_ENERGY_GATE_OFF ?
      -INFINITY : props->energy_gate;
  BeenetStatus status;

  c->window_budget = props->budget;
  c->window_degraded = degraded;
  if (have_budget) {
    beenet_budget_set_target (c->budget, props->budget, NULL);
    beenet_budget_apply (c->budget, policy);
  }
  if (degraded)
    policy->max_exit = 1;       /* the cheapest exit while late */
  status = beenet_session_classify_stream_gated (session, stream, start,
      policy, gate, res, &c->level, err);
  /* the controller learns from the windows it set (not from degraded ones,
   * so it resumes where it was) */
  if (status == BEENET_OK && have_budget && !degraded)
    beenet_budget_update (c->budget, res->ops_fraction);
  return status;
}

void
gst_beenet_compute_add_fields (const GstBeenetCompute * c,
    const BeenetResult * res, GstStructure * s)
{
  BeenetBudgetState st = { 0 };

  beenet_budget_get_state (c->budget, &st);
  gst_structure_set (s,
      "budget", G_TYPE_DOUBLE, c->window_budget,
      "average-cost", G_TYPE_DOUBLE, st.windows ? st.average_cost :
      res->ops_fraction,
      "degraded", G_TYPE_BOOLEAN, c->window_degraded,
      "gated", G_TYPE_BOOLEAN, res->exit_index == 0,
      "level", G_TYPE_DOUBLE, MAX (c->level, GST_BEENET_ENERGY_GATE_OFF),
      NULL);
}
