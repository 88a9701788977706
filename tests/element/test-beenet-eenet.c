/* The eenet policy in the element: policy=eenet (the nick from the
 * engine's table), the budget property selecting the scheduler's
 * thresholds live, the eenet-budget message field, and a model without a
 * scheduler refused with a clear error.
 *
 * Copyright (C) 2026 gst-beenet authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Model: test_models_constant_exits (3 exits, 2 classes, logits {0, 1},
 * {10, 0}, {0, 3}) with a scheduler of one hidden unit per exit reading
 * only the largest probability: q = sigmoid(max p), so
 *   exit 1: max p = 0.7311, q = 0.6750;  exit 2: max p = 0.99995, q = 0.7311.
 * Budgets 0.3 and 1 with thresholds {0.6, 0.6} and {0.9, 0.7}:
 *   budget 1:   exit 1 0.675 < 0.9, exit 2 0.7311 >= 0.7 -> exit 2, class 0;
 *   budget 0.3: exit 1 0.675 >= 0.6                      -> exit 1, class 1.
 */
#include <math.h>
#include <string.h>

#include <gst/gst.h>
#include <gst/check/gstcheck.h>

#include "harness.h"
#include "test-models.h"

#define RATE 16000
#define WINDOW 16000

static const float logits[] = { 0.f, 1.f, 10.f, 0.f, 0.f, 3.f };

static gchar *
eenet_model_path (gboolean with_scheduler)
{
  static const float w1[3 * 6] = { 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0,
    1, 0, 0, 0, 0, 0
  };
  static const float zeros[3] = { 0 }, ones[3] = { 1, 1, 1 };
  static const float budgets[2] = { 0.3f, 1.0f };
  static const float thresholds[6] = { 0.6f, 0.6f, 0.0f, 0.9f, 0.7f, 0.0f };
  GgufWriter *w = test_models_constant_exits_writer (3, 2, logits);

  fail_unless (w != NULL);
  if (with_scheduler) {
    gguf_writer_add_u32 (w, "beenet.eenet.hidden", 1);
    gguf_writer_add_array_f32 (w, "beenet.eenet.w1", w1, 18);
    gguf_writer_add_array_f32 (w, "beenet.eenet.b1", zeros, 3);
    gguf_writer_add_array_f32 (w, "beenet.eenet.w2", ones, 3);
    gguf_writer_add_array_f32 (w, "beenet.eenet.b2", zeros, 3);
    gguf_writer_add_array_f32 (w, "beenet.eenet.budgets", budgets, 2);
    gguf_writer_add_array_f32 (w, "beenet.eenet.thresholds", thresholds, 6);
  }
  return fixture_write_model (w);
}

static GstBuffer *
silence (GstClockTime pts)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, WINDOW * sizeof (gfloat),
      NULL);

  gst_buffer_memset (buf, 0, 0, WINDOW * sizeof (gfloat));
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = GST_SECOND;
  return buf;
}

static void
setup (Fixture * f, const gchar * model)
{
  fixture_setup (f, model, GST_SECOND, "post-detections", FALSE, NULL);
  fixture_set_format (f, GST_AUDIO_FORMAT_F32, RATE, 1, FALSE);
}

GST_START_TEST (test_eenet_policy)
{
  static const struct
  {
    const gchar *policy;
    gdouble budget;
    guint exit, cls;
  } steps[] = {
    {"eenet", 1.0, 2, 0},
    {"eenet", 0.3, 1, 1},       /* live: the controller starts at 0.3 */
    {"entropy", 1.0, 3, 1},     /* threshold 0.5 never reached: last exit */
    {"eenet", 1.0, 2, 0},
  };
  gchar *model = eenet_model_path (TRUE);
  Fixture f;
  guint i;

  setup (&f, model);
  g_object_set (f.element, "threshold", 0.0001, NULL);
  for (i = 0; i < G_N_ELEMENTS (steps); i++) {
    const GstStructure *s;
    GstMessage *m;

    gst_util_set_object_arg (G_OBJECT (f.element), "policy", steps[i].policy);
    g_object_set (f.element, "budget", steps[i].budget, NULL);
    fixture_push (&f, silence (i * GST_SECOND));
    m = fixture_pop_named (f.bus, "beenet");
    fail_unless (m != NULL, "no message for step %u", i);
    s = gst_message_get_structure (m);
    fail_unless_equals_string (gst_structure_get_string (s, "policy"),
        steps[i].policy);
    fail_unless_equals_int (get_uint (s, "exit"), steps[i].exit);
    fail_unless_equals_int (get_uint (s, "class"), steps[i].cls);
    if (g_str_equal (steps[i].policy, "eenet")) {
      fail_unless (fabs (get_double (s, "eenet-budget") - steps[i].budget)
          < 1e-6, "eenet-budget %g", get_double (s, "eenet-budget"));
    } else {
      fail_if (gst_structure_has_field (s, "eenet-budget"));
    }
    gst_message_unref (m);
  }
  fixture_teardown (&f);
  fixture_remove_model (model);
}

GST_END_TEST;

/* A model without a scheduler refuses the policy with a clear error. */
GST_START_TEST (test_eenet_needs_scheduler)
{
  gchar *model = eenet_model_path (FALSE);
  GstMessage *m;
  GError *err = NULL;
  gchar *dbg = NULL;
  Fixture f;

  setup (&f, model);
  gst_util_set_object_arg (G_OBJECT (f.element), "policy", "eenet");
  fail_unless_equals_int (gst_harness_push (f.h, silence (0)),
      GST_FLOW_ERROR);
  m = gst_bus_pop_filtered (f.bus, GST_MESSAGE_ERROR);
  fail_unless (m != NULL);
  gst_message_parse_error (m, &err, &dbg);
  fail_unless (g_error_matches (err, GST_LIBRARY_ERROR,
          GST_LIBRARY_ERROR_SETTINGS));
  fail_unless (strstr (err->message, "\"eenet\"") != NULL, "%s",
      err->message);
  fail_unless (strstr (dbg, "beenet.eenet") != NULL, "%s", dbg);
  g_clear_error (&err);
  g_free (dbg);
  gst_message_unref (m);
  fixture_teardown (&f);
  fixture_remove_model (model);
}

GST_END_TEST;

static Suite *
beenet_eenet_suite (void)
{
  Suite *s = suite_create ("beenet-eenet");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_eenet_policy);
  tcase_add_test (tc, test_eenet_needs_scheduler);
  return s;
}

GST_CHECK_MAIN (beenet_eenet);
