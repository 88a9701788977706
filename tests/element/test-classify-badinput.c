/* beenet-classify under bad input (issue 12, the bad-input table of
 * docs/reliability.md): NaN/Inf, denormal, full-scale and out-of-range
 * samples, a WAV without samples, a 10-minute WAV, a truncated and a
 * hostile model; WAV headers at other rates, sample formats and channel
 * counts (read and converted), and ones it refuses (rate, channels, sample
 * format, block alignment: exit status 1 and the reason).  Runs the tool built by meson ($BEENET_CLASSIFY).
 * Copyright (C) 2026 gst-beenet authors, LGPL-2.1-or-later */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "test-models.h"

static gint failures = 0;

#define CHECK(cond) do { if (!(cond)) { \
      g_printerr ("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      failures++; } } while (0)

#define RATE 16000

static void
put (GByteArray * a, guint32 v, guint bytes)
{
  for (guint i = 0; i < bytes; i++) {
    guint8 b = (v >> (8 * i)) & 0xff;
    g_byte_array_append (a, &b, 1);
  }
}

/* The RIFF/WAVE header with a 16-byte fmt chunk, up to the data chunk's
 * size (`bytes` of data follow). */
static void
put_wav_header (GByteArray * a, guint16 tag, guint16 bits, guint16 channels,
    guint32 rate, guint16 align, guint32 bytes)
{
  g_byte_array_append (a, (const guint8 *) "RIFF", 4);
  put (a, 4 + 8 + 16 + 8 + bytes, 4);
  g_byte_array_append (a, (const guint8 *) "WAVEfmt ", 8);
  put (a, 16, 4);
  put (a, tag, 2);
  put (a, channels, 2);
  put (a, rate, 4);
  put (a, rate * align, 4);
  put (a, align, 2);
  put (a, bits, 2);
  g_byte_array_append (a, (const guint8 *) "data", 4);
  put (a, bytes, 4);
}

/* Writes a to dir/name, frees it and returns the path. */
static gchar *
write_bytes (const gchar * dir, const gchar * name, GByteArray * a)
{
  gchar *path = g_build_filename (dir, name, NULL);

  if (!g_file_set_contents (path, (const gchar *) a->data, a->len, NULL))
    g_error ("cannot write %s", path);
  g_byte_array_unref (a);
  return path;
}

/* A mono WAV at 16 kHz: format 1 (PCM16, `samples` as int16) or 3
 * (float32); `frames` frames. */
static gchar *
write_wav (const gchar * dir, const gchar * name, guint16 format,
    const void *samples, guint32 frames)
{
  guint16 bits = format == 3 ? 32 : 16;
  guint32 data = frames * bits / 8;
  GByteArray *a = g_byte_array_new ();

  put_wav_header (a, format, bits, 1, RATE, bits / 8, data);
  if (data)
    g_byte_array_append (a, samples, data);     /* little-endian host */
  return write_bytes (dir, name, a);
}

/* A WAV with an arbitrary fmt chunk and `bytes` bytes of a ramp (a valid
 * sample pattern in every format, 0 for 64-bit float). */
static gchar *
write_wav_fmt (const gchar * dir, const gchar * name, guint16 tag,
    guint16 bits, guint16 channels, guint32 rate, guint16 align, guint32 bytes)
{
  GByteArray *a = g_byte_array_new ();

  put_wav_header (a, tag, bits, channels, rate, align, bytes);
  for (guint32 i = 0; i < bytes; i++) {
    guint8 b = tag == 3 ? 0 : (guint8) (i * 7);
    g_byte_array_append (a, &b, 1);
  }
  return write_bytes (dir, name, a);
}

static gint
run (gchar ** out, gchar ** err, const gchar * model, const gchar * wav)
{
  const gchar *argv[] = { g_getenv ("BEENET_CLASSIFY"), "--model", model,
    wav, NULL
  };
  GError *gerr = NULL;
  gint status = -1;

  if (argv[0] == NULL)
    g_error ("BEENET_CLASSIFY is not set (run through meson test)");
  if (!g_spawn_sync (NULL, (gchar **) argv, NULL, 0, NULL, NULL, out, err,
          &status, &gerr))
    g_error ("cannot run %s: %s", argv[0], gerr->message);
  if (*err && (strstr (*err, "Sanitizer") || strstr (*err, "runtime error")))
    CHECK (!"sanitizer report");
  g_print ("%s: status %d, %u bytes of output; stderr: %s\n", wav,
      WIFEXITED (status) ? WEXITSTATUS (status) : -1, (guint) strlen (*out),
      *err);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

/* Window lines; each must have finite numbers.  first_start: the start
 * column of the first line (-1: any). */
static guint
window_lines (const gchar * out, gdouble first_start)
{
  gchar **lines = g_strsplit (out, "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i]; i++) {
    gchar **f = g_strsplit (lines[i], "\t", -1);

    if (g_strv_length (f) == 8 && lines[i][0] != '#') {
      gdouble start = g_ascii_strtod (f[1], NULL);
      gdouble conf = g_ascii_strtod (f[4], NULL);
      gdouble entropy = g_ascii_strtod (f[5], NULL);

      CHECK (isfinite (conf) && conf >= 0 && conf <= 1);
      CHECK (isfinite (entropy) && entropy >= 0);
      /* windows every 500 ms, in order */
      if (first_start >= 0)
        CHECK (fabs (start - (first_start + 0.5 * n)) < 1e-6);
      n++;
    }
    g_strfreev (f);
  }
  g_strfreev (lines);
  return n;
}

static gchar *
temp_file (const gchar * dir, const gchar * name, const guint8 * b, gsize n)
{
  gchar *path = g_build_filename (dir, name, NULL);

  if (!g_file_set_contents (path, (const gchar *) b, n, NULL))
    g_error ("cannot write %s", path);
  return path;
}

/* 2 s of float samples: windows at 0, 0.5, 1.0 and the padded 1.5 */
static void
check_float (const gchar * dir, const gchar * model, const gchar * name,
    gfloat value, gboolean alternate, guint expect_lines, gdouble first,
    const gchar * expect_err)
{
  gfloat *s = g_new (gfloat, 2 * RATE);
  gchar *wav, *out = NULL, *err = NULL;

  for (guint i = 0; i < 2 * RATE; i++)
    s[i] = alternate && (i / 20) % 2 ? -value : value;
  wav = write_wav (dir, name, 3, s, 2 * RATE);
  CHECK (run (&out, &err, model, wav) == 0);
  CHECK (window_lines (out, first) == expect_lines);
  CHECK (expect_err ? strstr (err, expect_err) != NULL : err[0] == '\0');
  g_free (out);
  g_free (err);
  g_unlink (wav);
  g_free (wav);
  g_free (s);
}

/* Other rates, formats and channel counts: 2 s of audio are read and
 * resampled (windows at 0, 0.5, 1.0 and the padded 1.5 s); bad fmt chunks
 * are refused with their reason. */
static void
check_formats (const gchar * dir, const gchar * model)
{
  static const struct
  {
    guint16 tag, bits, channels;
    guint32 rate;
    gint16 align;               /* -1 = the right one */
    const gchar *err;           /* NULL = classified */
  } cases[] = {
    {1, 8, 2, 44100, -1, NULL},
    {1, 24, 8, 48000, -1, NULL},
    {1, 32, 1, 96000, -1, NULL},
    {3, 64, 3, 22050, -1, NULL},
    {1, 16, 1, 8000, -1, NULL},
    {1, 16, 1, 0, -1, "sample rate 0 Hz is out of range (1000 to 768000 Hz)"},
    {1, 16, 1, 800000, -1, "sample rate 800000 Hz is out of range"},
    {1, 16, 65, 16000, -1, "65 channels: 1 to 64 are supported"},
    {6, 8, 1, 8000, -1, "unsupported sample format (format tag 6, 8 bits)"},
    {1, 12, 1, 16000, 2, "unsupported sample format (format tag 1, 12 bits)"},
    {3, 16, 1, 16000, -1, "unsupported sample format (format tag 3, 16 bits)"},
    {1, 24, 2, 16000, 8, "inconsistent block alignment 8 for 2 channels"},
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    guint16 align = cases[i].align >= 0 ? (guint16) cases[i].align :
        (guint16) (cases[i].channels * cases[i].bits / 8);
    gchar *name = g_strdup_printf ("fmt%u.wav", i);
    gchar *wav = write_wav_fmt (dir, name, cases[i].tag, cases[i].bits,
        cases[i].channels, cases[i].rate, align, 2 * cases[i].rate * align);
    gchar *out = NULL, *err = NULL;
    gint status = run (&out, &err, model, wav);

    if (cases[i].err == NULL) {
      CHECK (status == 0);
      CHECK (window_lines (out, 0.0) == 4);
      CHECK (err[0] == '\0');
    } else {
      CHECK (status == 1);
      CHECK (window_lines (out, -1) == 0);
      CHECK (strstr (err, "cannot use this WAV file") != NULL);
      CHECK (strstr (err, cases[i].err) != NULL);
    }
    g_free (out);
    g_free (err);
    g_unlink (wav);
    g_free (wav);
    g_free (name);
  }
}

/* fuzz-wav's crash (heap over-read of 1 byte): a float WAV whose data
 * chunk, the last bytes of the file, claims 1.4 GB and holds none.  Read
 * as empty, with the truncation warning; under ASan the tool aborts if the
 * reader touches a byte past the file. */
static void
check_empty_data_at_end (const gchar * dir, const gchar * model)
{
  static const gchar b64[] =
      "UklGRnIAAABXQVZFZm10IBAAAAADAAEAgFsAAAD6AAAEACAATElTVAUAAABJTkZPeABkYXRhQABAUg==";
  gsize n = 0;
  guchar *bytes = g_base64_decode (b64, &n);
  gchar *wav = temp_file (dir, "empty-data-at-end.wav", bytes, n);
  gchar *out = NULL, *err = NULL;

  CHECK (run (&out, &err, model, wav) == 0);
  CHECK (window_lines (out, -1) == 0);
  CHECK (strstr (err, "only 0 are present") != NULL);
  CHECK (strstr (err, "AddressSanitizer") == NULL);
  g_free (out);
  g_free (err);
  g_unlink (wav);
  g_free (wav);
  g_free (bytes);
}

int
main (void)
{
  gchar *dir = g_dir_make_tmp ("beenet-badinput-XXXXXX", NULL);
  size_t size = 0;
  guint8 *bytes = test_models_realistic (3, &size);
  gchar *model = temp_file (dir, "model.gguf", bytes, size);
  gchar *out = NULL, *err = NULL, *wav, *bad;

  /* NaN / Inf: the windows holding them are skipped, with a warning */
  {
    gfloat *s = g_new0 (gfloat, 2 * RATE);

    s[100] = NAN;
    s[2 * RATE - 1] = INFINITY;
    wav = write_wav (dir, "nan.wav", 3, s, 2 * RATE);
    CHECK (run (&out, &err, model, wav) == 0);
    /* 0 s (NaN) and 1.0 / 1.5 s (Inf) skipped, 0.5 s classified */
    CHECK (window_lines (out, 0.5) == 1);
    CHECK (strstr (err, "3 window(s) with NaN or infinite samples") != NULL);
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
    g_unlink (wav);
    g_free (wav);
    g_free (s);
  }

  /* denormals, full scale, far beyond full scale: classified; samples so
   * large that the Mel energy overflows (FLT_MAX) are skipped like NaN */
  check_float (dir, model, "denormal.wav", 1e-40f, TRUE, 4, 0.0, NULL);
  check_float (dir, model, "fullscale.wav", 1.0f, TRUE, 4, 0.0, NULL);
  check_float (dir, model, "big.wav", 1e6f, TRUE, 4, 0.0, NULL);
  check_float (dir, model, "fltmax.wav", FLT_MAX, TRUE, 0, 0.0,
      "4 window(s) with NaN or infinite samples (or samples too large");
  {
    gint16 *s = g_new (gint16, 2 * RATE);

    for (guint i = 0; i < 2 * RATE; i++)
      s[i] = (i / 20) % 2 ? G_MININT16 : G_MAXINT16;
    wav = write_wav (dir, "clip16.wav", 1, s, 2 * RATE);
    CHECK (run (&out, &err, model, wav) == 0);
    CHECK (window_lines (out, 0.0) == 4);
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
    g_unlink (wav);
    g_free (wav);
    g_free (s);
  }

  check_formats (dir, model);
  check_empty_data_at_end (dir, model);

  /* no samples at all: nothing to classify, not an error */
  wav = write_wav (dir, "empty.wav", 1, NULL, 0);
  CHECK (run (&out, &err, model, wav) == 0);
  CHECK (window_lines (out, -1) == 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_unlink (wav);
  g_free (wav);

  /* 10 minutes: windows 0 .. 599 s and the padded 599.5 s */
  {
    gint16 *s = g_new (gint16, 600 * RATE);

    for (guint i = 0; i < 600 * RATE; i++)
      s[i] = (gint16) (8000 * sin (i * 0.07));
    wav = write_wav (dir, "long.wav", 1, s, 600 * RATE);
    CHECK (run (&out, &err, model, wav) == 0);
    CHECK (window_lines (out, 0.0) == 1200);
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
    g_free (s);
  }

  /* truncated and hostile models: exit status 1, the file named */
  bad = temp_file (dir, "cut.gguf", bytes, size / 2);
  CHECK (run (&out, &err, bad, wav) == 1);
  CHECK (strstr (err, bad) != NULL && strstr (err, "truncated") != NULL);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_unlink (bad);
  g_free (bad);
  {
    static const float logits[] = { 0.f, 1.f, 10.f, 0.f };
    GgufWriter *w = test_models_constant_exits_writer (2, 2, logits);
    guint8 *b;
    size_t n = 0;

    gguf_writer_replace_u32 (w, "beenet.node.0.out_channels", 60000);
    b = gguf_writer_serialize (w, &n);
    gguf_writer_free (w);
    bad = temp_file (dir, "huge.gguf", b, n);
    free (b);
    CHECK (run (&out, &err, bad, wav) == 1);
    CHECK (strstr (err, bad) != NULL);
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
    g_unlink (bad);
    g_free (bad);
  }

  g_unlink (wav);
  g_free (wav);
  g_unlink (model);
  g_free (model);
  g_rmdir (dir);
  g_free (dir);
  free (bytes);
  if (failures)
    g_printerr ("%d check(s) failed\n", failures);
  else
    g_print ("all checks passed\n");
  return failures ? 1 : 0;
}
