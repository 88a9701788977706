/* Shared set-up of the element tests (see harness.h).
 *
 * Copyright (C) 2026 gst-beenet authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>

#include "test-models.h"

gchar *
fixture_write_model_bytes (const guint8 * bytes, gsize size)
{
  GError *err = NULL;
  gchar *path = NULL;
  gint fd = g_file_open_tmp ("beenet-test-XXXXXX.gguf", &path, &err);

  fail_unless (fd >= 0, "g_file_open_tmp: %s", err ? err->message : "?");
  close (fd);
  fail_unless (bytes != NULL);
  fail_unless (g_file_set_contents (path, (const gchar *) bytes, size, &err),
      "%s", err ? err->message : "?");
  return path;
}

gchar *
fixture_write_model (GgufWriter * w)
{
  size_t size = 0;
  guint8 *bytes;
  gchar *path;

  fail_unless (w != NULL);
  bytes = gguf_writer_serialize (w, &size);
  path = fixture_write_model_bytes (bytes, size);
  free (bytes);
  gguf_writer_free (w);
  return path;
}

gchar *
fixture_constant_model (void)
{
  static const float logits[] = { 0.f, 1.f, 10.f, 0.f, 0.f, 3.f };

  return fixture_write_model (test_models_constant_exits_writer (3, 2,
          logits));
}

void
fixture_remove_model (gchar * path)
{
  g_unlink (path);
  g_free (path);
}

void
fixture_setup (Fixture * f, const gchar * model, guint64 interval, ...)
{
  const gchar *first_property;
  va_list args;

  memset (f, 0, sizeof (*f));
  f->element = gst_element_factory_make ("beenet", NULL);
  fail_unless (f->element != NULL, "beenet element not found");
  g_object_set (f->element, "model", model, "interval", interval, NULL);
  va_start (args, interval);
  first_property = va_arg (args, const gchar *);
  if (first_property)
    g_object_set_valist (G_OBJECT (f->element), first_property, args);
  va_end (args);
  f->bus = gst_bus_new ();
  gst_element_set_bus (f->element, f->bus);
  f->h = gst_harness_new_with_element (f->element, "sink", "src");
}

void
fixture_set_format (Fixture * f, GstAudioFormat format, gint rate,
    guint channels, gboolean planar)
{
  gst_audio_info_set_format (&f->info, format, rate, (gint) channels, NULL);
  if (planar)
    f->info.layout = GST_AUDIO_LAYOUT_NON_INTERLEAVED;
  gst_harness_set_src_caps (f->h, gst_audio_info_to_caps (&f->info));
}

void
fixture_segment (Fixture * f, GstClockTime start, GstClockTime time,
    GstClockTime base)
{
  GstSegment seg;

  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.start = start;
  seg.time = time;
  seg.base = base;
  fail_unless (gst_harness_push_event (f->h, gst_event_new_segment (&seg)));
}

void
fixture_teardown (Fixture * f)
{
  gst_harness_teardown (f->h);
  gst_element_set_bus (f->element, NULL);
  gst_object_unref (f->element);
  gst_bus_set_flushing (f->bus, TRUE);
  gst_object_unref (f->bus);
  if (f->model)
    fixture_remove_model (f->model);
  f->model = NULL;
}

void
fixture_push (Fixture * f, GstBuffer * buf)
{
  fail_unless_equals_int (gst_harness_push (f->h, buf), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (f->h));
}

void
fixture_push_exact (Fixture * f, GstBuffer * in)
{
  GstBuffer *copy = gst_buffer_copy_deep (in);
  GstBuffer *out;
  GstMapInfo a, b;

  fail_unless_equals_int (gst_harness_push (f->h, in), GST_FLOW_OK);
  out = gst_harness_pull (f->h);
  fail_unless (out != NULL);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), GST_BUFFER_PTS (copy));
  gst_buffer_map (out, &a, GST_MAP_READ);
  gst_buffer_map (copy, &b, GST_MAP_READ);
  fail_unless_equals_int (a.size, b.size);
  fail_unless (a.size == 0 || memcmp (a.data, b.data, a.size) == 0,
      "buffer at %" GST_TIME_FORMAT " changed",
      GST_TIME_ARGS (GST_BUFFER_PTS (copy)));
  gst_buffer_unmap (out, &a);
  gst_buffer_unmap (copy, &b);
  gst_buffer_unref (out);
  gst_buffer_unref (copy);
}

GstMessage *
fixture_pop (GstBus * bus, GstMessageType also)
{
  GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT |
      GST_MESSAGE_ERROR | GST_MESSAGE_WARNING);
  GError *err = NULL;
  gchar *dbg = NULL;

  if (m == NULL || (GST_MESSAGE_TYPE (m) & (GST_MESSAGE_ELEMENT | also)))
    return m;
  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR)
    gst_message_parse_error (m, &err, &dbg);
  else
    gst_message_parse_warning (m, &err, &dbg);
  fail ("unexpected %s: %s (%s)", GST_MESSAGE_TYPE_NAME (m), err->message,
      dbg);
  return NULL;
}

GstMessage *
fixture_pop_named (GstBus * bus, const gchar * name)
{
  GstMessage *m;

  while ((m = fixture_pop (bus, 0)) != NULL) {
    if (gst_message_has_name (m, name))
      return m;
    gst_message_unref (m);
  }
  return NULL;
}

/* One getter a field type: the value, or the test fails. */
#define DEFINE_GETTER(type, name, getter) \
type \
name (const GstStructure * s, const gchar * field) \
{ \
  type v = 0; \
  \
  fail_unless (getter (s, field, &v), "no field %s", field); \
  return v; \
}

DEFINE_GETTER (guint64, get_u64, gst_structure_get_uint64)
DEFINE_GETTER (guint, get_uint, gst_structure_get_uint)
DEFINE_GETTER (gdouble, get_double, gst_structure_get_double)
DEFINE_GETTER (gboolean, get_bool, gst_structure_get_boolean)
