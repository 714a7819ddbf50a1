/* test_tfjs_weights.c — the TensorFlow.js weights reader on small hand-made manifests
 * (no face-api package needed): float32 and uint8/uint16-quantized tensors across
 * two groups, one split over two shards, decoded exactly as tfjs's decodeWeights
 * (q * scale + min in double, rounded once to float32); and every refusal:
 * short and over-long shards, an unsupported dtype or quantization, a shard path
 * leaving the directory, a duplicate name, a missing shard, a non-manifest. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ft_test.h"
#include "tfjs_weights.h"

static void write_text(const char *dir, const char *name, const char *text)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(ft_test_write_file(p, text, strlen(text)), 0);
}

static void write_bytes(const char *dir, const char *name, const void *b, size_t n)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(ft_test_write_file(p, b, n), 0);
}

static const char *k_manifest =
    "[{\"paths\":[\"g1-a.bin\",\"g1-b.bin\"],\"weights\":["
    "{\"name\":\"w/f32\",\"shape\":[2,3],\"dtype\":\"float32\"},"
    "{\"name\":\"w/u8\",\"shape\":[4],\"dtype\":\"float32\","
    "\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.0005260649557207145,\"min\":-0.07101876902229645}}]},"
    "{\"paths\":[\"g2.bin\"],\"weights\":["
    "{\"name\":\"w/u16\",\"shape\":[1,3],\"dtype\":\"float32\","
    "\"quantization\":{\"dtype\":\"uint16\",\"scale\":1e-3,\"min\":-2.5}}]}]";

/* group 1: 6 float32 (24 bytes) + 4 uint8 = 28 bytes, split 10 + 18; group 2: 3 uint16 */
static void write_good(const char *dir, uint8_t *g1, float *f32, uint8_t *q8, uint16_t *q16)
{
    for (int i = 0; i < 6; i++) f32[i] = 0.25f * (float)i - 0.7f;
    memcpy(g1, f32, 24); /* little-endian host */
    const uint8_t q[4] = {0, 1, 135, 255};
    memcpy(q8, q, 4);
    memcpy(g1 + 24, q, 4);
    q16[0] = 0;
    q16[1] = 2500;
    q16[2] = 65535;
    uint8_t g2[6];
    for (int i = 0; i < 3; i++) {
        g2[2 * i] = (uint8_t)(q16[i] & 0xff);
        g2[2 * i + 1] = (uint8_t)(q16[i] >> 8);
    }
    write_text(dir, "m.json", k_manifest);
    write_bytes(dir, "g1-a.bin", g1, 10);
    write_bytes(dir, "g1-b.bin", g1 + 10, 18);
    write_bytes(dir, "g2.bin", g2, 6);
}

static void test_decode(void **state)
{
    (void)state;
    char dir[4096], path[4200];
    ft_test_tmpdir(dir, sizeof dir);
    uint8_t g1[28], q8[4];
    float f32[6];
    uint16_t q16[3];
    write_good(dir, g1, f32, q8, q16);
    snprintf(path, sizeof path, "%s/m.json", dir);
    ft_tfjs_weights w;
    ft_error err = {0};
    assert_status(ft_tfjs_load(path, &w, &err), FT_OK, &err);
    assert_int_equal(w.n, 3);
    const ft_tfjs_tensor *t = ft_tfjs_find(&w, "w/f32");
    assert_non_null(t);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->dims[0], 2);
    assert_int_equal(t->dims[1], 3);
    assert_memory_equal(t->data, f32, sizeof f32);
    t = ft_tfjs_find(&w, "w/u8");
    assert_non_null(t);
    for (int i = 0; i < 4; i++) {
        float want = (float)((double)q8[i] * 0.0005260649557207145 + -0.07101876902229645);
        assert_true(t->data[i] == want);
    }
    t = ft_tfjs_find(&w, "w/u16");
    assert_non_null(t);
    assert_int_equal(t->count, 3);
    for (int i = 0; i < 3; i++) assert_true(t->data[i] == (float)((double)q16[i] * 1e-3 + -2.5));
    assert_true(fabsf(t->data[1] - 0.0f) < 1e-6f);
    assert_null(ft_tfjs_find(&w, "w/none"));
    ft_tfjs_free(&w);
    ft_test_rmtree(dir);
}

/* Writes the good files, then `name` with `text`, and expects code + needle. */
static void expect_refusal(const char *name, const char *text, size_t n, ft_status code, const char *needle)
{
    char dir[4096], path[4200];
    ft_test_tmpdir(dir, sizeof dir);
    uint8_t g1[28], q8[4];
    float f32[6];
    uint16_t q16[3];
    write_good(dir, g1, f32, q8, q16);
    if (name) write_bytes(dir, name, text, n);
    snprintf(path, sizeof path, "%s/m.json", dir);
    ft_tfjs_weights w;
    ft_error err = {0};
    assert_status(ft_tfjs_load(path, &w, &err), code, &err);
    assert_msg_has(&err, needle);
    assert_int_equal(w.n, 0);
    assert_null(w.t);
    ft_test_rmtree(dir);
}

/* int32 (the SSD export's graph constants): decoded to float, flagged is_int. */
static void test_int32(void **state)
{
    (void)state;
    char dir[4096], path[4200];
    ft_test_tmpdir(dir, sizeof dir);
    const uint8_t b[8] = {7, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff}; /* 7, -2 */
    write_bytes(dir, "i.bin", (const char *)b, 8);
    const char *m = "[{\"paths\":[\"i.bin\"],\"weights\":[{\"name\":\"i\",\"shape\":[2],\"dtype\":\"int32\"}]}]";
    write_bytes(dir, "m.json", m, strlen(m));
    snprintf(path, sizeof path, "%s/m.json", dir);
    ft_tfjs_weights w;
    ft_error err = {0};
    assert_status(ft_tfjs_load(path, &w, &err), FT_OK, &err);
    assert_int_equal(w.n, 1);
    assert_true(w.t[0].is_int && w.t[0].data[0] == 7.0f && w.t[0].data[1] == -2.0f);
    ft_tfjs_free(&w);
    ft_test_rmtree(dir);
}

#define M(s) s, strlen(s)
static void test_refusals(void **state)
{
    (void)state;
    expect_refusal("g1-b.bin", "seventeen bytes..", 17, FT_EFORMAT, "ends inside weight 'w/u8' (needs 4 bytes at offset 24, the group has 27)");
    expect_refusal("g2.bin", "1234567", 7, FT_EFORMAT, "holds 7 bytes, its weights need 6");
    expect_refusal("m.json", M("{\"not\":\"an array\"}"), FT_EFORMAT, "not a tfjs weights manifest");
    expect_refusal("m.json", M("[{\"paths\":[\"g2.bin\"],\"weights\":[{\"name\":\"i\",\"shape\":[3],\"dtype\":\"string\"}]}]"),
                   FT_EUNSUPPORTED, "dtype 'string' is not supported");
    expect_refusal("m.json",
                   M("[{\"paths\":[\"g2.bin\"],\"weights\":[{\"name\":\"h\",\"shape\":[3],\"dtype\":\"float32\","
                     "\"quantization\":{\"dtype\":\"float16\"}}]}]"),
                   FT_EUNSUPPORTED, "quantization dtype 'float16'");
    expect_refusal("m.json",
                   M("[{\"paths\":[\"g2.bin\"],\"weights\":[{\"name\":\"q\",\"shape\":[6],\"dtype\":\"float32\","
                     "\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.1}}]}]"),
                   FT_EFORMAT, "needs finite 'min' and 'scale'");
    expect_refusal("m.json", M("[{\"paths\":[\"../g2.bin\"],\"weights\":[{\"name\":\"a\",\"shape\":[6],\"dtype\":\"float32\"}]}]"),
                   FT_EFORMAT, "must be a file name");
    expect_refusal("m.json",
                   M("[{\"paths\":[\"g2.bin\"],\"weights\":[{\"name\":\"a\",\"shape\":[],\"dtype\":\"float32\"},"
                     "{\"name\":\"a\",\"shape\":[],\"dtype\":\"float32\"}]}]"),
                   FT_EFORMAT, "'a' is listed twice");
    expect_refusal("m.json", M("[{\"paths\":[\"nope.bin\"],\"weights\":[{\"name\":\"a\",\"shape\":[1],\"dtype\":\"float32\"}]}]"),
                   FT_EIO, "nope.bin");
    expect_refusal("m.json", M("[{\"paths\":[\"g2.bin\"],\"weights\":[{\"name\":\"a\",\"shape\":[0],\"dtype\":\"float32\"}]}]"),
                   FT_EFORMAT, "shape[0] must be a positive integer");
    expect_refusal("m.json", M("[]"), FT_EFORMAT, "lists 0 weights");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_refusals), cmocka_unit_test(test_int32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
