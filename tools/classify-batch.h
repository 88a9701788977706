/* beenet-classify's batch runner: the inputs (files, and directories
 * searched for .wav files in sorted order), worker threads that each
 * classify one file at a time with their own state, results written in
 * input order, a progress bar on a terminal.
 * Copyright (C) 2026 gst-beenet authors, LGPL-2.1-or-later */
#ifndef BEENET_CLASSIFY_BATCH_H
#define BEENET_CLASSIFY_BATCH_H

#include <glib.h>

typedef struct {
  gchar *path;
  gchar *error;                 /* non-NULL: the input could not be listed
                                   (an unreadable directory); reported as
                                   this file's error */
  guint64 bytes;                /* its size, for the progress bar */
} BcInput;

/* Where one file's results go: out (stdout) and err (stderr).  When live
 * (a single input, classified on the calling thread), bc_sink_flush writes
 * them at once, so a long file prints as it goes; else the runner writes
 * them when the file's turn in the input order comes. */
typedef struct {
  GString *out, *err;
  gboolean live;
} BcSink;

void bc_sink_flush (BcSink * sink);

/* Command-line arguments to inputs, in their order; a directory is replaced
 * by the .wav files (any case of the suffix) found below it, sorted by
 * path (strcmp), symbolic links to directories not followed.  Other
 * arguments are taken as files whatever their name.  A GPtrArray of
 * BcInput that frees them. */
GPtrArray *bc_collect_inputs (gchar ** args);

/* Classifies one input with a worker's state; returns FALSE if it failed
 * and adds the windows it classified to *windows. */
typedef gboolean (*BcClassifyFunc) (gpointer worker, const BcInput * input,
    BcSink * sink, guint64 * windows);

/* Runs classify over every input with n_workers threads (workers[i] is the
 * state of thread i; one input at a time per thread; a single input runs
 * live on the calling thread) and writes each input's output in input
 * order.  progress: draw a progress bar on stderr.  Returns the number of
 * inputs that failed. */
guint bc_run (GPtrArray * inputs, gpointer * workers, guint n_workers,
    BcClassifyFunc classify, gboolean progress);

#endif /* BEENET_CLASSIFY_BATCH_H */
