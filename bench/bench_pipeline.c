/* bench_pipeline.c — facetwin's side of bench/run_pipeline.sh: the face-api photo pipeline
 * (a checkpoint from `facetwin import --from face-api`, include/facetwin/pipeline.h) on whole
 * photos, stage by stage and whole, the numbers tools/faceapi/bench_reference.mjs measures for
 * the package's own JavaScript on the same photos.
 *
 *   bench_pipeline --model M.ftw [--threads N] [--mode latency|parallel] [--rounds N]
 *                  [--warmup N] [--encoder-calls N] PHOTO...
 *
 * What "N threads" means — two honest answers, one per mode:
 *   latency   ONE pipeline, OpenBLAS N threads: every GEMM of one photo is split over the
 *             cores (what a single `facetwin embed` gets). Measures the per-stage breakdown
 *             and the whole pipeline's images/s one photo after the other.
 *   parallel  N pipelines, one per thread, each loaded from the checkpoint, OpenBLAS 1 thread
 *             (what facetwind runs: one encoder instance per HTTP worker). The threads start
 *             together and each runs the whole photo list --rounds times (thread t starting at
 *             photo t, so they are not in step); images/s = all photos / wall time.
 * The photos' bytes are read once beforehand; decoding is timed from memory.
 *
 * Stages (latency mode, timed one by one per photo, means over --rounds after --warmup):
 *   decode     ft_image_decode (libjpeg / libpng, EXIF orientation)
 *   ssd, tiny  ft_detect: the photo sampled into the detector's input, the net, decoding, NMS
 *   landmarks  per SSD face: ft_face_landmarks (crop into 112x112, the net, the points, the rects)
 *   align      per face: ft_face_input (the alignDlib crop into the encoder's 150x150 input)
 *   encoder    per face: ft_net_embed of that input (batch 1)
 * Whole pipelines (both modes):
 *   pipeline_ssd / pipeline_tiny   decode + detect + landmarks + align + embed EVERY face found:
 *              the work of the reference's detectAllFaces().withFaceLandmarks()
 *              .withFaceDescriptors(), so the two are comparable;
 *   photo_embed   decode + ft_photo_embed (SSD; landmarks on every face, the largest one
 *              aligned and embedded): the one path the CLI and the daemon take;
 *   encoder    ft_net_embed, batch 1, on the aligned 150x150 inputs of the faces found,
 *              --encoder-calls calls (per thread in parallel mode).
 * Peak RSS: getrusage's maximum resident set of this process at the end (checkpoint loading
 * included; in parallel mode N pipelines).
 *
 * Output: human-readable lines, then one line "JSON {...}" with every number.
 */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/align.h"
#include "facetwin/detect.h"
#include "facetwin/image.h"
#include "facetwin/photo.h"
#include "facetwin/pipeline.h"
#include "facetwin/runtime.h"

#define FT_BENCH_NAME "bench_pipeline"
#include "bench_util.h"

#define FT_BP_DEFAULT_ROUNDS 3
#define FT_BP_DEFAULT_WARMUP 1
#define FT_BP_DEFAULT_ENCODER_CALLS 100
#define FT_BP_MAX_ROUNDS 1000
#define FT_BP_MAX_CALLS 100000
#define FT_BP_MAX_THREADS 64
#define FT_BP_MAX_IMAGE_BYTES (64u << 20)

typedef enum { MODE_LATENCY, MODE_PARALLEL } bench_mode;

typedef struct {
    double ms;
    long n;
} stage;

static void add(stage *s, double secs)
{
    s->ms += secs * 1e3;
    s->n++;
}

static double mean_ms(const stage *s) { return s->n ? s->ms / (double)s->n : 0.0; }

typedef struct {
    const uint8_t *const *img;
    const size_t *img_n;
    int n_img;
} photo_set;

/* ------------------------------------------------------- one pipeline ---- */

typedef struct {
    ft_pipeline p;
    float *x, *emb; /* encoder input and output */
} runner;

static void runner_load(runner *r, const char *path)
{
    ft_error err = {0};
    if (ft_pipeline_load(path, &r->p, &err)) die("loading the pipeline", &err);
    if (!r->p.encoder || !r->p.landmarks || !r->p.ssd || !r->p.tiny)
        die("the checkpoint must hold the encoder, ssd, tiny and landmarks (facetwin import --from face-api)", NULL);
    r->x = xmalloc((size_t)ft_net_input_size(r->p.encoder) * sizeof(float));
    r->emb = xmalloc((size_t)ft_net_embed_dim(r->p.encoder) * sizeof(float));
}

static void runner_free(runner *r)
{
    ft_pipeline_free(&r->p);
    free(r->x);
    free(r->emb);
}

/* decode + detect + landmarks + align + embed every face; returns the faces embedded. */
static int whole_pipeline(runner *r, ft_detector *det, const uint8_t *bytes, size_t n)
{
    ft_error err = {0};
    ft_image img;
    ft_decode_opts opts = {0};
    if (ft_image_decode(bytes, n, &opts, &img, &err)) die("decoding", &err);
    ft_face *faces = NULL;
    int nf = 0;
    if (ft_faces_find(det, r->p.landmarks, &img, &faces, &nf, &err)) die("finding faces", &err);
    const ft_input_spec *spec = ft_net_input(r->p.encoder);
    for (int i = 0; i < nf; i++) {
        if (ft_face_input(&img, &faces[i].crop, spec->width, spec, r->x, &err)) die("aligning", &err);
        if (ft_net_embed(r->p.encoder, r->x, 1, r->emb, &err)) die("embedding", &err);
    }
    free(faces);
    ft_image_free(&img);
    return nf;
}

/* decode + ft_photo_embed (SSD, the largest face): the daemon's path. A photo without a face
 * counts (the daemon answers no_face after the same work). */
static void photo_embed(runner *r, const uint8_t *bytes, size_t n)
{
    ft_error err = {0};
    ft_image img;
    ft_decode_opts opts = {0};
    if (ft_image_decode(bytes, n, &opts, &img, &err)) die("decoding", &err);
    ft_photo_opts o = {.detect = 1, .detector = FT_DETECTOR_SSD};
    ft_photo_face info;
    ft_status st = ft_photo_embed(&r->p, r->p.encoder, &img, &o, r->emb, &info, &err);
    if (st && st != FT_ENOFACE) die("ft_photo_embed", &err);
    ft_image_free(&img);
}

/* ---------------------------------------------------- latency (stages) ---- */

typedef struct {
    stage decode, ssd, tiny, landmarks, align, encoder;
    int faces_ssd;
    float *crops; /* the aligned encoder inputs of round 0, n_crops of them */
    int n_crops;
} stages;

static void time_stages(runner *r, const photo_set *ps, int rounds, int warmup, stages *s)
{
    ft_error err = {0};
    const ft_input_spec *spec = ft_net_input(r->p.encoder);
    const size_t isz = (size_t)ft_net_input_size(r->p.encoder);
    int cap = 0;
    for (int round = 0; round < warmup + rounds; round++) {
        const int timed = round >= warmup;
        for (int i = 0; i < ps->n_img; i++) {
            ft_image img;
            ft_decode_opts opts = {0};
            double t0 = ft_now();
            if (ft_image_decode(ps->img[i], ps->img_n[i], &opts, &img, &err)) die("decoding", &err);
            double t1 = ft_now();
            ft_face_box *boxes = NULL, *tb = NULL;
            int nb = 0, ntb = 0;
            if (ft_detect(r->p.ssd, &img, NULL, &boxes, &nb, &err)) die("ssd", &err);
            double t2 = ft_now();
            if (ft_detect(r->p.tiny, &img, NULL, &tb, &ntb, &err)) die("tiny", &err);
            double t3 = ft_now();
            free(tb);
            if (timed) add(&s->decode, t1 - t0), add(&s->ssd, t2 - t1), add(&s->tiny, t3 - t2);
            for (int k = 0; k < nb; k++) {
                ft_face f = {.box = boxes[k]};
                double a0 = ft_now();
                ft_status st = ft_face_landmarks(r->p.landmarks, &img, &f, &err);
                if (st == FT_EINVAL) continue; /* a box outside the image, dropped as in the pipeline */
                if (st) die("landmarks", &err);
                double a1 = ft_now();
                if (ft_face_input(&img, &f.crop, spec->width, spec, r->x, &err)) die("aligning", &err);
                double a2 = ft_now();
                if (ft_net_embed(r->p.encoder, r->x, 1, r->emb, &err)) die("embedding", &err);
                double a3 = ft_now();
                if (timed) add(&s->landmarks, a1 - a0), add(&s->align, a2 - a1), add(&s->encoder, a3 - a2);
                if (round == warmup) s->faces_ssd++;
                if (round == 0) {
                    if (s->n_crops == cap) {
                        cap = cap ? 2 * cap : 16;
                        float *c = realloc(s->crops, (size_t)cap * isz * sizeof(float));
                        if (!c) die("keeping the crops", NULL);
                        s->crops = c;
                    }
                    memcpy(s->crops + (size_t)s->n_crops++ * isz, r->x, isz * sizeof(float));
                }
            }
            free(boxes);
            ft_image_free(&img);
        }
    }
}

/* images/s of fn over the photo list, rounds times after warmup rounds */
static double rate_whole(runner *r, ft_detector *det, const photo_set *ps, int rounds, int warmup, int *faces)
{
    for (int k = 0; k < warmup; k++)
        for (int i = 0; i < ps->n_img; i++) (void)whole_pipeline(r, det, ps->img[i], ps->img_n[i]);
    int nf = 0;
    double t0 = ft_now();
    for (int k = 0; k < rounds; k++)
        for (int i = 0; i < ps->n_img; i++) nf += whole_pipeline(r, det, ps->img[i], ps->img_n[i]);
    double secs = ft_now() - t0;
    *faces = nf / rounds;
    return (double)rounds * ps->n_img / secs;
}

static double rate_photo_embed(runner *r, const photo_set *ps, int rounds, int warmup)
{
    for (int k = 0; k < warmup; k++)
        for (int i = 0; i < ps->n_img; i++) photo_embed(r, ps->img[i], ps->img_n[i]);
    double t0 = ft_now();
    for (int k = 0; k < rounds; k++)
        for (int i = 0; i < ps->n_img; i++) photo_embed(r, ps->img[i], ps->img_n[i]);
    return (double)rounds * ps->n_img / (ft_now() - t0);
}

static double rate_encoder(runner *r, const float *crops, int n_crops, int calls)
{
    ft_error err = {0};
    const size_t isz = (size_t)ft_net_input_size(r->p.encoder);
    for (int k = 0; k < 3; k++)
        if (ft_net_embed(r->p.encoder, crops + (size_t)(k % n_crops) * isz, 1, r->emb, &err)) die("embedding", &err);
    double t0 = ft_now();
    for (int k = 0; k < calls; k++)
        if (ft_net_embed(r->p.encoder, crops + (size_t)(k % n_crops) * isz, 1, r->emb, &err)) die("embedding", &err);
    return calls / (ft_now() - t0);
}

/* --------------------------------------------------------- parallel ---- */

typedef enum { JOB_SSD, JOB_TINY, JOB_PHOTO_EMBED, JOB_ENCODER, JOB_COUNT } job_kind;
static const char *const k_job_names[JOB_COUNT] = {"pipeline_ssd", "pipeline_tiny", "photo_embed", "encoder"};

typedef struct {
    runner r;
    const char *model;
    const photo_set *ps;
    int id, rounds, warmup, encoder_calls;
    const float *crops;
    int n_crops;
    pthread_barrier_t *barrier;
    double secs[JOB_COUNT]; /* wall time of each job, from the common start */
    long done[JOB_COUNT];   /* images processed */
} worker;

static void run_job(worker *w, job_kind j, int rounds)
{
    const photo_set *ps = w->ps;
    const size_t isz = (size_t)ft_net_input_size(w->r.p.encoder);
    ft_error err = {0};
    if (j == JOB_ENCODER) {
        for (int k = 0; k < rounds; k++)
            if (ft_net_embed(w->r.p.encoder, w->crops + (size_t)((k + w->id) % w->n_crops) * isz, 1, w->r.emb, &err))
                die("embedding", &err);
        w->done[j] += rounds;
        return;
    }
    for (int k = 0; k < rounds; k++)
        for (int i = 0; i < ps->n_img; i++) {
            const int m = (i + w->id) % ps->n_img;
            if (j == JOB_PHOTO_EMBED) photo_embed(&w->r, ps->img[m], ps->img_n[m]);
            else (void)whole_pipeline(&w->r, j == JOB_SSD ? w->r.p.ssd : w->r.p.tiny, ps->img[m], ps->img_n[m]);
            w->done[j]++;
        }
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    runner_load(&w->r, w->model);
    for (int j = 0; j < JOB_COUNT; j++) {
        const int rounds = j == JOB_ENCODER ? w->encoder_calls : w->rounds;
        run_job(w, (job_kind)j, j == JOB_ENCODER ? 3 : w->warmup); /* warm-up, not counted */
        w->done[j] = 0;
        pthread_barrier_wait(w->barrier);
        double t0 = ft_now();
        run_job(w, (job_kind)j, rounds);
        w->secs[j] = ft_now() - t0;
    }
    runner_free(&w->r);
    return NULL;
}

/* ------------------------------------------------------------- main ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_pipeline --model M.ftw [--threads N] [--mode latency|parallel] [--rounds N (default %d)]\n"
            "                      [--warmup N (default %d)] [--encoder-calls N (default %d)] PHOTO...\n",
            FT_BP_DEFAULT_ROUNDS, FT_BP_DEFAULT_WARMUP, FT_BP_DEFAULT_ENCODER_CALLS);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *model = NULL;
    bench_mode mode = MODE_LATENCY;
    int threads = 1, rounds = FT_BP_DEFAULT_ROUNDS, warmup = FT_BP_DEFAULT_WARMUP;
    int encoder_calls = FT_BP_DEFAULT_ENCODER_CALLS, n_img = 0;
    const char **paths = xmalloc((size_t)argc * sizeof *paths);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = (int)bench_long_arg("--threads", argv[++i], 1, FT_BP_MAX_THREADS);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = (int)bench_long_arg("--rounds", argv[++i], 1, FT_BP_MAX_ROUNDS);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
            warmup = (int)bench_long_arg("--warmup", argv[++i], 0, FT_BP_MAX_ROUNDS);
        else if (!strcmp(argv[i], "--encoder-calls") && i + 1 < argc)
            encoder_calls = (int)bench_long_arg("--encoder-calls", argv[++i], 1, FT_BP_MAX_CALLS);
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
            const char *m = argv[++i];
            if (!strcmp(m, "latency")) mode = MODE_LATENCY;
            else if (!strcmp(m, "parallel")) mode = MODE_PARALLEL;
            else usage();
        } else if (argv[i][0] == '-') usage();
        else paths[n_img++] = argv[i];
    }
    if (!model || n_img == 0) usage();

    uint8_t **img;
    size_t *img_n;
    bench_read_files(paths, n_img, FT_BP_MAX_IMAGE_BYTES, &img, &img_n);
    const photo_set ps = {(const uint8_t *const *)img, img_n, n_img};

    /* The stages always run on one pipeline: latency mode with N BLAS threads; parallel mode
     * needs the aligned crops for its encoder job, taken with one thread. */
    ft_set_threads(mode == MODE_LATENCY ? threads : 1);
    runner r;
    runner_load(&r, model);
    stages s = {0};
    time_stages(&r, &ps, mode == MODE_LATENCY ? rounds : 1, mode == MODE_LATENCY ? warmup : 0, &s);
    if (!s.n_crops) die("no face found in any photo: nothing for the encoder", NULL);

    const char *mode_name = mode == MODE_LATENCY ? "latency" : "parallel";
    double rate[JOB_COUNT] = {0};
    int faces_ssd_pipeline = 0, faces_tiny_pipeline = 0;
    if (mode == MODE_LATENCY) {
        rate[JOB_SSD] = rate_whole(&r, r.p.ssd, &ps, rounds, warmup, &faces_ssd_pipeline);
        rate[JOB_TINY] = rate_whole(&r, r.p.tiny, &ps, rounds, warmup, &faces_tiny_pipeline);
        rate[JOB_PHOTO_EMBED] = rate_photo_embed(&r, &ps, rounds, warmup);
        rate[JOB_ENCODER] = rate_encoder(&r, s.crops, s.n_crops, encoder_calls);
        runner_free(&r);
    } else {
        runner_free(&r); /* each worker loads its own */
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, (unsigned)threads);
        worker *w = calloc((size_t)threads, sizeof *w);
        pthread_t *th = xmalloc((size_t)threads * sizeof *th);
        if (!w) die("allocating the workers", NULL);
        for (int t = 0; t < threads; t++) {
            w[t] = (worker){.model = model, .ps = &ps, .id = t, .rounds = rounds, .warmup = warmup,
                            .encoder_calls = encoder_calls, .crops = s.crops, .n_crops = s.n_crops,
                            .barrier = &barrier};
            if (t > 0 && pthread_create(&th[t], NULL, run_worker, &w[t])) die("starting a thread", NULL);
        }
        run_worker(&w[0]);
        for (int t = 1; t < threads; t++) pthread_join(th[t], NULL);
        for (int j = 0; j < JOB_COUNT; j++) {
            double wall = 0;
            long done = 0;
            for (int t = 0; t < threads; t++) {
                if (w[t].secs[j] > wall) wall = w[t].secs[j];
                done += w[t].done[j];
            }
            rate[j] = done / wall;
        }
        pthread_barrier_destroy(&barrier);
        free(w);
        free(th);
    }
    const double rss = ft_peak_rss_mb();

    printf("bench_pipeline: mode %s, %d thread(s) (%s), OpenBLAS %s kernels, %d photo(s), %d SSD face(s), "
           "%d round(s) after %d warm-up\n",
           mode_name, threads,
           mode == MODE_LATENCY ? "one pipeline, OpenBLAS N threads" : "N pipelines, one per thread, OpenBLAS 1 thread",
           openblas_get_corename(), n_img, s.faces_ssd, rounds, warmup);
    if (mode == MODE_LATENCY)
        printf("  per stage: decode %.2f ms, ssd %.2f ms, tiny %.2f ms per photo; landmarks %.2f ms, align %.2f ms, "
               "encoder %.2f ms per face\n",
               mean_ms(&s.decode), mean_ms(&s.ssd), mean_ms(&s.tiny), mean_ms(&s.landmarks), mean_ms(&s.align),
               mean_ms(&s.encoder));
    for (int j = 0; j < JOB_COUNT; j++)
        printf("  %-14s %8.2f images/s (%.2f ms each%s)\n", k_job_names[j], rate[j], 1e3 / rate[j],
               mode == MODE_PARALLEL ? ", all threads together" : "");
    printf("  peak RSS %.0f MiB\n", rss);
    printf("JSON {\"impl\":\"facetwin\",\"blas_core\":\"%s\",\"mode\":\"%s\",\"threads\":%d,\"photos\":%d,"
           "\"faces_ssd\":%d,\"rounds\":%d,",
           openblas_get_corename(), mode_name, threads, n_img, s.faces_ssd, rounds);
    if (mode == MODE_LATENCY)
        printf("\"decode_ms\":%.4f,\"ssd_ms\":%.4f,\"tiny_ms\":%.4f,\"landmarks_ms\":%.4f,\"align_ms\":%.4f,"
               "\"encoder_ms\":%.4f,\"faces_pipeline_ssd\":%d,\"faces_pipeline_tiny\":%d,",
               mean_ms(&s.decode), mean_ms(&s.ssd), mean_ms(&s.tiny), mean_ms(&s.landmarks), mean_ms(&s.align),
               mean_ms(&s.encoder), faces_ssd_pipeline, faces_tiny_pipeline);
    printf("\"pipeline_ssd_images_per_s\":%.4f,\"pipeline_tiny_images_per_s\":%.4f,\"photo_embed_images_per_s\":%.4f,"
           "\"encoder_images_per_s\":%.4f,\"encoder_calls\":%d,\"peak_rss_mb\":%.1f}\n",
           rate[JOB_SSD], rate[JOB_TINY], rate[JOB_PHOTO_EMBED], rate[JOB_ENCODER], encoder_calls, rss);

    free(s.crops);
    for (int i = 0; i < n_img; i++) free(img[i]);
    free(img);
    free(img_n);
    free(paths);
    return 0;
}
