/* libFuzzer harness of the beenet element's streaming path (issue 12):
 * the input bytes drive a GstHarness around a fresh element: the caps
 * (format, channels, sometimes refused caps), then a sequence of actions:
 * buffers of any size and content with or without timestamps and with
 * DISCONT/GAP flags, flushes, gap and segment events, EOS and restart,
 * and property changes in between.  GLib criticals abort (a critical is a
 * bug found).  The element is registered statically (no plugin loading);
 * the model is the constant-exit test model of tests/common on a short
 * window (small_model below).
 * Copyright (C) 2026 gst-beenet authors, LGPL-2.1-or-later */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gst/gst.h>
#include <gst/check/gstharness.h>

#include "gstbeenet.h"
#include "test-models.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

typedef struct
{
  const uint8_t *p;
  size_t left;
} Input;

static gchar *model_path;

static guint
take (Input * in, guint bytes)
{
  guint v = 0;

  for (guint i = 0; i < bytes && in->left; i++, in->left--)
    v = (v << 8) | *in->p++;
  return v;
}

/* The graph of test_models_constant_exits (3 exits, 2 classes, logits
 * {0, 1}, {10, 0}, {0, 3}: every policy and max-exit stops somewhere
 * different) on a 0.1 s window of 8 frames x 16 Mel bands instead of 1 s
 * of 98 x 64: the element's code paths are the same, a window computes 8
 * frames instead of 98 (docs/reliability.md, "Harness speed"). */
static uint8_t *
small_model (size_t * size)
{
  static const float logits[] = { 0.f, 1.f, 10.f, 0.f, 0.f, 3.f };
  static const float zeros[8 * 2], ones[2] = { 1.f, 1.f };
  TestModel *m = test_model_new_with_shape (2, 8, 16);
  int trunk = test_model_conv2d (m, 0, 3, 3, 2, 2, 1, 1, 1, 8, 1, NULL, NULL,
      NULL);
  GgufWriter *w;
  uint8_t *bytes;

  for (guint e = 0; e < 3; e++) {
    if (e > 0)
      trunk = test_model_bconv2d (m, trunk, 3, 3, 1, 1, 1, 1, 8, 0, NULL,
          NULL, NULL);
    test_model_exit (m, test_model_dense (m, test_model_global_avgpool (m,
                trunk), 2, 0, zeros, ones, logits + 2 * e));
  }
  w = test_model_finish (m);
  gguf_writer_replace_u32 (w, "beenet.frontend.window_samples", 1600);
  bytes = gguf_writer_serialize (w, size);
  gguf_writer_free (w);
  return bytes;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  size_t size = 0;
  uint8_t *bytes = small_model (&size);
  gint fd;

  (void) argc;
  (void) argv;
  /* no system plugins: only the statically registered element is used */
  g_setenv ("GST_PLUGIN_SYSTEM_PATH_1_0", "", TRUE);
  g_setenv ("GST_PLUGIN_PATH_1_0", "", TRUE);
  g_setenv ("GST_REGISTRY_DISABLE", "yes", TRUE);
  gst_init (NULL, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  if (!GST_ELEMENT_REGISTER (beenet, NULL))
    abort ();
  fd = g_file_open_tmp ("beenet-fuzz-XXXXXX.gguf", &model_path, NULL);
  if (fd < 0 || bytes == NULL || write (fd, bytes, size) != (ssize_t) size)
    abort ();
  close (fd);
  free (bytes);
  return 0;
}

static const gchar *const caps_choices[] = {
  "audio/x-raw,format=S16LE,rate=16000,channels=%u,layout=interleaved",
  "audio/x-raw,format=F32LE,rate=16000,channels=%u,layout=interleaved",
  "audio/x-raw,format=S16LE,rate=16000,channels=%u,layout=interleaved",
  "audio/x-raw,format=F32LE,rate=16000,channels=%u,layout=interleaved",
  "audio/x-raw,format=U8,rate=16000,channels=%u,layout=interleaved",
  "audio/x-raw,format=S16LE,rate=44100,channels=%u,layout=interleaved",
};

/* Caps (possibly refused: pushed as they are, like a demuxer would) and a
 * TIME segment.  gst_harness_set_src_caps would assert on refused caps. */
static void
set_caps (GstHarness * h, Input * in)
{
  guint c = take (in, 1);
  gchar *s = g_strdup_printf (caps_choices[c % G_N_ELEMENTS (caps_choices)],
      1 + (c >> 4) % 4);
  GstCaps *caps = gst_caps_from_string (s);
  GstSegment seg;

  /* gst_event_new_caps takes its own reference */
  gst_pad_push_event (h->srcpad, gst_event_new_caps (caps));
  gst_caps_unref (caps);
  g_free (s);
  gst_segment_init (&seg, GST_FORMAT_TIME);
  gst_pad_push_event (h->srcpad, gst_event_new_segment (&seg));
}

static void
push_buffer (GstHarness * h, Input * in)
{
  guint flags = take (in, 1);
  gsize n = take (in, 2) % 8192;
  GstBuffer *buf = gst_buffer_new_allocate (NULL, n, NULL);
  GstMapInfo map;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < n; i++)
    map.data[i] = in->left ? in->p[i % in->left] : (guint8) i;
  gst_buffer_unmap (buf, &map);
  if (flags & 1)
    GST_BUFFER_PTS (buf) = (GstClockTime) take (in, 3) * GST_USECOND;
  if (flags & 2)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  if (flags & 4)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_GAP);
  gst_harness_push (h, buf);
}

/* A writable numeric/enum/boolean property, its value scaled from a byte. */
static void
set_property (GstHarness * h, Input * in)
{
  static const gchar *const props[] = { "threshold", "policy", "patience",
    "max-exit", "interval", "post-messages", "detection-threshold",
    "smoothing", "refractory", "post-detections"
  };
  const gchar *name = props[take (in, 1) % G_N_ELEMENTS (props)];
  GParamSpec *ps = g_object_class_find_property (G_OBJECT_GET_CLASS
      (h->element), name);
  gdouble f = take (in, 1) / 255.0;
  GValue v = G_VALUE_INIT;

  g_value_init (&v, ps->value_type);
  if (G_IS_PARAM_SPEC_DOUBLE (ps)) {
    GParamSpecDouble *d = G_PARAM_SPEC_DOUBLE (ps);
    g_value_set_double (&v, d->minimum + f * (MIN (d->maximum, 1e6)
            - d->minimum));
  } else if (G_IS_PARAM_SPEC_UINT (ps)) {
    GParamSpecUInt *u = G_PARAM_SPEC_UINT (ps);
    g_value_set_uint (&v, u->minimum + (guint) (f * MIN (u->maximum
                - u->minimum, 16)));
  } else if (G_IS_PARAM_SPEC_UINT64 (ps)) {
    GParamSpecUInt64 *u = G_PARAM_SPEC_UINT64 (ps);
    g_value_set_uint64 (&v, u->minimum + (guint64) (f * (gdouble)
            MIN (u->maximum - u->minimum, 3 * GST_SECOND)));
  } else if (G_IS_PARAM_SPEC_ENUM (ps)) {
    GEnumClass *e = G_PARAM_SPEC_ENUM (ps)->enum_class;
    g_value_set_enum (&v, e->values[(guint) (f * (e->n_values - 1))].value);
  } else {
    g_value_set_boolean (&v, f >= 0.5);
  }
  g_object_set_property (G_OBJECT (h->element), name, &v);
  g_value_unset (&v);
}

static void
push_event (GstHarness * h, Input * in)
{
  GstSegment seg;

  switch (take (in, 1) % 5) {
    case 0:
      /* a flush drops the segment: send a new one */
      gst_harness_push_event (h, gst_event_new_flush_start ());
      gst_harness_push_event (h, gst_event_new_flush_stop (TRUE));
      gst_segment_init (&seg, GST_FORMAT_TIME);
      gst_harness_push_event (h, gst_event_new_segment (&seg));
      break;
    case 1:
      gst_harness_push_event (h, gst_event_new_gap (take (in, 2) *
              GST_MSECOND, take (in, 1) * GST_MSECOND));
      break;
    case 2:
      gst_segment_init (&seg, GST_FORMAT_TIME);
      seg.start = take (in, 2) * GST_MSECOND;
      gst_harness_push_event (h, gst_event_new_segment (&seg));
      break;
    case 3:
      gst_harness_push_event (h, gst_event_new_eos ());
      break;
    default:
      gst_pad_push_event (h->srcpad, gst_event_new_stream_start ("fuzz"));
      set_caps (h, in);
      break;
  }
}

static void
drain (GstHarness * h)
{
  GstBuffer *b;
  GstEvent *e;

  while ((b = gst_harness_try_pull (h)))
    gst_buffer_unref (b);
  while ((e = gst_harness_try_pull_event (h)))
    gst_event_unref (e);
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  Input in = { data, size };
  GstElement *e = gst_element_factory_make ("beenet", NULL);
  GstHarness *h;

  g_object_set (e, "model", model_path, NULL);
  h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  set_caps (h, &in);
  for (guint step = 0; in.left && step < 64; step++) {
    switch (take (&in, 1) % 4) {
      case 0:
      case 1:
        push_buffer (h, &in);
        break;
      case 2:
        set_property (h, &in);
        break;
      default:
        push_event (h, &in);
        break;
    }
    drain (h);
  }
  gst_harness_teardown (h);
  return 0;
}
