/* Tests for tools/beenet-classify: runs the built tool (path in
 * $BEENET_CLASSIFY) on generated WAV files.
 *
 * Model: test_models_constant_exits with 3 exits, 2 classes and logits
 * {0,1} {10,0} {0,3}; with --policy entropy --threshold 0.5 every window
 * stops at exit 2 (entropy 0.000499 < 0.5 <= 0.582), label class0,
 * confidence 1/(1+e^-10) = 0.99995.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "test-models.h"

#ifndef HAVE_DEFAULT_MODEL
#define HAVE_DEFAULT_MODEL 0
#endif

static int failures = 0;

#define CHECK(cond) do { if (!(cond)) { \
      g_printerr ("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      failures++; } } while (0)

static const float logits[] = { 0.f, 1.f, 10.f, 0.f, 0.f, 3.f };

static void
put16 (GByteArray * a, guint16 v)
{
  guint8 b[2] = { v & 0xff, v >> 8 };
  g_byte_array_append (a, b, 2);
}

static void
put32 (GByteArray * a, guint32 v)
{
  guint8 b[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };
  g_byte_array_append (a, b, 4);
}

/* A WAV with `frames` frames of a quiet tone; format 1 (PCM16) or 3
 * (float32).  data_size_override != 0 lies about the data chunk size. */
static GByteArray *
make_wav (guint16 format, guint16 bits, guint16 channels, guint32 rate,
    guint32 frames, guint32 data_size_override)
{
  GByteArray *a = g_byte_array_new ();
  guint32 block = channels * bits / 8, data = frames * block, i, c;

  g_byte_array_append (a, (const guint8 *) "RIFF", 4);
  put32 (a, 4 + 8 + 16 + 8 + 8 + 4 + 8 + data);
  g_byte_array_append (a, (const guint8 *) "WAVE", 4);
  /* an unknown chunk before fmt must be skipped */
  g_byte_array_append (a, (const guint8 *) "LIST", 4);
  put32 (a, 4);
  put32 (a, 0);
  g_byte_array_append (a, (const guint8 *) "fmt ", 4);
  put32 (a, 16);
  put16 (a, format);
  put16 (a, channels);
  put32 (a, rate);
  put32 (a, rate * block);
  put16 (a, block);
  put16 (a, bits);
  g_byte_array_append (a, (const guint8 *) "data", 4);
  put32 (a, data_size_override ? data_size_override : data);
  for (i = 0; i < frames; i++) {
    gint16 s = (gint16) ((i % 64) * 40 - 1280);
    for (c = 0; c < channels; c++) {
      if (bits == 16) {
        put16 (a, (guint16) s);
      } else if (bits == 32) {
        gfloat f = s / 32768.0f;
        guint32 u;
        memcpy (&u, &f, 4);
        put32 (a, u);
      } else {
        guint8 b = 128;
        g_byte_array_append (a, &b, 1);
      }
    }
  }
  return a;
}

static gint run (gchar ** out, gchar ** err, ...);

/* A float32 mono WAV of 1 s segments: 'S' silence, 'Q' noise of amplitude
 * 0.01, 'L' noise of amplitude 0.5 (for test_models_level_writer). */
static GByteArray *
make_level_wav_seeded (const gchar * pattern, guint32 state)
{
  guint32 frames = (guint32) strlen (pattern) * 16000, i;
  GByteArray *a = make_wav (3, 32, 1, 16000, frames, 0);
  guint8 *data = a->data + a->len - (gsize) frames * 4;

  for (i = 0; i < frames; i++) {
    gchar c = pattern[i / 16000];
    gfloat f = (c == 'L' ? 0.5f : c == 'Q' ? 0.01f : 0.0f) *
        test_rand_float (&state);
    memcpy (data + 4 * (gsize) i, &f, 4);
  }
  return a;
}

static GByteArray *
make_level_wav (const gchar * pattern)
{
  return make_level_wav_seeded (pattern, 5);
}

/* The detection lines of `out` ("file time keyword score windows"),
 * joined as "time keyword score windows;" for comparison. */
static gchar *
detection_lines (const gchar * out, const gchar * file)
{
  gchar **lines = g_strsplit (out, "\n", -1);
  GString *s = g_string_new (NULL);
  guint i;

  for (i = 0; lines[i]; i++) {
    gchar **f = g_strsplit (lines[i], "\t", -1);
    if (g_strv_length (f) == 5 && g_str_equal (f[0], file))
      g_string_append_printf (s, "%s %s %s %s;", f[1], f[2], f[3], f[4]);
    else if (lines[i][0] != '#' && lines[i][0] != '\0')
      g_string_append_printf (s, "unexpected line: %s;", lines[i]);
    g_strfreev (f);
  }
  g_strfreev (lines);
  return g_string_free (s, FALSE);
}

static void
check_detections (const gchar * expect, const gchar * model,
    const gchar * wav, ...)
{
  const gchar *args[16];
  gchar *out = NULL, *err = NULL, *got;
  const gchar *a;
  va_list ap;
  gint st, n = 0;

  va_start (ap, wav);
  while ((a = va_arg (ap, const gchar *)) != NULL && n < 15)
    args[n++] = a;
  va_end (ap);
  while (n < 15)
    args[n++] = NULL;
  st = run (&out, &err, "--model", model, "--interval", "1000",
      "--detections", wav, args[0], args[1], args[2], args[3], args[4],
      args[5], NULL);
  got = detection_lines (out, wav);
  if (st != 0 || !g_str_equal (got, expect)) {
    g_printerr ("FAIL detections: status %d, got \"%s\", expected \"%s\"\n"
        "%s%s", st, got, expect, out, err);
    failures++;
  }
  g_free (got);
  g_free (out);
  g_free (err);
}

static gchar *
save (const gchar * dir, const gchar * name, const guint8 * data, gsize len)
{
  gchar *path = g_build_filename (dir, name, NULL);
  if (!g_file_set_contents (path, (const gchar *) data, len, NULL))
    g_error ("cannot write %s", path);
  return path;
}

static gchar *
save_wav (const gchar * dir, const gchar * name, GByteArray * a)
{
  gchar *p = save (dir, name, a->data, a->len);
  g_byte_array_unref (a);
  return p;
}

/* Runs the tool; returns its exit status, stdout/stderr in *out / *err. */
static gint
run (gchar ** out, gchar ** err, ...)
{
  GPtrArray *argv = g_ptr_array_new ();
  const gchar *tool = g_getenv ("BEENET_CLASSIFY");
  GError *gerr = NULL;
  gint status = -1;
  const gchar *a;
  va_list ap;

  g_ptr_array_add (argv, (gpointer) tool);
  va_start (ap, err);
  while ((a = va_arg (ap, const gchar *)) != NULL)
    g_ptr_array_add (argv, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_sync (NULL, (gchar **) argv->pdata, NULL, 0, NULL, NULL, out,
          err, &status, &gerr))
    g_error ("cannot run %s: %s", tool, gerr->message);
  g_ptr_array_free (argv, TRUE);
  /* under -Db_sanitize a memory error exits with status 1: catch it */
  if (err && *err && (strstr (*err, "Sanitizer") || strstr (*err,
              "runtime error"))) {
    g_printerr ("FAIL: sanitizer report:\n%s\n", *err);
    failures++;
  }
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  return -1;
}

/* ---- batches: --jobs, directories, --format ------------------------- */

/* The files of `out` in the order their records come, one entry per run
 * of records of the same file ("a;b;c;"); format "tsv", "csv" or
 * "json". */
static gchar *
file_order (const gchar * out, const gchar * format)
{
  gchar **lines = g_strsplit (out, "\n", -1);
  GString *s = g_string_new (NULL);
  gchar *last = g_strdup ("");
  guint i;

  for (i = 0; lines[i]; i++) {
    const gchar *l = lines[i], *p;
    GString *f = g_string_new (NULL);

    if (l[0] == '\0' || l[0] == '#' || (i == 0 && g_str_equal (format,
                "csv"))) {
      g_string_free (f, TRUE);
      continue;
    }
    if (g_str_equal (format, "json")) {
      p = strstr (l, "\"file\":\"");
      for (p = p ? p + 8 : ""; *p && *p != '"'; p++)
        g_string_append_c (f, *p);
    } else if (l[0] == '"') {   /* a quoted CSV field */
      for (p = l + 1; *p && !(p[0] == '"' && p[1] != '"'); p++) {
        g_string_append_c (f, *p);
        if (*p == '"')
          p++;
      }
    } else {
      for (p = l; *p && *p != (g_str_equal (format, "csv") ? ',' : '\t');
          p++)
        g_string_append_c (f, *p);
    }
    if (!g_str_equal (f->str, last)) {
      g_string_append_printf (s, "%s;", f->str);
      g_free (last);
      last = g_strdup (f->str);
    }
    g_string_free (f, TRUE);
  }
  g_free (last);
  g_strfreev (lines);
  return g_string_free (s, FALSE);
}

static guint
count_lines_with (const gchar * out, const gchar * needle)
{
  gchar **lines = g_strsplit (out, "\n", -1);
  guint i, n = 0;

  for (i = 0; lines[i]; i++)
    n += strstr (lines[i], needle) != NULL;
  g_strfreev (lines);
  return n;
}

/* Runs the tool with `jobs` ("" = the default) on the batch; returns its
 * status, output in *out, *err. */
static gint
run_batch (gchar ** out, gchar ** err, const gchar * model,
    const gchar * jobs, const gchar * format, const gchar * extra,
    const gchar * first, const gchar * dir, const gchar * missing)
{
  const gchar *margs[2] = { model ? "--model" : "--interval",
    model ? model : "1000"
  };
  if (*jobs)
    return run (out, err, margs[0], margs[1], "--interval", "1000",
        "--format", format, "--jobs", jobs, first, dir, missing,
        extra, NULL);
  return run (out, err, margs[0], margs[1], "--interval", "1000", "--format",
      format, first, dir, missing, extra, NULL);
}

/* --jobs 2 (and 3, and the default) print exactly what --jobs 1 prints,
 * in input order: first.wav, then the directory's .wav files sorted
 * (notes.txt left out; bad.wav an error that does not stop the rest),
 * then missing.wav (an error). model NULL: the built-in model. */
static void
check_batch (const gchar * tmp, const gchar * model, const gchar * format,
    const gchar * extra)
{
  gchar *dir = g_build_filename (tmp, "batch", NULL);
  gchar *sub = g_build_filename (dir, "sub", "deeper", NULL);
  gchar *first = save_wav (tmp, "first.wav", make_level_wav_seeded ("LQS",
          1));
  gchar *missing = g_build_filename (tmp, "missing.wav", NULL);
  static const struct
  {
    const gchar *name, *pattern;
  } files[] = {
    {"b.wav", "QLLS"}, {"a.wav", "SLQ"}, {"sub/c,x.wav", "LLLLLQ"},
    {"sub/deeper/d.WAV", "QQ"}, {"sub/e.wav", "SSLSL"},
  };
  gchar *out1 = NULL, *err1 = NULL, *order, *expect, *p;
  gboolean json = g_str_equal (format, "json");
  const gchar *jobs[] = { "2", "3", "" };
  guint i;
  gint st;

  g_mkdir_with_parents (sub, 0755);
  for (i = 0; i < G_N_ELEMENTS (files); i++)
    g_free (save_wav (dir, files[i].name,
            make_level_wav_seeded (files[i].pattern, 10 + i)));
  g_free (save (dir, "bad.wav", (const guint8 *) "RIFF\x10\0\0\0WA", 10));
  g_free (save (dir, "notes.txt", (const guint8 *) "not audio", 9));

  st = run_batch (&out1, &err1, model, "1", format, extra, first, dir,
      missing);
  g_print ("batch --format %s %s, --jobs 1: status %d\n%s%s", format,
      extra ? extra : "", st, out1, err1);
  CHECK (st == 1);
  /* the error lines: stderr always, an error record in JSON */
  p = g_strdup_printf ("%s/bad.wav: cannot use this WAV file: not a "
      "RIFF/WAVE file\n", dir);
  CHECK (strstr (err1, p) != NULL);
  g_free (p);
  p = g_strdup_printf ("%s: Failed to open file", missing);
  CHECK (strstr (err1, p) != NULL);
  g_free (p);
  CHECK (count_lines_with (out1, "\"type\":\"error\"") == (json ? 2 : 0));
  CHECK (strstr (out1, "notes.txt") == NULL);
  /* input order: the arguments' order, each directory sorted */
  order = file_order (out1, format);
  if (json) {                   /* with the error records */
    expect = g_strdup_printf ("%s;%s/a.wav;%s/b.wav;%s/bad.wav;"
        "%s/sub/c,x.wav;%s/sub/deeper/d.WAV;%s/sub/e.wav;%s;", first, dir,
        dir, dir, dir, dir, dir, missing);
  } else {
    expect = g_strdup_printf ("%s;%s/a.wav;%s/b.wav;%s/sub/c,x.wav;"
        "%s/sub/deeper/d.WAV;%s/sub/e.wav;", first, dir, dir, dir, dir, dir);
  }
  if (!g_str_equal (order, expect)) {
    g_printerr ("FAIL batch order: got %s, expected %s\n", order, expect);
    failures++;
  }
  g_free (order);
  g_free (expect);

  for (i = 0; i < G_N_ELEMENTS (jobs); i++) {
    gchar *out = NULL, *err = NULL;

    st = run_batch (&out, &err, model, jobs[i], format, extra, first, dir,
        missing);
    CHECK (st == 1);
    if (!g_str_equal (out, out1) || !g_str_equal (err, err1)) {
      g_printerr ("FAIL --jobs %s differs from --jobs 1 (--format %s):\n"
          "%s%s", jobs[i], format, out, err);
      failures++;
    }
    g_free (out);
    g_free (err);
  }
  g_free (out1);
  g_free (err1);
  {
    gchar *cmd[] = { (gchar *) "rm", (gchar *) "-rf", dir, NULL };
    g_spawn_sync (NULL, cmd, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
        NULL, NULL, NULL);
  }
  g_unlink (first);
  g_free (first);
  g_free (missing);
  g_free (sub);
  g_free (dir);
}

/* The record formats on one file. */
static void
check_formats (const gchar * tmp, const gchar * model)
{
  gchar *wav = save_wav (tmp, "fmt.wav", make_level_wav ("SL"));
  gchar *out = NULL, *err = NULL, *p;
  gint st;

  st = run (&out, &err, "--model", model, "--interval", "1000", "--format",
      "csv", wav, NULL);
  CHECK (st == 0);
  CHECK (g_str_has_prefix (out, "file,start,duration,label,confidence,"
          "entropy,exit,num_exits,ops_fraction\n"));
  p = g_strdup_printf ("%s,1.000,1.000,yes,1.0000,0.0000,1,1,1.0000\n", wav);
  CHECK (strstr (out, p) != NULL);
  g_free (p);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  st = run (&out, &err, "--model", model, "--interval", "1000", "--format",
      "json", "--all-exits", wav, NULL);
  CHECK (st == 0);
  p = g_strdup_printf ("{\"type\":\"window\",\"file\":\"%s\",\"start\":1.000,"
      "\"duration\":1.000,\"label\":\"yes\",\"confidence\":1.0000,"
      "\"entropy\":0.0000,\"exit\":1,\"num_exits\":1,"
      "\"ops_fraction\":1.0000}\n{\"type\":\"exit\",\"file\":\"%s\","
      "\"start\":1.000,\"exit\":1,\"label\":\"yes\"", wav, wav);
  CHECK (strstr (out, p) != NULL);
  g_free (p);
  CHECK (out[0] == '{');        /* no header in JSON lines */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* bad batch options: status 2 */
  {
    static const gchar *const bad[][3] = {
      {"--jobs", "-1", "--jobs"}, {"--jobs", "5000", "--jobs"},
      {"--format", "xml", "--format"}, {"--all-exits", "--format=csv",
          "--all-exits"},
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS (bad); i++) {
      st = run (&out, &err, "--model", model, bad[i][0], bad[i][1], wav,
          NULL);
      CHECK (st == 2);
      CHECK (strstr (err, bad[i][2]) != NULL);
      g_clear_pointer (&out, g_free);
      g_clear_pointer (&err, g_free);
    }
  }
  g_unlink (wav);
  g_free (wav);
}

/* Window lines of `file` whose label and exit/num-exits fields are the
 * given ones. */
static guint
count_exit_lines (const gchar * out, const gchar * file, const gchar * label,
    const gchar * exit_field)
{
  gchar **lines = g_strsplit (out, "\n", -1);
  guint i, n = 0;

  for (i = 0; lines[i]; i++) {
    gchar **f = g_strsplit (lines[i], "\t", -1);
    if (g_strv_length (f) == 8 && g_str_equal (f[0], file) &&
        g_str_equal (f[3], label) && g_str_equal (f[6], exit_field))
      n++;
    g_strfreev (f);
  }
  g_strfreev (lines);
  return n;
}

static guint
count_window_lines (const gchar * out, const gchar * file)
{
  gchar **lines = g_strsplit (out, "\n", -1);
  guint i, n = 0;

  for (i = 0; lines[i]; i++) {
    gchar **f = g_strsplit (lines[i], "\t", -1);
    if (g_strv_length (f) == 8 && g_str_equal (f[0], file) &&
        g_str_equal (f[3], "class0") && g_str_equal (f[6], "2/3") &&
        g_str_equal (f[4], "1.0000") && g_str_equal (f[5], "0.0005"))
      n++;
    g_strfreev (f);
  }
  g_strfreev (lines);
  return n;
}

int
main (void)
{
  gchar *dir, *model, *mono16, *stereo32, *out = NULL, *err = NULL;
  gchar *p;
  size_t size = 0;
  guint8 *bytes;
  gint st;

  if (g_getenv ("BEENET_CLASSIFY") == NULL) {
    g_printerr ("BEENET_CLASSIFY is not set (run through meson test)\n");
    return 1;
  }
  dir = g_dir_make_tmp ("beenet-classify-XXXXXX", NULL);
  bytes = test_models_constant_exits (3, 2, logits, &size);
  model = save (dir, "model.gguf", bytes, size);
  free (bytes);

  /* 2.5 s at 500 ms: windows at 0, 0.5, 1, 1.5 (full) and 2.0 (0.5 s of
   * audio, zero-padded) = 5 lines */
  mono16 = save_wav (dir, "mono16.wav", make_wav (1, 16, 1, 16000, 40000, 0));
  stereo32 = save_wav (dir, "stereo32.wav", make_wav (3, 32, 2, 16000, 40000,
          0));
  st = run (&out, &err, "--model", model, "--policy", "entropy",
      "--threshold", "0.5", "--interval", "500", mono16, stereo32, NULL);
  g_print ("%s%s", out, err);
  CHECK (st == 0);
  CHECK (count_window_lines (out, mono16) == 5);
  CHECK (count_window_lines (out, stereo32) == 5);
  CHECK (strstr (out, "\t2.000\t0.500\tclass0\t") != NULL);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* --all-exits: one extra line per exit and window */
  st = run (&out, &err, "--model", model, "--threshold", "0.5",
      "--interval", "1000", "--all-exits", mono16, NULL);
  CHECK (st == 0);
  CHECK (strstr (out, "\texit\t1\tclass1\t0.7311\t0.5822") != NULL);
  CHECK (strstr (out, "\texit\t3\tclass1\t0.9526\t0.1909") != NULL);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* --detections (level model, 1 s windows): one line per keyword burst,
   * the built-in parameters (threshold 0.7, smoothing 500 ms = the latest
   * window, refractory 1 s) or the options */
  {
    static const char *const labels[4] = { "_silence_", "_unknown_", "yes",
      "no"
    };
    GgufWriter *w = test_models_level_writer (labels);
    gchar *lmodel, *bursts, *lq, *sls;

    bytes = gguf_writer_serialize (w, &size);
    gguf_writer_free (w);
    lmodel = save (dir, "level.gguf", bytes, size);
    free (bytes);
    bursts = save_wav (dir, "bursts.wav", make_level_wav ("SSLLSSLSQSSQQS"));
    lq = save_wav (dir, "lq.wav", make_level_wav ("LQSS"));
    sls = save_wav (dir, "sls.wav", make_level_wav ("SLS"));

    check_detections ("2.000 yes 1.0000 1;6.000 yes 1.0000 1;"
        "8.000 no 1.0000 1;11.000 no 1.0000 1;", lmodel, bursts, NULL);
    check_detections ("0.000 yes 1.0000 1;1.000 no 1.0000 1;", lmodel, lq,
        NULL);
    check_detections ("0.000 yes 1.0000 1;", lmodel, lq, "--refractory",
        "1500", NULL);
    check_detections ("", lmodel, sls, "--smoothing", "1000", NULL);
    check_detections ("1.000 yes 0.5000 2;", lmodel, sls, "--smoothing",
        "1000", "--detection-threshold", "0.5", NULL);

    /* out-of-range options: exit status 2 naming the parameter */
    {
      static const gchar *const bad[][2] = {
        {"--detection-threshold", "0"}, {"--detection-threshold", "1.5"},
        {"--smoothing", "-5"}, {"--smoothing", "20000"},
        {"--refractory", "70000"},
      };
      guint i;

      for (i = 0; i < G_N_ELEMENTS (bad); i++) {
        st = run (&out, &err, "--model", lmodel, "--detections", bad[i][0],
            bad[i][1], sls, NULL);
        CHECK (st == 2);
        CHECK (strstr (err, "Invalid detection option") != NULL);
        CHECK (strstr (err, bad[i][0] + 2) != NULL ||
            strstr (err, bad[i][0][2] == 's' ? "smoothing_ms" :
                bad[i][0][2] == 'r' ? "refractory_ms" : "threshold"));
        g_clear_pointer (&out, g_free);
        g_clear_pointer (&err, g_free);
      }
    }
    /* --energy-gate: digital silence is _silence_ at exit 0, cost 0; the
     * loud second is classified */
    st = run (&out, &err, "--model", lmodel, "--interval", "1000",
        "--energy-gate", "-60", sls, NULL);
    CHECK (st == 0);
    CHECK (count_exit_lines (out, sls, "_silence_", "0/1") == 2);
    CHECK (count_exit_lines (out, sls, "yes", "1/1") == 1);
    CHECK (strstr (out, "\t0/1\t0.0000\n") != NULL);
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
    /* --segment: one line per segment (gated windows counted) and a total */
    st = run (&out, &err, "--model", lmodel, "--interval", "1000",
        "--energy-gate", "-60", "--segment", "10", sls, NULL);
    CHECK (st == 0);
    p = g_strdup_printf ("%s\t0.0\t3\t", sls);
    CHECK (strstr (out, p) != NULL);
    g_free (p);
    p = g_strdup_printf ("%s\ttotal\t3\t", sls);
    CHECK (strstr (out, p) != NULL && g_str_has_suffix (out, "\t2\n"));
    g_free (p);
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
    /* batches: the same results whatever --jobs, in input order */
    check_formats (dir, lmodel);
    check_batch (dir, lmodel, "tsv", NULL);
    check_batch (dir, lmodel, "csv", NULL);
    check_batch (dir, lmodel, "json", NULL);
    check_batch (dir, lmodel, "tsv", "--detections");
    check_batch (dir, lmodel, "json", "--segment=2");
    /* the real network (a budget controller per worker) */
    if (HAVE_DEFAULT_MODEL)
      check_batch (dir, NULL, "tsv", "--budget=0.5");
    g_free (lmodel);
    g_free (bursts);
    g_free (lq);
    g_free (sls);
  }

  /* --budget: the controller runs (its threshold at the segment end is
   * not the option's); bad budget options exit with status 2 */
  st = run (&out, &err, "--model", model, "--threshold", "0.5", "--budget",
      "0.5", "--budget-at", "1:0.9", "--segment", "100", mono16, NULL);
  CHECK (st == 0);
  p = g_strdup_printf ("%s\ttotal\t5\t", mono16);
  CHECK (strstr (out, p) != NULL);
  g_free (p);
  CHECK (strstr (out, "\t0.5000\t0.00\t0\n") == NULL);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  {
    static const gchar *const bad[][2] = {
      {"--budget", "0"}, {"--budget", "1.5"}, {"--budget-at", "x"},
      {"--budget-at", "1:0"}, {"--budget-gain", "1000"},
      {"--energy-gate", "nan"},
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS (bad); i++) {
      st = run (&out, &err, "--model", model, bad[i][0], bad[i][1], mono16,
          NULL);
      CHECK (st == 2);
      CHECK (strstr (err, bad[i][0]) != NULL);
      g_clear_pointer (&out, g_free);
      g_clear_pointer (&err, g_free);
    }
  }

  /* --describe */
  st = run (&out, &err, "--model", model, "--describe", NULL);
  CHECK (st == 0);
  CHECK (strstr (out, "class0") != NULL && strstr (out, "class1") != NULL);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* malformed / unsupported WAVs: clear message, exit status 1 */
  {
    static const struct
    {
      const gchar *name;
      const gchar *expect;
    } bad[] = {
      {"short.wav", "not a RIFF/WAVE file"},
      {"rate.wav", "sample rate 500 Hz is out of range"},
      {"pcm12.wav", "unsupported sample format (format tag 1, 12 bits)"},
      {"nodata.wav", "no data chunk"},
      {"hugefmt.wav", "malformed fmt chunk"},
    };
    GByteArray *a;
    guint i;

    p = save (dir, bad[0].name, (const guint8 *) "RIFF\x10\0\0\0WA", 10);
    g_free (p);
    p = save_wav (dir, bad[1].name, make_wav (1, 16, 1, 500, 100, 0));
    g_free (p);
    p = save_wav (dir, bad[2].name, make_wav (1, 12, 1, 16000, 100, 0));
    g_free (p);
    a = make_wav (1, 16, 1, 16000, 100, 0);
    g_byte_array_set_size (a, 12 + 12 + 8 + 16);        /* cut before data */
    p = save_wav (dir, bad[3].name, a);
    g_free (p);
    a = make_wav (1, 16, 1, 16000, 100, 0);
    a->data[12 + 12 + 4] = 0xff;        /* fmt size 255: past the end? no: */
    a->data[12 + 12 + 5] = 0xff;        /* 65535 > file size */
    p = save_wav (dir, bad[4].name, a);
    g_free (p);

    for (i = 0; i < G_N_ELEMENTS (bad); i++) {
      gchar *path = g_build_filename (dir, bad[i].name, NULL);
      st = run (&out, &err, "--model", model, path, NULL);
      g_print ("%s: status %d: %s", bad[i].name, st, err);
      CHECK (st == 1);
      CHECK (strstr (err, bad[i].expect) != NULL);
      g_clear_pointer (&out, g_free);
      g_clear_pointer (&err, g_free);
      g_free (path);
    }
  }

  /* every truncation of the first 80 bytes and single-byte corruptions of
   * the header: a clean exit (0 or 1), never a crash */
  {
    GByteArray *good = make_wav (1, 16, 1, 16000, 200, 0);
    gchar *path = g_build_filename (dir, "fuzz.wav", NULL);
    guint len, pos;

    for (len = 0; len <= 80; len += 3) {
      g_file_set_contents (path, (const gchar *) good->data, len, NULL);
      st = run (&out, &err, "--model", model, path, NULL);
      CHECK (st == 0 || st == 1);
      g_clear_pointer (&out, g_free);
      g_clear_pointer (&err, g_free);
    }
    for (pos = 4; pos < 56; pos += 2) {
      GByteArray *bad = g_byte_array_new ();
      g_byte_array_append (bad, good->data, good->len);
      bad->data[pos] ^= 0xa5;
      g_file_set_contents (path, (const gchar *) bad->data, bad->len, NULL);
      st = run (&out, &err, "--model", model, path, NULL);
      CHECK (st == 0 || st == 1);
      g_clear_pointer (&out, g_free);
      g_clear_pointer (&err, g_free);
      g_byte_array_unref (bad);
    }
    g_byte_array_unref (good);
    g_free (path);
  }

  /* a data chunk claiming more bytes than present is clamped */
  p = save_wav (dir, "streamed.wav", make_wav (1, 16, 1, 16000, 16000,
          0x7fffffff));
  st = run (&out, &err, "--model", model, "--threshold", "0.5",
      "--interval", "1000", p, NULL);
  CHECK (st == 0);
  CHECK (count_window_lines (out, p) == 1);
  CHECK (strstr (err, "warning") != NULL);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_unlink (p);
  g_free (p);

  /* missing model and bad option values */
  st = run (&out, &err, "--model", "/nonexistent/m.gguf", mono16, NULL);
  CHECK (st == 1);
  CHECK (strstr (err, "/nonexistent/m.gguf") != NULL);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  st = run (&out, &err, "--model", model, "--policy", "bogus", mono16, NULL);
  CHECK (st == 2);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  /* --policy patience (argmax class1, class0, class1 at exits 1..3): no
   * threshold needed; K=1 stops at exit 1, K=2 never before the last
   * exit, --max-exit caps it; 2.5 s at 1000 ms = 3 windows */
  {
    static const struct
    {
      const gchar *patience, *max_exit, *label, *exit;
    } cases[] = {
      {"1", "0", "class1", "1/3"},
      {"2", "0", "class1", "3/3"},
      {"2", "2", "class0", "2/3"},
      {"5", "9", "class1", "3/3"},      /* beyond the exits: no limit */
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS (cases); i++) {
      st = run (&out, &err, "--model", model, "--policy", "patience",
          "--patience", cases[i].patience, "--max-exit", cases[i].max_exit,
          "--interval", "1000", mono16, NULL);
      CHECK (st == 0);
      CHECK (count_exit_lines (out, mono16, cases[i].label,
              cases[i].exit) == 3);
      g_clear_pointer (&out, g_free);
      g_clear_pointer (&err, g_free);
    }
  }
  /* --max-exit applies to the model's own policy (entropy 0.0001 would run
   * to exit 3) */
  st = run (&out, &err, "--model", model, "--threshold", "0.0001",
      "--max-exit", "1", "--interval", "1000", mono16, NULL);
  CHECK (st == 0);
  CHECK (count_exit_lines (out, mono16, "class1", "1/3") == 3);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  /* invalid policy parameters: the engine's messages, status 2 */
  st = run (&out, &err, "--model", model, "--policy", "patience",
      "--patience", "0", mono16, NULL);
  CHECK (st == 2);
  CHECK (strstr (err, "patience must be >= 1") != NULL);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  st = run (&out, &err, "--model", model, "--max-exit", "-3", mono16, NULL);
  CHECK (st == 2);
  CHECK (strstr (err, "--max-exit") != NULL);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  st = run (&out, &err, "--model", model, "--policy", "max_probability",
      mono16, NULL);
  CHECK (st == 2);
  /* the valid names come from the engine's table */
  CHECK (strstr (err, "\"max-probability\"") != NULL);
  CHECK (strstr (err, "\"patience\"") != NULL);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  st = run (&out, &err, "--help", NULL);
  CHECK (st == 0);
  CHECK (strstr (out, "entropy, max-probability, patience, "
          "class-exclusion or eenet") != NULL);
  CHECK (strstr (out, "--classes-remaining") != NULL);
  CHECK (strstr (out, "--max-exit") != NULL);
  CHECK (strstr (out, "--patience") != NULL);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* class-exclusion: the model has no factors, so the tool refuses it
   * before reading audio, naming the missing key */
  st = run (&out, &err, "--model", model, "--policy", "class-exclusion",
      "--threshold", "1", mono16, NULL);
  CHECK (st == 2);
  CHECK (strstr (err, "beenet.class_exclusion.factors") != NULL);
  CHECK (count_window_lines (out, mono16) == 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  /* eenet: no scheduler in the model, refused the same way */
  st = run (&out, &err, "--model", model, "--policy", "eenet", "--budget",
      "0.5", mono16, NULL);
  CHECK (st == 2);
  CHECK (strstr (err, "beenet.eenet") != NULL);
  CHECK (count_window_lines (out, mono16) == 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  /* with factors e^-2, e^-0.5, 0 (margins 2, 0.5): exit 1 {0, 1} keeps both
   * classes, exit 2 {10, 0} excludes class 1: stop at exit 2, class 0,
   * certain; --classes-remaining prints "2,1" */
  {
    static const float factors[3] = { 0.13533528f, 0.60653066f, 0.0f };
    GgufWriter *w = test_models_constant_exits_writer (3, 2, logits);
    gchar *ce_model;

    gguf_writer_add_array_f32 (w, "beenet.class_exclusion.factors", factors,
        3);
    bytes = gguf_writer_serialize (w, &size);
    gguf_writer_free (w);
    ce_model = save (dir, "ce.gguf", bytes, size);
    free (bytes);
    st = run (&out, &err, "--model", ce_model, "--policy", "class-exclusion",
        "--threshold", "1", "--interval", "1000", "--classes-remaining",
        mono16, NULL);
    CHECK (st == 0);
    {
      /* the header names the column; three windows (0, 1 and 2 s), each
       * stopped the same way */
      gchar **lines = g_strsplit (out, "\n", -1);
      guint i;
      CHECK (g_strv_length (lines) == 5);
      CHECK (g_str_has_suffix (lines[0], "\tops-fraction\tclasses-remaining"));
      for (i = 1; lines[i] && lines[i][0]; i++) {
        CHECK (strstr (lines[i], "\tclass0\t1.0000\t0.0000\t2/3\t") != NULL);
        CHECK (g_str_has_suffix (lines[i], "\t2,1"));
      }
      g_strfreev (lines);
    }
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
    /* margin scale 0.4: exit 1 already excludes class 0 */
    st = run (&out, &err, "--model", ce_model, "--policy", "class-exclusion",
        "--threshold", "0.4", "--interval", "1000", "--classes-remaining",
        mono16, NULL);
    CHECK (st == 0);
    CHECK (strstr (out, "\tclass1\t1.0000\t0.0000\t1/3\t") != NULL);
    CHECK (g_str_has_suffix (out, "\t1\n"));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
    g_free (ce_model);
  }

  /* the test model recommends "entropy": another policy needs a threshold */
  st = run (&out, &err, "--model", model, "--policy", "max-probability",
      mono16, NULL);
  CHECK (st == 2);
  CHECK (strstr (err, "--threshold is required") != NULL);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  {
    gchar *cmd[] = { (gchar *) "rm", (gchar *) "-rf", dir, NULL };
    g_spawn_sync (NULL, cmd, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
        NULL, NULL, NULL);
  }
  g_free (mono16);
  g_free (stereo32);
  g_free (model);
  g_free (dir);
  if (failures)
    g_printerr ("%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
