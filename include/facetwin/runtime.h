/* facetwin/runtime.h — process-wide settings: threads.
 *
 * ft_set_threads(n) sets OpenBLAS's thread count and the count the library's
 * own worker threads use, so the two never oversubscribe the cores: compute
 * runs in BLAS threads while the library's threads (data loading) mostly wait
 * on I/O. n <= 0 means "number of online cores". With n > 1 a batch-1
 * convolution (an encoder's or a detector's inference) is also split into n
 * parts run by a process-wide pool of n - 1 persistent threads plus the
 * caller, with OpenBLAS at one thread meanwhile (core/pool.h); with n = 1
 * (facetwind's workers) the pool is never used. Results are deterministic for
 * a given n, but may differ in the last bits between values of n.
 */
#ifndef FACETWIN_RUNTIME_H
#define FACETWIN_RUNTIME_H

#ifdef __cplusplus
extern "C" {
#endif

int ft_cpu_count(void);
void ft_set_threads(int n);
int ft_get_threads(void);
/* Monotonic wall-clock seconds. */
double ft_now(void);
/* Peak resident set size of this process in MiB (from getrusage). */
double ft_peak_rss_mb(void);
/* Gives freed heap memory back to the kernel (glibc malloc_trim; a no-op elsewhere): call after
 * dropping a large temporary, such as a checkpoint's tensors once the nets hold copies. */
void ft_trim_heap(void);

#ifdef __cplusplus
}
#endif
#endif
