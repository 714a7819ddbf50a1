/* runtime.c — threads, clocks and memory figures for the whole process.
 *
 * "--threads N" maps to openblas_set_num_threads(N) and to the N parts of the
 * library's own pool (core/pool.c), which splits batch-1 convolutions across
 * cores and sets OpenBLAS to one thread while it runs, so the two never
 * oversubscribe. The pool is used only after an explicit ft_set_threads(N > 1):
 * a process that never sets threads keeps OpenBLAS's default and no pool.
 * The element-wise loops run on the calling thread.
 *
 * ft_trim_heap: glibc keeps freed heap memory resident (its mmap threshold
 * rises after large frees, so later large blocks come from the heap, and the
 * holes a freed checkpoint leaves are not given back). malloc_trim(0) returns
 * every whole free page; elsewhere it does nothing.
 */
#include "facetwin/runtime.h"
#include "pool.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* 0 = not yet set: ft_get_threads() reports the core count. Atomic: forwards on other threads
 * read it (ft_pool_threads). */
static atomic_int g_threads = 0;

int ft_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void ft_set_threads(int n)
{
    if (n <= 0) n = ft_cpu_count();
    atomic_store_explicit(&g_threads, n, memory_order_relaxed);
    openblas_set_num_threads(n);
}

int ft_get_threads(void)
{
    int n = atomic_load_explicit(&g_threads, memory_order_relaxed);
    return n > 0 ? n : ft_cpu_count();
}

int ft_pool_threads(void)
{
    int n = atomic_load_explicit(&g_threads, memory_order_relaxed);
    return n > 1 ? n : 1;
}

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
