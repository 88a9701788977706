/* gst-beenet
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
#ifdef HAVE_CONFIG_H
#include "gst-beenet-config.h"
#endif

#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n-lib.h>

#include "gstbeenet-model.h"

GST_DEBUG_CATEGORY_EXTERN (beenet_debug);
#define GST_CAT_DEFAULT beenet_debug

GstBeenetLoadResult
gst_beenet_model_load (GstBeenet * self, const gchar * path,
    BeenetModel ** out, BeenetError * err)
{
  BeenetStatus status;

  memset (err, 0, sizeof (*err));
  *out = NULL;
  if (path != NULL) {
    GST_DEBUG_OBJECT (self, "loading model from %s", path);
    status = beenet_model_load_file (path, out, err);
  } else {
    GError *gerr = NULL;
    GBytes *bytes = g_resources_lookup_data (GST_BEENET_DEFAULT_MODEL_RESOURCE,
        G_RESOURCE_LOOKUP_FLAGS_NONE, &gerr);
    gsize size = 0;
    gconstpointer data;

    if (bytes == NULL) {
      GST_DEBUG_OBJECT (self, "no built-in default model: %s", gerr->message);
      g_error_free (gerr);
      return GST_BEENET_LOAD_NO_DEFAULT;
    }
    data = g_bytes_get_data (bytes, &size);
    GST_DEBUG_OBJECT (self, "loading built-in default model (%" G_GSIZE_FORMAT
        " bytes)", size);
    status = beenet_model_load_memory (data, size, out, err);
    g_bytes_unref (bytes);
  }
  if (status != BEENET_OK) {
    GST_DEBUG_OBJECT (self, "model loading failed: %s: %s",
        beenet_status_name (status), err->message);
    err->code = status;
    return GST_BEENET_LOAD_FAILED;
  }
  return GST_BEENET_LOAD_OK;
}

void
gst_beenet_model_state_free (GstBeenetModelState * st)
{
  if (st == NULL)
    return;
  g_clear_pointer (&st->session, beenet_session_free);
  g_clear_pointer (&st->detector, beenet_detector_free);
  g_clear_pointer (&st->stream, beenet_stream_free);
  g_clear_pointer (&st->model, beenet_model_unref);
  g_free (st->path);
  g_free (st);
}

GstBeenetModelState *
gst_beenet_model_state_new (BeenetModel * model, const gchar * path,
    BeenetError * err, gboolean * nomem)
{
  GstBeenetModelState *st = g_new0 (GstBeenetModelState, 1);
  BeenetStatus status;

  *nomem = FALSE;
  st->path = g_strdup (path);
  st->model = beenet_model_ref (model);
  beenet_model_frontend_config (model, &st->config);
  if (st->config.sample_rate == 0 || st->config.window_samples == 0) {
    err->code = BEENET_ERROR_UNSUPPORTED;
    g_snprintf (err->message, sizeof (err->message), "model frontend: "
        "sample_rate %u, window_samples %u", st->config.sample_rate,
        st->config.window_samples);
    gst_beenet_model_state_free (st);
    return NULL;
  }
  status = beenet_session_new (model, &st->session, err);
  if (status == BEENET_OK) {
    beenet_detector_params_default (model, &st->detection);
    status = beenet_detector_new (model, NULL, &st->detector, err);
  }
  if (status == BEENET_OK) {
    status = beenet_stream_new (&st->config, NULL, &st->stream, err);
    *nomem = status != BEENET_OK;
  }
  if (status != BEENET_OK) {
    err->code = status;
    gst_beenet_model_state_free (st);
    return NULL;
  }
  return st;
}

void
gst_beenet_model_install (GstBeenet * self, GstBeenetModelState * st)
{
  BeenetModel *old_model;
  gchar *old_path;

  g_clear_pointer (&self->session, beenet_session_free);
  g_clear_pointer (&self->detector, beenet_detector_free);
  beenet_windower_clear (&self->windower);
  g_clear_pointer (&self->stream, beenet_stream_free);
  self->session = g_steal_pointer (&st->session);
  self->detector = g_steal_pointer (&st->detector);
  self->stream = g_steal_pointer (&st->stream);
  self->model_detection = st->detection;
  self->model_keyword_exit = beenet_model_default_params (st->model).keyword_exit;
  self->window_samples = st->config.window_samples;
  self->model_rate = st->config.sample_rate;
  beenet_windower_init (&self->windower, self->stream, self->window_samples);
  gst_beenet_input_set_out_rate (&self->input, (gint) self->model_rate);

  g_mutex_lock (&self->model_lock);
  old_model = self->model;
  old_path = self->model_loaded_path;
  self->model = g_steal_pointer (&st->model);
  self->model_loaded_path = g_steal_pointer (&st->path);
  g_mutex_unlock (&self->model_lock);

  if (old_model)
    beenet_model_unref (old_model);
  g_free (old_path);
  gst_beenet_model_state_free (st);
  GST_INFO_OBJECT (self, "model \"%s\": %" G_GSIZE_FORMAT " classes, %"
      G_GSIZE_FORMAT " exits, %u Hz, window %u samples",
      beenet_model_name (self->model),
      beenet_model_num_classes (self->model),
      beenet_model_num_exits (self->model), self->model_rate,
      self->window_samples);
}

/* A failed live load: the running model stays, and so does the "model"
 * property's value (unless it was set again meanwhile). */
static void
warn_load_failed (GstBeenet * self, const gchar * path,
    GstBeenetLoadResult res, const BeenetError * err)
{
  gchar *running;

  g_mutex_lock (&self->model_lock);
  running = g_strdup (self->model_loaded_path);
  g_mutex_unlock (&self->model_lock);
  GST_OBJECT_LOCK (self);
  if (g_strcmp0 (self->model_path, path) == 0) {
    g_free (self->model_path);
    self->model_path = g_steal_pointer (&running);
  }
  GST_OBJECT_UNLOCK (self);
  g_free (running);

  if (res == GST_BEENET_LOAD_NO_DEFAULT) {
    GST_ELEMENT_WARNING (self, RESOURCE, NOT_FOUND,
        (_("No default model is built in; the previous model keeps "
                "running.")), ("model set to NULL while running"));
  } else {
    GST_ELEMENT_WARNING (self, RESOURCE, READ,
        (_("Could not load model \"%s\"; the previous model keeps running."),
            path ? path : "(built-in)"), ("%s: %s",
            beenet_status_name (err->code), err->message));
  }
}

void
gst_beenet_model_load_pending (GstBeenet * self, const gchar * path)
{
  BeenetModel *model = NULL;
  BeenetError err;
  GstBeenetModelState *st = NULL, *old;
  GstBeenetLoadResult res;
  gboolean nomem;

  res = gst_beenet_model_load (self, path, &model, &err);
  if (res == GST_BEENET_LOAD_OK) {
    st = gst_beenet_model_state_new (model, path, &err, &nomem);
    beenet_model_unref (model);
    if (st == NULL)
      res = GST_BEENET_LOAD_FAILED;
  }
  if (st == NULL) {
    warn_load_failed (self, path, res, &err);
    return;
  }
  GST_DEBUG_OBJECT (self, "model %s loaded, swapped in at the next window "
      "boundary", path ? path : "(built-in)");
  GST_OBJECT_LOCK (self);
  old = self->pending;
  self->pending = st;
  GST_OBJECT_UNLOCK (self);
  /* a model set twice before a window boundary: the older one never ran */
  gst_beenet_model_state_free (old);
}

gboolean
gst_beenet_model_swap (GstBeenet * self, gboolean * same_rate)
{
  GObjectClass *klass = G_OBJECT_GET_CLASS (self);
  GstBeenetModelState *st;
  guint old_rate = self->model_rate;

  GST_OBJECT_LOCK (self);
  st = g_steal_pointer (&self->pending);
  GST_OBJECT_UNLOCK (self);
  if (st == NULL)
    return FALSE;

  gst_beenet_model_install (self, st);
  *same_rate = self->model_rate == old_rate;
  self->announce_model = TRUE;
  g_object_notify_by_pspec (G_OBJECT (self),
      g_object_class_find_property (klass, "labels"));
  g_object_notify_by_pspec (G_OBJECT (self),
      g_object_class_find_property (klass, "num-exits"));
  g_object_notify_by_pspec (G_OBJECT (self),
      g_object_class_find_property (klass, "task"));
  g_object_notify_by_pspec (G_OBJECT (self),
      g_object_class_find_property (klass, "architecture"));
  return TRUE;
}

GstMessage *
gst_beenet_model_message (GstBeenet * self, const GstBeenetWindowTimes * t)
{
  GValue array = G_VALUE_INIT, v = G_VALUE_INIT;
  GValueArray *labels;
  GstStructure *s;
  gsize i, n;

  g_mutex_lock (&self->model_lock);
  n = beenet_model_num_classes (self->model);
  s = gst_structure_new ("beenet-model",
      "model", G_TYPE_STRING, self->model_loaded_path,
      "num-exits", G_TYPE_UINT, (guint) beenet_model_num_exits (self->model),
      "task", G_TYPE_STRING, beenet_model_task (self->model),
      "architecture", G_TYPE_STRING,
      beenet_model_architecture (self->model),
      "timestamp", G_TYPE_UINT64, t->timestamp,
      "stream-time", G_TYPE_UINT64, t->stream_time,
      "running-time", G_TYPE_UINT64, t->running_time, NULL);
  /* a GValueArray, like the "beenet" message's probabilities */
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS;
  labels = g_value_array_new ((guint) n);
  g_value_init (&v, G_TYPE_STRING);
  for (i = 0; i < n; i++) {
    g_value_set_string (&v, beenet_model_label (self->model, i));
    g_value_array_append (labels, &v);
  }
  g_value_unset (&v);
  g_value_init (&array, g_value_array_get_type ());
  g_value_take_boxed (&array, labels);
  gst_structure_take_value (s, "labels", &array);
  G_GNUC_END_IGNORE_DEPRECATIONS;
  g_mutex_unlock (&self->model_lock);

  return gst_message_new_element (GST_OBJECT (self), s);
}
