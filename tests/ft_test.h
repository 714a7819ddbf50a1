/* ft_test.h — small helpers shared by the cmocka tests.
 *
 * ft_test_dataset(): path of a dataset under $FT_SHARED_DIR/datasets, or
 * NULL (then the test calls skip() with a clear message: a dataset that is
 * missing is the only reason a test may skip).
 * ft_test_tmpdir(): a fresh private temp directory (mkdtemp), removed by
 * ft_test_rmtree().
 */
#ifndef FT_TEST_H
#define FT_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "facetwin/status.h"

/* Fills buf with $FT_SHARED_DIR/datasets/<rel>; returns buf, or NULL if missing. */
const char *ft_test_dataset(const char *rel, char *buf, size_t n);
/* Path of a file under the source tree ($FT_SOURCE_DIR/<rel>). */
const char *ft_test_source(const char *rel, char *buf, size_t n);
/* Creates a fresh temp directory; returns buf. */
const char *ft_test_tmpdir(char *buf, size_t n);
/* rm -rf path (only paths created by ft_test_tmpdir). */
void ft_test_rmtree(const char *path);
/* Writes n bytes to path; returns 0 on success. */
int ft_test_write_file(const char *path, const void *data, size_t n);
/* buf (n bytes) = root/rel, asserted to fit. */
void ft_test_join(char *buf, size_t n, const char *root, const char *rel);
/* mkdir root/rel (asserted). */
void ft_test_mkdir(const char *root, const char *rel);
/* Writes root/rel as a binary PGM (P5) of w x h pixels, of which only the first
 * keep bytes of pix (keep < w*h: a truncated file). */
void ft_test_write_pgm(const char *root, const char *rel, int w, int h, const uint8_t *pix, size_t keep);
/* Relative error |a-b| / max(|a|,|b|,floor). */
double ft_test_relerr(double a, double b, double floor_);

/* Asserts a status, printing both names and the message when it differs. */
void assert_status(ft_status got, ft_status want, const ft_error *err);
/* Asserts the error message contains needle and is one line. */
void assert_msg_has(const ft_error *err, const char *needle);

#endif
