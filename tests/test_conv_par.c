/* test_conv_par.c — the conv split across the pool's threads (core/pool.c,
 * conv_forward_parallel in core/layers/conv2d.c) against the serial path.
 *
 * For each shape — odd and even output rows, stride 2, groups, a 1x1 conv, a layer deep and
 * narrow enough to split its channels, one large enough that each thread's rows take several
 * im2col tiles, one too small to split — the forward with ft_set_threads(1) (serial: the pool
 * is never used) is the reference. With 2 and 3 threads the output must agree within 1e-4
 * relative to max(1, |ref|), and repeated runs must give the same bits. Two threads calling a
 * forward at once (one then waits for the other's runs) must still give the same bits as a
 * lone run. The workspace is the tight inference size
 * (ft_conv2d_workspace_forward), so a part writing past its slice shows under ASan.
 *
 * A batch of several images (training, batched inference) is split by whole images across the
 * pool instead (par_batch_* in conv2d.c): forward output, input gradient and the accumulated
 * weight gradient must agree with the serial loop within the same tolerance and repeat to the
 * bit, for plans of one and several chunks per part and one whose workspace cannot hold the
 * weight-gradient partials (the serial fallback).
 *
 * The memory-bound layers between convolutions (max pool, batch norm in training and inference,
 * ReLU and its in-place gradient) split planes, channels or elements across the pool when
 * large (ft_pool_for): each item is one thread's, so their outputs must be the same bits with
 * 1, 2 and 3 threads. A one-image dense layer with large weights splits its sgemv by rows: the
 * same tolerance against one thread, the same bits on repeat.
 */
#include "ft_test.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/layers.h"
#include "facetwin/runtime.h"
#include "layers/conv2d.h"
#include "rng.h"

#define PAR_REL_TOL 1e-4 /* as test_conv_ref.c: sums of up to 2304 products in float, other GEMM blockings */
#define REPEATS 5
#define RACE_ROUNDS 20

typedef struct {
    ft_conv2d_shape s;
    int must_split; /* the GEMM is above FT_CONV_PAR_MIN_FLOPS */
} conv_case;

static const conv_case k_cases[] = {
    {{1, 16, 33, 33, 32, 3, 3, 1, 1, 1}, 1},   /* 33 output rows: odd */
    {{1, 3, 75, 75, 32, 7, 7, 2, 3, 1}, 1},    /* the encoder's stem: stride 2, 38 rows */
    {{1, 32, 21, 21, 64, 3, 3, 1, 1, 2}, 1},   /* two groups */
    {{1, 64, 31, 31, 64, 1, 1, 1, 0, 1}, 1},   /* 1x1: no im2col, rows split */
    {{1, 64, 7, 7, 128, 3, 3, 1, 1, 1}, 1},    /* P 49 < 128 channels: channels split */
    {{1, 128, 9, 9, 256, 3, 3, 2, 1, 1}, 1},   /* 5x5 output, 256 channels */
    {{1, 64, 5, 5, 40, 3, 3, 1, 1, 1}, 0},     /* 40 channels not 16-aligned, rows 5; small */
    {{1, 64, 64, 64, 16, 3, 3, 1, 1, 1}, 1},   /* col above the tile: several tiles per part */
    {{1, 96, 9, 9, 48, 3, 3, 1, 1, 1}, 1},     /* P 81 > 48: rows split, 9 rows into 2 or 3 */
    {{1, 4, 8, 8, 8, 3, 3, 1, 1, 1}, 0},       /* far below the threshold: the serial path */
};

static float *falloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    assert_non_null(p);
    return p;
}

typedef struct {
    const ft_conv2d_shape *s;
    const float *inp, *w, *b;
    size_t out_n, ws_n;
    float *out; /* filled by run() */
} conv_run;

static void run(conv_run *r)
{
    float *ws = r->ws_n ? falloc(r->ws_n) : NULL;
    ft_conv2d_forward(r->out, r->inp, r->w, r->b, r->s, ws);
    free(ws);
}

static void *run_rounds(void *p)
{
    conv_run *r = p;
    float *first = falloc(r->out_n);
    int same = 1;
    for (int i = 0; i < RACE_ROUNDS; i++) {
        run(r);
        if (i == 0) memcpy(first, r->out, r->out_n * sizeof(float));
        else if (memcmp(first, r->out, r->out_n * sizeof(float))) same = 0;
    }
    free(first);
    return same ? r : NULL;
}

static void fill(float *x, size_t n, ft_rng *rng)
{
    for (size_t i = 0; i < n; i++) x[i] = ft_rng_uniform(rng) * 2.0f - 1.0f;
}

static void check_case(const conv_case *c, ft_rng *rng)
{
    const ft_conv2d_shape *s = &c->s;
    const size_t in_n = (size_t)s->C * s->H * s->W, w_n = (size_t)s->OC * (s->C / s->groups) * s->KH * s->KW;
    const size_t P = (size_t)ft_conv2d_out_h(s) * ft_conv2d_out_w(s), out_n = (size_t)s->OC * P;
    const double flops = 2.0 * (double)w_n * (double)P;
    assert_int_equal(c->must_split, flops >= FT_CONV_PAR_MIN_FLOPS);
    float *inp = falloc(in_n), *w = falloc(w_n), *b = falloc((size_t)s->OC);
    fill(inp, in_n, rng);
    fill(w, w_n, rng);
    fill(b, (size_t)s->OC, rng);
    float *ref = falloc(out_n), *got = falloc(out_n), *again = falloc(out_n);
    conv_run r = {s, inp, w, b, out_n, ft_conv2d_workspace_forward(s), ref};

    ft_set_threads(1);
    run(&r);
    for (int T = 2; T <= 3; T++) {
        ft_set_threads(T);
        r.out = got;
        run(&r);
        double worst = 0.0;
        for (size_t i = 0; i < out_n; i++) {
            double e = fabs((double)got[i] - ref[i]) / fmax(1.0, fabs((double)ref[i]));
            if (e > worst) worst = e;
        }
        if (worst > PAR_REL_TOL)
            fail_msg("shape C%d %dx%d OC%d k%d s%d g%d, %d threads: max rel diff %.3g", s->C, s->H, s->W, s->OC, s->KH,
                     s->stride, s->groups, T, worst);
        for (int k = 0; k < REPEATS; k++) {
            r.out = again;
            run(&r);
            assert_memory_equal(got, again, out_n * sizeof(float));
        }
        /* two callers at once: one holds the pool, the other waits */
        conv_run r2 = r;
        r.out = falloc(out_n);
        r2.out = falloc(out_n);
        pthread_t tid;
        assert_int_equal(pthread_create(&tid, NULL, run_rounds, &r2), 0);
        void *mine = run_rounds(&r);
        void *theirs = NULL;
        assert_int_equal(pthread_join(tid, &theirs), 0);
        if (!mine || !theirs)
            fail_msg("shape C%d %dx%d OC%d, %d threads: repeated runs differ under contention (%s)", s->C, s->H, s->W, s->OC,
                     T, mine ? "the other thread" : "this thread");
        assert_memory_equal(got, r.out, out_n * sizeof(float));
        assert_memory_equal(got, r2.out, out_n * sizeof(float));
        free(r.out);
        free(r2.out);
    }
    ft_set_threads(1);
    free(inp), free(w), free(b), free(ref), free(got), free(again);
}

static void test_parallel_matches_serial(void **state)
{
    (void)state;
    ft_rng rng = ft_rng_derive(9, 1);
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) check_case(&k_cases[i], &rng);
}

/* ---- a batch across the pool (training): forward and backward against the serial loop ---- */

typedef struct {
    ft_conv2d_shape s;
    int nb; /* the plan's images per chunk (0: the public plan) */
} batch_case;

static const batch_case k_batch[] = {
    {{8, 16, 17, 17, 32, 3, 3, 1, 1, 1}, 0},  /* the public plan: one chunk, 4 images per part */
    {{7, 16, 17, 17, 32, 3, 3, 1, 1, 1}, 6},  /* odd batch; parts of 3 and 4 in chunks of 2 or 3 */
    {{5, 16, 24, 24, 32, 3, 3, 2, 1, 2}, 4},  /* stride 2, two groups */
    {{6, 64, 16, 16, 64, 1, 1, 1, 0, 1}, 0},  /* 1x1: im2col is a copy */
    {{4, 1, 28, 28, 64, 3, 3, 1, 0, 1}, 0},   /* seed-mnist's first layer: one input channel */
    {{3, 64, 8, 8, 256, 3, 3, 1, 1, 1}, 3},   /* partials (256x576) do not fit beside a slice: serial */
};

typedef struct {
    float *out, *dinp, *dw;
} batch_result;

static void batch_run(const ft_conv2d_shape *s, ft_conv2d_plan p, const float *inp, const float *w, const float *b,
                      const float *dout, const float *dw0, batch_result *r)
{
    const size_t in_n = (size_t)s->B * s->C * s->H * s->W, w_n = (size_t)s->OC * (s->C / s->groups) * s->KH * s->KW;
    const size_t ws_n = ft_conv2d_workspace_plan(s, p);
    float *ws = falloc(ws_n); /* the exact size: a part writing past its slice shows under ASan */
    ft_conv2d_forward_plan(r->out, inp, w, b, s, ws, p);
    memset(r->dinp, 0, in_n * sizeof(float));
    memcpy(r->dw, dw0, w_n * sizeof(float)); /* backward accumulates into what is there */
    ft_conv2d_backward_plan(r->dinp, r->dw, NULL, dout, inp, w, s, ws, p);
    free(ws);
}

/* s names the conv shape in the message, or NULL */
static void assert_close(const float *got, const float *ref, size_t n, const char *what, const ft_conv2d_shape *s)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]) / fmax(1.0, fabs((double)ref[i]));
        if (e > worst) worst = e;
    }
    if (worst > PAR_REL_TOL && !s) fail_msg("%s: max rel diff %.3g", what, worst);
    if (worst > PAR_REL_TOL)
        fail_msg("batch %d C%d %dx%d OC%d k%d s%d g%d: %s max rel diff %.3g", s->B, s->C, s->H, s->W, s->OC, s->KH,
                 s->stride, s->groups, what, worst);
}

static void test_batch_matches_serial(void **state)
{
    (void)state;
    ft_rng rng = ft_rng_derive(9, 2);
    for (size_t k = 0; k < sizeof k_batch / sizeof k_batch[0]; k++) {
        const ft_conv2d_shape *s = &k_batch[k].s;
        ft_conv2d_plan p = ft_conv2d_plan_for(s);
        if (k_batch[k].nb) p.nb = k_batch[k].nb;
        const size_t in_n = (size_t)s->B * s->C * s->H * s->W;
        const size_t w_n = (size_t)s->OC * (s->C / s->groups) * s->KH * s->KW;
        const size_t out_n = (size_t)s->B * s->OC * ft_conv2d_out_h(s) * ft_conv2d_out_w(s);
        float *inp = falloc(in_n), *w = falloc(w_n), *b = falloc((size_t)s->OC), *dout = falloc(out_n);
        float *dw0 = falloc(w_n);
        fill(inp, in_n, &rng), fill(w, w_n, &rng), fill(b, (size_t)s->OC, &rng), fill(dout, out_n, &rng);
        fill(dw0, w_n, &rng);
        batch_result ref = {falloc(out_n), falloc(in_n), falloc(w_n)};
        batch_result got = {falloc(out_n), falloc(in_n), falloc(w_n)};
        batch_result again = {falloc(out_n), falloc(in_n), falloc(w_n)};
        ft_set_threads(1);
        batch_run(s, p, inp, w, b, dout, dw0, &ref);
        for (int T = 2; T <= 3; T++) {
            ft_set_threads(T);
            batch_run(s, p, inp, w, b, dout, dw0, &got);
            assert_close(got.out, ref.out, out_n, "output", s);
            assert_close(got.dinp, ref.dinp, in_n, "input gradient", s);
            assert_close(got.dw, ref.dw, w_n, "weight gradient", s);
            batch_run(s, p, inp, w, b, dout, dw0, &again); /* the same bits again */
            assert_memory_equal(got.out, again.out, out_n * sizeof(float));
            assert_memory_equal(got.dinp, again.dinp, in_n * sizeof(float));
            assert_memory_equal(got.dw, again.dw, w_n * sizeof(float));
        }
        ft_set_threads(1);
        batch_result *all[] = {&ref, &got, &again};
        for (int i = 0; i < 3; i++) free(all[i]->out), free(all[i]->dinp), free(all[i]->dw);
        free(inp), free(w), free(b), free(dout), free(dw0);
    }
}

/* ---- the memory-bound layers split across the pool (ft_pool_for): the same bits as serial ---- */

typedef struct {
    float *pool_out, *pool_din, *bn_out, *bn_mean, *bn_rstd, *bn_rm, *bn_rv, *bn_eval, *bn_din, *bn_dg, *bn_db;
    float *relu_out, *relu_din, *relu_mask;
} ew_result;

enum { EW_B = 8, EW_C = 32, EW_H = 34, EW_W = 30 }; /* 1.1 MB per tensor: above FT_POOL_MIN_BYTES */

static void ew_run(const float *x, const float *g, const float *gamma, const float *beta, ew_result *r)
{
    const size_t n = (size_t)EW_B * EW_C * EW_H * EW_W;
    const ft_pool_shape ps = {EW_B, EW_C, EW_H, EW_W, 2, 2, 0, 0};
    ft_maxpool_forward(r->pool_out, x, &ps);
    memset(r->pool_din, 0, n * sizeof(float));
    ft_maxpool_backward(r->pool_din, g, x, &ps); /* g's first quarter as the pooled gradient */
    for (int c = 0; c < EW_C; c++) r->bn_rm[c] = 0.0f, r->bn_rv[c] = 1.0f;
    ft_batchnorm_forward_train(r->bn_out, r->bn_mean, r->bn_rstd, r->bn_rm, r->bn_rv, x, gamma, beta, EW_B, EW_C,
                               EW_H * EW_W, 0.1f, 1e-5f);
    ft_batchnorm_forward_eval(r->bn_eval, x, gamma, beta, r->bn_rm, r->bn_rv, EW_B, EW_C, EW_H * EW_W, 1e-5f);
    memset(r->bn_din, 0, n * sizeof(float));
    memset(r->bn_dg, 0, EW_C * sizeof(float));
    memset(r->bn_db, 0, EW_C * sizeof(float));
    ft_batchnorm_backward(r->bn_din, r->bn_dg, r->bn_db, g, x, r->bn_mean, r->bn_rstd, gamma, EW_B, EW_C, EW_H * EW_W);
    ft_relu_forward(r->relu_out, x, n);
    memset(r->relu_din, 0, n * sizeof(float));
    ft_relu_backward(r->relu_din, g, r->relu_out, n);
    memcpy(r->relu_mask, g, n * sizeof(float));
    ft_relu_backward_inplace(r->relu_mask, r->relu_out, n);
}

static void ew_alloc(ew_result *r, size_t n)
{
    float **f[] = {&r->pool_out, &r->pool_din, &r->bn_out, &r->bn_eval, &r->bn_din, &r->relu_out, &r->relu_din,
                   &r->relu_mask};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) *f[i] = falloc(n);
    float **c[] = {&r->bn_mean, &r->bn_rstd, &r->bn_rm, &r->bn_rv, &r->bn_dg, &r->bn_db};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) *c[i] = falloc(EW_C);
}

static void ew_free(ew_result *r)
{
    float *f[] = {r->pool_out, r->pool_din, r->bn_out, r->bn_eval, r->bn_din, r->relu_out, r->relu_din, r->relu_mask,
                  r->bn_mean, r->bn_rstd, r->bn_rm, r->bn_rv, r->bn_dg, r->bn_db};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
}

static void test_elementwise_split_same_bits(void **state)
{
    (void)state;
    ft_rng rng = ft_rng_derive(9, 3);
    const size_t n = (size_t)EW_B * EW_C * EW_H * EW_W;
    float *x = falloc(n), *g = falloc(n), *gamma = falloc(EW_C), *beta = falloc(EW_C);
    fill(x, n, &rng), fill(g, n, &rng), fill(gamma, EW_C, &rng), fill(beta, EW_C, &rng);
    for (size_t i = 0; i < n; i += 97) x[i] = x[i + 1 < n ? i + 1 : i]; /* ties for the max pool */
    ew_result ref, got;
    ew_alloc(&ref, n);
    ew_alloc(&got, n);
    ft_set_threads(1);
    ew_run(x, g, gamma, beta, &ref);
    for (int T = 2; T <= 3; T++) {
        ft_set_threads(T);
        ew_run(x, g, gamma, beta, &got);
        const size_t np = n / 4;
        assert_memory_equal(ref.pool_out, got.pool_out, np * sizeof(float));
        assert_memory_equal(ref.pool_din, got.pool_din, n * sizeof(float));
        assert_memory_equal(ref.bn_out, got.bn_out, n * sizeof(float));
        assert_memory_equal(ref.bn_mean, got.bn_mean, EW_C * sizeof(float));
        assert_memory_equal(ref.bn_rstd, got.bn_rstd, EW_C * sizeof(float));
        assert_memory_equal(ref.bn_rm, got.bn_rm, EW_C * sizeof(float));
        assert_memory_equal(ref.bn_rv, got.bn_rv, EW_C * sizeof(float));
        assert_memory_equal(ref.bn_eval, got.bn_eval, n * sizeof(float));
        assert_memory_equal(ref.bn_din, got.bn_din, n * sizeof(float));
        assert_memory_equal(ref.bn_dg, got.bn_dg, EW_C * sizeof(float));
        assert_memory_equal(ref.bn_db, got.bn_db, EW_C * sizeof(float));
        assert_memory_equal(ref.relu_out, got.relu_out, n * sizeof(float));
        assert_memory_equal(ref.relu_din, got.relu_din, n * sizeof(float));
        assert_memory_equal(ref.relu_mask, got.relu_mask, n * sizeof(float));
    }
    ft_set_threads(1);
    ew_free(&ref);
    ew_free(&got);
    free(x), free(g), free(gamma), free(beta);
}

/* ---- the one-image dense layer: its sgemv split by rows across the pool ---- */

static void test_dense_gemv_split(void **state)
{
    (void)state;
    enum { IN = 4096, OUT = 130 }; /* 2.1 MB of weights: above the split's threshold; 130 rows: uneven parts */
    ft_rng rng = ft_rng_derive(9, 4);
    float *x = falloc(IN), *w = falloc((size_t)IN * OUT), *b = falloc(OUT), *ref = falloc(OUT), *got = falloc(OUT),
          *again = falloc(OUT);
    fill(x, IN, &rng), fill(w, (size_t)IN * OUT, &rng), fill(b, OUT, &rng);
    ft_set_threads(1);
    ft_dense_forward(ref, x, w, b, 1, IN, OUT);
    for (int T = 2; T <= 3; T++) {
        ft_set_threads(T);
        ft_dense_forward(got, x, w, b, 1, IN, OUT);
        ft_dense_forward(again, x, w, b, 1, IN, OUT);
        assert_close(got, ref, OUT, "one-image dense 4096 -> 130", NULL);
        assert_memory_equal(got, again, OUT * sizeof(float));
    }
    ft_set_threads(1);
    free(x), free(w), free(b), free(ref), free(got), free(again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parallel_matches_serial),
        cmocka_unit_test(test_batch_matches_serial),
        cmocka_unit_test(test_elementwise_split_same_bits),
        cmocka_unit_test(test_dense_gemv_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
