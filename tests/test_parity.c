/* test_parity.c — whole-network parity with PyTorch (llm.c style).
 *
 * tests/fixtures/parity.bin is written by tools/make_parity_fixture.py (run it
 * with /usr/bin/python3, the interpreter with torch): for two small encoders
 * covering every layer type but dropout, it holds the facetwin spec, every
 * tensor's initial value, a batch of 2B images (left sides, then right sides),
 * the labels and margin, and PyTorch's results (float64 arithmetic on the
 * same float32 inputs): the training-mode embeddings, the pair distances, the
 * contrastive loss, every parameter gradient, the batchnorm running
 * statistics after the training forward, and the inference-mode embeddings.
 *
 * This test replays one training step exactly as ft_trainer_step does —
 * forward (training) on the 2B images, ft_contrastive_forward/_backward
 * between the two halves, ft_net_zero_grad, ft_net_backward — then an
 * inference forward, and compares each tensor with
 *     err = max|c - ref| / max(max|ref|, 1e-6)  <=  1e-4.
 * Every tensor is printed with its error; the worst one is named on failure.
 * A tensor missing on either side (fixture vs ft_net_params) is a failure.
 *
 * Fixture format (little-endian): "FTPARITY", u32 version (1), u32 count,
 * then count records: u16 name length, name, u8 kind (0 float32, 1 bytes),
 * u8 ndim, u32 dims[ndim], payload (prod(dims) floats, or dims[0] bytes).
 * Record names per net N: N/spec, N/w/<tensor>, N/x, N/y, N/margin,
 * N/embed_train, N/dist, N/loss, N/grad/<tensor>, N/after/<tensor>,
 * N/embed_eval (see the script's docstring).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/layers.h"
#include "facetwin/net.h"
#include "facetwin/optim.h"
#include "facetwin/train.h"
#include "ft_test.h"

#define PARITY_TOL 1e-4
#define PARITY_FLOOR 1e-6
#define PARITY_VERSION 1u
#define PARITY_MAX_DIMS 8

typedef struct {
    char name[128];
    int kind; /* 0 float32, 1 bytes */
    int ndim;
    uint32_t dims[PARITY_MAX_DIMS];
    size_t count;  /* floats (kind 0) or bytes (kind 1) */
    void *data;    /* float* (aligned copy) or char* (NUL-terminated copy) */
} record;

typedef struct {
    record *r;
    int n;
} fixture;

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float rd_f32(const unsigned char *p)
{
    uint32_t u = rd_u32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#define NEED(k)                                                                              \
    do {                                                                                     \
        if ((size_t)(k) > len - pos) fail_msg("parity fixture truncated at byte %zu", pos); \
    } while (0)

static void fixture_load(fixture *fx)
{
    char path[4096];
    ft_test_source("tests/fixtures/parity.bin", path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s (regenerate: /usr/bin/python3 tools/make_parity_fixture.py)", path);
    fseek(f, 0, SEEK_END);
    long flen = ftell(f);
    fseek(f, 0, SEEK_SET);
    assert_true(flen > 16);
    size_t len = (size_t)flen, pos = 0;
    unsigned char *buf = malloc(len);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, len, f), len);
    fclose(f);
    if (memcmp(buf, "FTPARITY", 8)) fail_msg("%s: bad magic", path);
    if (rd_u32(buf + 8) != PARITY_VERSION)
        fail_msg("%s: version %u, want %u", path, rd_u32(buf + 8), PARITY_VERSION);
    uint32_t n = rd_u32(buf + 12);
    pos = 16;
    fx->r = calloc(n ? n : 1, sizeof *fx->r);
    fx->n = (int)n;
    assert_non_null(fx->r);
    for (uint32_t i = 0; i < n; i++) {
        record *r = &fx->r[i];
        NEED(2);
        size_t nl = (size_t)buf[pos] | (size_t)buf[pos + 1] << 8;
        pos += 2;
        NEED(nl + 2);
        if (nl >= sizeof r->name) fail_msg("parity fixture: record name too long");
        memcpy(r->name, buf + pos, nl);
        pos += nl;
        r->kind = buf[pos];
        r->ndim = buf[pos + 1];
        pos += 2;
        if (r->kind > 1 || r->ndim > PARITY_MAX_DIMS) fail_msg("parity fixture: bad record '%s'", r->name);
        NEED(4 * (size_t)r->ndim);
        r->count = 1;
        for (int d = 0; d < r->ndim; d++) {
            r->dims[d] = rd_u32(buf + pos);
            pos += 4;
            r->count *= r->dims[d];
        }
        size_t bytes = r->kind ? r->count : 4 * r->count;
        NEED(bytes);
        if (r->kind) {
            char *s = malloc(r->count + 1);
            assert_non_null(s);
            memcpy(s, buf + pos, r->count);
            s[r->count] = '\0';
            r->data = s;
        } else {
            float *v = malloc((r->count ? r->count : 1) * sizeof(float));
            assert_non_null(v);
            for (size_t k = 0; k < r->count; k++) v[k] = rd_f32(buf + pos + 4 * k);
            r->data = v;
        }
        pos += bytes;
    }
    if (pos != len) fail_msg("parity fixture: %zu trailing bytes", len - pos);
    free(buf);
}

static void fixture_free(fixture *fx)
{
    for (int i = 0; i < fx->n; i++) free(fx->r[i].data);
    free(fx->r);
}

static const record *find(const fixture *fx, const char *tag, const char *what)
{
    char key[160];
    snprintf(key, sizeof key, "%s/%s", tag, what);
    for (int i = 0; i < fx->n; i++)
        if (!strcmp(fx->r[i].name, key)) return &fx->r[i];
    return NULL;
}

static const record *need(const fixture *fx, const char *tag, const char *what, int kind, size_t count)
{
    const record *r = find(fx, tag, what);
    if (!r) fail_msg("parity fixture lacks '%s/%s'", tag, what);
    if (r->kind != kind) fail_msg("parity fixture: '%s' has kind %d, want %d", r->name, r->kind, kind);
    if (count != (size_t)-1 && r->count != count)
        fail_msg("parity fixture: '%s' has %zu values, want %zu", r->name, r->count, count);
    return r;
}

static int count_prefix(const fixture *fx, const char *tag, const char *sub)
{
    char pre[64];
    snprintf(pre, sizeof pre, "%s/%s", tag, sub);
    int k = 0;
    for (int i = 0; i < fx->n; i++) k += !strncmp(fx->r[i].name, pre, strlen(pre));
    return k;
}

typedef struct {
    double worst;
    char worst_name[160];
    int compared;
} tally;

/* err = max|c - ref| / max(max|ref|, floor); prints one line and tracks the worst. */
static void compare(tally *t, const char *tag, const char *what, const float *c, const record *ref)
{
    const float *r = ref->data;
    double maxdiff = 0, maxref = 0;
    int nonfinite = 0;
    for (size_t k = 0; k < ref->count; k++) {
        if (!isfinite(c[k])) nonfinite = 1;
        double d = fabs((double)c[k] - (double)r[k]);
        if (d > maxdiff) maxdiff = d;
        if (fabs((double)r[k]) > maxref) maxref = fabs((double)r[k]);
    }
    double err = nonfinite ? INFINITY : maxdiff / fmax(maxref, PARITY_FLOOR);
    printf("  %s/%-30s n=%-5zu max|ref| %-10.4g err %.3g%s\n", tag, what, ref->count, maxref, err,
           err > PARITY_TOL ? "   <-- FAIL" : "");
    if (!(err <= t->worst) || t->compared == 0) {
        t->worst = err;
        snprintf(t->worst_name, sizeof t->worst_name, "%s/%s", tag, what);
    }
    t->compared++;
}

/* via_trainer = 0: the step spelled out (forward, loss, backward) and checked
 * stage by stage; 1: the real ft_trainer_step (SGD with lr 0, so the weights
 * stay put and the gradients it leaves behind can be compared). */
static void run_net(const char *tag, int via_trainer)
{
    fixture fx = {0};
    fixture_load(&fx);
    ft_error err = {0};
    ft_net *net = NULL;
    const record *spec = need(&fx, tag, "spec", 1, (size_t)-1);
    if (ft_net_from_json(spec->data, &net, &err)) fail_msg("%s: spec rejected: %s", tag, err.msg);

    /* weights in by name; every tensor on both sides */
    int np;
    const ft_param *P = ft_net_params(net, &np);
    char what[160];
    int n_train = 0, n_buf = 0;
    for (int k = 0; k < np; k++) {
        snprintf(what, sizeof what, "w/%s", P[k].name);
        const record *r = need(&fx, tag, what, 0, P[k].count);
        if (r->ndim != P[k].ndim) fail_msg("%s: ndim %d, the net has %d", r->name, r->ndim, P[k].ndim);
        for (int d = 0; d < P[k].ndim; d++)
            if ((int64_t)r->dims[d] != P[k].dims[d])
                fail_msg("%s: dim %d is %u, the net has %lld", r->name, d, r->dims[d],
                         (long long)P[k].dims[d]);
        memcpy(P[k].data, r->data, P[k].count * sizeof(float));
        if (P[k].grad) n_train++;
        else n_buf++;
    }
    if (count_prefix(&fx, tag, "w/") != np)
        fail_msg("%s: the fixture has %d tensors, the net %d", tag, count_prefix(&fx, tag, "w/"), np);
    if (count_prefix(&fx, tag, "grad/") != n_train)
        fail_msg("%s: the fixture has %d gradients, the net %d trainable tensors", tag,
                 count_prefix(&fx, tag, "grad/"), n_train);
    if (count_prefix(&fx, tag, "after/") != n_buf)
        fail_msg("%s: the fixture has %d running stats, the net %d buffers", tag,
                 count_prefix(&fx, tag, "after/"), n_buf);

    const ft_input_spec *in = ft_net_input(net);
    const int isz = ft_net_input_size(net), D = ft_net_embed_dim(net);
    const record *y = need(&fx, tag, "y", 0, (size_t)-1);
    const int B = (int)y->count;
    const record *x = need(&fx, tag, "x", 0, (size_t)2 * B * isz);
    if (x->ndim != 4 || x->dims[1] != (uint32_t)in->channels || x->dims[2] != (uint32_t)in->height ||
        x->dims[3] != (uint32_t)in->width)
        fail_msg("%s: images are not (2B, %d, %d, %d)", tag, in->channels, in->height, in->width);
    const float margin = ((const float *)need(&fx, tag, "margin", 0, 1)->data)[0];
    printf("net %s (%s): %d layers, %d pairs, embedding %d, %zu trainable floats, margin %g\n", tag,
           ft_net_name(net), ft_net_n_layers(net), B, D, ft_net_param_count(net), margin);

    if (ft_net_reserve(net, 2 * B, 1, &err)) fail_msg("%s: reserve: %s", tag, err.msg);
    tally t = {0};
    float *dist = calloc((size_t)B, sizeof(float));
    float *de = calloc((size_t)2 * B * D, sizeof(float));
    float *emb = calloc((size_t)2 * B * D, sizeof(float));
    assert_non_null(dist);
    assert_non_null(de);
    assert_non_null(emb);

    if (!via_trainer) {
        /* one training step, as ft_trainer_step */
        const float *e = ft_net_forward(net, x->data, 2 * B, 1);
        compare(&t, tag, "embed_train", e, need(&fx, tag, "embed_train", 0, (size_t)2 * B * D));
        float loss = ft_contrastive_forward(dist, e, e + (size_t)B * D, y->data, B, D, margin);
        compare(&t, tag, "dist", dist, need(&fx, tag, "dist", 0, (size_t)B));
        compare(&t, tag, "loss", &loss, need(&fx, tag, "loss", 0, 1));
        ft_contrastive_backward(de, de + (size_t)B * D, e, e + (size_t)B * D, y->data, B, D, margin, 1.0f);
        ft_net_zero_grad(net);
        ft_net_backward(net, de, 2 * B);
    } else {
        /* the 2B images as a labelled set; pair i = (i, B + i) */
        int32_t *lab = calloc((size_t)2 * B, sizeof *lab);
        ft_pair *pairs = calloc((size_t)B, sizeof *pairs);
        assert_non_null(lab);
        assert_non_null(pairs);
        const float *yv = y->data;
        for (int i = 0; i < B; i++) pairs[i] = (ft_pair){(uint32_t)i, (uint32_t)(B + i), yv[i] > 0.5f};
        ft_labelled set = {.n = 2 * B, .isz = isz, .x = x->data, .label = lab};
        ft_optim_config oc = ft_optim_defaults(FT_OPT_SGD);
        oc.momentum = 0.0f;
        oc.weight_decay = 0.0f;
        ft_trainer *tr = NULL;
        if (ft_trainer_new(net, &oc, B, margin, &tr, &err)) fail_msg("%s: trainer: %s", tag, err.msg);
        ft_optim_set_lr(ft_trainer_optim(tr), 0.0f);
        float loss = ft_trainer_step(tr, &set, pairs, B, 1);
        compare(&t, tag, "loss (ft_trainer_step)", &loss, need(&fx, tag, "loss", 0, 1));
        ft_trainer_free(tr);
        free(pairs);
        free(lab);
    }
    for (int k = 0; k < np; k++) {
        snprintf(what, sizeof what, "%s/%s", P[k].grad ? "grad" : "after", P[k].name);
        compare(&t, tag, what, P[k].grad ? P[k].grad : P[k].data, need(&fx, tag, what, 0, P[k].count));
    }

    /* inference: running statistics as updated by the training forward */
    const record *ee = need(&fx, tag, "embed_eval", 0, (size_t)2 * B * D);
    compare(&t, tag, "embed_eval", ft_net_forward(net, x->data, 2 * B, 0), ee);
    if (ft_net_embed(net, x->data, 2 * B, emb, &err)) fail_msg("%s: embed: %s", tag, err.msg);
    compare(&t, tag, "embed_eval (ft_net_embed)", emb, ee);

    printf("net %s: %d tensors compared, worst %s err %.3g (tolerance %g)\n", tag, t.compared,
           t.worst_name, t.worst, PARITY_TOL);
    fflush(stdout);
    free(dist);
    free(de);
    free(emb);
    ft_net_free(net);
    fixture_free(&fx);
    if (!(t.worst <= PARITY_TOL))
        fail_msg("net %s: %s differs from PyTorch: err %.3g > %g", tag, t.worst_name, t.worst, PARITY_TOL);
}

/* conv (grouped, depthwise, strided, projection), batchnorm 4-D and 2-D, relu
 * in place and not, scale, add, maxpool, avgpool with padding, gap, dense, l2norm */
static void test_parity_a(void **state)
{
    (void)state;
    run_net("a", 0);
}

/* conv without bias, a layer reading the network input, scale without bias,
 * padded maxpool, flatten, dense without bias, l2norm with eps */
static void test_parity_b(void **state)
{
    (void)state;
    run_net("b", 0);
}

/* the same step through ft_trainer_step (batch gathering, loss, backward) */
static void test_parity_trainer_step(void **state)
{
    (void)state;
    run_net("a", 1);
    run_net("b", 1);
}

/* the in-batch contrastive loss (every pair of a batch) and its gradient */
static void test_parity_batch_pairs(void **state)
{
    (void)state;
    fixture fx;
    fixture_load(&fx);
    const record *e = need(&fx, "batchpairs", "e", 0, (size_t)-1);
    const record *ids_f = need(&fx, "batchpairs", "ids", 0, (size_t)-1);
    const record *margin = need(&fx, "batchpairs", "margin", 0, 1);
    const record *loss = need(&fx, "batchpairs", "loss", 0, 1);
    const record *grad = need(&fx, "batchpairs", "grad", 0, e->count);
    int N = (int)ids_f->count, D = (int)(e->count / ids_f->count);
    int32_t *ids = malloc((size_t)N * sizeof *ids);
    float *de = calloc(e->count, sizeof *de);
    assert_non_null(ids);
    assert_non_null(de);
    for (int i = 0; i < N; i++) ids[i] = (int32_t)((const float *)ids_f->data)[i];
    float m = ((const float *)margin->data)[0];
    float l = ft_contrastive_batch_forward(e->data, ids, N, D, m, NULL, NULL);
    ft_contrastive_batch_backward(de, e->data, ids, N, D, m, 1.0f);
    tally t = {0};
    compare(&t, "batchpairs", "loss", &l, loss);
    compare(&t, "batchpairs", "grad", de, grad);
    free(ids);
    free(de);
    fixture_free(&fx);
    if (!(t.worst <= PARITY_TOL))
        fail_msg("in-batch loss: %s differs from PyTorch: err %.3g > %g", t.worst_name, t.worst, PARITY_TOL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_a),
        cmocka_unit_test(test_parity_b),
        cmocka_unit_test(test_parity_trainer_step),
        cmocka_unit_test(test_parity_batch_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
