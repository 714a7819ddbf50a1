/* test_oom.c — out-of-memory paths, the SQLite way: run an operation with the
 * N-th allocation failing, for N = 1, 2, ... until it no longer allocates
 * that many times. Every run must end with FT_OK or an error status and a
 * message — never a crash — and (under ASan/LSan) without leaking.
 *
 * malloc/calloc/realloc are wrapped at link time (-Wl,--wrap, see
 * CMakeLists.txt), which catches every allocation made by libfacetwin's own
 * code; cJSON's are routed through the same counter with cJSON_InitHooks.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/checkpoint.h"
#include "facetwin/image.h"
#include "facetwin/metrics.h"
#include "facetwin/model.h"
#include "facetwin/net.h"
#include "facetwin/train.h"
#include "ft_test.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);

static long g_count, g_fail_at = -1, g_failed;

static int should_fail(void)
{
    g_count++;
    if (g_fail_at > 0 && g_count == g_fail_at) {
        g_failed++;
        return 1;
    }
    return 0;
}
void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t a, size_t b) { return should_fail() ? NULL : __real_calloc(a, b); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }
static void *json_malloc(size_t n) { return __wrap_malloc(n); }

typedef ft_status (*op_fn)(ft_error *err);

/* Runs op with allocation N failing for every N; returns how many N were tried. */
static long sweep(const char *name, op_fn op)
{
    long n;
    for (n = 1;; n++) {
        ft_error err = {0};
        g_count = 0;
        g_failed = 0;
        g_fail_at = n;
        ft_status st = op(&err);
        g_fail_at = -1;
        if (!g_failed) { /* the operation no longer reaches allocation n: done */
            assert_int_equal(st, FT_OK);
            break;
        }
        if (st != FT_OK) assert_true(err.msg[0] != '\0');
    }
    fprintf(stderr, "%s: %ld allocation failure points survived\n", name, n - 1);
    return n - 1;
}

static const char *k_spec =
    "{\"name\":\"oom\",\"input\":{\"width\":8,\"height\":8,\"channels\":1},\"layers\":["
    "{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3,\"padding\":1},{\"type\":\"batchnorm\"},{\"type\":\"relu\"},"
    "{\"type\":\"maxpool\",\"kernel\":2},{\"type\":\"dropout\",\"rate\":0.1},{\"type\":\"flatten\"},"
    "{\"type\":\"dense\",\"units\":6},{\"type\":\"l2norm\"}]}";

static char g_dir[256], g_ckpt[512];

static ft_status op_net(ft_error *err)
{
    ft_net *net;
    ft_status st = ft_net_from_json(k_spec, &net, err);
    if (st) return st;
    if (!(st = ft_net_reserve(net, 4, 1, err))) {
        ft_ckpt ck;
        if (!(st = ft_net_to_checkpoint(net, &ck, err))) ft_ckpt_free(&ck);
    }
    ft_net_free(net);
    return st;
}

static ft_status op_ckpt_read(ft_error *err)
{
    ft_ckpt ck;
    ft_status st = ft_ckpt_read(g_ckpt, &ck, err);
    if (!st) ft_ckpt_free(&ck);
    return st;
}

static ft_status op_model_load(ft_error *err)
{
    ft_model m;
    ft_status st = ft_model_load(g_ckpt, &m, err);
    if (st) return st;
    static const uint8_t pgm[] = "P5\n3 2\n255\n\x01\x02\x03\x04\x05\x06";
    float e[6];
    st = ft_model_embed_bytes(&m, pgm, sizeof pgm - 1, NULL, e, err);
    ft_model_free(&m);
    return st;
}

static ft_status op_decode(ft_error *err)
{
    static const uint8_t ppm[] = "P6\n2 2\n255\n\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0";
    ft_image img, small;
    ft_status st = ft_image_decode(ppm, sizeof ppm - 1, NULL, &img, err);
    if (st) return st;
    st = ft_image_resize(&img, 5, 3, &small, err);
    if (!st) ft_image_free(&small);
    ft_image_free(&img);
    return st;
}

static int32_t g_lab[48];
static ft_labelled g_set;

static ft_status op_pairs_metrics(ft_error *err)
{
    ft_pair *p = NULL;
    int n;
    ft_status st = ft_pairs_keras(g_lab, 48, 1, &p, &n, err);
    if (st) return st;
    free(p);
    if ((st = ft_pairs_random(g_lab, 48, 64, 1, &p, err))) return st;
    free(p);
    float d[4] = {0.1f, 0.4f, 0.3f, 0.9f};
    uint8_t s[4] = {1, 1, 0, 0};
    ft_pair_metrics m;
    return ft_pair_metrics_compute(d, s, 4, 0.5f, &m, err);
}

static ft_status op_train(ft_error *err)
{
    ft_net *net;
    ft_status st = ft_net_from_json(k_spec, &net, err);
    if (st) return st;
    char out[600];
    snprintf(out, sizeof out, "%s/t.ftw", g_dir);
    ft_train_opts o;
    ft_train_opts_defaults(&o);
    o.epochs = 2;
    o.batch = 8;
    o.pairs_per_epoch = 16;
    o.out_path = out;
    ft_train_result r;
    ft_labelled val = g_set;
    val.n = 24;
    st = ft_train(net, &g_set, &val, &o, &r, err);
    ft_net_free(net);
    return st;
}

static int setup(void **state)
{
    (void)state;
    cJSON_Hooks hooks = {json_malloc, free};
    cJSON_InitHooks(&hooks);
    ft_test_tmpdir(g_dir, sizeof g_dir);
    snprintf(g_ckpt, sizeof g_ckpt, "%s/m.ftw", g_dir);
    ft_net *net;
    ft_error err = {0};
    if (ft_net_from_json(k_spec, &net, &err)) return -1;
    ft_ckpt ck;
    if (ft_net_to_checkpoint(net, &ck, &err) || ft_ckpt_write(g_ckpt, &ck, &err)) return -1;
    ft_ckpt_free(&ck);
    ft_net_free(net);
    g_set.n = 48;
    g_set.isz = 64;
    g_set.x = __real_malloc(48 * 64 * sizeof(float));
    g_set.label = g_lab;
    for (int i = 0; i < 48; i++) {
        g_lab[i] = i % 4;
        for (int k = 0; k < 64; k++) g_set.x[i * 64 + k] = (float)((i * 7 + k * 3) % 11) / 11.0f;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(g_set.x);
    ft_test_rmtree(g_dir);
    return 0;
}

static void test_oom_net(void **s) { (void)s; assert_true(sweep("net", op_net) > 10); }
static void test_oom_ckpt(void **s) { (void)s; assert_true(sweep("checkpoint read", op_ckpt_read) > 3); }
static void test_oom_model(void **s) { (void)s; assert_true(sweep("model load + embed", op_model_load) > 10); }
static void test_oom_decode(void **s) { (void)s; assert_true(sweep("decode + resize", op_decode) > 1); }
static void test_oom_pairs(void **s) { (void)s; assert_true(sweep("pairs + metrics", op_pairs_metrics) > 4); }
static void test_oom_train(void **s) { (void)s; assert_true(sweep("train", op_train) > 20); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_net),    cmocka_unit_test(test_oom_ckpt),  cmocka_unit_test(test_oom_model),
        cmocka_unit_test(test_oom_decode), cmocka_unit_test(test_oom_pairs), cmocka_unit_test(test_oom_train),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
