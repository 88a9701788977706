/* GLib's GMutex and GCond told to ThreadSanitizer (linked only into the
 * -Db_sanitize=thread build of the element tests).
 *
 * On Linux GLib implements GMutex and GCond directly on futex(2) (no
 * pthread call), so ThreadSanitizer, which learns about locks from its
 * pthread interceptors, never sees GST_OBJECT_LOCK and the element's
 * model_lock: every field they protect would be reported as a race
 * between the thread that sets a property and the streaming thread.
 * Suppressing those reports would also hide the real races in the same
 * functions.  Instead this file defines g_mutex_lock/unlock/trylock,
 * g_mutex_clear and g_cond_wait/wait_until in the test program: the
 * dynamic linker resolves every call from another library (libgstreamer,
 * libgobject, the beenet plugin) to these, which call GLib's own through
 * dlsym(RTLD_NEXT) and annotate the lock operations with ThreadSanitizer's
 * public mutex interface (sanitizer/tsan_interface.h).  That is exactly
 * the happens-before a pthread mutex would give; nothing is hidden.
 *
 * Calls inside libglib itself do not come here (GLib binds its own
 * functions directly): what libglib locks internally stays invisible, and
 * tests/element/tsan.supp covers the few reports from inside
 * libglib/libgobject, each with the reason.
 *
 * Copyright (C) 2026 gst-beenet authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdlib.h>

#include <glib.h>
#include <sanitizer/tsan_interface.h>

/* GLib's functions, looked up on first use (library constructors may lock
 * before this program's own constructors run). */
enum { LOCK, UNLOCK, TRYLOCK, CLEAR, WAIT, WAIT_UNTIL, N_REAL };

static const char *const real_names[N_REAL] = {
  "g_mutex_lock", "g_mutex_unlock", "g_mutex_trylock", "g_mutex_clear",
  "g_cond_wait", "g_cond_wait_until",
};

static void *real_fns[N_REAL];

static void *
real (int which)
{
  void *p = __atomic_load_n (&real_fns[which], __ATOMIC_ACQUIRE);

  if (p == NULL) {
    p = dlsym (RTLD_NEXT, real_names[which]);
    if (p == NULL)
      abort ();
    __atomic_store_n (&real_fns[which], p, __ATOMIC_RELEASE);
  }
  return p;
}

/* BEENET_TSAN_PLAIN_GLIB_LOCKS=1: call GLib without telling
 * ThreadSanitizer, to see the false reports this file removes (the
 * control run of docs/reliability.md). */
static gboolean
annotate (void)
{
  static gint state;            /* 0 unknown, 1 annotate, 2 plain */
  gint s = __atomic_load_n (&state, __ATOMIC_ACQUIRE);

  if (s == 0) {
    const char *env = getenv ("BEENET_TSAN_PLAIN_GLIB_LOCKS");

    s = env != NULL && env[0] == '1' ? 2 : 1;
    __atomic_store_n (&state, s, __ATOMIC_RELEASE);
  }
  return s == 1;
}

typedef void (*MutexFunc) (GMutex * m);
typedef gboolean (*TryFunc) (GMutex * m);
typedef void (*WaitFunc) (GCond * c, GMutex * m);
typedef gboolean (*WaitUntilFunc) (GCond * c, GMutex * m, gint64 end_time);

void
g_mutex_lock (GMutex * m)
{
  gboolean a = annotate ();

  if (a)
    __tsan_mutex_pre_lock (m, 0);
  ((MutexFunc) real (LOCK)) (m);
  if (a)
    __tsan_mutex_post_lock (m, 0, 0);
}

void
g_mutex_unlock (GMutex * m)
{
  gboolean a = annotate ();

  if (a)
    __tsan_mutex_pre_unlock (m, 0);
  ((MutexFunc) real (UNLOCK)) (m);
  if (a)
    __tsan_mutex_post_unlock (m, 0);
}

gboolean
g_mutex_trylock (GMutex * m)
{
  gboolean a = annotate (), ok;

  if (a)
    __tsan_mutex_pre_lock (m, __tsan_mutex_try_lock);
  ok = ((TryFunc) real (TRYLOCK)) (m);
  if (a)
    __tsan_mutex_post_lock (m, __tsan_mutex_try_lock |
        (ok ? 0 : __tsan_mutex_try_lock_failed), 0);
  return ok;
}

void
g_mutex_clear (GMutex * m)
{
  if (annotate ())
    __tsan_mutex_destroy (m, 0);
  ((MutexFunc) real (CLEAR)) (m);
}

/* A wait releases the mutex and takes it again before returning. */
static void
released (GMutex * m)
{
  if (annotate ()) {
    __tsan_mutex_pre_unlock (m, 0);
    __tsan_mutex_post_unlock (m, 0);
  }
}

static void
reacquired (GMutex * m)
{
  if (annotate ()) {
    __tsan_mutex_pre_lock (m, 0);
    __tsan_mutex_post_lock (m, 0, 0);
  }
}

void
g_cond_wait (GCond * c, GMutex * m)
{
  released (m);
  ((WaitFunc) real (WAIT)) (c, m);
  reacquired (m);
}

gboolean
g_cond_wait_until (GCond * c, GMutex * m, gint64 end_time)
{
  gboolean signalled;

  released (m);
  signalled = ((WaitUntilFunc) real (WAIT_UNTIL)) (c, m, end_time);
  reacquired (m);
  return signalled;
}
