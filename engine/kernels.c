/* Kernel set selection (see kernels.h). */
#include "kernels.h"
#include "beenet.h"

#include <stdlib.h>
#include <string.h>

#if defined(BEENET_HAVE_AVX512)
extern const BeenetKernels beenet_kernels_avx512;
static bool
avx512_supported (void)
{
  /* libgcc's check also requires the OS to save the zmm state (XCR0). */
  __builtin_cpu_init ();
  return __builtin_cpu_supports ("avx512f")
      && __builtin_cpu_supports ("avx512bw")
      && __builtin_cpu_supports ("avx512vl")
      && __builtin_cpu_supports ("avx512vpopcntdq")
      && __builtin_cpu_supports ("fma");
}
#endif

#if defined(BEENET_HAVE_AVX2)
extern const BeenetKernels beenet_kernels_avx2;
static bool
avx2_supported (void)
{
  __builtin_cpu_init ();
  return __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma");
}
#endif

#if defined(BEENET_HAVE_NEON)
extern const BeenetKernels beenet_kernels_neon;
/* Advanced SIMD is part of the aarch64 base architecture (and of its Linux
 * ABI): nothing to check at run time. */
static bool
neon_supported (void)
{
  return true;
}
#endif

/* Best first. */
static const BeenetKernelCandidate candidates[] = {
#if defined(BEENET_HAVE_AVX512)
  { &beenet_kernels_avx512, avx512_supported },
#endif
#if defined(BEENET_HAVE_AVX2)
  { &beenet_kernels_avx2, avx2_supported },
#endif
#if defined(BEENET_HAVE_NEON)
  { &beenet_kernels_neon, neon_supported },
#endif
  { &beenet_kernels_portable, NULL },
};

const BeenetKernels *
beenet_kernels_get (const char *name)
{
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
    const BeenetKernelCandidate *c = &candidates[i];
    if (strcmp (c->kernels->name, name) == 0)
      return (!c->supported || c->supported ()) ? c->kernels : NULL;
  }
  return NULL;
}

bool
beenet_kernels_compiled (const char *name)
{
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
    if (strcmp (candidates[i].kernels->name, name) == 0)
      return true;
  return false;
}

const BeenetKernels *
beenet_kernels_select (void)
{
  /* No cached state: the choice is a pure function of the CPU and the
   * environment, cheap to recompute once per model load. */
  const char *force = getenv ("BEENET_KERNELS");
  if (force && *force) {
    const BeenetKernels *k = beenet_kernels_get (force);
    if (k)
      return k;
  }
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
    const BeenetKernelCandidate *c = &candidates[i];
    if (!c->supported || c->supported ())
      return c->kernels;
  }
  return &beenet_kernels_portable;
}

const char *
beenet_kernel_name (void)
{
  return beenet_kernels_select ()->name;
}
