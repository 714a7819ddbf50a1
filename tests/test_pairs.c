/* test_pairs.c — the identity-disjoint protocol's pair lists and the
 * in-batch (P x K) plans: counts, balance, no duplicates, labels right,
 * determinism by seed, caps and errors. */
#include "ft_test.h"

#include <stdlib.h>
#include <string.h>

#include "facetwin/train.h"

/* n_ids identities of per images each, in order. */
static int32_t *labels_of(int n_ids, int per)
{
    int32_t *l = malloc((size_t)n_ids * per * sizeof *l);
    for (int i = 0; i < n_ids * per; i++) l[i] = i / per;
    return l;
}

/* 1 if the two lists hold the same pairs in the same order (field by field: ft_pair has padding) */
static int same_list(const ft_pair *p, const ft_pair *q, int n)
{
    for (int i = 0; i < n; i++)
        if (p[i].a != q[i].a || p[i].b != q[i].b || p[i].same != q[i].same) return 0;
    return 1;
}

static int cmp_pair(const void *a, const void *b)
{
    const ft_pair *x = a, *y = b;
    uint32_t xa = x->a < x->b ? x->a : x->b, xb = x->a < x->b ? x->b : x->a;
    uint32_t ya = y->a < y->b ? y->a : y->b, yb = y->a < y->b ? y->b : y->a;
    return xa != ya ? (xa > ya) - (xa < ya) : (xb > yb) - (xb < yb);
}

/* 4 people x 10 images (an ORL fold): all 4 x 45 = 180 same pairs and 180
 * distinct different pairs, labels consistent, no pair twice, no self pair. */
static void test_balanced_orl_fold(void **state)
{
    (void)state;
    int32_t *l = labels_of(4, 10);
    ft_pair *p, *q;
    int n, m;
    ft_error err = {0};
    assert_status(ft_pairs_balanced(l, 40, 0, 7, &p, &n, &err), FT_OK, &err);
    assert_int_equal(n, 360);
    int pos = 0;
    for (int i = 0; i < n; i++) {
        assert_true(p[i].a < 40 && p[i].b < 40 && p[i].a != p[i].b);
        assert_int_equal(p[i].same, l[p[i].a] == l[p[i].b]);
        pos += p[i].same;
    }
    assert_int_equal(pos, 180);
    ft_pair *sorted = malloc((size_t)n * sizeof *sorted);
    memcpy(sorted, p, (size_t)n * sizeof *p);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_pair);
    for (int i = 1; i < n; i++) assert_true(cmp_pair(&sorted[i - 1], &sorted[i]) != 0);
    /* same seed: the same list; another seed: the same positives, other negatives/order */
    assert_status(ft_pairs_balanced(l, 40, 0, 7, &q, &m, &err), FT_OK, &err);
    assert_int_equal(m, n);
    assert_true(same_list(p, q, n));
    free(q);
    assert_status(ft_pairs_balanced(l, 40, 0, 8, &q, &m, &err), FT_OK, &err);
    assert_false(same_list(p, q, n));
    free(q);
    free(sorted);
    free(p);
    free(l);
}

static void test_balanced_cap_and_errors(void **state)
{
    (void)state;
    int32_t *l = labels_of(10, 10);
    ft_pair *p;
    int n;
    ft_error err = {0};
    assert_status(ft_pairs_balanced(l, 100, 50, 1, &p, &n, &err), FT_OK, &err);
    assert_int_equal(n, 100); /* 50 sampled positives + 50 negatives */
    int pos = 0;
    for (int i = 0; i < n; i++) pos += p[i].same;
    assert_int_equal(pos, 50);
    free(p);
    /* one image per identity: no positive pair at all */
    int32_t single[5] = {0, 1, 2, 3, 4};
    assert_status(ft_pairs_balanced(single, 5, 0, 1, &p, &n, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "two images");
    /* one identity: no negative */
    int32_t one[4] = {3, 3, 3, 3};
    assert_status(ft_pairs_balanced(one, 4, 0, 1, &p, &n, &err), FT_EINVAL, &err);
    /* a single-image identity still serves as a negative */
    int32_t mixed[5] = {0, 0, 0, 1, 2};
    assert_status(ft_pairs_balanced(mixed, 5, 0, 1, &p, &n, &err), FT_OK, &err);
    assert_int_equal(n, 6); /* 3 positives among identity 0, 3 of the 7 negatives */
    free(p);
    free(l);
}

/* Large sets are drawn, not enumerated: still balanced and labelled right. */
static void test_balanced_large(void **state)
{
    (void)state;
    int32_t *l = labels_of(2000, 10); /* 20,000 images: 200M different pairs */
    ft_pair *p;
    int n;
    ft_error err = {0};
    assert_status(ft_pairs_balanced(l, 20000, 5000, 3, &p, &n, &err), FT_OK, &err);
    assert_int_equal(n, 10000);
    int pos = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(p[i].same, l[p[i].a] == l[p[i].b]);
        assert_true(p[i].a != p[i].b);
        pos += p[i].same;
    }
    assert_int_equal(pos, 5000);
    free(p);
    free(l);
}

/* P x K plans: every image exactly once per epoch, batches within size, runs of
 * one identity so each batch has positives; seeded. */
static void test_group_plan(void **state)
{
    (void)state;
    int32_t *l = labels_of(32, 10);
    l[319] = 99; /* a single-image identity */
    ft_group_plan g, h;
    ft_error err = {0};
    assert_status(ft_group_plan_make(l, 320, 4, 64, 5, &g, &err), FT_OK, &err);
    assert_int_equal(g.n, 320);
    int *seen = calloc(320, sizeof *seen);
    for (int i = 0; i < g.n; i++) seen[g.order[i]]++;
    for (int i = 0; i < 320; i++) assert_int_equal(seen[i], 1);
    for (int b = 0; b < g.n_batches; b++) {
        int sz = g.start[b + 1] - g.start[b], pos = 0;
        assert_true(sz >= 1 && sz <= 64);
        for (int i = g.start[b]; i < g.start[b + 1]; i++)
            for (int j = i + 1; j < g.start[b + 1]; j++) pos += l[g.order[i]] == l[g.order[j]];
        if (sz > 8) assert_true(pos > 0);
    }
    assert_true(g.n_batches >= 5 && g.n_batches <= 7); /* 320 images in batches of <= 64 */
    assert_status(ft_group_plan_make(l, 320, 4, 64, 5, &h, &err), FT_OK, &err);
    assert_int_equal(h.n_batches, g.n_batches);
    assert_memory_equal(h.order, g.order, 320 * sizeof *g.order);
    ft_group_plan_free(&h);
    assert_status(ft_group_plan_make(l, 320, 4, 64, 6, &h, &err), FT_OK, &err);
    assert_true(memcmp(h.order, g.order, 320 * sizeof *g.order) != 0);
    ft_group_plan_free(&h);
    assert_status(ft_group_plan_make(l, 320, 1, 64, 5, &h, &err), FT_EINVAL, &err);
    assert_status(ft_group_plan_make(l, 320, 4, 6, 5, &h, &err), FT_EINVAL, &err);
    ft_group_plan_free(&g);
    free(seen);
    free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_balanced_orl_fold),
        cmocka_unit_test(test_balanced_cap_and_errors),
        cmocka_unit_test(test_balanced_large),
        cmocka_unit_test(test_group_plan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
