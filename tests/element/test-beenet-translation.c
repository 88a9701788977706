/* User-facing errors are translated: with a French locale, the GError text
 * of a failed model load is the French one from po/fr.po (compiled by the
 * build into <builddir>/po/fr/LC_MESSAGES/gst-beenet.mo).
 *
 * Only the C locale is installed on the build machines, so the test builds
 * fr_FR.UTF-8 with localedef into a temporary directory and points LOCPATH
 * at it.  It exits 77 (SKIP, with the reason) if localedef cannot build it
 * (package `locales` missing).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <locale.h>
#include <libintl.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gst/gst.h>

#define CHECK(cond) do { if (!(cond)) { \
      g_printerr ("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      ret = 1; goto out; } } while (0)

static GError *
failed_load_error (const gchar * model)
{
  GstElement *e = gst_element_factory_make ("beenet", NULL);
  GstBus *bus = gst_bus_new ();
  GstMessage *m;
  GError *err = NULL;

  g_object_set (e, "model", model, NULL);
  gst_element_set_bus (e, bus);
  if (gst_element_set_state (e, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE)
    g_printerr ("state change unexpectedly succeeded\n");
  m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (m) {
    gst_message_parse_error (m, &err, NULL);
    gst_message_unref (m);
  }
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (e);
  gst_object_unref (bus);
  return err;
}

int
main (int argc, char **argv)
{
  const gchar *po_dir = g_getenv ("BEENET_PO_BUILD_DIR");
  gchar *tmp = NULL, *locdir = NULL, *mo = NULL, *out = NULL, *errout = NULL;
  gchar *argv_ld[] = { (gchar *) "localedef", (gchar *) "-i",
    (gchar *) "fr_FR", (gchar *) "-f", (gchar *) "UTF-8", NULL, NULL
  };
  const gchar *missing = "/nonexistent/beenet/modele.gguf";
  GError *err = NULL;
  gint status = 0, ret = 0;
  GstElement *probe;

  if (po_dir == NULL) {
    g_printerr ("BEENET_PO_BUILD_DIR is not set (run through meson test)\n");
    return 1;
  }
  mo = g_build_filename (po_dir, "fr", "LC_MESSAGES", "gst-beenet.mo", NULL);
  if (!g_file_test (mo, G_FILE_TEST_EXISTS)) {
    g_printerr ("FAIL: %s was not built\n", mo);
    return 1;
  }

  tmp = g_dir_make_tmp ("beenet-locale-XXXXXX", &err);
  if (tmp == NULL) {
    g_printerr ("%s\n", err->message);
    return 1;
  }
  locdir = g_build_filename (tmp, "fr_FR.UTF-8", NULL);
  argv_ld[5] = locdir;
  if (!g_spawn_sync (NULL, argv_ld, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
          &out, &errout, &status, &err) ||
      !g_file_test (locdir, G_FILE_TEST_IS_DIR)) {
    g_print ("SKIP: cannot build the fr_FR.UTF-8 locale with localedef "
        "(install the Debian package `locales`): %s%s\n",
        err ? err->message : "", errout ? errout : "");
    ret = 77;
    goto out;
  }

  g_setenv ("LOCPATH", tmp, TRUE);
  g_setenv ("LC_ALL", "fr_FR.UTF-8", TRUE);
  g_setenv ("LANGUAGE", "fr", TRUE);
  CHECK (setlocale (LC_ALL, "") != NULL);

  gst_init (&argc, &argv);
  /* loading the plugin binds the domain to the install prefix; use the
   * catalogues of this build instead */
  probe = gst_element_factory_make ("beenet", NULL);
  CHECK (probe != NULL);
  gst_object_unref (probe);
  CHECK (bindtextdomain ("gst-beenet", po_dir) != NULL);
  bind_textdomain_codeset ("gst-beenet", "UTF-8");

  g_clear_error (&err);
  err = failed_load_error (missing);
  CHECK (err != NULL);
  g_print ("message: %s\n", err->message);
  CHECK (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_NOT_FOUND));
  CHECK (strstr (err->message, missing) != NULL);
  CHECK (strstr (err->message, "Impossible de charger le modèle") != NULL);
  CHECK (strstr (err->message, "n’existe pas") != NULL);
  CHECK (strstr (err->message, "Could not load") == NULL);

out:
  g_clear_error (&err);
  if (locdir) {
    gchar *cmd[] = { (gchar *) "rm", (gchar *) "-rf", tmp, NULL };
    g_spawn_sync (NULL, cmd, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
        NULL, NULL, NULL);
  }
  g_free (locdir);
  g_free (tmp);
  g_free (mo);
  g_free (out);
  g_free (errout);
  return ret;
}
