/* gst-beenet
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */
/* Model loading and live model swap of the beenet element (issue 11).
 *
 * A GstBeenetModelState holds everything one model needs to classify a
 * stream (model, session, detector, streaming front-end).  It is built in
 * the thread that loads the model: at start() for the first model, and in
 * the thread that sets the "model" property while the element runs, never
 * in the streaming thread.  A state built while running waits in
 * self->pending (object lock) until the streaming thread installs it at the
 * next window boundary (gst_beenet_model_swap). */
#ifndef __GST_BEENET_MODEL_H__
#define __GST_BEENET_MODEL_H__

#include "gstbeenet.h"

G_BEGIN_DECLS

typedef enum
{
  GST_BEENET_LOAD_OK,
  GST_BEENET_LOAD_NO_DEFAULT,   /* path NULL and no built-in model */
  GST_BEENET_LOAD_FAILED        /* err says why */
} GstBeenetLoadResult;

struct _GstBeenetModelState
{
  gchar *path;                  /* NULL = the built-in default model */
  BeenetModel *model;
  BeenetSession *session;
  BeenetDetector *detector;
  BeenetDetectorParams detection;       /* the model's detection defaults */
  BeenetStream *stream;
  BeenetFrontendConfig config;
};

/* Loads the file at path, or the built-in model when path is NULL. */
GstBeenetLoadResult gst_beenet_model_load (GstBeenet * self,
    const gchar * path, BeenetModel ** out, BeenetError * err);
/* NULL on failure, with err set; *nomem tells an allocation failure. */
GstBeenetModelState *gst_beenet_model_state_new (BeenetModel * model,
    const gchar * path, BeenetError * err, gboolean * nomem);
void gst_beenet_model_state_free (GstBeenetModelState * st);
/* Streaming thread: makes st the running model (takes it). */
void gst_beenet_model_install (GstBeenet * self, GstBeenetModelState * st);

/* Caller's thread (set_property while started): loads path and queues it
 * for the streaming thread; on failure posts a warning and keeps the
 * running model (and the "model" property reads its path again). */
void gst_beenet_model_load_pending (GstBeenet * self, const gchar * path);
/* Streaming thread, at a window boundary: installs the pending model, if
 * any, and notifies "labels" and "num-exits".  Returns TRUE when a model
 * was installed; *same_rate tells whether it has the old model's sample
 * rate (the stream then goes on seamlessly). */
gboolean gst_beenet_model_swap (GstBeenet * self, gboolean * same_rate);
/* The "beenet-model" message announcing the model of the window at t. */
GstMessage *gst_beenet_model_message (GstBeenet * self,
    const GstBeenetWindowTimes * t);

G_END_DECLS

#endif /* __GST_BEENET_MODEL_H__ */
