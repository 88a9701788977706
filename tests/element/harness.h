/* Shared set-up of the element tests: a beenet element in a GstHarness
 * with a bus of its own, temporary model files, pushing buffers, popping
 * bus messages and reading their fields.  Every helper fails the running
 * check test on error, so tests read as what they assert.
 *
 * Copyright (C) 2026 gst-beenet authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef BEENET_TEST_HARNESS_H
#define BEENET_TEST_HARNESS_H

#include <gst/gst.h>
#include <gst/audio/audio.h>
#include <gst/check/gstharness.h>

#include "gguf-writer.h"

G_BEGIN_DECLS

typedef struct
{
  GstHarness *h;
  GstBus *bus;                  /* the element's own bus, never flushed */
  GstElement *element;
  GstAudioInfo info;            /* what fixture_set_format() negotiated */
  guint64 pos;                  /* frames pushed, for tests that count */
  gchar *model;                 /* removed by fixture_teardown() if set */
} Fixture;

/* Temporary model files (fail the test on error); remove with
 * fixture_remove_model(). */
gchar *fixture_write_model_bytes (const guint8 * bytes, gsize size);
gchar *fixture_write_model (GgufWriter * w);    /* serializes and frees w */
/* test_models_constant_exits() with 3 exits and 2 classes, logits
 * {0, 1}, {10, 0}, {0, 3} (see test-beenet.c for what each exit gives). */
gchar *fixture_constant_model (void);
void fixture_remove_model (gchar * path);

/* A fresh "beenet" element with `model`, `interval` and the NULL-ended
 * property list, on its own bus, in a harness (caps not set yet). */
void fixture_setup (Fixture * f, const gchar * model, guint64 interval,
    ...) G_GNUC_NULL_TERMINATED;
/* Sets the harness's source caps (channels > 2 are unpositioned). */
void fixture_set_format (Fixture * f, GstAudioFormat format, gint rate,
    guint channels, gboolean planar);
void fixture_segment (Fixture * f, GstClockTime start, GstClockTime time,
    GstClockTime base);
void fixture_teardown (Fixture * f);

/* Pushes buf (must give GST_FLOW_OK) and drops what comes out. */
void fixture_push (Fixture * f, GstBuffer * buf);
/* Pushes buf and checks the buffer coming out has its PTS and its bytes. */
void fixture_push_exact (Fixture * f, GstBuffer * buf);

/* The next element message, or one of a type in `also` (ERROR, WARNING);
 * any other error or warning fails with its text.  NULL when none. */
GstMessage *fixture_pop (GstBus * bus, GstMessageType also);
/* The next element message called `name`, skipping other element
 * messages; errors and warnings fail.  NULL when none. */
GstMessage *fixture_pop_named (GstBus * bus, const gchar * name);

/* Message fields; a missing field fails the test. */
guint64 get_u64 (const GstStructure * s, const gchar * field);
guint get_uint (const GstStructure * s, const gchar * field);
gdouble get_double (const GstStructure * s, const gchar * field);
gboolean get_bool (const GstStructure * s, const gchar * field);

G_END_DECLS

#endif /* BEENET_TEST_HARNESS_H */
