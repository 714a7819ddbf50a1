/* bench_util.h — the pieces the bench/bench_*.c programs share: failing
 * loudly, numeric flags, percentiles, the two inference measurements
 * (embeddings/s at a batch, single-image latency) and the synthetic unit
 * vectors that bench_gallery_fill and bench_sgemv must draw identically.
 * Header-only (static inline): CMake builds each bench/bench_*.c as its own
 * program. FT_BENCH_NAME names the program in messages; define it before
 * including. */
#ifndef FT_BENCH_UTIL_H
#define FT_BENCH_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "facetwin/net.h"
#include "facetwin/runtime.h"
#include "facetwin/train.h"
#include "rng.h"

#define FT_BENCH_LATENCY_WARMUP 10

static inline void die(const char *what, const ft_error *err)
{
    fprintf(stderr, FT_BENCH_NAME ": %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, FT_BENCH_NAME ": out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* The integer value of flag's argument v in [lo, hi]; exits with status 2 otherwise. */
/* Reads n files (each at most max_bytes) into memory: (*bytes)[i], (*lens)[i]; dies naming the
 * file on failure. The benchmarks time decoding from memory, never the disk. */
static inline void bench_read_files(const char *const *paths, int n, size_t max_bytes, uint8_t ***bytes, size_t **lens)
{
    *bytes = xmalloc((size_t)n * sizeof **bytes);
    *lens = xmalloc((size_t)n * sizeof **lens);
    ft_error err = {0};
    for (int i = 0; i < n; i++)
        if (ft_read_file(paths[i], max_bytes, &(*bytes)[i], &(*lens)[i], &err)) die("reading an input file", &err);
}

static inline long bench_long_arg(const char *flag, const char *v, long lo, long hi)
{
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || end == v || x < lo || x > hi) {
        fprintf(stderr, FT_BENCH_NAME ": %s wants an integer in [%ld, %ld], not '%s'\n", flag, lo, hi,
                v ? v : "(nothing)");
        exit(2);
    }
    return x;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* q-quantile (0..1) of n sorted values, nearest rank */
static inline double quantile(const double *sorted, int n, double q)
{
    int i = (int)(q * (n - 1) + 0.5);
    return sorted[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* images/s of inference forwards of `batch` images, cycling through set. */
static inline double bench_embed(ft_net *net, const ft_labelled *set, int batch, int batches)
{
    int per_set = set->n / batch;
    if (per_set < 1) {
        fprintf(stderr, FT_BENCH_NAME ": need at least %d images\n", batch);
        exit(1);
    }
    (void)ft_net_forward(net, set->x, batch, 0); /* warm-up */
    volatile float sink = 0;
    double t0 = ft_now();
    for (int k = 0; k < batches; k++) {
        const float *e = ft_net_forward(net, set->x + (size_t)(k % per_set) * batch * set->isz, batch, 0);
        sink += e[0];
    }
    double secs = ft_now() - t0;
    (void)sink;
    return (double)batches * batch / secs;
}

/* Median and p90 milliseconds of one batch-1 inference forward. */
static inline void bench_latency(ft_net *net, const ft_labelled *set, int calls, double *median_ms, double *p90_ms)
{
    double *ms = xmalloc((size_t)calls * sizeof(double));
    volatile float sink = 0;
    for (int k = 0; k < FT_BENCH_LATENCY_WARMUP; k++) sink += ft_net_forward(net, set->x, 1, 0)[0];
    for (int k = 0; k < calls; k++) {
        const float *img = set->x + (size_t)(k % set->n) * set->isz;
        double t0 = ft_now();
        sink += ft_net_forward(net, img, 1, 0)[0];
        ms[k] = (ft_now() - t0) * 1e3;
    }
    (void)sink;
    qsort(ms, (size_t)calls, sizeof(double), cmp_double);
    *median_ms = quantile(ms, calls, 0.5);
    *p90_ms = quantile(ms, calls, 0.9);
    free(ms);
}

/* n rows of dim floats, each a random unit vector (standard normal entries,
 * L2-normalised), drawn from r in row order: the same seed gives the same
 * matrix in every program, however it is cut into chunks. */
static inline void bench_unit_rows(ft_rng *r, float *rows, int64_t n, int dim)
{
    for (int64_t i = 0; i < n; i++) {
        float *v = rows + i * dim;
        double s = 0;
        for (int j = 0; j < dim; j++) {
            v[j] = ft_rng_normal(r);
            s += (double)v[j] * v[j];
        }
        float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.f;
        for (int j = 0; j < dim; j++) v[j] *= inv;
    }
}

#endif
