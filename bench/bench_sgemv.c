/* bench_sgemv.c — the floor of one POST /v1/identify: a single cblas_sgemv
 * pass (all N gallery rows dotted with the query) over the N x dim matrix of
 * random unit vectors that bench_gallery_fill stores in the daemon's gallery
 * (same generator, same --seed, same row order), with OpenBLAS on --threads
 * threads (default: cores; facetwind's index also splits large searches
 * across that many threads). Nothing else: no distances, no top-k, no locks.
 *
 * bench/run_server.sh compares the daemon's identify p50 at one connection
 * with the median time of this pass for the same N.
 *
 *   bench_sgemv --dim D --rows N[,N...] [--threads T] [--reps R] [--seed S]
 *
 * For each N (the matrix is drawn once for the largest and its first N rows
 * used for the smaller ones — the same rows the smaller galleries hold):
 * FT_BS_WARMUP passes, then --reps timed passes with a fresh random query
 * each; the median and the minimum are reported. Output: human-readable lines,
 * then one line "JSON {...}".
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/runtime.h"

#define FT_BENCH_NAME "bench_sgemv"
#include "bench_util.h"

#define FT_BS_DEFAULT_REPS 30
#define FT_BS_DEFAULT_SEED 1
#define FT_BS_QUERY_SEED_TAG 0x51    /* queries come from another stream than the rows */
#define FT_BS_WARMUP 3
#define FT_BS_MAX_SIZES 8
#define FT_BS_MAX_ROWS 50000000L
#define FT_BS_MAX_DIM 4096
#define FT_BS_MAX_THREADS 64
#define FT_BS_MAX_REPS 100000

static void usage(void)
{
    fprintf(stderr, "usage: bench_sgemv --dim D --rows N[,N...] [--threads T (default: cores)] [--reps R (default %d)] "
                    "[--seed S (default %d)]\n",
            FT_BS_DEFAULT_REPS, FT_BS_DEFAULT_SEED);
    exit(2);
}

int main(int argc, char **argv)
{
    int dim = 0, threads = ft_cpu_count(), reps = FT_BS_DEFAULT_REPS, n_sizes = 0;
    long seed = FT_BS_DEFAULT_SEED, sizes[FT_BS_MAX_SIZES], max_rows = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        i++;
        if (!strcmp(a, "--dim")) dim = (int)bench_long_arg(a, v, 1, FT_BS_MAX_DIM);
        else if (!strcmp(a, "--threads")) threads = (int)bench_long_arg(a, v, 1, FT_BS_MAX_THREADS);
        else if (!strcmp(a, "--reps")) reps = (int)bench_long_arg(a, v, 1, FT_BS_MAX_REPS);
        else if (!strcmp(a, "--seed")) seed = bench_long_arg(a, v, 0, 1L << 30);
        else if (!strcmp(a, "--rows")) {
            char buf[256], *save = NULL;
            snprintf(buf, sizeof buf, "%s", v);
            for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (n_sizes == FT_BS_MAX_SIZES) usage();
                sizes[n_sizes] = bench_long_arg(a, tok, 1, FT_BS_MAX_ROWS);
                if (sizes[n_sizes] > max_rows) max_rows = sizes[n_sizes];
                n_sizes++;
            }
        } else usage();
    }
    if (!dim || !n_sizes) usage();

    ft_set_threads(threads);
    float *a = xmalloc((size_t)max_rows * (size_t)dim * sizeof(float));
    float *y = xmalloc((size_t)max_rows * sizeof(float));
    float *q = xmalloc((size_t)dim * sizeof(float));
    ft_rng rows_rng = {(uint64_t)seed}, query_rng = ft_rng_derive((uint64_t)seed, FT_BS_QUERY_SEED_TAG);
    double t0 = ft_now();
    bench_unit_rows(&rows_rng, a, max_rows, dim);
    printf("cblas_sgemv (row-major, no transpose) of an N x %d float matrix of random unit rows (seed %ld) "
           "by one query; OpenBLAS %d thread(s); %d passes per N (matrix drawn in %.1f s)\n",
           dim, seed, threads, reps, ft_now() - t0);

    double *ms = xmalloc((size_t)reps * sizeof(double));
    double med[FT_BS_MAX_SIZES], best[FT_BS_MAX_SIZES], gbs[FT_BS_MAX_SIZES];
    volatile float sink = 0;
    for (int s = 0; s < n_sizes; s++) {
        const int n = (int)sizes[s];
        for (int r = 0; r < FT_BS_WARMUP + reps; r++) {
            bench_unit_rows(&query_rng, q, 1, dim);
            double t = ft_now();
            cblas_sgemv(CblasRowMajor, CblasNoTrans, n, dim, 1.f, a, dim, q, 1, 0.f, y, 1);
            t = (ft_now() - t) * 1e3;
            sink += y[n - 1];
            if (r >= FT_BS_WARMUP) ms[r - FT_BS_WARMUP] = t;
        }
        qsort(ms, (size_t)reps, sizeof(double), cmp_double);
        med[s] = quantile(ms, reps, 0.5);
        best[s] = ms[0];
        gbs[s] = (double)n * dim * sizeof(float) / (med[s] * 1e-3) / 1e9;
        printf("  N = %9d: median %8.3f ms, min %8.3f ms (%.1f GB/s of matrix at the median)\n", n, med[s], best[s],
               gbs[s]);
    }
    (void)sink;
    printf("JSON {\"dim\":%d,\"threads\":%d,\"reps\":%d,\"sizes\":[", dim, threads, reps);
    for (int s = 0; s < n_sizes; s++)
        printf("%s{\"rows\":%ld,\"median_ms\":%.4f,\"min_ms\":%.4f,\"gb_per_s\":%.2f}", s ? "," : "", sizes[s],
               med[s], best[s], gbs[s]);
    printf("]}\n");
    free(ms); free(q); free(y); free(a);
    return 0;
}
