/* bench_core.c — the core speed benchmark: facetwin on the seed-mnist network.
 *
 * What it measures, in this order, all with the same thread count (--threads,
 * default 2, handed to ft_set_threads):
 *
 *   1. training    pairs/s of ft_trainer_step: Keras-style pairs
 *                  (ft_pairs_keras on the MNIST-10k training labels), batch
 *                  FT_BENCH_PAIRS pairs = one forward/backward of 2B images,
 *                  RMSprop lr 1e-3, contrastive loss, margin 1. A few warm-up
 *                  steps, then --steps timed steps; the rate is pairs over the
 *                  wall time of all timed steps. A second, shorter pass splits
 *                  the step into gather / forward / loss / backward / update.
 *   2. embeddings  images/s of ft_net_forward(training = 0) at batch
 *                  FT_BENCH_EMBED_BATCH over the test images, many batches.
 *   3. latency     one image (batch 1), --latency-calls calls: median, p90.
 *   -- peak RSS is read here: it covers the model workload only, before the
 *      synthetic buffers of the kernels below.
 *   4. kernels     GFLOP/s of ft_conv2d_* and ft_dense_* forward and backward
 *                  at the training shapes (B = 2 x FT_BENCH_PAIRS images), and
 *                  cblas_sgemm on an n x n x n product (n = --gemm-n, 2048).
 *
 * FLOPs follow ft_net_flops(): a multiply-add counts 2; a conv forward is
 * 2*OC*C*KH*KW*OH*OW per image, a dense one 2*IN*OUT. Backward computes the
 * weight gradient (same FLOPs as forward) and the input gradient (same again)
 * except in the first layer, which has no input gradient. The sgemm figure is
 * the ceiling the conv and dense layers are measured against (2n^3 / t).
 *
 * Output: human-readable lines, then ONE line "JSON {...}" with every number,
 * which bench/run_core.sh parses to compute ratios against the PyTorch peer
 * (bench/peer_torch.py prints the same keys). Exit status 77 when the dataset
 * is missing (the only reason to skip), 1 on any other failure.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "facetwin/idx.h"
#include "facetwin/layers.h"
#include "facetwin/net.h"
#include "facetwin/optim.h"
#include "facetwin/runtime.h"
#include "facetwin/train.h"
#include "rng.h"

#define FT_BENCH_NAME "bench_core"
#include "bench_util.h"

#define FT_BENCH_MODEL "seed-mnist"
#define FT_BENCH_PAIRS 128          /* pairs per training step (2x images) */
#define FT_BENCH_EMBED_BATCH 128
#define FT_BENCH_LR 1e-3f
#define FT_BENCH_MARGIN 1.0f
#define FT_BENCH_SEED 1234u
#define FT_BENCH_SKIP 77            /* exit status: dataset missing */
#define FT_BENCH_DEFAULT_THREADS 2
#define FT_BENCH_DEFAULT_WARMUP 5
#define FT_BENCH_DEFAULT_STEPS 60
#define FT_BENCH_DEFAULT_BREAKDOWN 10
#define FT_BENCH_DEFAULT_EMBED_BATCHES 60
#define FT_BENCH_DEFAULT_LATENCY_CALLS 500
#define FT_BENCH_DEFAULT_GEMM_N 2048
#define FT_BENCH_DEFAULT_KERNEL_SECS 0.6 /* minimum timed seconds per kernel */
#define FT_BENCH_KERNEL_MIN_REPS 3
#define FT_BENCH_GEMM_REPS 5
#define FT_BENCH_DATASET "datasets/mnist-10k"
#define FT_BENCH_SHARED_DEFAULT "../shared" /* relative to the repository root = cwd */

/* seed-mnist's geometry, for the kernel timings (checked against ft_net_flops) */
#define SM_IN 28
#define SM_K 3
#define SM_C1 64
#define SM_C2 32
#define SM_UNITS 128

typedef struct {
    const char *data_dir;
    int threads, warmup, steps, breakdown, embed_batches, latency_calls, gemm_n;
    double kernel_secs;
} bench_opts;

typedef struct {
    const char *key;  /* JSON key prefix, e.g. "conv2_bwd" */
    double flops, secs;
} kernel_result;

static float *random_floats(size_t n, ft_rng *r)
{
    float *p = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = ft_rng_uniform(r) - 0.5f;
    return p;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_core [--data DIR] [--threads N] [--warmup N] [--steps N]\n"
            "                  [--breakdown N] [--embed-batches N] [--latency-calls N]\n"
            "                  [--gemm-n N] [--kernel-secs S]\n"
            "  --data DIR  MNIST IDX directory (default $FT_SHARED_DIR/" FT_BENCH_DATASET
            ", FT_SHARED_DIR defaulting to " FT_BENCH_SHARED_DEFAULT ")\n");
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
    o->data_dir = NULL;
    o->threads = FT_BENCH_DEFAULT_THREADS;
    o->warmup = FT_BENCH_DEFAULT_WARMUP;
    o->steps = FT_BENCH_DEFAULT_STEPS;
    o->breakdown = FT_BENCH_DEFAULT_BREAKDOWN;
    o->embed_batches = FT_BENCH_DEFAULT_EMBED_BATCHES;
    o->latency_calls = FT_BENCH_DEFAULT_LATENCY_CALLS;
    o->gemm_n = FT_BENCH_DEFAULT_GEMM_N;
    o->kernel_secs = FT_BENCH_DEFAULT_KERNEL_SECS;
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
        else if (!strcmp(a, "--gemm-n")) o->gemm_n = int_arg(v, 0);
        else if (!strcmp(a, "--kernel-secs")) {
            o->kernel_secs = atof(v);
            if (!(o->kernel_secs >= 0)) usage();
        } else usage();
    }
    if (!o->data_dir) {
        const char *shared = getenv("FT_SHARED_DIR");
        snprintf(dir_buf, dir_n, "%s/%s", shared && *shared ? shared : FT_BENCH_SHARED_DEFAULT,
                 FT_BENCH_DATASET);
        o->data_dir = dir_buf;
    }
}

static void load_set(const char *dir, const char *prefix, const ft_input_spec *spec,
                     ft_labelled *out)
{
    char path[4096];
    ft_error err = {0};
    ft_idx_set raw;
    snprintf(path, sizeof path, "%s/%s", dir, prefix);
    if (ft_idx_set_load(path, &raw, &err)) die(path, &err);
    if (ft_labelled_from_idx(&raw, spec, out, &err)) die(path, &err);
    ft_idx_set_free(&raw);
}

/* ------------------------------------------------------------ training ---- */

typedef struct {
    double pairs_per_s, step_ms_mean, step_ms_median, first_loss, last_loss;
} train_result;

static train_result bench_training(ft_net *net, const ft_labelled *train, const ft_pair *pairs,
                                   int n_pairs, const bench_opts *o)
{
    ft_error err = {0};
    ft_optim_config oc = ft_optim_defaults(FT_OPT_RMSPROP);
    oc.lr = FT_BENCH_LR;
    ft_trainer *t;
    if (ft_trainer_new(net, &oc, FT_BENCH_PAIRS, FT_BENCH_MARGIN, &t, &err)) die("trainer", &err);
    int batches = n_pairs / FT_BENCH_PAIRS;
    double *step_s = xmalloc((size_t)o->steps * sizeof(double));
    train_result r = {0};
    for (int s = 0; s < o->warmup; s++)
        (void)ft_trainer_step(t, train, pairs + (size_t)(s % batches) * FT_BENCH_PAIRS,
                              FT_BENCH_PAIRS, (uint64_t)s);
    double t0 = ft_now();
    for (int s = 0; s < o->steps; s++) {
        int k = o->warmup + s;
        double a = ft_now();
        float loss = ft_trainer_step(t, train, pairs + (size_t)(k % batches) * FT_BENCH_PAIRS,
                                     FT_BENCH_PAIRS, (uint64_t)k);
        step_s[s] = ft_now() - a;
        if (s == 0) r.first_loss = loss;
        r.last_loss = loss;
    }
    double total = ft_now() - t0;
    qsort(step_s, (size_t)o->steps, sizeof(double), cmp_double);
    r.pairs_per_s = (double)o->steps * FT_BENCH_PAIRS / total;
    r.step_ms_mean = total / o->steps * 1e3;
    r.step_ms_median = quantile(step_s, o->steps, 0.5) * 1e3;
    free(step_s);
    ft_trainer_free(t);
    return r;
}

/* The step of ft_trainer_step (train.c), phase by phase, so the time can be
 * attributed: gather the 2B inputs, forward, loss + its gradient, backward
 * (with the gradient zeroing), optimiser update. */
typedef struct {
    double gather, forward, loss, backward, update; /* ms per step */
} step_breakdown;

static step_breakdown bench_breakdown(ft_net *net, const ft_labelled *set, const ft_pair *pairs,
                                      int n_pairs, int steps)
{
    step_breakdown bd = {0};
    if (steps <= 0) return bd;
    ft_error err = {0};
    ft_optim_config oc = ft_optim_defaults(FT_OPT_RMSPROP);
    oc.lr = FT_BENCH_LR;
    ft_optim *opt;
    if (ft_optim_new(&oc, net, &opt, &err)) die("optimiser", &err);
    const int B = FT_BENCH_PAIRS, D = ft_net_embed_dim(net);
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
        (void)ft_contrastive_forward(NULL, e, e + (size_t)B * D, y, B, D, FT_BENCH_MARGIN);
        memset(de, 0, (size_t)2 * B * D * sizeof(float));
        ft_contrastive_backward(de, de + (size_t)B * D, e, e + (size_t)B * D, y, B, D,
                                FT_BENCH_MARGIN, 1.0f);
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
    bd.gather *= k;
    bd.forward *= k;
    bd.loss *= k;
    bd.backward *= k;
    bd.update *= k;
    free(x);
    free(y);
    free(de);
    ft_optim_free(opt);
    return bd;
}

/* ----------------------------------------------------------- inference ---- */

/* ------------------------------------------------------------- kernels ---- */

/* Median seconds of one call of fn(ctx), repeated for at least min_secs. */
typedef void (*kernel_fn)(void *ctx);

static double time_kernel(kernel_fn fn, void *ctx, double min_secs)
{
    enum { MAX_REPS = 1000 };
    static double reps[MAX_REPS];
    fn(ctx); /* warm-up: first touch of buffers, BLAS thread start */
    int n = 0;
    double start = ft_now();
    while (n < MAX_REPS && (n < FT_BENCH_KERNEL_MIN_REPS || ft_now() - start < min_secs)) {
        double t0 = ft_now();
        fn(ctx);
        reps[n++] = ft_now() - t0;
    }
    qsort(reps, (size_t)n, sizeof(double), cmp_double);
    return quantile(reps, n, 0.5);
}

typedef struct {
    ft_conv2d_shape s;
    int first;  /* no input gradient */
    float *inp, *w, *b, *out, *dout, *dinp, *dw, *db, *ws;
} conv_ctx;

static void conv_fwd(void *c)
{
    conv_ctx *k = c;
    ft_conv2d_forward(k->out, k->inp, k->w, k->b, &k->s, k->ws);
}

static void conv_bwd(void *c)
{
    conv_ctx *k = c;
    ft_conv2d_backward(k->first ? NULL : k->dinp, k->dw, k->db, k->dout, k->inp, k->w, &k->s, k->ws);
}

typedef struct {
    int B, IN, OUT;
    float *inp, *w, *b, *out, *dout, *dinp, *dw, *db;
} dense_ctx;

static void dense_fwd(void *c)
{
    dense_ctx *k = c;
    ft_dense_forward(k->out, k->inp, k->w, k->b, k->B, k->IN, k->OUT);
}

static void dense_bwd(void *c)
{
    dense_ctx *k = c;
    ft_dense_backward(k->dinp, k->dw, k->db, k->dout, k->inp, k->w, k->B, k->IN, k->OUT);
}

typedef struct {
    float *out, *inp;
    size_t n;
} relu_ctx;

static void relu_fwd(void *c)
{
    relu_ctx *k = c;
    ft_relu_forward(k->out, k->inp, k->n);
}

typedef struct {
    int n;
    float *a, *b, *c;
} gemm_ctx;

static void gemm_run(void *c)
{
    gemm_ctx *k = c;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k->n, k->n, k->n, 1.0f, k->a, k->n,
                k->b, k->n, 0.0f, k->c, k->n);
}

static double conv_flops(const ft_conv2d_shape *s)
{
    return 2.0 * s->B * s->OC * (s->C / s->groups) * s->KH * s->KW * ft_conv2d_out_h(s) *
           ft_conv2d_out_w(s);
}

static void bench_conv(ft_conv2d_shape s, int first, const char *name, double min_secs,
                       kernel_result *fwd, kernel_result *bwd, ft_rng *r)
{
    conv_ctx k = {.s = s, .first = first};
    size_t nin = (size_t)s.B * s.C * s.H * s.W;
    size_t nout = (size_t)s.B * s.OC * ft_conv2d_out_h(&s) * ft_conv2d_out_w(&s);
    size_t nw = (size_t)s.OC * (s.C / s.groups) * s.KH * s.KW;
    k.inp = random_floats(nin, r);
    k.w = random_floats(nw, r);
    k.b = random_floats((size_t)s.OC, r);
    k.out = random_floats(nout, r);
    k.dout = random_floats(nout, r);
    k.dinp = random_floats(nin, r);
    k.dw = random_floats(nw, r);
    k.db = random_floats((size_t)s.OC, r);
    k.ws = random_floats(ft_conv2d_workspace(&s), r);
    double f = conv_flops(&s);
    *fwd = (kernel_result){name, f, time_kernel(conv_fwd, &k, min_secs)};
    *bwd = (kernel_result){name, f * (first ? 1.0 : 2.0), time_kernel(conv_bwd, &k, min_secs)};
    float *bufs[] = {k.inp, k.w, k.b, k.out, k.dout, k.dinp, k.dw, k.db, k.ws};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
}

static void bench_dense(int B, int IN, int OUT, double min_secs, kernel_result *fwd,
                        kernel_result *bwd, ft_rng *r)
{
    dense_ctx k = {.B = B, .IN = IN, .OUT = OUT};
    k.inp = random_floats((size_t)B * IN, r);
    k.w = random_floats((size_t)OUT * IN, r);
    k.b = random_floats((size_t)OUT, r);
    k.out = random_floats((size_t)B * OUT, r);
    k.dout = random_floats((size_t)B * OUT, r);
    k.dinp = random_floats((size_t)B * IN, r);
    k.dw = random_floats((size_t)OUT * IN, r);
    k.db = random_floats((size_t)OUT, r);
    double f = 2.0 * B * IN * OUT;
    *fwd = (kernel_result){"dense", f, time_kernel(dense_fwd, &k, min_secs)};
    *bwd = (kernel_result){"dense", 2.0 * f, time_kernel(dense_bwd, &k, min_secs)};
    float *bufs[] = {k.inp, k.w, k.b, k.out, k.dout, k.dinp, k.dw, k.db};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
}

static double bench_relu(size_t n, double min_secs, ft_rng *r)
{
    relu_ctx k = {random_floats(n, r), random_floats(n, r), n};
    double s = time_kernel(relu_fwd, &k, min_secs);
    free(k.out);
    free(k.inp);
    return s;
}

static double bench_gemm(int n, ft_rng *r)
{
    if (n <= 0) return 0.0;
    gemm_ctx k = {n, random_floats((size_t)n * n, r), random_floats((size_t)n * n, r),
                  random_floats((size_t)n * n, r)};
    gemm_run(&k); /* warm-up */
    double best = 1e30;
    for (int i = 0; i < FT_BENCH_GEMM_REPS; i++) {
        double t0 = ft_now();
        gemm_run(&k);
        double t = ft_now() - t0;
        if (t < best) best = t;
    }
    free(k.a);
    free(k.b);
    free(k.c);
    return 2.0 * (double)n * n * n / best * 1e-9;
}

static double gflops(const kernel_result *k) { return k->flops / k->secs * 1e-9; }

/* ---------------------------------------------------------------- main ---- */

int main(int argc, char **argv)
{
    bench_opts o;
    char dir_buf[4096];
    parse_args(argc, argv, &o, dir_buf, sizeof dir_buf);
    struct stat st;
    if (stat(o.data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "bench_core: dataset %s not found (pass --data DIR or set FT_SHARED_DIR)\n",
                o.data_dir);
        return FT_BENCH_SKIP;
    }
    ft_set_threads(o.threads);

    ft_error err = {0};
    char *spec;
    ft_net *net;
    if (ft_spec_resolve(FT_BENCH_MODEL, &spec, &err)) die("spec", &err);
    if (ft_net_from_json(spec, &net, &err)) die("spec", &err);
    free(spec);
    ft_net_init(net, FT_BENCH_SEED);

    ft_labelled train, test;
    load_set(o.data_dir, "train", ft_net_input(net), &train);
    load_set(o.data_dir, "t10k", ft_net_input(net), &test);
    ft_pair *pairs;
    int n_pairs;
    if (ft_pairs_keras(train.label, train.n, FT_BENCH_SEED, &pairs, &n_pairs, &err))
        die("pairs", &err);
    if (n_pairs < FT_BENCH_PAIRS) {
        fprintf(stderr, "bench_core: only %d pairs, need %d\n", n_pairs, FT_BENCH_PAIRS);
        return 1;
    }
    { /* Keras' fit shuffles its fixed pair list; so do we, once */
        ft_rng r = ft_rng_derive(FT_BENCH_SEED, 0x5E);
        for (int i = n_pairs - 1; i > 0; i--) {
            int j = (int)ft_rng_below(&r, (uint32_t)(i + 1));
            ft_pair tmp = pairs[i];
            pairs[i] = pairs[j];
            pairs[j] = tmp;
        }
    }
    double flops_img = ft_net_flops(net);
    printf("facetwin core benchmark: %s, %zu parameters, %.2f MFLOP/image forward, "
           "threads %d, OpenBLAS core %s\n",
           ft_net_name(net), ft_net_param_count(net), flops_img * 1e-6, o.threads,
           openblas_get_corename());
    printf("data: %s (%d train images, %d test images, %d keras pairs)\n", o.data_dir, train.n,
           test.n, n_pairs);

    /* 1. training */
    train_result tr = bench_training(net, &train, pairs, n_pairs, &o);
    /* one step's useful FLOPs: forward, weight grads, input grads except layer 0's */
    double conv1_img = 2.0 * SM_C1 * SM_K * SM_K * (SM_IN - SM_K + 1) * (SM_IN - SM_K + 1);
    double step_flops = 2.0 * FT_BENCH_PAIRS * (3.0 * flops_img - conv1_img);
    printf("training     %9.1f pairs/s   (batch %d pairs = %d images, %d steps after %d warm-up; "
           "step mean %.1f ms, median %.1f ms; %.1f GFLOP/s; loss %.4f -> %.4f)\n",
           tr.pairs_per_s, FT_BENCH_PAIRS, 2 * FT_BENCH_PAIRS, o.steps, o.warmup, tr.step_ms_mean,
           tr.step_ms_median, step_flops / (tr.step_ms_mean * 1e-3) * 1e-9, tr.first_loss,
           tr.last_loss);
    step_breakdown bd = bench_breakdown(net, &train, pairs, n_pairs, o.breakdown);
    double bd_total = bd.gather + bd.forward + bd.loss + bd.backward + bd.update;
    if (o.breakdown > 0)
        printf("  step split  gather %.2f ms, forward %.1f ms (%.0f%%), loss %.2f ms, "
               "backward %.1f ms (%.0f%%), update %.2f ms (%.1f%%)  [%d steps]\n",
               bd.gather, bd.forward, 100 * bd.forward / bd_total, bd.loss, bd.backward,
               100 * bd.backward / bd_total, bd.update, 100 * bd.update / bd_total, o.breakdown);

    /* 2. embeddings/s and 3. latency */
    double embed_per_s = bench_embed(net, &test, FT_BENCH_EMBED_BATCH, o.embed_batches);
    printf("embeddings   %9.1f images/s (batch %d, %d batches, ft_net_forward inference)\n",
           embed_per_s, FT_BENCH_EMBED_BATCH, o.embed_batches);
    double lat_med, lat_p90;
    bench_latency(net, &test, o.latency_calls, &lat_med, &lat_p90);
    printf("latency      %9.3f ms median, %.3f ms p90 (batch 1, %d calls)\n", lat_med, lat_p90,
           o.latency_calls);
    double rss_model = ft_peak_rss_mb();
    printf("peak RSS     %9.1f MiB (data + model + training and inference buffers)\n", rss_model);

    /* 4. kernels at the training shapes */
    ft_rng r = ft_rng_derive(FT_BENCH_SEED, 0xBE);
    const int B = 2 * FT_BENCH_PAIRS, H1 = SM_IN - SM_K + 1, H2 = H1 - SM_K + 1;
    ft_conv2d_shape s1 = {B, 1, SM_IN, SM_IN, SM_C1, SM_K, SM_K, 1, 0, 1};
    ft_conv2d_shape s2 = {B, SM_C1, H1, H1, SM_C2, SM_K, SM_K, 1, 0, 1};
    const int dense_in = SM_C2 * H2 * H2;
    kernel_result k[6];
    bench_conv(s1, 1, "conv1", o.kernel_secs, &k[0], &k[1], &r);
    bench_conv(s2, 0, "conv2", o.kernel_secs, &k[2], &k[3], &r);
    bench_dense(B, dense_in, SM_UNITS, o.kernel_secs, &k[4], &k[5], &r);
    double relu_s = bench_relu((size_t)B * SM_C1 * H1 * H1, o.kernel_secs / 3, &r);
    double gemm_gf = bench_gemm(o.gemm_n, &r);
    double check = (conv_flops(&s1) + conv_flops(&s2) + 2.0 * B * dense_in * SM_UNITS) / B;
    if (check != flops_img)
        fprintf(stderr, "bench_core: warning: kernel shapes (%.0f FLOP/image) differ from "
                        "ft_net_flops (%.0f)\n", check, flops_img);
    printf("kernels at the training shapes (B = %d images), median call:\n", B);
    const char *dir[2] = {"forward", "backward"};
    double kern_total = 0;
    for (int i = 0; i < 6; i++) kern_total += k[i].secs;
    for (int i = 0; i < 6; i++)
        printf("  %-6s %-8s %8.2f ms  %7.1f GFLOP/s  (%4.1f%% of the conv+dense time)\n",
               k[i].key, dir[i % 2], k[i].secs * 1e3, gflops(&k[i]), 100 * k[i].secs / kern_total);
    printf("  relu   forward  %8.2f ms  (conv1 output, %.0f MB/s)\n", relu_s * 1e3,
           (double)B * SM_C1 * H1 * H1 * 8 / relu_s * 1e-6);
    if (o.gemm_n > 0)
        printf("  sgemm  %dx%dx%d  %7.1f GFLOP/s  (best of %d)\n", o.gemm_n, o.gemm_n, o.gemm_n,
               gemm_gf, FT_BENCH_GEMM_REPS);
    printf("peak RSS     %9.1f MiB at exit (incl. kernel and sgemm buffers)\n", ft_peak_rss_mb());

    printf("JSON {\"impl\":\"facetwin\",\"blas_core\":\"%s\",\"model\":\"%s\",\"threads\":%d,"
           "\"batch_pairs\":%d,"
           "\"train_steps\":%d,\"train_pairs_per_s\":%.2f,\"train_step_ms\":%.3f,"
           "\"train_step_ms_median\":%.3f,\"train_gflops\":%.2f,\"train_mode\":\"concat\","
           "\"embed_batch\":%d,\"embed_per_s\":%.2f,\"latency_ms_median\":%.4f,"
           "\"latency_ms_p90\":%.4f,\"peak_rss_mb\":%.1f,\"peak_rss_exit_mb\":%.1f,"
           "\"flops_per_image\":%.0f,"
           "\"step_gather_ms\":%.3f,\"step_forward_ms\":%.3f,\"step_loss_ms\":%.3f,"
           "\"step_backward_ms\":%.3f,\"step_update_ms\":%.3f,",
           openblas_get_corename(), ft_net_name(net), o.threads, FT_BENCH_PAIRS, o.steps, tr.pairs_per_s, tr.step_ms_mean,
           tr.step_ms_median, step_flops / (tr.step_ms_mean * 1e-3) * 1e-9, FT_BENCH_EMBED_BATCH,
           embed_per_s, lat_med, lat_p90, rss_model, ft_peak_rss_mb(), flops_img, bd.gather,
           bd.forward, bd.loss, bd.backward, bd.update);
    for (int i = 0; i < 6; i++)
        printf("\"%s_%s_ms\":%.3f,\"%s_%s_gflops\":%.2f,", k[i].key, i % 2 ? "bwd" : "fwd",
               k[i].secs * 1e3, k[i].key, i % 2 ? "bwd" : "fwd", gflops(&k[i]));
    printf("\"relu_fwd_ms\":%.3f,\"sgemm_n\":%d,\"sgemm_gflops\":%.2f}\n", relu_s * 1e3, o.gemm_n,
           gemm_gf);

    free(pairs);
    ft_labelled_free(&train);
    ft_labelled_free(&test);
    ft_net_free(net);
    return 0;
}
