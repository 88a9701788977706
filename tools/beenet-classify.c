/* beenet-classify: classify WAV files with a beenet model, window by window.
 *
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 *
 * Uses only the engine (libbeenet), GLib and the windowing helper shared
 * with the `beenet` element, so its windows are exactly the element's:
 * window k starts at k * interval, a trailing window with at least half a
 * window of audio is zero-padded and classified.
 *
 *   beenet-classify [--model FILE] [--threshold T]
 *                   [--policy NAME] [--patience K] [--max-exit N]
 *                   [--keyword-exit N]
 *                   [--interval MS] [--refine-level L]
 *                   [--describe] [--all-exits] [--classes-remaining]
 *                   [--detections [--detection-threshold P] [--smoothing MS]
 *                    [--refractory MS]]
 *                   [--jobs N] [--format tsv|csv|json] FILE.wav|DIR...
 *
 * Policy names, their descriptions and defaults come from the engine's
 * policy table (beenet_policy_*); --help lists them.
 *
 * Output (tab separated by default, one line per window):
 *   file  start(s)  duration(s)  label  confidence  entropy  exit/num-exits
 *   ops-fraction
 * With --classes-remaining the window line has one more column: the
 * number of candidate classes after each exit that ran, comma-separated
 * (BeenetResult.classes_remaining; only class-exclusion narrows them).
 * With --all-exits each window line is followed by one line per exit:
 *   file  start  "exit"  N  label  confidence  entropy
 * With --detections, instead, one line per detected keyword (the engine's
 * BeenetDetector, as the element's beenet-detection messages; reset for
 * each file):
 *   file  time(s)  keyword  score  windows
 * --format csv / json writes the same records as CSV or JSON lines
 * (classify-output.c).
 *
 * Many files (a directory: the .wav files below it, sorted) are classified
 * by --jobs worker threads, each with its own engine session, stream,
 * detector and budget over the one shared, immutable model; each file's
 * results are buffered and written in input order (classify-batch.c).
 * A file that fails is reported (stderr; an error record in JSON) and the
 * others go on; the exit status is then 1.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib.h>

#include "beenet.h"
#include "beenet-windower.h"
#include "beenet-wav.h"
#include "classify-batch.h"
#include "classify-output.h"

#define DEFAULT_MODEL_RESOURCE "/org/gstreamer/beenet/models/default.gguf"

/* ------------------------------------------------------------------------ */
/* Classification                                                           */

typedef struct {
  guint64 sample;               /* from this window start on... */
  gdouble target;               /* ...this budget */
} BudgetStep;

/* The settings of a run, from the options: read-only while the workers
 * run, shared by all of them (the model too: it is immutable). */
typedef struct {
  BeenetModel *model;
  BeenetFrontendConfig config;
  BeenetPolicyParams policy;    /* exit policy and its parameters */
  guint64 interval_samples;
  gdouble refine_level;         /* refined windows (beenet_windower) */
  gboolean all_exits;
  gboolean classes_remaining;   /* --classes-remaining column */
  gboolean detections;          /* --detections */
  BeenetDetectorParams detector;
  gboolean budget_on;           /* --budget or --budget-at */
  BeenetBudgetParams budget;
  gdouble budget_initial;       /* --budget, at the start of each file */
  GArray *budget_steps;         /* --budget-at, BudgetStep by time */
  guint64 segment_samples;      /* --segment: summary lines instead of windows */
  gdouble energy_gate;          /* --energy-gate dBFS, -inf = off */
  BcFormat format;              /* --format */
} Options;

/* One worker's state: its own session, stream, detector and budget over
 * the shared model; one file at a time. */
typedef struct {
  const Options *o;
  const gchar *file;
  BcSink *sink;                 /* the file's output */
  BeenetSession *session;
  BeenetStream *stream;         /* samples and log-Mel frames of a file */
  gfloat *features;             /* --all-exits */
  gfloat *logits;
  BeenetDetector *detector;     /* --detections */
  BeenetBudget *budget;         /* --budget: controls the policy parameter */
  gboolean failed;
  guint skipped;
  guint next_step;
  guint64 windows;
  guint64 segment_start;        /* first window start of the open segment */
  guint segment_windows, file_windows;
  guint segment_gated, file_gated;
  gdouble segment_cost, file_cost;
} Ctx;

static void
emit (Ctx * ctx, BcRecord kind, const BcCell * cells)
{
  bc_write_record (ctx->sink->out, ctx->o->format, kind, cells);
}

/* "file: message" on stderr; an error also marks the file failed and is
 * an error record in JSON output. */
static void G_GNUC_PRINTF (3, 4)
report (Ctx * ctx, gboolean error, const gchar * fmt, ...)
{
  va_list ap;
  gchar *msg;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_string_append_printf (ctx->sink->err, "%s: %s\n", ctx->file, msg);
  if (error) {
    BcCell cells[2] = { {.s = ctx->file}, {.s = msg} };
    emit (ctx, BC_RECORD_ERROR, cells);
    ctx->failed = TRUE;
  }
  g_free (msg);
}

static gdouble
rate (Ctx * ctx)
{
  return ctx->o->config.sample_rate;
}

static void
print_all_exits (Ctx * ctx, BeenetStream * stream, uint64_t start,
    gdouble start_s)
{
  BeenetError err;
  const BeenetModel *model = ctx->o->model;
  gsize nc = beenet_model_num_classes (model);
  gsize ne = beenet_model_num_exits (model);
  gsize e, k;

  if (beenet_stream_features (stream, start, ctx->features, &err)
      != BEENET_OK ||
      beenet_session_run_all_exits (ctx->session, ctx->features, ctx->logits,
          &err) != BEENET_OK) {
    report (ctx, TRUE, "all-exits evaluation failed: %s", err.message);
    return;
  }
  for (e = 0; e < ne; e++) {
    const gfloat *l = ctx->logits + e * nc;
    gdouble mx = l[0], sum = 0.0, ent = 0.0;
    gsize best = 0;

    for (k = 1; k < nc; k++) {
      if (l[k] > mx) {
        mx = l[k];
        best = k;
      }
    }
    for (k = 0; k < nc; k++)
      sum += exp (l[k] - mx);
    for (k = 0; k < nc; k++) {
      gdouble p = exp (l[k] - mx) / sum;
      if (p > 0.0)
        ent -= p * log (p);
    }
    {
      BcCell cells[] = { {.s = ctx->file}, {.d = start_s}, {.u = e + 1},
      {.s = beenet_model_label (model, best)}, {.d = 1.0 / sum}, {.d = ent}
      };
      emit (ctx, BC_RECORD_EXIT, cells);
    }
  }
}

/* --detections: feed the window to the detector, print what fires. */
static int
detect (Ctx * ctx, const BeenetResult * res, uint64_t start)
{
  BeenetDetection det;
  BeenetError err;
  int fired = 0;
  gint64 t = (gint64) (start * G_GUINT64_CONSTANT (1000000000) /
      ctx->o->config.sample_rate);

  if (beenet_detector_push (ctx->detector, t, res->probabilities,
          res->num_classes, &det, &fired, &err) != BEENET_OK) {
    report (ctx, TRUE, "detection failed: %s", err.message);
    return 1;
  }
  if (fired) {
    BcCell cells[] = { {.s = ctx->file}, {.d = (gdouble) t / 1e9},
    {.s = det.label}, {.d = det.score}, {.u = det.num_windows}
    };
    emit (ctx, BC_RECORD_DETECTION, cells);
  }
  return 0;
}

/* --segment: one line per segment (file, start (s), windows, average
 * ops-fraction, threshold and max-exit in force at its end). */
static void
print_segment (Ctx * ctx)
{
  BeenetBudgetState st;

  if (ctx->segment_windows == 0)
    return;
  st.threshold = ctx->o->policy.threshold;
  st.max_exit = ctx->o->policy.max_exit;
  beenet_budget_get_state (ctx->budget, &st);  /* no-op without --budget */
  {
    BcCell cells[] = { {.s = ctx->file},
    {.d = (gdouble) ctx->segment_start / rate (ctx)},
    {.u = ctx->segment_windows},
    {.d = ctx->segment_cost / ctx->segment_windows}, {.d = st.threshold},
    {.d = st.max_exit}, {.u = ctx->segment_gated}
    };
    emit (ctx, BC_RECORD_SEGMENT, cells);
  }
  ctx->segment_windows = ctx->segment_gated = 0;
  ctx->segment_cost = 0.0;
}

static void
add_to_segment (Ctx * ctx, uint64_t start, gdouble cost, gboolean gated)
{
  if (start >= ctx->segment_start + ctx->o->segment_samples) {
    print_segment (ctx);
    ctx->segment_start = start - start % ctx->o->segment_samples;
  }
  ctx->segment_windows++;
  ctx->segment_gated += gated;
  ctx->file_gated += gated;
  ctx->segment_cost += cost;
  ctx->file_windows++;
  ctx->file_cost += cost;
}

/* --budget-at: change the budget when its time has come. */
static void
budget_steps (Ctx * ctx, uint64_t start)
{
  const GArray *steps = ctx->o->budget_steps;

  while (steps && ctx->next_step < steps->len) {
    const BudgetStep *st = &g_array_index (steps, BudgetStep,
        ctx->next_step);
    if (st->sample > start)
      break;
    beenet_budget_set_target (ctx->budget, st->target, NULL);
    ctx->next_step++;
  }
}

/* "2,1": candidates after each exit that ran ("-" for a gated window). */
static void
format_remaining (const BeenetResult * res, gchar * buf, gsize size)
{
  guint e;
  gsize n = 0;

  buf[0] = '\0';
  if (res->exit_index == 0)
    g_strlcpy (buf, "-", size);
  for (e = 0; e < res->exit_index && n < size; e++)
    n += (gsize) g_snprintf (buf + n, size - n, "%s%u", e ? "," : "",
        res->classes_remaining[e]);
}

static void
print_window (Ctx * ctx, const BeenetResult * res, gdouble start_s,
    size_t real)
{
  gchar remaining[64 * 11 + 2];       /* a model has at most 64 exits */
  BcCell cells[] = { {.s = ctx->file}, {.d = start_s},
  {.d = (gdouble) real / rate (ctx)}, {.s = res->label},
  {.d = res->confidence}, {.d = res->entropy},
  {.u = res->exit_index,.n = res->num_exits}, {.d = res->ops_fraction},
  {.s = remaining}
  };

  format_remaining (res, remaining, sizeof remaining);
  emit (ctx, ctx->o->classes_remaining ? BC_RECORD_WINDOW_CLASSES :
      BC_RECORD_WINDOW, cells);
}

static int
window_cb (BeenetStream * stream, uint64_t start, size_t real,
    void *user_data)
{
  Ctx *ctx = user_data;
  BeenetResult res;
  BeenetError err;
  BeenetStatus st;
  gdouble start_s = (gdouble) start / rate (ctx);
  BeenetPolicyParams policy = ctx->o->policy;
  int stop = 0;

  budget_steps (ctx, start);
  beenet_budget_apply (ctx->budget, &policy);
  st = beenet_session_classify_stream_gated (ctx->session, stream, start,
      &policy, ctx->o->energy_gate, &res, NULL, &err);
  if (st == BEENET_ERROR_NONFINITE) {
    ctx->skipped++;
    return 0;
  }
  if (st != BEENET_OK) {
    report (ctx, TRUE, "classification failed: %s", err.message);
    bc_sink_flush (ctx->sink);
    return 1;
  }
  ctx->windows++;
  beenet_budget_update (ctx->budget, res.ops_fraction);
  if (ctx->o->segment_samples) {
    add_to_segment (ctx, start, res.ops_fraction, res.exit_index == 0);
  } else if (ctx->detector) {
    stop = detect (ctx, &res, start);
  } else {
    print_window (ctx, &res, start_s, real);
    if (ctx->o->all_exits)
      print_all_exits (ctx, stream, start, start_s);
  }
  bc_sink_flush (ctx->sink);
  if (beenet_model_keyword_peak (ctx->o->model, res.probabilities,
          res.num_classes) > ctx->o->refine_level)
    stop |= BEENET_WINDOW_REFINE;
  return stop;
}

/* Per-file state back to the start (detector, budget, counters). */
static void
start_file (Ctx * ctx, const gchar * path, BcSink * sink)
{
  ctx->file = path;
  ctx->sink = sink;
  ctx->failed = FALSE;
  ctx->skipped = 0;
  ctx->windows = 0;
  beenet_detector_reset (ctx->detector);
  beenet_budget_reset (ctx->budget);
  if (ctx->budget)
    beenet_budget_set_target (ctx->budget, ctx->o->budget_initial, NULL);
  ctx->next_step = 0;
  ctx->segment_start = ctx->segment_windows = ctx->file_windows = 0;
  ctx->segment_gated = ctx->file_gated = 0;
  ctx->segment_cost = ctx->file_cost = 0.0;
}

static void
finish_file (Ctx * ctx)
{
  if (ctx->o->segment_samples && ctx->file_windows) {
    BcCell cells[] = { {.s = ctx->file}, {.u = ctx->file_windows},
    {.d = ctx->file_cost / ctx->file_windows}, {.u = ctx->file_gated}
    };
    print_segment (ctx);
    emit (ctx, BC_RECORD_TOTAL, cells);
  }
  if (ctx->skipped)
    report (ctx, FALSE, "warning: %u window(s) with NaN or infinite samples "
        "(or samples too large to analyse) were skipped", ctx->skipped);
}

/* The samples of a WAV file as mono float at the model's rate (g_free
 * them), or NULL after reporting why not. */
static gfloat *
read_wav (Ctx * ctx, const gchar * path, gsize * frames)
{
  gchar *contents = NULL, *why = NULL;
  gsize len = 0;
  GError *gerr = NULL;
  BeenetWavInfo info;
  gfloat *mono;

  if (!g_file_get_contents (path, &contents, &len, &gerr)) {
    report (ctx, TRUE, "%s", gerr->message);
    g_error_free (gerr);
    return NULL;
  }
  if (!beenet_wav_parse ((const guint8 *) contents, len, &info, &why)) {
    report (ctx, TRUE, "cannot use this WAV file: %s", why);
    g_free (why);
    g_free (contents);
    return NULL;
  }
  if (info.clamped)
    report (ctx, FALSE, "warning: data chunk claims %" G_GUINT64_FORMAT
        " bytes but only %" G_GSIZE_FORMAT " are present; using those",
        info.claimed_bytes, info.present_bytes);
  mono = beenet_wav_read_mono (&info, ctx->o->config.sample_rate, frames,
      &why);
  if (mono == NULL) {
    report (ctx, TRUE, "cannot use this WAV file: %s", why);
    g_free (why);
  }
  g_free (contents);
  return mono;
}

/* BcClassifyFunc: one input with the worker's Ctx. */
static gboolean
classify_input (gpointer worker, const BcInput * in, BcSink * sink,
    guint64 * windows)
{
  Ctx *ctx = worker;
  gfloat *mono;
  gsize frames = 0;
  BeenetWindower w;
  guint64 interval = ctx->o->interval_samples;

  start_file (ctx, in->path, sink);
  if (in->error) {
    report (ctx, TRUE, "%s", in->error);
    return FALSE;
  }
  if ((mono = read_wav (ctx, in->path, &frames)) == NULL)
    return FALSE;
  if (beenet_windower_init (&w, ctx->stream, ctx->o->config.window_samples)
      != 0) {
    report (ctx, TRUE, "out of memory");
    g_free (mono);
    return FALSE;
  }
  if (beenet_windower_push (&w, mono, frames, interval, window_cb, ctx) == 0)
    beenet_windower_finish (&w, interval, window_cb, ctx);
  finish_file (ctx);
  beenet_windower_clear (&w);
  g_free (mono);
  *windows += ctx->windows;
  return !ctx->failed;
}

/* A worker's state over the shared model and options; FALSE (printed)
 * when something cannot be created. */
static gboolean
ctx_init (Ctx * ctx, const Options * o)
{
  BeenetError err;

  memset (ctx, 0, sizeof (*ctx));
  ctx->o = o;
  if (beenet_session_new (o->model, &ctx->session, &err) != BEENET_OK) {
    g_printerr ("Could not create a session: %s\n", err.message);
    return FALSE;
  }
  /* overlapping windows share their log-Mel frames through the stream */
  if (beenet_stream_new (&o->config, NULL, &ctx->stream, &err) != BEENET_OK) {
    g_printerr ("Could not create the front-end: %s\n", err.message);
    return FALSE;
  }
  if (o->detections && beenet_detector_new (o->model, &o->detector,
          &ctx->detector, &err) != BEENET_OK) {
    g_printerr ("Invalid detection option: %s\n", err.message);
    return FALSE;
  }
  if (o->budget_on && beenet_budget_new (&o->budget, &ctx->budget, &err)
      != BEENET_OK) {
    g_printerr ("Could not create the budget controller: %s\n", err.message);
    return FALSE;
  }
  if (o->all_exits) {
    ctx->features = g_new (gfloat, (gsize) o->config.n_frames *
        o->config.n_mels);
    ctx->logits = g_new (gfloat, beenet_model_num_exits (o->model) *
        beenet_model_num_classes (o->model));
  }
  return TRUE;
}

static void
ctx_clear (Ctx * ctx)
{
  g_free (ctx->features);
  g_free (ctx->logits);
  beenet_stream_free (ctx->stream);
  beenet_session_free (ctx->session);
  beenet_budget_free (ctx->budget);
  beenet_detector_free (ctx->detector);
}

static BeenetModel *
load_model (const gchar * path)
{
  BeenetModel *model = NULL;
  BeenetError err;
  BeenetStatus st;

  if (path != NULL) {
    st = beenet_model_load_file (path, &model, &err);
    if (st != BEENET_OK) {
      g_printerr ("Could not load model \"%s\": %s (%s)\n", path,
          err.message, beenet_status_name (st));
      return NULL;
    }
  } else {
    GBytes *bytes = g_resources_lookup_data (DEFAULT_MODEL_RESOURCE,
        G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
    gsize size;
    gconstpointer data;

    if (bytes == NULL) {
      g_printerr ("No model set and no default model is built in: use "
          "--model FILE\n");
      return NULL;
    }
    data = g_bytes_get_data (bytes, &size);
    st = beenet_model_load_memory (data, size, &model, &err);
    g_bytes_unref (bytes);
    if (st != BEENET_OK) {
      g_printerr ("Could not load the built-in default model: %s (%s)\n",
          err.message, beenet_status_name (st));
      return NULL;
    }
  }
  return model;
}

/* The detector parameters for --detections: the model's, overridden by
 * the options that were given (a negative value = not given).  Each worker
 * makes its own detector from them. */
static gboolean
make_detector (Options * o, gdouble threshold, gdouble smoothing_ms,
    gdouble refractory_ms)
{
  BeenetDetectorParams *p = &o->detector;
  BeenetError err;

  o->detections = TRUE;
  beenet_detector_params_default (o->model, p);
  if (threshold != -1.0)
    p->threshold = threshold;
  if (smoothing_ms != -1.0)
    p->smoothing_ms = smoothing_ms;
  if (refractory_ms != -1.0)
    p->refractory_ms = refractory_ms;
  if (beenet_detector_params_validate (p, &err) != BEENET_OK) {
    g_printerr ("Invalid detection option: %s\n", err.message);
    return FALSE;
  }
  return TRUE;
}

static gint
compare_steps (gconstpointer a, gconstpointer b)
{
  const BudgetStep *x = a, *y = b;
  return x->sample < y->sample ? -1 : x->sample > y->sample;
}

/* --budget-at S:B (repeatable) into o->budget_steps. */
static gboolean
parse_budget_steps (Options * o, gchar ** specs, guint rate)
{
  for (; specs && *specs; specs++) {
    gchar *end = NULL;
    gdouble t = g_ascii_strtod (*specs, &end), b;
    BudgetStep st;

    if (end == *specs || *end != ':' || !(t >= 0.0 && t <= 1e7)) {
      g_printerr ("--budget-at wants SECONDS:BUDGET (got \"%s\")\n",
          *specs);
      return FALSE;
    }
    b = g_ascii_strtod (end + 1, &end);
    if (*end != '\0' || !(b > 0.0 && b <= 1.0)) {
      g_printerr ("--budget-at: budget must be in (0, 1] (got \"%s\")\n",
          *specs);
      return FALSE;
    }
    if (!o->budget_steps)
      o->budget_steps = g_array_new (FALSE, FALSE, sizeof (BudgetStep));
    st.sample = (guint64) llround (t * rate);
    st.target = b;
    g_array_append_val (o->budget_steps, st);
  }
  if (o->budget_steps)
    g_array_sort (o->budget_steps, compare_steps);
  return TRUE;
}

/* --budget: 1 = off (no controller, unless --budget-at changes it). */
static gboolean
make_budget (Options * o, gdouble budget, gdouble gain)
{
  BeenetBudgetParams *bp = &o->budget;

  o->budget_initial = budget;
  if (!(gain >= 0.0 && gain <= 100.0)) {
    g_printerr ("--budget-gain must be in (0, 100] (got %g)\n", gain);
    return FALSE;
  }
  if (budget >= BEENET_BUDGET_OFF && budget <= BEENET_BUDGET_OFF
      && !o->budget_steps)
    return TRUE;
  beenet_budget_params_default (o->model, bp);
  bp->target = budget;
  if (gain > 0.0)
    bp->gain = gain;
  if (!(budget <= 1.0) || !(gain <= 100.0)
      || beenet_budget_params_validate (bp, NULL) != BEENET_OK) {
    g_printerr ("--budget must be in (0, 1], --budget-gain in (0, 100]\n");
    return FALSE;
  }
  o->budget_on = TRUE;
  return TRUE;
}

static gchar *
policy_option_help (void)
{
  GString *s = g_string_new ("Exit policy: ");
  gsize i, n = beenet_policy_count ();

  for (i = 0; i < n; i++)
    g_string_append_printf (s, "%s%s", i == 0 ? "" : i + 1 < n ? ", " :
        " or ", beenet_policy_name ((BeenetPolicy) i));
  g_string_append (s, " (default: the model's recommended one)");
  return g_string_free (s, FALSE);
}

static gchar *
policy_list_help (void)
{
  GString *s = g_string_new ("Exit policies (the last exit, or --max-exit, "
      "always stops):\n");
  gsize i;

  for (i = 0; i < beenet_policy_count (); i++)
    g_string_append_printf (s, "  %-17s %s\n",
        beenet_policy_name ((BeenetPolicy) i),
        beenet_policy_description ((BeenetPolicy) i));
  return g_string_free (s, FALSE);
}

/* The exit policy from the options (NULL policy_str / negative values = not
 * given) over the model's recommendation.  Prints why and returns FALSE on
 * a bad combination. */
static gboolean
make_policy (BeenetPolicyParams * p, const BeenetModel * model,
    const gchar * policy_str, gdouble threshold, gint patience, gint max_exit,
    gint keyword_exit, gdouble budget)
{
  BeenetPolicy policy = beenet_model_default_policy (model);
  BeenetError err;

  if (policy_str != NULL &&
      beenet_policy_from_name (policy_str, &policy, &err) != BEENET_OK) {
    g_printerr ("Invalid --policy: %s\n", err.message);
    return FALSE;
  }
  if (policy == beenet_model_default_policy (model)) {
    *p = beenet_model_default_params (model);
  } else if (threshold < 0.0 && beenet_policy_uses_threshold (policy)) {
    /* the model's recommended threshold belongs to its own policy */
    g_printerr ("--threshold is required with --policy %s (the model "
        "recommends %s)\n", policy_str,
        beenet_policy_name (beenet_model_default_policy (model)));
    return FALSE;
  } else {
    *p = beenet_policy_default_params (policy);
    /* the keyword exit is not tied to a policy */
    p->keyword_exit = beenet_model_default_params (model).keyword_exit;
  }
  if (threshold >= 0.0)
    p->threshold = (gfloat) threshold;
  if (patience != -1)
    p->patience = patience < 0 ? 0 : (guint) patience;
  if (max_exit < -1) {
    g_printerr ("--max-exit must be >= 0\n");
    return FALSE;
  }
  if (max_exit != -1)
    p->max_exit = (guint) max_exit;
  if (keyword_exit < -1) {
    g_printerr ("--keyword-exit must be >= 0\n");
    return FALSE;
  }
  if (keyword_exit != -1)
    p->keyword_exit = (guint) keyword_exit;
  if (budget > 0.0 && budget <= 1.0)
    p->budget = (gfloat) budget;        /* eenet: the scheduler's budget */
  if (beenet_model_check_params (model, p, &err) != BEENET_OK) {
    g_printerr ("Invalid policy option: %s\n", err.message);
    return FALSE;
  }
  return TRUE;
}

/* The command line, as GOption fills it. */
typedef struct {
  gchar *model_path, *policy_str, *format_str;
  gdouble threshold, interval_ms, refine_level;
  gdouble det_threshold, smoothing_ms, refractory_ms;
  gint patience, max_exit, keyword_exit, jobs;
  gdouble budget, segment_s, energy_gate, budget_gain;
  gchar **budget_at, **files;
  gboolean describe, all_exits, detections, classes_remaining;
} Args;

#define MAX_JOBS 1024

/* Parses the command line into *a; prints the error and returns FALSE. */
static gboolean
parse_args (Args * a, int *argc, char ***argv)
{
  gchar *policy_help = policy_option_help ();
  gchar *policy_list = policy_list_help ();
  gchar *patience_help = g_strdup_printf ("Patience policy: stop when the "
      "top class has been the same at K consecutive exits, K >= 1 "
      "(default: %u)",
      beenet_policy_default_params (BEENET_POLICY_PATIENCE).patience);
  gchar *formats = bc_format_help ();
  gchar *format_help = g_strdup_printf ("Output format: %s", formats);
  GOptionEntry entries[] = {
    {"model", 'm', 0, G_OPTION_ARG_FILENAME, &a->model_path,
        "Model file (default: the built-in model)", "FILE"},
    {"threshold", 't', 0, G_OPTION_ARG_DOUBLE, &a->threshold,
        "Early-exit threshold (default: the model's recommended one)", "T"},
    {"policy", 'p', 0, G_OPTION_ARG_STRING, &a->policy_str, policy_help,
        "POLICY"},
    {"patience", 0, 0, G_OPTION_ARG_INT, &a->patience, patience_help, "K"},
    {"max-exit", 0, 0, G_OPTION_ARG_INT, &a->max_exit,
          "Never run past exit N (1-based), every policy; 0 = no limit "
        "(default)", "N"},
    {"keyword-exit", 0, 0, G_OPTION_ARG_INT, &a->keyword_exit,
          "A window whose best class is a keyword does not stop before exit "
        "N (1-based; 0 = no constraint; default: the model's "
        "beenet.keyword_exit)", "N"},
    {"interval", 'i', 0, G_OPTION_ARG_DOUBLE, &a->interval_ms,
        "Milliseconds between window starts, 10-10000 (default: the "
        "model's beenet.detection.interval_ms, else 500)", "MS"},
    {"refine-level", 0, 0, G_OPTION_ARG_DOUBLE, &a->refine_level,
          "Also classify the window half an interval later after a window whose likeliest keyword has a probability above L, "
          "0 <= L <= 1 (1 = never; default: the model's "
          "beenet.detection.refine_level, else 1)", "L"},
    {"budget", 'b', 0, G_OPTION_ARG_DOUBLE, &a->budget,
          "Average share of the network's operations per window, 0 < B <= 1: "
          "the engine's budget controller adjusts the threshold (patience: "
          "max-exit; eenet: the scheduler's budget, which starts at B) "
          "window by window (default 1 = off)", "B"},
    {"budget-at", 0, 0, G_OPTION_ARG_STRING_ARRAY, &a->budget_at,
          "Change the budget to B from S seconds into each file on "
          "(repeatable)", "S:B"},
    {"budget-gain", 0, 0, G_OPTION_ARG_DOUBLE, &a->budget_gain,
          "Integral gain of the budget controller (default: the engine's, "
          "1)", "G"},
    {"energy-gate", 'g', 0, G_OPTION_ARG_DOUBLE, &a->energy_gate,
          "Windows whose level (rms, dBFS) is below DB are reported as "
          "_silence_ at exit 0 without running the network (default: off)",
        "DB"},
    {"segment", 's', 0, G_OPTION_ARG_DOUBLE, &a->segment_s,
          "Print one line per S seconds of windows (file, start, windows, "
          "average ops-fraction, threshold and max-exit at its end) and a "
          "total per file, instead of one line per window", "S"},
    {"describe", 'd', 0, G_OPTION_ARG_NONE, &a->describe,
        "Print the model description", NULL},
    {"classes-remaining", 0, 0, G_OPTION_ARG_NONE, &a->classes_remaining,
        "Add a column: candidate classes after each exit that ran", NULL},
    {"all-exits", 'a', 0, G_OPTION_ARG_NONE, &a->all_exits,
        "Also print every exit's prediction for each window", NULL},
    {"detections", 'D', 0, G_OPTION_ARG_NONE, &a->detections,
          "Print one line per detected keyword (file, time (s), keyword, "
          "smoothed score, windows averaged) instead of one per window",
        NULL},
    {"detection-threshold", 0, 0, G_OPTION_ARG_DOUBLE, &a->det_threshold,
          "Detection threshold, 0 < P <= 1 (default: the model's, else "
        "0.7)", "P"},
    {"smoothing", 0, 0, G_OPTION_ARG_DOUBLE, &a->smoothing_ms,
          "Average keyword probabilities over the last MS milliseconds of "
        "windows, 0..10000 (default: the model's, else 500)", "MS"},
    {"refractory", 0, 0, G_OPTION_ARG_DOUBLE, &a->refractory_ms,
          "No detection within MS milliseconds after one, 0..60000 "
        "(default: the model's, else 1000)", "MS"},
    {"jobs", 'j', 0, G_OPTION_ARG_INT, &a->jobs,
          "Classify N files at a time, one thread and engine session each "
          "over the one model; results stay in input order (default 0 = "
          "one per processor)", "N"},
    {"format", 'f', 0, G_OPTION_ARG_STRING, &a->format_str, format_help,
        "FORMAT"},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->files, NULL,
        "FILE.wav|DIR..."},
    {NULL, 0, 0, 0, NULL, NULL, NULL}
  };
  GOptionContext *octx;
  GError *gerr = NULL;
  gboolean ok;

  octx = g_option_context_new ("FILE.wav|DIR... - classify audio with "
      "beenet");
  g_option_context_set_summary (octx,
      "Prints one line per window: file, start (s), duration (s), label,\n"
      "confidence, entropy (nats), exit/num-exits, ops-fraction.\n"
      "Input: WAV at 1-768 kHz, 8/16/24/32-bit PCM or 32/64-bit float,\n"
      "1-64 channels (converted to the model's rate like the element does);\n"
      "a directory stands for the .wav files below it, in sorted order.");
  g_option_context_set_description (octx, policy_list);
  g_option_context_add_main_entries (octx, entries, NULL);
  ok = g_option_context_parse (octx, argc, argv, &gerr);
  if (!ok) {
    g_printerr ("%s\n", gerr->message);
    g_error_free (gerr);
  }
  g_option_context_free (octx);
  g_free (policy_help);
  g_free (policy_list);
  g_free (patience_help);
  g_free (formats);
  g_free (format_help);
  return ok;
}

static void
args_clear (Args * a)
{
  g_free (a->model_path);
  g_free (a->policy_str);
  g_free (a->format_str);
  g_strfreev (a->files);
  g_strfreev (a->budget_at);
}

/* The output and batch options. */
static gboolean
make_output (Options * o, const Args * a)
{
  if (a->format_str && !bc_format_from_name (a->format_str, &o->format)) {
    gchar *formats = bc_format_help ();
    g_printerr ("--format must be %s (got \"%s\")\n", formats,
        a->format_str);
    g_free (formats);
    return FALSE;
  }
  if (o->all_exits && o->format == BC_FORMAT_CSV) {
    g_printerr ("--all-exits adds rows of another shape: use --format "
        "json or tsv with it\n");
    return FALSE;
  }
  if (!(a->jobs >= 0 && a->jobs <= MAX_JOBS)) {
    g_printerr ("--jobs must be between 0 (one per processor) and %d\n",
        MAX_JOBS);
    return FALSE;
  }
  return TRUE;
}

/* Options from the arguments, checked; FALSE (printed) on a usage error. */
static gboolean
make_options (Options * o, Args * a)
{
  BeenetFrontendConfig *config = &o->config;

  if (!make_policy (&o->policy, o->model, a->policy_str, a->threshold,
          a->patience, a->max_exit, a->keyword_exit, a->budget))
    return FALSE;
  if (a->interval_ms == 0.0)   /* not given: the model's */
    a->interval_ms = beenet_model_interval_ms (o->model);
  if (!(a->interval_ms >= 10.0 && a->interval_ms <= 10000.0)) {
    g_printerr ("--interval must be between 10 and 10000 ms\n");
    return FALSE;
  }
  if (a->refine_level < 0.0)   /* not given: the model's */
    a->refine_level = beenet_model_refine_level (o->model);
  if (!(a->refine_level >= 0.0 && a->refine_level <= BEENET_REFINE_OFF)) {
    g_printerr ("--refine-level must be between 0 and 1\n");
    return FALSE;
  }
  o->refine_level = a->refine_level;
  if (isnan (a->energy_gate)) {
    g_printerr ("--energy-gate must be a level in dBFS\n");
    return FALSE;
  }
  beenet_model_frontend_config (o->model, config);
  if (!parse_budget_steps (o, a->budget_at, config->sample_rate)
      || !make_budget (o, a->budget, a->budget_gain))
    return FALSE;
  if (!(a->segment_s >= 0.0 && a->segment_s <= 1e6)) {
    g_printerr ("--segment must be between 0 and 1e6 s\n");
    return FALSE;
  }
  o->energy_gate = a->energy_gate;
  o->segment_samples = (guint64) llround (a->segment_s *
      config->sample_rate);
  o->all_exits = a->all_exits;
  o->classes_remaining = a->classes_remaining;
  o->interval_samples = (guint64) llround (a->interval_ms *
      config->sample_rate / 1000.0);
  if (o->interval_samples == 0)
    o->interval_samples = 1;
  if (a->detections && !make_detector (o, a->det_threshold, a->smoothing_ms,
          a->refractory_ms))
    return FALSE;
  return make_output (o, a);
}

static void
print_header (const Options * o)
{
  GString *s = g_string_new (NULL);

  bc_write_header (s, o->format, o->segment_samples ? BC_RECORD_SEGMENT :
      o->detections ? BC_RECORD_DETECTION : o->classes_remaining ?
      BC_RECORD_WINDOW_CLASSES : BC_RECORD_WINDOW);
  g_print ("%s", s->str);
  fflush (stdout);
  g_string_free (s, TRUE);
}

/* Classifies every input with min(jobs, inputs) workers; the exit status. */
static int
run (const Options * o, gchar ** files, gint jobs)
{
  GPtrArray *inputs = bc_collect_inputs (files);
  guint n = jobs > 0 ? (guint) jobs : g_get_num_processors (), i, made;
  Ctx *ctxs;
  gpointer *workers;
  int ret = 0;

  n = MAX (1, MIN (n, inputs->len));
  ctxs = g_new0 (Ctx, n);
  workers = g_new (gpointer, n);
  for (made = 0; made < n; made++) {
    workers[made] = &ctxs[made];
    if (!ctx_init (&ctxs[made], o)) {
      ret = 1;
      made++;
      break;
    }
  }
  if (ret == 0) {
    print_header (o);
    if (bc_run (inputs, workers, n, classify_input,
            isatty (STDERR_FILENO)) > 0)
      ret = 1;
  }
  for (i = 0; i < made; i++)
    ctx_clear (&ctxs[i]);
  g_free (ctxs);
  g_free (workers);
  g_ptr_array_free (inputs, TRUE);
  return ret;
}

int
main (int argc, char **argv)
{
  Args a = {.threshold = -1.0,.interval_ms = 0.0,.refine_level = -1.0,.det_threshold = -1.0,
    .smoothing_ms = -1.0,.refractory_ms = -1.0,.patience = -1,
    .max_exit = -1,.keyword_exit = -1,.budget = BEENET_BUDGET_OFF,.energy_gate = -INFINITY
  };
  Options o;
  int ret = 0;

  memset (&o, 0, sizeof (o));
  if (!parse_args (&a, &argc, &argv)) {
    ret = 2;
    goto out;
  }
  o.model = load_model (a.model_path);
  if (o.model == NULL) {
    ret = 1;
    goto out;
  }
  if (a.describe) {
    char *d = beenet_model_describe (o.model);
    g_print ("%s\n", d ? d : "");
    free (d);
  }
  if (a.files == NULL || a.files[0] == NULL) {
    if (!a.describe) {
      g_printerr ("No input files (see --help)\n");
      ret = 2;
    }
  } else if (!make_options (&o, &a)) {
    ret = 2;
  } else {
    ret = run (&o, a.files, a.jobs);
  }
  if (o.budget_steps)
    g_array_free (o.budget_steps, TRUE);
  beenet_model_unref (o.model);
out:
  args_clear (&a);
  return ret;
}
