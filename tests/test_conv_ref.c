/* test_conv_ref.c — conv2d against a naive direct convolution.
 *
 * The reference is the definition written as nested loops in double:
 *   out[b,oc,oy,ox] = bias[oc] + sum_{ic,ky,kx} w[oc,ic,ky,kx]
 *                     * inp[b, g*Cg+ic, oy*s-p+ky, ox*s-p+kx]   (0 outside)
 * with g = oc / (OC/groups), Cg = C/groups; its backward is the same loops
 * with the products sent the other way. Forward must agree within 1e-4
 * absolute; gradients, which sum over many more terms, within 1e-4 relative
 * to max(1, |reference|). One configuration is large enough that the public
 * entry points cut the batch into several workspace chunks.
 */
#include "ft_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/layers.h"
#include "layers/conv2d.h"
#include "rng.h"

#define FWD_ABS_TOL 1e-4
#define BWD_REL_TOL 1e-4

static float *falloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    assert_non_null(p);
    return p;
}

static double *dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof(double));
    assert_non_null(p);
    return p;
}

static int close_rel(double got, double want)
{
    return fabs(got - want) <= BWD_REL_TOL * fmax(1.0, fabs(want));
}

/* Runs BODY for every product w * inp of the convolution, with b, oc, oy, ox
 * and the indices oi (output), ii (input), wi (weight) in scope. */
#define FOR_EACH_TAP(s, OH, OW, BODY)                                                        \
    do {                                                                                     \
        const int Cg_ = (s)->C / (s)->groups, OCg_ = (s)->OC / (s)->groups;                   \
        for (int b = 0; b < (s)->B; b++)                                                     \
            for (int oc = 0; oc < (s)->OC; oc++)                                             \
                for (int oy = 0; oy < (OH); oy++)                                            \
                    for (int ox = 0; ox < (OW); ox++) {                                      \
                        size_t oi = (((size_t)b * (s)->OC + oc) * (OH) + oy) * (OW) + ox;    \
                        for (int ic = 0; ic < Cg_; ic++)                                     \
                            for (int ky = 0; ky < (s)->KH; ky++)                             \
                                for (int kx = 0; kx < (s)->KW; kx++) {                       \
                                    int iy = oy * (s)->stride - (s)->pad + ky;               \
                                    int ix = ox * (s)->stride - (s)->pad + kx;               \
                                    if (iy < 0 || iy >= (s)->H || ix < 0 || ix >= (s)->W)    \
                                        continue;                                            \
                                    int c = (oc / OCg_) * Cg_ + ic;                          \
                                    size_t ii = (((size_t)b * (s)->C + c) * (s)->H + iy)     \
                                                    * (s)->W + ix;                           \
                                    size_t wi = (((size_t)oc * Cg_ + ic) * (s)->KH + ky)     \
                                                    * (s)->KW + kx;                          \
                                    BODY;                                                    \
                                }                                                            \
                    }                                                                        \
    } while (0)

static void check_against_reference(ft_conv2d_shape s, int with_bias, uint64_t seed)
{
    ft_rng r = ft_rng_derive(seed, 77);
    const int OH = ft_conv2d_out_h(&s), OW = ft_conv2d_out_w(&s);
    const size_t nin = (size_t)s.B * s.C * s.H * s.W;
    const size_t nw = (size_t)s.OC * (s.C / s.groups) * s.KH * s.KW;
    const size_t nout = (size_t)s.B * s.OC * OH * OW;
    float *inp = falloc(nin), *w = falloc(nw), *bias = with_bias ? falloc(s.OC) : NULL;
    float *dout = falloc(nout), *out = falloc(nout);
    for (size_t i = 0; i < nin; i++) inp[i] = 2.0f * ft_rng_uniform(&r) - 1.0f;
    for (size_t i = 0; i < nw; i++) w[i] = ft_rng_uniform(&r) - 0.5f;
    for (int i = 0; bias && i < s.OC; i++) bias[i] = ft_rng_uniform(&r) - 0.5f;
    for (size_t i = 0; i < nout; i++) dout[i] = 2.0f * ft_rng_uniform(&r) - 1.0f;

    double *ref = dalloc(nout), *rdin = dalloc(nin), *rdw = dalloc(nw), *rdb = dalloc(s.OC);
    for (size_t i = 0; i < nout; i++) ref[i] = bias ? bias[(i / ((size_t)OH * OW)) % s.OC] : 0.0;
    FOR_EACH_TAP(&s, OH, OW, {
        ref[oi] += (double)w[wi] * inp[ii];
        rdin[ii] += (double)w[wi] * dout[oi];
        rdw[wi] += (double)inp[ii] * dout[oi];
    });
    for (size_t i = 0; i < nout; i++) rdb[(i / ((size_t)OH * OW)) % s.OC] += dout[i];

    /* the public plan, then every algorithm that applies, in one chunk and in
     * chunks of two images */
    const ft_conv2d_algo algos[] = {FT_CONV_IM2COL, FT_CONV_DEPTHWISE};
    float *din = falloc(nin), *dw = falloc(nw), *db = falloc(s.OC);
    for (int k = -1; k < 4; k++) {
        ft_conv2d_plan p = ft_conv2d_plan_for(&s);
        if (k >= 0) {
            p.algo = algos[k / 2];
            p.nb = k % 2 ? (s.B < 2 ? s.B : 2) : s.B;
            if (!ft_conv2d_algo_applies(&s, p.algo)) continue;
        }
        float *ws = falloc(ft_conv2d_workspace_plan(&s, p));
        if (k < 0) ft_conv2d_forward(out, inp, w, bias, &s, ws);
        else ft_conv2d_forward_plan(out, inp, w, bias, &s, ws, p);
        double worst = 0;
        for (size_t i = 0; i < nout; i++) worst = fmax(worst, fabs(out[i] - ref[i]));
        if (!(worst < FWD_ABS_TOL))
            print_message("algo %d nb %d: forward max abs err %.3g\n", (int)p.algo, p.nb, worst);
        assert_true(worst < FWD_ABS_TOL);

        memset(din, 0, nin * sizeof(float));
        memset(dw, 0, nw * sizeof(float));
        memset(db, 0, s.OC * sizeof(float));
        if (k < 0) ft_conv2d_backward(din, dw, db, dout, inp, w, &s, ws);
        else ft_conv2d_backward_plan(din, dw, db, dout, inp, w, &s, ws, p);
        for (size_t i = 0; i < nin; i++) assert_true(close_rel(din[i], rdin[i]));
        for (size_t i = 0; i < nw; i++) assert_true(close_rel(dw[i], rdw[i]));
        for (int i = 0; i < s.OC; i++) assert_true(close_rel(db[i], rdb[i]));
        free(ws);
    }

    free(inp), free(w), free(bias), free(dout), free(out), free(ref), free(rdin);
    free(rdw), free(rdb), free(din), free(dw), free(db);
}

/* B, C, H, W, OC, KH, KW, stride, pad, groups */
static void test_plain(void **state)
{
    (void)state;
    check_against_reference((ft_conv2d_shape){2, 3, 9, 7, 5, 3, 3, 1, 1, 1}, 1, 1);
    check_against_reference((ft_conv2d_shape){3, 4, 10, 11, 6, 3, 3, 1, 0, 1}, 0, 2);
    check_against_reference((ft_conv2d_shape){2, 3, 8, 8, 4, 5, 5, 1, 2, 1}, 1, 3);
    check_against_reference((ft_conv2d_shape){2, 2, 7, 9, 3, 2, 3, 1, 1, 1}, 1, 4);
}

static void test_stride(void **state)
{
    (void)state;
    check_against_reference((ft_conv2d_shape){2, 3, 9, 10, 4, 3, 3, 2, 1, 1}, 1, 5);
    check_against_reference((ft_conv2d_shape){2, 3, 11, 8, 4, 3, 3, 2, 0, 1}, 0, 6);
    check_against_reference((ft_conv2d_shape){2, 2, 12, 12, 3, 4, 4, 3, 1, 1}, 1, 7);
}

static void test_groups(void **state)
{
    (void)state;
    check_against_reference((ft_conv2d_shape){2, 4, 8, 7, 6, 3, 3, 1, 1, 2}, 1, 8);
    check_against_reference((ft_conv2d_shape){2, 6, 9, 9, 9, 3, 3, 2, 1, 3}, 0, 9);
}

static void test_depthwise(void **state)
{
    (void)state;
    check_against_reference((ft_conv2d_shape){3, 8, 9, 7, 8, 3, 3, 1, 1, 8}, 1, 10);
    check_against_reference((ft_conv2d_shape){2, 5, 10, 9, 5, 3, 3, 2, 1, 5}, 0, 11);
    check_against_reference((ft_conv2d_shape){2, 4, 8, 8, 8, 5, 5, 1, 2, 4}, 1, 12);
}

static void test_pointwise(void **state)
{
    (void)state;
    check_against_reference((ft_conv2d_shape){3, 6, 5, 7, 4, 1, 1, 1, 0, 1}, 1, 13);
    check_against_reference((ft_conv2d_shape){2, 6, 5, 5, 4, 1, 1, 1, 0, 2}, 0, 14);
}

/* The reference network's two convs on a small batch, then a shape whose
 * per-image workspace makes the public entry points use several chunks. */
static void test_reference_shapes(void **state)
{
    (void)state;
    check_against_reference((ft_conv2d_shape){4, 1, 28, 28, 64, 3, 3, 1, 0, 1}, 1, 15);
    check_against_reference((ft_conv2d_shape){2, 64, 26, 26, 32, 3, 3, 1, 0, 1}, 1, 16);
    ft_conv2d_shape big = {8, 16, 64, 64, 16, 3, 3, 1, 1, 1};
    int nb = ft_conv2d_plan_for(&big).nb;
    assert_true(nb > 1 && nb < big.B && big.B % nb != 0); /* full chunks and a partial one */
    check_against_reference(big, 1, 17);
}

/* Batch 1 on images large enough for the row-tiled im2col forward (col over
 * FT_CONV_COL_TILE_FLOATS): a 3-channel first conv (two tiles, the second
 * partial), the SSD's stride-2 first conv, 16 channels (tiles of 80 + 10
 * rows), and a 7x7 pad-3 "same" conv in tiles of 2 rows, fewer than its
 * padding (the first tile holds no valid row for ky = 0: the contiguous
 * same-conv copy must clip to the tile). The public forward also runs on a workspace of
 * ft_conv2d_workspace_forward floats only, what an inference net reserves. */
static void test_tiled_rows(void **state)
{
    (void)state;
    const ft_conv2d_shape shapes[] = {
        {1, 3, 200, 200, 8, 3, 3, 1, 1, 1},
        {1, 3, 402, 402, 4, 3, 3, 2, 1, 1},
        {1, 16, 90, 90, 4, 3, 3, 1, 1, 1},
        {1, 64, 8, 150, 2, 7, 7, 1, 3, 1},
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        ft_conv2d_shape s = shapes[k];
        const size_t P = (size_t)ft_conv2d_out_h(&s) * ft_conv2d_out_w(&s);
        assert_true((size_t)s.C * s.KH * s.KW * P > FT_CONV_COL_TILE_FLOATS);
        assert_true(ft_conv2d_workspace_forward(&s) <= FT_CONV_COL_TILE_FLOATS);
        check_against_reference(s, (int)(k % 2 == 0), 30 + k);

        ft_rng r = ft_rng_derive(40 + k, 1);
        const size_t nin = (size_t)s.C * s.H * s.W, nw = (size_t)s.OC * s.C * s.KH * s.KW, nout = (size_t)s.OC * P;
        float *inp = falloc(nin), *w = falloc(nw), *out = falloc(nout), *full = falloc(nout);
        for (size_t i = 0; i < nin; i++) inp[i] = 2.0f * ft_rng_uniform(&r) - 1.0f;
        for (size_t i = 0; i < nw; i++) w[i] = ft_rng_uniform(&r) - 0.5f;
        float *ws_small = falloc(ft_conv2d_workspace_forward(&s)), *ws_full = falloc(ft_conv2d_workspace(&s));
        ft_conv2d_forward(out, inp, w, NULL, &s, ws_small);
        ft_conv2d_forward(full, inp, w, NULL, &s, ws_full);
        for (size_t i = 0; i < nout; i++) assert_true(out[i] == full[i]);
        free(inp), free(w), free(out), free(full), free(ws_small), free(ws_full);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),     cmocka_unit_test(test_stride),
        cmocka_unit_test(test_groups),    cmocka_unit_test(test_depthwise),
        cmocka_unit_test(test_pointwise), cmocka_unit_test(test_reference_shapes),
        cmocka_unit_test(test_tiled_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
