/* pool.h — the library's own fork-join worker pool (core/pool.c), internal.
 *
 * Used by the layers: a batch-1 convolution (too small for OpenBLAS to split well) cut into
 * row or channel parts, a batch's convolution cut into runs of whole images (each part's
 * im2col and GEMMs on one core), and the memory-bound layers' loops (ft_pool_for). The layer
 * cuts its work into T parts and ft_pool_run runs part t on thread t, the caller being thread
 * 0. A part must never start a run itself (ft_pool_run or ft_pool_for): the pool serves one
 * run at a time, so that would wait for itself.
 *
 * Process-wide, like OpenBLAS's own threads: T is the count ft_set_threads set (an explicit
 * n > 1; never before ft_set_threads is called, never when it set 1 — facetwind's workers),
 * and the worker threads are created lazily, under a mutex, on the first run that needs them,
 * then live for the process. One run at a time uses them: a run started while another thread's
 * run holds the pool waits for it (runs are short: one layer). A result depends
 * on T only, never on which thread ran a part or on contention.
 *
 * While a run holds the pool OpenBLAS is at one thread, so each part's GEMMs run single-threaded
 * on its own core and nothing oversubscribes; ft_net_forward keeps it at one thread for a whole
 * batch-1 forward when the pool is on (ft_pool_blas_single): an OpenBLAS thread woken by one
 * 2-thread call (the encoder's dense sgemv) then keeps spinning in sched_yield on the core the
 * pool needs (a profile of the encoder showed ~20% of its samples there before).
 */
#ifndef FT_POOL_H
#define FT_POOL_H

#include <stddef.h>

/* Part t of T (0 <= t < T). Parts must write disjoint memory. */
typedef void (*ft_pool_fn)(void *arg, int t, int T);

/* Threads a run would use now: the count set by ft_set_threads (facetwin/runtime.h) when it
 * is above 1, else 1 (the caller should then take its serial path). */
int ft_pool_threads(void);

/* Runs fn(arg, t, T) for t = 0..T-1 and returns when every part has returned. T <= 1 runs
 * fn(arg, 0, 1) on the caller. */
void ft_pool_run(int T, ft_pool_fn fn, void *arg);

/* A loop over n independent items (planes, channels, elements) in T contiguous ranges, one per
 * thread, when the pool is on and the loop moves at least FT_POOL_MIN_BYTES (bytes_per_item: what
 * one item reads and writes, roughly); else fn(arg, 0, n) on the caller. fn must write only its
 * items' memory and handle each item alone, so the result is the same bits for every T. Used by
 * the memory-bound layers between convolutions (pooling, batch norm, ReLU), which otherwise run
 * on one core while the other waits, and pull every activation back to the caller's core. */
#define FT_POOL_MIN_BYTES ((double)(1 << 20))
typedef void (*ft_pool_range_fn)(void *arg, size_t lo, size_t hi);
void ft_pool_for(size_t n, double bytes_per_item, ft_pool_range_fn fn, void *arg);

/* OpenBLAS at one thread from the first ft_pool_blas_single until the last matching
 * ft_pool_blas_restore (nested and concurrent callers counted under a mutex), which sets it
 * back to ft_get_threads(). Returns 1: hand it to ft_pool_blas_restore (which ignores 0, so a
 * caller that did not enter can pass 0). */
int ft_pool_blas_single(void);
void ft_pool_blas_restore(int entered);

#endif
