/* test_net.c — the spec parser, the whole-network gradient, checkpoints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/checkpoint.h"
#include "facetwin/net.h"
#include "ft_test.h"
#include "rng.h"

/* A small net touching conv (stride/pad/groups), batchnorm, in-place relu,
 * maxpool, a residual add with a projection shortcut, gap, dense, l2norm. */
static const char *k_small =
    "{\"name\":\"small\",\"input\":{\"width\":9,\"height\":8,\"channels\":3,\"mean\":[0.5],\"std\":[0.25]},"
    "\"layers\":["
    "{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3,\"padding\":1},"          /* 0 */
    "{\"type\":\"batchnorm\"},"                                                /* 1 */
    "{\"type\":\"relu\"},"                                                     /* 2 */
    "{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3,\"padding\":1,\"groups\":2},"/* 3 */
    "{\"type\":\"scale\"},"                                                    /* 4 */
    "{\"type\":\"add\",\"from\":2},"                                           /* 5 */
    "{\"type\":\"maxpool\",\"kernel\":2},"                                     /* 6 */
    "{\"type\":\"conv2d\",\"filters\":6,\"kernel\":1,\"input\":6},"            /* 7 projection */
    "{\"type\":\"conv2d\",\"filters\":6,\"kernel\":3,\"padding\":1,\"input\":6},"/* 8 */
    "{\"type\":\"add\",\"from\":7},"                                           /* 9 */
    "{\"type\":\"relu\"},"                                                     /* 10 */
    "{\"type\":\"gap\"},"                                                      /* 11 */
    "{\"type\":\"dense\",\"units\":5},"                                        /* 12 */
    "{\"type\":\"l2norm\"}]}";

/* face-api's residualDown twice: a zero-padded add where the main branch is one
 * row/column short and narrower-shortcut channels are zero-extended, then one
 * where only the channels differ. */
static const char *k_zero_pad =
    "{\"name\":\"zero-pad\",\"input\":{\"width\":10,\"height\":10,\"channels\":3},"
    "\"layers\":["
    "{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3,\"padding\":1},"           /* 0 (4,10,10) */
    "{\"type\":\"relu\"},"                                                      /* 1 */
    "{\"type\":\"conv2d\",\"filters\":6,\"kernel\":3,\"stride\":2},"            /* 2 (6,4,4) */
    "{\"type\":\"scale\"},"                                                     /* 3 */
    "{\"type\":\"avgpool\",\"kernel\":2,\"input\":1},"                          /* 4 (4,5,5) */
    "{\"type\":\"add\",\"from\":3,\"zero_pad\":true},"                            /* 5 (6,5,5) */
    "{\"type\":\"relu\"},"                                                      /* 6 */
    "{\"type\":\"conv2d\",\"filters\":8,\"kernel\":3,\"stride\":2},"            /* 7 (8,2,2) */
    "{\"type\":\"avgpool\",\"kernel\":2,\"input\":6},"                          /* 8 (6,2,2) */
    "{\"type\":\"add\",\"from\":7,\"zero_pad\":true},"                            /* 9 (8,2,2) */
    "{\"type\":\"relu\"},"                                                      /* 10 */
    "{\"type\":\"gap\"},"                                                       /* 11 */
    "{\"type\":\"dense\",\"units\":5}]}";

/* The face-api detectors' and landmark net's pieces: TF 'same' stride-2 conv as
 * pad + conv, a depthwise-separable conv, leaky, a 2x2/1 'same' maxpool. */
static const char *k_tf_same =
    "{\"name\":\"tf-same\",\"input\":{\"width\":8,\"height\":8,\"channels\":3},"
    "\"layers\":["
    "{\"type\":\"pad\",\"bottom\":1,\"right\":1},"                               /* 0 (3,9,9) */
    "{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3,\"stride\":2},"            /* 1 (4,4,4) */
    "{\"type\":\"leaky\"},"                                                      /* 2 */
    "{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3,\"padding\":1,\"groups\":4,\"bias\":false}," /* 3 */
    "{\"type\":\"conv2d\",\"filters\":3,\"kernel\":1},"                          /* 4 (3,4,4) */
    "{\"type\":\"leaky\",\"alpha\":0.2},"                                         /* 5 */
    "{\"type\":\"relu6\"},"                                                      /* 6 */
    "{\"type\":\"maxpool\",\"kernel\":2,\"stride\":1,\"padding\":\"same\"},"      /* 7 (3,4,4) */
    "{\"type\":\"flatten\"},"                                                    /* 8 */
    "{\"type\":\"dense\",\"units\":5}]}";

/* Dead ends (the SSD's prediction convs read with ft_net_layer_output) and every in-place case
 * of the inference plan: relu6 and batchnorm over their input, an add over its input, an add
 * over its 'from' operand (its input is still read afterwards). */
static const char *k_heads =
    "{\"name\":\"heads\",\"input\":{\"width\":8,\"height\":8,\"channels\":3},"
    "\"layers\":["
    "{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3,\"padding\":1},"           /* 0 (4,8,8) */
    "{\"type\":\"relu6\"},"                                                    /* 1 over 0 */
    "{\"type\":\"conv2d\",\"filters\":2,\"kernel\":1,\"input\":1},"             /* 2 dead end */
    "{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3,\"padding\":1,\"input\":1},"/* 3 */
    "{\"type\":\"batchnorm\"},"                                                /* 4 over 3 */
    "{\"type\":\"add\",\"from\":1},"                                           /* 5 over 4 */
    "{\"type\":\"leaky\"},"                                                    /* 6 over 5 */
    "{\"type\":\"conv2d\",\"filters\":3,\"kernel\":1},"                        /* 7 dead end */
    "{\"type\":\"scale\",\"input\":6},"                                         /* 8 (6 read later) */
    "{\"type\":\"add\",\"from\":6},"                                           /* 9 over 6 */
    "{\"type\":\"add\",\"from\":8},"                                           /* 10 over 9 */
    "{\"type\":\"maxpool\",\"kernel\":2},"                                     /* 11 (4,4,4) */
    "{\"type\":\"flatten\"},"                                                  /* 12 */
    "{\"type\":\"dense\",\"units\":5}]}";

static void expect_spec_error(const char *json, const char *needle)
{
    ft_net *net = NULL;
    ft_error err = {0};
    ft_status st = ft_net_from_json(json, &net, &err);
    if (st == FT_OK || !strstr(err.msg, needle)) {
        fprintf(stderr, "spec: %s\n  got status %d message '%s', want '%s'\n", json, st, err.msg, needle);
        fail();
    }
    assert_null(net);
    assert_null(strchr(err.msg, '\n'));
}

#define IN "\"input\":{\"width\":8,\"height\":8,\"channels\":1}"
static void test_spec_errors(void **state)
{
    (void)state;
    expect_spec_error("{", "malformed JSON");
    expect_spec_error("[]", "must be a JSON object");
    expect_spec_error("{\"layers\":[{\"type\":\"relu\"}]}", "'input' object is required");
    expect_spec_error("{\"input\":{\"width\":8,\"height\":8,\"channels\":2},\"layers\":[{\"type\":\"relu\"}]}",
                      "channels");
    expect_spec_error("{\"input\":{\"width\":0,\"height\":8,\"channels\":1},\"layers\":[{\"type\":\"relu\"}]}",
                      "'width' must be between");
    expect_spec_error("{" IN ",\"layers\":[]}", "'layers' must be an array");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"relu\"},{\"type\":\"convolution\"}]}",
                      "layer 1: unknown type 'convolution'");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"conv2d\",\"kernel\":3}]}",
                      "layer 0 (conv2d): 'filters' is required");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3,\"filtres\":2}]}",
                      "layer 0 (conv2d): 'filtres' is not a field");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"conv2d\",\"filters\":3,\"kernel\":3,\"groups\":2}]}",
                      "layer 0 (conv2d): 'groups' must divide");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"conv2d\",\"filters\":4,\"kernel\":9}]}",
                      "layer 0 (conv2d): 'kernel' is larger");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"conv2d\",\"filters\":4,\"kernel\":\"3\"}]}",
                      "'kernel' must be an integer");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3},{\"type\":\"add\",\"from\":-1}]}",
                      "layer 1 (add): 'from'");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3},{\"type\":\"add\",\"from\":-1}]}",
                      "\"zero_pad\": true adds them zero-extended");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"add\",\"from\":-1,\"zero_pad\":1}]}",
                      "layer 0 (add): 'zero_pad' must be true or false");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"relu\",\"input\":5}]}", "layer 0 (relu): 'input'");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"dropout\",\"rate\":1.5}]}", "layer 0 (dropout): 'rate'");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"dropout\"}]}", "'rate' is required");
    expect_spec_error("{" IN ",\"init\":\"zeros\",\"layers\":[{\"type\":\"relu\"}]}", "'init'");
    expect_spec_error("{" IN ",\"layerz\":[]}", "'layerz' is not a top-level field");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"pad\",\"top\":-1}]}", "layer 0 (pad): 'top' must be between");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"pad\",\"right\":1.5}]}", "layer 0 (pad): 'right' must be an integer");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"leaky\",\"alpha\":2}]}", "layer 0 (leaky): 'alpha'");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"relu6\",\"max\":5}]}", "layer 0 (relu6): 'max' is not a field");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"maxpool\",\"kernel\":2,\"padding\":\"valid\"}]}",
                      "layer 0 (maxpool): 'padding' must be an integer or \"same\"");
    expect_spec_error("{" IN ",\"layers\":[{\"type\":\"avgpool\",\"kernel\":2,\"padding\":\"same\"}]}",
                      "layer 0 (avgpool): 'padding' \"same\" is maxpool's");
    expect_spec_error("{\"input\":{\"width\":8,\"height\":7,\"channels\":1},\"layers\":[{\"type\":\"maxpool\",\"kernel\":2,\"stride\":1,\"padding\":\"same\"},{\"type\":\"maxpool\",\"kernel\":3,\"stride\":2,\"padding\":\"same\"}]}",
                      "layer 1 (maxpool): 'padding' \"same\" needs the same padding on both axes");
}

static void test_preset_seed_mnist(void **state)
{
    (void)state;
    char *spec = NULL;
    ft_error err = {0};
    assert_int_equal(ft_spec_resolve("seed-mnist", &spec, &err), FT_OK);
    ft_net *net;
    assert_int_equal(ft_net_from_json(spec, &net, &err), FT_OK);
    free(spec);
    /* 64*1*9+64 + 32*64*9+32 + 128*18432+128 */
    assert_int_equal(ft_net_param_count(net), 640 + 18464 + 2359424);
    assert_int_equal(ft_net_embed_dim(net), 128);
    assert_int_equal(ft_net_input(net)->width, 28);
    assert_int_equal(ft_spec_resolve("no-such-preset", &spec, &err) != FT_OK, 1);
    assert_non_null(strstr(err.msg, "unknown architecture"));
    ft_net_free(net);
    assert_int_equal(ft_spec_resolve("/nonexistent/spec.json", &spec, &err) != FT_OK, 1);
    assert_non_null(strstr(err.msg, "/nonexistent/spec.json"));
}

static void fill_random(float *x, size_t n, uint64_t seed)
{
    ft_rng r = ft_rng_derive(seed, 1);
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * ft_rng_uniform(&r) - 1.0f;
}

static double objective(ft_net *net, const float *x, int B, const float *R, int D)
{
    const float *e = ft_net_forward(net, x, B, 1);
    double s = 0;
    for (int i = 0; i < B * D; i++) s += (double)e[i] * R[i];
    return s;
}

/* Numerical gradient of sum(embedding .* R) w.r.t. sampled weights of every tensor. */
static void check_whole_net_gradient(const char *spec)
{
    ft_net *net;
    ft_error err = {0};
    assert_int_equal(ft_net_from_json(spec, &net, &err), FT_OK);
    ft_net_init(net, 7);
    const int B = 3, D = ft_net_embed_dim(net), isz = ft_net_input_size(net);
    assert_int_equal(ft_net_reserve(net, B, 1, &err), FT_OK);
    float *x = malloc((size_t)B * isz * sizeof(float)), *R = malloc((size_t)B * D * sizeof(float));
    fill_random(x, (size_t)B * isz, 1);
    fill_random(R, (size_t)B * D, 2);
    /* make BN/scale parameters non-trivial */
    int np;
    const ft_param *p = ft_net_params(net, &np);
    ft_rng r = ft_rng_derive(3, 3);
    for (int k = 0; k < np; k++)
        if (p[k].grad && p[k].ndim == 1)
            for (size_t i = 0; i < p[k].count; i++) p[k].data[i] += 0.3f * (ft_rng_uniform(&r) - 0.5f);
    objective(net, x, B, R, D);
    ft_net_zero_grad(net);
    ft_net_backward(net, R, B);
    const float h = 1e-3f;
    int checked = 0;
    double worst = 0;
    for (int k = 0; k < np; k++) {
        if (!p[k].grad) continue;
        size_t stride = p[k].count > 12 ? p[k].count / 12 : 1;
        for (size_t i = 0; i < p[k].count; i += stride) {
            /* Kink-aware: a perturbation can flip a max-pool argmax or a relu, so the
             * analytic gradient must match the central difference or, at a kink, one
             * of the one-sided differences (which it then matches exactly). */
            float w0 = p[k].data[i];
            double l0 = objective(net, x, B, R, D);
            p[k].data[i] = w0 + h;
            double lp = objective(net, x, B, R, D);
            p[k].data[i] = w0 - h;
            double lm = objective(net, x, B, R, D);
            p[k].data[i] = w0;
            double ana = p[k].grad[i];
            double cands[3] = {(lp - lm) / (2 * h), (lp - l0) / h, (l0 - lm) / h};
            double e = INFINITY;
            for (int c = 0; c < 3; c++) {
                double ec = fabs(cands[c] - ana) / fmax(fmax(fabs(cands[c]), fabs(ana)), 1e-2);
                if (ec < e) e = ec;
            }
            if (e > worst) worst = e;
            if (e > 2e-2)
                fprintf(stderr, "%s[%zu]: numeric %.6f (one-sided %.6f, %.6f) analytic %.6f\n", p[k].name, i,
                        cands[0], cands[1], cands[2], ana);
            assert_true(e <= 2e-2);
            checked++;
        }
    }
    fprintf(stderr, "whole-net gradient (%s): %d weights checked, worst relative error %.2e\n", ft_net_name(net),
            checked, worst);
    assert_true(checked > 50);
    free(x);
    free(R);
    ft_net_free(net);
}

static void test_whole_net_gradient(void **state)
{
    (void)state;
    check_whole_net_gradient(k_small);
}

/* The zero-padded add inside a net: shapes as face-api's residualDown, and the
 * gradient reaching both producers through it. */
static void test_zero_pad_add_net(void **state)
{
    (void)state;
    ft_net *net;
    ft_error err = {0};
    assert_int_equal(ft_net_from_json(k_zero_pad, &net, &err), FT_OK);
    char buf[160];
    ft_net_describe_layer(net, 5, buf, sizeof buf);
    assert_non_null(strstr(buf, "+ layer 3 zero-padded -> (6,5,5)"));
    ft_net_describe_layer(net, 9, buf, sizeof buf);
    assert_non_null(strstr(buf, "-> (8,2,2)"));
    ft_net_free(net);
    check_whole_net_gradient(k_zero_pad);
}

static void test_tf_same_net(void **state)
{
    (void)state;
    ft_net *net;
    ft_error err = {0};
    assert_int_equal(ft_net_from_json(k_tf_same, &net, &err), FT_OK);
    char buf[160];
    ft_net_describe_layer(net, 0, buf, sizeof buf);
    assert_non_null(strstr(buf, "t0 l0 b1 r1 -> (3,9,9)"));
    ft_net_describe_layer(net, 1, buf, sizeof buf);
    assert_non_null(strstr(buf, "-> (4,4,4)"));
    ft_net_describe_layer(net, 7, buf, sizeof buf);
    assert_non_null(strstr(buf, "2x2/1 same -> (3,4,4)"));
    ft_net_free(net);
    check_whole_net_gradient(k_tf_same);
}

/* A net reserved for inference only (activations in shared slots, element-wise layers in
 * place, the conv workspace for forward only) computes exactly what the same net reserved for
 * training (one buffer per layer) computes, at the reserved batch and below; its dead ends keep
 * their values; reserving it for training afterwards replaces the plan. */
static void check_inference_plan(const char *spec, const int *ends, int n_ends)
{
    enum { B = 3 };
    ft_net *full, *lean;
    ft_error err = {0};
    assert_int_equal(ft_net_from_json(spec, &full, &err), FT_OK);
    assert_int_equal(ft_net_from_json(spec, &lean, &err), FT_OK);
    ft_net_init(full, 5);
    ft_net_init(lean, 5);
    assert_int_equal(ft_net_reserve(full, B, 1, &err), FT_OK);
    assert_int_equal(ft_net_reserve(lean, B, 0, &err), FT_OK);
    const int isz = ft_net_input_size(full), D = ft_net_embed_dim(full);
    float *x = malloc((size_t)B * isz * sizeof(float)), *want = malloc((size_t)B * D * sizeof(float));
    assert_non_null(x);
    assert_non_null(want);
    ft_rng r = ft_rng_derive(9, 3);
    for (int i = 0; i < B * isz; i++) x[i] = 2.0f * ft_rng_uniform(&r) - 1.0f;
    for (int pass = 0; pass < 3; pass++) {
        const int b = pass == 1 ? 1 : B; /* pass 2: lean reserved for training meanwhile */
        if (pass == 2) assert_int_equal(ft_net_reserve(lean, B, 1, &err), FT_OK);
        memcpy(want, ft_net_forward(full, x, b, 0), (size_t)b * D * sizeof(float));
        const float *got = ft_net_forward(lean, x, b, 0);
        for (int i = 0; i < b * D; i++) assert_true(got[i] == want[i]);
        for (int k = 0; k < n_ends; k++) { /* the dead ends: outputs as much as the last layer */
            int c, h, w, c2, h2, w2;
            const float *a = ft_net_layer_output(full, ends[k], &c, &h, &w);
            const float *g = ft_net_layer_output(lean, ends[k], &c2, &h2, &w2);
            assert_true(a && g && c == c2 && h == h2 && w == w2);
            for (int i = 0; i < b * c * h * w; i++) assert_true(g[i] == a[i]);
        }
    }
    free(x);
    free(want);
    ft_net_free(full);
    ft_net_free(lean);
}

static void test_inference_plan(void **state)
{
    (void)state;
    /* the plan does share: in place where the comments of k_heads say so, not elsewhere */
    ft_net *net;
    ft_error err = {0};
    assert_int_equal(ft_net_from_json(k_heads, &net, &err), FT_OK);
    assert_int_equal(ft_net_reserve(net, 1, 0, &err), FT_OK);
    const float *o[14];
    int c, h, w;
    for (int i = 0; i < 14; i++) o[i] = ft_net_layer_output(net, i, &c, &h, &w);
    assert_true(o[1] == o[0] && o[4] == o[3] && o[5] == o[4] && o[6] == o[5] && o[9] == o[6] && o[10] == o[9]);
    assert_true(o[8] != o[6] && o[3] != o[1] && o[11] != o[10]);
    for (int i = 3; i < 14; i++) assert_true(o[i] != o[2]); /* no later layer writes over a dead end */
    for (int i = 8; i < 14; i++) assert_true(o[i] != o[7]);
    ft_net_free(net);
    const int heads_ends[] = {2, 7};
    check_inference_plan(k_heads, heads_ends, 2);
    check_inference_plan(k_small, NULL, 0);
    check_inference_plan(k_zero_pad, NULL, 0);
    check_inference_plan(k_tf_same, NULL, 0);
}

static void test_checkpoint_roundtrip_and_mismatch(void **state)
{
    (void)state;
    ft_net *net, *net2;
    ft_error err = {0};
    assert_int_equal(ft_net_from_json(k_small, &net, &err), FT_OK);
    ft_net_init(net, 11);
    const int B = 2, D = ft_net_embed_dim(net), isz = ft_net_input_size(net);
    float *x = malloc((size_t)B * isz * sizeof(float)), *e1 = malloc((size_t)B * D * sizeof(float)),
          *e2 = malloc((size_t)B * D * sizeof(float));
    fill_random(x, (size_t)B * isz, 5);
    /* move BN running stats away from defaults with a training forward */
    assert_int_equal(ft_net_reserve(net, B, 1, &err), FT_OK);
    ft_net_forward(net, x, B, 1);
    assert_int_equal(ft_net_embed(net, x, B, e1, &err), FT_OK);

    char dir[256], path[512];
    ft_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/m.ftw", dir);
    ft_ckpt ck;
    assert_int_equal(ft_net_to_checkpoint(net, &ck, &err), FT_OK);
    ck.threshold = 0.75f;
    assert_int_equal(ft_ckpt_write(path, &ck, &err), FT_OK);
    ft_ckpt_free(&ck);
    ft_ckpt rd;
    assert_int_equal(ft_ckpt_read(path, &rd, &err), FT_OK);
    assert_true(rd.threshold == 0.75f);
    assert_int_equal(ft_net_from_checkpoint(&rd, &net2, &err), FT_OK);
    assert_int_equal(ft_net_embed(net2, x, B, e2, &err), FT_OK);
    assert_memory_equal(e1, e2, (size_t)B * D * sizeof(float));
    ft_net_free(net2);

    /* wrong shape of one tensor */
    ft_ckpt_tensor *t = NULL;
    for (int k = 0; k < rd.n_tensors; k++)
        if (!strcmp(rd.tensors[k].name, "8.weight")) t = &rd.tensors[k];
    assert_non_null(t);
    int64_t saved = t->dims[0];
    t->dims[0] = 3;
    assert_int_equal(ft_net_from_checkpoint(&rd, &net2, &err), FT_EMISMATCH);
    assert_non_null(strstr(err.msg, "8.weight"));
    t->dims[0] = saved;
    /* renamed (so missing) tensor */
    snprintf(t->name, sizeof t->name, "8.weigth");
    assert_int_equal(ft_net_from_checkpoint(&rd, &net2, &err), FT_EMISMATCH);
    assert_non_null(strstr(err.msg, "lacks tensor '8.weight'"));
    snprintf(t->name, sizeof t->name, "8.weight");
    /* embedding size / input geometry that disagree with the spec */
    rd.embed_dim = 7;
    assert_int_equal(ft_net_from_checkpoint(&rd, &net2, &err), FT_EMISMATCH);
    assert_non_null(strstr(err.msg, "embedding size"));
    rd.embed_dim = D;
    rd.input.width = 10;
    assert_int_equal(ft_net_from_checkpoint(&rd, &net2, &err), FT_EMISMATCH);
    rd.input.width = 9;
    /* non-finite weight */
    t->data[0] = NAN;
    assert_int_equal(ft_net_from_checkpoint(&rd, &net2, &err), FT_EMISMATCH);
    assert_non_null(strstr(err.msg, "non-finite"));
    ft_ckpt_free(&rd);
    ft_test_rmtree(dir);
    free(x);
    free(e1);
    free(e2);
    ft_net_free(net);
}

static void test_describe_and_flops(void **state)
{
    (void)state;
    char *spec;
    ft_net *net;
    ft_error err = {0};
    assert_int_equal(ft_spec_resolve("seed-mnist", &spec, &err), FT_OK);
    assert_int_equal(ft_net_from_json(spec, &net, &err), FT_OK);
    free(spec);
    /* conv1 2*64*9*26*26, conv2 2*32*64*9*24*24, dense 2*18432*128 */
    double want = 2.0 * 64 * 9 * 26 * 26 + 2.0 * 32 * 64 * 9 * 24 * 24 + 2.0 * 18432 * 128;
    assert_true(fabs(ft_net_flops(net) - want) < 1.0);
    char buf[256];
    ft_net_describe_layer(net, 0, buf, sizeof buf);
    assert_non_null(strstr(buf, "conv2d"));
    assert_non_null(strstr(buf, "(64,26,26)"));
    ft_net_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_errors),
        cmocka_unit_test(test_preset_seed_mnist),
        cmocka_unit_test(test_whole_net_gradient),
        cmocka_unit_test(test_zero_pad_add_net),
        cmocka_unit_test(test_tf_same_net),
        cmocka_unit_test(test_inference_plan),
        cmocka_unit_test(test_checkpoint_roundtrip_and_mismatch),
        cmocka_unit_test(test_describe_and_flops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
