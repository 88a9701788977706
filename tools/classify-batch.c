/* gst-beenet: beenet-classify's batch runner (classify-batch.h)
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 *
 * Threads take the next input in order (never more than AHEAD_PER_WORKER
 * inputs per thread ahead of the one being written, so memory stays
 * bounded), write its results into the input's own buffers, and the
 * calling thread writes the buffers in input order as they complete.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "classify-batch.h"

#define AHEAD_PER_WORKER 4
#define PROGRESS_INTERVAL_US (200 * G_TIME_SPAN_MILLISECOND)
#define PROGRESS_WIDTH 24

/* ------------------------------------------------------------------------ */
/* Inputs                                                                   */

static void
input_free (gpointer data)
{
  BcInput *in = data;

  g_free (in->path);
  g_free (in->error);
  g_free (in);
}

static BcInput *
input_new (const gchar * path, guint64 bytes, gchar * error)
{
  BcInput *in = g_new0 (BcInput, 1);

  in->path = g_strdup (path);
  in->bytes = bytes;
  in->error = error;
  return in;
}

static gint
compare_inputs (gconstpointer a, gconstpointer b)
{
  const BcInput *x = *(BcInput * const *) a, *y = *(BcInput * const *) b;
  return strcmp (x->path, y->path);
}

static gboolean
is_wav_name (const gchar * name)
{
  gsize n = strlen (name);
  return n > 4 && g_ascii_strcasecmp (name + n - 4, ".wav") == 0;
}

/* Adds the .wav files below dir to found (unsorted). */
static void
collect_dir (const gchar * dir, GPtrArray * found)
{
  GError *gerr = NULL;
  GDir *d = g_dir_open (dir, 0, &gerr);
  const gchar *name;

  if (d == NULL) {
    g_ptr_array_add (found, input_new (dir, 0, g_strdup_printf ("cannot "
                "read this directory: %s", gerr->message)));
    g_error_free (gerr);
    return;
  }
  while ((name = g_dir_read_name (d)) != NULL) {
    gchar *path = g_build_filename (dir, name, NULL);
    GStatBuf lst, st;

    if (g_lstat (path, &lst) == 0 && g_stat (path, &st) == 0) {
      if (S_ISDIR (st.st_mode)) {
        if (!S_ISLNK (lst.st_mode))
          collect_dir (path, found);
      } else if (is_wav_name (name)) {
        g_ptr_array_add (found, input_new (path, (guint64) st.st_size,
                NULL));
      }
    } else if (is_wav_name (name)) {
      /* a dangling link: let the file's error say so */
      g_ptr_array_add (found, input_new (path, 0, NULL));
    }
    g_free (path);
  }
  g_dir_close (d);
}

GPtrArray *
bc_collect_inputs (gchar ** args)
{
  GPtrArray *inputs = g_ptr_array_new_with_free_func (input_free);

  for (; args && *args; args++) {
    GStatBuf st;

    if (g_stat (*args, &st) == 0 && S_ISDIR (st.st_mode)) {
      GPtrArray *found = g_ptr_array_new ();
      guint i;

      collect_dir (*args, found);
      g_ptr_array_sort (found, compare_inputs);
      for (i = 0; i < found->len; i++)
        g_ptr_array_add (inputs, g_ptr_array_index (found, i));
      g_ptr_array_free (found, TRUE);
    } else {
      g_ptr_array_add (inputs, input_new (*args,
              g_stat (*args, &st) == 0 ? (guint64) st.st_size : 0, NULL));
    }
  }
  return inputs;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                   */

/* Through g_print / g_printerr, as the tool always wrote (they convert
 * to the locale's character set). */
static void
write_buffer (GString * s, gboolean to_stderr)
{
  if (s->len == 0)
    return;
  if (to_stderr)
    g_printerr ("%s", s->str);
  else
    g_print ("%s", s->str);
  fflush (to_stderr ? stderr : stdout);
  g_string_truncate (s, 0);
}

void
bc_sink_flush (BcSink * sink)
{
  if (!sink->live)
    return;
  write_buffer (sink->out, FALSE);
  write_buffer (sink->err, TRUE);
}

/* ------------------------------------------------------------------------ */
/* Workers                                                                  */

typedef struct {
  BcSink sink;
  gboolean ok, done;
} Slot;

typedef struct {
  GPtrArray *inputs;
  BcClassifyFunc classify;
  Slot *slots;
  guint next;                   /* next input to take */
  guint written;                /* inputs written so far */
  guint ahead;                  /* inputs a thread may take beyond it */
  guint64 windows_done, bytes_done, bytes_total;
  GMutex lock;
  GCond cond;
} Batch;

typedef struct {
  Batch *batch;
  gpointer worker;
} WorkerArg;

/* The next input to classify, or -1 when none is left. */
static gint
take_input (Batch * b)
{
  gint i = -1;

  g_mutex_lock (&b->lock);
  while (b->next < b->inputs->len && b->next >= b->written + b->ahead)
    g_cond_wait (&b->cond, &b->lock);
  if (b->next < b->inputs->len)
    i = (gint) b->next++;
  g_mutex_unlock (&b->lock);
  return i;
}

static gpointer
worker_main (gpointer data)
{
  WorkerArg *w = data;
  Batch *b = w->batch;
  gint i;

  while ((i = take_input (b)) >= 0) {
    Slot *s = &b->slots[i];
    const BcInput *in = g_ptr_array_index (b->inputs, i);
    guint64 windows = 0;

    s->sink.out = g_string_new (NULL);
    s->sink.err = g_string_new (NULL);
    s->ok = b->classify (w->worker, in, &s->sink, &windows);
    g_mutex_lock (&b->lock);
    s->done = TRUE;
    b->windows_done += windows;
    b->bytes_done += in->bytes;
    g_cond_broadcast (&b->cond);
    g_mutex_unlock (&b->lock);
  }
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Progress bar (stderr, on a terminal)                                     */

/* Called with the lock held. */
static void
draw_progress (Batch * b, gint64 start_us)
{
  gdouble elapsed = (g_get_monotonic_time () - start_us) / 1e6;
  gdouble f = b->bytes_total ? (gdouble) b->bytes_done / b->bytes_total :
      (gdouble) b->written / MAX (b->inputs->len, 1);
  guint filled = (guint) (f * PROGRESS_WIDTH), i;
  gchar bar[PROGRESS_WIDTH + 1];

  for (i = 0; i < PROGRESS_WIDTH; i++)
    bar[i] = i < filled ? '#' : '.';
  bar[PROGRESS_WIDTH] = '\0';
  fprintf (stderr, "\r\033[K[%s] %u/%u files, %.0f windows/s", bar,
      b->written, b->inputs->len, elapsed > 0 ? b->windows_done / elapsed :
      0.0);
  if (f > 0.0 && f < 1.0) {
    guint eta = (guint) (elapsed * (1.0 - f) / f + 0.5);
    fprintf (stderr, ", ETA %u:%02u", eta / 60, eta % 60);
  }
  fflush (stderr);
}

static void
clear_progress (void)
{
  fputs ("\r\033[K", stderr);
}

/* Waits until input i is done, redrawing the bar meanwhile. */
static void
wait_for (Batch * b, guint i, gboolean progress, gint64 start_us)
{
  g_mutex_lock (&b->lock);
  while (!b->slots[i].done) {
    if (!progress) {
      g_cond_wait (&b->cond, &b->lock);
      continue;
    }
    draw_progress (b, start_us);
    g_cond_wait_until (&b->cond, &b->lock,
        g_get_monotonic_time () + PROGRESS_INTERVAL_US);
  }
  g_mutex_unlock (&b->lock);
}

static guint
run_live (GPtrArray * inputs, gpointer worker, BcClassifyFunc classify)
{
  BcSink sink = { g_string_new (NULL), g_string_new (NULL), TRUE };
  guint64 windows = 0;
  gboolean ok = classify (worker, g_ptr_array_index (inputs, 0), &sink,
      &windows);

  bc_sink_flush (&sink);
  g_string_free (sink.out, TRUE);
  g_string_free (sink.err, TRUE);
  return ok ? 0 : 1;
}

guint
bc_run (GPtrArray * inputs, gpointer * workers, guint n_workers,
    BcClassifyFunc classify, gboolean progress)
{
  Batch b;
  GThread **threads;
  WorkerArg *args;
  gint64 start_us = g_get_monotonic_time ();
  guint i, failed = 0;

  if (inputs->len == 0)
    return 0;
  if (inputs->len == 1)
    return run_live (inputs, workers[0], classify);
  memset (&b, 0, sizeof (b));
  b.inputs = inputs;
  b.classify = classify;
  b.ahead = AHEAD_PER_WORKER * n_workers;
  b.slots = g_new0 (Slot, inputs->len);
  for (i = 0; i < inputs->len; i++)
    b.bytes_total += ((BcInput *) g_ptr_array_index (inputs, i))->bytes;
  g_mutex_init (&b.lock);
  g_cond_init (&b.cond);
  threads = g_new (GThread *, n_workers);
  args = g_new (WorkerArg, n_workers);
  for (i = 0; i < n_workers; i++) {
    args[i].batch = &b;
    args[i].worker = workers[i];
    threads[i] = g_thread_new ("beenet-classify", worker_main, &args[i]);
  }
  for (i = 0; i < inputs->len; i++) {
    Slot *s = &b.slots[i];

    wait_for (&b, i, progress, start_us);
    if (progress)
      clear_progress ();
    write_buffer (s->sink.out, FALSE);
    write_buffer (s->sink.err, TRUE);
    g_string_free (s->sink.out, TRUE);
    g_string_free (s->sink.err, TRUE);
    failed += !s->ok;
    g_mutex_lock (&b.lock);
    b.written = i + 1;
    g_cond_broadcast (&b.cond);
    if (progress)
      draw_progress (&b, start_us);
    g_mutex_unlock (&b.lock);
  }
  if (progress) {
    clear_progress ();
    fflush (stderr);
  }
  for (i = 0; i < n_workers; i++)
    g_thread_join (threads[i]);
  g_free (threads);
  g_free (args);
  g_mutex_clear (&b.lock);
  g_cond_clear (&b.cond);
  g_free (b.slots);
  return failed;
}
