/* test_backbone.c — a head on a frozen backbone (include/facetwin/backbone.h), without the
 * face-api package: a tiny convolutional backbone checkpoint and a few synthetic identities.
 *
 *   - features: the same vectors for 1 and 2 extraction threads; mirrored copies differ;
 *     an unreadable image is an error naming it, a missing backbone names the file, a stop
 *     flag interrupts;
 *   - head training on the cached vectors: deterministic (byte-identical checkpoints), the
 *     training loss falls;
 *   - composition: the saved checkpoint round-trips, embeds an image exactly as
 *     head(backbone(image)) computed separately, keeps every backbone tensor bit for bit
 *     (frozen), carries the head's threshold and "backbone" metadata; a residual head's
 *     "from" index is shifted; a head of the wrong input size or shape is refused with both
 *     sizes / the tensor named.
 * The face-api pipeline path (detection, canvas, the fallback when no face is found) is
 * exercised through the CLI in tests/cli_backbone.sh.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/backbone.h"
#include "facetwin/model.h"
#include "ft_test.h"

#define N_IDS 6
#define N_PER 4
#define IMG_W 20
#define IMG_H 24
#define BB_DIM 8
#define HEAD_EPOCHS 25

static const char *k_backbone_spec =
    "{\"name\":\"tiny-bb\",\"input\":{\"width\":16,\"height\":16,\"channels\":1},\"layers\":["
    "{\"type\":\"conv2d\",\"filters\":6,\"kernel\":3,\"stride\":2},{\"type\":\"relu\"},{\"type\":\"flatten\"},"
    "{\"type\":\"dense\",\"units\":8}]}";
static const char *k_head_spec =
    "{\"name\":\"tiny-head\",\"input\":{\"width\":8,\"height\":1,\"channels\":1},\"layers\":["
    "{\"type\":\"dense\",\"units\":8},{\"type\":\"l2norm\"}]}";
static const char *k_residual_spec =
    "{\"name\":\"tiny-res\",\"input\":{\"width\":8,\"height\":1,\"channels\":1},\"layers\":["
    "{\"type\":\"flatten\"},{\"type\":\"dense\",\"units\":8},{\"type\":\"add\",\"from\":0},{\"type\":\"l2norm\"}]}";

typedef struct {
    char dir[512], data[600], bb[600];
} fixture;

/* N_IDS identities of N_PER images: each identity a smooth pattern of its own, each image
 * that pattern with a little seeded noise and a shift. */
static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    ft_test_tmpdir(fx->dir, sizeof fx->dir);
    ft_test_join(fx->data, sizeof fx->data, fx->dir, "data");
    ft_test_mkdir(fx->dir, "data");
    uint32_t r = 12345;
    uint8_t pix[IMG_W * IMG_H];
    for (int id = 0; id < N_IDS; id++) {
        char rel[64];
        snprintf(rel, sizeof rel, "p%d", id);
        ft_test_mkdir(fx->data, rel);
        for (int k = 0; k < N_PER; k++) {
            for (int y = 0; y < IMG_H; y++)
                for (int x = 0; x < IMG_W; x++) {
                    r = r * 1664525u + 1013904223u;
                    double v = 128 + 90 * sin(0.3 * (id + 1) * (x + k) + 0.7 * id) * cos(0.2 * (id + 2) * y);
                    v += (double)(r >> 28) - 8;
                    pix[y * IMG_W + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            snprintf(rel, sizeof rel, "data/p%d/%d.pgm", id, k);
            ft_test_write_pgm(fx->dir, rel, IMG_W, IMG_H, pix, sizeof pix);
        }
    }
    ft_error err = {0};
    ft_net *net;
    assert_status(ft_net_from_json(k_backbone_spec, &net, &err), FT_OK, &err);
    ft_net_init(net, 7);
    ft_ckpt ck;
    assert_status(ft_net_to_checkpoint(net, &ck, &err), FT_OK, &err);
    ck.threshold = 0.5f;
    ft_test_join(fx->bb, sizeof fx->bb, fx->dir, "bb.ftw");
    assert_status(ft_ckpt_write(fx->bb, &ck, &err), FT_OK, &err);
    ft_ckpt_free(&ck);
    ft_net_free(net);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    ft_test_rmtree(fx->dir);
    free(fx);
    return 0;
}

static void extract(const fixture *fx, int threads, int flip, ft_dataset *ds, ft_features *f)
{
    ft_error err = {0};
    assert_status(ft_dataset_open(fx->data, ds, &err), FT_OK, &err);
    ft_features_opts o;
    ft_features_opts_defaults(&o);
    o.threads = threads;
    o.flip = flip;
    assert_status(ft_features_extract(fx->bb, ds, &o, f, &err), FT_OK, &err);
}

static void test_features_threads(void **state)
{
    const fixture *fx = *state;
    ft_dataset ds1, ds2;
    ft_features a, b;
    extract(fx, 1, 1, &ds1, &a);
    extract(fx, 2, 1, &ds2, &b);
    assert_int_equal(a.n, N_IDS * N_PER);
    assert_int_equal(a.dim, BB_DIM);
    assert_int_equal(a.detected, 0); /* a plain encoder: whole images */
    assert_int_equal(a.n_no_face, 0);
    assert_memory_equal(a.x, b.x, (size_t)a.n * a.dim * sizeof(float));
    assert_memory_equal(a.x_flip, b.x_flip, (size_t)a.n * a.dim * sizeof(float));
    assert_memory_not_equal(a.x, a.x_flip, (size_t)a.n * a.dim * sizeof(float));
    /* the rows equal the backbone's own embedding of each file */
    ft_model m;
    ft_error err = {0};
    assert_status(ft_model_load(fx->bb, &m, &err), FT_OK, &err);
    float e[BB_DIM];
    assert_status(ft_model_embed_file(&m, ds1.paths[5], NULL, e, &err), FT_OK, &err);
    for (int k = 0; k < BB_DIM; k++) assert_float_equal(e[k], a.x[5 * BB_DIM + k], 1e-6);
    ft_model_free(&m);
    /* selection: labels are identity indices, flips appended */
    ft_idset ids = {2, (int[]){1, 4}};
    ft_labelled s;
    assert_status(ft_features_select(&a, &ds1, &ids, 1, &s, &err), FT_OK, &err);
    assert_int_equal(s.n, 2 * 2 * N_PER);
    assert_int_equal(s.label[0], 1);
    assert_int_equal(s.label[N_PER], 4);
    assert_int_equal(s.label[2 * N_PER], 1);
    assert_memory_equal(s.x + (size_t)2 * N_PER * BB_DIM, a.x_flip + (size_t)1 * N_PER * BB_DIM,
                        N_PER * BB_DIM * sizeof(float));
    ft_labelled_free(&s);
    ft_features_free(&a);
    ft_features_free(&b);
    ft_dataset_free(&ds1);
    ft_dataset_free(&ds2);
}

static void test_features_bad_image(void **state)
{
    const fixture *fx = *state;
    char dir[600], path[700];
    ft_test_join(dir, sizeof dir, fx->dir, "bad");
    ft_test_mkdir(fx->dir, "bad");
    ft_test_mkdir(dir, "a");
    ft_test_mkdir(dir, "b");
    uint8_t pix[IMG_W * IMG_H] = {0};
    ft_test_write_pgm(dir, "a/1.pgm", IMG_W, IMG_H, pix, sizeof pix);
    ft_test_write_pgm(dir, "a/2.pgm", IMG_W, IMG_H, pix, sizeof pix);
    ft_test_write_pgm(dir, "b/1.pgm", IMG_W, IMG_H, pix, 10); /* truncated */
    ft_dataset ds;
    ft_error err = {0};
    assert_status(ft_dataset_open(dir, &ds, &err), FT_OK, &err);
    ft_features_opts o;
    ft_features_opts_defaults(&o);
    o.threads = 2;
    ft_features f;
    assert_int_not_equal(ft_features_extract(fx->bb, &ds, &o, &f, &err), FT_OK);
    assert_msg_has(&err, "b/1.pgm");
    assert_null(f.x);
    volatile sig_atomic_t stop = 1; /* Ctrl-C: interrupted, nothing returned */
    o.stop = &stop;
    assert_int_equal(ft_features_extract(fx->bb, &ds, &o, &f, &err), FT_EINTERRUPTED);
    assert_null(f.x);
    o.stop = NULL;
    snprintf(path, sizeof path, "%s/missing.ftw", fx->dir);
    assert_int_equal(ft_features_extract(path, &ds, &o, &f, &err), FT_EIO);
    assert_msg_has(&err, "missing.ftw");
    ft_dataset_free(&ds);
}

typedef struct {
    float first, last;
} losses;

static void on_progress(const ft_train_progress *p, void *ctx)
{
    losses *l = ctx;
    if (!p->epoch_done) return;
    if (p->epoch == 0) l->first = p->train_loss;
    l->last = p->train_loss;
}

/* Trains the head spec on identities 0..3 (validation 4, 5) and writes it to path. */
static void train_head(const fixture *fx, const char *spec, const char *path, losses *l, ft_ckpt *head)
{
    ft_dataset ds;
    ft_features f;
    extract(fx, 2, 1, &ds, &f);
    ft_error err = {0};
    ft_idset tr = {4, (int[]){0, 1, 2, 3}}, va = {2, (int[]){4, 5}};
    ft_labelled trs, vas;
    assert_status(ft_features_select(&f, &ds, &tr, 1, &trs, &err), FT_OK, &err);
    assert_status(ft_features_select(&f, &ds, &va, 0, &vas, &err), FT_OK, &err);
    ft_net *net;
    assert_status(ft_net_from_json(spec, &net, &err), FT_OK, &err);
    assert_status(ft_head_check(net, f.dim, &err), FT_OK, &err);
    ft_net_init(net, 3);
    ft_train_opts o;
    ft_train_opts_defaults(&o);
    o.opt = ft_optim_defaults(FT_OPT_ADAM);
    o.opt.lr = 1e-2f;
    o.epochs = HEAD_EPOCHS;
    o.pairs = FT_PAIRS_BATCH;
    o.batch = 16;
    o.per_class = 4;
    o.seed = 5;
    o.out_path = path;
    o.progress = on_progress;
    o.progress_ctx = l;
    ft_source *src;
    ft_evalset *vs;
    assert_status(ft_source_labelled_new(&trs, &o, &src, &err), FT_OK, &err);
    assert_status(ft_evalset_features_new(&vas, o.seed ^ FT_VAL_PAIRS_TAG, &vs, &err), FT_OK, &err);
    assert_int_equal(vs->n_identities, 2);
    assert_int_equal(vs->n_pairs, 2 * (N_PER * (N_PER - 1) / 2) * 2);
    ft_train_result res;
    assert_status(ft_train_source(net, src, vs, &o, &res, &err), FT_OK, &err);
    assert_status(ft_ckpt_read(path, head, &err), FT_OK, &err);
    ft_source_free(src);
    ft_evalset_free(vs);
    ft_net_free(net);
    ft_labelled_free(&trs);
    ft_labelled_free(&vas);
    ft_features_free(&f);
    ft_dataset_free(&ds);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc(*n);
    assert_int_equal(fread(b, 1, *n, fp), *n);
    fclose(fp);
    return b;
}

static void test_head_training_deterministic(void **state)
{
    const fixture *fx = *state;
    char p1[700], p2[700];
    snprintf(p1, sizeof p1, "%s/h1.ftw", fx->dir);
    snprintf(p2, sizeof p2, "%s/h2.ftw", fx->dir);
    losses l1 = {0}, l2 = {0};
    ft_ckpt h1, h2;
    train_head(fx, k_head_spec, p1, &l1, &h1);
    train_head(fx, k_head_spec, p2, &l2, &h2);
    size_t n1, n2;
    uint8_t *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    print_message("training loss %.5f (epoch 1) -> %.5f (epoch %d)\n", l1.first, l1.last, HEAD_EPOCHS);
    assert_true(l1.last < 0.7f * l1.first); /* the loss falls */
    assert_true(h1.threshold > 0 && h1.threshold < 2); /* calibrated on the validation pairs */
    free(b1);
    free(b2);
    ft_ckpt_free(&h1);
    ft_ckpt_free(&h2);
}

/* The composed checkpoint against head(backbone(image)) computed separately. */
static void check_composed(const fixture *fx, const char *spec, const char *name, int n_head_layers)
{
    char hp[700], cp[700];
    snprintf(hp, sizeof hp, "%s/%s-head.ftw", fx->dir, name);
    snprintf(cp, sizeof cp, "%s/%s-all.ftw", fx->dir, name);
    losses l = {0};
    ft_ckpt head, bb, all, back;
    train_head(fx, spec, hp, &l, &head);
    ft_error err = {0};
    assert_status(ft_ckpt_read(fx->bb, &bb, &err), FT_OK, &err);
    assert_status(ft_backbone_compose(&bb, &head, &all, &err), FT_OK, &err);
    assert_status(ft_ckpt_write(cp, &all, &err), FT_OK, &err);
    assert_status(ft_ckpt_read(cp, &back, &err), FT_OK, &err);
    assert_int_equal(back.n_tensors, all.n_tensors);
    assert_string_equal(back.spec_json, all.spec_json);
    assert_float_equal(back.threshold, head.threshold, 0);
    /* frozen: every backbone tensor is in the result, bit for bit */
    for (int i = 0; i < bb.n_tensors; i++) {
        const ft_ckpt_tensor *t = ft_ckpt_find(&back, bb.tensors[i].name);
        assert_non_null(t);
        assert_int_equal(t->count, bb.tensors[i].count);
        assert_memory_equal(t->data, bb.tensors[i].data, t->count * sizeof(float));
    }
    /* the head's layers follow the backbone's 4 */
    ft_net *bn, *hn;
    ft_model m;
    assert_status(ft_net_from_checkpoint(&bb, &bn, &err), FT_OK, &err);
    assert_status(ft_net_from_checkpoint(&head, &hn, &err), FT_OK, &err);
    assert_status(ft_model_load(cp, &m, &err), FT_OK, &err);
    assert_int_equal(ft_net_n_layers(m.net), ft_net_n_layers(bn) + n_head_layers);
    assert_float_equal(m.threshold, head.threshold, 0);
    cJSON *meta = cJSON_Parse(m.meta_json);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(meta, "backbone");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "frozen")));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(b, "layers")->valueint, ft_net_n_layers(bn));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(meta, "calibration"));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(meta, "training"));
    assert_non_null(strstr(m.model_id, "tiny-bb+"));
    cJSON_Delete(meta);
    ft_dataset ds;
    assert_status(ft_dataset_open(fx->data, &ds, &err), FT_OK, &err);
    for (int i = 0; i < ds.n_images; i += 5) {
        float whole[BB_DIM], feat[BB_DIM], sep[BB_DIM];
        assert_status(ft_model_embed_file(&m, ds.paths[i], NULL, whole, &err), FT_OK, &err);
        float *x = malloc((size_t)ft_net_input_size(bn) * sizeof(float));
        ft_image img;
        assert_status(ft_image_load(ds.paths[i], NULL, &img, &err), FT_OK, &err);
        assert_status(ft_image_to_input(&img, ft_net_input(bn), x, &err), FT_OK, &err);
        assert_status(ft_net_embed(bn, x, 1, feat, &err), FT_OK, &err);
        assert_status(ft_net_embed(hn, feat, 1, sep, &err), FT_OK, &err);
        for (int k = 0; k < BB_DIM; k++) assert_float_equal(whole[k], sep[k], 1e-6);
        ft_image_free(&img);
        free(x);
    }
    ft_dataset_free(&ds);
    ft_model_free(&m);
    ft_net_free(bn);
    ft_net_free(hn);
    ft_ckpt_free(&head);
    ft_ckpt_free(&bb);
    ft_ckpt_free(&all);
    ft_ckpt_free(&back);
}

static void test_compose_dense(void **state) { check_composed(*state, k_head_spec, "dense", 2); }
static void test_compose_residual(void **state) { check_composed(*state, k_residual_spec, "residual", 4); }

static void test_head_refused(void **state)
{
    const fixture *fx = *state;
    ft_error err = {0};
    ft_ckpt bb;
    assert_status(ft_ckpt_read(fx->bb, &bb, &err), FT_OK, &err);
    /* input size: both sizes named */
    ft_net *net;
    assert_status(ft_net_from_json("{\"name\":\"wide\",\"input\":{\"width\":16,\"height\":1,\"channels\":1},"
                                   "\"layers\":[{\"type\":\"dense\",\"units\":4}]}",
                                   &net, &err),
                  FT_OK, &err);
    assert_status(ft_head_check(net, BB_DIM, &err), FT_EMISMATCH, &err);
    assert_msg_has(&err, "takes 16 values per input, the backbone's embedding has 8");
    ft_ckpt head;
    assert_status(ft_net_to_checkpoint(net, &head, &err), FT_OK, &err);
    ft_ckpt out;
    assert_status(ft_backbone_compose(&bb, &head, &out, &err), FT_EMISMATCH, &err);
    assert_msg_has(&err, "16");
    ft_ckpt_free(&head);
    ft_net_free(net);
    /* right size, wrong shape: a per-channel layer sees 1 channel alone, 8 after the backbone */
    assert_status(ft_net_from_json("{\"name\":\"bn\",\"input\":{\"width\":8,\"height\":1,\"channels\":1},"
                                   "\"layers\":[{\"type\":\"batchnorm\"},{\"type\":\"dense\",\"units\":4}]}",
                                   &net, &err),
                  FT_OK, &err);
    assert_status(ft_net_to_checkpoint(net, &head, &err), FT_OK, &err);
    assert_status(ft_backbone_compose(&bb, &head, &out, &err), FT_EMISMATCH, &err);
    assert_msg_has(&err, "does not fit the backbone");
    assert_null(out.tensors);
    ft_ckpt_free(&head);
    ft_net_free(net);
    ft_ckpt_free(&bb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_features_threads),
        cmocka_unit_test(test_features_bad_image),
        cmocka_unit_test(test_head_training_deterministic),
        cmocka_unit_test(test_compose_dense),
        cmocka_unit_test(test_compose_residual),
        cmocka_unit_test(test_head_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
