/* runtime.c — threads, clocks and memory figures for the whole process.
 *
 * OpenBLAS is the only compute parallelism: the library's own code runs the
 * cheap element-wise loops on the calling thread, so "--threads N" maps to
 * openblas_set_num_threads(N) and nothing else competes for the cores.
 *
 * ft_trim_heap: glibc keeps freed heap memory resident (its mmap threshold
 * rises after large frees, so later large blocks come from the heap, and the
 * holes a freed checkpoint leaves are not given back). malloc_trim(0) returns
 * every whole free page; elsewhere it does nothing.
 */
#include "facetwin/runtime.h"

#include <cblas.h>
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int g_threads = 0; /* 0 = not yet set: ft_get_threads() reports the core count */

int ft_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void ft_set_threads(int n)
{
    if (n <= 0) n = ft_cpu_count();
    g_threads = n;
    openblas_set_num_threads(n);
}

int ft_get_threads(void) { return g_threads > 0 ? g_threads : ft_cpu_count(); }

double ft_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double ft_peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

void ft_trim_heap(void)
{
#if defined(__GLIBC__)
    (void)malloc_trim(0);
#endif
}
