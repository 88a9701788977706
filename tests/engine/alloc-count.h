/* Allocation counting for the "no allocation per window" tests (internal to
 * tests/engine).  The test executables that include this are linked with
 * -Wl,--wrap for the allocation functions (tests/engine/meson.build), which
 * redirects every call made by the statically linked engine to the wrappers
 * below; they count while `counting` is set.  Include it from exactly one
 * translation unit per executable, inside #if defined(BEENET_TEST_WRAP_MALLOC). */
#ifndef BEENET_TEST_ALLOC_COUNT_H
#define BEENET_TEST_ALLOC_COUNT_H

#include <stddef.h>

static volatile int counting;
static volatile long n_allocs;
void *__real_malloc (size_t);
void *__real_calloc (size_t, size_t);
void *__real_realloc (void *, size_t);
void *__real_aligned_alloc (size_t, size_t);
void *__wrap_malloc (size_t n);
void *__wrap_calloc (size_t a, size_t b);
void *__wrap_realloc (void *p, size_t n);
void *__wrap_aligned_alloc (size_t a, size_t n);
void *__wrap_malloc (size_t n) { if (counting) n_allocs++; return __real_malloc (n); }
void *__wrap_calloc (size_t a, size_t b) { if (counting) n_allocs++; return __real_calloc (a, b); }
void *__wrap_realloc (void *p, size_t n) { if (counting) n_allocs++; return __real_realloc (p, n); }
void *__wrap_aligned_alloc (size_t a, size_t n) { if (counting) n_allocs++; return __real_aligned_alloc (a, n); }

#endif
