/* bench_encoder.c — the in-process ceiling of POST /v1/verify: images/s of
 * ft_model_embed_bytes (decode + preprocessing + encoder, the one path from
 * image bytes to an embedding the daemon also takes) on the SAME image files
 * the HTTP benchmark sends, in the daemon's configuration: --threads worker
 * threads (default: cores, like facetwind's default), each owning its own
 * ft_model loaded from the checkpoint, OpenBLAS single-threaded
 * (ft_set_threads(1), as facetwind sets it). No HTTP, no multipart, no JSON,
 * no cache, no locks between the threads.
 *
 * bench/run_server.sh divides the daemon's cache-missing verify rate (two
 * images per request) by images_per_s / 2 from this program: what is left
 * between the two is the HTTP + multipart + JSON + cache cost of the daemon.
 *
 *   bench_encoder --model M.ftw [--threads N] [--seconds S] IMAGE...
 *
 * Each thread first embeds every image FT_BE_WARMUP_ROUNDS times (first-call
 * allocations), then all threads start together and embed the images in turn
 * until --seconds have passed. Output: human-readable lines, then one line
 * "JSON {...}" (images_per_s, per-thread median and p90 ms per image).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/image.h"
#include "facetwin/model.h"
#include "facetwin/runtime.h"

#define FT_BENCH_NAME "bench_encoder"
#include "bench_util.h"

#define FT_BE_DEFAULT_SECONDS 5
#define FT_BE_MAX_SECONDS 600
#define FT_BE_MAX_THREADS 64
#define FT_BE_WARMUP_ROUNDS 3
#define FT_BE_MAX_IMAGE_BYTES (16u << 20)
#define FT_BE_MAX_SAMPLES 1000000   /* per-call timings kept per thread */

typedef struct {
    const char *model_path;
    const uint8_t *const *img;
    const size_t *img_n;
    int n_img;
    double seconds;
    pthread_barrier_t *start;
    /* results */
    long calls;
    double secs;
    double *ms;  /* per call, up to FT_BE_MAX_SAMPLES */
    ft_error err;
    int failed;
} worker;

static void *run_worker(void *arg)
{
    worker *w = arg;
    ft_model m;
    int loaded = ft_model_load(w->model_path, &m, &w->err) == FT_OK;
    float *out = loaded ? xmalloc((size_t)ft_net_embed_dim(m.net) * sizeof(float)) : NULL;
    ft_decode_opts opts = {0};
    w->failed = !loaded;
    for (int r = 0; r < FT_BE_WARMUP_ROUNDS && !w->failed; r++)
        for (int i = 0; i < w->n_img && !w->failed; i++)
            w->failed = ft_model_embed_bytes(&m, w->img[i], w->img_n[i], &opts, out, &w->err) != FT_OK;
    pthread_barrier_wait(w->start); /* every thread waits here, failed or not */
    if (!w->failed) {
        double t0 = ft_now(), end = t0 + w->seconds, now = t0;
        while (now < end) {
            const int i = (int)(w->calls % w->n_img);
            if (ft_model_embed_bytes(&m, w->img[i], w->img_n[i], &opts, out, &w->err)) { w->failed = 1; break; }
            double t = ft_now();
            if (w->calls < FT_BE_MAX_SAMPLES) w->ms[w->calls] = (t - now) * 1e3;
            w->calls++;
            now = t;
        }
        w->secs = now - t0;
    }
    free(out);
    if (loaded) ft_model_free(&m);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_encoder --model M.ftw [--threads N (default: cores)] [--seconds S (default %d)] IMAGE...\n",
            FT_BE_DEFAULT_SECONDS);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *model = NULL;
    int threads = ft_cpu_count(), seconds = FT_BE_DEFAULT_SECONDS, n_img = 0;
    const char **paths = xmalloc((size_t)argc * sizeof *paths);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = (int)bench_long_arg("--threads", argv[++i], 1, FT_BE_MAX_THREADS);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = (int)bench_long_arg("--seconds", argv[++i], 1, FT_BE_MAX_SECONDS);
        else if (argv[i][0] == '-') usage();
        else paths[n_img++] = argv[i];
    }
    if (!model || n_img == 0) usage();

    uint8_t **img;
    size_t *img_n;
    bench_read_files(paths, n_img, FT_BE_MAX_IMAGE_BYTES, &img, &img_n);

    ft_set_threads(1); /* the daemon's setting: the workers are the parallelism */
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    worker *w = calloc((size_t)threads, sizeof *w);
    pthread_t *th = xmalloc((size_t)threads * sizeof *th);
    if (!w) die("allocating the workers", NULL);
    for (int t = 0; t < threads; t++) {
        w[t] = (worker){.model_path = model, .img = (const uint8_t *const *)img, .img_n = img_n, .n_img = n_img,
                        .seconds = seconds, .start = &start,
                        .ms = xmalloc(FT_BE_MAX_SAMPLES * sizeof(double))};
        if (t > 0 && pthread_create(&th[t], NULL, run_worker, &w[t])) die("starting a thread", NULL);
    }
    run_worker(&w[0]);
    for (int t = 1; t < threads; t++) pthread_join(th[t], NULL);

    double rate = 0;
    long calls = 0;
    for (int t = 0; t < threads; t++) {
        if (w[t].failed) die("embedding", &w[t].err);
        rate += w[t].calls / w[t].secs;
        calls += w[t].calls;
    }
    /* per-call times of all threads together */
    long kept = 0;
    double *all = xmalloc((size_t)calls * sizeof(double));
    for (int t = 0; t < threads; t++) {
        long n = w[t].calls < FT_BE_MAX_SAMPLES ? w[t].calls : FT_BE_MAX_SAMPLES;
        memcpy(all + kept, w[t].ms, (size_t)n * sizeof(double));
        kept += n;
    }
    qsort(all, (size_t)kept, sizeof(double), cmp_double);
    double med = quantile(all, (int)kept, 0.5), p90 = quantile(all, (int)kept, 0.9);
    printf("ft_model_embed_bytes: %d threads x own ft_model, OpenBLAS 1 thread each, %d image(s), %d s\n", threads,
           n_img, seconds);
    printf("  %.1f images/s (%ld calls), %.3f ms median, %.3f ms p90 per image per thread\n", rate, calls, med, p90);
    printf("JSON {\"threads\":%d,\"seconds\":%d,\"images\":%d,\"calls\":%ld,\"images_per_s\":%.3f,"
           "\"median_ms\":%.4f,\"p90_ms\":%.4f}\n",
           threads, seconds, n_img, calls, rate, med, p90);

    for (int t = 0; t < threads; t++) free(w[t].ms);
    for (int i = 0; i < n_img; i++) free(img[i]);
    free(all); free(w); free(th); free(img); free(img_n); free(paths);
    pthread_barrier_destroy(&start);
    return 0;
}
