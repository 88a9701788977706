/* The beenet element's and plugin's metadata (issue 11: "the element's
 * metadata carries a placeholder author address and an origin URL that
 * does not exist, and no documentation URL").
 *
 * Copyright (C) 2026 gst-beenet authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Reads the registered element factory's long name, klass, description,
 * author and doc-uri (and the plugin's origin) and fails on an empty
 * string, on placeholder text (example.com/.org/.net, FIXME, TODO, "your
 * name", ...) and on a file:// reference that resolves neither to an
 * existing file nor, before `meson install`, to a file of the source tree
 * at the same place below the documentation directory (meson.build
 * installs README.md to DOCDIR and docs/element.md to DOCDIR/docs, so
 * DOCDIR/<rel> is SOURCE_ROOT/<rel>).  The checker itself is tested on
 * known-bad values first, so a check that accepts anything fails.
 *
 * BEENET_SOURCE_ROOT and BEENET_DOCDIR come from tests/element/meson.build.
 */
#include <string.h>

#include <glib/gstdio.h>

#include <gst/gst.h>
#include <gst/check/gstcheck.h>

static const gchar *const placeholders[] = {
  "example.com", "example.org", "example.net", "fixme", "todo", "xxx",
  "your name", "yourname", "your-name", "@localhost", "lorem ipsum",
  "<unknown>", "placeholder",
};

/* NULL if @text is real text, else why not (static string). */
static const gchar *
placeholder_reason (const gchar * text)
{
  gchar *lower;
  const gchar *reason = NULL;
  guint i;

  if (text == NULL)
    return "missing";
  lower = g_ascii_strdown (text, -1);
  g_strstrip (lower);
  if (lower[0] == '\0')
    reason = "empty";
  for (i = 0; reason == NULL && i < G_N_ELEMENTS (placeholders); i++)
    if (strstr (lower, placeholders[i]) != NULL)
      reason = placeholders[i];
  g_free (lower);
  return reason;
}

/* The local file @uri names, or NULL if it names none: an existing regular
 * file, or (not installed yet) the source tree's file at the same path
 * below BEENET_DOCDIR.  Free with g_free. */
static gchar *
doc_uri_to_file (const gchar * uri)
{
  const gchar *prefix = BEENET_DOCDIR G_DIR_SEPARATOR_S;
  gchar *path, *file = NULL;

  if (uri == NULL || !g_str_has_prefix (uri, "file://"))
    return NULL;
  path = g_filename_from_uri (uri, NULL, NULL);
  if (path == NULL)
    return NULL;
  if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
    file = g_strdup (path);
  else if (g_str_has_prefix (path, prefix) && strstr (path, "..") == NULL)
    file = g_build_filename (BEENET_SOURCE_ROOT, path + strlen (prefix),
        NULL);
  if (file != NULL && !g_file_test (file, G_FILE_TEST_IS_REGULAR))
    g_clear_pointer (&file, g_free);
  g_free (path);
  return file;
}

static void
assert_real_text (const gchar * what, const gchar * text)
{
  const gchar *reason = placeholder_reason (text);

  fail_unless (reason == NULL, "%s \"%s\": %s", what,
      GST_STR_NULL (text), reason);
}

/* Contents of the file @uri resolves to (the test fails if none). */
static gchar *
read_doc_uri (const gchar * what, const gchar * uri)
{
  gchar *file = doc_uri_to_file (uri), *text = NULL;

  fail_unless (file != NULL, "%s \"%s\" does not resolve to a file in %s "
      "or the source tree", what, GST_STR_NULL (uri), BEENET_DOCDIR);
  fail_unless (g_file_get_contents (file, &text, NULL, NULL), "cannot read %s",
      file);
  GST_INFO ("%s %s -> %s", what, uri, file);
  g_free (file);
  return text;
}

GST_START_TEST (test_checker_rejects_placeholders)
{
  static const gchar *const bad[] = {
    "", "   ", "Jane Doe <jane@example.com>", "FIXME", "Todo: describe",
    "Your Name <you@example.org>", "http://www.example.net/",
  };
  static const gchar *const bad_uris[] = {
    "", "https://gst-beenet.example/docs", "file:///nonexistent/beenet.md",
    "file://" BEENET_DOCDIR "/docs/no-such-page.md",
    "file://" BEENET_DOCDIR "/../../../etc/passwd",
  };
  gchar *file;
  guint i;

  fail_unless (placeholder_reason (NULL) != NULL);
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    fail_unless (placeholder_reason (bad[i]) != NULL, "accepted \"%s\"",
        bad[i]);
  fail_unless (placeholder_reason ("gst-beenet developers") == NULL);
  for (i = 0; i < G_N_ELEMENTS (bad_uris); i++) {
    file = doc_uri_to_file (bad_uris[i]);
    fail_unless (file == NULL, "\"%s\" resolved to %s", bad_uris[i], file);
  }
  /* an installed-layout path resolves to the source tree before install */
  file = doc_uri_to_file ("file://" BEENET_DOCDIR "/README.md");
  fail_unless (file != NULL);
  g_free (file);
}

GST_END_TEST;

GST_START_TEST (test_element_metadata)
{
  static const gchar *const keys[] = {
    GST_ELEMENT_METADATA_LONGNAME, GST_ELEMENT_METADATA_KLASS,
    GST_ELEMENT_METADATA_DESCRIPTION, GST_ELEMENT_METADATA_AUTHOR,
    GST_ELEMENT_METADATA_DOC_URI,
  };
  GstElementFactory *factory = gst_element_factory_find ("beenet");
  const gchar *klass, *uri;
  gchar **parts, *doc;
  guint i;

  fail_unless (factory != NULL, "no beenet element registered");
  for (i = 0; i < G_N_ELEMENTS (keys); i++)
    assert_real_text (keys[i],
        gst_element_factory_get_metadata (factory, keys[i]));

  /* klass: non-empty "/"-separated words; it is an audio analyser */
  klass = gst_element_factory_get_metadata (factory,
      GST_ELEMENT_METADATA_KLASS);
  parts = g_strsplit (klass, "/", -1);
  for (i = 0; parts[i] != NULL; i++)
    fail_unless (parts[i][0] != '\0', "empty word in klass \"%s\"", klass);
  fail_unless (g_strv_contains ((const gchar * const *) parts, "Analyzer"));
  fail_unless (g_strv_contains ((const gchar * const *) parts, "Audio"));
  g_strfreev (parts);

  /* doc-uri: a local file that documents this element, every property */
  uri = gst_element_factory_get_metadata (factory,
      GST_ELEMENT_METADATA_DOC_URI);
  fail_unless_equals_string (uri, "file://" BEENET_DOCDIR
      "/docs/element.md");
  doc = read_doc_uri ("doc-uri", uri);
  {
    GstElement *element = gst_element_factory_create (factory, NULL);
    GParamSpec **specs;
    guint n, checked = 0;
    gchar *quoted;

    fail_unless (element != NULL);
    specs = g_object_class_list_properties (G_OBJECT_GET_CLASS (element), &n);
    for (i = 0; i < n; i++) {
      if (specs[i]->owner_type != G_OBJECT_TYPE (element))
        continue;               /* name, parent, qos: GStreamer's own */
      quoted = g_strdup_printf ("`%s`", specs[i]->name);
      fail_unless (strstr (doc, quoted) != NULL,
          "property %s is not documented in %s", quoted, uri);
      g_free (quoted);
      checked++;
    }
    fail_unless (checked >= 10, "only %u properties of beenet", checked);
    g_free (specs);
    gst_object_unref (element);
  }
  g_free (doc);
  gst_object_unref (factory);
}

GST_END_TEST;

GST_START_TEST (test_plugin_metadata)
{
  GstPlugin *plugin = gst_registry_find_plugin (gst_registry_get (),
      "beenet");
  gchar *doc;

  fail_unless (plugin != NULL, "no beenet plugin registered");
  assert_real_text ("plugin description", gst_plugin_get_description (plugin));
  assert_real_text ("plugin package", gst_plugin_get_package (plugin));
  assert_real_text ("plugin origin", gst_plugin_get_origin (plugin));
  fail_unless_equals_string (gst_plugin_get_license (plugin), "LGPL");
  doc = read_doc_uri ("plugin origin", gst_plugin_get_origin (plugin));
  fail_unless (strstr (doc, "beenet") != NULL);
  g_free (doc);
  gst_object_unref (plugin);
}

GST_END_TEST;

static Suite *
beenet_metadata_suite (void)
{
  Suite *s = suite_create ("beenet-metadata");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_checker_rejects_placeholders);
  tcase_add_test (tc, test_element_metadata);
  tcase_add_test (tc, test_plugin_metadata);
  return s;
}

GST_CHECK_MAIN (beenet_metadata);
