/* The end of every engine test's main(): runs a Check suite and gives
 * main's exit status.  Internal to tests/engine. */
#ifndef BEENET_TEST_CHECK_MAIN_H
#define BEENET_TEST_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

/* Runs s (CK_NORMAL output); EXIT_FAILURE if any test failed. */
static inline int
check_run_suite (Suite *s)
{
  SRunner *sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  int failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
