/* Tests of the beenet element's compute control: the budget property, the
 * energy gate and QoS degradation (GstHarness, no system plugins, no
 * timing assertions: QoS events are pushed as a late sink sends them).
 *
 * Copyright (C) 2026 gst-beenet authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Model: test_models_constant_exits() with 3 exits and 2 classes (as in
 * test-beenet.c): exit 1 has entropy 0.582 nats, exit 2 0.0005 nats, so
 * an entropy threshold above 0.582 stops at exit 1, between 0.0005 and
 * 0.582 at exit 2.
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <gst/gst.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#if HAVE_GST_APP
#include <gst/app/gstappsrc.h>
#include <gst/app/gstappsink.h>
#endif

#include "beenet.h"
#include "gstbeenet.h"
#include "harness.h"
#include "test-models.h"

#define RATE 16000
#define NS_PER_SAMPLE (GST_SECOND / RATE)

/* interval 10 ms: 100 windows per second of audio; F32 mono at 16 kHz */
static void
setup (Fixture * f)
{
  gchar *model = fixture_constant_model ();

  fixture_setup (f, model, 10 * GST_MSECOND, "threshold", 0.5,
      "post-detections", FALSE, NULL);
  f->model = model;
  fixture_set_format (f, GST_AUDIO_FORMAT_F32, RATE, 1, FALSE);
}

/* Pushes n samples of a 1 kHz sine of peak `dbfs` (-inf: zeros). */
static void
push_tone (Fixture * f, gsize n, gdouble dbfs)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, n * sizeof (gfloat), NULL);
  GstMapInfo map;
  gdouble a = isinf (dbfs) ? 0.0 : pow (10.0, dbfs / 20.0);
  gsize i;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (i = 0; i < n; i++)
    ((gfloat *) map.data)[i] = (gfloat) (a * sin (2 * G_PI * 1000.0 * i /
            RATE));
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = f->pos * NS_PER_SAMPLE;
  GST_BUFFER_DURATION (buf) = n * NS_PER_SAMPLE;
  f->pos += n;
  fixture_push (f, buf);
}

/* The last "beenet" message of the bus, with all before it dropped. */
static GstMessage *
last_beenet (GstBus * bus)
{
  GstMessage *m, *last = NULL;

  while ((m = fixture_pop_named (bus, "beenet")) != NULL) {
    if (last)
      gst_message_unref (last);
    last = m;
  }
  fail_unless (last != NULL, "no beenet message");
  return last;
}

GST_START_TEST (test_properties)
{
  GstElement *e = gst_element_factory_make ("beenet", NULL);
  gdouble budget, gate;
  GParamSpec *ps;

  g_object_get (e, "budget", &budget, "energy-gate", &gate, NULL);
  fail_unless_equals_float (budget, 1.0);
  fail_unless_equals_float (gate, -200.0);
  g_object_set (e, "budget", 0.4, "energy-gate", -45.0, NULL);
  g_object_get (e, "budget", &budget, "energy-gate", &gate, NULL);
  fail_unless_equals_float (budget, 0.4);
  fail_unless_equals_float (gate, -45.0);
  ps = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "budget");
  fail_unless (ps->flags & GST_PARAM_MUTABLE_PLAYING);
  fail_unless (ps->flags & GST_PARAM_CONTROLLABLE);
  ps = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "energy-gate");
  fail_unless (ps->flags & GST_PARAM_MUTABLE_PLAYING);
  gst_object_unref (e);
}

GST_END_TEST;

/* Cost of each exit from messages with the budget off. */
static gdouble
exit_cost (Fixture * f, gdouble threshold)
{
  GstMessage *m;
  gdouble cost;

  g_object_set (f->element, "threshold", threshold, NULL);
  push_tone (f, 160, -20.0);
  m = last_beenet (f->bus);
  cost = get_double (gst_message_get_structure (m), "ops-fraction");
  gst_message_unref (m);
  return cost;
}

/* budget between the costs of exits 1 and 2: the average cost follows it
 * within +-5 % after settling, and the messages show the controller. */
GST_START_TEST (test_budget_follows)
{
  Fixture f;
  GstMessage *m;
  gdouble c1, c2, budget, sum = 0.0;
  guint n = 0, exits_seen = 0;

  setup (&f);
  push_tone (&f, RATE, -20.0);  /* the first window */
  gst_message_unref (last_beenet (f.bus));
  c1 = exit_cost (&f, 0.7);
  c2 = exit_cost (&f, 0.5);
  fail_unless (c1 < c2);
  budget = (c1 + 3 * c2) / 4;   /* 3 windows of 4 at exit 2 */
  g_object_set (f.element, "budget", budget, "threshold", 0.5, NULL);

  push_tone (&f, 100 * 160, -20.0);     /* 100 windows to settle */
  gst_message_unref (last_beenet (f.bus));
  push_tone (&f, 400 * 160, -20.0);
  while ((m = fixture_pop_named (f.bus, "beenet")) != NULL) {
    const GstStructure *s = gst_message_get_structure (m);
    fail_unless_equals_float (get_double (s, "budget"), budget);
    fail_if (get_bool (s, "degraded"));
    fail_if (get_bool (s, "gated"));
    sum += get_double (s, "ops-fraction");
    exits_seen |= 1u << get_uint (s, "exit");
    n++;
    if (n == 400) {
      gdouble avg = get_double (s, "average-cost");
      fail_unless (fabs (avg - budget) <= 0.05 * budget,
          "average-cost %.4f, budget %.4f", avg, budget);
    }
    gst_message_unref (m);
  }
  fail_unless_equals_int (n, 400);
  fail_unless (fabs (sum / n - budget) <= 0.05 * budget,
      "mean cost %.4f, budget %.4f", sum / n, budget);
  fail_unless_equals_int (exits_seen, (1 << 1) | (1 << 2));

  /* off again: the threshold property is in force */
  g_object_set (f.element, "budget", 1.0, NULL);
  push_tone (&f, 160, -20.0);
  m = last_beenet (f.bus);
  fail_unless_equals_float (get_double (gst_message_get_structure (m),
          "threshold"), 0.5);
  fail_unless_equals_int (get_uint (gst_message_get_structure (m), "exit"),
      2);
  gst_message_unref (m);
  fixture_teardown (&f);
}

GST_END_TEST;

/* policy=patience: the controller caps max-exit (dithered), the message
 * shows the cap in force, the average follows the budget. */
GST_START_TEST (test_budget_patience)
{
  Fixture f;
  GstMessage *m;
  gdouble c1, c3, budget, sum = 0.0;
  guint n = 0, caps_seen = 0;

  setup (&f);
  push_tone (&f, RATE, -20.0);
  gst_message_unref (last_beenet (f.bus));
  c1 = exit_cost (&f, 0.7);
  g_object_set (f.element, "policy", BEENET_POLICY_PATIENCE, NULL);
  /* argmax 1, 0, 1: patience 2 never agrees, so the last exit */
  c3 = exit_cost (&f, 0.5);
  budget = (c1 + c3) / 2;
  g_object_set (f.element, "budget", budget, NULL);
  push_tone (&f, 100 * 160, -20.0);
  gst_message_unref (last_beenet (f.bus));
  push_tone (&f, 400 * 160, -20.0);
  while ((m = fixture_pop_named (f.bus, "beenet")) != NULL) {
    const GstStructure *s = gst_message_get_structure (m);
    guint cap = get_uint (s, "max-exit");
    fail_unless (cap >= 1 && cap <= 3);
    fail_unless_equals_int (get_uint (s, "exit"), cap);
    caps_seen |= 1u << cap;
    sum += get_double (s, "ops-fraction");
    n++;
    gst_message_unref (m);
  }
  fail_unless_equals_int (n, 400);
  fail_unless (fabs (sum / n - budget) <= 0.05 * budget,
      "mean cost %.4f, budget %.4f", sum / n, budget);
  fail_unless (caps_seen & ~(1u << 3), "max-exit was never lowered");
  fixture_teardown (&f);
}

GST_END_TEST;

GST_START_TEST (test_energy_gate)
{
  Fixture f;
  GstMessage *m;
  const GstStructure *s;

  setup (&f);
  g_object_set (f.element, "energy-gate", -60.0, NULL);
  push_tone (&f, RATE, -INFINITY);      /* digital silence */
  m = last_beenet (f.bus);
  s = gst_message_get_structure (m);
  fail_unless (get_bool (s, "gated"));
  fail_unless_equals_int (get_uint (s, "exit"), 0);
  fail_unless_equals_float (get_double (s, "ops-fraction"), 0.0);
  fail_unless_equals_string (gst_structure_get_string (s, "label"),
      "class0");                /* no _silence_ label: class 0 */
  fail_unless_equals_float (get_double (s, "confidence"), 1.0);
  fail_unless_equals_float (get_double (s, "level"), -200.0);
  gst_message_unref (m);

  /* a tone of -20 dBFS peak (-23 dB rms) passes a -60 dB gate... */
  push_tone (&f, RATE, -20.0);
  m = last_beenet (f.bus);
  s = gst_message_get_structure (m);
  fail_if (get_bool (s, "gated"));
  fail_unless_equals_int (get_uint (s, "exit"), 2);
  fail_unless (fabs (get_double (s, "level") + 23.01) < 0.05);
  gst_message_unref (m);
  /* ...not a -10 dB one (changed while playing) */
  g_object_set (f.element, "energy-gate", -10.0, NULL);
  push_tone (&f, 160, -20.0);
  m = last_beenet (f.bus);
  fail_unless (get_bool (gst_message_get_structure (m), "gated"));
  gst_message_unref (m);
  /* off: even digital silence runs */
  g_object_set (f.element, "energy-gate", -200.0, NULL);
  push_tone (&f, RATE, -INFINITY);
  m = last_beenet (f.bus);
  fail_if (get_bool (gst_message_get_structure (m), "gated"));
  gst_message_unref (m);
  fixture_teardown (&f);
}

GST_END_TEST;

static void
push_qos (Fixture * f, GstClockTimeDiff diff)
{
  fail_unless (gst_harness_push_upstream_event (f->h,
          gst_event_new_qos (GST_QOS_TYPE_UNDERFLOW, diff > 0 ? 1.5 : 1.0,
              diff, f->pos * NS_PER_SAMPLE)));
}

/* A sink reporting late buffers degrades the element to the first exit
 * (degraded=TRUE, max-exit 1); on-time reports bring it back. */
GST_START_TEST (test_qos_degrades_and_recovers)
{
  Fixture f;
  GstMessage *m;
  const GstStructure *s;
  guint i;

  setup (&f);
  push_tone (&f, RATE, -20.0);
  m = last_beenet (f.bus);
  s = gst_message_get_structure (m);
  fail_if (get_bool (s, "degraded"));
  fail_unless_equals_int (get_uint (s, "exit"), 2);
  gst_message_unref (m);

  push_qos (&f, 200 * GST_MSECOND);     /* 200 ms late */
  push_tone (&f, 160, -20.0);
  m = last_beenet (f.bus);
  s = gst_message_get_structure (m);
  fail_unless (get_bool (s, "degraded"));
  fail_unless_equals_int (get_uint (s, "exit"), 1);
  fail_unless_equals_int (get_uint (s, "max-exit"), 1);
  gst_message_unref (m);

  /* still degraded until enough on-time reports */
  for (i = 0; i + 1 < GST_BEENET_QOS_RECOVER; i++)
    push_qos (&f, -GST_MSECOND);
  push_tone (&f, 160, -20.0);
  m = last_beenet (f.bus);
  fail_unless (get_bool (gst_message_get_structure (m), "degraded"));
  gst_message_unref (m);
  push_qos (&f, -GST_MSECOND);
  push_tone (&f, 160, -20.0);
  m = last_beenet (f.bus);
  s = gst_message_get_structure (m);
  fail_if (get_bool (s, "degraded"));
  fail_unless_equals_int (get_uint (s, "exit"), 2);
  fail_unless_equals_int (get_uint (s, "max-exit"), 0);
  gst_message_unref (m);
  fixture_teardown (&f);
}

GST_END_TEST;

#if HAVE_GST_APP
/* A real pipeline with a deliberately slow sink: appsrc (fed in real time
 * by a thread, 10 ms buffers) ! beenet interval=100ms ! appsink (sync,
 * qos) whose render callback sleeps 25 ms per buffer while `slow` is set.
 * The sink falls behind the clock and reports it in QoS events; once the
 * element says degraded=TRUE the sleep stops, the sink catches up and the
 * element must come back (degraded=FALSE).  Only the order of events is
 * checked; the only limit is the length of the stream (60 s), a generous
 * bound, not a measurement. */
typedef struct
{
  GstElement *pipeline, *src, *sink;
  gint slow;                    /* atomic */
  gint stop;                    /* atomic */
  gint phase;                   /* 0 running, 1 degraded seen, 2 recovered */
  guint windows_degraded;
  GMainLoop *loop;
} SlowSink;

static GstFlowReturn
slow_new_sample (GstAppSink * sink, gpointer user_data)
{
  SlowSink *t = user_data;
  GstSample *sample = gst_app_sink_pull_sample (sink);

  if (g_atomic_int_get (&t->slow))
    g_usleep (25000);
  gst_sample_unref (sample);
  return GST_FLOW_OK;
}

static gpointer
feed_real_time (gpointer user_data)
{
  SlowSink *t = user_data;
  const gsize n = 160;          /* 10 ms */
  gint64 t0 = g_get_monotonic_time ();
  guint64 i;

  for (i = 0; !g_atomic_int_get (&t->stop) && i < 6000; i++) {
    GstBuffer *buf = gst_buffer_new_allocate (NULL, n * sizeof (gfloat), NULL);
    GstMapInfo map;
    gsize k;

    gst_buffer_map (buf, &map, GST_MAP_WRITE);
    for (k = 0; k < n; k++)
      ((gfloat *) map.data)[k] = 0.1f * (gfloat) sin (2 * G_PI * 440.0 *
          (i * n + k) / RATE);
    gst_buffer_unmap (buf, &map);
    GST_BUFFER_PTS (buf) = i * 10 * GST_MSECOND;
    GST_BUFFER_DURATION (buf) = 10 * GST_MSECOND;
    if (gst_app_src_push_buffer (GST_APP_SRC (t->src), buf) != GST_FLOW_OK)
      break;
    /* real time: buffer i+1 is due 10 ms after buffer i */
    gint64 due = t0 + (gint64) (i + 1) * 10000;
    gint64 now = g_get_monotonic_time ();
    if (due > now)
      g_usleep ((gulong) (due - now));
  }
  gst_app_src_end_of_stream (GST_APP_SRC (t->src));
  return NULL;
}

static gboolean
slow_bus (GstBus * bus, GstMessage * m, gpointer user_data)
{
  SlowSink *t = user_data;
  const GstStructure *s = gst_message_get_structure (m);
  gboolean degraded;

  (void) bus;
  switch (GST_MESSAGE_TYPE (m)) {
    case GST_MESSAGE_ELEMENT:
      if (!gst_message_has_name (m, "beenet"))
        break;
      degraded = get_bool (s, "degraded");
      if (degraded) {
        t->windows_degraded++;
        fail_unless_equals_int (get_uint (s, "exit"), 1);
        fail_unless_equals_int (get_uint (s, "max-exit"), 1);
      }
      if (t->phase == 0 && degraded) {
        t->phase = 1;
        g_atomic_int_set (&t->slow, 0);
      } else if (t->phase == 1 && !degraded) {
        t->phase = 2;
        g_main_loop_quit (t->loop);
      }
      break;
    case GST_MESSAGE_ERROR:
    case GST_MESSAGE_EOS:
      g_main_loop_quit (t->loop);
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

GST_START_TEST (test_qos_slow_sink_pipeline)
{
  SlowSink t = { 0 };
  GstAppSinkCallbacks cb;
  GstElement *beenet;
  GstCaps *caps;
  GstBus *bus;
  GThread *feeder;
  gchar *model = fixture_constant_model ();

  memset (&cb, 0, sizeof cb);
  cb.new_sample = slow_new_sample;
  t.pipeline = gst_pipeline_new (NULL);
  t.src = g_object_new (GST_TYPE_APP_SRC, NULL);
  t.sink = g_object_new (GST_TYPE_APP_SINK, NULL);
  beenet = gst_element_factory_make ("beenet", NULL);
  fail_unless (t.src && t.sink && beenet);
  caps = gst_caps_from_string ("audio/x-raw, format=F32LE, rate=16000, "
      "channels=1, layout=interleaved");
  /* A live source's latency, with room for the test process not being
   * scheduled for a while on a busy machine: with 20 ms, buffers delayed
   * by the scheduler alone kept the element degraded after the sink was
   * fast again (3 runs in 20 while a training job held both cores; 0 in
   * 24 with 300 ms).  The slow sink still falls behind without bound
   * (25 ms a 10 ms buffer), so it degrades the element after about 20
   * buffers whatever the latency. */
  g_object_set (t.src, "caps", caps, "is-live", TRUE, "format",
      GST_FORMAT_TIME, "min-latency", (gint64) (300 * GST_MSECOND), NULL);
  gst_caps_unref (caps);
  g_object_set (beenet, "model", model, "interval", 100 * GST_MSECOND,
      "threshold", 0.5, "post-detections", FALSE, NULL);
  g_object_set (t.sink, "sync", TRUE, "qos", TRUE, NULL);
  gst_app_sink_set_callbacks (GST_APP_SINK (t.sink), &cb, &t, NULL);
  gst_bin_add_many (GST_BIN (t.pipeline), t.src, beenet, t.sink, NULL);
  fail_unless (gst_element_link_many (t.src, beenet, t.sink, NULL));

  t.slow = 1;
  t.loop = g_main_loop_new (NULL, FALSE);
  bus = gst_element_get_bus (t.pipeline);
  gst_bus_add_watch (bus, slow_bus, &t);
  fail_unless (gst_element_set_state (t.pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  feeder = g_thread_new ("feeder", feed_real_time, &t);
  g_main_loop_run (t.loop);
  g_atomic_int_set (&t.stop, 1);
  g_thread_join (feeder);
  gst_element_set_state (t.pipeline, GST_STATE_NULL);

  fail_unless (t.phase >= 1, "the slow sink never degraded the element");
  fail_unless (t.windows_degraded >= 1);
  fail_unless_equals_int (t.phase, 2);  /* and it recovered */

  gst_bus_remove_watch (bus);
  gst_object_unref (bus);
  gst_object_unref (t.pipeline);
  g_main_loop_unref (t.loop);
  fixture_remove_model (model);
}

GST_END_TEST;
#endif

static Suite *
beenet_compute_suite (void)
{
  Suite *s = suite_create ("beenet-compute");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_properties);
  tcase_add_test (tc, test_budget_follows);
  tcase_add_test (tc, test_budget_patience);
  tcase_add_test (tc, test_energy_gate);
  tcase_add_test (tc, test_qos_degrades_and_recovers);
#if HAVE_GST_APP
  tcase_add_test (tc, test_qos_slow_sink_pipeline);
#endif
  return s;
}

GST_CHECK_MAIN (beenet_compute);
