/* test_calibration.c — the validation ROC and the threshold rules against
 * points worked out by hand, thinning, and storage in a checkpoint.
 *
 * The running example: six pairs, distances and labels (s = same, d = different)
 *   0.1 s, 0.2 s, 0.3 d, 0.4 s, 0.5 d, 0.6 d      (3 same, 3 different)
 * ROC points (threshold half-way between distances; rule d < t):
 *   t      far   frr
 *   0.1    0     1      accepts nothing
 *   0.15   0     2/3
 *   0.25   0     1/3
 *   0.35   1/3   1/3    <- |far - frr| = 0: the equal-error point, EER 1/3
 *   0.45   1/3   0
 *   0.55   2/3   0
 *   0.6+   1     0      accepts everything
 * FAR target 0 -> t 0.25 (TAR 2/3); FAR target 0.4 -> t 0.45 (TAR 1).
 */
#include "ft_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/calibration.h"
#include "facetwin/metrics.h"
#include "facetwin/net.h"

static const float k_dist[6] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
static const uint8_t k_same[6] = {1, 1, 0, 1, 0, 0};

static void assert_near(double got, double want)
{
    if (!(fabs(got - want) <= 1e-6)) print_message("got %.9g want %.9g\n", got, want);
    assert_true(fabs(got - want) <= 1e-6);
}

static void test_roc_by_hand(void **state)
{
    (void)state;
    ft_roc_point *r;
    int n;
    ft_error err = {0};
    assert_status(ft_roc_compute(k_dist, k_same, 6, &r, &n, &err), FT_OK, &err);
    assert_int_equal(n, 7);
    const double want[7][3] = {{0.1, 0, 1},       {0.15, 0, 2. / 3}, {0.25, 0, 1. / 3}, {0.35, 1. / 3, 1. / 3},
                               {0.45, 1. / 3, 0}, {0.55, 2. / 3, 0}, {0.6, 1, 0}};
    for (int i = 0; i < 7; i++) {
        assert_near(r[i].threshold, want[i][0] + (i == 6 ? r[6].threshold - 0.6f : 0));
        assert_near(r[i].far, want[i][1]);
        assert_near(r[i].frr, want[i][2]);
    }
    assert_true(r[6].threshold > 0.6f); /* strictly above the largest distance */
    double eer, tar;
    assert_near(ft_roc_threshold_eer(r, n, &eer), 0.35);
    assert_near(eer, 1. / 3);
    assert_near(ft_roc_threshold_at_far(r, n, 0.0, &tar), 0.25);
    assert_near(tar, 2. / 3);
    assert_near(ft_roc_threshold_at_far(r, n, 0.4, &tar), 0.45);
    assert_near(tar, 1.0);
    free(r);
}

/* Two tied equal-error points: s 0.1, d 0.2, s 0.3 (2 same, 1 different).
 * Points: (0.1: 0, 1) (0.15: 0, 1/2) (0.25: 1, 1/2) (0.3+: 1, 0). |far - frr|
 * is 1/2 at both 0.15 and 0.25: the rule takes the middle, 0.2, and EER is
 * the mean of the two points' rates, (0 + 1/2 + 1 + 1/2) / 4 = 1/2. */
static void test_eer_plateau(void **state)
{
    (void)state;
    const float d[3] = {0.1f, 0.2f, 0.3f};
    const uint8_t s[3] = {1, 0, 1};
    ft_roc_point *r;
    int n;
    ft_error err = {0};
    assert_status(ft_roc_compute(d, s, 3, &r, &n, &err), FT_OK, &err);
    double eer;
    assert_near(ft_roc_threshold_eer(r, n, &eer), 0.2);
    assert_near(eer, 0.5);
    free(r);
}

static void test_calibrate_rules(void **state)
{
    (void)state;
    ft_calibration c;
    ft_roc_point *r;
    int n;
    ft_error err = {0};
    assert_status(ft_calibrate(k_dist, k_same, 6, FT_CALIB_EER, 0, 0, &c, &r, &n, &err), FT_OK, &err);
    assert_near(c.threshold, 0.35);
    assert_near(c.far, 1. / 3);
    assert_near(c.frr, 1. / 3);
    assert_near(c.eer, 1. / 3);
    assert_int_equal(c.val_pairs, 6);
    free(r);
    assert_status(ft_calibrate(k_dist, k_same, 6, FT_CALIB_FAR, 0.0, 0, &c, &r, &n, &err), FT_OK, &err);
    assert_near(c.threshold, 0.25);
    assert_near(c.far, 0.0);
    assert_near(c.frr, 1. / 3);
    free(r);
    assert_status(ft_calibrate(k_dist, k_same, 6, FT_CALIB_FIXED, 0, 0.5f, &c, &r, &n, &err), FT_OK, &err);
    assert_near(c.threshold, 0.5); /* d < 0.5 accepts 0.1 0.2 0.3 0.4: far 1/3, frr 0 */
    assert_near(c.far, 1. / 3);
    assert_near(c.frr, 0.0);
    free(r);
    /* errors: one kind only, a bad FAR target, a non-finite distance */
    const uint8_t all_same[6] = {1, 1, 1, 1, 1, 1};
    assert_status(ft_calibrate(k_dist, all_same, 6, FT_CALIB_EER, 0, 0, &c, &r, &n, &err), FT_EINVAL, &err);
    assert_msg_has(&err, "both same and different");
    assert_status(ft_calibrate(k_dist, k_same, 6, FT_CALIB_FAR, 1.5, 0, &c, &r, &n, &err), FT_EINVAL, &err);
    const float bad[2] = {NAN, 0.1f};
    const uint8_t s2[2] = {1, 0};
    assert_status(ft_calibrate(bad, s2, 2, FT_CALIB_EER, 0, 0, &c, &r, &n, &err), FT_EINVAL, &err);
}

/* The metrics' TAR at FAR agrees with the ROC: at FAR <= 1e-2 (here FAR 0) TAR is 2/3. */
static void test_metrics_tar(void **state)
{
    (void)state;
    ft_pair_metrics m;
    ft_error err = {0};
    assert_status(ft_pair_metrics_compute(k_dist, k_same, 6, 0.35f, &m, &err), FT_OK, &err);
    assert_near(m.tar_far_1e2, 2. / 3);
    assert_near(m.tar_far_1e3, 2. / 3);
    assert_near(m.eer, 1. / 3);
    assert_near(m.accuracy, 4. / 6);
}

static void test_thin(void **state)
{
    (void)state;
    enum { N = 5000 };
    float *d = malloc(N * sizeof *d);
    uint8_t *s = malloc(N);
    for (int i = 0; i < N; i++) {
        s[i] = (uint8_t)(i % 2);
        d[i] = (float)(s[i] ? 0.3 + 0.5 * sin(i * 0.37) * 0.3 : 0.8 + 0.3 * cos(i * 0.11));
    }
    ft_roc_point *r;
    int n;
    ft_error err = {0};
    assert_status(ft_roc_compute(d, s, N, &r, &n, &err), FT_OK, &err);
    ft_roc_point first = r[0], last = r[n - 1];
    int m = ft_roc_thin(r, n, 256);
    assert_int_equal(m, 256);
    assert_memory_equal(&r[0], &first, sizeof first);
    assert_memory_equal(&r[m - 1], &last, sizeof last);
    for (int i = 1; i < m; i++) {
        assert_true(r[i].threshold >= r[i - 1].threshold);
        assert_true(r[i].far >= r[i - 1].far && r[i].frr <= r[i - 1].frr);
    }
    assert_int_equal(ft_roc_thin(r, 10, 256), 10); /* short curves are kept whole */
    free(r);
    free(d);
    free(s);
}

/* The ROC survives a checkpoint round trip next to the weights, the net still
 * loads (calib/ tensors are not weights), and a malformed ROC is refused. */
static void test_ckpt_roundtrip(void **state)
{
    (void)state;
    const char *spec = "{\"name\":\"t\",\"input\":{\"width\":2,\"height\":2,\"channels\":1},"
                       "\"layers\":[{\"type\":\"flatten\"},{\"type\":\"dense\",\"units\":3}]}";
    ft_net *net, *back;
    ft_error err = {0};
    assert_status(ft_net_from_json(spec, &net, &err), FT_OK, &err);
    ft_net_init(net, 1);
    ft_ckpt ck, rd;
    assert_status(ft_net_to_checkpoint(net, &ck, &err), FT_OK, &err);
    ft_roc_point *r;
    int n;
    assert_status(ft_roc_compute(k_dist, k_same, 6, &r, &n, &err), FT_OK, &err);
    assert_status(ft_calib_roc_to_ckpt(&ck, r, n, &err), FT_OK, &err);
    char dir[256], path[512];
    ft_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/m.ftw", dir);
    assert_status(ft_ckpt_write(path, &ck, &err), FT_OK, &err);
    assert_status(ft_ckpt_read(path, &rd, &err), FT_OK, &err);
    assert_status(ft_net_from_checkpoint(&rd, &back, &err), FT_OK, &err);
    ft_roc_point *r2;
    int n2;
    assert_status(ft_calib_roc_from_ckpt(&rd, &r2, &n2, &err), FT_OK, &err);
    assert_int_equal(n2, n);
    assert_memory_equal(r2, r, (size_t)n * sizeof *r);
    free(r2);
    /* break monotonicity: refused with the tensor's name */
    ft_ckpt_tensor *t = NULL;
    for (int i = 0; i < rd.n_tensors; i++)
        if (!strcmp(rd.tensors[i].name, FT_CALIB_ROC_TENSOR)) t = &rd.tensors[i];
    assert_non_null(t);
    t->data[3 * 2 + 1] = 0.9f; /* far of row 2 above row 3's */
    assert_status(ft_calib_roc_from_ckpt(&rd, &r2, &n2, &err), FT_EFORMAT, &err);
    assert_msg_has(&err, FT_CALIB_ROC_TENSOR);
    t->dims[1] = 2;
    assert_status(ft_calib_roc_from_ckpt(&rd, &r2, &n2, &err), FT_EFORMAT, &err);
    /* no ROC stored: not an error, nothing returned */
    ft_ckpt none;
    assert_status(ft_net_to_checkpoint(net, &none, &err), FT_OK, &err);
    assert_status(ft_calib_roc_from_ckpt(&none, &r2, &n2, &err), FT_OK, &err);
    assert_null(r2);
    assert_int_equal(n2, 0);
    ft_ckpt_free(&none);
    free(r);
    ft_ckpt_free(&ck);
    ft_ckpt_free(&rd);
    ft_net_free(net);
    ft_net_free(back);
    ft_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roc_by_hand),    cmocka_unit_test(test_eer_plateau), cmocka_unit_test(test_calibrate_rules),
        cmocka_unit_test(test_metrics_tar),    cmocka_unit_test(test_thin),        cmocka_unit_test(test_ckpt_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
