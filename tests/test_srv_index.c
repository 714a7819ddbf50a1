/* test_srv_index.c — the in-memory gallery index (server/index.c) against brute force.
 *
 * Random vectors in a few dimensions, subjects with 1..4 faces each. After every batch of
 * adds and removals, ftd_index_search must return exactly the k nearest distinct subjects
 * (by their nearest face) under the distance cap that an O(N) brute force over a shadow copy
 * finds; nearest_in_subject and subject_distance likewise. One gallery is large enough
 * (> FTD_INDEX_PARALLEL_ROWS rows) to take the multi-threaded path.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ft_test.h"
#include "index.h"

#define DIM 8

typedef struct {
    int subject;   /* -1 = removed */
    int64_t face;
    float v[DIM];
} shadow_row;

static uint64_t g_rng = 88172645463325252ull;
static float frand(void)
{
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return (float)((g_rng >> 11) * (1.0 / 9007199254740992.0)) - 0.5f;
}

static void sid(int s, char out[32]) { snprintf(out, 32, "subj-%d", s); }

static float dist(const float *a, const float *b)
{
    double d = 0;
    for (int k = 0; k < DIM; k++) d += ((double)a[k] - b[k]) * ((double)a[k] - b[k]);
    return (float)sqrt(d);
}

/* brute force: nearest distance per subject, then the k best under cap */
static int brute(const shadow_row *rows, int n, int n_subj, const float *q, int k, float cap, ftd_match *out)
{
    float *best = malloc((size_t)n_subj * sizeof(float));
    int64_t *bf = malloc((size_t)n_subj * sizeof(int64_t));
    for (int s = 0; s < n_subj; s++) best[s] = INFINITY;
    for (int i = 0; i < n; i++) {
        if (rows[i].subject < 0) continue;
        float d = dist(q, rows[i].v);
        if (d < best[rows[i].subject]) { best[rows[i].subject] = d; bf[rows[i].subject] = rows[i].face; }
    }
    int m = 0;
    for (int j = 0; j < k; j++) {
        int arg = -1;
        for (int s = 0; s < n_subj; s++)
            if (best[s] <= cap && (arg < 0 || best[s] < best[arg])) arg = s;
        if (arg < 0) break;
        sid(arg, out[m].subject_id);
        out[m].distance = best[arg];
        out[m].face_id = bf[arg];
        m++;
        best[arg] = INFINITY;
    }
    free(best);
    free(bf);
    return m;
}

static void check_search(ftd_index *ix, const shadow_row *rows, int n, int n_subj, int k, float cap)
{
    ftd_match got[FTD_MAX_K], want[FTD_MAX_K];
    for (int t = 0; t < 20; t++) {
        float q[DIM];
        for (int d = 0; d < DIM; d++) q[d] = frand();
        int64_t searched = 0;
        int ng = ftd_index_search(ix, q, k, cap, got, &searched);
        int nw = brute(rows, n, n_subj, q, k, cap, want);
        assert_int_equal(ng, nw);
        for (int i = 0; i < ng; i++) {
            assert_string_equal(got[i].subject_id, want[i].subject_id);
            assert_true(fabsf(got[i].distance - want[i].distance) < 1e-4f);
            assert_true(got[i].face_id == want[i].face_id);
        }
    }
}

static void run_gallery(int n_subj, int k, float cap)
{
    ftd_index *ix = ftd_index_new(DIM, 2);
    assert_non_null(ix);
    int cap_rows = n_subj * 4, n = 0;
    shadow_row *rows = calloc((size_t)cap_rows, sizeof *rows);
    int64_t next_face = 1;
    char id[32];
    for (int s = 0; s < n_subj; s++) {
        int faces = 1 + (int)((frand() + 0.5f) * 3.99f);
        for (int f = 0; f < faces; f++) {
            shadow_row *r = &rows[n++];
            r->subject = s;
            r->face = next_face++;
            for (int d = 0; d < DIM; d++) r->v[d] = frand();
            sid(s, id);
            assert_int_equal(ftd_index_add(ix, id, r->face, r->v), 0);
        }
    }
    int64_t nf, ns;
    ftd_index_counts(ix, &nf, &ns);
    assert_int_equal(nf, n);
    assert_int_equal(ns, n_subj);
    check_search(ix, rows, n, n_subj, k, cap);

    /* remove every 7th face and every 5th subject, then search again */
    int removed = 0;
    for (int i = 0; i < n; i += 7) {
        if (rows[i].subject < 0) continue;
        assert_int_equal(ftd_index_remove_face(ix, rows[i].face), 1);
        rows[i].subject = -1;
        removed++;
    }
    for (int s = 0; s < n_subj; s += 5) {
        int had = 0;
        for (int i = 0; i < n; i++) if (rows[i].subject == s) { rows[i].subject = -1; had++; }
        sid(s, id);
        assert_int_equal(ftd_index_remove_subject(ix, id), had);
        removed += had;
    }
    assert_int_equal(ftd_index_remove_face(ix, 999999999), 0);
    ftd_index_counts(ix, &nf, NULL);
    assert_int_equal(nf, n - removed);
    check_search(ix, rows, n, n_subj, k, cap);

    /* 1:1: nearest face of a subject, and subject vs subject */
    float q[DIM], d;
    int64_t f, fb;
    for (int dd = 0; dd < DIM; dd++) q[dd] = frand();
    for (int s = 1; s < 6; s++) {
        float bd = INFINITY;
        int64_t bface = 0;
        for (int i = 0; i < n; i++)
            if (rows[i].subject == s && dist(q, rows[i].v) < bd) { bd = dist(q, rows[i].v); bface = rows[i].face; }
        sid(s, id);
        int found = ftd_index_nearest_in_subject(ix, id, q, &d, &f);
        assert_int_equal(found, bface != 0);
        if (found) { assert_true(fabsf(d - bd) < 1e-4f); assert_true(f == bface); }
    }
    char a[32], b[32];
    sid(1, a);
    sid(2, b);
    float bd = INFINITY;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (rows[i].subject == 1 && rows[j].subject == 2 && dist(rows[i].v, rows[j].v) < bd) bd = dist(rows[i].v, rows[j].v);
    if (ftd_index_subject_distance(ix, a, b, &d, &f, &fb)) assert_true(fabsf(d - bd) < 1e-4f);
    else assert_true(isinf(bd));
    sid(0, a); /* removed above */
    assert_int_equal(ftd_index_nearest_in_subject(ix, a, q, &d, &f), 0);
    free(rows);
    ftd_index_free(ix);
}

static void test_small_gallery(void **state) { run_gallery(50, 5, 0.6f); }
static void test_all_within_cap(void **state) { run_gallery(300, 100, 10.f); }
static void test_parallel_path(void **state) { run_gallery(FTD_INDEX_PARALLEL_ROWS / 2 + 1000, 10, 0.45f); }

static void test_rejects_bad_id(void **state)
{
    ftd_index *ix = ftd_index_new(DIM, 1);
    float v[DIM] = {0};
    assert_int_equal(ftd_index_add(ix, "bad id!", 1, v), -1);
    assert_int_equal(ftd_index_add(ix, "", 1, v), -1);
    int64_t nf;
    ftd_index_counts(ix, &nf, NULL);
    assert_int_equal(nf, 0);
    ftd_match m[1];
    assert_int_equal(ftd_index_search(ix, v, 1, 1.f, m, NULL), 0);
    ftd_index_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_gallery),
        cmocka_unit_test(test_all_within_cap),
        cmocka_unit_test(test_parallel_path),
        cmocka_unit_test(test_rejects_bad_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
