/* test_loss.c — the contrastive loss and ft_distance against numbers worked
 * out by hand (the arithmetic is in the comment above each check).
 *
 *   d    = sqrt(max(sum_k (a_k - b_k)^2, 1e-7))
 *   loss = mean_i [ y_i d_i^2 + (1 - y_i) max(margin - d_i, 0)^2 ]
 */
#include "ft_test.h"

#include <math.h>

#include "facetwin/layers.h"

#define TOL 1e-6 /* relative, floor 1e-6 */

static void assert_close(double got, double want)
{
    double e = ft_test_relerr(got, want, 1e-6);
    if (!(e <= TOL)) print_message("got %.9g, want %.9g\n", got, want);
    assert_true(e <= TOL);
}

static const float k_zero[2] = {0.0f, 0.0f};
static const float k_far[2] = {3.0f, 4.0f};    /* |k_far - 0| = sqrt(9 + 16) = 5 */
static const float k_near[2] = {0.3f, 0.4f};   /* sqrt(0.09 + 0.16) = sqrt(0.25) = 0.5 */

static void test_same_pair(void **state)
{
    (void)state;
    float y = 1, dist;
    /* y = 1, d = 5: loss = d^2 = 25 */
    assert_close(ft_contrastive_forward(&dist, k_zero, k_far, &y, 1, 2, 1.0f), 25.0);
    assert_close(dist, 5.0);
    /* y = 1, d = 0.5: loss = 0.25 (the margin plays no part) */
    assert_close(ft_contrastive_forward(NULL, k_zero, k_near, &y, 1, 2, 1.0f), 0.25);
    assert_close(ft_contrastive_forward(NULL, k_zero, k_near, &y, 1, 2, 7.0f), 0.25);
}

static void test_different_pair(void **state)
{
    (void)state;
    float y = 0;
    /* y = 0, d = 5, margin 1: max(1 - 5, 0)^2 = 0 */
    assert_close(ft_contrastive_forward(NULL, k_zero, k_far, &y, 1, 2, 1.0f), 0.0);
    /* y = 0, d = 0.5, margin 1: (1 - 0.5)^2 = 0.25 */
    assert_close(ft_contrastive_forward(NULL, k_zero, k_near, &y, 1, 2, 1.0f), 0.25);
    /* y = 0, d = 5, margin 6: (6 - 5)^2 = 1 */
    assert_close(ft_contrastive_forward(NULL, k_zero, k_far, &y, 1, 2, 6.0f), 1.0);
}

static void test_batch_mean(void **state)
{
    (void)state;
    /* pairs (y, d): (1, 5) -> 25; (0, 0.5) -> 0.25; (0, 5) -> 0; (1, 0.5) -> 0.25
     * mean = (25 + 0.25 + 0 + 0.25) / 4 = 25.5 / 4 = 6.375 */
    float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    float b[8] = {3, 4, 0.3f, 0.4f, 3, 4, 0.3f, 0.4f};
    float y[4] = {1, 0, 0, 1}, dist[4];
    assert_close(ft_contrastive_forward(dist, a, b, y, 4, 2, 1.0f), 6.375);
    assert_close(dist[0], 5.0);
    assert_close(dist[1], 0.5);
    assert_close(dist[2], 5.0);
    assert_close(dist[3], 0.5);
    /* the embeddings' roles are symmetric */
    assert_close(ft_contrastive_forward(NULL, b, a, y, 4, 2, 1.0f), 6.375);
}

static void test_identical(void **state)
{
    (void)state;
    float a[3] = {0.1f, -2.0f, 7.0f}, y1 = 1, y0 = 0, dist;
    /* sum sq = 0 < 1e-7: d = sqrt(1e-7) = 3.16227766e-4 */
    assert_close(ft_distance(a, a, 3), sqrt(1e-7));
    /* y = 1: d^2 = 1e-7 */
    assert_close(ft_contrastive_forward(&dist, a, a, &y1, 1, 3, 1.0f), 1e-7);
    assert_close(dist, sqrt(1e-7));
    /* y = 0, margin 1: (1 - 3.16227766e-4)^2 = 1 - 6.32455532e-4 + 1e-7 = 0.999367644468 */
    assert_close(ft_contrastive_forward(NULL, a, a, &y0, 1, 3, 1.0f), 0.999367644468);
    /* below the floor: sum sq = (1e-4)^2 = 1e-8 < 1e-7, still sqrt(1e-7) */
    float p = 0.0f, q = 1e-4f;
    assert_close(ft_distance(&p, &q, 1), sqrt(1e-7));
    /* and the gradient is exactly zero there */
    float da[3] = {0}, db[3] = {0};
    ft_contrastive_backward(da, db, a, a, &y0, 1, 3, 1.0f, 1.0f);
    for (int k = 0; k < 3; k++) assert_true(da[k] == 0.0f && db[k] == 0.0f);
}

static void test_distance(void **state)
{
    (void)state;
    /* (1,2,3) vs (4,6,3): sqrt(3^2 + 4^2 + 0) = 5 */
    float a[3] = {1, 2, 3}, b[3] = {4, 6, 3};
    assert_close(ft_distance(a, b, 3), 5.0);
    assert_close(ft_distance(b, a, 3), 5.0);
    /* (0,0) vs (0.3,0.4): sqrt(0.25) = 0.5 */
    assert_close(ft_distance(k_zero, k_near, 2), 0.5);
}

static void test_gradient_by_hand(void **state)
{
    (void)state;
    /* y = 1, a = (0,0), b = (3,4): L = |a-b|^2, dL/da = 2(a-b) = (-6,-8), dL/db = (6,8);
     * with dloss = 0.5: (-3,-4) and (3,4) */
    float y = 1, da[2] = {0}, db[2] = {0};
    ft_contrastive_backward(da, db, k_zero, k_far, &y, 1, 2, 1.0f, 0.5f);
    assert_close(da[0], -3.0), assert_close(da[1], -4.0);
    assert_close(db[0], 3.0), assert_close(db[1], 4.0);
    /* y = 0, b = (0.3,0.4), margin 1, batch of 2 identical pairs:
     * dL/dd = (1/2) * -2 (1 - 0.5) = -0.5 per pair; dd/da = (a-b)/d = (-0.6,-0.8);
     * dL/da = (0.3, 0.4) per pair, dL/db = (-0.3,-0.4) */
    float a2[4] = {0, 0, 0, 0}, b2[4] = {0.3f, 0.4f, 0.3f, 0.4f}, y2[2] = {0, 0};
    float da2[4] = {0}, db2[4] = {0};
    ft_contrastive_backward(da2, db2, a2, b2, y2, 2, 2, 1.0f, 1.0f);
    for (int i = 0; i < 2; i++) {
        assert_close(da2[2 * i], 0.3), assert_close(da2[2 * i + 1], 0.4);
        assert_close(db2[2 * i], -0.3), assert_close(db2[2 * i + 1], -0.4);
    }
    /* y = 0 beyond the margin: no gradient */
    float y0 = 0, da3[2] = {0};
    ft_contrastive_backward(da3, NULL, k_zero, k_far, &y0, 1, 2, 1.0f, 1.0f);
    assert_true(da3[0] == 0.0f && da3[1] == 0.0f);
}

/* In-batch loss, three 2-D points: p0 = (0,0) and p1 = (0.3,0.4) of identity 0,
 * p2 = (3,4) of identity 1. Pairs: (0,1) same, d = 0.5; (0,2) different,
 * d = 5; (1,2) different, d = |(2.7,3.6)| = 4.5. One positive, two negatives:
 *   margin 1: loss = 1/2 * 0.25 + 1/2 * (0 + 0)/2 = 0.125
 *   margin 6: hinges 1 and 1.5: loss = 0.125 + 1/2 * (1 + 2.25)/2 = 0.9375
 *   ids all equal (three positives): loss = mean(0.25, 25, 20.25) = 15.1666... */
static void test_batch_pairs_by_hand(void **state)
{
    (void)state;
    const float e[6] = {0.0f, 0.0f, 0.3f, 0.4f, 3.0f, 4.0f};
    const int32_t ids[3] = {0, 0, 1}, same[3] = {7, 7, 7};
    int np, nn;
    assert_close(ft_contrastive_batch_forward(e, ids, 3, 2, 1.0f, &np, &nn), 0.125);
    assert_int_equal(np, 1);
    assert_int_equal(nn, 2);
    assert_close(ft_contrastive_batch_forward(e, ids, 3, 2, 6.0f, NULL, NULL), 0.9375);
    assert_close(ft_contrastive_batch_forward(e, same, 3, 2, 6.0f, &np, &nn), (0.25 + 25.0 + 20.25) / 3);
    assert_int_equal(np, 3);
    assert_int_equal(nn, 0);
    assert_close(ft_contrastive_batch_forward(e, ids, 1, 2, 1.0f, &np, &nn), 0.0); /* one image: no pair */
    assert_int_equal(np + nn, 0);
}

/* Numerical gradient of the in-batch loss: central differences in float on a
 * batch with hinges both active and inactive. */
static void test_batch_pairs_gradient(void **state)
{
    (void)state;
    enum { N = 6, D = 4 };
    float e[N * D], de[N * D] = {0};
    const int32_t ids[N] = {0, 0, 1, 1, 2, 0};
    for (int i = 0; i < N * D; i++) e[i] = (float)sin(1.7 * i + 0.3) * 0.6f;
    const float margin = 1.2f, h = 1e-3f;
    int active = 0;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            if (ids[i] != ids[j]) active += ft_distance(e + i * D, e + j * D, D) < margin;
    assert_true(active > 0 && active < 11); /* both sides of the hinge are exercised */
    ft_contrastive_batch_backward(de, e, ids, N, D, margin, 2.0f);
    for (int k = 0; k < N * D; k++) {
        float keep = e[k];
        e[k] = keep + h;
        double up = ft_contrastive_batch_forward(e, ids, N, D, margin, NULL, NULL);
        e[k] = keep - h;
        double dn = ft_contrastive_batch_forward(e, ids, N, D, margin, NULL, NULL);
        e[k] = keep;
        double num = 2.0 * (up - dn) / (2.0 * h);
        if (fabs(num - de[k]) > 2e-3 * fmax(1.0, fabs(num))) print_message("k %d: numeric %g analytic %g\n", k, num, de[k]);
        assert_true(fabs(num - de[k]) <= 2e-3 * fmax(1.0, fabs(num)));
    }
}

/* A batch of two images is one pair: the in-batch loss equals the pairs loss. */
static void test_batch_pairs_match_pair_loss(void **state)
{
    (void)state;
    const float e[4] = {0.1f, 0.2f, 0.5f, -0.1f};
    const int32_t same[2] = {3, 3}, diff[2] = {3, 4};
    float y1 = 1, y0 = 0;
    assert_close(ft_contrastive_batch_forward(e, same, 2, 2, 1.0f, NULL, NULL),
                 ft_contrastive_forward(NULL, e, e + 2, &y1, 1, 2, 1.0f));
    assert_close(ft_contrastive_batch_forward(e, diff, 2, 2, 1.0f, NULL, NULL),
                 ft_contrastive_forward(NULL, e, e + 2, &y0, 1, 2, 1.0f));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_pair),   cmocka_unit_test(test_different_pair),
        cmocka_unit_test(test_batch_mean),  cmocka_unit_test(test_identical),
        cmocka_unit_test(test_distance),    cmocka_unit_test(test_gradient_by_hand),
        cmocka_unit_test(test_batch_pairs_by_hand), cmocka_unit_test(test_batch_pairs_gradient),
        cmocka_unit_test(test_batch_pairs_match_pair_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
