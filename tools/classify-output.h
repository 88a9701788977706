/* beenet-classify's output formats: one table of record kinds (their
 * columns) written as tab-separated lines (the tool's original output),
 * CSV (RFC 4180) or JSON lines.
 * Copyright (C) 2026 gst-beenet authors, LGPL-2.1-or-later */
#ifndef BEENET_CLASSIFY_OUTPUT_H
#define BEENET_CLASSIFY_OUTPUT_H

#include <glib.h>

typedef enum {
  BC_FORMAT_TSV = 0,            /* default: the tool's "# ..." header and
                                   tab-separated lines */
  BC_FORMAT_CSV,                /* header row, then one row per record */
  BC_FORMAT_JSON                /* one JSON object per line, with "type" */
} BcFormat;

typedef enum {
  BC_RECORD_WINDOW = 0,         /* one classified window */
  BC_RECORD_WINDOW_CLASSES,     /* the same with --classes-remaining */
  BC_RECORD_EXIT,               /* --all-exits: one exit of a window */
  BC_RECORD_DETECTION,          /* --detections */
  BC_RECORD_SEGMENT,            /* --segment */
  BC_RECORD_TOTAL,              /* --segment: the per-file total */
  BC_RECORD_ERROR               /* a file that failed (JSON only) */
} BcRecord;

/* One value per non-literal column of the record, in column order:
 * strings in s, numbers in d, counts in u; the exit column takes u (the
 * exit) and n (the number of exits). */
typedef struct {
  const gchar *s;
  gdouble d;
  guint u, n;
} BcCell;

/* Parses a --format name; FALSE for an unknown one. */
gboolean bc_format_from_name (const gchar * name, BcFormat * format);
/* "tsv (default), csv or json (JSON lines)" for --help; g_free it. */
gchar *bc_format_help (void);
const gchar *bc_format_name (BcFormat format);

/* The header line of a mode (window, detection or segment records); JSON
 * has none. */
void bc_write_header (GString * out, BcFormat format, BcRecord kind);
/* One record.  TSV and CSV write no error records (errors go to stderr
 * only). */
void bc_write_record (GString * out, BcFormat format, BcRecord kind,
    const BcCell * cells);

#endif /* BEENET_CLASSIFY_OUTPUT_H */
