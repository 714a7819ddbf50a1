/* test_report.c — the HTML evaluation report (core/report.c).
 *
 * Synthetic pairs with known distances go through ft_pair_metrics_compute
 * and ft_report_write_html; the page is read back and checked as text: it is
 * self-contained (no script, no URL, no src=), outside strings are escaped,
 * the histogram's bars (data-kind / data-count attributes) add up to the
 * positives and negatives, the threshold line, ROC curve and marker are
 * there, the training curves have one point per epoch (or the "no training
 * history" note), NaN figures print "n/a" and never reach a coordinate, and
 * a failed write names the path and leaves no temp file behind.
 *
 * FT_REPORT_KEEP=/some/file.html keeps a copy of the richest page (2000
 * pairs, validation ROC, 12 epochs) for looking at, e.g. with
 * tools/render_check.sh.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facetwin/report.h"
#include "ft_test.h"

#define N_PAIRS 200
#define N_SHOWCASE 2000
#define THRESHOLD 0.75f
#define PATH_MAX_TEST 4096

static const char k_history3[] =
    "[{\"epoch\":1,\"train_loss\":0.31,\"val_loss\":0.29,\"val_accuracy\":0.71,\"lr\":0.001},"
    "{\"epoch\":2,\"train_loss\":0.22,\"val_loss\":0.24,\"val_accuracy\":0.80,\"lr\":0.001},"
    "{\"epoch\":3,\"train_loss\":0.17,\"val_loss\":0.21,\"val_accuracy\":0.86,\"lr\":0.0005}]";

/* ------------------------------------------------------------- helpers ---- */

typedef struct {
    float *dist;
    uint8_t *same;
    int n;
    ft_pair_metrics m;
    ft_report r;
} fixture;

/* splitmix64 -> uniform (0,1) -> normal (Box-Muller): reproducible distances. */
static double uniform01(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(uint64_t *s, double mean, double sd)
{
    double u = uniform01(s), v = uniform01(s);
    return mean + sd * sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* n pairs, the first half same-person (d ~ 0.5), the rest different (d ~ 1.0), d >= 0. */
static void fixture_make(fixture *fx, int n)
{
    memset(fx, 0, sizeof *fx);
    fx->n = n;
    fx->dist = malloc((size_t)n * sizeof *fx->dist);
    fx->same = malloc((size_t)n);
    assert_non_null(fx->dist);
    assert_non_null(fx->same);
    uint64_t seed = 7;
    for (int i = 0; i < n; i++) {
        fx->same[i] = i < n / 2;
        double d = fx->same[i] ? normal(&seed, 0.5, 0.15) : normal(&seed, 1.0, 0.2);
        fx->dist[i] = (float)fmax(d, 0.0);
    }
    ft_error err = {0};
    assert_status(ft_pair_metrics_compute(fx->dist, fx->same, n, THRESHOLD, &fx->m, &err), FT_OK, &err);
    fx->r = (ft_report){.title = "facetwin eval",
                        .model_id = "face-cnn-1a2b3c4d5e6f",
                        .data_desc = "synthetic pairs",
                        .dist = fx->dist,
                        .same = fx->same,
                        .n = n,
                        .m = &fx->m,
                        .tar_at_far_1e2 = 0.91,
                        .tar_at_far_1e3 = NAN,
                        .threshold_rule = "calibrated at EER on validation pairs"};
}

static void fixture_free(fixture *fx)
{
    free(fx->dist);
    free(fx->same);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Writes fx->r into a fresh temp dir and returns the page; *dir is that dir. */
static char *write_and_read(const fixture *fx, char *dir, size_t dir_n)
{
    char path[PATH_MAX_TEST + 32];
    ft_test_tmpdir(dir, dir_n);
    snprintf(path, sizeof path, "%s/report.html", dir);
    ft_error err = {0};
    assert_status(ft_report_write_html(path, &fx->r, &err), FT_OK, &err);
    return read_all(path);
}

static int count_of(const char *hay, const char *needle)
{
    int k = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) k++;
    return k;
}

/* Sum of the integers that follow each occurrence of prefix. */
static long sum_after(const char *hay, const char *prefix)
{
    long sum = 0;
    size_t n = strlen(prefix);
    for (const char *p = strstr(hay, prefix); p; p = strstr(p + n, prefix)) sum += strtol(p + n, NULL, 10);
    return sum;
}

/* Number of "x,y" points in the polyline whose data-series is `series`; -1 if absent. */
static int polyline_points(const char *html, const char *series)
{
    char key[128];
    snprintf(key, sizeof key, "data-series=\"%s\" points=\"", series);
    const char *p = strstr(html, key);
    if (!p) return -1;
    p += strlen(key);
    const char *end = strchr(p, '"');
    assert_non_null(end);
    int k = 0;
    for (const char *q = p; q < end; q++) k += *q == ',';
    return k;
}

/* The entries of dir other than . and .. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int k = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) k++;
    closedir(d);
    return k;
}

/* No "nan"/"inf" text anywhere in the page (the prose never uses those letters together). */
static void assert_no_nonfinite_text(const char *html)
{
    assert_null(strstr(html, "nan"));
    assert_null(strstr(html, "inf\""));
    assert_null(strstr(html, "inf,"));
    assert_null(strstr(html, "inf "));
}

/* --------------------------------------------------------------- tests ---- */

static void test_page_structure(void **state)
{
    (void)state;
    fixture fx;
    fixture_make(&fx, N_PAIRS);
    fx.r.title = "Eval <b>& 'quotes' \"x\"";
    char dir[PATH_MAX_TEST];
    char *html = write_and_read(&fx, dir, sizeof dir);

    assert_true(!strncmp(html, "<!DOCTYPE html>", 15));
    assert_non_null(strstr(html, "<meta charset=\"utf-8\">"));
    assert_non_null(strstr(html, "<svg id=\"hist\""));
    assert_non_null(strstr(html, "<svg id=\"roc\""));
    assert_non_null(strstr(html, "<svg id=\"curves\""));
    assert_int_equal(count_of(html, "<figcaption>"), 3);
    /* self-contained */
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "http:"));
    assert_null(strstr(html, "https:"));
    assert_null(strstr(html, "//"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "@import"));
    assert_null(strstr(html, "url("));
    /* escaping, in <title> and <h1> */
    assert_null(strstr(html, "<b>"));
    assert_int_equal(count_of(html, "Eval &lt;b&gt;&amp; &#39;quotes&#39; &quot;x&quot;"), 2);
    /* table */
    assert_non_null(strstr(html, "face-cnn-1a2b3c4d5e6f"));
    assert_non_null(strstr(html, "calibrated at EER on validation pairs"));
    assert_non_null(strstr(html, "oracle"));
    assert_non_null(strstr(html, "TAR @ FAR=1e-2</th><td>0.91<"));
    assert_non_null(strstr(html, "TAR @ FAR=1e-3</th><td>n/a<"));
    char want[128];
    snprintf(want, sizeof want, "%d <span class=\"aside\">(%d same-person / %d different-person)", N_PAIRS,
             fx.m.positives, fx.m.negatives);
    assert_non_null(strstr(html, want));
    /* histogram: bar counts add up, threshold line and label */
    assert_int_equal(sum_after(html, "data-kind=\"same\" data-count=\""), fx.m.positives);
    assert_int_equal(sum_after(html, "data-kind=\"diff\" data-count=\""), fx.m.negatives);
    assert_true(count_of(html, "data-bin=\"") <= 2 * 40);
    assert_non_null(strstr(html, "id=\"hist-threshold\""));
    assert_non_null(strstr(html, ">threshold 0.75<"));
    /* ROC: a curve of several points and the operating-point marker; no validation curve */
    assert_true(polyline_points(html, "roc_eval") > 10);
    assert_int_equal(polyline_points(html, "roc_val"), -1);
    assert_non_null(strstr(html, "id=\"roc-threshold\""));
    /* no history */
    assert_non_null(strstr(html, "no training history in this model"));
    assert_int_equal(polyline_points(html, "train_loss"), -1);
    assert_no_nonfinite_text(html);

    free(html);
    ft_test_rmtree(dir);
    fixture_free(&fx);
}

static void test_history_curves(void **state)
{
    (void)state;
    fixture fx;
    fixture_make(&fx, N_PAIRS);
    fx.r.history_json = k_history3;
    char dir[PATH_MAX_TEST];
    char *html = write_and_read(&fx, dir, sizeof dir);
    assert_null(strstr(html, "no training history"));
    assert_int_equal(polyline_points(html, "train_loss"), 3);
    assert_int_equal(polyline_points(html, "val_loss"), 3);
    assert_int_equal(polyline_points(html, "val_accuracy"), 3);
    assert_int_equal(count_of(html, "<circle class=\"train pt\""), 3);
    assert_non_null(strstr(html, ">validation accuracy</text>")); /* the right axis */
    assert_non_null(strstr(html, "3 epochs"));
    assert_non_null(strstr(html, "Learning rate 0.001 at the start, 0.0005 at the end"));
    free(html);
    ft_test_rmtree(dir);

    /* training without validation: only the train loss, no right axis */
    fx.r.history_json = "[{\"epoch\":1,\"train_loss\":0.5,\"lr\":0.01},{\"epoch\":2,\"train_loss\":0.4,\"lr\":0.01},"
                        "{\"epoch\":3,\"train_loss\":null}]";
    html = write_and_read(&fx, dir, sizeof dir);
    assert_int_equal(polyline_points(html, "train_loss"), 2); /* the null is skipped */
    assert_int_equal(polyline_points(html, "val_loss"), -1);
    assert_int_equal(polyline_points(html, "val_accuracy"), -1);
    assert_null(strstr(html, ">validation accuracy</text>")); /* no right axis */
    free(html);
    ft_test_rmtree(dir);
    fixture_free(&fx);
}

static void test_bad_history_is_a_note(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "{not json", "[]", "{\"epoch\":1}", "[1,2,3]", "[{\"train_loss\":1}]"};
    fixture fx;
    fixture_make(&fx, N_PAIRS);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fx.r.history_json = bad[i];
        char dir[PATH_MAX_TEST];
        char *html = write_and_read(&fx, dir, sizeof dir);
        assert_non_null(strstr(html, "<svg id=\"curves\""));
        assert_non_null(strstr(html, "no training history in this model"));
        free(html);
        ft_test_rmtree(dir);
    }
    fixture_free(&fx);
}

static void test_validation_roc(void **state)
{
    (void)state;
    fixture fx;
    fixture_make(&fx, N_PAIRS);
    enum { ROWS = 5 };
    /* (threshold, far, frr), deliberately not in FAR order; one row NaN */
    const float rows[(ROWS + 1) * 3] = {0.9f, 0.5f, 0.02f, 0.3f, 0.01f, 0.6f, 0.6f,  0.1f,  0.2f,
                                        0.5f, 0.05f, 0.4f, 1.2f, 1.0f,  0.0f, NAN,  NAN,   NAN};
    fx.r.val_roc = rows;
    fx.r.n_val_roc = ROWS + 1;
    char dir[PATH_MAX_TEST];
    char *html = write_and_read(&fx, dir, sizeof dir);
    assert_int_equal(polyline_points(html, "roc_val"), ROWS);
    assert_non_null(strstr(html, "validation (calibration)"));
    assert_no_nonfinite_text(html);
    free(html);
    ft_test_rmtree(dir);
    fixture_free(&fx);
}

static void test_nonfinite_values(void **state)
{
    (void)state;
    fixture fx;
    fixture_make(&fx, N_PAIRS);
    fx.dist[0] = NAN;           /* a same pair */
    fx.dist[N_PAIRS - 1] = INFINITY; /* a different pair */
    fx.m.auc = NAN;
    fx.m.eer = INFINITY;
    fx.r.history_json = "[{\"epoch\":1,\"train_loss\":0.5,\"val_loss\":0.6,\"val_accuracy\":0.7},"
                        "{\"epoch\":2,\"train_loss\":0.4,\"val_loss\":0.5,\"val_accuracy\":0.8}]";
    char dir[PATH_MAX_TEST];
    char *html = write_and_read(&fx, dir, sizeof dir);
    assert_no_nonfinite_text(html);
    assert_non_null(strstr(html, "AUC</th><td>n/a<"));
    assert_non_null(strstr(html, "EER</th><td>n/a "));
    assert_int_equal(sum_after(html, "data-kind=\"same\" data-count=\""), fx.m.positives - 1);
    assert_int_equal(sum_after(html, "data-kind=\"diff\" data-count=\""), fx.m.negatives - 1);
    assert_non_null(strstr(html, "2 non-finite distances left out"));
    free(html);
    ft_test_rmtree(dir);
    fixture_free(&fx);
}

/* Every distance equal: one bin must still have width, nothing divides by zero. */
static void test_degenerate_distances(void **state)
{
    (void)state;
    fixture fx;
    fixture_make(&fx, N_PAIRS);
    for (int i = 0; i < N_PAIRS; i++) fx.dist[i] = 0.5f;
    ft_error err = {0};
    assert_status(ft_pair_metrics_compute(fx.dist, fx.same, N_PAIRS, 0.5f, &fx.m, &err), FT_OK, &err);
    fx.r.history_json = "[{\"epoch\":4,\"train_loss\":0,\"val_loss\":0,\"val_accuracy\":1}]"; /* one epoch */
    char dir[PATH_MAX_TEST];
    char *html = write_and_read(&fx, dir, sizeof dir);
    assert_int_equal(sum_after(html, "data-kind=\"same\" data-count=\""), fx.m.positives);
    assert_int_equal(sum_after(html, "data-kind=\"diff\" data-count=\""), fx.m.negatives);
    assert_int_equal(polyline_points(html, "train_loss"), 1);
    assert_no_nonfinite_text(html);
    free(html);
    ft_test_rmtree(dir);
    fixture_free(&fx);
}

static void test_write_failures(void **state)
{
    (void)state;
    fixture fx;
    fixture_make(&fx, N_PAIRS);
    char dir[PATH_MAX_TEST], path[PATH_MAX_TEST + 64];
    ft_test_tmpdir(dir, sizeof dir);
    ft_error err = {0};

    /* a directory that does not exist */
    snprintf(path, sizeof path, "%s/no-such-dir/report.html", dir);
    assert_status(ft_report_write_html(path, &fx.r, &err), FT_EIO, &err);
    assert_msg_has(&err, path);
    assert_int_equal(dir_entries(dir), 0);

    /* the target is a directory: the temp file is written, the rename fails, the temp file goes */
    snprintf(path, sizeof path, "%s/taken", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_status(ft_report_write_html(path, &fx.r, &err), FT_EIO, &err);
    assert_msg_has(&err, path);
    assert_msg_has(&err, "rename");
    assert_int_equal(dir_entries(dir), 1);

    /* overwriting an existing report leaves just the new one */
    snprintf(path, sizeof path, "%s/r.html", dir);
    assert_int_equal(ft_test_write_file(path, "old", 3), 0);
    assert_status(ft_report_write_html(path, &fx.r, &err), FT_OK, &err);
    assert_int_equal(dir_entries(dir), 2);
    char *html = read_all(path);
    assert_true(!strncmp(html, "<!DOCTYPE html>", 15));
    free(html);

    /* bad arguments */
    assert_status(ft_report_write_html(NULL, &fx.r, &err), FT_EINVAL, &err);
    assert_status(ft_report_write_html(path, NULL, &err), FT_EINVAL, &err);
    ft_report r = fx.r;
    r.m = NULL;
    assert_status(ft_report_write_html(path, &r, &err), FT_EINVAL, &err);
    r = fx.r;
    r.n_val_roc = 3;
    assert_status(ft_report_write_html(path, &r, &err), FT_EINVAL, &err);
    assert_status(ft_report_write_html(path, &r, NULL), FT_EINVAL, NULL);

    ft_test_rmtree(dir);
    fixture_free(&fx);
}

/* The page to look at: 2000 pairs (FAR axis down to 1e-3), validation ROC, 12 epochs. */
static void test_showcase(void **state)
{
    (void)state;
    fixture fx;
    fixture_make(&fx, N_SHOWCASE);
    enum { ROWS = 40, EPOCHS = 12 };
    float rows[ROWS * 3];
    for (int i = 0; i < ROWS; i++) { /* a plausible calibration ROC: FAR falls faster than FRR rises */
        double t = 1.3 * (ROWS - i) / ROWS;
        rows[3 * i] = (float)t;
        rows[3 * i + 1] = (float)pow(10, -3.2 * i / ROWS);
        rows[3 * i + 2] = (float)(0.7 * pow((double)i / ROWS, 2.5));
    }
    fx.r.val_roc = rows;
    fx.r.n_val_roc = ROWS;
    char hist[4096];
    size_t len = (size_t)snprintf(hist, sizeof hist, "[");
    for (int e = 1; e <= EPOCHS; e++)
        len += (size_t)snprintf(hist + len, sizeof hist - len,
                                "%s{\"epoch\":%d,\"train_loss\":%.4f,\"val_loss\":%.4f,\"val_accuracy\":%.4f,"
                                "\"lr\":%g}",
                                e > 1 ? "," : "", e, 0.05 + 0.3 * exp(-0.35 * e), 0.08 + 0.25 * exp(-0.3 * e),
                                0.97 - 0.3 * exp(-0.4 * e), e <= 8 ? 1e-3 : 1e-4);
    snprintf(hist + len, sizeof hist - len, "]");
    fx.r.history_json = hist;
    fx.r.title = "facetwin eval: face-cnn on synthetic pairs";
    fx.r.tar_at_far_1e3 = 0.42;
    char dir[PATH_MAX_TEST];
    char *html = write_and_read(&fx, dir, sizeof dir);
    assert_int_equal(polyline_points(html, "train_loss"), EPOCHS);
    assert_int_equal(polyline_points(html, "roc_val"), ROWS);
    assert_int_equal(sum_after(html, "data-kind=\"same\" data-count=\""), fx.m.positives);
    assert_non_null(strstr(html, ">0.001<")); /* 1000 negatives: the FAR axis reaches 1e-3 */
    const char *keep = getenv("FT_REPORT_KEEP");
    if (keep && *keep) assert_int_equal(ft_test_write_file(keep, html, strlen(html)), 0);
    free(html);
    ft_test_rmtree(dir);
    fixture_free(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_structure),     cmocka_unit_test(test_history_curves),
        cmocka_unit_test(test_bad_history_is_a_note), cmocka_unit_test(test_validation_roc),
        cmocka_unit_test(test_nonfinite_values),   cmocka_unit_test(test_degenerate_distances),
        cmocka_unit_test(test_write_failures),     cmocka_unit_test(test_showcase),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
