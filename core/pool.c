/* pool.c — a small fork-join pool of persistent worker threads (see pool.h for the contract).
 *
 * Why: a batch-1 convolution of the face encoder is a GEMM of 32–256 rows; OpenBLAS's own
 * threading of it costs more than it gains (one encoder ran slower on 2 BLAS threads than on
 * one). Splitting the layer in facetwin instead — each thread its own im2col tile and its own
 * single-threaded GEMM on a slice of the output — keeps both cores busy with no packing shared
 * between them. A forward dispatches ~40 such runs, so a run must cost microseconds.
 *
 * Dispatch. The pool holds one job (fn, arg, T) and a generation counter. ft_pool_run takes
 * the pool's `use` mutex — a second caller waits for the run in progress (a few hundred
 * microseconds at most). Running its parts on its own thread instead was tried and broke
 * determinism: its GEMMs then ran with whatever OpenBLAS thread count was set at the time, and
 * OpenBLAS's 1- and 2-thread sgemm differ in the last bits (test_conv_par caught it). It publishes the job, bumps
 * the generation (release) and wakes sleeping workers; worker w runs part w if w < T, and
 * every worker then decrements `pending` (so none can still be reading the job when the next
 * run writes it). The caller runs part 0 and spins until `pending` is 0 (the parts are
 * about equal, so the wait is short; it yields the CPU after a while). A worker that finds no
 * new generation spins for FT_POOL_SPIN_SECONDS — long enough to bridge the element-wise
 * layers between two convolutions — then sleeps on a condition variable; `sleepers` (under the
 * mutex `m`) tells the caller whether a broadcast is needed.
 *
 * Memory order: job fields are written before the generation's release store and read after
 * a worker's acquire load of it; a part's writes are published by its release decrement of
 * `pending` and the caller's acquire load that sees 0. Workers beyond T of a run (the pool
 * grew for a larger T earlier) see the new generation, run nothing and decrement `pending`.
 * The generation changes only under `use` and only after every worker has answered the
 * previous one, so no worker misses or repeats a run; a new worker starts from the generation
 * current when it was created (before the bump of the run that created it).
 *
 * Lifetime: workers are created on demand, under `use`, up to FT_POOL_MAX_THREADS - 1, and are
 * never joined (they sleep when idle). If one cannot be created, the run uses the threads it
 * has and the caller runs the rest of the parts.
 */
#include "pool.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "facetwin/runtime.h"

#define FT_POOL_MAX_THREADS 64
/* A worker spins this long for the next run before sleeping. */
#define FT_POOL_SPIN_SECONDS 200e-6
/* The caller spins this many times on a worker's part before yielding its core. */
#define FT_POOL_WAIT_SPINS 4096

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static struct {
    pthread_mutex_t use; /* held by the run in progress */
    pthread_mutex_t m;   /* guards sleepers and the condition variable */
    pthread_cond_t wake;
    int sleepers;
    int workers; /* threads created; touched only under `use` */
    unsigned start[FT_POOL_MAX_THREADS]; /* the generation when worker i was created */
    atomic_uint gen;
    atomic_int pending;
    /* the job of generation gen (written under `use`, before gen is bumped) */
    ft_pool_fn fn;
    void *arg;
    int T;       /* parts */
    int helpers; /* workers 1..helpers run parts 1..helpers; the caller runs the others */
} g_pool = {.use = PTHREAD_MUTEX_INITIALIZER, .m = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static void *worker_main(void *p)
{
    const int id = (int)(long)p;
    unsigned seen = g_pool.start[id]; /* written before pthread_create */
    for (;;) {
        unsigned g;
        double until = 0.0;
        for (int i = 0;; i++) { /* spin, then sleep */
            g = atomic_load_explicit(&g_pool.gen, memory_order_acquire);
            if (g != seen) break;
            cpu_relax();
            if ((i & 255) != 255) continue;
            const double now = ft_now();
            if (until == 0.0) until = now + FT_POOL_SPIN_SECONDS;
            else if (now > until) {
                pthread_mutex_lock(&g_pool.m);
                while ((g = atomic_load_explicit(&g_pool.gen, memory_order_acquire)) == seen) {
                    g_pool.sleepers++;
                    pthread_cond_wait(&g_pool.wake, &g_pool.m);
                    g_pool.sleepers--;
                }
                pthread_mutex_unlock(&g_pool.m);
                break;
            }
        }
        seen = g;
        if (id <= g_pool.helpers) g_pool.fn(g_pool.arg, id, g_pool.T);
        atomic_fetch_sub_explicit(&g_pool.pending, 1, memory_order_release); /* every worker */
    }
    return NULL;
}

/* Creates workers up to `want` (called under `use`); returns how many exist. */
static int grow(int want)
{
    if (want > FT_POOL_MAX_THREADS - 1) want = FT_POOL_MAX_THREADS - 1;
    while (g_pool.workers < want) {
        pthread_t tid;
        pthread_attr_t attr;
        if (pthread_attr_init(&attr)) break;
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        g_pool.start[g_pool.workers + 1] = atomic_load_explicit(&g_pool.gen, memory_order_relaxed);
        int rc = pthread_create(&tid, &attr, worker_main, (void *)(long)(g_pool.workers + 1));
        pthread_attr_destroy(&attr);
        if (rc) break;
        g_pool.workers++;
    }
    return g_pool.workers;
}

/* Batch-1 forwards on several threads at once each call these: the first in sets OpenBLAS to one
 * thread, the last out gives it back the count ft_set_threads set, so none of them sees it
 * restored while it still runs (a 2-thread sgemv could round differently). */
static pthread_mutex_t g_blas_m = PTHREAD_MUTEX_INITIALIZER;
static int g_blas_depth;

int ft_pool_blas_single(void)
{
    pthread_mutex_lock(&g_blas_m);
    if (g_blas_depth++ == 0 && openblas_get_num_threads() != 1) openblas_set_num_threads(1);
    pthread_mutex_unlock(&g_blas_m);
    return 1;
}

void ft_pool_blas_restore(int entered)
{
    if (!entered) return;
    pthread_mutex_lock(&g_blas_m);
    if (--g_blas_depth == 0) {
        const int n = ft_get_threads();
        if (n != 1) openblas_set_num_threads(n);
    }
    pthread_mutex_unlock(&g_blas_m);
}

void ft_pool_run(int T, ft_pool_fn fn, void *arg)
{
    if (T <= 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&g_pool.use); /* another thread's run: wait for it (see the top) */
    const int have = grow(T - 1);
    const int helpers = have < T - 1 ? have : T - 1; /* parts 1..helpers run on workers */
    const int blas = ft_pool_blas_single();

    g_pool.fn = fn;
    g_pool.arg = arg;
    g_pool.T = T;
    g_pool.helpers = helpers;
    atomic_store_explicit(&g_pool.pending, have, memory_order_relaxed); /* every worker answers */
    atomic_fetch_add_explicit(&g_pool.gen, 1, memory_order_release);
    pthread_mutex_lock(&g_pool.m);
    if (g_pool.sleepers) pthread_cond_broadcast(&g_pool.wake);
    pthread_mutex_unlock(&g_pool.m);

    fn(arg, 0, T);
    for (int t = helpers + 1; t < T; t++) fn(arg, t, T); /* parts no worker could take */
    for (int i = 0; atomic_load_explicit(&g_pool.pending, memory_order_acquire) != 0; i++) {
        if (i < FT_POOL_WAIT_SPINS) cpu_relax();
        else sched_yield();
    }

    ft_pool_blas_restore(blas);
    pthread_mutex_unlock(&g_pool.use);
}

/* ft_pool_for: part t of T takes items [n*t/T, n*(t+1)/T). */
typedef struct {
    size_t n;
    ft_pool_range_fn fn;
    void *arg;
} range_job;

static void range_part(void *p, int t, int T)
{
    const range_job *j = p;
    const size_t lo = j->n * (size_t)t / (size_t)T, hi = j->n * (size_t)(t + 1) / (size_t)T;
    if (hi > lo) j->fn(j->arg, lo, hi);
}

void ft_pool_for(size_t n, double bytes_per_item, ft_pool_range_fn fn, void *arg)
{
    int T = ft_pool_threads();
    if ((size_t)T > n) T = (int)n;
    if (T <= 1 || (double)n * bytes_per_item < FT_POOL_MIN_BYTES) {
        if (n) fn(arg, 0, n);
        return;
    }
    range_job j = {n, fn, arg};
    ft_pool_run(T, range_part, &j);
}
