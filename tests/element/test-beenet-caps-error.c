/* The refused-caps error path of the beenet element, run many times in a
 * real pipeline with a streaming thread (issue 12, "the hang"; see
 * docs/reliability.md).
 *
 * Copyright (C) 2026 gst-beenet authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The source below behaves like wavparse: from its streaming thread it
 * pushes caps without asking downstream first, so beenet's sink pad sees
 * caps it refuses; then the source's push fails with not-negotiated, it
 * posts its own error and sends EOS.  Every run must end with beenet's
 * CORE/NEGOTIATION error on the bus and the pipeline must reach NULL.
 * No system plugin is needed: the source and the sink are defined here.
 * The only time limit is a generous watchdog on the bus pop.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <gst/gst.h>
#include <gst/base/gstbasesink.h>
#include <gst/base/gstbasesrc.h>
#include <gst/check/gstcheck.h>

#include "harness.h"
#include "test-models.h"

#define ITERATIONS 150
#define WATCHDOG (60 * GST_SECOND)

/* Caps the element refuses now and after it accepts any rate: a sample
 * format it cannot read, a padded 24-bit format, and video. */
static const gchar *const refused_caps[] = {
  "audio/x-raw, format=U8, rate=16000, channels=1, layout=interleaved",
  "audio/x-raw, format=S24_32LE, rate=16000, channels=2, "
      "layout=interleaved",
  "video/x-raw, format=I420, width=16, height=16, framerate=30/1",
};

/* ------------------------------------------------------------------------ */
/* A source that pushes fixed caps (like a demuxer) and a sink taking ANY   */

typedef struct
{
  GstBaseSrc parent;
  GstCaps *caps;
} TestCapsSrc;

typedef GstBaseSrcClass TestCapsSrcClass;

G_DEFINE_TYPE (TestCapsSrc, test_caps_src, GST_TYPE_BASE_SRC);

static GstStaticPadTemplate any_src = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate any_sink = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static gboolean
test_caps_src_negotiate (GstBaseSrc * src)
{
  /* no caps query: push the stream's caps as they are */
  return gst_base_src_set_caps (src, ((TestCapsSrc *) src)->caps);
}

static GstFlowReturn
test_caps_src_fill (GstBaseSrc * src, guint64 offset, guint size,
    GstBuffer * buf)
{
  (void) src;
  (void) offset;
  (void) size;
  gst_buffer_memset (buf, 0, 0, gst_buffer_get_size (buf));
  return GST_FLOW_OK;
}

static void
test_caps_src_finalize (GObject * object)
{
  gst_caps_replace (&((TestCapsSrc *) object)->caps, NULL);
  G_OBJECT_CLASS (test_caps_src_parent_class)->finalize (object);
}

static void
test_caps_src_class_init (TestCapsSrcClass * klass)
{
  GstElementClass *eclass = GST_ELEMENT_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = test_caps_src_finalize;
  gst_element_class_add_static_pad_template (eclass, &any_src);
  gst_element_class_set_metadata (eclass, "caps source", "Source",
      "pushes fixed caps", "gst-beenet tests");
  klass->negotiate = test_caps_src_negotiate;
  klass->fill = test_caps_src_fill;
}

static void
test_caps_src_init (TestCapsSrc * self)
{
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
  gst_base_src_set_blocksize (GST_BASE_SRC (self), 1024);
}

typedef GstBaseSink TestAnySink;
typedef GstBaseSinkClass TestAnySinkClass;

G_DEFINE_TYPE (TestAnySink, test_any_sink, GST_TYPE_BASE_SINK);

static void
test_any_sink_class_init (TestAnySinkClass * klass)
{
  GstElementClass *eclass = GST_ELEMENT_CLASS (klass);

  gst_element_class_add_static_pad_template (eclass, &any_sink);
  gst_element_class_set_metadata (eclass, "any sink", "Sink",
      "takes anything", "gst-beenet tests");
}

static void
test_any_sink_init (TestAnySink * self)
{
  gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
}

/* ------------------------------------------------------------------------ */

static GstElement *
make_pipeline (const gchar * caps, const gchar * model)
{
  GstElement *pipeline = gst_pipeline_new (NULL);
  GstElement *src = g_object_new (test_caps_src_get_type (), "num-buffers",
      50, NULL);
  GstElement *beenet = gst_element_factory_make ("beenet", NULL);
  GstElement *sink = g_object_new (test_any_sink_get_type (), NULL);

  fail_unless (beenet != NULL);
  ((TestCapsSrc *) src)->caps = gst_caps_from_string (caps);
  g_object_set (beenet, "model", model, NULL);
  gst_bin_add_many (GST_BIN (pipeline), src, beenet, sink, NULL);
  fail_unless (gst_element_link_many (src, beenet, sink, NULL));
  return pipeline;
}

/* One run: PLAYING, wait for the first error (or EOS, a failure), NULL. */
static void
run_once (const gchar * caps, const gchar * model, guint iteration)
{
  GstElement *pipeline = make_pipeline (caps, model);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *m;
  GError *err = NULL;
  GstState state;

  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  m = gst_bus_timed_pop_filtered (bus, WATCHDOG,
      GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  fail_unless (m != NULL, "run %u (%s): no error within the watchdog",
      iteration, caps);
  fail_unless_equals_int (GST_MESSAGE_TYPE (m), GST_MESSAGE_ERROR);
  gst_message_parse_error (m, &err, NULL);
  /* beenet says why before the source reports not-negotiated */
  fail_unless (g_str_has_prefix (GST_MESSAGE_SRC_NAME (m), "beenet"),
      "run %u: first error from %s: %s", iteration,
      GST_MESSAGE_SRC_NAME (m), err->message);
  fail_unless (g_error_matches (err, GST_CORE_ERROR,
          GST_CORE_ERROR_NEGOTIATION), "%s", err->message);
  g_clear_error (&err);
  gst_message_unref (m);

  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (gst_element_get_state (pipeline, &state, NULL, 0),
      GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (state, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
}

GST_START_TEST (test_refused_caps_many_runs)
{
  gchar *model = fixture_constant_model ();
  guint i;

  for (i = 0; i < ITERATIONS; i++)
    run_once (refused_caps[i % G_N_ELEMENTS (refused_caps)], model, i);
  fixture_remove_model (model);
}

GST_END_TEST;

static Suite *
beenet_caps_error_suite (void)
{
  Suite *s = suite_create ("beenet-caps-error");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_refused_caps_many_runs);
  return s;
}

GST_CHECK_MAIN (beenet_caps_error);
