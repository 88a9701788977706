/* beenet-classify on WAVs at any rate, sample format and channel count
 * (issue 11): espeak-ng speech converted by sox (a resampler independent of
 * the GStreamer one the tool uses) to 16 kHz S16 mono, 44.1 kHz 24-bit
 * stereo, 48 kHz float mono and 8 kHz 8-bit mono, plus espeak-ng's own
 * 22.05 kHz file, each classified with the built-in model, windows every
 * 250 ms (no refined windows), every exit run (threshold 0).  Skips (77) without espeak-ng, sox
 * or a built-in model.
 *
 * The measure (docs/element.md, "beenet-classify at any rate"), against
 * the 16 kHz file, for every rate from 22.05 kHz up:
 *  - the same number of windows at the same start times;
 *  - the same top class on every window whose 16 kHz confidence is
 *    >= CONFIDENT, and on at least 90 % of all windows;
 *  - the top-class confidence differs by at most MAX_CONF_DIFF in any
 *    window and by at most MEAN_CONF_DIFF on average.
 * 8 kHz input has lost everything above 4 kHz, so only the window count and
 * times are checked for it (and its agreement is printed).
 * Copyright (C) 2026 gst-beenet authors, LGPL-2.1-or-later */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <glib.h>
#include <glib/gstdio.h>

#ifndef HAVE_DEFAULT_MODEL
#define HAVE_DEFAULT_MODEL 0
#endif

#define CONFIDENT 0.6
#define MAX_CONF_DIFF 0.25
#define MEAN_CONF_DIFF 0.05
#define MIN_SAME_SHARE 0.9

static gint failures = 0;

#define CHECK(cond) do { if (!(cond)) { \
      g_printerr ("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      failures++; } } while (0)

typedef struct
{
  gdouble start;
  gchar label[32];
  gdouble confidence;
} Window;

/* Runs argv; its stdout (g_free) or NULL when it did not exit with 0. */
static gchar *
run (const gchar * const *argv)
{
  gchar *out = NULL, *err = NULL;
  gint status = -1;
  GError *gerr = NULL;

  if (!g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
          NULL, &out, &err, &status, &gerr))
    g_error ("cannot run %s: %s", argv[0], gerr->message);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0 ||
      strstr (err, "Sanitizer") || strstr (err, "runtime error")) {
    g_printerr ("%s failed: %s\n", argv[0], err);
    g_free (out);
    out = NULL;
  }
  g_free (err);
  return out;
}

/* sox -D IN [format options] OUT */
static gchar *
convert (const gchar * dir, const gchar * in, const gchar * name,
    const gchar * const *opts)
{
  gchar *out = g_build_filename (dir, name, NULL);
  /* -D: no dither, so the files are the same on every run */
  const gchar *argv[16] = { "sox", "-D", in };
  guint n = 3;
  gchar *res;

  for (; *opts && n < G_N_ELEMENTS (argv) - 2; opts++)
    argv[n++] = *opts;
  argv[n++] = out;
  res = run (argv);
  if (res == NULL)
    g_error ("sox could not write %s", out);
  g_free (res);
  return out;
}

/* The windows of beenet-classify -t 0 -i 250 WAV (the tsv format). */
static GArray *
classify (const gchar * wav)
{
  /* the 250 ms grid alone: refined windows (the model's refine level)
   * follow the classification, which the rates are allowed to change */
  const gchar *argv[] = { g_getenv ("BEENET_CLASSIFY"), "--threshold", "0",
    "--interval", "250", "--refine-level", "1", wav, NULL
  };
  GArray *windows = g_array_new (FALSE, TRUE, sizeof (Window));
  gchar *out = run (argv);
  gchar **lines;

  CHECK (out != NULL);
  lines = g_strsplit (out ? out : "", "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    gchar **f = g_strsplit (lines[i], "\t", -1);
    Window w = { 0 };

    if (lines[i][0] != '#' && g_strv_length (f) == 8) {
      w.start = g_ascii_strtod (f[1], NULL);
      g_strlcpy (w.label, f[3], sizeof (w.label));
      w.confidence = g_ascii_strtod (f[4], NULL);
      g_array_append_val (windows, w);
    }
    g_strfreev (f);
  }
  g_strfreev (lines);
  g_free (out);
  return windows;
}

/* Compares wav's windows with the reference's; strict = apply the
 * agreement measure, else only the window count and times. */
static void
compare (const GArray * ref, const gchar * wav, gboolean strict)
{
  GArray *got = classify (wav);
  guint same = 0, confident_diff = 0, i;
  gdouble max_diff = 0, sum_diff = 0;

  CHECK (got->len == ref->len && ref->len > 0);
  for (i = 0; i < MIN (got->len, ref->len); i++) {
    const Window *a = &g_array_index (ref, Window, i);
    const Window *b = &g_array_index (got, Window, i);
    gdouble d = fabs (a->confidence - b->confidence);

    CHECK (fabs (a->start - b->start) < 1e-6);
    if (strcmp (a->label, b->label) == 0)
      same++;
    else if (a->confidence >= CONFIDENT)
      confident_diff++;
    max_diff = MAX (max_diff, d);
    sum_diff += d;
  }
  g_print ("%s: %u windows, same class on %u, confident windows changed %u,"
      " confidence difference max %.4f mean %.4f\n", wav, got->len, same,
      confident_diff, max_diff, i ? sum_diff / i : 0.0);
  if (strict) {
    CHECK (confident_diff == 0);
    CHECK (same >= MIN_SAME_SHARE * ref->len);
    CHECK (max_diff <= MAX_CONF_DIFF);
    CHECK (i > 0 && sum_diff / i <= MEAN_CONF_DIFF);
  }
  g_array_free (got, TRUE);
}

int
main (void)
{
  static const gchar *const to16[] = { "-r", "16000", "-b", "16", NULL };
  static const gchar *const to44[] =
      { "-r", "44100", "-b", "24", "-c", "2", NULL };
  static const gchar *const to48[] =
      { "-r", "48000", "-e", "floating-point", "-b", "32", NULL };
  static const gchar *const to8[] = { "-r", "8000", "-b", "8", NULL };
  gchar *espeak = g_find_program_in_path ("espeak-ng");
  gchar *sox = g_find_program_in_path ("sox");
  gchar *dir, *speech, *paths[4];
  GArray *ref;

  if (!HAVE_DEFAULT_MODEL || espeak == NULL || sox == NULL) {
    g_print ("SKIP: needs espeak-ng, sox and the built-in model\n");
    return 77;
  }
  dir = g_dir_make_tmp ("beenet-classify-rates-XXXXXX", NULL);
  speech = g_build_filename (dir, "speech.wav", NULL);
  {
    /* a held-out voice (models/kws12-heldout-voices.json) */
    const gchar *argv[] = { espeak, "-v", "en-us+m7", "-g", "40", "-w",
      speech, "yes. no. up. down. left. right. on. off. stop. go.", NULL
    };
    gchar *res = run (argv);

    if (res == NULL)
      g_error ("espeak-ng failed");
    g_free (res);
  }
  paths[0] = convert (dir, speech, "s16.wav", to16);
  paths[1] = convert (dir, speech, "s44.wav", to44);
  paths[2] = convert (dir, speech, "s48.wav", to48);
  paths[3] = convert (dir, speech, "s8.wav", to8);

  ref = classify (paths[0]);
  compare (ref, paths[1], TRUE);
  compare (ref, paths[2], TRUE);
  compare (ref, speech, TRUE);  /* espeak-ng's own 22.05 kHz S16 */
  compare (ref, paths[3], FALSE);
  g_array_free (ref, TRUE);

  for (guint i = 0; i < G_N_ELEMENTS (paths); i++) {
    g_unlink (paths[i]);
    g_free (paths[i]);
  }
  g_unlink (speech);
  g_free (speech);
  g_rmdir (dir);
  g_free (dir);
  g_free (espeak);
  g_free (sox);
  if (failures)
    g_printerr ("%d check(s) failed\n", failures);
  else
    g_print ("all checks passed\n");
  return failures ? 1 : 0;
}
