/* test_idx.c — IDX loading: round trips through files this test writes with
 * zlib (gzip) and with plain stdio, the failure paths (truncated header and
 * payload, cut or corrupted gzip streams, bad magic, unsupported types,
 * declared sizes far over FT_IDX_MAX_BYTES, images/labels disagreeing), and
 * the real MNIST subset when the shared datasets are present.
 */
#include "ft_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "facetwin/idx.h"

#define IDX_UBYTE 0x08
#define MNIST_TRAIN_N 8000
#define MNIST_SIDE 28
#define MNIST_CLASSES 10
#define GZIP_TRAILER_LEN 8 /* CRC-32 then ISIZE */

/* ---- helpers ---------------------------------------------------------------------- */

/* IDX header for type 0x08: magic then big-endian dims; returns its length. */
static size_t idx_header(uint8_t *h, int ndim, const uint32_t *dims)
{
    h[0] = 0;
    h[1] = 0;
    h[2] = IDX_UBYTE;
    h[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++)
        for (int k = 0; k < 4; k++) h[4 + 4 * i + k] = (uint8_t)(dims[i] >> (24 - 8 * k));
    return 4 + 4 * (size_t)ndim;
}

/* Writes head + payload to path, through gzip when gz is set. */
static void write_raw(const char *path, int gz, const uint8_t *head, size_t hn,
                      const uint8_t *payload, size_t pn)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        if (hn) assert_int_equal(gzwrite(f, head, (unsigned)hn), (int)hn);
        if (pn) assert_int_equal(gzwrite(f, payload, (unsigned)pn), (int)pn);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        if (hn) assert_int_equal(fwrite(head, 1, hn, f), hn);
        if (pn) assert_int_equal(fwrite(payload, 1, pn, f), pn);
        assert_int_equal(fclose(f), 0);
    }
}

static void write_idx(const char *path, int gz, int ndim, const uint32_t *dims,
                      const uint8_t *payload, size_t pn)
{
    uint8_t h[4 + 4 * FT_IDX_MAX_DIMS + 4];
    size_t hn = idx_header(h, ndim, dims);
    write_raw(path, gz, h, hn, payload, pn);
}

static uint8_t *read_whole(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)len + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}


/* ft_idx_load(path) must fail with want, name the path and say `needle`. */
static void expect_load_error(const char *path, ft_status want, const char *needle)
{
    ft_idx idx;
    ft_error err = {0};
    assert_status(ft_idx_load(path, &idx, &err), want, &err);
    assert_null(idx.data);
    assert_msg_has(&err, path);
    if (needle) assert_msg_has(&err, needle);
}

enum { N = 3, H = 4, W = 5 };

static void sample_set(uint8_t *images, uint8_t *labels)
{
    for (int i = 0; i < N * H * W; i++) images[i] = (uint8_t)(i * 7 + 3);
    for (int i = 0; i < N; i++) labels[i] = (uint8_t)(9 - i);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_idx_roundtrip_gz(void **state)
{
    (void)state;
    char dir[256], path[1024], prefix[512];
    ft_test_tmpdir(dir, sizeof dir);
    uint8_t images[N * H * W], labels[N];
    sample_set(images, labels);
    const uint32_t idims[3] = {N, H, W}, ldims[1] = {N};
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    write_idx(path, 1, 3, idims, images, sizeof images);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
    write_idx(path, 1, 1, ldims, labels, sizeof labels);

    ft_idx idx;
    ft_error err = {0};
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    assert_status(ft_idx_load(path, &idx, &err), FT_OK, &err);
    assert_int_equal(idx.ndim, 3);
    assert_int_equal(idx.dims[0], N);
    assert_int_equal(idx.dims[1], H);
    assert_int_equal(idx.dims[2], W);
    assert_int_equal(idx.count, N * H * W);
    assert_memory_equal(idx.data, images, sizeof images);
    ft_idx_free(&idx);
    assert_null(idx.data);

    ft_idx_set set;
    snprintf(prefix, sizeof prefix, "%s/train", dir);
    assert_status(ft_idx_set_load(prefix, &set, &err), FT_OK, &err);
    assert_int_equal(set.n, N);
    assert_int_equal(set.h, H);
    assert_int_equal(set.w, W);
    assert_memory_equal(set.images, images, sizeof images);
    assert_memory_equal(set.labels, labels, sizeof labels);
    ft_idx_set_free(&set);
    assert_null(set.images);
    ft_test_rmtree(dir);
}

static void test_idx_plain_fallback(void **state)
{
    (void)state;
    char dir[256], path[1024], prefix[512];
    ft_test_tmpdir(dir, sizeof dir);
    uint8_t images[N * H * W], labels[N];
    sample_set(images, labels);
    const uint32_t idims[3] = {N, H, W}, ldims[1] = {N};
    /* no .gz: ft_idx_set_load falls back to the plain names; gzread passes them through */
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    write_idx(path, 0, 3, idims, images, sizeof images);
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", dir);
    write_idx(path, 0, 1, ldims, labels, sizeof labels);
    ft_idx_set set;
    ft_error err = {0};
    snprintf(prefix, sizeof prefix, "%s/t10k", dir);
    assert_status(ft_idx_set_load(prefix, &set, &err), FT_OK, &err);
    assert_int_equal(set.n, N);
    assert_memory_equal(set.images, images, sizeof images);
    assert_memory_equal(set.labels, labels, sizeof labels);
    ft_idx_set_free(&set);

    /* 4-D and 1-D files load too */
    const uint32_t d4[4] = {2, 1, 3, 2};
    snprintf(path, sizeof path, "%s/four", dir);
    write_idx(path, 0, 4, d4, images, 12);
    ft_idx idx;
    assert_status(ft_idx_load(path, &idx, &err), FT_OK, &err);
    assert_int_equal(idx.ndim, 4);
    assert_int_equal(idx.count, 12);
    assert_memory_equal(idx.data, images, 12);
    ft_idx_free(&idx);
    ft_test_rmtree(dir);
}

static void test_idx_truncated(void **state)
{
    (void)state;
    char dir[256], path[512];
    ft_test_tmpdir(dir, sizeof dir);
    uint8_t images[N * H * W], labels[N];
    sample_set(images, labels);
    const uint32_t idims[3] = {N, H, W};
    uint8_t h[16];
    size_t hn = idx_header(h, 3, idims);

    for (int gz = 0; gz <= 1; gz++) {
        snprintf(path, sizeof path, "%s/cut-%d", dir, gz);
        /* header only, partial header, partial dims, partial payload */
        write_raw(path, gz, h, hn, NULL, 0);
        expect_load_error(path, FT_EFORMAT, "truncated IDX data: 0 of 60 bytes");
        write_raw(path, gz, h, 2, NULL, 0);
        expect_load_error(path, FT_EFORMAT, "truncated IDX header");
        write_raw(path, gz, h, 9, NULL, 0);
        expect_load_error(path, FT_EFORMAT, "truncated IDX header");
        write_raw(path, gz, h, hn, images, sizeof images - 1);
        expect_load_error(path, FT_EFORMAT, "truncated IDX data: 59 of 60 bytes");
    }

    /* a gzip stream cut short (as by an interrupted download) */
    snprintf(path, sizeof path, "%s/full.gz", dir);
    write_raw(path, 1, h, hn, images, sizeof images);
    size_t n;
    uint8_t *gzbytes = read_whole(path, &n);
    for (size_t cut = 1; cut < n; cut += 5) {
        snprintf(path, sizeof path, "%s/cut.gz", dir);
        assert_int_equal(ft_test_write_file(path, gzbytes, cut), 0);
        ft_idx idx;
        ft_error err = {0};
        ft_status st = ft_idx_load(path, &idx, &err);
        if (st != FT_EFORMAT) print_message("gzip cut at %zu of %zu: %s\n", cut, n, err.msg);
        assert_int_equal(st, FT_EFORMAT);
        assert_null(idx.data);
        assert_msg_has(&err, path);
    }
    free(gzbytes);
    ft_test_rmtree(dir);
}

static void test_idx_corrupt_gzip(void **state)
{
    (void)state;
    char dir[256], path[512];
    ft_test_tmpdir(dir, sizeof dir);
    uint8_t images[N * H * W], labels[N];
    sample_set(images, labels);
    const uint32_t idims[3] = {N, H, W};
    uint8_t h[16];
    size_t hn = idx_header(h, 3, idims);
    snprintf(path, sizeof path, "%s/x.gz", dir);
    write_raw(path, 1, h, hn, images, sizeof images);
    size_t n;
    uint8_t *gz = read_whole(path, &n);

    /* the stored CRC-32 no longer matches: the data inflates but must be refused */
    gz[n - GZIP_TRAILER_LEN] ^= 0xff;
    assert_int_equal(ft_test_write_file(path, gz, n), 0);
    expect_load_error(path, FT_EFORMAT, "corrupt gzip data: incorrect data check");
    gz[n - GZIP_TRAILER_LEN] ^= 0xff;

    /* garbage inside the deflate stream */
    memset(gz + 12, 0xff, 6);
    assert_int_equal(ft_test_write_file(path, gz, n), 0);
    expect_load_error(path, FT_EFORMAT, NULL);
    free(gz);
    ft_test_rmtree(dir);
}

/* A payload large enough for zlib to inflate straight into the caller's
 * buffer (>= 2 x its 8 KiB buffer), cut inside the gzip trailer: every byte
 * of data is there but the CRC-32/length are not, which must not pass. */
static void test_idx_gzip_trailer_cut(void **state)
{
    (void)state;
    enum { BIG_N = 64, BIG_SIDE = 32 };
    char dir[256], path[512];
    ft_test_tmpdir(dir, sizeof dir);
    const size_t pn = (size_t)BIG_N * BIG_SIDE * BIG_SIDE;
    uint8_t *payload = malloc(pn);
    assert_non_null(payload);
    uint32_t x = 12345; /* xorshift: not very compressible, so the stream is long */
    for (size_t i = 0; i < pn; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        payload[i] = (uint8_t)x;
    }
    const uint32_t dims[3] = {BIG_N, BIG_SIDE, BIG_SIDE};
    snprintf(path, sizeof path, "%s/big.gz", dir);
    write_idx(path, 1, 3, dims, payload, pn);
    ft_idx idx;
    ft_error err = {0};
    assert_status(ft_idx_load(path, &idx, &err), FT_OK, &err);
    assert_memory_equal(idx.data, payload, pn);
    ft_idx_free(&idx);

    size_t n;
    uint8_t *gz = read_whole(path, &n);
    snprintf(path, sizeof path, "%s/cut.gz", dir);
    for (size_t cut = 1; cut <= GZIP_TRAILER_LEN + 4; cut++) {
        assert_int_equal(ft_test_write_file(path, gz, n - cut), 0);
        ft_status st = ft_idx_load(path, &idx, &err);
        if (st != FT_EFORMAT) print_message("cut %zu bytes: %s\n", cut, st ? err.msg : "ok");
        assert_int_equal(st, FT_EFORMAT);
        assert_msg_has(&err, "truncated");
    }
    /* trailing bytes after a complete stream are ignored */
    snprintf(path, sizeof path, "%s/trail.gz", dir);
    uint8_t *more = malloc(n + 5);
    assert_non_null(more);
    memcpy(more, gz, n);
    memcpy(more + n, "junk\n", 5);
    assert_int_equal(ft_test_write_file(path, more, n + 5), 0);
    assert_status(ft_idx_load(path, &idx, &err), FT_OK, &err);
    ft_idx_free(&idx);
    free(more);
    free(gz);
    free(payload);
    ft_test_rmtree(dir);
}

static void test_idx_bad_magic(void **state)
{
    (void)state;
    char dir[256], path[512];
    ft_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/bad.gz", dir);
    const uint8_t not_idx[8] = {'P', '5', '\n', '1', ' ', '1', '\n', '1'};
    write_raw(path, 1, not_idx, sizeof not_idx, NULL, 0);
    expect_load_error(path, FT_EFORMAT, "bad IDX magic 50 35 0a 31");

    const uint8_t float_idx[8] = {0, 0, 0x0d, 1, 0, 0, 0, 1};
    write_raw(path, 1, float_idx, sizeof float_idx, NULL, 0);
    expect_load_error(path, FT_EUNSUPPORTED, "type 0x0d");

    const uint8_t rank0[4] = {0, 0, IDX_UBYTE, 0};
    write_raw(path, 1, rank0, sizeof rank0, NULL, 0);
    expect_load_error(path, FT_EUNSUPPORTED, "0 dimensions");
    const uint8_t rank5[4] = {0, 0, IDX_UBYTE, 5};
    write_raw(path, 1, rank5, sizeof rank5, NULL, 0);
    expect_load_error(path, FT_EUNSUPPORTED, "5 dimensions");
    ft_test_rmtree(dir);
}

static void test_idx_huge_dims(void **state)
{
    (void)state;
    char dir[256], path[512];
    ft_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/huge.gz", dir);
    /* each would need gigabytes; the header alone must be refused (an attempt
     * to allocate would abort under ASan or fail the payload read) */
    const uint32_t a[3] = {0x7fffffffu, 0x10000u, 1};
    write_idx(path, 1, 3, a, NULL, 0);
    expect_load_error(path, FT_ETOOBIG, "2147483647x65536x1");
    const uint32_t b[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
    write_idx(path, 1, 4, b, NULL, 0);
    expect_load_error(path, FT_ETOOBIG, "over the 1073741824-byte cap");
    const uint32_t c[1] = {(uint32_t)FT_IDX_MAX_BYTES + 1};
    write_idx(path, 0, 1, c, NULL, 0);
    expect_load_error(path, FT_ETOOBIG, "cap");
    /* a zero dimension makes an empty (valid) array, whatever the others say */
    const uint32_t z[3] = {0, 0xffffffffu, 0xffffffffu};
    write_idx(path, 1, 3, z, NULL, 0);
    ft_idx idx;
    ft_error err = {0};
    assert_status(ft_idx_load(path, &idx, &err), FT_OK, &err);
    assert_int_equal(idx.count, 0);
    ft_idx_free(&idx);
    ft_test_rmtree(dir);
}

static void test_idx_set_mismatch(void **state)
{
    (void)state;
    char dir[256], path[1024], prefix[512];
    ft_test_tmpdir(dir, sizeof dir);
    uint8_t images[N * H * W], labels[N + 1] = {0};
    sample_set(images, labels);
    const uint32_t idims[3] = {N, H, W}, ldims[1] = {N + 1};
    snprintf(prefix, sizeof prefix, "%s/train", dir);
    snprintf(path, sizeof path, "%s-images-idx3-ubyte.gz", prefix);
    write_idx(path, 1, 3, idims, images, sizeof images);
    snprintf(path, sizeof path, "%s-labels-idx1-ubyte.gz", prefix);
    write_idx(path, 1, 1, ldims, labels, sizeof labels);
    ft_idx_set set;
    ft_error err = {0};
    assert_status(ft_idx_set_load(prefix, &set, &err), FT_EMISMATCH, &err);
    assert_msg_has(&err, "3 images");
    assert_msg_has(&err, "4 labels");
    assert_null(set.images);

    /* labels with 2 dimensions */
    const uint32_t l2[2] = {N, 1};
    write_idx(path, 1, 2, l2, labels, N);
    assert_status(ft_idx_set_load(prefix, &set, &err), FT_EFORMAT, &err);
    assert_msg_has(&err, "labels-idx1-ubyte.gz: expected 1 dimension");

    /* images with 1 dimension */
    snprintf(path, sizeof path, "%s-images-idx3-ubyte.gz", prefix);
    write_idx(path, 1, 1, ldims, labels, N + 1);
    assert_status(ft_idx_set_load(prefix, &set, &err), FT_EFORMAT, &err);
    assert_msg_has(&err, "images-idx3-ubyte.gz: expected 3 dimensions");
    ft_test_rmtree(dir);
}

static void test_idx_missing_and_empty(void **state)
{
    (void)state;
    char dir[256], path[1024], prefix[512];
    ft_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/none.gz", dir);
    expect_load_error(path, FT_EIO, "No such file");

    snprintf(path, sizeof path, "%s/empty.gz", dir);
    assert_int_equal(ft_test_write_file(path, "", 0), 0);
    expect_load_error(path, FT_EFORMAT, "empty file");

    ft_idx_set set;
    ft_error err = {0};
    snprintf(prefix, sizeof prefix, "%s/train", dir);
    assert_status(ft_idx_set_load(prefix, &set, &err), FT_EIO, &err);
    assert_msg_has(&err, "train-images-idx3-ubyte[.gz]: No such file");

    /* images present, labels missing */
    const uint8_t one[1] = {7};
    const uint32_t d[3] = {1, 1, 1};
    snprintf(path, sizeof path, "%s-images-idx3-ubyte", prefix);
    write_idx(path, 0, 3, d, one, 1);
    assert_status(ft_idx_set_load(prefix, &set, &err), FT_EIO, &err);
    assert_msg_has(&err, "train-labels-idx1-ubyte[.gz]: No such file");
    assert_null(set.images);
    ft_test_rmtree(dir);
}

static void test_mnist_real(void **state)
{
    (void)state;
    char path[1024], prefix[1100];
    if (!ft_test_dataset("mnist-10k/train-images-idx3-ubyte.gz", path, sizeof path)) skip();
    ft_test_dataset("mnist-10k", path, sizeof path);
    snprintf(prefix, sizeof prefix, "%s/train", path);
    ft_idx_set set;
    ft_error err = {0};
    assert_status(ft_idx_set_load(prefix, &set, &err), FT_OK, &err);
    assert_int_equal(set.n, MNIST_TRAIN_N);
    assert_int_equal(set.h, MNIST_SIDE);
    assert_int_equal(set.w, MNIST_SIDE);
    int seen[MNIST_CLASSES] = {0};
    for (int i = 0; i < set.n; i++) {
        assert_true(set.labels[i] < MNIST_CLASSES);
        seen[set.labels[i]] = 1;
    }
    for (int k = 0; k < MNIST_CLASSES; k++) assert_true(seen[k]);
    /* digits: mostly black background with some bright strokes */
    size_t bright = 0, total = (size_t)set.n * MNIST_SIDE * MNIST_SIDE;
    for (size_t i = 0; i < total; i++) bright += set.images[i] > 128;
    assert_true(bright > total / 20 && bright < total / 2);
    ft_idx_set_free(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_roundtrip_gz),
        cmocka_unit_test(test_idx_plain_fallback),
        cmocka_unit_test(test_idx_truncated),
        cmocka_unit_test(test_idx_corrupt_gzip),
        cmocka_unit_test(test_idx_gzip_trailer_cut),
        cmocka_unit_test(test_idx_bad_magic),
        cmocka_unit_test(test_idx_huge_dims),
        cmocka_unit_test(test_idx_set_mismatch),
        cmocka_unit_test(test_idx_missing_and_empty),
        cmocka_unit_test(test_mnist_real),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
