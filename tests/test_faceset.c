/* test_faceset.c — training batches and evaluation pairs streamed from
 * identity folders: determinism by seed, resume mid-epoch (the same batches
 * as an uninterrupted run), balance of the pairs mode, the in-batch groups'
 * labels, and the evaluation pair list. Uses six ORL identities. */
#include "ft_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/faceset.h"

static const ft_input_spec k_spec = {32, 32, 1, {0.5f}, {0.25f}};

typedef struct {
    int n_batches;
    unsigned long long sum[64];  /* per batch: a hash of its pixels and labels */
    int pos, neg;
} trace;

static unsigned long long hash_batch(const ft_batch *b, int isz)
{
    unsigned long long h = 1469598103934665603ull;
    for (size_t i = 0; i < (size_t)b->n_images * isz; i++) {
        unsigned int u;
        memcpy(&u, &b->x[i], sizeof u);
        h = (h ^ u) * 1099511628211ull;
    }
    for (int i = 0; b->ids && i < b->n_images; i++) h = (h ^ (unsigned)b->ids[i]) * 1099511628211ull;
    for (int i = 0; b->y && i < b->n_pairs; i++) h = (h ^ (unsigned)(b->y[i] > 0.5f)) * 1099511628211ull;
    return h;
}

static void run_epoch(ft_source *s, int epoch, int start, trace *t)
{
    ft_error err = {0};
    int steps;
    assert_status(s->begin_epoch(s, epoch, start, &steps, &err), FT_OK, &err);
    memset(t, 0, sizeof *t);
    for (int i = start; i < steps; i++) {
        ft_batch b;
        assert_status(s->next(s, &b, &err), FT_OK, &err);
        assert_true(b.n_images >= 2 && b.n_images <= s->max_images);
        assert_true(t->n_batches < 64);
        t->sum[t->n_batches++] = hash_batch(&b, 32 * 32);
        for (int k = 0; b.y && k < b.n_pairs; k++) {
            if (b.y[k] > 0.5f) t->pos++;
            else t->neg++;
        }
        if (b.ids) { /* every group batch holds same-identity pairs */
            int same = 0;
            for (int p = 0; p < b.n_images; p++)
                for (int q = p + 1; q < b.n_images; q++) same += b.ids[p] == b.ids[q];
            assert_true(same > 0);
        }
    }
    ft_batch end;
    assert_status(s->next(s, &end, &err), FT_OK, &err);
    assert_int_equal(end.n_images, 0);
}

static int open_orl(ft_dataset *ds, ft_idset *ids)
{
    char orl[1024];
    if (!ft_test_dataset("orl", orl, sizeof orl)) return 0;
    ft_error err = {0};
    assert_status(ft_dataset_open(orl, ds, &err), FT_OK, &err);
    assert_status(ft_dataset_find_ids(ds, "s1,s2,s3,s4,s5,s6", ids, &err), FT_OK, &err);
    return 1;
}

static ft_source *make(const ft_dataset *ds, const ft_idset *ids, ft_pairs_mode mode, int batch, uint64_t seed)
{
    ft_train_opts o;
    ft_train_opts_defaults(&o);
    o.pairs = mode;
    o.batch = batch;
    o.seed = seed;
    ft_faceset_opts fo;
    ft_faceset_opts_defaults(&fo);
    fo.aug = (ft_augment){1, 2, 0.1f, 0.1f, 0.1f};
    fo.cache_bytes = 0; /* stream: decode every time */
    ft_source *s;
    ft_error err = {0};
    assert_status(ft_source_dataset_new(ds, ids, &k_spec, &o, &fo, &s, &err), FT_OK, &err);
    return s;
}

static void test_group_batches_deterministic_and_resumable(void **state)
{
    (void)state;
    ft_dataset ds;
    ft_idset ids;
    if (!open_orl(&ds, &ids)) skip();
    ft_source *a = make(&ds, &ids, FT_PAIRS_BATCH, 16, 9), *b = make(&ds, &ids, FT_PAIRS_BATCH, 16, 9);
    ft_source *c = make(&ds, &ids, FT_PAIRS_BATCH, 16, 10);
    trace ta, tb, tc, tr;
    run_epoch(a, 3, 0, &ta);
    run_epoch(b, 3, 0, &tb);
    run_epoch(c, 3, 0, &tc);
    assert_true(ta.n_batches >= 4); /* 60 images in groups of <= 16 */
    assert_int_equal(ta.n_batches, tb.n_batches);
    assert_memory_equal(ta.sum, tb.sum, sizeof ta.sum);
    assert_true(memcmp(ta.sum, tc.sum, sizeof ta.sum) != 0);
    /* resuming at step 2 of epoch 3 gives exactly the uninterrupted run's remaining batches */
    run_epoch(b, 3, 2, &tr);
    assert_int_equal(tr.n_batches, ta.n_batches - 2);
    assert_memory_equal(tr.sum, ta.sum + 2, (size_t)tr.n_batches * sizeof ta.sum[0]);
    /* another epoch: other batches */
    run_epoch(b, 4, 0, &tb);
    assert_true(memcmp(ta.sum, tb.sum, sizeof ta.sum) != 0);
    ft_source_free(a);
    ft_source_free(b);
    ft_source_free(c);
    ft_idset_free(&ids);
    ft_dataset_free(&ds);
}

/* pairs mode: every same-identity pair (6 x 45 = 270) and as many different
 * pairs per epoch, in steps of 2B images */
static void test_pairs_epoch_balanced(void **state)
{
    (void)state;
    ft_dataset ds;
    ft_idset ids;
    if (!open_orl(&ds, &ids)) skip();
    ft_source *s = make(&ds, &ids, FT_PAIRS_ALL, 32, 1);
    trace t;
    run_epoch(s, 0, 0, &t);
    assert_int_equal(t.pos, 270);
    assert_int_equal(t.neg, 270);
    assert_int_equal(t.n_batches, (540 + 31) / 32);
    ft_source_free(s);
    ft_idset_free(&ids);
    ft_dataset_free(&ds);
}

/* evaluation pairs: 270 same + 270 different, labels consistent, the same
 * list for the same seed; distances are finite and an image pair of itself is 0 */
static void test_evalset(void **state)
{
    (void)state;
    ft_dataset ds;
    ft_idset ids;
    if (!open_orl(&ds, &ids)) skip();
    ft_faceset_opts fo;
    ft_faceset_opts_defaults(&fo);
    ft_evalset *e, *f;
    ft_error err = {0};
    assert_status(ft_evalset_dataset_new(&ds, &ids, &k_spec, 4, &fo, &e, &err), FT_OK, &err);
    assert_status(ft_evalset_dataset_new(&ds, &ids, &k_spec, 4, &fo, &f, &err), FT_OK, &err);
    assert_int_equal(e->n_images, 60);
    assert_int_equal(e->n_pairs, 540);
    for (int i = 0; i < 540; i++) { /* field by field: the struct has padding */
        assert_int_equal(e->pairs[i].a, f->pairs[i].a);
        assert_int_equal(e->pairs[i].b, f->pairs[i].b);
        assert_int_equal(e->pairs[i].same, f->pairs[i].same);
    }
    int pos = 0;
    for (int i = 0; i < e->n_pairs; i++) pos += e->pairs[i].same;
    assert_int_equal(pos, 270);
    const char *spec = "{\"name\":\"t\",\"input\":{\"width\":32,\"height\":32,\"channels\":1,\"mean\":[0.5],\"std\":[0.25]},"
                       "\"layers\":[{\"type\":\"avgpool\",\"kernel\":4},{\"type\":\"flatten\"},{\"type\":\"dense\",\"units\":8}]}";
    ft_net *net;
    assert_status(ft_net_from_json(spec, &net, &err), FT_OK, &err);
    ft_net_init(net, 1);
    float d[540];
    uint8_t same[540];
    double loss;
    assert_status(ft_evalset_distances(e, net, 1.0f, d, same, &loss, &err), FT_OK, &err);
    for (int i = 0; i < 540; i++) {
        assert_true(d[i] >= 0 && d[i] < 1e3f);
        assert_int_equal(same[i], e->pairs[i].same);
    }
    ft_net_free(net);
    ft_evalset_free(e);
    ft_evalset_free(f);
    ft_idset_free(&ids);
    ft_dataset_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_batches_deterministic_and_resumable),
        cmocka_unit_test(test_pairs_epoch_balanced),
        cmocka_unit_test(test_evalset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
