/* test_train.c — pairs, optimisers, plateau, metrics, and the training loop's
 * determinism and bit-exact resume, on a tiny synthetic labelled set. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/image.h"
#include "facetwin/metrics.h"
#include "facetwin/optim.h"
#include "facetwin/train.h"
#include "augment.h"
#include "ft_test.h"
#include "rng.h"

/* ---- pairs ------------------------------------------------------------- */

static void test_pairs_keras_counts(void **state)
{
    (void)state;
    /* class sizes 5, 3, 4 -> n = min - 1 = 2 -> 3 classes * 2 * 2 = 12 pairs */
    int32_t lab[12] = {0, 1, 0, 2, 0, 1, 2, 0, 2, 1, 0, 2};
    ft_pair *p;
    int n;
    ft_error err = {0};
    assert_int_equal(ft_pairs_keras(lab, 12, 1, &p, &n, &err), FT_OK);
    assert_int_equal(n, 12);
    /* class 0 items in order: 0,2,4,7,10 -> first positive (0,2), negatives start at item 0 */
    assert_int_equal(p[0].a, 0);
    assert_int_equal(p[0].b, 2);
    assert_int_equal(p[0].same, 1);
    assert_int_equal(p[1].a, 0);
    assert_int_equal(p[1].same, 0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(p[i].same, i % 2 == 0);
        assert_int_equal(lab[p[i].a] == lab[p[i].b], p[i].same);
        assert_true(p[i].a != p[i].b);
    }
    ft_pair *q;
    int n2;
    assert_int_equal(ft_pairs_keras(lab, 12, 1, &q, &n2, &err), FT_OK);
    assert_memory_equal(p, q, (size_t)n * sizeof *p); /* deterministic */
    free(p);
    free(q);
    int32_t one[3] = {0, 0, 0};
    assert_int_not_equal(ft_pairs_keras(one, 3, 1, &p, &n, &err), FT_OK);
}

static void test_pairs_random_balance(void **state)
{
    (void)state;
    int32_t lab[40];
    for (int i = 0; i < 40; i++) lab[i] = i % 7;
    ft_pair *p, *q, *r;
    ft_error err = {0};
    assert_int_equal(ft_pairs_random(lab, 40, 1000, 9, &p, &err), FT_OK);
    int pos = 0;
    for (int i = 0; i < 1000; i++) {
        pos += p[i].same;
        assert_int_equal(lab[p[i].a] == lab[p[i].b], p[i].same);
        assert_true(p[i].a != p[i].b);
        assert_true(p[i].a < 40 && p[i].b < 40);
    }
    assert_int_equal(pos, 500);
    assert_int_equal(ft_pairs_random(lab, 40, 1000, 9, &q, &err), FT_OK);
    assert_memory_equal(p, q, 1000 * sizeof *p);
    assert_int_equal(ft_pairs_random(lab, 40, 1000, 10, &r, &err), FT_OK);
    assert_true(memcmp(p, r, 1000 * sizeof *p) != 0);
    free(p);
    free(q);
    free(r);
    int32_t single[4] = {0, 1, 2, 3}; /* no class with two images */
    assert_int_not_equal(ft_pairs_random(single, 4, 10, 1, &p, &err), FT_OK);
}

/* ---- metrics (hand-computed) -------------------------------------------- */

static void test_metrics_hand_computed(void **state)
{
    (void)state;
    /* same: 0.1, 0.4; different: 0.3, 0.9.
     * accuracy at 0.5: 0.1 ok, 0.4 ok, 0.3 wrongly accepted, 0.9 ok -> 3/4.
     * AUC: 0.1 beats both negatives (2), 0.4 beats only 0.9 (1) -> 3/4.
     * best: accept {0.1} -> 3/4 (nothing better). EER: after 0.3, FAR = FRR = 1/2. */
    float d[4] = {0.1f, 0.4f, 0.3f, 0.9f};
    uint8_t s[4] = {1, 1, 0, 0};
    ft_pair_metrics m;
    ft_error err = {0};
    assert_int_equal(ft_pair_metrics_compute(d, s, 4, 0.5f, &m, &err), FT_OK);
    assert_true(fabs(m.accuracy - 0.75) < 1e-12);
    assert_true(fabs(m.auc - 0.75) < 1e-12);
    assert_true(fabs(m.best_accuracy - 0.75) < 1e-12);
    assert_true(fabs(m.eer - 0.5) < 1e-12);
    assert_true(fabs(m.far - 0.5) < 1e-12 && fabs(m.frr - 0.0) < 1e-12);
    assert_int_equal(m.positives, 2);
    /* perfectly separated -> AUC 1, best accuracy 1, EER 0, best threshold between */
    float d2[4] = {0.1f, 0.2f, 0.6f, 0.7f};
    assert_int_equal(ft_pair_metrics_compute(d2, s, 4, 0.5f, &m, &err), FT_OK);
    assert_true(m.auc == 1.0 && m.best_accuracy == 1.0 && m.eer == 0.0);
    assert_true(m.best_threshold > 0.2f && m.best_threshold < 0.6f);
    /* all tied -> AUC 1/2 */
    float d3[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    assert_int_equal(ft_pair_metrics_compute(d3, s, 4, 0.5f, &m, &err), FT_OK);
    assert_true(fabs(m.auc - 0.5) < 1e-12);
    uint8_t allsame[4] = {1, 1, 1, 1};
    assert_int_equal(ft_pair_metrics_compute(d, allsame, 4, 0.5f, &m, &err), FT_EINVAL);
}

/* ---- optimisers (one weight, hand-computed) ------------------------------ */

static const char *k_one = "{\"input\":{\"width\":1,\"height\":1,\"channels\":1},"
                           "\"layers\":[{\"type\":\"dense\",\"units\":1,\"bias\":false}]}";

static float step_once(ft_opt_kind kind, float wd, int steps)
{
    ft_net *net;
    ft_error err = {0};
    assert_int_equal(ft_net_from_json(k_one, &net, &err), FT_OK);
    ft_optim_config c = ft_optim_defaults(kind);
    c.weight_decay = wd;
    ft_optim *o;
    assert_int_equal(ft_optim_new(&c, net, &o, &err), FT_OK);
    ft_net_weights(net)[0] = 1.0f;
    for (int i = 0; i < steps; i++) {
        ft_net_grads(net)[0] = 0.5f;
        ft_optim_step(o, net);
    }
    float w = ft_net_weights(net)[0];
    ft_optim_free(o);
    ft_net_free(net);
    return w;
}

static void test_optimisers_hand_computed(void **state)
{
    (void)state;
    /* rmsprop: v = 0.1*0.25 = 0.025; w = 1 - 1e-3*0.5/(sqrt(0.025)+1e-7) */
    assert_true(fabs(step_once(FT_OPT_RMSPROP, 0, 1) - (1.0 - 1e-3 * 0.5 / (sqrt(0.025) + 1e-7))) < 1e-6);
    /* adam step 1: mhat = g, vhat = g^2 -> w = 1 - lr * 0.5/(0.5+eps) ~ 0.999 */
    assert_true(fabs(step_once(FT_OPT_ADAM, 0, 1) - (1.0 - 1e-3 * 0.5 / (0.5 + 1e-7))) < 1e-6);
    /* sgd momentum 0.9, lr 1e-2: u1 = .5 -> w = .995; u2 = .95 -> w = .9855 */
    assert_true(fabs(step_once(FT_OPT_SGD, 0, 1) - 0.995) < 1e-6);
    assert_true(fabs(step_once(FT_OPT_SGD, 0, 2) - 0.9855) < 1e-6);
    /* weight decay 0.1 on the dense weight: g = 0.5 + 0.1*1 = 0.6 -> w = 1 - 0.006 */
    assert_true(fabs(step_once(FT_OPT_SGD, 0.1f, 1) - 0.994) < 1e-6);
    ft_opt_kind k;
    ft_error err = {0};
    assert_int_equal(ft_opt_kind_parse("adamw", &k, &err), FT_EINVAL);
    assert_non_null(strstr(err.msg, "adamw"));
}

static void test_plateau(void **state)
{
    (void)state;
    ft_plateau p;
    ft_plateau_init(&p, 0.1f, 2, 1e-5f);
    float lr = 1e-3f;
    lr = ft_plateau_update(&p, 1.0f, lr); /* best */
    lr = ft_plateau_update(&p, 1.0f, lr); /* wait 1 */
    assert_true(lr == 1e-3f);
    lr = ft_plateau_update(&p, 1.0f, lr); /* wait 2 -> reduce */
    assert_true(fabsf(lr - 1e-4f) < 1e-9f);
    lr = ft_plateau_update(&p, 0.5f, lr); /* improvement resets */
    lr = ft_plateau_update(&p, 0.6f, lr);
    lr = ft_plateau_update(&p, 0.6f, lr); /* -> 1e-5 */
    lr = ft_plateau_update(&p, 0.6f, lr);
    lr = ft_plateau_update(&p, 0.6f, lr); /* floor at min_lr */
    assert_true(fabsf(lr - 1e-5f) < 1e-10f);
}

/* ---- the training loop ------------------------------------------------- */

/* 4 classes of 8x8 images: a class-specific pattern plus noise. */
static void make_set(ft_labelled *s, int n, uint64_t seed)
{
    s->n = n;
    s->isz = 64;
    s->x = malloc((size_t)n * 64 * sizeof(float));
    s->label = malloc((size_t)n * sizeof(int32_t));
    ft_rng r = ft_rng_derive(seed, 77);
    for (int i = 0; i < n; i++) {
        int c = i % 4;
        s->label[i] = c;
        for (int k = 0; k < 64; k++) {
            int y = k / 8, x = k % 8;
            float base = (c == 0) ? (x < 4) : (c == 1) ? (y < 4) : (c == 2) ? ((x + y) % 2) : (x == y || x + y == 7);
            s->x[(size_t)i * 64 + k] = base + 0.3f * (ft_rng_uniform(&r) - 0.5f);
        }
    }
}

/* The in-memory source's --shift: each gathered image of the shifted source is the unshifted
 * source's (same seed: same pairs, same order) moved by some (dx, dy) within the shift, some
 * of them really moved; the same seed and epoch give the same bytes, another epoch other moves;
 * --pairs keras never shifts; a set of unknown size or a shift as large as the image is refused. */
static ft_source *shift_source(ft_labelled *set, ft_pairs_mode mode, int shift)
{
    ft_train_opts o;
    ft_train_opts_defaults(&o);
    o.pairs = mode, o.batch = 8, o.per_class = 2, o.seed = 7, o.shift = shift;
    ft_source *src = NULL;
    ft_error err = {0};
    assert_status(ft_source_labelled_new(set, &o, &src, &err), FT_OK, &err);
    return src;
}

/* the first batch of epoch `epoch`: its images copied into out (room for max_images) */
static int first_batch(ft_source *src, int epoch, float *out, int isz)
{
    ft_error err = {0};
    int steps = 0;
    ft_batch b;
    assert_status(src->begin_epoch(src, epoch, 0, &steps, &err), FT_OK, &err);
    assert_status(src->next(src, &b, &err), FT_OK, &err);
    memcpy(out, b.x, (size_t)b.n_images * isz * sizeof(float));
    return b.n_images;
}

static void test_source_shift(void **state)
{
    (void)state;
    ft_labelled set;
    make_set(&set, 24, 5);
    set.width = set.height = 8;
    float a[16 * 64], b[16 * 64], c[16 * 64], moved[64], tmp[64];
    for (int mode = 0; mode < 2; mode++) {
        const ft_pairs_mode pm = mode ? FT_PAIRS_BATCH : FT_PAIRS_ALL;
        ft_source *plain = shift_source(&set, pm, 0), *sh = shift_source(&set, pm, 2), *sh2 = shift_source(&set, pm, 2);
        const int n = first_batch(plain, 0, a, 64);
        assert_int_equal(first_batch(sh, 0, b, 64), n);
        assert_int_equal(first_batch(sh2, 0, c, 64), n);
        assert_memory_equal(b, c, (size_t)n * 64 * sizeof(float)); /* seeded */
        int really = 0;
        for (int k = 0; k < n; k++) {
            int found = 0;
            for (int dy = -2; dy <= 2 && !found; dy++)
                for (int dx = -2; dx <= 2 && !found; dx++) {
                    memcpy(moved, a + k * 64, sizeof moved);
                    ft_shift_image(moved, tmp, 1, 8, 8, dx, dy);
                    if (!memcmp(moved, b + k * 64, sizeof moved)) found = 1, really += dx || dy;
                }
            assert_true(found);
        }
        assert_true(really > 0);
        first_batch(sh2, 1, c, 64); /* epoch 1: other pairs and moves; its shifts differ from epoch 0's */
        assert_true(memcmp(b, c, (size_t)n * 64 * sizeof(float)) != 0);
        ft_source_free(plain), ft_source_free(sh), ft_source_free(sh2);
    }
    ft_source *kp = shift_source(&set, FT_PAIRS_KERAS, 0), *ks = shift_source(&set, FT_PAIRS_KERAS, 2);
    const int n = first_batch(kp, 0, a, 64);
    assert_int_equal(first_batch(ks, 0, b, 64), n);
    assert_memory_equal(a, b, (size_t)n * 64 * sizeof(float));
    ft_source_free(kp), ft_source_free(ks);

    ft_train_opts o;
    ft_train_opts_defaults(&o);
    o.shift = 8; /* as large as the 8x8 image */
    ft_source *src = NULL;
    ft_error err = {0};
    assert_int_equal(ft_source_labelled_new(&set, &o, &src, &err), FT_EINVAL);
    assert_null(src);
    set.width = set.height = 0; /* size unknown */
    o.shift = 1;
    assert_int_equal(ft_source_labelled_new(&set, &o, &src, &err), FT_EINVAL);
    ft_labelled_free(&set);
}

static const char *k_tiny = "{\"name\":\"tiny\",\"input\":{\"width\":8,\"height\":8,\"channels\":1},"
                            "\"layers\":[{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3},{\"type\":\"relu\"},"
                            "{\"type\":\"maxpool\",\"kernel\":2},{\"type\":\"flatten\"},"
                            "{\"type\":\"dropout\",\"rate\":0.1},{\"type\":\"dense\",\"units\":8}]}";

typedef struct {
    int calls, stop_at;
    volatile sig_atomic_t *stop;
    float first_loss, last_loss;
} prog;

static void on_prog(const ft_train_progress *p, void *v)
{
    prog *g = v;
    if (p->epoch_done) {
        if (p->epoch == 0) g->first_loss = p->train_loss;
        g->last_loss = p->train_loss;
        return;
    }
    if (++g->calls == g->stop_at && g->stop) *g->stop = 1;
}

static ft_status run(const char *out, uint64_t seed, int stop_at, const char *resume, float *first, float *last,
                     ft_error *err)
{
    ft_labelled tr, va;
    make_set(&tr, 96, 1);
    make_set(&va, 32, 2);
    ft_net *net;
    assert_int_equal(ft_net_from_json(k_tiny, &net, err), FT_OK);
    ft_net_init(net, seed);
    ft_train_opts o;
    ft_train_opts_defaults(&o);
    o.epochs = 4;
    o.batch = 16;
    o.seed = seed;
    o.out_path = out;
    o.resume_path = resume;
    o.opt = ft_optim_defaults(FT_OPT_ADAM);
    o.opt.lr = 3e-3f;
    o.plateau_factor = 0.5f;
    o.plateau_patience = 1;
    volatile sig_atomic_t stop = 0;
    prog g = {0, stop_at, &stop, NAN, NAN};
    o.progress = on_prog;
    o.progress_ctx = &g;
    o.stop = &stop;
    ft_train_result res;
    ft_status st = ft_train(net, &tr, &va, &o, &res, err);
    if (first) *first = g.first_loss;
    if (last) *last = g.last_loss;
    ft_net_free(net);
    ft_labelled_free(&tr);
    ft_labelled_free(&va);
    return st;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    uint8_t *b = NULL;
    ft_error err = {0};
    if (ft_read_file(path, 1u << 28, &b, n, &err) != FT_OK) fprintf(stderr, "%s\n", err.msg);
    return b;
}

static void test_train_learns_and_is_deterministic(void **state)
{
    (void)state;
    char dir[256], a[512], b[512], c[512];
    ft_test_tmpdir(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/a.ftw", dir);
    snprintf(b, sizeof b, "%s/b.ftw", dir);
    snprintf(c, sizeof c, "%s/c.ftw", dir);
    ft_error err = {0};
    float f1, l1, f2, l2;
    assert_int_equal(run(a, 3, -1, NULL, &f1, &l1, &err), FT_OK);
    assert_int_equal(run(b, 3, -1, NULL, &f2, &l2, &err), FT_OK);
    assert_true(l1 < f1); /* it learns */
    assert_true(f1 == f2 && l1 == l2);
    size_t na, nb, nc;
    uint8_t *ba = slurp(a, &na), *bb = slurp(b, &nb);
    assert_non_null(ba);
    assert_int_equal(na, nb);
    assert_memory_equal(ba, bb, na); /* bit-identical checkpoints */
    assert_int_equal(run(c, 4, -1, NULL, NULL, NULL, &err), FT_OK);
    uint8_t *bc = slurp(c, &nc);
    assert_true(nc != na || memcmp(ba, bc, na) != 0); /* another seed differs */
    free(ba);
    free(bb);
    free(bc);
    ft_test_rmtree(dir);
}

static void test_train_interrupt_and_resume_bit_exact(void **state)
{
    (void)state;
    char dir[256], a[512], b[512], res[600];
    ft_test_tmpdir(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/a.ftw", dir);
    snprintf(b, sizeof b, "%s/b.ftw", dir);
    snprintf(res, sizeof res, "%s%s", b, FT_RESUME_SUFFIX);
    ft_error err = {0};
    assert_int_equal(run(a, 5, -1, NULL, NULL, NULL, &err), FT_OK);
    /* 192 pairs / 16 = 12 steps per epoch: stop in the middle of epoch 2 */
    assert_int_equal(run(b, 5, 17, NULL, NULL, NULL, &err), FT_EINTERRUPTED);
    assert_non_null(strstr(err.msg, "interrupted"));
    size_t n;
    uint8_t *r = slurp(res, &n);
    assert_non_null(r);
    free(r);
    assert_int_equal(run(b, 5, -1, res, NULL, NULL, &err), FT_OK);
    size_t na, nb;
    uint8_t *ba = slurp(a, &na), *bb = slurp(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(ba, bb, na);
    free(ba);
    free(bb);
    /* the .resume file is removed after a successful run */
    FILE *f = fopen(res, "rb");
    assert_null(f);
    /* a model file (no training state) is refused as a resume source */
    assert_int_equal(run(b, 5, -1, a, NULL, NULL, &err), FT_EMISMATCH);
    assert_non_null(strstr(err.msg, "not a resumable checkpoint"));
    ft_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pairs_keras_counts),
        cmocka_unit_test(test_pairs_random_balance),
        cmocka_unit_test(test_metrics_hand_computed),
        cmocka_unit_test(test_optimisers_hand_computed),
        cmocka_unit_test(test_plateau),
        cmocka_unit_test(test_source_shift),
        cmocka_unit_test(test_train_learns_and_is_deterministic),
        cmocka_unit_test(test_train_interrupt_and_resume_bit_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
