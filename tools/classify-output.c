/* gst-beenet: beenet-classify's output formats (classify-output.h)
 * Copyright (C) 2026 gst-beenet authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 *
 * Every record kind is one row of RECORDS: its JSON "type" and its
 * columns.  The TSV rendering of each column type is the printf format the
 * tool has always used, so the default output is unchanged byte for byte.
 */
#include <math.h>
#include <string.h>

#include "classify-output.h"

typedef enum {
  COL_STR,                      /* cell s */
  COL_LIT,                      /* a constant, no cell; not in JSON */
  COL_F1, COL_F2, COL_F3, COL_F4,       /* cell d, 1..4 decimals */
  COL_UINT,                     /* cell u */
  COL_EXIT                      /* cells u/n: "2/5" in TSV, two columns
                                   "exit" and "num_exits" in CSV and JSON */
} ColType;

typedef struct {
  const gchar *name;            /* TSV header spelling; '-' becomes '_' in
                                   CSV and JSON */
  ColType type;
  const gchar *literal;         /* COL_LIT */
} Column;

#define MAX_COLUMNS 9

typedef struct {
  const gchar *type;            /* JSON "type" */
  Column cols[MAX_COLUMNS];
} RecordDesc;

static const RecordDesc RECORDS[] = {
  [BC_RECORD_WINDOW] = {"window", {{"file", COL_STR}, {"start", COL_F3},
              {"duration", COL_F3}, {"label", COL_STR},
              {"confidence", COL_F4}, {"entropy", COL_F4},
              {"exit", COL_EXIT}, {"ops-fraction", COL_F4}}},
  /* --classes-remaining: candidates after each exit that ran, "2,1" */
  [BC_RECORD_WINDOW_CLASSES] = {"window", {{"file", COL_STR},
              {"start", COL_F3}, {"duration", COL_F3}, {"label", COL_STR},
              {"confidence", COL_F4}, {"entropy", COL_F4},
              {"exit", COL_EXIT}, {"ops-fraction", COL_F4},
              {"classes-remaining", COL_STR}}},
  [BC_RECORD_EXIT] = {"exit", {{"file", COL_STR}, {"start", COL_F3},
              {"kind", COL_LIT, "exit"}, {"exit", COL_UINT},
              {"label", COL_STR}, {"confidence", COL_F4},
              {"entropy", COL_F4}}},
  [BC_RECORD_DETECTION] = {"detection", {{"file", COL_STR},
              {"time", COL_F3}, {"keyword", COL_STR}, {"score", COL_F4},
              {"windows", COL_UINT}}},
  [BC_RECORD_SEGMENT] = {"segment", {{"file", COL_STR}, {"start", COL_F1},
              {"windows", COL_UINT}, {"ops-fraction", COL_F4},
              {"threshold", COL_F4}, {"max-exit", COL_F2},
              {"gated", COL_UINT}}},
  [BC_RECORD_TOTAL] = {"total", {{"file", COL_STR},
              {"start", COL_LIT, "total"}, {"windows", COL_UINT},
              {"ops-fraction", COL_F4}, {"threshold", COL_LIT, ""},
              {"max-exit", COL_LIT, ""}, {"gated", COL_UINT}}},
  [BC_RECORD_ERROR] = {"error", {{"file", COL_STR}, {"error", COL_STR}}},
};

static const struct {
  const gchar *name;
  const gchar *help;
} FORMATS[] = {
  [BC_FORMAT_TSV] = {"tsv", "tsv (default)"},
  [BC_FORMAT_CSV] = {"csv", "csv"},
  [BC_FORMAT_JSON] = {"json", "json (JSON lines)"},
};

gboolean
bc_format_from_name (const gchar * name, BcFormat * format)
{
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (FORMATS); i++) {
    if (name && g_str_equal (name, FORMATS[i].name)) {
      *format = (BcFormat) i;
      return TRUE;
    }
  }
  return FALSE;
}

const gchar *
bc_format_name (BcFormat format)
{
  return FORMATS[format].name;
}

gchar *
bc_format_help (void)
{
  GString *s = g_string_new (NULL);
  gsize i, n = G_N_ELEMENTS (FORMATS);

  for (i = 0; i < n; i++)
    g_string_append_printf (s, "%s%s", i == 0 ? "" : i + 1 < n ? ", " :
        " or ", FORMATS[i].help);
  return g_string_free (s, FALSE);
}

static void
append_name (GString * out, const gchar * name, gboolean underscores)
{
  for (; *name; name++)
    g_string_append_c (out, underscores && *name == '-' ? '_' : *name);
}

static void
append_csv_string (GString * out, const gchar * s)
{
  if (strpbrk (s, ",\"\r\n") == NULL) {
    g_string_append (out, s);
    return;
  }
  g_string_append_c (out, '"');
  for (; *s; s++) {
    if (*s == '"')
      g_string_append_c (out, '"');
    g_string_append_c (out, *s);
  }
  g_string_append_c (out, '"');
}

static void
append_json_string (GString * out, const gchar * s)
{
  g_string_append_c (out, '"');
  for (; *s; s++) {
    guchar c = (guchar) * s;
    if (c == '"' || c == '\\')
      g_string_append_printf (out, "\\%c", c);
    else if (c < 0x20)
      g_string_append_printf (out, "\\u%04x", c);
    else
      g_string_append_c (out, (gchar) c);
  }
  g_string_append_c (out, '"');
}

static const gchar *const NUMBER_FORMATS[] = {
  [COL_F1] = "%.1f",[COL_F2] = "%.2f",[COL_F3] = "%.3f",[COL_F4] = "%.4f",
};

/* A number as the TSV has always printed it; JSON has no NaN or infinity:
 * null. */
static void
append_number (GString * out, ColType type, gdouble d, BcFormat format)
{
  if (format == BC_FORMAT_JSON && !isfinite (d)) {
    g_string_append (out, "null");
    return;
  }
  g_string_append_printf (out, NUMBER_FORMATS[type], d);
}

static void
append_string (GString * out, const gchar * s, BcFormat format)
{
  if (format == BC_FORMAT_CSV)
    append_csv_string (out, s);
  else if (format == BC_FORMAT_JSON)
    append_json_string (out, s);
  else
    g_string_append (out, s);
}

static void
append_value (GString * out, const Column * col, const BcCell * cell,
    BcFormat format)
{
  const gchar *sep = format == BC_FORMAT_CSV ? "," : "\t";

  switch (col->type) {
    case COL_STR:
      append_string (out, cell->s ? cell->s : "", format);
      break;
    case COL_LIT:
      append_string (out, col->literal, format);
      break;
    case COL_UINT:
      g_string_append_printf (out, "%u", cell->u);
      break;
    case COL_EXIT:
      if (format == BC_FORMAT_TSV)
        g_string_append_printf (out, "%u/%u", cell->u, cell->n);
      else if (format == BC_FORMAT_CSV)
        g_string_append_printf (out, "%u%s%u", cell->u, sep, cell->n);
      else
        g_string_append_printf (out, "%u,\"num_exits\":%u", cell->u,
            cell->n);
      break;
    default:
      append_number (out, col->type, cell->d, format);
      break;
  }
}

void
bc_write_header (GString * out, BcFormat format, BcRecord kind)
{
  const RecordDesc *r = &RECORDS[kind];
  guint c;

  if (format == BC_FORMAT_JSON)
    return;
  if (format == BC_FORMAT_TSV)
    g_string_append (out, "# ");
  for (c = 0; c < MAX_COLUMNS && r->cols[c].name; c++) {
    if (c > 0)
      g_string_append_c (out, format == BC_FORMAT_CSV ? ',' : '\t');
    append_name (out, r->cols[c].name, format == BC_FORMAT_CSV);
    if (format == BC_FORMAT_CSV && r->cols[c].type == COL_EXIT)
      g_string_append (out, ",num_exits");
  }
  g_string_append_c (out, '\n');
}

void
bc_write_record (GString * out, BcFormat format, BcRecord kind,
    const BcCell * cells)
{
  const RecordDesc *r = &RECORDS[kind];
  guint c;

  if (kind == BC_RECORD_ERROR && format != BC_FORMAT_JSON)
    return;
  if (format == BC_FORMAT_JSON)
    g_string_append_printf (out, "{\"type\":\"%s\"", r->type);
  for (c = 0; c < MAX_COLUMNS && r->cols[c].name; c++) {
    const Column *col = &r->cols[c];

    if (format == BC_FORMAT_JSON) {
      if (col->type == COL_LIT)
        continue;
      g_string_append (out, ",\"");
      append_name (out, col->name, TRUE);
      g_string_append (out, "\":");
    } else if (c > 0) {
      g_string_append_c (out, format == BC_FORMAT_CSV ? ',' : '\t');
    }
    append_value (out, col, cells, format);
    if (col->type != COL_LIT)
      cells++;
  }
  g_string_append (out, format == BC_FORMAT_JSON ? "}\n" : "\n");
}
