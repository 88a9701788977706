/* One shipped model (models/, issue 9), loaded by the element by path:
 * it states the task and network family it was exported with, and
 * classifies a held-out example correctly.
 *
 *   test-beenet-models MODEL TASK ARCHITECTURE VOICE TEXT LABEL
 *
 * VOICE (an espeak-ng voice held out of the model's training corpus) says
 * TEXT with silence around it; the element runs at full depth (threshold
 * 0) with a window every 250 ms, and the class with the largest summed
 * probability over all windows, among the classes that are not "_..."
 * (silence, unknown), must be LABEL.  tests/element/meson.build lists the
 * shipped models with their examples.
 *
 * Copyright (C) 2026 gst-beenet authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <gst/gst.h>
#include <gst/audio/audio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "harness.h"
#include "speech.h"

#define PAD_SAMPLES 8000        /* 0.5 s of silence around the example */
#define MAX_CLASSES 64

static const gchar *model_path, *want_task, *want_arch, *voice, *text,
    *want_label;

GST_START_TEST (test_states_task_and_architecture)
{
  GstElement *e = gst_element_factory_make ("beenet", NULL);
  gchar *task = NULL, *arch = NULL;
  guint num_exits = 0;

  fail_unless (e != NULL);
  g_object_set (e, "model", model_path, NULL);
  g_object_get (e, "task", &task, "architecture", &arch, "num-exits",
      &num_exits, NULL);
  fail_unless_equals_string (task, want_task);
  fail_unless_equals_string (arch, want_arch);
  /* every shipped family model has the paper's five exits */
  fail_unless_equals_int (num_exits, 5);
  g_free (task);
  g_free (arch);
  gst_object_unref (e);
}

GST_END_TEST;

/* Adds the window's probabilities to sums (n classes). */
static void
add_probabilities (const GstStructure * s, gdouble * sums, guint n)
{
  const GValue *arr = gst_structure_get_value (s, "probabilities");
  GValueArray *probs;
  guint i;

  fail_unless (arr != NULL);
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS;
  probs = g_value_get_boxed (arr);
  fail_unless_equals_int (probs->n_values, n);
  for (i = 0; i < n; i++)
    sums[i] += g_value_get_double (&probs->values[i]);
  G_GNUC_END_IGNORE_DEPRECATIONS;
}

GST_START_TEST (test_classifies_heldout_example)
{
  gsize n = 0, total;
  gfloat *speech;
  GstBuffer *buf;
  GstMessage *m;
  Fixture f;
  gchar **labels = NULL;
  gdouble sums[MAX_CLASSES] = { 0, };
  guint n_classes, windows = 0, i, best = G_MAXUINT;
  gchar *espeak = g_find_program_in_path ("espeak-ng");

  if (espeak == NULL) {
    g_print ("test_classifies_heldout_example: SKIPPED (espeak-ng not "
        "found)\n");
    return;
  }
  g_free (espeak);
  speech = speech_espeak_16k (voice, text, &n, NULL);
  fail_unless (speech != NULL && n > 0, "espeak-ng said nothing");
  total = n + 2 * PAD_SAMPLES;
  fixture_setup (&f, model_path, 250 * GST_MSECOND, "threshold", 0.0, NULL);
  g_object_get (f.element, "labels", &labels, NULL);
  fail_unless (labels != NULL);
  n_classes = g_strv_length (labels);
  fail_unless (n_classes <= MAX_CLASSES);
  fixture_set_format (&f, GST_AUDIO_FORMAT_F32, 16000, 1, FALSE);
  buf = gst_buffer_new_allocate (NULL, total * sizeof (gfloat), NULL);
  gst_buffer_memset (buf, 0, 0, total * sizeof (gfloat));
  gst_buffer_fill (buf, PAD_SAMPLES * sizeof (gfloat), speech,
      n * sizeof (gfloat));
  GST_BUFFER_PTS (buf) = 0;
  fixture_push (&f, buf);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  while ((m = fixture_pop_named (f.bus, "beenet")) != NULL) {
    add_probabilities (gst_message_get_structure (m), sums, n_classes);
    windows++;
    gst_message_unref (m);
  }
  fixture_teardown (&f);
  g_free (speech);
  fail_unless (windows >= 2, "only %u windows", windows);
  for (i = 0; i < n_classes; i++) {
    g_print ("  %-12s %.3f\n", labels[i], sums[i] / windows);
    if (labels[i][0] != '_' && (best == G_MAXUINT || sums[i] > sums[best]))
      best = i;
  }
  fail_unless (best != G_MAXUINT, "the model has only _ classes");
  g_print ("%s: %s \"%s\": %u windows, most probable %s (expected %s)\n",
      model_path, voice, text, windows, labels[best], want_label);
  fail_unless_equals_string (labels[best], want_label);
  g_strfreev (labels);
}

GST_END_TEST;

static Suite *
beenet_models_suite (void)
{
  Suite *s = suite_create ("beenet-models");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_states_task_and_architecture);
  tcase_add_test (tc, test_classifies_heldout_example);
  return s;
}

int
main (int argc, char **argv)
{
  gst_check_init (&argc, &argv);
  if (argc != 7) {
    g_printerr ("usage: %s MODEL TASK ARCHITECTURE VOICE TEXT LABEL\n",
        argv[0]);
    return 2;
  }
  model_path = argv[1];
  want_task = argv[2];
  want_arch = argv[3];
  voice = argv[4];
  text = argv[5];
  want_label = argv[6];
  return gst_check_run_suite (beenet_models_suite (), "beenet-models",
      __FILE__);
}
