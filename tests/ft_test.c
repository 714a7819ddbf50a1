/* ft_test.c — helpers shared by the cmocka tests (see ft_test.h). */
#include "ft_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *ft_test_dataset(const char *rel, char *buf, size_t n)
{
    const char *root = getenv("FT_SHARED_DIR");
    if (!root) root = "../shared";
    snprintf(buf, n, "%s/datasets/%s", root, rel);
    struct stat st;
    if (stat(buf, &st) != 0) {
        fprintf(stderr, "SKIP: dataset %s not found (set FT_SHARED_DIR)\n", buf);
        return NULL;
    }
    return buf;
}

const char *ft_test_source(const char *rel, char *buf, size_t n)
{
    const char *root = getenv("FT_SOURCE_DIR");
    if (!root) root = ".";
    snprintf(buf, n, "%s/%s", root, rel);
    return buf;
}

const char *ft_test_tmpdir(char *buf, size_t n)
{
    const char *t = getenv("TMPDIR");
    snprintf(buf, n, "%s/facetwin-test-XXXXXX", t ? t : "/tmp");
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        abort();
    }
    return buf;
}

void ft_test_rmtree(const char *path)
{
    if (!path || !strstr(path, "facetwin-test-")) return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", path);
}

int ft_test_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    int rc = fclose(f);
    return (w == n && rc == 0) ? 0 : -1;
}

void ft_test_join(char *buf, size_t n, const char *root, const char *rel)
{
    int r = snprintf(buf, n, "%s/%s", root, rel);
    assert_true(r > 0 && (size_t)r < n);
}

void ft_test_mkdir(const char *root, const char *rel)
{
    char p[4096];
    ft_test_join(p, sizeof p, root, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

void ft_test_write_pgm(const char *root, const char *rel, int w, int h, const uint8_t *pix, size_t keep)
{
    char p[4096];
    ft_test_join(p, sizeof p, root, rel);
    size_t cap = 64 + keep;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    int hd = snprintf((char *)buf, cap, "P5\n%d %d\n255\n", w, h);
    memcpy(buf + hd, pix, keep);
    assert_int_equal(ft_test_write_file(p, buf, (size_t)hd + keep), 0);
    free(buf);
}

double ft_test_relerr(double a, double b, double floor_)
{
    double m = fmax(fmax(fabs(a), fabs(b)), floor_);
    return fabs(a - b) / m;
}

void assert_status(ft_status got, ft_status want, const ft_error *err)
{
    if (got != want)
        print_message("status %s, want %s (%s)\n", ft_status_name(got), ft_status_name(want),
                      got ? err->msg : "no error");
    assert_int_equal(got, want);
}

void assert_msg_has(const ft_error *err, const char *needle)
{
    if (!strstr(err->msg, needle)) print_message("message '%s' lacks '%s'\n", err->msg, needle);
    assert_non_null(strstr(err->msg, needle));
    assert_null(strchr(err->msg, '\n'));
}
