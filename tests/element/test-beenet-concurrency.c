/* Property changes from other threads while audio flows (issue 12,
 * "Concurrency").  Writer threads set every property that is mutable in
 * PLAYING (threshold, policy, interval, post-messages, patience, max-exit,
 * budget, energy-gate, the detection properties and model) to random valid
 * values as fast as they can, a reader thread reads every property
 * (labels and num-exits included), while the test thread pushes audio
 * through the element in a GstHarness.  Checked: every buffer comes out
 * bit-exact, every window message is well-formed and classified by the
 * last announced model, windows keep time order; and once the writers stop
 * and the stream is flushed, the element classifies exactly the windows
 * its final settings ask for.
 *
 * The ThreadSanitizer build of this test (tools/tsan-test.sh, in CI) is
 * what makes it a race test: docs/reliability.md, "Concurrency".
 *
 * Models: A = 3 exits, 2 classes at 16 kHz; B = 2 exits, 3 classes at
 * 16 kHz; C = A declared at 22050 Hz (a swap to it restarts the stream);
 * and a missing file (a warning, the running model stays).
 *
 * Copyright (C) 2026 gst-beenet authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <string.h>

#include <gst/gst.h>
#include <gst/audio/audio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "beenet.h"
#include "harness.h"
#include "test-models.h"

#define RATE 16000
#define BUF (RATE / 10)         /* 100 ms buffers */
#define STORM_SECONDS 20        /* of audio pushed while the writers run */
#define WRITERS 3
#define MISSING_MODEL "/nonexistent/beenet/model.gguf"

static const float logits_a[] = { 0.f, 1.f, 10.f, 0.f, 0.f, 3.f };
static const float logits_b[] = { 0.f, 1.f, 2.f, 3.f, 0.f, 0.f };

/* The properties the writers change, with the range of random values
 * (numbers only; booleans, enums and the model are drawn from their
 * values).  Intervals stay within 50-500 ms: many windows, but not only
 * windows. */
typedef struct
{
  const gchar *name;
  gdouble lo, hi;
} Mutable;

static const Mutable mutables[] = {
  {"threshold", 0.0, 1.0},
  {"policy", 0, 0},
  {"interval", 50 * GST_MSECOND, 500 * GST_MSECOND},
  {"refine-level", -1.0, 1.0},
  {"post-messages", 0, 0},
  {"patience", 1, 4},
  {"max-exit", 0, 4},
  {"budget", 0.01, 1.0},
  {"energy-gate", -200.0, 0.0},
  {"detection-threshold", -1.0, 1.0},
  {"smoothing", 0, 2 * GST_SECOND},
  {"refractory", 0, 2 * GST_SECOND},
  {"post-detections", 0, 0},
  {"model", 0, 0},
};

/* The model values drawn: mostly swaps between A and B at the same rate
 * (the stream goes on), now and then C (a restart) or the missing file. */
static const guint model_draws[] = { 0, 1, 0, 1, 0, 1, 2, 3 };

typedef struct
{
  GstElement *element;
  gchar *models[4];             /* A, B, C, missing */
  gint stop;                    /* atomic */
} Shared;

typedef struct
{
  Shared *shared;
  GThread *thread;
  guint32 seed;
  guint64 done;                 /* sets or reads, read after join */
  gint ran;                     /* atomic: set after the first one */
} Worker;

/* Waits (at most 30 s) until every worker has done one set or read, so
 * the storm overlaps the buffers pushed next even when the scheduler
 * starts the threads late on a loaded 2-core machine (a CI run once
 * pushed every buffer, in 0.04 s, before the reader's first read). */
static void
wait_started (Worker * workers, guint n)
{
  gint64 end = g_get_monotonic_time () + 30 * G_TIME_SPAN_SECOND;
  guint i;

  for (i = 0; i < n; i++)
    while (!g_atomic_int_get (&workers[i].ran)
        && g_get_monotonic_time () < end)
      g_usleep (1000);
}

static gdouble
uniform (guint32 * state)
{
  return (test_rand_float (state) + 1.0) / 2.0 * 0.999999;
}

/* Sets property m of the element to a random valid value. */
static void
set_random (Shared * sh, const Mutable * m, guint32 * state)
{
  GParamSpec *ps = g_object_class_find_property (G_OBJECT_GET_CLASS
      (sh->element), m->name);
  gdouble u = uniform (state), x = m->lo + u * (m->hi - m->lo);
  GValue v = G_VALUE_INIT;

  fail_unless (ps != NULL && (ps->flags & GST_PARAM_MUTABLE_PLAYING),
      "%s is not mutable in PLAYING", m->name);
  g_value_init (&v, ps->value_type);
  if (G_VALUE_HOLDS_DOUBLE (&v))
    g_value_set_double (&v, x);
  else if (G_VALUE_HOLDS_UINT (&v))
    g_value_set_uint (&v, (guint) lrint (x));
  else if (G_VALUE_HOLDS_UINT64 (&v))
    g_value_set_uint64 (&v, (guint64) llrint (x));
  else if (G_VALUE_HOLDS_BOOLEAN (&v))
    g_value_set_boolean (&v, u < 0.5);
  else if (G_VALUE_HOLDS_ENUM (&v)) {
    GEnumClass *k = G_PARAM_SPEC_ENUM (ps)->enum_class;
    g_value_set_enum (&v, k->values[(guint) (u * k->n_values)].value);
  } else {
    fail_unless (G_VALUE_HOLDS_STRING (&v));
    g_value_set_string (&v, sh->models[model_draws[(guint) (u *
                G_N_ELEMENTS (model_draws))]]);
  }
  g_object_set_property (G_OBJECT (sh->element), m->name, &v);
  g_value_unset (&v);
}

static gpointer
writer_thread (gpointer data)
{
  Worker *w = data;

  while (!g_atomic_int_get (&w->shared->stop)) {
    guint i = (guint) (uniform (&w->seed) * G_N_ELEMENTS (mutables));

    set_random (w->shared, &mutables[i], &w->seed);
    w->done++;
    g_atomic_int_set (&w->ran, 1);
  }
  return NULL;
}

/* Reads every readable property; the model's own ones must describe one
 * of the two shapes (A/C: 3 exits 2 labels, B: 2 exits 3 labels). */
static gpointer
reader_thread (gpointer data)
{
  Worker *w = data;
  guint n_props, i;
  GParamSpec **props = g_object_class_list_properties (G_OBJECT_GET_CLASS
      (w->shared->element), &n_props);

  while (!g_atomic_int_get (&w->shared->stop)) {
    gchar **labels = NULL;
    guint exits = 0;

    for (i = 0; i < n_props; i++) {
      GValue v = G_VALUE_INIT;

      if (!(props[i]->flags & G_PARAM_READABLE))
        continue;
      g_value_init (&v, props[i]->value_type);
      g_object_get_property (G_OBJECT (w->shared->element), props[i]->name,
          &v);
      g_value_unset (&v);
    }
    g_object_get (w->shared->element, "labels", &labels, "num-exits", &exits,
        NULL);
    fail_unless (labels != NULL);
    fail_unless (exits == 2 || exits == 3, "num-exits %u", exits);
    fail_unless (g_strv_length (labels) == 2 || g_strv_length (labels) == 3);
    g_strfreev (labels);
    w->done++;
    g_atomic_int_set (&w->ran, 1);
  }
  g_free (props);
  return NULL;
}

/* ------------------------------------------------------------------------ */

/* What the test thread has seen on the bus. */
typedef struct
{
  guint windows, detections, announced, warnings;
  guint cur_exits, cur_classes;
  GstClockTime last_ts;
} Seen;

static void
check_window (Seen * seen, const GstStructure * s)
{
  const GValueArray *probs;
  guint64 ts = get_u64 (s, "timestamp");
  guint exit_no = get_uint (s, "exit"), i;
  gdouble sum = 0.0;

  fail_unless (!GST_CLOCK_TIME_IS_VALID (seen->last_ts) ||
      ts >= seen->last_ts, "window at %" GST_TIME_FORMAT " after %"
      GST_TIME_FORMAT, GST_TIME_ARGS (ts), GST_TIME_ARGS (seen->last_ts));
  seen->last_ts = ts;
  /* classified by the last announced model */
  fail_unless_equals_int (get_uint (s, "num-exits"), seen->cur_exits);
  /* exit 0: the energy gate stopped the window */
  fail_unless (exit_no <= seen->cur_exits, "exit %u", exit_no);
  fail_unless_equals_int (exit_no == 0, get_bool (s, "gated"));
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS;
  probs = g_value_get_boxed (gst_structure_get_value (s, "probabilities"));
  fail_unless_equals_int (probs->n_values, seen->cur_classes);
  for (i = 0; i < probs->n_values; i++)
    sum += g_value_get_double (&probs->values[i]);
  G_GNUC_END_IGNORE_DEPRECATIONS;
  fail_unless (fabs (sum - 1.0) < 1e-4, "probabilities sum to %g", sum);
  fail_unless (get_uint (s, "class") < seen->cur_classes);
  seen->windows++;
}

static void
check_message (Seen * seen, Shared * sh, GstMessage * m)
{
  const GstStructure *s = gst_message_get_structure (m);

  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING) {
    GError *err = NULL;

    /* only the missing model may warn */
    gst_message_parse_warning (m, &err, NULL);
    fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
            GST_RESOURCE_ERROR_READ), "%s", err->message);
    fail_unless (strstr (err->message, MISSING_MODEL) != NULL, "%s",
        err->message);
    g_clear_error (&err);
    seen->warnings++;
  } else if (gst_structure_has_name (s, "beenet")) {
    check_window (seen, s);
  } else if (gst_structure_has_name (s, "beenet-model")) {
    const gchar *path = gst_structure_get_string (s, "model");
    gboolean b = g_strcmp0 (path, sh->models[1]) == 0;

    fail_unless (b || g_strcmp0 (path, sh->models[0]) == 0 ||
        g_strcmp0 (path, sh->models[2]) == 0, "announced %s", path);
    seen->cur_exits = b ? 2 : 3;
    seen->cur_classes = b ? 3 : 2;
    seen->announced++;
  } else {
    fail_unless (gst_structure_has_name (s, "beenet-detection"), "%"
        GST_PTR_FORMAT, s);
    fail_unless_equals_uint64 (get_u64 (s, "timestamp"), seen->last_ts);
    seen->detections++;
  }
}

static void
drain (Fixture * f, Seen * seen, Shared * sh)
{
  GstMessage *m;

  while ((m = fixture_pop (f->bus, GST_MESSAGE_WARNING)) != NULL) {
    check_message (seen, sh, m);
    gst_message_unref (m);
  }
}

/* Pushes n frames of deterministic noise (bit-exact pass-through checked)
 * and checks the messages they produced. */
static void
push_noise (Fixture * f, guint64 n, Seen * seen, Shared * sh)
{
  guint64 end = f->pos + n;
  guint32 state = 17;

  while (f->pos < end) {
    gsize len = (gsize) MIN (BUF, end - f->pos), i;
    GstBuffer *buf = gst_buffer_new_allocate (NULL, len * sizeof (gfloat),
        NULL);
    GstMapInfo map;

    gst_buffer_map (buf, &map, GST_MAP_WRITE);
    for (i = 0; i < len; i++)
      ((gfloat *) map.data)[i] = 0.1f * test_rand_float (&state);
    gst_buffer_unmap (buf, &map);
    GST_BUFFER_PTS (buf) = gst_util_uint64_scale_int (f->pos, GST_SECOND,
        RATE);
    GST_BUFFER_DURATION (buf) = gst_util_uint64_scale_int (len, GST_SECOND,
        RATE);
    fixture_push_exact (f, buf);
    f->pos += len;
    drain (f, seen, sh);
  }
}

/* After the storm: fixed settings, model B, a flush; the next 3 s must
 * give B's announcement and then exactly the five full windows at a
 * 500 ms interval, from the first sample after the flush (refine-level
 * back to the model's, which has none: no refined windows). */
static void
check_settled (Fixture * f, Seen * seen, Shared * sh)
{
  GstClockTime t0 = gst_util_uint64_scale_int (f->pos, GST_SECOND, RATE);
  guint before = seen->windows;

  g_object_set (f->element, "post-messages", TRUE, "interval",
      500 * GST_MSECOND, "threshold", 0.5, "policy", BEENET_POLICY_ENTROPY,
      "patience", 1, "max-exit", 0, "budget", 1.0, "energy-gate", -200.0,
      "post-detections", FALSE, "refine-level", -1.0, "model", sh->models[1],
      NULL);
  drain (f, seen, sh);
  fail_unless (gst_harness_push_event (f->h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (f->h,
          gst_event_new_flush_stop (TRUE)));
  fixture_segment (f, t0, t0, 0);
  seen->last_ts = GST_CLOCK_TIME_NONE;
  seen->announced = 0;
  push_noise (f, 3 * RATE, seen, sh);
  fail_unless_equals_int (seen->announced, 1);
  fail_unless_equals_int (seen->cur_exits, 2);
  fail_unless_equals_int (seen->windows - before, 5);
  /* the last window started at t0 + 2 s */
  fail_unless_equals_uint64 (seen->last_ts, t0 + 2 * GST_SECOND);
}

/* Adds beenet.class_exclusion.factors (0.5 per exit) and an EENet
 * scheduler (one hidden unit, zero weights: every utility is 0.5, every
 * threshold 0.5, so eenet stops at exit 1) to w. */
static GgufWriter *
with_factors (GgufWriter * w, guint n_exits, guint n_classes)
{
  static const float factors[] = { 0.5f, 0.5f, 0.5f, 0.5f };
  static const float zeros[64] = { 0 }, one = 1.0f;

  fail_unless (n_exits <= G_N_ELEMENTS (factors));
  fail_unless (n_exits * (4 + n_classes) <= G_N_ELEMENTS (zeros));
  gguf_writer_add_array_f32 (w, "beenet.class_exclusion.factors", factors,
      n_exits);
  gguf_writer_add_u32 (w, "beenet.eenet.hidden", 1);
  gguf_writer_add_array_f32 (w, "beenet.eenet.w1", zeros,
      n_exits * (4 + n_classes));
  gguf_writer_add_array_f32 (w, "beenet.eenet.b1", zeros, n_exits);
  gguf_writer_add_array_f32 (w, "beenet.eenet.w2", zeros, n_exits);
  gguf_writer_add_array_f32 (w, "beenet.eenet.b2", zeros, n_exits);
  gguf_writer_add_array_f32 (w, "beenet.eenet.budgets", &one, 1);
  gguf_writer_add_array_f32 (w, "beenet.eenet.thresholds", factors, n_exits);
  return w;
}

GST_START_TEST (test_properties_while_flowing)
{
  Worker writers[WRITERS], reader;
  Seen seen = { 0, 0, 0, 0, 3, 2, GST_CLOCK_TIME_NONE };
  Shared sh;
  Fixture f;
  GgufWriter *c;
  guint i;

  memset (&sh, 0, sizeof (sh));
  /* Every model carries class-exclusion factors and an EENet scheduler, so
   * every policy the writers draw is valid for it (without them
   * class-exclusion and eenet are configuration errors, tested in
   * test-beenet.c and test-beenet-eenet.c). */
  sh.models[0] = fixture_write_model (with_factors
      (test_models_constant_exits_writer (3, 2, logits_a), 3, 2));
  sh.models[1] = fixture_write_model (with_factors
      (test_models_constant_exits_writer (2, 3, logits_b), 2, 3));
  c = with_factors (test_models_constant_exits_writer (3, 2, logits_a), 3,
      2);
  gguf_writer_replace_u32 (c, "beenet.frontend.sample_rate", 22050);
  sh.models[2] = fixture_write_model (c);
  sh.models[3] = g_strdup (MISSING_MODEL);
  fixture_setup (&f, sh.models[0], 250 * GST_MSECOND, "threshold", 0.5,
      NULL);
  fixture_set_format (&f, GST_AUDIO_FORMAT_F32, RATE, 1, FALSE);
  sh.element = f.element;

  memset (writers, 0, sizeof (writers));
  memset (&reader, 0, sizeof (reader));
  for (i = 0; i < WRITERS; i++) {
    writers[i].shared = &sh;
    writers[i].seed = 1000 + i;
    writers[i].thread = g_thread_new ("writer", writer_thread, &writers[i]);
  }
  reader.shared = &sh;
  reader.thread = g_thread_new ("reader", reader_thread, &reader);
  wait_started (writers, WRITERS);
  wait_started (&reader, 1);

  push_noise (&f, STORM_SECONDS * RATE, &seen, &sh);

  g_atomic_int_set (&sh.stop, 1);
  for (i = 0; i < WRITERS; i++) {
    g_thread_join (writers[i].thread);
    fail_unless (writers[i].done > 0, "writer %u never ran", i);
  }
  g_thread_join (reader.thread);
  fail_unless (reader.done > 0, "the reader never ran");
  g_print ("test_properties_while_flowing: %u windows, %u detections, "
      "%u models announced, %u warnings; property sets %" G_GUINT64_FORMAT
      " + %" G_GUINT64_FORMAT " + %" G_GUINT64_FORMAT ", reads %"
      G_GUINT64_FORMAT "\n", seen.windows, seen.detections, seen.announced,
      seen.warnings, writers[0].done, writers[1].done, writers[2].done,
      reader.done);

  check_settled (&f, &seen, &sh);
  fixture_teardown (&f);
  for (i = 0; i < 3; i++)
    fixture_remove_model (sh.models[i]);
  g_free (sh.models[3]);
}

GST_END_TEST;

static Suite *
beenet_concurrency_suite (void)
{
  Suite *s = suite_create ("beenet-concurrency");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 600);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_properties_while_flowing);
  return s;
}

GST_CHECK_MAIN (beenet_concurrency);
