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
 *                   [--interval MS]
 *                   [--describe] [--all-exits]
 *                   [--detections [--detection-threshold P] [--smoothing MS]
 *                    [--refractory MS]] FILE.wav...
 *
 * Policy names, their descriptions and defaults come from the engine's
 * policy table (beenet_policy_*); --help lists them.
 *
 * Output (tab separated, one line per window):
 *   file  start(s)  duration(s)  label  confidence  entropy  exit/num-exits
 *   ops-fraction
 * With --all-exits each window line is followed by one line per exit:
 *   file  start  "exit"  N  label  confidence  entropy
 * With --detections, instead, one line per detected keyword (the engine's
 * BeenetDetector, as the element's beenet-detection messages; reset for
 * each file):
 *   file  time(s)  keyword  score  windows
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>
#include <glib.h>

#include "beenet.h"
#include "beenet-windower.h"
#include "beenet-wav.h"

#define DEFAULT_MODEL_RESOURCE "/org/gstreamer/beenet/models/default.gguf"

/* ------------------------------------------------------------------------ */
/* Classification                                                           */

typedef struct {
  const gchar *file;
  BeenetSession *session;
  const BeenetModel *model;
  BeenetStream *stream;         /* samples and log-Mel frames of a file */
  gfloat *features;
  gfloat *logits;
  BeenetPolicyParams policy;   /* exit policy and its parameters */
  gboolean all_exits;
  BeenetDetector *detector;     /* --detections */
  guint rate;
  gboolean failed;
  guint skipped;
  BeenetBudget *budget;         /* --budget: controls the policy parameter */
  gdouble budget_initial;       /* --budget, at the start of each file */
  GArray *budget_steps;         /* --budget-at, BudgetStep by time */
  guint next_step;
  guint64 segment_samples;      /* --segment: summary lines instead of windows */
  guint64 segment_start;        /* first window start of the open segment */
  guint segment_windows, file_windows;
  guint segment_gated, file_gated;
  gdouble energy_gate;          /* --energy-gate dBFS, -inf = off */
  gdouble segment_cost, file_cost;
} Ctx;

static void
print_all_exits (Ctx * ctx, BeenetStream * stream, uint64_t start,
    gdouble start_s)
{
  BeenetError err;
  gsize nc = beenet_model_num_classes (ctx->model);
  gsize ne = beenet_model_num_exits (ctx->model);
  gsize e, k;

  if (beenet_stream_features (stream, start, ctx->features, &err)
      != BEENET_OK ||
      beenet_session_run_all_exits (ctx->session, ctx->features, ctx->logits,
          &err) != BEENET_OK) {
    g_printerr ("%s: all-exits evaluation failed: %s\n", ctx->file,
        err.message);
    ctx->failed = TRUE;
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
    g_print ("%s\t%.3f\texit\t%" G_GSIZE_FORMAT "\t%s\t%.4f\t%.4f\n",
        ctx->file, start_s, e + 1, beenet_model_label (ctx->model, best),
        1.0 / sum, ent);
  }
}

/* --detections: feed the window to the detector, print what fires. */
static int
detect (Ctx * ctx, const BeenetResult * res, uint64_t start)
{
  BeenetDetection det;
  BeenetError err;
  int fired = 0;
  gint64 t = (gint64) (start * G_GUINT64_CONSTANT (1000000000) / ctx->rate);

  if (beenet_detector_push (ctx->detector, t, res->probabilities,
          res->num_classes, &det, &fired, &err) != BEENET_OK) {
    g_printerr ("%s: detection failed: %s\n", ctx->file, err.message);
    ctx->failed = TRUE;
    return 1;
  }
  if (fired)
    g_print ("%s\t%.3f\t%s\t%.4f\t%u\n", ctx->file, (gdouble) t / 1e9,
        det.label, det.score, det.num_windows);
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
  st.threshold = ctx->policy.threshold;
  st.max_exit = ctx->policy.max_exit;
  beenet_budget_get_state (ctx->budget, &st);  /* no-op without --budget */
  g_print ("%s\t%.1f\t%u\t%.4f\t%.4f\t%.2f\t%u\n", ctx->file,
      (gdouble) ctx->segment_start / ctx->rate, ctx->segment_windows,
      ctx->segment_cost / ctx->segment_windows, st.threshold, st.max_exit,
      ctx->segment_gated);
  ctx->segment_windows = ctx->segment_gated = 0;
  ctx->segment_cost = 0.0;
}

static void
add_to_segment (Ctx * ctx, uint64_t start, gdouble cost, gboolean gated)
{
  if (start >= ctx->segment_start + ctx->segment_samples) {
    print_segment (ctx);
    ctx->segment_start = start - start % ctx->segment_samples;
  }
  ctx->segment_windows++;
  ctx->segment_gated += gated;
  ctx->file_gated += gated;
  ctx->segment_cost += cost;
  ctx->file_windows++;
  ctx->file_cost += cost;
}

typedef struct {
  guint64 sample;               /* from this window start on... */
  gdouble target;               /* ...this budget */
} BudgetStep;

/* --budget-at: change the budget when its time has come. */
static void
budget_steps (Ctx * ctx, uint64_t start)
{
  while (ctx->budget_steps && ctx->next_step < ctx->budget_steps->len) {
    const BudgetStep *st = &g_array_index (ctx->budget_steps, BudgetStep,
        ctx->next_step);
    if (st->sample > start)
      break;
    beenet_budget_set_target (ctx->budget, st->target, NULL);
    ctx->next_step++;
  }
}

static int
window_cb (BeenetStream * stream, uint64_t start, size_t real,
    void *user_data)
{
  Ctx *ctx = user_data;
  BeenetResult res;
  BeenetError err;
  BeenetStatus st;
  gdouble start_s = (gdouble) start / ctx->rate;
  BeenetPolicyParams policy = ctx->policy;

  budget_steps (ctx, start);
  beenet_budget_apply (ctx->budget, &policy);
  st = beenet_session_classify_stream_gated (ctx->session, stream, start,
      &policy, ctx->energy_gate, &res, NULL, &err);
  if (st == BEENET_ERROR_NONFINITE) {
    ctx->skipped++;
    return 0;
  }
  if (st != BEENET_OK) {
    g_printerr ("%s: classification failed: %s\n", ctx->file, err.message);
    ctx->failed = TRUE;
    return 1;
  }
  beenet_budget_update (ctx->budget, res.ops_fraction);
  if (ctx->segment_samples) {
    add_to_segment (ctx, start, res.ops_fraction, res.exit_index == 0);
    return 0;
  }
  if (ctx->detector)
    return detect (ctx, &res, start);
  g_print ("%s\t%.3f\t%.3f\t%s\t%.4f\t%.4f\t%u/%u\t%.4f\n", ctx->file,
      start_s, (gdouble) real / ctx->rate, res.label, res.confidence,
      res.entropy, res.exit_index, res.num_exits, res.ops_fraction);
  if (ctx->all_exits)
    print_all_exits (ctx, stream, start, start_s);
  return 0;
}

static gboolean
classify_file (Ctx * ctx, const gchar * path, guint64 interval_samples,
    size_t window)
{
  gchar *contents = NULL, *why = NULL;
  gsize len = 0;
  GError *gerr = NULL;
  BeenetWavInfo info;
  gfloat *mono;
  BeenetWindower w;

  if (!g_file_get_contents (path, &contents, &len, &gerr)) {
    g_printerr ("%s: %s\n", path, gerr->message);
    g_error_free (gerr);
    return FALSE;
  }
  if (!beenet_wav_parse ((const guint8 *) contents, len, &info, &why)) {
    g_printerr ("%s: cannot use this WAV file: %s\n", path, why);
    g_free (why);
    g_free (contents);
    return FALSE;
  }
  if (info.clamped)
    g_printerr ("%s: warning: data chunk claims %" G_GUINT64_FORMAT
        " bytes but only %" G_GSIZE_FORMAT " are present; using those\n",
        path, info.claimed_bytes, info.present_bytes);
  if (beenet_windower_init (&w, ctx->stream, window) != 0) {
    g_printerr ("%s: out of memory\n", path);
    g_free (contents);
    return FALSE;
  }

  mono = beenet_wav_to_mono (&info);
  ctx->file = path;
  ctx->failed = FALSE;
  ctx->skipped = 0;
  beenet_detector_reset (ctx->detector);
  beenet_budget_reset (ctx->budget);
  if (ctx->budget)
    beenet_budget_set_target (ctx->budget, ctx->budget_initial, NULL);
  ctx->next_step = 0;
  ctx->segment_start = ctx->segment_windows = ctx->file_windows = 0;
  ctx->segment_gated = ctx->file_gated = 0;
  ctx->segment_cost = ctx->file_cost = 0.0;
  if (beenet_windower_push (&w, mono, info.frames, interval_samples,
          window_cb, ctx) == 0)
    beenet_windower_finish (&w, interval_samples, window_cb, ctx);
  if (ctx->segment_samples && ctx->file_windows) {
    print_segment (ctx);
    g_print ("%s\ttotal\t%u\t%.4f\t\t\t%u\n", path, ctx->file_windows,
        ctx->file_cost / ctx->file_windows, ctx->file_gated);
  }
  if (ctx->skipped)
    g_printerr ("%s: warning: %u window(s) with NaN or infinite samples "
        "(or samples too large to analyse) were skipped\n", path,
        ctx->skipped);

  beenet_windower_clear (&w);
  g_free (mono);
  g_free (contents);
  return !ctx->failed;
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

/* The detector for --detections: the model's parameters, overridden by the
 * options that were given (a negative value = not given). */
static gboolean
make_detector (Ctx * ctx, BeenetModel * model, gdouble threshold,
    gdouble smoothing_ms, gdouble refractory_ms)
{
  BeenetDetectorParams p;
  BeenetError err;

  beenet_detector_params_default (model, &p);
  if (threshold != -1.0)
    p.threshold = threshold;
  if (smoothing_ms != -1.0)
    p.smoothing_ms = smoothing_ms;
  if (refractory_ms != -1.0)
    p.refractory_ms = refractory_ms;
  if (beenet_detector_new (model, &p, &ctx->detector, &err) != BEENET_OK) {
    g_printerr ("Invalid detection option: %s\n", err.message);
    return FALSE;
  }
  return TRUE;
}

/* Help texts from the engine's policy table (g_free them): the --policy
 * option ("entropy, max-probability or patience") and the list of policies
 * with their descriptions (shown after the options). */
static gint
compare_steps (gconstpointer a, gconstpointer b)
{
  const BudgetStep *x = a, *y = b;
  return x->sample < y->sample ? -1 : x->sample > y->sample;
}

/* --budget-at S:B (repeatable) into ctx->budget_steps. */
static gboolean
parse_budget_steps (Ctx * ctx, gchar ** specs, guint rate)
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
    if (!ctx->budget_steps)
      ctx->budget_steps = g_array_new (FALSE, FALSE, sizeof (BudgetStep));
    st.sample = (guint64) llround (t * rate);
    st.target = b;
    g_array_append_val (ctx->budget_steps, st);
  }
  if (ctx->budget_steps)
    g_array_sort (ctx->budget_steps, compare_steps);
  return TRUE;
}

/* --budget: 1 = off (no controller, unless --budget-at changes it). */
static gboolean
make_budget (Ctx * ctx, BeenetModel * model, gdouble budget, gdouble gain)
{
  BeenetBudgetParams bp;
  BeenetError err;

  ctx->budget_initial = budget;
  if (!(gain >= 0.0 && gain <= 100.0)) {
    g_printerr ("--budget-gain must be in (0, 100] (got %g)\n", gain);
    return FALSE;
  }
  if (budget >= BEENET_BUDGET_OFF && budget <= BEENET_BUDGET_OFF
      && !ctx->budget_steps)
    return TRUE;
  beenet_budget_params_default (model, &bp);
  bp.target = budget;
  if (gain > 0.0)
    bp.gain = gain;
  if (!(budget <= 1.0) || !(gain <= 100.0) || beenet_budget_new (&bp,
          &ctx->budget, &err) != BEENET_OK) {
    g_printerr ("--budget must be in (0, 1], --budget-gain in (0, 100]\n");
    return FALSE;
  }
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
    const gchar * policy_str, gdouble threshold, gint patience, gint max_exit)
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
  if (beenet_policy_params_validate (p, &err) != BEENET_OK) {
    g_printerr ("Invalid policy option: %s\n", err.message);
    return FALSE;
  }
  return TRUE;
}

int
main (int argc, char **argv)
{
  gchar *model_path = NULL, *policy_str = NULL;
  gdouble threshold = -1.0, interval_ms = 500.0;
  gdouble det_threshold = -1.0, smoothing_ms = -1.0, refractory_ms = -1.0;
  gint patience = -1, max_exit = -1;
  gdouble budget = BEENET_BUDGET_OFF, segment_s = 0.0;
  gdouble energy_gate = -INFINITY;
  gchar **budget_at = NULL;
  gdouble budget_gain = 0.0;
  gchar *policy_help = policy_option_help ();
  gchar *policy_list = policy_list_help ();
  gchar *patience_help = g_strdup_printf ("Patience policy: stop when the "
      "top class has been the same at K consecutive exits, K >= 1 "
      "(default: %u)",
      beenet_policy_default_params (BEENET_POLICY_PATIENCE).patience);
  gboolean describe = FALSE, all_exits = FALSE, detections = FALSE;
  gchar **files = NULL;
  GOptionEntry entries[] = {
    {"model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
        "Model file (default: the built-in model)", "FILE"},
    {"threshold", 't', 0, G_OPTION_ARG_DOUBLE, &threshold,
        "Early-exit threshold (default: the model's recommended one)", "T"},
    {"policy", 'p', 0, G_OPTION_ARG_STRING, &policy_str, policy_help,
        "POLICY"},
    {"patience", 0, 0, G_OPTION_ARG_INT, &patience, patience_help, "K"},
    {"max-exit", 0, 0, G_OPTION_ARG_INT, &max_exit,
          "Never run past exit N (1-based), every policy; 0 = no limit "
        "(default)", "N"},
    {"interval", 'i', 0, G_OPTION_ARG_DOUBLE, &interval_ms,
        "Milliseconds between window starts (default 500)", "MS"},
    {"budget", 'b', 0, G_OPTION_ARG_DOUBLE, &budget,
          "Average share of the network's operations per window, 0 < B <= 1: "
          "the engine's budget controller adjusts the threshold (patience: "
          "max-exit) window by window (default 1 = off)", "B"},
    {"budget-at", 0, 0, G_OPTION_ARG_STRING_ARRAY, &budget_at,
          "Change the budget to B from S seconds into each file on "
          "(repeatable)", "S:B"},
    {"budget-gain", 0, 0, G_OPTION_ARG_DOUBLE, &budget_gain,
          "Integral gain of the budget controller (default: the engine's, "
          "1)", "G"},
    {"energy-gate", 'g', 0, G_OPTION_ARG_DOUBLE, &energy_gate,
          "Windows whose level (rms, dBFS) is below DB are reported as "
          "_silence_ at exit 0 without running the network (default: off)",
        "DB"},
    {"segment", 's', 0, G_OPTION_ARG_DOUBLE, &segment_s,
          "Print one line per S seconds of windows (file, start, windows, "
          "average ops-fraction, threshold and max-exit at its end) and a "
          "total per file, instead of one line per window", "S"},
    {"describe", 'd', 0, G_OPTION_ARG_NONE, &describe,
        "Print the model description", NULL},
    {"all-exits", 'a', 0, G_OPTION_ARG_NONE, &all_exits,
        "Also print every exit's prediction for each window", NULL},
    {"detections", 'D', 0, G_OPTION_ARG_NONE, &detections,
          "Print one line per detected keyword (file, time (s), keyword, "
          "smoothed score, windows averaged) instead of one per window",
        NULL},
    {"detection-threshold", 0, 0, G_OPTION_ARG_DOUBLE, &det_threshold,
          "Detection threshold, 0 < P <= 1 (default: the model's, else "
        "0.7)", "P"},
    {"smoothing", 0, 0, G_OPTION_ARG_DOUBLE, &smoothing_ms,
          "Average keyword probabilities over the last MS milliseconds of "
        "windows, 0..10000 (default: the model's, else 500)", "MS"},
    {"refractory", 0, 0, G_OPTION_ARG_DOUBLE, &refractory_ms,
          "No detection within MS milliseconds after one, 0..60000 "
        "(default: the model's, else 1000)", "MS"},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &files, NULL,
        "FILE.wav..."},
    {NULL, 0, 0, 0, NULL, NULL, NULL}
  };
  GOptionContext *octx;
  GError *gerr = NULL;
  BeenetModel *model;
  BeenetFrontendConfig config;
  BeenetError err;
  Ctx ctx;
  guint64 interval_samples;
  int ret = 0;
  gint i;

  octx = g_option_context_new ("FILE.wav... - classify audio with beenet");
  g_option_context_set_summary (octx,
      "Prints one line per window: file, start (s), duration (s), label,\n"
      "confidence, entropy (nats), exit/num-exits, ops-fraction.\n"
      "Input: 16 kHz WAV, 16-bit PCM or 32-bit float, any channel count.");
  g_option_context_set_description (octx, policy_list);
  g_option_context_add_main_entries (octx, entries, NULL);
  if (!g_option_context_parse (octx, &argc, &argv, &gerr)) {
    g_printerr ("%s\n", gerr->message);
    g_error_free (gerr);
    g_option_context_free (octx);
    ret = 2;
    goto out;
  }
  g_option_context_free (octx);

  memset (&ctx, 0, sizeof (ctx));
  model = load_model (model_path);
  if (model == NULL) {
    ret = 1;
    goto out;
  }

  if (describe) {
    char *d = beenet_model_describe (model);
    g_print ("%s\n", d ? d : "");
    free (d);
  }
  if (files == NULL || files[0] == NULL) {
    if (!describe) {
      g_printerr ("No input files (see --help)\n");
      ret = 2;
    }
    goto out_model;
  }

  if (!make_policy (&ctx.policy, model, policy_str, threshold, patience,
          max_exit)) {
    ret = 2;
    goto out_model;
  }
  if (!(interval_ms >= 10.0 && interval_ms <= 10000.0)) {
    g_printerr ("--interval must be between 10 and 10000 ms\n");
    ret = 2;
    goto out_model;
  }

  if (isnan (energy_gate)) {
    g_printerr ("--energy-gate must be a level in dBFS\n");
    ret = 2;
    goto out_model;
  }
  beenet_model_frontend_config (model, &config);
  if (!parse_budget_steps (&ctx, budget_at, config.sample_rate)
      || !make_budget (&ctx, model, budget, budget_gain)) {
    ret = 2;
    goto out_model;
  }
  if (!(segment_s >= 0.0 && segment_s <= 1e6)) {
    g_printerr ("--segment must be between 0 and 1e6 s\n");
    ret = 2;
    goto out_model;
  }

  beenet_model_frontend_config (model, &config);
  ctx.rate = config.sample_rate;
  ctx.energy_gate = energy_gate;
  ctx.segment_samples = (guint64) llround (segment_s * config.sample_rate);
  ctx.model = model;
  ctx.all_exits = all_exits;
  interval_samples = (guint64) llround (interval_ms * config.sample_rate /
      1000.0);
  if (interval_samples == 0)
    interval_samples = 1;
  if (detections && !make_detector (&ctx, model, det_threshold, smoothing_ms,
          refractory_ms)) {
    ret = 2;
    goto out_model;
  }
  if (beenet_session_new (model, &ctx.session, &err) != BEENET_OK) {
    g_printerr ("Could not create a session: %s\n", err.message);
    ret = 1;
    goto out_model;
  }
  /* overlapping windows share their log-Mel frames through the stream */
  if (beenet_stream_new (&config, NULL, &ctx.stream, &err) != BEENET_OK) {
    g_printerr ("Could not create the front-end: %s\n", err.message);
    ret = 1;
    goto out_session;
  }
  if (all_exits) {
    ctx.features = g_new (gfloat, (gsize) config.n_frames * config.n_mels);
    ctx.logits = g_new (gfloat, beenet_model_num_exits (model) *
        beenet_model_num_classes (model));
  }

  if (ctx.segment_samples)
    g_print ("# file\tstart\twindows\tops-fraction\tthreshold\t"
        "max-exit\tgated\n");
  else if (detections)
    g_print ("# file\ttime\tkeyword\tscore\twindows\n");
  else
    g_print ("# file\tstart\tduration\tlabel\tconfidence\tentropy\texit\t"
        "ops-fraction\n");
  for (i = 0; files[i] != NULL; i++) {
    if (!classify_file (&ctx, files[i], interval_samples,
            config.window_samples))
      ret = 1;
  }

  g_free (ctx.features);
  g_free (ctx.logits);
out_session:
  beenet_stream_free (ctx.stream);
  beenet_session_free (ctx.session);
out_model:
  beenet_budget_free (ctx.budget);
  if (ctx.budget_steps)
    g_array_free (ctx.budget_steps, TRUE);
  beenet_detector_free (ctx.detector);
  beenet_model_unref (model);
out:
  g_free (model_path);
  g_free (policy_str);
  g_free (policy_help);
  g_free (policy_list);
  g_free (patience_help);
  g_strfreev (files);
  g_strfreev (budget_at);
  return ret;
}
