/* test_layers.c — numerical gradient checks for every layer and the loss.
 *
 * Method: for a layer out = f(x, w), take a fixed random R and the scalar
 * L = sum(out .* R) accumulated in double, so dL/dout = R. Backward is run
 * with dout = R and every analytic gradient is compared with the central
 * difference (L(x+h) - L(x-h)) / (2h), where 2h is the step actually taken
 * after rounding x+-h to float. Tensors bigger than FD_MAX_CHECKS are checked
 * on an evenly strided subset. The comparison is the relative error with an
 * absolute floor (ft_test_relerr), per layer: linear layers (conv, dense, pool)
 * are exact up to float rounding and take a large h; nonlinear ones (batch
 * norm, l2norm, loss) a small one. Kinks are avoided by construction: ReLU
 * inputs are kept at |x| >= 0.1, max-pool inputs are distinct multiples of
 * 0.05, loss pairs are away from the margin.
 *
 * Each layer is also checked to ACCUMULATE (a second backward doubles every
 * gradient) and to accept NULL for any gradient it does not need, leaving the
 * others unchanged.
 */
#include "ft_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/layers.h"
#include "layers/conv2d.h"
#include "rng.h"

#define FD_MAX_CHECKS 400   /* finite differences per tensor, at most */
#define ACCUM_TOL 1e-5      /* relative: second backward == 2 x first */

/* ---------------------------------------------------------------- helpers -- */

static float *falloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    assert_non_null(p);
    return p;
}

static float *fdup(const float *x, size_t n)
{
    float *p = falloc(n);
    memcpy(p, x, n * sizeof(float));
    return p;
}

static void fill_uniform(float *x, size_t n, float lo, float hi, ft_rng *r)
{
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * ft_rng_uniform(r);
}

/* |x| in [0.1, 1], random sign: no element near ReLU's kink. */
static void fill_away_from_zero(float *x, size_t n, ft_rng *r)
{
    for (size_t i = 0; i < n; i++) {
        float m = 0.1f + 0.9f * ft_rng_uniform(r);
        x[i] = (ft_rng_next(r) & 1) ? m : -m;
    }
}

/* Distinct values k*0.05 - n*0.025 in random order: maxima never tie. */
static void fill_distinct(float *x, size_t n, ft_rng *r)
{
    for (size_t i = 0; i < n; i++) x[i] = 0.05f * (float)i - 0.025f * (float)n;
    for (size_t i = n; i > 1; i--) {
        size_t j = ft_rng_below(r, (uint32_t)i);
        float t = x[i - 1];
        x[i - 1] = x[j];
        x[j] = t;
    }
}

typedef void (*forward_fn)(void *ctx, float *out);

/* L = sum(out .* R) as a function of whatever ctx points at. */
typedef struct {
    forward_fn f;
    void *ctx;
    float *out;
    const float *R;
    size_t n;
} objective;

static double objective_eval(const objective *o)
{
    o->f(o->ctx, o->out);
    double L = 0.0;
    for (size_t i = 0; i < o->n; i++) L += (double)o->out[i] * o->R[i];
    return L;
}

/* Largest relative error between g and central differences of L wrt x. */
static double grad_error(const objective *o, float *x, const float *g, size_t nx, float h,
                         double floor_, double tol, const char *what)
{
    size_t step = nx > FD_MAX_CHECKS ? (nx + FD_MAX_CHECKS - 1) / FD_MAX_CHECKS : 1;
    double worst = 0.0;
    for (size_t i = 0; i < nx; i += step) {
        float x0 = x[i], xp = x0 + h, xm = x0 - h;
        x[i] = xp;
        double Lp = objective_eval(o);
        x[i] = xm;
        double Lm = objective_eval(o);
        x[i] = x0;
        double num = (Lp - Lm) / ((double)xp - (double)xm);
        double e = ft_test_relerr(num, g[i], floor_);
        if (!(e <= tol))
            print_message("%s[%zu]: numeric %.7g analytic %.7g (rel err %.3g)\n", what, i, num,
                          (double)g[i], e);
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

#define CHECK_GRAD(o, x, g, n, h, floor_, tol, what) \
    assert_true(grad_error((o), (x), (g), (n), (h), (floor_), (tol), (what)) <= (tol))

/* a == k * b elementwise: relative error <= tol, with an absolute floor. */
static void assert_close_floor(const float *a, const float *b, size_t n, float k, double tol,
                               double floor_)
{
    for (size_t i = 0; i < n; i++) {
        double e = ft_test_relerr(a[i], (double)k * b[i], floor_);
        if (!(e <= tol)) print_message("[%zu]: %.8g vs %g * %.8g\n", i, (double)a[i], (double)k, (double)b[i]);
        assert_true(e <= tol);
    }
}

/* Same computation twice (accumulation, NULL pointers): near-exact. */
static void assert_scaled(const float *a, const float *b, size_t n, float k, double tol)
{
    assert_close_floor(a, b, n, k, tol, 1e-6);
}

static void assert_all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) assert_true(isfinite(x[i]));
}

/* ---------------------------------------------------------------- conv2d -- */

typedef struct {
    ft_conv2d_shape s;
    float *inp, *w, *b, *ws;
    ft_conv2d_plan plan;
} conv_ctx;

static void conv_fwd(void *p, float *out)
{
    conv_ctx *c = p;
    ft_conv2d_forward_plan(out, c->inp, c->w, c->b, &c->s, c->ws, c->plan);
}

static const char *const k_algo_name[] = {"im2col", "depthwise"};

/* Gradient check of one configuration under plan p. */
static void check_conv_plan(ft_conv2d_shape s, ft_conv2d_plan p, int with_bias, uint64_t seed)
{
    ft_rng r = ft_rng_derive(seed, 1);
    const int OH = ft_conv2d_out_h(&s), OW = ft_conv2d_out_w(&s);
    assert_true(OH > 0 && OW > 0);
    const size_t nin = (size_t)s.B * s.C * s.H * s.W;
    const size_t nw = (size_t)s.OC * (s.C / s.groups) * s.KH * s.KW;
    const size_t nout = (size_t)s.B * s.OC * OH * OW;
    conv_ctx c = {s, falloc(nin), falloc(nw), with_bias ? falloc(s.OC) : NULL,
                  falloc(ft_conv2d_workspace_plan(&s, p)), p};
    fill_uniform(c.inp, nin, -1.0f, 1.0f, &r);
    fill_uniform(c.w, nw, -0.5f, 0.5f, &r);
    if (c.b) fill_uniform(c.b, s.OC, -0.5f, 0.5f, &r);
    float *out = falloc(nout), *R = falloc(nout);
    fill_uniform(R, nout, -1.0f, 1.0f, &r);
    float *din = falloc(nin), *dw = falloc(nw), *db = falloc(s.OC);
    char what[96];

    /* this plan's forward equals the public one (its own plan) */
    float *ref = falloc(nout), *wsref = falloc(ft_conv2d_workspace(&s));
    ft_conv2d_forward(ref, c.inp, c.w, c.b, &s, wsref);
    conv_fwd(&c, out);
    for (size_t i = 0; i < nout; i++) assert_true(fabsf(out[i] - ref[i]) <= 1e-5f);

    ft_conv2d_backward_plan(din, dw, c.b ? db : NULL, R, c.inp, c.w, &s, c.ws, p);
    objective o = {conv_fwd, &c, out, R, nout};
    snprintf(what, sizeof what, "conv %s nb=%d dinp", k_algo_name[p.algo], p.nb);
    CHECK_GRAD(&o, c.inp, din, nin, 5e-2f, 1e-2, 3e-3, what);
    snprintf(what, sizeof what, "conv %s nb=%d dweight", k_algo_name[p.algo], p.nb);
    CHECK_GRAD(&o, c.w, dw, nw, 5e-2f, 1e-2, 3e-3, what);
    snprintf(what, sizeof what, "conv %s nb=%d dbias", k_algo_name[p.algo], p.nb);
    if (c.b) CHECK_GRAD(&o, c.b, db, s.OC, 5e-2f, 1e-2, 3e-3, what);

    /* accumulates: a second call doubles every gradient */
    float *din1 = fdup(din, nin), *dw1 = fdup(dw, nw), *db1 = fdup(db, s.OC);
    ft_conv2d_backward_plan(din, dw, c.b ? db : NULL, R, c.inp, c.w, &s, c.ws, p);
    assert_scaled(din, din1, nin, 2.0f, ACCUM_TOL);
    assert_scaled(dw, dw1, nw, 2.0f, ACCUM_TOL);
    assert_scaled(db, db1, s.OC, 2.0f, ACCUM_TOL);

    /* NULL gradients: each one alone gives the same values */
    memset(din, 0, nin * sizeof(float));
    memset(dw, 0, nw * sizeof(float));
    memset(db, 0, s.OC * sizeof(float));
    ft_conv2d_backward_plan(NULL, NULL, db, R, c.inp, c.w, &s, c.ws, p);
    ft_conv2d_backward_plan(NULL, dw, NULL, R, c.inp, c.w, &s, c.ws, p);
    ft_conv2d_backward_plan(din, NULL, NULL, R, c.inp, c.w, &s, c.ws, p);
    ft_conv2d_backward_plan(NULL, NULL, NULL, R, c.inp, c.w, &s, c.ws, p);
    assert_scaled(din, din1, nin, 1.0f, ACCUM_TOL);
    assert_scaled(dw, dw1, nw, 1.0f, ACCUM_TOL);
    if (c.b) assert_scaled(db, db1, s.OC, 1.0f, ACCUM_TOL);

    /* the public backward (its own plan) agrees */
    memset(din, 0, nin * sizeof(float));
    memset(dw, 0, nw * sizeof(float));
    ft_conv2d_backward(din, dw, NULL, R, c.inp, c.w, &s, wsref);
    assert_close_floor(din, din1, nin, 1.0f, 1e-4, 1e-2); /* another algorithm: other rounding */
    assert_close_floor(dw, dw1, nw, 1.0f, 1e-4, 1e-2);

    free(c.inp), free(c.w), free(c.b), free(c.ws), free(out), free(R), free(din), free(dw);
    free(db), free(ref), free(wsref), free(din1), free(dw1), free(db1);
}

/* Every algorithm that applies to s, in chunks of nb images (0: one chunk). */
static void check_conv(ft_conv2d_shape s, int nb, int with_bias, uint64_t seed)
{
    const ft_conv2d_algo algos[] = {FT_CONV_IM2COL, FT_CONV_DEPTHWISE};
    for (size_t i = 0; i < sizeof algos / sizeof algos[0]; i++) {
        if (!ft_conv2d_algo_applies(&s, algos[i])) continue;
        ft_conv2d_plan p = {algos[i], nb ? nb : s.B};
        check_conv_plan(s, p, with_bias, seed);
    }
}

/* B, C, H, W, OC, KH, KW, stride, pad, groups */
static void test_conv_basic(void **state)
{
    (void)state;
    check_conv((ft_conv2d_shape){2, 3, 5, 7, 4, 3, 3, 1, 1, 1}, 0, 1, 11);
    check_conv((ft_conv2d_shape){2, 3, 6, 5, 4, 3, 3, 1, 0, 1}, 0, 0, 12);
}

static void test_conv_stride(void **state)
{
    (void)state;
    check_conv((ft_conv2d_shape){3, 2, 7, 8, 3, 3, 3, 2, 1, 1}, 0, 1, 21);
    check_conv((ft_conv2d_shape){2, 2, 8, 9, 3, 3, 3, 2, 0, 1}, 0, 0, 22);
    /* non-square kernel, stride 2, pad 1 */
    check_conv((ft_conv2d_shape){2, 3, 7, 6, 2, 2, 3, 2, 1, 1}, 0, 1, 23);
}

static void test_conv_groups(void **state)
{
    (void)state;
    check_conv((ft_conv2d_shape){3, 4, 8, 6, 6, 3, 3, 2, 0, 2}, 0, 0, 31);
    check_conv((ft_conv2d_shape){2, 6, 5, 6, 4, 3, 3, 1, 1, 2}, 0, 1, 32);
}

static void test_conv_depthwise(void **state)
{
    (void)state;
    check_conv((ft_conv2d_shape){2, 4, 7, 6, 4, 3, 3, 1, 1, 4}, 0, 1, 41);
    check_conv((ft_conv2d_shape){2, 3, 7, 8, 3, 3, 3, 2, 1, 3}, 0, 0, 42);
    /* channel multiplier 2 (OC = 2C) */
    check_conv((ft_conv2d_shape){2, 3, 6, 5, 6, 3, 3, 1, 1, 3}, 0, 1, 43);
}

static void test_conv_pointwise(void **state)
{
    (void)state;
    check_conv((ft_conv2d_shape){3, 5, 4, 6, 4, 1, 1, 1, 0, 1}, 0, 1, 51);
    check_conv((ft_conv2d_shape){3, 5, 4, 6, 4, 1, 1, 1, 0, 1}, 1, 1, 52); /* chunks of one */
    check_conv((ft_conv2d_shape){2, 4, 3, 5, 6, 1, 1, 1, 0, 2}, 1, 0, 53);
    check_conv((ft_conv2d_shape){2, 4, 5, 5, 3, 1, 1, 2, 0, 1}, 0, 1, 54); /* 1x1 stride 2 */
}

typedef struct {
    ft_pad_shape s;
    float *inp;
} pad_ctx;

static void pad_fwd(void *p, float *out)
{
    pad_ctx *c = p;
    ft_pad_forward(out, c->inp, &c->s);
}

/* zero padding (tf.pad; a TF 'same' stride-2 conv = pad bottom/right 1 + conv pad 0) */
static void test_pad(void **state)
{
    (void)state;
    ft_rng r = ft_rng_derive(71, 1);
    ft_pad_shape s = {2, 3, 4, 5, 0, 2, 1, 1};
    int OH, OW;
    ft_pad_out_shape(&s, &OH, &OW);
    assert_int_equal(OH, 5);
    assert_int_equal(OW, 8);
    const size_t nin = 2 * 3 * 4 * 5, nout = (size_t)2 * 3 * OH * OW;
    pad_ctx c = {s, falloc(nin)};
    fill_uniform(c.inp, nin, -1, 1, &r);
    float *out = falloc(nout), *R = falloc(nout), *din = falloc(nin);
    fill_uniform(R, nout, -1, 1, &r);
    pad_fwd(&c, out);
    /* layout: (b,c) plane 1, row 2, col 3 of the input lands at row 2, col 5 */
    assert_true(out[(size_t)1 * OH * OW + 2 * OW + 5] == c.inp[(size_t)1 * 20 + 2 * 5 + 3]);
    assert_true(out[(size_t)1 * OH * OW + 4 * OW + 5] == 0.0f && out[0] == 0.0f && out[OW - 1] == 0.0f);
    ft_pad_backward(din, R, &s);
    objective o = {pad_fwd, &c, out, R, nout};
    CHECK_GRAD(&o, c.inp, din, nin, 5e-2f, 1e-2, 1e-3, "pad");
    float *din1 = fdup(din, nin);
    ft_pad_backward(din, R, &s);
    assert_scaled(din, din1, nin, 2, ACCUM_TOL);
    ft_pad_backward(NULL, R, &s);
    free(c.inp), free(out), free(R), free(din), free(din1);
}

static void test_conv_chunks(void **state)
{
    (void)state;
    /* 5 images in chunks of 2, 2, 1 */
    check_conv((ft_conv2d_shape){5, 2, 6, 5, 3, 3, 3, 1, 1, 1}, 2, 1, 61);
    check_conv((ft_conv2d_shape){5, 4, 7, 6, 4, 3, 3, 2, 1, 2}, 2, 0, 62);
    check_conv((ft_conv2d_shape){4, 3, 5, 6, 4, 3, 3, 1, 0, 1}, 1, 1, 63);
    /* first layer: one input channel */
    check_conv((ft_conv2d_shape){3, 1, 6, 6, 5, 3, 3, 1, 0, 1}, 2, 1, 64);
    /* more channels: longer GEMM inner dimension */
    check_conv((ft_conv2d_shape){3, 16, 5, 5, 3, 3, 3, 1, 1, 1}, 2, 1, 65);
    check_conv((ft_conv2d_shape){2, 32, 4, 5, 4, 3, 3, 1, 0, 2}, 0, 0, 66);
}

/* The workspace only grows with B (a buffer reserved for the largest batch
 * serves the smaller ones) and stays within its bound. */
static void test_conv_workspace(void **state)
{
    (void)state;
    ft_conv2d_shape s = {1, 64, 26, 26, 32, 3, 3, 1, 0, 1};
    size_t prev = 0;
    for (int B = 1; B <= 300; B++) {
        s.B = B;
        size_t w = ft_conv2d_workspace(&s);
        assert_true(w >= prev);
        assert_true(w <= FT_CONV_WS_MAX_FLOATS);
        ft_conv2d_plan p = ft_conv2d_plan_for(&s);
        assert_true(p.nb >= 1 && p.nb <= B);
        prev = w;
    }
    /* the reference network's second conv: batch 256 in several chunks */
    s.B = 256;
    assert_int_equal(ft_conv2d_plan_for(&s).algo, FT_CONV_IM2COL);
    assert_true(ft_conv2d_plan_for(&s).nb < 256);
    /* its first conv (one input channel): im2col, within the bound */
    ft_conv2d_shape c1 = {256, 1, 28, 28, 64, 3, 3, 1, 0, 1};
    assert_int_equal(ft_conv2d_plan_for(&c1).algo, FT_CONV_IM2COL);
    assert_true(ft_conv2d_workspace(&c1) <= FT_CONV_WS_MAX_FLOATS);
    /* an image bigger than the bound still runs, as a chunk of one */
    ft_conv2d_shape big = {3, 256, 128, 128, 8, 3, 3, 2, 1, 1};
    assert_int_equal(ft_conv2d_plan_for(&big).algo, FT_CONV_IM2COL);
    assert_int_equal(ft_conv2d_plan_for(&big).nb, 1);
    assert_true(ft_conv2d_workspace(&big) > FT_CONV_WS_MAX_FLOATS);
    /* depthwise needs none */
    ft_conv2d_shape dw = {8, 16, 10, 10, 16, 3, 3, 1, 1, 16};
    assert_int_equal(ft_conv2d_plan_for(&dw).algo, FT_CONV_DEPTHWISE);
    assert_int_equal(ft_conv2d_workspace(&dw), 0);
    assert_int_equal(ft_conv2d_out_h(&s), 24);
}

/* ----------------------------------------------------------------- dense -- */

typedef struct {
    float *inp, *w, *b;
    int B, IN, OUT;
} dense_ctx;

static void dense_fwd(void *p, float *out)
{
    dense_ctx *d = p;
    ft_dense_forward(out, d->inp, d->w, d->b, d->B, d->IN, d->OUT);
}

/* The batch-1 forward (sgemv) must equal row 0 of a batched forward (sgemm). */
static void test_dense_batch1_matches_batch(void **state)
{
    (void)state;
    enum { IN = 37, OUT = 11, B = 3 };
    float x[B * IN], w[OUT * IN], bias[OUT], outb[B * OUT], out1[OUT];
    for (int i = 0; i < B * IN; i++) x[i] = (float)((i * 7919) % 101) / 50.0f - 1.0f;
    for (int i = 0; i < OUT * IN; i++) w[i] = (float)((i * 104729) % 97) / 48.0f - 1.0f;
    for (int i = 0; i < OUT; i++) bias[i] = 0.1f * (float)i - 0.5f;
    ft_dense_forward(outb, x, w, bias, B, IN, OUT);
    for (int b = 0; b < B; b++) {
        ft_dense_forward(out1, x + b * IN, w, bias, 1, IN, OUT);
        for (int o = 0; o < OUT; o++) {
            double ref = bias[o];
            for (int i = 0; i < IN; i++) ref += (double)x[b * IN + i] * w[o * IN + i];
            assert_true(fabs(out1[o] - ref) < 1e-4);
            assert_true(fabs(out1[o] - outb[b * OUT + o]) < 1e-4);
        }
    }
    ft_dense_forward(out1, x, w, NULL, 1, IN, OUT); /* no bias */
    for (int o = 0; o < OUT; o++) {
        double ref = 0;
        for (int i = 0; i < IN; i++) ref += (double)x[i] * w[o * IN + i];
        assert_true(fabs(out1[o] - ref) < 1e-4);
    }
}

static void test_dense(void **state)
{
    (void)state;
    ft_rng r = ft_rng_derive(7, 2);
    for (int with_bias = 0; with_bias <= 1; with_bias++) {
        dense_ctx d = {NULL, NULL, NULL, 4, 7, 5};
        size_t nin = (size_t)d.B * d.IN, nw = (size_t)d.OUT * d.IN, nout = (size_t)d.B * d.OUT;
        d.inp = falloc(nin);
        d.w = falloc(nw);
        d.b = with_bias ? falloc(d.OUT) : NULL;
        fill_uniform(d.inp, nin, -1, 1, &r);
        fill_uniform(d.w, nw, -1, 1, &r);
        if (d.b) fill_uniform(d.b, d.OUT, -1, 1, &r);
        float *out = falloc(nout), *R = falloc(nout);
        fill_uniform(R, nout, -1, 1, &r);
        float *din = falloc(nin), *dw = falloc(nw), *db = falloc(d.OUT);

        /* forward by hand for one entry: out[1][2] = inp[1] . W[2] + b[2] */
        dense_fwd(&d, out);
        double e = d.b ? d.b[2] : 0.0;
        for (int k = 0; k < d.IN; k++) e += (double)d.inp[d.IN + k] * d.w[2 * d.IN + k];
        assert_true(fabs(out[d.OUT + 2] - e) < 1e-5);

        ft_dense_backward(din, dw, d.b ? db : NULL, R, d.inp, d.w, d.B, d.IN, d.OUT);
        objective o = {dense_fwd, &d, out, R, nout};
        CHECK_GRAD(&o, d.inp, din, nin, 5e-2f, 1e-2, 1e-3, "dense dinp");
        CHECK_GRAD(&o, d.w, dw, nw, 5e-2f, 1e-2, 1e-3, "dense dweight");
        if (d.b) CHECK_GRAD(&o, d.b, db, d.OUT, 5e-2f, 1e-2, 1e-3, "dense dbias");

        float *din1 = fdup(din, nin), *dw1 = fdup(dw, nw), *db1 = fdup(db, d.OUT);
        ft_dense_backward(din, dw, db, R, d.inp, d.w, d.B, d.IN, d.OUT);
        assert_scaled(din, din1, nin, 2, ACCUM_TOL);
        assert_scaled(dw, dw1, nw, 2, ACCUM_TOL);
        if (d.b) assert_scaled(db, db1, d.OUT, 2, ACCUM_TOL);
        memset(din, 0, nin * sizeof(float));
        ft_dense_backward(din, NULL, NULL, R, d.inp, d.w, d.B, d.IN, d.OUT);
        ft_dense_backward(NULL, NULL, NULL, R, d.inp, d.w, d.B, d.IN, d.OUT);
        assert_scaled(din, din1, nin, 1, ACCUM_TOL);

        free(d.inp), free(d.w), free(d.b), free(out), free(R), free(din), free(dw), free(db);
        free(din1), free(dw1), free(db1);
    }
}

/* ------------------------------------------------------------------ relu -- */

typedef struct {
    float *inp;
    size_t n;
} relu_ctx;

static void relu_fwd(void *p, float *out)
{
    relu_ctx *c = p;
    ft_relu_forward(out, c->inp, c->n);
}

static void test_relu(void **state)
{
    (void)state;
    ft_rng r = ft_rng_derive(3, 3);
    const size_t n = 60;
    relu_ctx c = {falloc(n), n};
    fill_away_from_zero(c.inp, n, &r);
    float *out = falloc(n), *R = falloc(n), *din = falloc(n);
    fill_uniform(R, n, -1, 1, &r);
    relu_fwd(&c, out);
    for (size_t i = 0; i < n; i++) assert_true(out[i] == (c.inp[i] > 0 ? c.inp[i] : 0.0f));
    ft_relu_backward(din, R, out, n);
    objective o = {relu_fwd, &c, out, R, n};
    CHECK_GRAD(&o, c.inp, din, n, 1e-2f, 1e-3, 1e-3, "relu dinp");
    relu_fwd(&c, out);
    float *din1 = fdup(din, n);
    ft_relu_backward(din, R, out, n);
    assert_scaled(din, din1, n, 2, ACCUM_TOL);
    ft_relu_backward(NULL, R, out, n);
    /* in place */
    float *x = fdup(c.inp, n);
    ft_relu_forward(x, x, n);
    for (size_t i = 0; i < n; i++) assert_true(x[i] == out[i]);
    free(c.inp), free(out), free(R), free(din), free(din1), free(x);
}

typedef struct {
    float *inp;
    size_t n;
    float alpha;
} leaky_ctx;

static void leaky_fwd(void *p, float *out)
{
    leaky_ctx *c = p;
    ft_leaky_forward(out, c->inp, c->n, c->alpha);
}

static void relu6_fwd(void *p, float *out)
{
    leaky_ctx *c = p;
    ft_relu6_forward(out, c->inp, c->n);
}

static void test_relu6(void **state)
{
    (void)state;
    ft_rng r = ft_rng_derive(82, 1);
    const size_t n = 64;
    leaky_ctx c = {falloc(n), n, 0};
    for (size_t i = 0; i < n; i++) { /* away from the kinks at 0 and 6 */
        float m = 0.1f + 5.8f * ft_rng_uniform(&r);
        c.inp[i] = (i % 3 == 0) ? -m : (i % 3 == 1) ? m : 6.1f + m;
    }
    float *out = falloc(n), *R = falloc(n), *din = falloc(n);
    fill_uniform(R, n, -1, 1, &r);
    relu6_fwd(&c, out);
    for (size_t i = 0; i < n; i++) assert_true(out[i] == fminf(fmaxf(c.inp[i], 0.0f), 6.0f));
    ft_relu6_backward(din, R, out, n);
    objective o = {relu6_fwd, &c, out, R, n};
    CHECK_GRAD(&o, c.inp, din, n, 1e-2f, 1e-2, 1e-3, "relu6");
    float *din1 = fdup(din, n);
    ft_relu6_backward(din, R, out, n);
    assert_scaled(din, din1, n, 2, ACCUM_TOL);
    free(c.inp), free(out), free(R), free(din), free(din1);
}

static void test_leaky(void **state)
{
    (void)state;
    ft_rng r = ft_rng_derive(81, 1);
    const size_t n = 64;
    leaky_ctx c = {falloc(n), n, 0.1f};
    fill_away_from_zero(c.inp, n, &r);
    float *out = falloc(n), *R = falloc(n), *din = falloc(n);
    fill_uniform(R, n, -1, 1, &r);
    leaky_fwd(&c, out);
    for (size_t i = 0; i < n; i++) assert_true(out[i] == (c.inp[i] > 0 ? c.inp[i] : 0.1f * c.inp[i]));
    ft_leaky_backward(din, R, out, n, c.alpha);
    objective o = {leaky_fwd, &c, out, R, n};
    CHECK_GRAD(&o, c.inp, din, n, 1e-2f, 1e-2, 1e-3, "leaky");
    float *din1 = fdup(din, n);
    ft_leaky_backward(din, R, out, n, c.alpha);
    assert_scaled(din, din1, n, 2, ACCUM_TOL);
    leaky_fwd(&c, out);
    ft_leaky_forward(c.inp, c.inp, n, c.alpha); /* in place */
    for (size_t i = 0; i < n; i++) assert_true(c.inp[i] == out[i]);
    free(c.inp), free(out), free(R), free(din), free(din1);
}

/* --------------------------------------------------------------- pooling -- */

typedef struct {
    ft_pool_shape s;
    float *inp;
    int max;
} pool_ctx;

static void pool_fwd(void *p, float *out)
{
    pool_ctx *c = p;
    if (c->max) ft_maxpool_forward(out, c->inp, &c->s);
    else ft_avgpool_forward(out, c->inp, &c->s);
}

static void check_pool(ft_pool_shape s, int max, uint64_t seed)
{
    ft_rng r = ft_rng_derive(seed, 4);
    const size_t nin = (size_t)s.B * s.C * s.H * s.W;
    const size_t nout = (size_t)s.B * s.C * ft_pool_out_h(&s) * ft_pool_out_w(&s);
    assert_true(nout > 0);
    pool_ctx c = {s, falloc(nin), max};
    if (max) fill_distinct(c.inp, nin, &r);
    else fill_uniform(c.inp, nin, -1, 1, &r);
    float *out = falloc(nout), *R = falloc(nout), *din = falloc(nin);
    fill_uniform(R, nout, -1, 1, &r);
    pool_fwd(&c, out);
    if (max) ft_maxpool_backward(din, R, c.inp, &s);
    else ft_avgpool_backward(din, R, &s);
    objective o = {pool_fwd, &c, out, R, nout};
    /* max pool: h below half the spacing of the values, so no winner changes */
    CHECK_GRAD(&o, c.inp, din, nin, max ? 1e-2f : 5e-2f, 1e-2, 1e-3, max ? "maxpool" : "avgpool");
    float *din1 = fdup(din, nin);
    if (max) ft_maxpool_backward(din, R, c.inp, &s);
    else ft_avgpool_backward(din, R, &s);
    assert_scaled(din, din1, nin, 2, ACCUM_TOL);
    if (max) ft_maxpool_backward(NULL, R, c.inp, &s);
    else ft_avgpool_backward(NULL, R, &s);
    free(c.inp), free(out), free(R), free(din), free(din1);
}

static void test_maxpool(void **state)
{
    (void)state;
    check_pool((ft_pool_shape){2, 3, 6, 8, 2, 2, 0, 0}, 1, 1);
    check_pool((ft_pool_shape){2, 2, 7, 5, 3, 2, 1, 0}, 1, 2);
    check_pool((ft_pool_shape){1, 3, 5, 6, 3, 1, 1, 0}, 1, 3);
    /* ties: the first maximum in window order takes the gradient */
    float x[4] = {1, 3, 3, 2}, dout[1] = {1}, out[1], din[4] = {0};
    ft_pool_shape s = {1, 1, 2, 2, 2, 2, 0, 0};
    ft_maxpool_forward(out, x, &s);
    ft_maxpool_backward(din, dout, x, &s);
    assert_true(out[0] == 3.0f);
    assert_true(din[0] == 0 && din[1] == 1 && din[2] == 0 && din[3] == 0);
    /* NaN wins, the first one: output NaN, gradient to it (the unrolled 2x2 path as the general one) */
    float xn[4] = {1, NAN, 5, NAN}, dn[4] = {0};
    ft_maxpool_forward(out, xn, &s);
    ft_maxpool_backward(dn, dout, xn, &s);
    assert_true(isnan(out[0]));
    assert_true(dn[0] == 0 && dn[1] == 1 && dn[2] == 0 && dn[3] == 0);
    check_pool((ft_pool_shape){2, 2, 7, 5, 2, 2, 0, 0}, 1, 4); /* odd sides: the last row/column unused */
    /* padding never wins, even over negative values */
    float neg[4] = {-5, -4, -3, -2};
    ft_pool_shape sp = {1, 1, 2, 2, 2, 1, 1, 0};
    assert_int_equal(ft_pool_out_h(&sp), 3);
    float o3[9];
    ft_maxpool_forward(o3, neg, &sp);
    assert_true(o3[0] == -5.0f && o3[4] == -2.0f && o3[8] == -2.0f);
}

/* The max-pool forward and backward against the definition — the value of the row-major first
 * maximum of the clipped window, a NaN if the window holds one; its gradient to that cell, or to
 * the first NaN — over every window geometry the separable
 * path and the branchy fallback take (K 2..4, stride 1..3, pad 0..K-1 incl. pad_extra), on
 * values drawn from a small set so windows tie often, with -0 beside +0 (the sign of the kept
 * zero is the first one's) and a few NaNs. */
static void test_maxpool_windows(void **state)
{
    (void)state;
    const float vals[] = {-2.0f, -0.0f, 0.0f, 1.0f, 1.0f, 3.0f, -7.5f};
    ft_rng r = ft_rng_derive(91, 1);
    int checked = 0;
    for (int K = 2; K <= 4; K++)
        for (int S = 1; S <= 3; S++)
            for (int pad = 0; pad < K; pad++)
                for (int extra = 0; extra <= 1; extra++) {
                    ft_pool_shape s = {2, 2, 9 + K, 11 - S, K, S, pad, extra};
                    const int OH = ft_pool_out_h(&s), OW = ft_pool_out_w(&s);
                    const size_t nin = (size_t)s.B * s.C * s.H * s.W;
                    float *x = malloc(nin * sizeof *x), *o = malloc((size_t)s.B * s.C * OH * OW * sizeof *o);
                    assert_non_null(x), assert_non_null(o);
                    for (size_t i = 0; i < nin; i++) {
                        const unsigned u = (unsigned)(ft_rng_uniform(&r) * 1000.0f);
                        x[i] = u < 8 ? NAN : vals[u % (sizeof vals / sizeof vals[0])];
                    }
                    const size_t nout = (size_t)s.B * s.C * OH * OW;
                    float *g = malloc(nout * sizeof *g), *din = calloc(nin, sizeof *din);
                    float *ref = calloc(nin, sizeof *ref);
                    assert_non_null(g), assert_non_null(din), assert_non_null(ref);
                    for (size_t i = 0; i < nout; i++) g[i] = ft_rng_uniform(&r) - 0.5f;
                    ft_maxpool_forward(o, x, &s);
                    ft_maxpool_backward(din, g, x, &s);
                    for (int bc = 0; bc < s.B * s.C; bc++)
                        for (int oy = 0; oy < OH; oy++)
                            for (int ox = 0; ox < OW; ox++) {
                                const float *pl = x + (size_t)bc * s.H * s.W;
                                float want = 0.0f;
                                int any = 0;
                                long win = -1; /* the winning cell: the first maximum, or the first NaN */
                                for (int y = oy * S - pad; y < oy * S - pad + K; y++)
                                    for (int xx = ox * S - pad; xx < ox * S - pad + K; xx++) {
                                        if (y < 0 || y >= s.H || xx < 0 || xx >= s.W) continue;
                                        const float v = pl[y * s.W + xx];
                                        if (isnan(want)) continue;
                                        if (!any || v > want || isnan(v)) want = v, win = (long)y * s.W + xx;
                                        any = 1;
                                    }
                                if (win >= 0)
                                    ref[(size_t)bc * s.H * s.W + (size_t)win] += g[((size_t)bc * OH + oy) * OW + ox];
                                const float got = o[((size_t)bc * OH + oy) * OW + ox];
                                if (isnan(want)) assert_true(isnan(got));
                                else {
                                    assert_true(got == want);
                                    assert_true(signbit(got) == signbit(want));
                                }
                                checked++;
                            }
                    for (size_t i = 0; i < nin; i++) assert_true(din[i] == ref[i]);
                    free(x), free(o), free(g), free(din), free(ref);
                }
    assert_true(checked > 10000);
}

/* maxpool 2x2 stride 1 'same' (the tiny detector's last pool): one padding
 * column/row at the end that never wins. */
static void test_maxpool_pad_extra(void **state)
{
    (void)state;
    check_pool((ft_pool_shape){2, 3, 5, 5, 2, 1, 0, 1}, 1, 6);
    check_pool((ft_pool_shape){1, 2, 6, 6, 2, 2, 0, 1}, 1, 7);
    float neg[4] = {-5, -4, -3, -2}, o[4];
    ft_pool_shape s = {1, 1, 2, 2, 2, 1, 0, 1};
    assert_int_equal(ft_pool_out_h(&s), 2);
    ft_maxpool_forward(o, neg, &s);
    assert_true(o[0] == -2.0f && o[1] == -2.0f && o[2] == -2.0f && o[3] == -2.0f);
}

static void test_avgpool(void **state)
{
    (void)state;
    check_pool((ft_pool_shape){2, 3, 6, 8, 2, 2, 0, 0}, 0, 4);
    check_pool((ft_pool_shape){2, 2, 7, 5, 3, 2, 1, 0}, 0, 5);
    /* count_include_pad: the corner window of a 3x3 pad-1 pool sees 4 ones, /9 */
    float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, out[9];
    ft_pool_shape s = {1, 1, 3, 3, 3, 1, 1, 0};
    ft_avgpool_forward(out, ones, &s);
    assert_true(fabsf(out[0] - 4.0f / 9.0f) < 1e-6f);
    assert_true(fabsf(out[4] - 1.0f) < 1e-6f);
}

typedef struct {
    float *inp;
    int B, C, HW;
} gap_ctx;

static void gap_fwd(void *p, float *out)
{
    gap_ctx *c = p;
    ft_gap_forward(out, c->inp, c->B, c->C, c->HW);
}

static void test_gap(void **state)
{
    (void)state;
    ft_rng r = ft_rng_derive(5, 5);
    gap_ctx c = {NULL, 3, 4, 10};
    size_t nin = 3 * 4 * 10, nout = 3 * 4;
    c.inp = falloc(nin);
    fill_uniform(c.inp, nin, -1, 1, &r);
    float *out = falloc(nout), *R = falloc(nout), *din = falloc(nin);
    fill_uniform(R, nout, -1, 1, &r);
    gap_fwd(&c, out);
    double m = 0;
    for (int i = 0; i < 10; i++) m += c.inp[10 + i];
    assert_true(fabs(out[1] - m / 10) < 1e-6);
    ft_gap_backward(din, R, c.B, c.C, c.HW);
    objective o = {gap_fwd, &c, out, R, nout};
    CHECK_GRAD(&o, c.inp, din, nin, 5e-2f, 1e-2, 1e-3, "gap");
    float *din1 = fdup(din, nin);
    ft_gap_backward(din, R, c.B, c.C, c.HW);
    assert_scaled(din, din1, nin, 2, ACCUM_TOL);
    ft_gap_backward(NULL, R, c.B, c.C, c.HW);
    free(c.inp), free(out), free(R), free(din), free(din1);
}

/* --------------------------------------------------------------- dropout -- */

typedef struct {
    float *inp, *mask;
    size_t n;
    float p;
    uint64_t seed;
} dropout_ctx;

/* Every call restarts the generator from the same seed: a fixed mask. */
static void dropout_fwd(void *p, float *out)
{
    dropout_ctx *c = p;
    uint64_t rng = c->seed;
    ft_dropout_forward(out, c->mask, c->inp, c->n, c->p, &rng);
}

static void test_dropout(void **state)
{
    (void)state;
    ft_rng r = ft_rng_derive(9, 6);
    const size_t n = 200;
    dropout_ctx c = {falloc(n), falloc(n), n, 0.3f, 12345};
    fill_uniform(c.inp, n, -1, 1, &r);
    float *out = falloc(n), *R = falloc(n), *din = falloc(n);
    fill_uniform(R, n, -1, 1, &r);
    dropout_fwd(&c, out);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(c.mask[i] == 0.0f || fabsf(c.mask[i] - 1.0f / 0.7f) < 1e-6f);
        assert_true(out[i] == c.inp[i] * c.mask[i]);
        kept += c.mask[i] != 0.0f;
    }
    assert_true(kept > 110 && kept < 170); /* ~140 of 200 */
    ft_dropout_backward(din, R, c.mask, n);
    objective o = {dropout_fwd, &c, out, R, n};
    CHECK_GRAD(&o, c.inp, din, n, 5e-2f, 1e-2, 1e-3, "dropout");
    float *din1 = fdup(din, n);
    ft_dropout_backward(din, R, c.mask, n);
    assert_scaled(din, din1, n, 2, ACCUM_TOL);
    ft_dropout_backward(NULL, R, c.mask, n);

    /* deterministic for a seed; the state advances; p = 0 keeps everything */
    uint64_t s1 = 77, s2 = 77;
    float *m1 = falloc(n), *m2 = falloc(n);
    ft_dropout_forward(out, m1, c.inp, n, 0.5f, &s1);
    ft_dropout_forward(out, m2, c.inp, n, 0.5f, &s2);
    assert_memory_equal(m1, m2, n * sizeof(float));
    assert_true(s1 == s2 && s1 != 77);
    ft_dropout_forward(out, m2, c.inp, n, 0.5f, &s2);
    assert_memory_not_equal(m1, m2, n * sizeof(float));
    ft_dropout_forward(out, m1, c.inp, n, 0.0f, &s1);
    for (size_t i = 0; i < n; i++) assert_true(m1[i] == 1.0f && out[i] == c.inp[i]);
    free(c.inp), free(c.mask), free(out), free(R), free(din), free(din1), free(m1), free(m2);
}

/* ------------------------------------------------------------- batchnorm -- */

typedef struct {
    float *inp, *gamma, *beta, *mean, *rstd;
    int B, C, HW;
    float eps;
} bn_ctx;

static void bn_fwd(void *p, float *out)
{
    bn_ctx *c = p;
    ft_batchnorm_forward_train(out, c->mean, c->rstd, NULL, NULL, c->inp, c->gamma, c->beta, c->B,
                               c->C, c->HW, 0.1f, c->eps);
}

static void check_batchnorm(int B, int C, int HW, uint64_t seed)
{
    ft_rng r = ft_rng_derive(seed, 7);
    bn_ctx c = {NULL, falloc(C), falloc(C), falloc(C), falloc(C), B, C, HW, 1e-5f};
    size_t n = (size_t)B * C * HW;
    c.inp = falloc(n);
    fill_uniform(c.inp, n, -1, 2, &r);
    fill_uniform(c.gamma, C, 0.5f, 1.5f, &r);
    fill_uniform(c.beta, C, -0.5f, 0.5f, &r);
    float *out = falloc(n), *R = falloc(n), *din = falloc(n), *dg = falloc(C), *dbt = falloc(C);
    fill_uniform(R, n, -1, 1, &r);

    /* running stats, by hand for channel 1 */
    float *rm = falloc(C), *rv = falloc(C);
    for (int k = 0; k < C; k++) rm[k] = 0.5f, rv[k] = 2.0f;
    ft_batchnorm_forward_train(out, c.mean, c.rstd, rm, rv, c.inp, c.gamma, c.beta, B, C, HW, 0.1f,
                               c.eps);
    double s = 0, sq = 0, N = (double)B * HW;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < HW; i++) s += c.inp[((size_t)b * C + 1) * HW + i];
    double m = s / N;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < HW; i++) {
            double d = c.inp[((size_t)b * C + 1) * HW + i] - m;
            sq += d * d;
        }
    assert_true(fabs(c.mean[1] - m) < 1e-5);
    assert_true(fabs(c.rstd[1] - 1.0 / sqrt(sq / N + 1e-5)) < 1e-4);
    assert_true(fabs(rm[1] - (0.9 * 0.5 + 0.1 * m)) < 1e-5);
    assert_true(fabs(rv[1] - (0.9 * 2.0 + 0.1 * sq / (N - 1))) < 1e-5);
    /* normalised output: per channel mean beta, std gamma */
    double om = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < HW; i++) om += out[((size_t)b * C + 1) * HW + i];
    assert_true(fabs(om / N - c.beta[1]) < 1e-4);
    /* eval with the batch's own stats as running stats reproduces the
     * training output up to the biased/unbiased variance */
    float *ev = falloc(n), *bvar = falloc(C);
    for (int k = 0; k < C; k++) bvar[k] = 1.0f / (c.rstd[k] * c.rstd[k]) - c.eps;
    ft_batchnorm_forward_eval(ev, c.inp, c.gamma, c.beta, c.mean, bvar, B, C, HW, c.eps);
    for (size_t i = 0; i < n; i++) assert_true(fabsf(ev[i] - out[i]) < 1e-3f);

    bn_fwd(&c, out);
    ft_batchnorm_backward(din, dg, dbt, R, c.inp, c.mean, c.rstd, c.gamma, B, C, HW);
    float *mean0 = fdup(c.mean, C), *rstd0 = fdup(c.rstd, C);
    objective o = {bn_fwd, &c, out, R, n};
    CHECK_GRAD(&o, c.inp, din, n, 1e-2f, 3e-2, 1e-2, "batchnorm dinp");
    CHECK_GRAD(&o, c.gamma, dg, C, 1e-2f, 3e-2, 1e-2, "batchnorm dgamma");
    CHECK_GRAD(&o, c.beta, dbt, C, 1e-2f, 3e-2, 1e-2, "batchnorm dbeta");
    bn_fwd(&c, out);
    assert_memory_equal(mean0, c.mean, C * sizeof(float));

    float *din1 = fdup(din, n), *dg1 = fdup(dg, C), *db1 = fdup(dbt, C);
    ft_batchnorm_backward(din, dg, dbt, R, c.inp, c.mean, c.rstd, c.gamma, B, C, HW);
    assert_scaled(din, din1, n, 2, ACCUM_TOL);
    assert_scaled(dg, dg1, C, 2, ACCUM_TOL);
    assert_scaled(dbt, db1, C, 2, ACCUM_TOL);
    memset(din, 0, n * sizeof(float));
    memset(dg, 0, C * sizeof(float));
    ft_batchnorm_backward(NULL, dg, NULL, R, c.inp, c.mean, c.rstd, c.gamma, B, C, HW);
    ft_batchnorm_backward(din, NULL, NULL, R, c.inp, c.mean, c.rstd, c.gamma, B, C, HW);
    assert_scaled(din, din1, n, 1, ACCUM_TOL);
    assert_scaled(dg, dg1, C, 1, ACCUM_TOL);

    free(c.inp), free(c.gamma), free(c.beta), free(c.mean), free(c.rstd), free(out), free(R);
    free(din), free(dg), free(dbt), free(rm), free(rv), free(ev), free(bvar), free(mean0);
    free(rstd0), free(din1), free(dg1), free(db1);
}

static void test_batchnorm(void **state)
{
    (void)state;
    check_batchnorm(3, 4, 5, 1); /* (B,C,H*W) */
    check_batchnorm(6, 3, 1, 2); /* (B,C) vectors */
}

typedef struct {
    float *inp, *scale, *bias;
    int B, C, HW;
} scale_ctx;

static void scale_fwd(void *p, float *out)
{
    scale_ctx *c = p;
    ft_scale_forward(out, c->inp, c->scale, c->bias, c->B, c->C, c->HW);
}

static void test_scale(void **state)
{
    (void)state;
    ft_rng r = ft_rng_derive(4, 8);
    scale_ctx c = {NULL, falloc(3), falloc(3), 2, 3, 4};
    size_t n = 2 * 3 * 4;
    c.inp = falloc(n);
    fill_uniform(c.inp, n, -1, 1, &r);
    fill_uniform(c.scale, 3, -2, 2, &r);
    fill_uniform(c.bias, 3, -1, 1, &r);
    float *out = falloc(n), *R = falloc(n), *din = falloc(n), *ds = falloc(3), *db = falloc(3);
    fill_uniform(R, n, -1, 1, &r);
    scale_fwd(&c, out);
    assert_true(fabsf(out[4 + 1] - (c.inp[4 + 1] * c.scale[1] + c.bias[1])) < 1e-6f);
    ft_scale_backward(din, ds, db, R, c.inp, c.scale, c.B, c.C, c.HW);
    objective o = {scale_fwd, &c, out, R, n};
    CHECK_GRAD(&o, c.inp, din, n, 5e-2f, 1e-2, 1e-3, "scale dinp");
    CHECK_GRAD(&o, c.scale, ds, 3, 5e-2f, 1e-2, 1e-3, "scale dscale");
    CHECK_GRAD(&o, c.bias, db, 3, 5e-2f, 1e-2, 1e-3, "scale dbias");
    float *din1 = fdup(din, n), *ds1 = fdup(ds, 3), *db1 = fdup(db, 3);
    ft_scale_backward(din, ds, db, R, c.inp, c.scale, c.B, c.C, c.HW);
    assert_scaled(din, din1, n, 2, ACCUM_TOL);
    assert_scaled(ds, ds1, 3, 2, ACCUM_TOL);
    assert_scaled(db, db1, 3, 2, ACCUM_TOL);
    ft_scale_backward(NULL, NULL, NULL, R, c.inp, c.scale, c.B, c.C, c.HW);
    /* no bias */
    ft_scale_forward(out, c.inp, c.scale, NULL, c.B, c.C, c.HW);
    assert_true(fabsf(out[4 + 1] - c.inp[4 + 1] * c.scale[1]) < 1e-6f);
    free(c.inp), free(c.scale), free(c.bias), free(out), free(R), free(din), free(ds), free(db);
    free(din1), free(ds1), free(db1);
}

/* ------------------------------------------------------------------- add -- */

typedef struct {
    float *a, *b;
    size_t n;
} add_ctx;

static void add_fwd(void *p, float *out)
{
    add_ctx *c = p;
    ft_add_forward(out, c->a, c->b, c->n);
}

static void test_add(void **state)
{
    (void)state;
    ft_rng r = ft_rng_derive(6, 9);
    const size_t n = 30;
    add_ctx c = {falloc(n), falloc(n), n};
    fill_uniform(c.a, n, -1, 1, &r);
    fill_uniform(c.b, n, -1, 1, &r);
    float *out = falloc(n), *R = falloc(n), *da = falloc(n), *db = falloc(n);
    fill_uniform(R, n, -1, 1, &r);
    ft_add_backward(da, db, R, n);
    objective o = {add_fwd, &c, out, R, n};
    CHECK_GRAD(&o, c.a, da, n, 5e-2f, 1e-2, 1e-3, "add da");
    CHECK_GRAD(&o, c.b, db, n, 5e-2f, 1e-2, 1e-3, "add db");
    ft_add_backward(da, NULL, R, n);
    ft_add_backward(NULL, NULL, R, n);
    assert_scaled(da, R, n, 2, ACCUM_TOL);
    assert_scaled(db, R, n, 1, ACCUM_TOL);
    free(c.a), free(c.b), free(out), free(R), free(da), free(db);
}

/* ---------------------------------------------------- add, zero-padded -- */

typedef struct {
    float *a, *b;
    ft_add_pad_shape s;
} add_pad_ctx;

static void add_pad_fwd(void *p, float *out)
{
    add_pad_ctx *c = p;
    ft_add_pad_forward(out, c->a, c->b, &c->s);
}

/* face-api's residualDown: a = pooled shortcut (fewer channels, full size),
 * b = main branch (all channels, one row and column short), and the reverse. */
static void check_add_pad(ft_add_pad_shape s, uint64_t seed)
{
    ft_rng r = ft_rng_derive(seed, 11);
    int C, H, W;
    ft_add_pad_out_shape(&s, &C, &H, &W);
    const size_t an = (size_t)s.B * s.ac * s.ah * s.aw, bn = (size_t)s.B * s.bc * s.bh * s.bw;
    const size_t on = (size_t)s.B * C * H * W;
    add_pad_ctx c = {falloc(an), falloc(bn), s};
    fill_uniform(c.a, an, -1, 1, &r);
    fill_uniform(c.b, bn, -1, 1, &r);
    float *out = falloc(on), *R = falloc(on), *da = falloc(an), *db = falloc(bn);
    fill_uniform(R, on, -1, 1, &r);
    /* forward by definition: out[c,y,x] = a[c,y,x] (if inside a) + b[c,y,x] (if inside b) */
    ft_add_pad_forward(out, c.a, c.b, &s);
    for (int i = 0; i < s.B; i++)
        for (int ch = 0; ch < C; ch++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    float want = 0.0f;
                    if (ch < s.ac && y < s.ah && x < s.aw)
                        want += c.a[(((size_t)i * s.ac + ch) * s.ah + y) * s.aw + x];
                    if (ch < s.bc && y < s.bh && x < s.bw)
                        want += c.b[(((size_t)i * s.bc + ch) * s.bh + y) * s.bw + x];
                    assert_true(out[(((size_t)i * C + ch) * H + y) * W + x] == want);
                }
    ft_add_pad_backward(da, db, R, &s);
    objective o = {add_pad_fwd, &c, out, R, on};
    CHECK_GRAD(&o, c.a, da, an, 5e-2f, 1e-2, 1e-3, "add_pad da");
    CHECK_GRAD(&o, c.b, db, bn, 5e-2f, 1e-2, 1e-3, "add_pad db");
    float *da1 = fdup(da, an), *db1 = fdup(db, bn);
    ft_add_pad_backward(da, NULL, R, &s);
    ft_add_pad_backward(NULL, NULL, R, &s);
    assert_scaled(da, da1, an, 2, ACCUM_TOL);
    assert_scaled(db, db1, bn, 1, ACCUM_TOL);
    free(c.a), free(c.b), free(out), free(R), free(da), free(db), free(da1), free(db1);
}

static void test_add_pad(void **state)
{
    (void)state;
    check_add_pad((ft_add_pad_shape){2, 3, 4, 4, 6, 3, 3}, 1); /* widen + main branch short */
    check_add_pad((ft_add_pad_shape){2, 6, 3, 3, 3, 4, 4}, 2); /* operands swapped */
    check_add_pad((ft_add_pad_shape){1, 4, 2, 2, 4, 1, 1}, 3); /* face-api's last block: 1x1 vs 2x2 */
    check_add_pad((ft_add_pad_shape){2, 3, 5, 4, 3, 5, 4}, 4); /* equal shapes: a plain add */
}

/* ---------------------------------------------------------------- l2norm -- */

typedef struct {
    float *inp;
    int B, D;
    float eps;
} l2_ctx;

static void l2_fwd(void *p, float *out)
{
    l2_ctx *c = p;
    ft_l2norm_forward(out, c->inp, c->B, c->D, c->eps);
}

static void test_l2norm(void **state)
{
    (void)state;
    ft_rng r = ft_rng_derive(8, 10);
    l2_ctx c = {NULL, 4, 8, 1e-2f};
    size_t n = 4 * 8;
    c.inp = falloc(n);
    fill_uniform(c.inp, n, -1, 1, &r);
    for (int k = 0; k < 8; k++) c.inp[3 * 8 + k] *= 1e-3f; /* row 3: norm < eps */
    float *out = falloc(n), *R = falloc(n), *din = falloc(n);
    fill_uniform(R, n, -1, 1, &r);
    l2_fwd(&c, out);
    double nn = 0, n3 = 0;
    for (int k = 0; k < 8; k++) nn += (double)out[k] * out[k], n3 += (double)c.inp[24 + k] * c.inp[24 + k];
    assert_true(fabs(nn - 1.0) < 1e-5);
    assert_true(sqrt(n3) < c.eps);
    for (int k = 0; k < 8; k++) assert_true(fabsf(out[24 + k] - c.inp[24 + k] / c.eps) < 1e-6f);
    ft_l2norm_backward(din, R, c.inp, c.B, c.D, c.eps);
    objective o = {l2_fwd, &c, out, R, n};
    CHECK_GRAD(&o, c.inp, din, 3 * 8, 1e-3f, 1e-2, 1e-2, "l2norm dinp"); /* rows 0..2 */
    /* row 3: below eps, out = x/eps; a step far smaller than the row */
    CHECK_GRAD(&o, c.inp + 24, din + 24, 8, 1e-5f, 1e-2, 1e-2, "l2norm dinp (tiny row)");
    float *din1 = fdup(din, n);
    ft_l2norm_backward(din, R, c.inp, c.B, c.D, c.eps);
    assert_scaled(din, din1, n, 2, ACCUM_TOL);
    ft_l2norm_backward(NULL, R, c.inp, c.B, c.D, c.eps);
    free(c.inp), free(out), free(R), free(din), free(din1);
}

/* ------------------------------------------------------ contrastive loss -- */

typedef struct {
    float *a, *b, *y;
    int B, D;
    float margin;
} loss_ctx;

static void loss_fwd(void *p, float *out)
{
    loss_ctx *c = p;
    out[0] = ft_contrastive_forward(NULL, c->a, c->b, c->y, c->B, c->D, c->margin);
}

static void test_contrastive_grad(void **state)
{
    (void)state;
    ft_rng r = ft_rng_derive(10, 11);
    /* pairs: 0 same; 1 different, inside the margin; 2 different, beyond it;
     * 3 same and identical; 4 different and identical; 5 same, tiny gap */
    enum { B = 6, D = 5 };
    float a[B * D], b[B * D], y[B] = {1, 0, 0, 1, 0, 1};
    fill_uniform(a, B * D, -0.5f, 0.5f, &r);
    for (int k = 0; k < D; k++) {
        b[0 * D + k] = a[0 * D + k] + 0.3f * (ft_rng_uniform(&r) - 0.5f);
        b[1 * D + k] = a[1 * D + k] + 0.3f * (ft_rng_uniform(&r) - 0.5f); /* d ~ 0.3 < 1 */
        b[2 * D + k] = a[2 * D + k] + (k % 2 ? 1.0f : -1.0f);             /* d ~ 2.2 > 1 */
        b[3 * D + k] = a[3 * D + k];
        b[4 * D + k] = a[4 * D + k];
        b[5 * D + k] = a[5 * D + k] + (k == 0 ? 1e-4f : 0.0f); /* s = 1e-8 < eps */
    }
    loss_ctx c = {a, b, y, B, D, 1.0f};
    const float dloss = 0.7f;
    float da[B * D] = {0}, db[B * D] = {0}, dist[B], out[1], R[1] = {dloss};
    float L = ft_contrastive_forward(dist, a, b, y, B, D, c.margin);
    assert_true(isfinite(L));
    assert_true(dist[1] < c.margin && dist[2] > c.margin);
    ft_contrastive_backward(da, db, a, b, y, B, D, c.margin, dloss);
    assert_all_finite(da, B * D);
    assert_all_finite(db, B * D);
    /* identical (or nearly: below eps) embeddings: zero gradient */
    for (int k = 3 * D; k < 6 * D; k++) assert_true(da[k] == 0.0f && db[k] == 0.0f);
    /* beyond the margin a different pair costs nothing and pulls nothing */
    for (int k = 2 * D; k < 3 * D; k++) assert_true(da[k] == 0.0f && db[k] == 0.0f);
    /* db = -da */
    for (int k = 0; k < B * D; k++) assert_true(db[k] == -da[k]);
    /* numerical check on the pairs away from the kinks (0, 1, 2) */
    objective o = {loss_fwd, &c, out, R, 1};
    CHECK_GRAD(&o, a, da, 3 * D, 1e-3f, 1e-2, 1e-2, "contrastive da");
    CHECK_GRAD(&o, b, db, 3 * D, 1e-3f, 1e-2, 1e-2, "contrastive db");
    /* accumulates; NULL accepted */
    float da1[B * D];
    memcpy(da1, da, sizeof da);
    ft_contrastive_backward(da, NULL, a, b, y, B, D, c.margin, dloss);
    ft_contrastive_backward(NULL, NULL, a, b, y, B, D, c.margin, dloss);
    assert_scaled(da, da1, B * D, 2, ACCUM_TOL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_basic),     cmocka_unit_test(test_conv_stride),
        cmocka_unit_test(test_conv_groups),    cmocka_unit_test(test_conv_depthwise),
        cmocka_unit_test(test_conv_pointwise), cmocka_unit_test(test_pad), cmocka_unit_test(test_conv_chunks),
        cmocka_unit_test(test_conv_workspace), cmocka_unit_test(test_dense), cmocka_unit_test(test_dense_batch1_matches_batch),
        cmocka_unit_test(test_relu), cmocka_unit_test(test_leaky), cmocka_unit_test(test_relu6),           cmocka_unit_test(test_maxpool), cmocka_unit_test(test_maxpool_pad_extra),
        cmocka_unit_test(test_maxpool_windows),
        cmocka_unit_test(test_avgpool),        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_dropout),        cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_scale),          cmocka_unit_test(test_add), cmocka_unit_test(test_add_pad),
        cmocka_unit_test(test_l2norm),         cmocka_unit_test(test_contrastive_grad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
