/* bench_faces.c — the face speed benchmark: facetwin's face-cnn preset on ORL.
 *
 * What it measures, in this order, all with the same thread count (--threads,
 * default 2, handed to ft_set_threads), on the 400 ORL images (40 identities
 * s1..s40 x 10 grey 92x112 PGMs) decoded and preprocessed into memory once
 * (ft_image_load + ft_image_to_input: area-averaged to 64x64, (p/255 - 0.5)/0.25):
 *
 *   1. pairs mode  pairs/s of ft_trainer_step: the identity-folder protocol's
 *                  pairs (ft_pairs_balanced: all 1,800 same-identity pairs and
 *                  as many different-identity pairs, shuffled), FT_FB_PAIRS = 64
 *                  pairs per step = one forward/backward of 128 images, Adam
 *                  lr 1e-3, contrastive loss, margin 1. --warmup steps, then
 *                  --steps timed steps; rate = pairs / wall time of the timed
 *                  steps (the gather of the 128 images is inside the step).
 *                  A short second pass splits the step into gather / forward /
 *                  loss / backward / update.
 *   2. in-batch    ft_trainer_step_batch on group batches of FT_FB_GROUP = 64
 *                  images (ft_group_plan_make, runs of K = 4 images of one
 *                  identity, i.e. P = 16 identities; only the plans' batches of
 *                  exactly 64 images are used, from as many epochs' plans as
 *                  the steps need), gathered inside the step; loss over all 64*63/2 = 2016
 *                  pairs of the batch (ft_contrastive_batch_*). Rates: pairs/s
 *                  (2016 per step) and images/s. Fresh network and optimiser.
 *   3. embeddings  images/s of ft_net_forward(training = 0) at batch 128, many
 *                  batches over the 400 images.
 *   4. latency     one image (batch 1), --latency-calls calls: median, p90.
 *   -- peak RSS (getrusage) after all of the above.
 *
 * Output: human-readable lines, then ONE line "JSON {...}", which
 * bench/run_faces.sh parses to compute ratios against the PyTorch peer
 * (bench/peer_torch_faces.py prints the same keys). Exit status 77 when the
 * dataset is missing (the only reason to skip), 1 on any other failure.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "facetwin/dataset.h"
#include "facetwin/image.h"
#include "facetwin/layers.h"
#include "facetwin/net.h"
#include "facetwin/optim.h"
#include "facetwin/runtime.h"
#include "facetwin/train.h"
#include "rng.h"

#define FT_BENCH_NAME "bench_faces"
#include "bench_util.h"

#define FT_FB_MODEL "face-cnn"
#define FT_FB_PAIRS 64             /* pairs per step in pairs mode (2x images) */
#define FT_FB_GROUP 64             /* images per step in in-batch mode */
#define FT_FB_PER_CLASS 4          /* K: images per identity in a group batch */
#define FT_FB_EMBED_BATCH 128
#define FT_FB_MARGIN 1.0f
#define FT_FB_SEED 1234u
#define FT_FB_SKIP 77              /* exit status: dataset missing */
#define FT_FB_DEFAULT_THREADS 2
#define FT_FB_DEFAULT_WARMUP 3
#define FT_FB_DEFAULT_STEPS 30
#define FT_FB_DEFAULT_BREAKDOWN 6
#define FT_FB_DEFAULT_EMBED_BATCHES 30
#define FT_FB_DEFAULT_LATENCY_CALLS 300
#define FT_FB_MAX_PLAN_EPOCHS 64   /* epochs of group plans scanned for 64-image batches */
#define FT_FB_DATASET "datasets/orl"
#define FT_FB_SHARED_DEFAULT "../shared" /* relative to the repository root = cwd */

typedef struct {
    const char *data_dir;
    int threads, warmup, steps, breakdown, embed_batches, latency_calls;
} bench_opts;

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_faces [--data DIR] [--threads N] [--warmup N] [--steps N] [--breakdown N]\n"
            "                   [--embed-batches N] [--latency-calls N]\n"
            "  --data DIR  identity folders (default $FT_SHARED_DIR/" FT_FB_DATASET
            ", FT_SHARED_DIR defaulting to " FT_FB_SHARED_DEFAULT ")\n");
    exit(2);
}

static int int_arg(const char *v, int lo)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > 1000000) usage();
    return (int)x;
}

static void parse_args(int argc, char **argv, bench_opts *o, char *dir_buf, size_t dir_n)
{
    *o = (bench_opts){NULL, FT_FB_DEFAULT_THREADS, FT_FB_DEFAULT_WARMUP, FT_FB_DEFAULT_STEPS,
                      FT_FB_DEFAULT_BREAKDOWN, FT_FB_DEFAULT_EMBED_BATCHES,
                      FT_FB_DEFAULT_LATENCY_CALLS};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--data")) o->data_dir = v;
        else if (!strcmp(a, "--threads")) o->threads = int_arg(v, 1);
        else if (!strcmp(a, "--warmup")) o->warmup = int_arg(v, 0);
        else if (!strcmp(a, "--steps")) o->steps = int_arg(v, 1);
        else if (!strcmp(a, "--breakdown")) o->breakdown = int_arg(v, 0);
        else if (!strcmp(a, "--embed-batches")) o->embed_batches = int_arg(v, 1);
        else if (!strcmp(a, "--latency-calls")) o->latency_calls = int_arg(v, 1);
        else usage();
    }
    if (!o->data_dir) {
        const char *shared = getenv("FT_SHARED_DIR");
        snprintf(dir_buf, dir_n, "%s/%s", shared && *shared ? shared : FT_FB_SHARED_DEFAULT,
                 FT_FB_DATASET);
        o->data_dir = dir_buf;
    }
}

/* ---------------------------------------------------------------- data ---- */

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The identity-folder dataset (dataset.h: natural order), every image decoded
 * and preprocessed for spec into memory. Labels = identity index. */
static void load_faces(const char *dir, const ft_input_spec *spec, ft_labelled *out)
{
    ft_error err = {0};
    ft_dataset ds;
    if (ft_dataset_open(dir, &ds, &err)) die("dataset", &err);
    int isz = spec->channels * spec->height * spec->width;
    out->x = xmalloc((size_t)ds.n_images * isz * sizeof(float));
    out->label = xmalloc((size_t)ds.n_images * sizeof(int32_t));
    for (int i = 0; i < ds.n_images; i++) {
        ft_image img;
        if (ft_image_load(ds.paths[i], NULL, &img, &err)) die("image", &err);
        if (ft_image_to_input(&img, spec, out->x + (size_t)i * isz, &err)) die(ds.paths[i], &err);
        ft_image_free(&img);
        out->label[i] = ds.label[i];
    }
    out->n = ds.n_images;
    out->isz = isz;
    ft_dataset_free(&ds);
}

/* --------------------------------------------------------- pairs mode ---- */

typedef struct {
    double rate, images_per_s, step_ms_mean, step_ms_median, first_loss, last_loss;
} train_result;

static ft_net *new_net(void)
{
    ft_error err = {0};
    char *spec;
    ft_net *net;
    if (ft_spec_resolve(FT_FB_MODEL, &spec, &err)) die("spec", &err);
    if (ft_net_from_json(spec, &net, &err)) die("spec", &err);
    free(spec);
    ft_net_init(net, FT_FB_SEED);
    return net;
}

static ft_trainer *new_trainer(ft_net *net, int batch_pairs)
{
    ft_error err = {0};
    ft_optim_config oc = ft_optim_defaults(FT_OPT_ADAM); /* lr 1e-3, betas 0.9/0.999, eps 1e-7 */
    ft_trainer *t;
    if (ft_trainer_new(net, &oc, batch_pairs, FT_FB_MARGIN, &t, &err)) die("trainer", &err);
    return t;
}

static train_result finish(double *step_s, int steps, double total, double per_step,
                           double images_per_step)
{
    train_result r = {0};
    qsort(step_s, (size_t)steps, sizeof(double), cmp_double);
    r.rate = steps * per_step / total;
    r.images_per_s = steps * images_per_step / total;
    r.step_ms_mean = total / steps * 1e3;
    r.step_ms_median = quantile(step_s, steps, 0.5) * 1e3;
    return r;
}

static train_result bench_pairs(const ft_labelled *set, const ft_pair *pairs, int n_pairs,
                                const bench_opts *o)
{
    ft_net *net = new_net();
    ft_trainer *t = new_trainer(net, FT_FB_PAIRS);
    int batches = n_pairs / FT_FB_PAIRS;
    double *step_s = xmalloc((size_t)o->steps * sizeof(double));
    float first = 0, last = 0;
    for (int s = 0; s < o->warmup; s++)
        (void)ft_trainer_step(t, set, pairs + (size_t)(s % batches) * FT_FB_PAIRS, FT_FB_PAIRS,
                              (uint64_t)s);
    double t0 = ft_now();
    for (int s = 0; s < o->steps; s++) {
        int k = o->warmup + s;
        double a = ft_now();
        float loss = ft_trainer_step(t, set, pairs + (size_t)(k % batches) * FT_FB_PAIRS,
                                     FT_FB_PAIRS, (uint64_t)k);
        step_s[s] = ft_now() - a;
        if (s == 0) first = loss;
        last = loss;
    }
    train_result r = finish(step_s, o->steps, ft_now() - t0, FT_FB_PAIRS, 2 * FT_FB_PAIRS);
    r.first_loss = first;
    r.last_loss = last;
    free(step_s);
    ft_trainer_free(t);
    ft_net_free(net);
    return r;
}

/* ft_trainer_step's phases (train.c), timed one by one on a fresh net. */
typedef struct {
    double gather, forward, loss, backward, update; /* ms per step */
} step_breakdown;

static step_breakdown bench_breakdown(const ft_labelled *set, const ft_pair *pairs, int n_pairs,
                                      int steps)
{
    step_breakdown bd = {0};
    if (steps <= 0) return bd;
    ft_error err = {0};
    ft_net *net = new_net();
    ft_optim_config oc = ft_optim_defaults(FT_OPT_ADAM);
    ft_optim *opt;
    if (ft_optim_new(&oc, net, &opt, &err)) die("optimiser", &err);
    const int B = FT_FB_PAIRS, D = ft_net_embed_dim(net);
    const size_t isz = (size_t)set->isz;
    if (ft_net_reserve(net, 2 * B, 1, &err)) die("reserve", &err);
    float *x = xmalloc(2 * B * isz * sizeof(float)), *y = xmalloc(B * sizeof(float));
    float *de = xmalloc((size_t)2 * B * D * sizeof(float));
    int batches = n_pairs / B;
    for (int s = -1; s < steps; s++) { /* s = -1: warm-up, not counted */
        const ft_pair *p = pairs + (size_t)((s + 1) % batches) * B;
        double t0 = ft_now();
        for (int i = 0; i < B; i++) {
            memcpy(x + (size_t)i * isz, set->x + (size_t)p[i].a * isz, isz * sizeof(float));
            memcpy(x + (size_t)(B + i) * isz, set->x + (size_t)p[i].b * isz, isz * sizeof(float));
            y[i] = p[i].same ? 1.0f : 0.0f;
        }
        double t1 = ft_now();
        const float *e = ft_net_forward(net, x, 2 * B, 1);
        double t2 = ft_now();
        (void)ft_contrastive_forward(NULL, e, e + (size_t)B * D, y, B, D, FT_FB_MARGIN);
        memset(de, 0, (size_t)2 * B * D * sizeof(float));
        ft_contrastive_backward(de, de + (size_t)B * D, e, e + (size_t)B * D, y, B, D,
                                FT_FB_MARGIN, 1.0f);
        double t3 = ft_now();
        ft_net_zero_grad(net);
        ft_net_backward(net, de, 2 * B);
        double t4 = ft_now();
        ft_optim_step(opt, net);
        double t5 = ft_now();
        if (s < 0) continue;
        bd.gather += t1 - t0;
        bd.forward += t2 - t1;
        bd.loss += t3 - t2;
        bd.backward += t4 - t3;
        bd.update += t5 - t4;
    }
    double k = 1e3 / steps;
    bd = (step_breakdown){bd.gather * k, bd.forward * k, bd.loss * k, bd.backward * k, bd.update * k};
    free(x);
    free(y);
    free(de);
    ft_optim_free(opt);
    ft_net_free(net);
    return bd;
}

/* ------------------------------------------------------ in-batch mode ---- */

/* The group batches of exactly FT_FB_GROUP images from successive epochs'
 * plans: *n_batches of them (at most `want`), as image indices (n_batches x
 * FT_FB_GROUP). Each step gathers its images and ids inside the timed step,
 * as ft_trainer_step does for pairs. */
static uint32_t *group_batches(const ft_labelled *set, int want, int *n_batches)
{
    uint32_t *idx = xmalloc((size_t)want * FT_FB_GROUP * sizeof(uint32_t));
    int nb = 0;
    for (int e = 0; e < FT_FB_MAX_PLAN_EPOCHS && nb < want; e++) {
        ft_error err = {0};
        ft_group_plan g;
        if (ft_group_plan_make(set->label, set->n, FT_FB_PER_CLASS, FT_FB_GROUP,
                               FT_FB_SEED + (uint64_t)e, &g, &err))
            die("group plan", &err);
        for (int b = 0; b < g.n_batches && nb < want; b++) {
            if (g.start[b + 1] - g.start[b] != FT_FB_GROUP) continue;
            memcpy(idx + (size_t)nb * FT_FB_GROUP, g.order + g.start[b],
                   FT_FB_GROUP * sizeof(uint32_t));
            nb++;
        }
        ft_group_plan_free(&g);
    }
    if (nb == 0) {
        fprintf(stderr, "bench_faces: no group batch of %d images\n", FT_FB_GROUP);
        exit(1);
    }
    *n_batches = nb;
    return idx;
}

static void gather_group(float *x, int32_t *ids, const ft_labelled *set, const uint32_t *idx)
{
    const size_t isz = (size_t)set->isz;
    for (int i = 0; i < FT_FB_GROUP; i++) {
        memcpy(x + (size_t)i * isz, set->x + (size_t)idx[i] * isz, isz * sizeof(float));
        ids[i] = set->label[idx[i]];
    }
}

static train_result bench_inbatch(const ft_labelled *set, const uint32_t *groups, int n_batches,
                                  const bench_opts *o, int *n_pos)
{
    ft_net *net = new_net();
    ft_trainer *t = new_trainer(net, FT_FB_GROUP / 2); /* room for 2 x 32 = 64 images */
    const int N = FT_FB_GROUP, n_pairs = N * (N - 1) / 2;
    float *x = xmalloc((size_t)N * set->isz * sizeof(float));
    int32_t ids[FT_FB_GROUP];
    double *step_s = xmalloc((size_t)o->steps * sizeof(double));
    float first = 0, last = 0;
    ft_batch b = {x, N, NULL, ids, n_pairs};
    for (int s = 0; s < o->warmup; s++) {
        gather_group(x, ids, set, groups + (size_t)(s % n_batches) * N);
        (void)ft_trainer_step_batch(t, &b, (uint64_t)s);
    }
    double t0 = ft_now();
    for (int s = 0; s < o->steps; s++) {
        int k = o->warmup + s;
        double a = ft_now();
        gather_group(x, ids, set, groups + (size_t)(k % n_batches) * N);
        float loss = ft_trainer_step_batch(t, &b, (uint64_t)k);
        step_s[s] = ft_now() - a;
        if (s == 0) first = loss;
        last = loss;
    }
    train_result r = finish(step_s, o->steps, ft_now() - t0, n_pairs, N);
    r.first_loss = first;
    r.last_loss = last;
    int nn;
    gather_group(x, ids, set, groups);
    (void)ft_contrastive_batch_forward(ft_net_forward(net, x, N, 0), ids, N, ft_net_embed_dim(net),
                                       FT_FB_MARGIN, n_pos, &nn);
    free(x);
    free(step_s);
    ft_trainer_free(t);
    ft_net_free(net);
    return r;
}

/* ----------------------------------------------------------- inference ---- */

/* ---------------------------------------------------------------- main ---- */

int main(int argc, char **argv)
{
    bench_opts o;
    char dir_buf[4096];
    parse_args(argc, argv, &o, dir_buf, sizeof dir_buf);
    if (!is_dir(o.data_dir)) {
        fprintf(stderr, "bench_faces: dataset %s not found (pass --data DIR or set FT_SHARED_DIR)\n",
                o.data_dir);
        return FT_FB_SKIP;
    }
    ft_set_threads(o.threads);
    ft_error err = {0};

    ft_net *net = new_net();
    ft_labelled set;
    double t_load = ft_now();
    load_faces(o.data_dir, ft_net_input(net), &set);
    t_load = ft_now() - t_load;
    if (set.n < FT_FB_EMBED_BATCH) {
        fprintf(stderr, "bench_faces: %s holds %d images, need at least %d\n", o.data_dir, set.n,
                FT_FB_EMBED_BATCH);
        return 1;
    }
    ft_pair *pairs;
    int n_pairs;
    if (ft_pairs_balanced(set.label, set.n, 0, FT_FB_SEED, &pairs, &n_pairs, &err)) die("pairs", &err);
    if (n_pairs < FT_FB_PAIRS) {
        fprintf(stderr, "bench_faces: only %d pairs, need %d\n", n_pairs, FT_FB_PAIRS);
        return 1;
    }
    int n_ids = set.n ? set.label[set.n - 1] + 1 : 0;
    int n_groups;
    uint32_t *groups = group_batches(&set, o.warmup + o.steps, &n_groups);

    double flops_img = ft_net_flops(net);
    const ft_input_spec *in = ft_net_input(net);
    /* useful FLOPs of a training step per image: forward, weight gradients and
     * input gradients (the conv/dense FLOPs x 3) minus conv1's input gradient,
     * which is not computed (BN, pooling, ReLU are not counted anywhere) */
    double conv1 = 2.0 * 16 * 1 * 9 * in->height * in->width;
    double train_flops_img = 3.0 * flops_img - conv1;
    printf("facetwin face benchmark: %s, %zu parameters, %.2f MFLOP/image forward, threads %d, "
           "OpenBLAS core %s\n",
           ft_net_name(net), ft_net_param_count(net), flops_img * 1e-6, o.threads,
           openblas_get_corename());
    printf("data: %s (%d images of %d identities, %dx%d input, loaded in %.2f s; %d balanced pairs; "
           "%d group batches of %d)\n",
           o.data_dir, set.n, n_ids, in->width, in->height, t_load, n_pairs, n_groups, FT_FB_GROUP);

    /* 1. pairs mode */
    train_result pr = bench_pairs(&set, pairs, n_pairs, &o);
    double pr_gflops = train_flops_img * pr.images_per_s * 1e-9;
    printf("pairs mode   %9.1f pairs/s   (%.1f images/s; batch %d pairs = %d images, Adam, %d steps "
           "after %d warm-up; step mean %.1f ms, median %.1f ms; %.1f GFLOP/s; loss %.4f -> %.4f)\n",
           pr.rate, pr.images_per_s, FT_FB_PAIRS, 2 * FT_FB_PAIRS, o.steps, o.warmup,
           pr.step_ms_mean, pr.step_ms_median, pr_gflops, pr.first_loss, pr.last_loss);
    step_breakdown bd = bench_breakdown(&set, pairs, n_pairs, o.breakdown);
    double bd_total = bd.gather + bd.forward + bd.loss + bd.backward + bd.update;
    if (o.breakdown > 0)
        printf("  step split  gather %.2f ms, forward %.1f ms (%.0f%%), loss %.2f ms, "
               "backward %.1f ms (%.0f%%), update %.2f ms (%.1f%%)  [%d steps]\n",
               bd.gather, bd.forward, 100 * bd.forward / bd_total, bd.loss, bd.backward,
               100 * bd.backward / bd_total, bd.update, 100 * bd.update / bd_total, o.breakdown);

    /* 2. in-batch mode */
    int n_pos = 0;
    train_result gr = bench_inbatch(&set, groups, n_groups, &o, &n_pos);
    double gr_gflops = train_flops_img * gr.images_per_s * 1e-9;
    const int group_pairs = FT_FB_GROUP * (FT_FB_GROUP - 1) / 2;
    printf("in-batch     %9.1f pairs/s   (%.1f images/s; %d images = %d pairs per step, K = %d "
           "per identity, %d same-identity pairs in the first batch; step mean %.1f ms, median "
           "%.1f ms; %.1f GFLOP/s; loss %.4f -> %.4f)\n",
           gr.rate, gr.images_per_s, FT_FB_GROUP, group_pairs, FT_FB_PER_CLASS, n_pos,
           gr.step_ms_mean, gr.step_ms_median, gr_gflops, gr.first_loss, gr.last_loss);

    /* 3. embeddings/s and 4. latency (the untrained net: speed does not depend on the weights) */
    ft_error rerr = {0};
    if (ft_net_reserve(net, FT_FB_EMBED_BATCH, 0, &rerr)) die("reserve", &rerr);
    double embed_per_s = bench_embed(net, &set, FT_FB_EMBED_BATCH, o.embed_batches);
    printf("embeddings   %9.1f images/s (batch %d, %d batches, ft_net_forward inference)\n",
           embed_per_s, FT_FB_EMBED_BATCH, o.embed_batches);
    double lat_med, lat_p90;
    bench_latency(net, &set, o.latency_calls, &lat_med, &lat_p90);
    printf("latency      %9.3f ms median, %.3f ms p90 (batch 1, %d calls)\n", lat_med, lat_p90,
           o.latency_calls);
    double rss = ft_peak_rss_mb();
    printf("peak RSS     %9.1f MiB (data + models + training and inference buffers)\n", rss);

    printf("JSON {\"impl\":\"facetwin\",\"blas_core\":\"%s\",\"model\":\"%s\",\"threads\":%d,"
           "\"images\":%d,\"identities\":%d,\"flops_per_image\":%.0f,"
           "\"batch_pairs\":%d,\"train_steps\":%d,\"train_pairs_per_s\":%.2f,"
           "\"train_images_per_s\":%.2f,\"train_step_ms\":%.3f,\"train_step_ms_median\":%.3f,"
           "\"train_gflops\":%.2f,\"train_mode\":\"concat\","
           "\"inbatch_images\":%d,\"inbatch_pairs_per_step\":%d,\"inbatch_pos_pairs\":%d,"
           "\"inbatch_pairs_per_s\":%.2f,\"inbatch_images_per_s\":%.2f,\"inbatch_step_ms\":%.3f,"
           "\"inbatch_step_ms_median\":%.3f,\"inbatch_gflops\":%.2f,\"inbatch_loss_variant\":\"pairwise\","
           "\"embed_batch\":%d,\"embed_per_s\":%.2f,\"embed_variant\":\"ft_net_forward\","
           "\"latency_ms_median\":%.4f,\"latency_ms_p90\":%.4f,\"latency_variant\":\"ft_net_forward\","
           "\"peak_rss_mb\":%.1f,"
           "\"step_gather_ms\":%.3f,\"step_forward_ms\":%.3f,\"step_loss_ms\":%.3f,"
           "\"step_backward_ms\":%.3f,\"step_update_ms\":%.3f}\n",
           openblas_get_corename(), ft_net_name(net), o.threads, set.n, n_ids, flops_img,
           FT_FB_PAIRS, o.steps, pr.rate, pr.images_per_s, pr.step_ms_mean, pr.step_ms_median,
           pr_gflops, FT_FB_GROUP, group_pairs, n_pos, gr.rate, gr.images_per_s, gr.step_ms_mean,
           gr.step_ms_median, gr_gflops, FT_FB_EMBED_BATCH, embed_per_s, lat_med, lat_p90, rss,
           bd.gather, bd.forward, bd.loss, bd.backward, bd.update);

    free(pairs);
    free(groups);
    ft_labelled_free(&set);
    ft_net_free(net);
    return 0;
}
