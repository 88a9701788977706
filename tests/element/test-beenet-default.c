/* The embedded default model (models/kws12.gguf, compiled in as a GResource
 * when it exists at configure time).  Exits 77 (meson: SKIP) with a visible
 * reason when this build has no default model.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <gst/gst.h>
#include <gst/check/gstharness.h>

#ifndef HAVE_DEFAULT_MODEL
#define HAVE_DEFAULT_MODEL 0
#endif

#define CHECK(cond) do { if (!(cond)) { \
      g_printerr ("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      return 1; } } while (0)

int
main (int argc, char **argv)
{
  GstElement *e;
  GstBus *bus;
  GstHarness *h;
  GstBuffer *buf;
  GstMessage *m;
  gchar **labels = NULL;
  guint num_exits = 0, cls = G_MAXUINT;
  const gchar *label;
  gchar *task = NULL, *arch = NULL;
  gint n = 0;

  gst_init (&argc, &argv);
  if (!HAVE_DEFAULT_MODEL) {
    g_print ("SKIP: this build has no embedded default model "
        "(models/kws12.gguf was missing when meson configured the build)\n");
    return 77;
  }

  e = gst_element_factory_make ("beenet", NULL);
  CHECK (e != NULL);
  /* no "model" property: the built-in model is used */
  g_object_get (e, "labels", &labels, "num-exits", &num_exits, NULL);
  CHECK (labels != NULL && g_strv_length (labels) >= 2);
  CHECK (num_exits >= 1);
  g_print ("default model: %u labels, %u exits\n", g_strv_length (labels),
      num_exits);
  /* the shipped default states what it is (models/kws12.gguf) */
  g_object_get (e, "task", &task, "architecture", &arch, NULL);
  CHECK (g_strcmp0 (task, "kws12") == 0);
  CHECK (g_strcmp0 (arch, "quicknet") == 0);
  g_free (task);
  g_free (arch);

  bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  h = gst_harness_new_with_element (e, "sink", "src");
  gst_harness_set_src_caps_str (h, "audio/x-raw, format=S16LE, rate=16000, "
      "channels=1, layout=interleaved");
  buf = gst_buffer_new_allocate (NULL, 16000 * 2, NULL);
  gst_buffer_memset (buf, 0, 0, 16000 * 2);
  GST_BUFFER_PTS (buf) = 0;
  CHECK (gst_harness_push (h, buf) == GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));

  while ((m = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT |
              GST_MESSAGE_ERROR | GST_MESSAGE_WARNING)) != NULL) {
    const GstStructure *s = gst_message_get_structure (m);
    CHECK (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT);
    if (gst_structure_has_name (s, "beenet-detection")) {
      /* silence is no keyword: a detection would be a model problem, but
       * this test only checks the built-in model runs */
      g_print ("detection on silence: \"%s\"\n",
          gst_structure_get_string (s, "keyword"));
      gst_message_unref (m);
      continue;
    }
    CHECK (gst_structure_has_name (s, "beenet"));
    CHECK (gst_structure_get_uint (s, "class", &cls));
    label = gst_structure_get_string (s, "label");
    CHECK (cls < g_strv_length (labels));
    CHECK (g_strcmp0 (label, labels[cls]) == 0);
    g_print ("silence classified as \"%s\"\n", label);
    n++;
    gst_message_unref (m);
  }
  CHECK (n == 1);

  gst_harness_teardown (h);
  gst_element_set_bus (e, NULL);
  gst_object_unref (e);
  gst_object_unref (bus);
  g_strfreev (labels);
  return 0;
}
