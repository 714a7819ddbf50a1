/* test_srv_auth.c — API keys (server/auth.c).
 *
 * Keys files are written into a fresh temp directory; their hash fields come
 * from ft_auth_hash_hex, itself pinned first by known answers. Every kind of
 * malformed line is checked for its status, the line number in the message,
 * and for NOT echoing the hash field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "ft_test.h"

#define KEY_MAX 4096 /* the longest key ft_auth_check accepts (auth.c) */
#define FILE_MAX (1u << 20)
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct {
    char dir[256];
    char path[300];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    ft_test_tmpdir(f->dir, sizeof f->dir);
    ft_test_join(f->path, sizeof f->path, f->dir, "keys");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ft_test_rmtree(f->dir);
    free(f);
    return 0;
}

static const char *hex_of(const char *key, char out[65])
{
    assert_int_equal(ft_auth_hash_hex(key, strlen(key), out), 1);
    return out;
}

/* Writes text to the fixture's keys file and loads it. */
static ft_status load_text(fixture *f, const char *text, ft_auth **a, ft_error *err)
{
    assert_int_equal(ft_test_write_file(f->path, text, strlen(text)), 0);
    memset(err, 0, sizeof *err);
    return ft_auth_load(f->path, a, err);
}

/* A file whose line 3 (after a comment and a good key) is bad: must fail naming line 3
 * and the reason, without the hash field in the message. */
static void expect_bad_line3(fixture *f, const char *bad, const char *reason)
{
    char good[65], text[512];
    snprintf(text, sizeof text, "# keys\nalice %s verify\n%s\nbob %s admin\n", hex_of("alice-key", good), bad,
             SHA_EMPTY);
    ft_auth *a = (ft_auth *)1;
    ft_error err;
    assert_status(load_text(f, text, &a, &err), FT_EFORMAT, &err);
    assert_null(a);
    assert_msg_has(&err, "line 3:");
    assert_msg_has(&err, reason);
    assert_msg_has(&err, f->path);
    assert_null(strstr(err.msg, good));
    const char *sp = strchr(bad, ' ');
    if (sp && strlen(sp + 1) >= 16) {
        char prefix[17]; /* not even a piece of the bad line's hash field */
        memcpy(prefix, sp + 1, 16);
        prefix[16] = '\0';
        if (strstr(err.msg, prefix)) print_message("message '%s' echoes '%s'\n", err.msg, prefix);
        assert_null(strstr(err.msg, prefix));
    }
}

/* --------------------------------------------------------------- tests ---- */

static void test_hash_known_answer(void **state)
{
    (void)state;
    char out[65];
    assert_int_equal(ft_auth_hash_hex("abc", 3, out), 1);
    assert_string_equal(out, SHA_ABC);
    assert_int_equal(ft_auth_hash_hex("", 0, out), 1);
    assert_string_equal(out, SHA_EMPTY);
    assert_int_equal(ft_auth_hash_hex(NULL, 0, out), 1);
    assert_string_equal(out, SHA_EMPTY);
}

static void test_good_file(void **state)
{
    fixture *f = *state;
    char h1[65], h2[65], h3[65], text[1024];
    hex_of("k-verify", h1);
    hex_of("k-admin", h2);
    hex_of("k-both", h3);
    for (char *p = h3; *p; p++) /* hex in upper case is accepted */
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
    snprintf(text, sizeof text,
             "# facetwind keys\n"
             "\n"
             "   # indented comment\n"
             "reader %s verify\n"
             "\t \n"
             "ops@example.org\t%s   admin\r\n"
             "  ci-bot.2  %s verify,admin  \n"
             "last %s verify", /* no final newline */
             h1, h2, h3, SHA_ABC);
    ft_auth *a = NULL;
    ft_error err;
    assert_status(load_text(f, text, &a, &err), FT_OK, &err);
    assert_int_equal(ft_auth_count(a), 4);

    char name[FT_AUTH_MAX_NAME + 1];
    assert_int_equal(ft_auth_check(a, "Bearer k-verify", name), FT_SCOPE_VERIFY);
    assert_string_equal(name, "reader");
    assert_int_equal(ft_auth_check(a, "Bearer k-admin", name), FT_SCOPE_VERIFY | FT_SCOPE_ADMIN);
    assert_string_equal(name, "ops@example.org");
    assert_int_equal(ft_auth_check(a, "Bearer k-both", name), FT_SCOPE_VERIFY | FT_SCOPE_ADMIN);
    assert_string_equal(name, "ci-bot.2");
    assert_int_equal(ft_auth_check(a, "Bearer abc", NULL), FT_SCOPE_VERIFY);
    ft_auth_free(a);
    ft_auth_free(NULL);
    assert_int_equal(ft_auth_count(NULL), 0);
}

static void test_check_headers(void **state)
{
    fixture *f = *state;
    char h[65], text[256];
    snprintf(text, sizeof text, "svc %s admin\n", hex_of("s3cret-Key_1", h));
    ft_auth *a = NULL;
    ft_error err;
    assert_status(load_text(f, text, &a, &err), FT_OK, &err);
    const int all = FT_SCOPE_VERIFY | FT_SCOPE_ADMIN;
    char name[FT_AUTH_MAX_NAME + 1];

    static const char *const good[] = {"Bearer s3cret-Key_1", "bearer s3cret-Key_1", "BEARER   s3cret-Key_1",
                                       "Bearer\ts3cret-Key_1", "Bearer s3cret-Key_1  "};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        memset(name, 'x', sizeof name);
        assert_int_equal(ft_auth_check(a, good[i], name), all);
        assert_string_equal(name, "svc");
    }
    static const char *const bad[] = {
        "",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Bearers3cret-Key_1",
        "Basic s3cret-Key_1",
        " Bearer s3cret-Key_1",
        "Bearer s3cret-Key_",       /* a prefix */
        "Bearer s3cret-Key_12",     /* an extension */
        "Bearer S3CRET-KEY_1",      /* keys are case-sensitive */
        "Bearer s3cret-Key_1 x",    /* two tokens */
        "Bearer s3cret-Key_1\r\n",  /* control bytes */
        "Bearer " SHA_ABC,          /* the hash is not the key */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(name, 'x', sizeof name);
        assert_int_equal(ft_auth_check(a, bad[i], name), 0);
        assert_string_equal(name, "");
    }
    assert_int_equal(ft_auth_check(a, NULL, name), 0);
    assert_string_equal(name, "");
    assert_int_equal(ft_auth_check(NULL, "Bearer s3cret-Key_1", name), 0);
    ft_auth_free(a);
}

static void test_key_length_limit(void **state)
{
    fixture *f = *state;
    char *k_max = malloc(KEY_MAX + 1), *k_over = malloc(KEY_MAX + 2), *hdr = malloc(KEY_MAX + 16);
    assert_true(k_max && k_over && hdr);
    memset(k_max, 'k', KEY_MAX);
    k_max[KEY_MAX] = '\0';
    memset(k_over, 'o', KEY_MAX + 1);
    k_over[KEY_MAX + 1] = '\0';
    char h1[65], h2[65], text[256];
    snprintf(text, sizeof text, "max %s verify\nover %s verify\n", hex_of(k_max, h1), hex_of(k_over, h2));
    ft_auth *a = NULL;
    ft_error err;
    assert_status(load_text(f, text, &a, &err), FT_OK, &err);
    char name[FT_AUTH_MAX_NAME + 1];
    snprintf(hdr, KEY_MAX + 16, "Bearer %s", k_max);
    assert_int_equal(ft_auth_check(a, hdr, name), FT_SCOPE_VERIFY);
    assert_string_equal(name, "max");
    snprintf(hdr, KEY_MAX + 16, "Bearer %s", k_over); /* stored, but longer than accepted */
    assert_int_equal(ft_auth_check(a, hdr, name), 0);
    ft_auth_free(a);
    free(k_max);
    free(k_over);
    free(hdr);
}

static void test_bad_lines(void **state)
{
    fixture *f = *state;
    char h[65];
    hex_of("zed-key", h);
    char line[256];

    /* bad hex: one non-hex digit in an otherwise good hash */
    snprintf(line, sizeof line, "zed %.*sg%s verify", 40, h, h + 41);
    expect_bad_line3(f, line, "not a hex digit");
    /* wrong length: one too short, one too long */
    snprintf(line, sizeof line, "zed %.63s verify", h);
    expect_bad_line3(f, line, "63 characters");
    snprintf(line, sizeof line, "zed %s0 verify", h);
    expect_bad_line3(f, line, "65 characters");
    /* unknown scope, empty scope item */
    snprintf(line, sizeof line, "zed %s verify,write", h);
    expect_bad_line3(f, line, "unknown scope 'write'");
    snprintf(line, sizeof line, "zed %s Admin", h);
    expect_bad_line3(f, line, "unknown scope");
    snprintf(line, sizeof line, "zed %s verify,", h);
    expect_bad_line3(f, line, "empty scope");
    /* fields in the wrong order: the hash lands in the scope field and is not quoted */
    snprintf(line, sizeof line, "zed verify %s", h);
    expect_bad_line3(f, line, "hash has 6 characters");
    /* missing fields, extra field */
    expect_bad_line3(f, "zed", "missing hash");
    snprintf(line, sizeof line, "zed %s", h);
    expect_bad_line3(f, line, "missing scopes");
    snprintf(line, sizeof line, "zed %s verify # trailing comment", h);
    expect_bad_line3(f, line, "extra field");
    /* names: duplicate, too long, bad characters */
    snprintf(line, sizeof line, "alice %s verify", h);
    expect_bad_line3(f, line, "duplicate name 'alice'");
    snprintf(line, sizeof line, "%065d %s verify", 7, h);
    expect_bad_line3(f, line, "name longer than 64");
    snprintf(line, sizeof line, "ze\"d %s verify", h);
    expect_bad_line3(f, line, "name may hold only");
    /* the same key under two names */
    char alice[65];
    snprintf(line, sizeof line, "zed %s admin", hex_of("alice-key", alice));
    expect_bad_line3(f, line, "same key hash as line 2");
}

static void test_nul_byte(void **state)
{
    fixture *f = *state;
    static const char text[] = "# ok\nname\0x " SHA_ABC " verify\n";
    assert_int_equal(ft_test_write_file(f->path, text, sizeof text - 1), 0);
    ft_auth *a = NULL;
    ft_error err = {0};
    assert_status(ft_auth_load(f->path, &a, &err), FT_EFORMAT, &err);
    assert_msg_has(&err, "line 2: NUL byte");
}

static void test_empty_files_refused(void **state)
{
    fixture *f = *state;
    static const char *const empties[] = {"", "\n\n", "# only a comment\n   \n# another\n"};
    for (size_t i = 0; i < sizeof empties / sizeof *empties; i++) {
        ft_auth *a = (ft_auth *)1;
        ft_error err;
        assert_status(load_text(f, empties[i], &a, &err), FT_EFORMAT, &err);
        assert_null(a);
        assert_msg_has(&err, "no keys");
    }
}

static void test_file_errors(void **state)
{
    fixture *f = *state;
    ft_auth *a = NULL;
    ft_error err = {0};
    char missing[320];
    ft_test_join(missing, sizeof missing, f->dir, "nope");
    assert_status(ft_auth_load(missing, &a, &err), FT_EIO, &err);
    assert_msg_has(&err, "nope");
    assert_status(ft_auth_load(f->dir, &a, &err), FT_EIO, &err); /* a directory */
    assert_msg_has(&err, "not a regular file");
    assert_int_equal(ft_auth_load(missing, &a, NULL), FT_EIO); /* err may be NULL */

    /* one byte over the size bound (a valid first line, then comment padding) */
    char *big = malloc(FILE_MAX + 1);
    assert_non_null(big);
    int n = snprintf(big, FILE_MAX + 1, "k %s verify\n", SHA_ABC);
    memset(big + n, '#', FILE_MAX + 1 - (size_t)n);
    assert_int_equal(ft_test_write_file(f->path, big, FILE_MAX + 1), 0);
    assert_status(ft_auth_load(f->path, &a, &err), FT_ETOOBIG, &err);
    assert_msg_has(&err, "larger than");
    assert_int_equal(ft_test_write_file(f->path, big, FILE_MAX), 0); /* exactly the bound: fine */
    assert_status(ft_auth_load(f->path, &a, &err), FT_OK, &err);
    assert_int_equal(ft_auth_count(a), 1);
    ft_auth_free(a);
    free(big);
}

static void test_key_count_limit(void **state)
{
    fixture *f = *state;
    size_t cap = (size_t)(FT_AUTH_MAX_KEYS + 1) * 96;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t len = 0;
    for (int i = 0; i < FT_AUTH_MAX_KEYS + 1; i++) {
        char key[32], h[65];
        snprintf(key, sizeof key, "key-%d", i);
        len += (size_t)snprintf(text + len, cap - len, "name%d %s verify\n", i, hex_of(key, h));
    }
    /* exactly FT_AUTH_MAX_KEYS: fine, and the last one is found */
    char *cut = text;
    for (int i = 0; i < FT_AUTH_MAX_KEYS; i++) cut = strchr(cut, '\n') + 1;
    assert_int_equal(ft_test_write_file(f->path, text, (size_t)(cut - text)), 0);
    ft_auth *a = NULL;
    ft_error err = {0};
    assert_status(ft_auth_load(f->path, &a, &err), FT_OK, &err);
    assert_int_equal(ft_auth_count(a), FT_AUTH_MAX_KEYS);
    char name[FT_AUTH_MAX_NAME + 1], hdr[64];
    snprintf(hdr, sizeof hdr, "Bearer key-%d", FT_AUTH_MAX_KEYS - 1);
    assert_int_equal(ft_auth_check(a, hdr, name), FT_SCOPE_VERIFY);
    snprintf(hdr, sizeof hdr, "name%d", FT_AUTH_MAX_KEYS - 1);
    assert_string_equal(name, hdr);
    ft_auth_free(a);
    /* one more: refused, naming the line */
    assert_int_equal(ft_test_write_file(f->path, text, len), 0);
    assert_status(ft_auth_load(f->path, &a, &err), FT_ETOOBIG, &err);
    snprintf(hdr, sizeof hdr, "line %d: more than %d keys", FT_AUTH_MAX_KEYS + 1, FT_AUTH_MAX_KEYS);
    assert_msg_has(&err, hdr);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_known_answer),
        cmocka_unit_test_setup_teardown(test_good_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_length_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_files_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_count_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
