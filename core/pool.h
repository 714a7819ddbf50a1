/* pool.h — the library's own fork-join worker pool (core/pool.c), internal.
 *
 * Used by layers whose one-image work is too small for OpenBLAS to split well (the batch-1
 * convolutions of inference): the layer cuts its work into T parts and ft_pool_run runs
 * part t on thread t, the caller being thread 0.
 *
 * Process-wide, like OpenBLAS's own threads: T is the count ft_set_threads set (an explicit
 * n > 1; never before ft_set_threads is called, never when it set 1 — facetwind's workers),
 * and the worker threads are created lazily, under a mutex, on the first run that needs them,
 * then live for the process. One run at a time uses them: a run started while another thread's
 * run holds the pool waits for it (runs are short: one layer of one image). A result depends
 * on T only, never on which thread ran a part or on contention.
 *
 * While a run holds the pool OpenBLAS is set to one thread (and restored after), so each part's
 * GEMMs run single-threaded on its own core and nothing oversubscribes.
 */
#ifndef FT_POOL_H
#define FT_POOL_H

/* Part t of T (0 <= t < T). Parts must write disjoint memory. */
typedef void (*ft_pool_fn)(void *arg, int t, int T);

/* Threads a run would use now: the count set by ft_set_threads (facetwin/runtime.h) when it
 * is above 1, else 1 (the caller should then take its serial path). */
int ft_pool_threads(void);

/* Runs fn(arg, t, T) for t = 0..T-1 and returns when every part has returned. T <= 1 runs
 * fn(arg, 0, 1) on the caller. */
void ft_pool_run(int T, ft_pool_fn fn, void *arg);

/* OpenBLAS at one thread (for a batch-1 forward on the pool); returns the count to hand back
 * to ft_pool_blas_restore. */
int ft_pool_blas_single(void);
void ft_pool_blas_restore(int blas);

#endif
