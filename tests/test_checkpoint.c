/* test_checkpoint.c — the checkpoint container (core/checkpoint.c, docs/FORMAT.md).
 *
 * Round trips are bit-exact; the atomic write leaves nothing behind; the
 * reader is attacked with every truncation, single-bit flips and crafted
 * files. Crafted files are built here by an independent little serialiser
 * (bb_*) that follows docs/FORMAT.md, and sealed with a fresh SHA-256, so the
 * checksum passes and it is the parser's bounds checks that are exercised.
 * Their length fields are chosen so that trusting them would allocate
 * gigabytes to exabytes: under ASan such an allocation aborts the test, in a
 * plain build it would surface as FT_ENOMEM instead of the FT_EFORMAT
 * asserted here.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facetwin/checkpoint.h"
#include "ft_test.h"

#define DIGEST_LEN 32
#define HEADER_LEN 60

static const char k_spec[] =
    "{\"name\":\"t\",\"input\":{\"width\":32,\"height\":24,\"channels\":3},"
    "\"layers\":[{\"type\":\"dense\",\"units\":7}]}";
static const char k_meta[] =
    "{\"model_id\":\"t-0001\",\"created\":\"2024-01-01T00:00:00Z\",\"note\":\"caf\xc3\xa9\","
    "\"training\":{\"seed\":42,\"epochs\":3}}";

/* ------------------------------------------------------------- helpers ---- */

static float f32_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void add_tensor(ft_ckpt *ck, const char *name, int ndim, const int64_t *dims, float seed)
{
    ft_ckpt_tensor *t = realloc(ck->tensors, (size_t)(ck->n_tensors + 1) * sizeof *t);
    assert_non_null(t);
    ck->tensors = t;
    t = &ck->tensors[ck->n_tensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    size_t count = 1;
    for (int d = 0; d < ndim; d++) {
        t->dims[d] = dims[d];
        count *= (size_t)dims[d];
    }
    t->count = count;
    t->data = malloc(count ? count * sizeof(float) : sizeof(float));
    assert_non_null(t->data);
    for (size_t i = 0; i < count; i++) t->data[i] = seed + 0.001f * (float)i;
    ck->n_tensors++;
}

static void set_header(ft_ckpt *ck, int w, int h, int c, int embed, float thr)
{
    ck->input.width = w;
    ck->input.height = h;
    ck->input.channels = c;
    for (int k = 0; k < 3; k++) {
        ck->input.mean[k] = 0.5f - 0.125f * (float)k;
        ck->input.std[k] = 0.25f + 0.0625f * (float)k;
    }
    ck->embed_dim = embed;
    ck->threshold = thr;
}

/* A checkpoint touching every field: tensors of ndim 1..4, special floats. */
static void make_sample(ft_ckpt *ck)
{
    memset(ck, 0, sizeof *ck);
    set_header(ck, 32, 24, 3, 7, 0.7071067811865476f);
    ck->input.mean[1] = 1e-40f; /* subnormal: bit-exact too */
    ck->spec_json = strdup(k_spec);
    ck->meta_json = strdup(k_meta);
    assert_non_null(ck->spec_json);
    assert_non_null(ck->meta_json);
    add_tensor(ck, "0.weight", 4, (const int64_t[]){4, 3, 3, 3}, 0.5f);
    add_tensor(ck, "0.bias", 1, (const int64_t[]){4}, -1.0f);
    add_tensor(ck, "3.running_mean", 1, (const int64_t[]){5}, 2.0f);
    add_tensor(ck, "5.weight", 2, (const int64_t[]){7, 12}, 0.25f);
    add_tensor(ck, "opt/m/5.weight", 3, (const int64_t[]){7, 3, 4}, -0.125f);
    add_tensor(ck, "x", 1, (const int64_t[]){0}, 0.0f); /* empty tensor */
    float *d = ck->tensors[1].data;
    d[0] = -0.0f;
    d[1] = FLT_MAX;
    d[2] = f32_bits(0x7fc00123u); /* NaN with a payload */
    d[3] = -INFINITY;
}

/* A small checkpoint for the exhaustive truncation and bit-flip loops. */
static void make_small(ft_ckpt *ck)
{
    memset(ck, 0, sizeof *ck);
    set_header(ck, 16, 16, 1, 2, 1.25f);
    ck->spec_json = strdup("{\"s\":1}");
    ck->meta_json = strdup("{\"m\":2}");
    assert_non_null(ck->spec_json);
    assert_non_null(ck->meta_json);
    add_tensor(ck, "0.weight", 2, (const int64_t[]){2, 3}, 1.0f);
    add_tensor(ck, "0.b", 1, (const int64_t[]){2}, 3.0f);
}

static void assert_ckpt_equal(const ft_ckpt *a, const ft_ckpt *b)
{
    assert_int_equal(a->input.width, b->input.width);
    assert_int_equal(a->input.height, b->input.height);
    assert_int_equal(a->input.channels, b->input.channels);
    assert_memory_equal(a->input.mean, b->input.mean, sizeof a->input.mean);
    assert_memory_equal(a->input.std, b->input.std, sizeof a->input.std);
    assert_int_equal(a->embed_dim, b->embed_dim);
    assert_memory_equal(&a->threshold, &b->threshold, sizeof a->threshold);
    assert_string_equal(a->spec_json, b->spec_json);
    assert_string_equal(a->meta_json ? a->meta_json : "{}", b->meta_json);
    assert_int_equal(a->n_tensors, b->n_tensors);
    for (int i = 0; i < a->n_tensors; i++) {
        const ft_ckpt_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->ndim, y->ndim);
        for (int d = 0; d < x->ndim; d++) assert_int_equal(x->dims[d], y->dims[d]);
        assert_int_equal(x->count, y->count);
        assert_non_null(y->data);
        if (x->count) assert_memory_equal(x->data, y->data, x->count * sizeof(float));
    }
}

static void assert_zeroed(const ft_ckpt *ck)
{
    static const ft_ckpt zero;
    assert_memory_equal(ck, &zero, sizeof zero);
}

static void assert_one_line(const ft_error *err)
{
    assert_true(err->msg[0] != '\0');
    assert_null(strchr(err->msg, '\n'));
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    uint8_t *b = malloc(len ? (size_t)len : 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* The bytes ft_ckpt_write produces for ck. */
static uint8_t *ckpt_bytes(const ft_ckpt *ck, size_t *n)
{
    char dir[512], path[600];
    ft_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/c.ckpt", dir);
    ft_error err = {0};
    assert_int_equal(ft_ckpt_write(path, ck, &err), FT_OK);
    uint8_t *b = slurp(path, n);
    ft_test_rmtree(dir);
    return b;
}

/* Overwrites the trailing digest with a fresh SHA-256 of everything before it. */
static void reseal(uint8_t *b, size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    assert_true(n >= DIGEST_LEN);
    assert_int_equal(EVP_Digest(b, n - DIGEST_LEN, md, &len, EVP_sha256(), NULL), 1);
    assert_int_equal(len, DIGEST_LEN);
    memcpy(b + n - DIGEST_LEN, md, DIGEST_LEN);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Reads an exact-size heap copy (so ASan sees any over-read) and returns the status. */
static ft_status read_copy(const uint8_t *b, size_t n, ft_error *err)
{
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n) memcpy(copy, b, n);
    ft_ckpt out;
    memset(&out, 0xA5, sizeof out); /* the reader must zero it */
    ft_status st = ft_ckpt_read_mem(copy, n, &out, err);
    if (st == FT_OK) {
        ft_ckpt_free(&out);
    } else {
        assert_zeroed(&out);
        assert_one_line(err);
    }
    free(copy);
    return st;
}

static void expect_mem_error(const uint8_t *b, size_t n, ft_status want, const char *needle)
{
    ft_error err = {0};
    ft_status st = read_copy(b, n, &err);
    if (st != want || (needle && !strstr(err.msg, needle))) {
        fprintf(stderr, "got %s '%s', want %s containing '%s'\n", ft_status_name(st), err.msg,
                ft_status_name(want), needle ? needle : "");
        fail();
    }
}

/* --------------------------------- an independent serialiser for crafted files ---- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} bb;

static void bb_put(bb *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void bb_u8(bb *b, uint8_t v) { bb_put(b, &v, 1); }

static void bb_u16(bb *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    bb_put(b, x, 2);
}

static void bb_u32(bb *b, uint32_t v)
{
    uint8_t x[4];
    put_le32(x, v);
    bb_put(b, x, 4);
}

static void bb_u64(bb *b, uint64_t v)
{
    bb_u32(b, (uint32_t)v);
    bb_u32(b, (uint32_t)(v >> 32));
}

static void bb_f32(bb *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    bb_u32(b, u);
}

typedef struct {
    uint32_t version, flags, embed, w, h, c;
    float mean[3], std[3], thr;
} hdr;

static hdr default_hdr(void)
{
    return (hdr){FT_CKPT_VERSION, 0, 8, 16, 16, 1, {0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}, 1.0f};
}

static void bb_header(bb *b, hdr h)
{
    bb_put(b, FT_CKPT_MAGIC, 8);
    bb_u32(b, h.version);
    bb_u32(b, h.flags);
    bb_u32(b, h.embed);
    bb_u32(b, h.w);
    bb_u32(b, h.h);
    bb_u32(b, h.c);
    for (int k = 0; k < 3; k++) bb_f32(b, h.mean[k]);
    for (int k = 0; k < 3; k++) bb_f32(b, h.std[k]);
    bb_f32(b, h.thr);
}

static void bb_json(bb *b, const char *s)
{
    bb_u64(b, strlen(s));
    bb_put(b, s, strlen(s));
}

/* Default header and JSON texts: what precedes the tensor count. */
static void bb_preamble(bb *b)
{
    bb_header(b, default_hdr());
    bb_json(b, "{}");
    bb_json(b, "{}");
}

static void bb_pad(bb *b)
{
    while (b->n % 4) bb_u8(b, 0);
}

static void bb_tensor_head(bb *b, const char *name, uint8_t dtype, uint8_t ndim, const uint64_t *dims)
{
    bb_u16(b, (uint16_t)strlen(name));
    bb_put(b, name, strlen(name));
    bb_u8(b, dtype);
    bb_u8(b, ndim);
    for (int d = 0; d < ndim; d++) bb_u64(b, dims[d]);
}

static void bb_tensor(bb *b, const char *name, int ndim, const uint64_t *dims, const float *data)
{
    bb_tensor_head(b, name, 1, (uint8_t)ndim, dims);
    bb_pad(b);
    uint64_t count = 1;
    for (int d = 0; d < ndim; d++) count *= dims[d];
    for (uint64_t i = 0; i < count; i++) bb_f32(b, data[i]);
}

static void bb_seal(bb *b)
{
    uint8_t zero[DIGEST_LEN] = {0};
    bb_put(b, zero, DIGEST_LEN);
    reseal(b->p, b->n);
}

static const uint8_t k_filler[32] = {0x41, 0x42, 0x43, 0x44};

static void bb_expect(bb *b, ft_status want, const char *needle)
{
    bb_seal(b);
    expect_mem_error(b->p, b->n, want, needle);
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* --------------------------------------------------------------- tests ---- */

static void test_round_trip(void **state)
{
    (void)state;
    char dir[512], path[600];
    ft_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    ft_ckpt ck, back;
    make_sample(&ck);
    ft_error err = {0};
    assert_int_equal(ft_ckpt_write(path, &ck, &err), FT_OK);
    assert_int_equal(ft_ckpt_read(path, &back, &err), FT_OK);
    assert_ckpt_equal(&ck, &back);
    ft_ckpt_free(&back);

    /* the same bytes through ft_ckpt_read_mem */
    size_t n;
    uint8_t *b = slurp(path, &n);
    assert_int_equal(ft_ckpt_read_mem(b, n, &back, &err), FT_OK);
    assert_ckpt_equal(&ck, &back);
    ft_ckpt_free(&back);
    free(b);
    ft_ckpt_free(&ck);
    assert_zeroed(&ck);
    ft_test_rmtree(dir);
}

static void test_round_trip_minimal(void **state)
{
    (void)state;
    ft_ckpt ck, back;
    memset(&ck, 0, sizeof ck);
    set_header(&ck, 1, 16384, 1, 65536, -3.5f);
    ck.spec_json = strdup("x");
    assert_non_null(ck.spec_json);
    /* meta_json NULL is written as "{}"; no tensors at all */
    size_t n;
    uint8_t *b = ckpt_bytes(&ck, &n);
    assert_int_equal(n, HEADER_LEN + 8 + 1 + 8 + 2 + 4 + DIGEST_LEN);
    ft_error err = {0};
    assert_int_equal(ft_ckpt_read_mem(b, n, &back, &err), FT_OK);
    assert_ckpt_equal(&ck, &back);
    assert_string_equal(back.meta_json, "{}");
    assert_null(back.tensors);
    ft_ckpt_free(&back);
    free(b);
    ft_ckpt_free(&ck);
}

/* The writer's bytes equal those of the serialiser above, built from FORMAT.md. */
static void test_layout_matches_format_doc(void **state)
{
    (void)state;
    ft_ckpt ck;
    make_small(&ck);
    size_t n;
    uint8_t *got = ckpt_bytes(&ck, &n);

    bb b = {0};
    hdr h = default_hdr();
    h.embed = 2;
    h.thr = 1.25f;
    for (int k = 0; k < 3; k++) {
        h.mean[k] = ck.input.mean[k];
        h.std[k] = ck.input.std[k];
    }
    bb_header(&b, h);
    bb_json(&b, "{\"s\":1}");
    bb_json(&b, "{\"m\":2}");
    bb_u32(&b, 2);
    bb_tensor(&b, "0.weight", 2, (const uint64_t[]){2, 3}, ck.tensors[0].data);
    bb_tensor(&b, "0.b", 1, (const uint64_t[]){2}, ck.tensors[1].data);
    bb_seal(&b);
    assert_int_equal(n, b.n);
    assert_memory_equal(got, b.p, n);

    /* spot checks of documented offsets */
    assert_memory_equal(got, "FTWCKPT1", 8);
    assert_int_equal(got[8], 1);  /* version, little-endian */
    assert_int_equal(got[12], 0); /* flags */
    assert_int_equal(got[16], 2); /* embed_dim */
    assert_int_equal(got[20], 16);
    assert_int_equal(got[60], 7); /* spec length */
    free(b.p);
    free(got);
    ft_ckpt_free(&ck);
}

static int count_entries(const char *dir, const char *only)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (only && strcmp(e->d_name, only)) {
            fprintf(stderr, "unexpected entry %s in %s\n", e->d_name, dir);
            fail();
        }
        n++;
    }
    closedir(d);
    return n;
}

static void test_atomic_write(void **state)
{
    (void)state;
    char dir[512], path[600], stale[700];
    ft_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    ft_ckpt ck, back;
    make_small(&ck);
    ft_error err = {0};
    assert_int_equal(ft_ckpt_write(path, &ck, &err), FT_OK);
    assert_int_equal(count_entries(dir, "model.ckpt"), 1);

    mode_t mask = umask(0);
    umask(mask);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644 & ~mask);

    /* overwrite an existing file, with a stale temp file of our own pid lying around */
    snprintf(stale, sizeof stale, "%s.tmp.%ld", path, (long)getpid());
    assert_int_equal(ft_test_write_file(stale, "junk", 4), 0);
    ck.threshold = 9.5f;
    ck.tensors[1].data[0] = 42.0f;
    assert_int_equal(ft_ckpt_write(path, &ck, &err), FT_OK);
    assert_int_equal(count_entries(dir, "model.ckpt"), 1);
    assert_int_equal(ft_ckpt_read(path, &back, &err), FT_OK);
    assert_ckpt_equal(&ck, &back);
    ft_ckpt_free(&back);

    /* a failing rename (the target is a directory) removes the temp file */
    char sub[700];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    memset(&err, 0, sizeof err);
    assert_int_equal(ft_ckpt_write(sub, &ck, &err), FT_EIO);
    assert_non_null(strstr(err.msg, sub));
    assert_one_line(&err);
    assert_int_equal(count_entries(dir, NULL), 2); /* model.ckpt and sub only */
    assert_int_equal(count_entries(sub, NULL), 0);

    ft_ckpt_free(&ck);
    ft_test_rmtree(dir);
}

static void test_write_missing_dir(void **state)
{
    (void)state;
    char dir[512], path[700];
    ft_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/no/such/dir/model.ckpt", dir);
    ft_ckpt ck;
    make_small(&ck);
    ft_error err = {0};
    assert_int_equal(ft_ckpt_write(path, &ck, &err), FT_EIO);
    assert_int_equal(err.code, FT_EIO);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, strerror(ENOENT)));
    assert_one_line(&err);
    assert_int_equal(count_entries(dir, NULL), 0);
    /* err may be NULL */
    assert_int_equal(ft_ckpt_write(path, &ck, NULL), FT_EIO);
    ft_ckpt_free(&ck);
    ft_test_rmtree(dir);
}

/* A bad in-memory checkpoint is refused before any file is created. */
static void test_write_refuses_invalid(void **state)
{
    (void)state;
    char dir[512], path[600];
    ft_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/bad.ckpt", dir);
    struct {
        const char *needle;
        int what;
    } cases[] = {
        {"channels", 0}, {"input size", 1}, {"embedding size", 2}, {"threshold", 3},
        {"std[0]", 4},   {"spec JSON", 5},  {"ndim 5", 6},         {"not the product", 7},
        {"duplicate", 8}, {"name length 0", 9}, {"not printable", 10}, {"negative", 11},
        {"data is NULL", 12}, {"tensor count", 13},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ft_ckpt ck;
        make_small(&ck);
        float *keep = NULL;
        switch (cases[i].what) {
        case 0: ck.input.channels = 2; break;
        case 1: ck.input.width = 16385; break;
        case 2: ck.embed_dim = 0; break;
        case 3: ck.threshold = NAN; break;
        case 4: ck.input.std[0] = 0.0f; break;
        case 5: ck.spec_json[0] = '\0'; break;
        case 6: ck.tensors[0].ndim = 5; break;
        case 7: ck.tensors[0].count = 5; break;
        case 8: snprintf(ck.tensors[1].name, sizeof ck.tensors[1].name, "0.weight"); break;
        case 9: ck.tensors[1].name[0] = '\0'; break;
        case 10: ck.tensors[1].name[1] = '\n'; break;
        case 11: ck.tensors[1].dims[0] = -2; break;
        case 12: keep = ck.tensors[1].data; ck.tensors[1].data = NULL; break;
        case 13: ck.n_tensors = FT_CKPT_MAX_TENSORS + 1; break;
        }
        ft_error err = {0};
        ft_status st = ft_ckpt_write(path, &ck, &err);
        if (st != FT_EINVAL || !strstr(err.msg, cases[i].needle) || !strstr(err.msg, path)) {
            fprintf(stderr, "case %zu: got %s '%s', want invalid with '%s'\n", i, ft_status_name(st), err.msg,
                    cases[i].needle);
            fail();
        }
        assert_one_line(&err);
        assert_int_equal(count_entries(dir, NULL), 0);
        if (keep) ck.tensors[1].data = keep;
        if (cases[i].what == 13) ck.n_tensors = 2;
        ft_ckpt_free(&ck);
    }
    ft_test_rmtree(dir);
}

static void test_truncation_every_length(void **state)
{
    (void)state;
    ft_ckpt ck;
    make_small(&ck);
    size_t n;
    uint8_t *b = ckpt_bytes(&ck, &n);
    for (size_t len = 0; len < n; len++) {
        ft_error err = {0};
        ft_status st = read_copy(b, len, &err);
        if (st != FT_EFORMAT && st != FT_ECORRUPT) {
            fprintf(stderr, "truncated to %zu of %zu bytes: %s '%s'\n", len, n, ft_status_name(st), err.msg);
            fail();
        }
    }
    ft_error err = {0};
    assert_int_equal(read_copy(b, n, &err), FT_OK);
    free(b);
    ft_ckpt_free(&ck);
}

static void check_flip(const uint8_t *b, size_t n, size_t byte, uint8_t mask)
{
    uint8_t *m = malloc(n);
    assert_non_null(m);
    memcpy(m, b, n);
    m[byte] ^= mask;
    ft_status want = byte < 8 ? FT_EFORMAT : byte < 12 ? FT_EVERSION : FT_ECORRUPT;
    ft_error err = {0};
    ft_status st = read_copy(m, n, &err);
    if (st != want) {
        fprintf(stderr, "byte %zu ^ 0x%02x: got %s '%s', want %s\n", byte, mask, ft_status_name(st), err.msg,
                ft_status_name(want));
        fail();
    }
    free(m);
}

static void test_bit_flips(void **state)
{
    (void)state;
    ft_ckpt ck;
    make_small(&ck);
    size_t n;
    uint8_t *b = ckpt_bytes(&ck, &n);
    for (size_t i = 0; i < n; i++) check_flip(b, n, i, 0x01);
    for (size_t bit = 0; bit < n * 8; bit += 7) check_flip(b, n, bit / 8, (uint8_t)(1u << (bit % 8)));
    free(b);
    ft_ckpt_free(&ck);
}

static void test_wrong_magic(void **state)
{
    (void)state;
    ft_ckpt ck;
    make_small(&ck);
    size_t n;
    uint8_t *b = ckpt_bytes(&ck, &n);
    memcpy(b, "\x89PNG\r\n\x1a\n", 8);
    reseal(b, n);
    char dir[512], path[600];
    ft_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/photo.png", dir);
    assert_int_equal(ft_test_write_file(path, b, n), 0);
    ft_ckpt out;
    ft_error err = {0};
    assert_int_equal(ft_ckpt_read(path, &out, &err), FT_EFORMAT);
    char want[800];
    snprintf(want, sizeof want, "%s: not a facetwin checkpoint (bad magic)", path);
    assert_string_equal(err.msg, want);
    assert_zeroed(&out);
    /* short files: a prefix of the magic is "truncated", anything else "bad magic" */
    expect_mem_error((const uint8_t *)"FTW", 3, FT_EFORMAT, "truncated checkpoint (3 bytes)");
    expect_mem_error((const uint8_t *)"{}", 2, FT_EFORMAT, "bad magic");
    free(b);
    ft_ckpt_free(&ck);
    ft_test_rmtree(dir);
}

static void test_wrong_version_valid_checksum(void **state)
{
    (void)state;
    ft_ckpt ck;
    make_small(&ck);
    size_t n;
    uint8_t *b = ckpt_bytes(&ck, &n);
    char dir[512], path[600];
    ft_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/new.ckpt", dir);
    put_le32(b + 8, 7);
    reseal(b, n);
    assert_int_equal(ft_test_write_file(path, b, n), 0);
    ft_ckpt out;
    ft_error err = {0};
    assert_int_equal(ft_ckpt_read(path, &out, &err), FT_EVERSION);
    char want[800];
    snprintf(want, sizeof want, "%s: checkpoint format version 7 is not supported (this build reads version 1)",
             path);
    assert_string_equal(err.msg, want);
    assert_zeroed(&out);
    const uint32_t others[] = {0, 2, 0xffffffffu};
    for (size_t i = 0; i < 3; i++) {
        put_le32(b + 8, others[i]);
        reseal(b, n);
        expect_mem_error(b, n, FT_EVERSION, "is not supported");
    }
    /* a version-7 file of only 12 bytes still says "version" */
    expect_mem_error(b, 12, FT_EVERSION, "version 4294967295");
    free(b);
    ft_ckpt_free(&ck);
    ft_test_rmtree(dir);
}

/* Sanity: the crafted-file serialiser produces files the reader accepts. */
static void test_crafted_valid(void **state)
{
    (void)state;
    bb b = {0};
    bb_preamble(&b);
    bb_u32(&b, 2);
    const float v[6] = {1, 2, 3, 4, 5, 6};
    bb_tensor(&b, "ab", 2, (const uint64_t[]){2, 3}, v);
    bb_tensor(&b, "opt/v/ab", 1, (const uint64_t[]){0}, v);
    bb_seal(&b);
    ft_ckpt out;
    ft_error err = {0};
    assert_int_equal(ft_ckpt_read_mem(b.p, b.n, &out, &err), FT_OK);
    assert_int_equal(out.n_tensors, 2);
    assert_int_equal(out.tensors[0].count, 6);
    assert_memory_equal(out.tensors[0].data, v, sizeof v);
    assert_int_equal(out.tensors[1].count, 0);
    assert_non_null(out.tensors[1].data);
    ft_ckpt_free(&out);
    free(b.p);
}

static void test_crafted_huge_lengths(void **state)
{
    (void)state;
    bb b = {0};
    bb_header(&b, default_hdr());
    bb_u64(&b, (uint64_t)1 << 62); /* spec length */
    bb_put(&b, k_filler, sizeof k_filler); /* past the minimum file size */
    bb_expect(&b, FT_EFORMAT, "spec JSON at offset 68 needs 4611686018427387904 bytes");

    bb_header(&b, default_hdr());
    bb_json(&b, "{}");
    bb_u64(&b, UINT64_MAX); /* metadata length */
    bb_put(&b, "{}", 2);
    bb_u32(&b, 0);
    bb_expect(&b, FT_EFORMAT, "metadata JSON");

    /* one byte more than remains */
    bb_header(&b, default_hdr());
    bb_json(&b, "{}");
    bb_u64(&b, 7);
    bb_put(&b, "{}", 2);
    bb_u32(&b, 0);
    bb_expect(&b, FT_EFORMAT, "metadata JSON at offset");

    /* a tensor whose dims promise 1 GiB of data that is not there */
    bb_preamble(&b);
    bb_u32(&b, 1);
    bb_tensor_head(&b, "big", 1, 2, (const uint64_t[]){1u << 20, 1u << 8});
    bb_pad(&b);
    bb_f32(&b, 1.0f);
    bb_expect(&b, FT_EFORMAT, "tensor data at offset");
}

static void test_crafted_tensor_count(void **state)
{
    (void)state;
    const float v[2] = {1, 2};
    bb b = {0};
    bb_preamble(&b);
    bb_u32(&b, 0xffffffffu);
    bb_tensor(&b, "a", 1, (const uint64_t[]){2}, v);
    bb_expect(&b, FT_EFORMAT, "tensor count 4294967295 exceeds 4096");

    bb_preamble(&b);
    bb_u32(&b, FT_CKPT_MAX_TENSORS); /* allowed count, but the bytes are not there */
    bb_tensor(&b, "a", 1, (const uint64_t[]){2}, v);
    bb_expect(&b, FT_EFORMAT, "tensor count 4096 cannot fit");

    bb_preamble(&b);
    bb_u32(&b, 3); /* fits the minimum-size rule, runs out while parsing */
    bb_tensor(&b, "a", 1, (const uint64_t[]){2}, v);
    bb_u32(&b, 0);
    bb_u32(&b, 0);
    bb_u32(&b, 0);
    bb_u32(&b, 0);
    bb_expect(&b, FT_EFORMAT, "tensor 1: name length 0");
}

static void test_crafted_dims(void **state)
{
    (void)state;
    bb b = {0};
    /* product overflows 64 bits */
    bb_preamble(&b);
    bb_u32(&b, 1);
    bb_tensor_head(&b, "w", 1, 4, (const uint64_t[]){1u << 20, 1u << 20, 1u << 20, 1u << 20});
    bb_pad(&b);
    bb_expect(&b, FT_EFORMAT, "product of its dimensions");

    /* one dimension beyond any file */
    bb_preamble(&b);
    bb_u32(&b, 1);
    bb_tensor_head(&b, "w", 1, 2, (const uint64_t[]){1, UINT64_MAX});
    bb_pad(&b);
    bb_expect(&b, FT_EFORMAT, "dimension 1 = 18446744073709551615");

    /* 2^31 values: each dim fine, the product is over the cap */
    bb_preamble(&b);
    bb_u32(&b, 1);
    bb_tensor_head(&b, "w", 1, 2, (const uint64_t[]){1u << 28, 8});
    bb_pad(&b);
    bb_expect(&b, FT_EFORMAT, "product of its dimensions");

    /* ndim 9 and 0 */
    const uint64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    bb_preamble(&b);
    bb_u32(&b, 1);
    bb_tensor_head(&b, "w", 1, 9, nine);
    bb_pad(&b);
    bb_f32(&b, 1.0f);
    bb_expect(&b, FT_EFORMAT, "ndim 9 is out of range 1..4");

    bb_preamble(&b);
    bb_u32(&b, 1);
    bb_tensor_head(&b, "w", 1, 0, NULL);
    bb_pad(&b);
    bb_put(&b, k_filler, 16); /* enough bytes for the tensor-count rule */
    bb_expect(&b, FT_EFORMAT, "ndim 0");
}

static void test_crafted_names(void **state)
{
    (void)state;
    const float v[1] = {1};
    char name[FT_CKPT_MAX_NAME + 2];
    memset(name, 'a', sizeof name);
    name[FT_CKPT_MAX_NAME + 1] = '\0'; /* 96 bytes */
    bb b = {0};
    bb_preamble(&b);
    bb_u32(&b, 1);
    bb_tensor(&b, name, 1, (const uint64_t[]){1}, v);
    bb_expect(&b, FT_EFORMAT, "name length 96 is out of range 1..95");

    name[FT_CKPT_MAX_NAME] = '\0'; /* 95 bytes: the longest allowed */
    bb_preamble(&b);
    bb_u32(&b, 1);
    bb_tensor(&b, name, 1, (const uint64_t[]){1}, v);
    bb_seal(&b);
    ft_ckpt out;
    ft_error err = {0};
    assert_int_equal(ft_ckpt_read_mem(b.p, b.n, &out, &err), FT_OK);
    assert_string_equal(out.tensors[0].name, name);
    ft_ckpt_free(&out);
    free(b.p);
    memset(&b, 0, sizeof b);

    bb_preamble(&b);
    bb_u32(&b, 1);
    bb_u16(&b, 65535);
    bb_put(&b, k_filler, 16);
    bb_expect(&b, FT_EFORMAT, "name length 65535");

    bb_preamble(&b);
    bb_u32(&b, 1);
    bb_tensor(&b, "a b", 1, (const uint64_t[]){1}, v);
    bb_expect(&b, FT_EFORMAT, "not printable ASCII");

    bb_preamble(&b);
    bb_u32(&b, 1);
    bb_tensor(&b, "a\nb", 1, (const uint64_t[]){1}, v);
    bb_expect(&b, FT_EFORMAT, "not printable ASCII");

    bb_preamble(&b);
    bb_u32(&b, 3);
    bb_tensor(&b, "0.weight", 1, (const uint64_t[]){1}, v);
    bb_tensor(&b, "0.bias", 1, (const uint64_t[]){1}, v);
    bb_tensor(&b, "0.weight", 1, (const uint64_t[]){1}, v);
    bb_expect(&b, FT_EFORMAT, "duplicate tensor name '0.weight'");
}

static void test_crafted_header_fields(void **state)
{
    (void)state;
    struct {
        const char *needle;
        int what;
    } cases[] = {
        {"flags 0x00000001", 0}, {"channels 2", 1},      {"input size 0x16", 2}, {"16385", 3},
        {"embedding size 0", 4}, {"embedding size 65537", 5}, {"threshold", 6}, {"threshold", 7},
        {"std[0]", 8},           {"mean[2] is not finite", 9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hdr h = default_hdr();
        switch (cases[i].what) {
        case 0: h.flags = 1; break;
        case 1: h.c = 2; break;
        case 2: h.w = 0; break;
        case 3: h.h = 16385; break;
        case 4: h.embed = 0; break;
        case 5: h.embed = 65537; break;
        case 6: h.thr = NAN; break;
        case 7: h.thr = INFINITY; break;
        case 8: h.std[0] = -1.0f; break;
        case 9: h.mean[2] = NAN; break;
        }
        bb b = {0};
        bb_header(&b, h);
        bb_json(&b, "{}");
        bb_json(&b, "{}");
        bb_u32(&b, 0);
        bb_expect(&b, FT_EFORMAT, cases[i].needle);
    }
}

static void test_crafted_body(void **state)
{
    (void)state;
    const float v[2] = {1, 2};
    bb b = {0};
    bb_header(&b, default_hdr());
    bb_u64(&b, 3);
    bb_put(&b, "{\0}", 3);
    bb_json(&b, "{}");
    bb_u32(&b, 0);
    bb_expect(&b, FT_EFORMAT, "spec JSON contains a NUL byte");

    bb_header(&b, default_hdr());
    bb_json(&b, "{}");
    bb_u64(&b, 3);
    bb_put(&b, "{}\0", 3);
    bb_u32(&b, 0);
    bb_expect(&b, FT_EFORMAT, "metadata JSON contains a NUL byte");

    bb_header(&b, default_hdr());
    bb_json(&b, "");
    bb_json(&b, "{}");
    bb_u32(&b, 0);
    bb_expect(&b, FT_EFORMAT, "spec JSON is empty");

    bb_preamble(&b);
    bb_u32(&b, 1);
    bb_tensor_head(&b, "ab", 2, 1, (const uint64_t[]){2});
    bb_pad(&b);
    bb_f32(&b, 1.0f);
    bb_f32(&b, 2.0f);
    bb_expect(&b, FT_EFORMAT, "dtype 2");

    /* header 60 + 10 + 10 + 4 = 84; "ab" head ends at 98, so 2 padding bytes */
    bb_preamble(&b);
    bb_u32(&b, 1);
    bb_tensor_head(&b, "ab", 1, 1, (const uint64_t[]){2});
    assert_int_equal(b.n, 98);
    bb_u8(&b, 0);
    bb_u8(&b, 0xff);
    bb_f32(&b, 1.0f);
    bb_f32(&b, 2.0f);
    bb_expect(&b, FT_EFORMAT, "non-zero padding");

    bb_preamble(&b);
    bb_u32(&b, 1);
    bb_tensor(&b, "ab", 1, (const uint64_t[]){2}, v);
    bb_u8(&b, 0);
    bb_expect(&b, FT_EFORMAT, "1 bytes of trailing garbage");

    bb_preamble(&b);
    bb_u32(&b, 0);
    bb_put(&b, "xyz", 3);
    bb_expect(&b, FT_EFORMAT, "trailing garbage");
}

static void test_empty_file(void **state)
{
    (void)state;
    char dir[512], path[600];
    ft_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/empty.ckpt", dir);
    assert_int_equal(ft_test_write_file(path, "", 0), 0);
    ft_ckpt out;
    ft_error err = {0};
    assert_int_equal(ft_ckpt_read(path, &out, &err), FT_EFORMAT);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "empty"));
    assert_one_line(&err);
    assert_zeroed(&out);
    expect_mem_error(NULL, 0, FT_EFORMAT, "empty");
    ft_test_rmtree(dir);
}

static void test_missing_file(void **state)
{
    (void)state;
    char dir[512], path[600];
    ft_test_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/nope.ckpt", dir);
    ft_ckpt out;
    memset(&out, 0x5A, sizeof out);
    ft_error err = {0};
    assert_int_equal(ft_ckpt_read(path, &out, &err), FT_EIO);
    assert_int_equal(strncmp(err.msg, path, strlen(path)), 0);
    assert_non_null(strstr(err.msg, strerror(ENOENT)));
    assert_one_line(&err);
    assert_zeroed(&out);
    assert_int_equal(ft_ckpt_read(path, &out, NULL), FT_EIO); /* err may be NULL */
    ft_test_rmtree(dir);
}

/* A directory, and a (sparse) file over the size cap refused before reading. */
static void test_not_a_file_and_too_big(void **state)
{
    (void)state;
    char dir[512], path[600];
    ft_test_tmpdir(dir, sizeof dir);
    ft_ckpt out;
    ft_error err = {0};
    assert_int_equal(ft_ckpt_read(dir, &out, &err), FT_EIO);
    assert_non_null(strstr(err.msg, "not a regular file"));
    assert_zeroed(&out);

    snprintf(path, sizeof path, "%s/huge.ckpt", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)FT_CKPT_MAX_BYTES + 1), 0);
    close(fd);
    memset(&err, 0, sizeof err);
    assert_int_equal(ft_ckpt_read(path, &out, &err), FT_ETOOBIG);
    assert_non_null(strstr(err.msg, path));
    assert_one_line(&err);
    assert_zeroed(&out);
    ft_test_rmtree(dir);
}

static void test_find(void **state)
{
    (void)state;
    ft_ckpt ck, back;
    make_sample(&ck);
    size_t n;
    uint8_t *b = ckpt_bytes(&ck, &n);
    ft_error err = {0};
    assert_int_equal(ft_ckpt_read_mem(b, n, &back, &err), FT_OK);
    const ft_ckpt_tensor *t = ft_ckpt_find(&back, "3.running_mean");
    assert_non_null(t);
    assert_ptr_equal(t, &back.tensors[2]);
    assert_int_equal(t->count, 5);
    assert_non_null(ft_ckpt_find(&back, "opt/m/5.weight"));
    assert_null(ft_ckpt_find(&back, "0.weigh"));
    assert_null(ft_ckpt_find(&back, "0.weight.x"));
    assert_null(ft_ckpt_find(&back, ""));
    assert_null(ft_ckpt_find(&back, NULL));
    assert_null(ft_ckpt_find(NULL, "0.weight"));
    ft_ckpt zero;
    memset(&zero, 0, sizeof zero);
    assert_null(ft_ckpt_find(&zero, "0.weight"));
    ft_ckpt_free(&back);
    free(b);
    ft_ckpt_free(&ck);
}

static void test_read_mem(void **state)
{
    (void)state;
    ft_ckpt ck, back;
    make_small(&ck);
    size_t n;
    uint8_t *b = ckpt_bytes(&ck, &n);
    ft_error err = {0};
    /* the bytes are not retained: free them before using the result */
    uint8_t *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, b, n);
    assert_int_equal(ft_ckpt_read_mem(copy, n, &back, &err), FT_OK);
    memset(copy, 0, n);
    free(copy);
    assert_ckpt_equal(&ck, &back);
    ft_ckpt_free(&back);
    /* no path in memory messages */
    b[n - 1] ^= 0x80;
    expect_mem_error(b, n, FT_ECORRUPT, "checksum mismatch: file is corrupt or truncated");
    assert_int_equal(ft_ckpt_read_mem(b, n, &back, NULL), FT_ECORRUPT);
    assert_int_equal(ft_ckpt_read_mem(NULL, 10, &back, &err), FT_EINVAL);
    assert_int_equal(ft_ckpt_read_mem(b, n, NULL, &err), FT_EINVAL);
    free(b);
    ft_ckpt_free(&ck);
}

static void test_free_is_safe(void **state)
{
    (void)state;
    ft_ckpt ck;
    memset(&ck, 0, sizeof ck);
    ft_ckpt_free(&ck);
    ft_ckpt_free(&ck);
    ft_ckpt_free(NULL);
    make_sample(&ck);
    ft_ckpt_free(&ck);
    assert_zeroed(&ck);
    ft_ckpt_free(&ck);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_minimal),
        cmocka_unit_test(test_layout_matches_format_doc),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_write_missing_dir),
        cmocka_unit_test(test_write_refuses_invalid),
        cmocka_unit_test(test_truncation_every_length),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_wrong_magic),
        cmocka_unit_test(test_wrong_version_valid_checksum),
        cmocka_unit_test(test_crafted_valid),
        cmocka_unit_test(test_crafted_huge_lengths),
        cmocka_unit_test(test_crafted_tensor_count),
        cmocka_unit_test(test_crafted_dims),
        cmocka_unit_test(test_crafted_names),
        cmocka_unit_test(test_crafted_header_fields),
        cmocka_unit_test(test_crafted_body),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_not_a_file_and_too_big),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_read_mem),
        cmocka_unit_test(test_free_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
