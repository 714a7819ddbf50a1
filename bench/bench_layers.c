/* bench_layers.c — throughput of the hot layers against plain sgemm.
 *
 * Times, on the reference network's shapes at batch 256, forward and backward
 * separately (best of FT_BENCH_REPS after a warm-up):
 *   conv1   1 -> 64, 3x3, 28x28 -> 26x26   (first layer: backward skips dinp)
 *   conv2  64 -> 32, 3x3, 26x26 -> 24x24
 *   dense  18432 -> 128
 * and cblas_sgemm on a 2048 x 2048 product, all with the same thread count
 * (argument 1, default 2). GFLOP/s counts 2*MACs of the useful work: a conv
 * forward is 2*OC*(C/g)*KH*KW*OH*OW*B flops, its backward that once for dW
 * and once more for dinp when it is computed.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "facetwin/layers.h"
#include "facetwin/runtime.h"
#include "layers/conv2d.h"
#include "rng.h"

#define FT_BENCH_REPS 5
#define FT_BENCH_BATCH 256
#define FT_BENCH_GEMM_N 2048

static float *make(size_t n, ft_rng *r)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = ft_rng_uniform(r) - 0.5f;
    return p;
}

static void report(const char *what, double flops, double secs)
{
    printf("%-36s %8.2f ms  %7.2f GFLOP/s\n", what, secs * 1e3, flops / secs * 1e-9);
}

static void bench_conv(const char *name, ft_conv2d_shape s, int need_dinp, ft_rng *r)
{
    int OH = ft_conv2d_out_h(&s), OW = ft_conv2d_out_w(&s);
    size_t nin = (size_t)s.B * s.C * s.H * s.W, nout = (size_t)s.B * s.OC * OH * OW;
    size_t nw = (size_t)s.OC * (s.C / s.groups) * s.KH * s.KW;
    float *inp = make(nin, r), *w = make(nw, r), *b = make(s.OC, r), *out = make(nout, r);
    float *dout = make(nout, r), *din = make(nin, r), *dw = make(nw, r), *db = make(s.OC, r);
    float *ws = make(ft_conv2d_workspace(&s), r);
    double flops = 2.0 * s.OC * (s.C / s.groups) * s.KH * s.KW * OH * OW * s.B;
    double best_f = 1e30, best_b = 1e30;
    for (int rep = 0; rep <= FT_BENCH_REPS; rep++) {
        double t0 = ft_now();
        ft_conv2d_forward(out, inp, w, b, &s, ws);
        double t1 = ft_now();
        ft_conv2d_backward(need_dinp ? din : NULL, dw, db, dout, inp, w, &s, ws);
        double t2 = ft_now();
        if (rep == 0) continue; /* warm-up */
        if (t1 - t0 < best_f) best_f = t1 - t0;
        if (t2 - t1 < best_b) best_b = t2 - t1;
    }
    char label[64];
    snprintf(label, sizeof label, "%s forward", name);
    report(label, flops, best_f);
    snprintf(label, sizeof label, "%s backward%s", name, need_dinp ? "" : " (no dinp)");
    report(label, flops * (need_dinp ? 2 : 1), best_b);
    static const char *const algo[] = {"im2col", "depthwise"};
    ft_conv2d_plan p = ft_conv2d_plan_for(&s);
    printf("%-36s %s, chunks of %d images, workspace %.1f MiB\n", "", algo[p.algo], p.nb,
           (double)ft_conv2d_workspace(&s) * sizeof(float) / (1 << 20));
    free(inp), free(w), free(b), free(out), free(dout), free(din), free(dw), free(db), free(ws);
}

static void bench_dense(int B, int IN, int OUT, ft_rng *r)
{
    float *inp = make((size_t)B * IN, r), *w = make((size_t)OUT * IN, r), *b = make(OUT, r);
    float *out = make((size_t)B * OUT, r), *dout = make((size_t)B * OUT, r);
    float *din = make((size_t)B * IN, r), *dw = make((size_t)OUT * IN, r), *db = make(OUT, r);
    double flops = 2.0 * B * IN * OUT, best_f = 1e30, best_b = 1e30;
    for (int rep = 0; rep <= FT_BENCH_REPS; rep++) {
        double t0 = ft_now();
        ft_dense_forward(out, inp, w, b, B, IN, OUT);
        double t1 = ft_now();
        ft_dense_backward(din, dw, db, dout, inp, w, B, IN, OUT);
        double t2 = ft_now();
        if (rep == 0) continue;
        if (t1 - t0 < best_f) best_f = t1 - t0;
        if (t2 - t1 < best_b) best_b = t2 - t1;
    }
    report("dense 18432->128 forward", flops, best_f);
    report("dense 18432->128 backward", 2 * flops, best_b);
    free(inp), free(w), free(b), free(out), free(dout), free(din), free(dw), free(db);
}

static void bench_sgemm(int n, ft_rng *r)
{
    size_t nn = (size_t)n * n;
    float *a = make(nn, r), *b = make(nn, r), *c = make(nn, r);
    double best = 1e30;
    for (int rep = 0; rep <= FT_BENCH_REPS; rep++) {
        double t0 = ft_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = ft_now() - t0;
        if (rep > 0 && t < best) best = t;
    }
    report("sgemm 2048^2", 2.0 * n * nn, best);
    free(a), free(b), free(c);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    ft_set_threads(threads);
    printf("threads %d, batch %d, best of %d\n", threads, FT_BENCH_BATCH, FT_BENCH_REPS);
    ft_rng r = ft_rng_derive(1, 1);
    /* B, C, H, W, OC, KH, KW, stride, pad, groups */
    bench_conv("conv1 1->64 28x28", (ft_conv2d_shape){FT_BENCH_BATCH, 1, 28, 28, 64, 3, 3, 1, 0, 1}, 0, &r);
    bench_conv("conv2 64->32 26x26", (ft_conv2d_shape){FT_BENCH_BATCH, 64, 26, 26, 32, 3, 3, 1, 0, 1}, 1, &r);
    bench_dense(FT_BENCH_BATCH, 18432, 128, &r);
    bench_sgemm(FT_BENCH_GEMM_N, &r);
    return 0;
}
