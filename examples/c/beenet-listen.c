/* beenet-listen: a complete GStreamer application around the beenet element.
 *
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 *
 *   beenet-listen [--threshold T] [--retune-after S] [--retune-threshold T]
 *                 [FILE | URI | --mic [--device NAME] | --test]
 *
 * Plays FILE/URI (decodebin), the microphone (pulsesrc) or a test tone
 * (audiotestsrc) into beenet and prints one line per window and per
 * detected keyword:
 *
 *   window 1.500 s: yes exit 2/5 entropy 0.312
 *   detection 1.500 s: yes score 0.984
 *
 * Once a window starting at or after --retune-after seconds arrives, the
 * early-exit threshold is changed while PLAYING (prints "threshold ...").
 * Exit status: 0 at end of stream, 1 on a pipeline error, 2 on bad usage.
 */
#include <stdio.h>

#include <gst/gst.h>

typedef struct {
  GMainLoop *loop;
  GstElement *beenet;
  gdouble retune_after;         /* seconds; < 0 = never */
  gdouble retune_threshold;
  gboolean retuned;
  int status;
} Listener;

static gchar *
pipeline_description (const gchar * source, gboolean mic,
    const gchar * device, gdouble threshold)
{
  gchar *src, *desc;

  if (mic && device != NULL)
    src = g_strdup_printf ("pulsesrc device=\"%s\"", device);
  else if (mic)
    src = g_strdup ("pulsesrc");
  else if (source == NULL)
    src = g_strdup ("audiotestsrc wave=pink-noise num-buffers=150");
  else if (gst_uri_is_valid (source))
    src = g_strdup_printf ("uridecodebin uri=\"%s\"", source);
  else
    src = g_strdup_printf ("filesrc location=\"%s\" ! decodebin", source);
  desc = g_strdup_printf ("%s ! audioconvert ! beenet name=kws "
      "threshold=%g ! fakesink", src, threshold);
  g_free (src);
  return desc;
}

static gdouble
seconds_of (const GstStructure * s)
{
  guint64 ts = GST_CLOCK_TIME_NONE;

  gst_structure_get_uint64 (s, "timestamp", &ts);
  return GST_CLOCK_TIME_IS_VALID (ts) ? (gdouble) ts / GST_SECOND : -1.0;
}

static void
retune_if_due (Listener * l, gdouble t)
{
  if (l->retuned || l->retune_after < 0 || t < l->retune_after)
    return;
  l->retuned = TRUE;
  /* properties of beenet can be changed while PLAYING */
  g_object_set (l->beenet, "threshold", l->retune_threshold, NULL);
  g_print ("threshold %g from %.3f s\n", l->retune_threshold, t);
}

static void
on_element (Listener * l, const GstStructure * s)
{
  guint exit = 0, num_exits = 0;
  gdouble entropy = 0, score = 0;

  if (gst_structure_has_name (s, "beenet")) {
    gst_structure_get_uint (s, "exit", &exit);
    gst_structure_get_uint (s, "num-exits", &num_exits);
    gst_structure_get_double (s, "entropy", &entropy);
    g_print ("window %.3f s: %s exit %u/%u entropy %.3f\n", seconds_of (s),
        gst_structure_get_string (s, "label"), exit, num_exits, entropy);
    retune_if_due (l, seconds_of (s));
  } else if (gst_structure_has_name (s, "beenet-detection")) {
    gst_structure_get_double (s, "score", &score);
    g_print ("detection %.3f s: %s score %.3f\n", seconds_of (s),
        gst_structure_get_string (s, "keyword"), score);
  }
}

static gboolean
on_message (G_GNUC_UNUSED GstBus * bus, GstMessage * msg, gpointer data)
{
  Listener *l = data;
  GError *err = NULL;
  gchar *debug = NULL;

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ELEMENT:
      on_element (l, gst_message_get_structure (msg));
      break;
    case GST_MESSAGE_ERROR:
      gst_message_parse_error (msg, &err, &debug);
      g_printerr ("error from %s: %s\n", GST_OBJECT_NAME (msg->src),
          err->message);
      if (debug != NULL)
        g_printerr ("  (%s)\n", debug);
      g_clear_error (&err);
      g_free (debug);
      l->status = 1;
      g_main_loop_quit (l->loop);
      break;
    case GST_MESSAGE_EOS:
      g_print ("end of stream\n");
      g_main_loop_quit (l->loop);
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

static int
run (const gchar * desc, Listener * l)
{
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &err);
  GstBus *bus;

  if (pipeline == NULL || err != NULL) {
    g_printerr ("could not build \"%s\": %s\n", desc,
        err ? err->message : "unknown error");
    g_clear_error (&err);
    if (pipeline != NULL)
      gst_object_unref (pipeline);
    return 1;
  }
  l->beenet = gst_bin_get_by_name (GST_BIN (pipeline), "kws");
  l->loop = g_main_loop_new (NULL, FALSE);
  bus = gst_element_get_bus (pipeline);
  gst_bus_add_watch (bus, on_message, l);
  /* a failure to start is reported as an ERROR message on the bus */
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  g_main_loop_run (l->loop);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_bus_remove_watch (bus);
  gst_object_unref (bus);
  g_main_loop_unref (l->loop);
  gst_object_unref (l->beenet);
  gst_object_unref (pipeline);
  return l->status;
}

int
main (int argc, char **argv)
{
  gdouble threshold = 0.75;
  gboolean mic = FALSE, test = FALSE;
  gchar *device = NULL, *desc;
  Listener l = { NULL, NULL, -1.0, 0.25, FALSE, 0 };
  GOptionEntry entries[] = {
    {"threshold", 't', 0, G_OPTION_ARG_DOUBLE, &threshold,
        "Early-exit threshold at start (default 0.75)", "T"},
    {"retune-after", 'r', 0, G_OPTION_ARG_DOUBLE, &l.retune_after,
        "Change the threshold at the first window from S seconds on", "S"},
    {"retune-threshold", 0, 0, G_OPTION_ARG_DOUBLE, &l.retune_threshold,
        "The threshold set by --retune-after (default 0.25)", "T"},
    {"mic", 'm', 0, G_OPTION_ARG_NONE, &mic, "Listen to pulsesrc", NULL},
    {"device", 'd', 0, G_OPTION_ARG_STRING, &device,
        "PulseAudio source for --mic", "NAME"},
    {"test", 0, 0, G_OPTION_ARG_NONE, &test,
        "Classify 3.5 s of pink noise (the default without FILE)", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL}
  };
  GOptionContext *ctx = g_option_context_new ("[FILE | URI]");
  GError *err = NULL;
  int status;

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err) || argc > 2) {
    g_printerr ("%s\n", err ? err->message : "at most one FILE or URI");
    g_clear_error (&err);
    g_option_context_free (ctx);
    return 2;
  }
  g_option_context_free (ctx);

  desc = pipeline_description (argc == 2 && !test ? argv[1] : NULL, mic,
      device, threshold);
  status = run (desc, &l);
  g_free (desc);
  g_free (device);
  return status;
}
