/* test_srv_metrics.c — the /metrics registry and its text rendering (server/metrics.c).
 *
 * Every rendered text goes through check_exposition(), a small independent
 * parser of the Prometheus text format 0.0.4: each family has exactly one
 * "# HELP" then "# TYPE" line before its samples, each sample is
 * `name{label="value",...} value` or `name value` and belongs to the family
 * above it, histogram buckets are cumulative (monotone), end with le="+Inf",
 * and +Inf equals _count. Exact values are then read back by series.
 *
 * The registry is process-wide: every test starts with ft_metrics_init().
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ft_test.h"
#include "metrics.h"

#define N_THREADS 8
#define THREAD_OPS 20000
#define MAX_FAMILIES 64
#define NAME_MAX_LEN 128
#define LABELS_MAX_LEN 256
#define LE_MAX_LEN 32

/* ------------------------------------------------------ the exposition parser ---- */

typedef struct {
    char help[NAME_MAX_LEN];   /* family named by the last HELP, awaiting its TYPE */
    char family[NAME_MAX_LEN]; /* family whose samples may follow ("" before TYPE) */
    char type[16];
    char series[LABELS_MAX_LEN]; /* labels (without le) of the histogram series */
    int in_series;               /* buckets seen, +Inf not yet */
    int closed;                  /* +Inf seen: _sum and _count may follow */
    double last_bucket, last_le, inf_value;
} parse_state;

static int is_name_start(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == ':';
}
static int is_name_char(char ch) { return is_name_start(ch) || (ch >= '0' && ch <= '9'); }

/* Reads a metric name at *p into out; advances *p. */
static void parse_name(const char **p, char *out, size_t n)
{
    const char *s = *p;
    assert_true(is_name_start(*s));
    while (is_name_char(*s)) s++;
    assert_true((size_t)(s - *p) < n);
    memcpy(out, *p, (size_t)(s - *p));
    out[s - *p] = '\0';
    *p = s;
}

/* Parses {k="v",...}; fills labels_wo_le (canonical, without le) and le (or ""). */
static void parse_labels(const char **p, char *labels_wo_le, char *le)
{
    const char *s = *p;
    labels_wo_le[0] = le[0] = '\0';
    if (*s != '{') return;
    s++;
    size_t out = 0;
    for (;;) {
        char key[NAME_MAX_LEN], val[LABELS_MAX_LEN];
        assert_true(is_name_start(*s) && *s != ':');
        parse_name(&s, key, sizeof key);
        assert_int_equal(*s++, '=');
        assert_int_equal(*s++, '"');
        size_t n = 0;
        while (*s != '"') {
            assert_true(*s != '\0' && *s != '\n');
            if (*s == '\\') {
                s++;
                assert_true(*s == '\\' || *s == '"' || *s == 'n');
            }
            assert_true(n + 1 < sizeof val);
            val[n++] = *s++;
        }
        val[n] = '\0';
        s++;
        if (strcmp(key, "le") == 0) {
            assert_true(n < LE_MAX_LEN);
            memcpy(le, val, n + 1);
        } else {
            int w = snprintf(labels_wo_le + out, LABELS_MAX_LEN - out, "%s%s=%s", out ? "," : "", key, val);
            assert_true(w > 0 && out + (size_t)w < LABELS_MAX_LEN);
            out += (size_t)w;
        }
        if (*s == ',') {
            s++;
            continue;
        }
        assert_int_equal(*s++, '}');
        break;
    }
    *p = s;
}

static double parse_value(const char *s)
{
    if (strcmp(s, "+Inf") == 0) return INFINITY;
    if (strcmp(s, "-Inf") == 0) return -INFINITY;
    if (strcmp(s, "NaN") == 0) return NAN;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0') print_message("bad sample value '%s'\n", s);
    assert_true(end != s && *end == '\0');
    return v;
}

static int has_suffix(const char *s, const char *family, const char *suffix)
{
    size_t n = strlen(family);
    return strncmp(s, family, n) == 0 && strcmp(s + n, suffix) == 0;
}

/* One sample line (not a comment), checked against the family in st. */
static void check_sample(parse_state *st, const char *line)
{
    const char *p = line;
    char name[NAME_MAX_LEN], labels[LABELS_MAX_LEN], le[LE_MAX_LEN];
    parse_name(&p, name, sizeof name);
    parse_labels(&p, labels, le);
    assert_int_equal(*p++, ' ');
    assert_true(*p != ' ');
    double v = parse_value(p);
    assert_true(st->family[0] != '\0');
    if (strcmp(st->type, "histogram") != 0) {
        assert_string_equal(name, st->family);
        assert_string_equal(le, "");
        assert_true(v >= 0);
        return;
    }
    if (has_suffix(name, st->family, "_bucket")) {
        assert_true(le[0] != '\0');
        if (!st->in_series) { /* a new series */
            snprintf(st->series, sizeof st->series, "%s", labels);
            st->in_series = 1;
            st->closed = 0;
            st->last_bucket = 0;
            st->last_le = -INFINITY;
        }
        assert_string_equal(labels, st->series);
        assert_true(v >= st->last_bucket); /* cumulative */
        st->last_bucket = v;
        double bound = parse_value(le);
        assert_true(bound > st->last_le); /* bounds increase */
        st->last_le = bound;
        if (isinf(bound)) {
            st->in_series = 0;
            st->closed = 1;
            st->inf_value = v;
        }
    } else if (has_suffix(name, st->family, "_sum")) {
        assert_true(st->closed);
        assert_string_equal(labels, st->series);
        assert_true(v >= 0);
    } else if (has_suffix(name, st->family, "_count")) {
        assert_true(st->closed);
        assert_string_equal(labels, st->series);
        assert_true(v == st->inf_value); /* +Inf == _count */
    } else {
        print_message("sample '%s' outside its family %s\n", name, st->family);
        fail();
    }
}

/* Validates the whole text; returns the number of sample lines. */
static int check_exposition(const char *text, size_t len)
{
    assert_int_equal(strlen(text), len);
    assert_true(len > 0 && text[len - 1] == '\n');
    char families[MAX_FAMILIES][NAME_MAX_LEN];
    int n_families = 0, samples = 0;
    parse_state st;
    memset(&st, 0, sizeof st);
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        size_t n = (size_t)(nl - p);
        char *line = malloc(n + 1);
        assert_non_null(line);
        memcpy(line, p, n);
        line[n] = '\0';
        p = nl + 1;
        if (line[0] == '#') {
            char name[NAME_MAX_LEN];
            const char *q = line;
            assert_false(st.in_series); /* the last histogram series ended with +Inf */
            if (strncmp(line, "# HELP ", 7) == 0) {
                q += 7;
                parse_name(&q, name, sizeof name);
                assert_true(*q == ' ' && q[1] != '\0');
                for (int i = 0; i < n_families; i++) assert_string_not_equal(families[i], name);
                assert_true(n_families < MAX_FAMILIES);
                snprintf(families[n_families++], NAME_MAX_LEN, "%s", name);
                memset(&st, 0, sizeof st);
                snprintf(st.help, sizeof st.help, "%s", name);
            } else {
                assert_int_equal(strncmp(line, "# TYPE ", 7), 0);
                q += 7;
                parse_name(&q, name, sizeof name);
                assert_string_equal(name, st.help); /* TYPE right after its HELP */
                assert_int_equal(*q++, ' ');
                assert_true(strcmp(q, "counter") == 0 || strcmp(q, "gauge") == 0 || strcmp(q, "histogram") == 0);
                snprintf(st.family, sizeof st.family, "%s", name);
                snprintf(st.type, sizeof st.type, "%s", q);
                st.help[0] = '\0';
            }
        } else {
            check_sample(&st, line);
            samples++;
        }
        free(line);
    }
    assert_false(st.in_series);
    return samples;
}

/* ----------------------------------------------------------------- helpers ---- */

static char *render(const ft_metrics_gauges *g)
{
    size_t len = 0;
    char *text = ft_metrics_render(g, &len);
    assert_non_null(text);
    check_exposition(text, len);
    return text;
}

/* The value text of the sample line "<series> <value>", or NULL if absent. */
static const char *value_of(const char *text, const char *series, char *out, size_t n)
{
    size_t k = strlen(series);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        if (strncmp(p, series, k) == 0 && p[k] == ' ') {
            size_t v = (size_t)(nl - (p + k + 1));
            assert_true(v < n);
            memcpy(out, p + k + 1, v);
            out[v] = '\0';
            return out;
        }
        p = nl + 1;
    }
    return NULL;
}

static void assert_line(const char *text, const char *series, const char *want)
{
    char got[64];
    if (!value_of(text, series, got, sizeof got)) {
        print_message("no line '%s'\n", series);
        fail();
    }
    if (strcmp(got, want) != 0) print_message("%s: got %s, want %s\n", series, got, want);
    assert_string_equal(got, want);
}

static void assert_no_line(const char *text, const char *series)
{
    char got[64];
    assert_null(value_of(text, series, got, sizeof got));
}

/* Checks the 14 cumulative bucket values of a histogram series (labels before le). */
static void assert_buckets(const char *text, const char *name, const char *labels, const char *const want[14])
{
    static const char *const les[14] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                        "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5",     "+Inf"};
    for (int i = 0; i < 14; i++) {
        char series[256];
        snprintf(series, sizeof series, "%s_bucket{%s%sle=\"%s\"}", name, labels, labels[0] ? "," : "", les[i]);
        assert_line(text, series, want[i]);
    }
}

/* ------------------------------------------------------------------- tests ---- */

static void test_route_labels(void **state)
{
    (void)state;
    static const char *const want[FT_ROUTE_COUNT] = {
        "verify", "enroll", "identify", "embed", "subjects", "subject", "subject_delete",
        "face_delete", "model", "reload", "healthz", "readyz", "metrics", "other"};
    for (int r = 0; r < FT_ROUTE_COUNT; r++) assert_string_equal(ft_route_label((ft_route_id)r), want[r]);
    assert_string_equal(ft_route_label(FT_ROUTE_COUNT), "other");
    assert_string_equal(ft_route_label((ft_route_id)-1), "other");
}

static void test_render_after_observations(void **state)
{
    (void)state;
    ft_metrics_init();
    ft_metrics_request(FT_ROUTE_VERIFY, 200, 0.0003);
    ft_metrics_request(FT_ROUTE_VERIFY, 200, 0.0003);
    ft_metrics_request(FT_ROUTE_VERIFY, 200, 0.003);
    ft_metrics_request(FT_ROUTE_VERIFY, 401, 0.2);
    ft_metrics_request(FT_ROUTE_VERIFY, 418, 0.01); /* not in the table: "other"; 0.01 is in le="0.01" */
    ft_metrics_request(FT_ROUTE_ENROLL, 201, 7.0);  /* beyond the last bound */
    ft_metrics_request(FT_ROUTE_OTHER, 404, 0.0001);
    ft_metrics_request(FT_ROUTE_COUNT, 404, 0.0001); /* out of range: counted as other */
    ft_metrics_decode(0.0005);
    ft_metrics_decode(-1.0);
    ft_metrics_decode(NAN);
    ft_metrics_encoder(1.5);
    ft_metrics_reload(1);
    ft_metrics_reload(1);
    ft_metrics_reload(0);
    for (int i = 0; i < 3; i++) ft_metrics_overload();
    ft_metrics_inflight(3);
    ft_metrics_inflight(-1);
    assert_int_equal(ft_metrics_inflight_now(), 2);

    char *t = render(NULL);
    assert_line(t, "facetwind_requests_total{route=\"verify\",code=\"200\"}", "3");
    assert_line(t, "facetwind_requests_total{route=\"verify\",code=\"401\"}", "1");
    assert_line(t, "facetwind_requests_total{route=\"verify\",code=\"other\"}", "1");
    assert_line(t, "facetwind_requests_total{route=\"enroll\",code=\"201\"}", "1");
    assert_line(t, "facetwind_requests_total{route=\"other\",code=\"404\"}", "2");
    assert_no_line(t, "facetwind_requests_total{route=\"verify\",code=\"500\"}");
    assert_no_line(t, "facetwind_requests_total{route=\"verify\",code=\"418\"}");

    static const char *const verify[14] = {"2", "2", "2", "3", "4", "4", "4", "4", "5", "5", "5", "5", "5", "5"};
    assert_buckets(t, "facetwind_request_duration_seconds", "route=\"verify\"", verify);
    assert_line(t, "facetwind_request_duration_seconds_sum{route=\"verify\"}", "0.213600");
    assert_line(t, "facetwind_request_duration_seconds_count{route=\"verify\"}", "5");
    static const char *const enroll[14] = {"0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "1"};
    assert_buckets(t, "facetwind_request_duration_seconds", "route=\"enroll\"", enroll);
    assert_line(t, "facetwind_request_duration_seconds_sum{route=\"enroll\"}", "7.000000");
    assert_line(t, "facetwind_request_duration_seconds_count{route=\"enroll\"}", "1");
    static const char *const decode[14] = {"3", "3", "3", "3", "3", "3", "3", "3", "3", "3", "3", "3", "3", "3"};
    assert_buckets(t, "facetwind_decode_seconds", "", decode);
    assert_line(t, "facetwind_decode_seconds_sum", "0.000500");
    assert_line(t, "facetwind_decode_seconds_count", "3");
    static const char *const enc[14] = {"0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "1", "1", "1"};
    assert_buckets(t, "facetwind_encoder_seconds", "", enc);
    assert_line(t, "facetwind_encoder_seconds_sum", "1.500000");

    assert_line(t, "facetwind_model_reloads_total{result=\"ok\"}", "2");
    assert_line(t, "facetwind_model_reloads_total{result=\"failed\"}", "1");
    assert_line(t, "facetwind_overload_rejections_total", "3");
    assert_line(t, "facetwind_in_flight_requests", "2");
    free(t);

    ft_metrics_init(); /* resets everything */
    t = render(NULL);
    assert_no_line(t, "facetwind_requests_total{route=\"verify\",code=\"200\"}");
    assert_line(t, "facetwind_request_duration_seconds_count{route=\"verify\"}", "0");
    assert_line(t, "facetwind_overload_rejections_total", "0");
    assert_line(t, "facetwind_in_flight_requests", "0");
    free(t);
}

static void test_families_and_labels(void **state)
{
    (void)state;
    ft_metrics_init();
    char *t = render(NULL);
    static const char *const families[][2] = {
        {"facetwind_requests_total", "counter"},
        {"facetwind_request_duration_seconds", "histogram"},
        {"facetwind_decode_seconds", "histogram"},
        {"facetwind_encoder_seconds", "histogram"},
        {"facetwind_cache_hits_total", "counter"},
        {"facetwind_cache_misses_total", "counter"},
        {"facetwind_cache_evictions_total", "counter"},
        {"facetwind_cache_entries", "gauge"},
        {"facetwind_cache_bytes", "gauge"},
        {"facetwind_gallery_faces", "gauge"},
        {"facetwind_gallery_subjects", "gauge"},
        {"facetwind_in_flight_requests", "gauge"},
        {"facetwind_model_reloads_total", "counter"},
        {"facetwind_overload_rejections_total", "counter"},
    };
    int n_type = 0;
    for (const char *p = t; (p = strstr(p, "# TYPE ")); p++) n_type++;
    assert_int_equal(n_type, (int)(sizeof families / sizeof *families));
    for (size_t i = 0; i < sizeof families / sizeof *families; i++) {
        char want[128];
        snprintf(want, sizeof want, "# TYPE %s %s\n", families[i][0], families[i][1]);
        assert_non_null(strstr(t, want));
        snprintf(want, sizeof want, "# HELP %s ", families[i][0]);
        assert_non_null(strstr(t, want));
    }
    /* the duration histogram exists for every route from the first scrape */
    for (int r = 0; r < FT_ROUTE_COUNT; r++) {
        char series[128];
        snprintf(series, sizeof series, "facetwind_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"}",
                 ft_route_label((ft_route_id)r));
        assert_line(t, series, "0");
    }
    free(t);
}

static void test_gauges(void **state)
{
    (void)state;
    ft_metrics_init();
    ft_metrics_gauges g;
    memset(&g, 0, sizeof g);
    g.cache.hits = 12345678901ull;
    g.cache.misses = 7;
    g.cache.evictions = 3;
    g.cache.entries = 42;
    g.cache.bytes = 1u << 20;
    g.gallery_faces = 1000;
    g.gallery_subjects = 250;
    char *t = render(&g);
    assert_line(t, "facetwind_cache_hits_total", "12345678901");
    assert_line(t, "facetwind_cache_misses_total", "7");
    assert_line(t, "facetwind_cache_evictions_total", "3");
    assert_line(t, "facetwind_cache_entries", "42");
    assert_line(t, "facetwind_cache_bytes", "1048576");
    assert_line(t, "facetwind_gallery_faces", "1000");
    assert_line(t, "facetwind_gallery_subjects", "250");
    free(t);
    t = render(NULL); /* no gauges: zeros */
    assert_line(t, "facetwind_cache_hits_total", "0");
    assert_line(t, "facetwind_gallery_faces", "0");
    free(t);
}

static void test_large_render(void **state)
{
    (void)state;
    ft_metrics_init();
    static const int codes[] = {200, 201, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503, 418};
    int n_codes = (int)(sizeof codes / sizeof *codes);
    for (int r = 0; r < FT_ROUTE_COUNT; r++)
        for (int c = 0; c < n_codes; c++) ft_metrics_request((ft_route_id)r, codes[c], 0.001 * (c + 1));
    size_t len = 0;
    char *t = ft_metrics_render(NULL, &len);
    assert_non_null(t);
    int samples = check_exposition(t, len);
    /* every (route, code) cell + 16 lines per route histogram + the rest */
    assert_true(samples >= FT_ROUTE_COUNT * n_codes + FT_ROUTE_COUNT * 16);
    assert_true(len > 16384); /* beyond the initial buffer: it grew, not truncated */
    for (int r = 0; r < FT_ROUTE_COUNT; r++) {
        char series[128];
        snprintf(series, sizeof series, "facetwind_requests_total{route=\"%s\",code=\"503\"}",
                 ft_route_label((ft_route_id)r));
        assert_line(t, series, "1");
        snprintf(series, sizeof series, "facetwind_request_duration_seconds_count{route=\"%s\"}",
                 ft_route_label((ft_route_id)r));
        assert_line(t, series, "15");
    }
    assert_non_null(strstr(t, "\nfacetwind_overload_rejections_total 0\n")); /* the last line is there */
    free(t);
}

static void *worker(void *p)
{
    int id = (int)(intptr_t)p;
    for (int i = 0; i < THREAD_OPS; i++) {
        ft_metrics_inflight(1);
        ft_metrics_request((ft_route_id)(id % FT_ROUTE_COUNT), (i % 2) ? 200 : 500, 0.002);
        ft_metrics_decode(0.0001);
        ft_metrics_encoder(3.0);
        if (i % 100 == 0) ft_metrics_overload();
        ft_metrics_inflight(-1);
    }
    return NULL;
}

static void test_concurrent_totals(void **state)
{
    (void)state;
    ft_metrics_init();
    pthread_t th[N_THREADS];
    for (int t = 0; t < N_THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t), 0);
    for (int i = 0; i < 50; i++) free(render(NULL)); /* scrapes racing the updates stay valid */
    for (int t = 0; t < N_THREADS; t++) assert_int_equal(pthread_join(th[t], NULL), 0);

    char *text = render(NULL);
    char want[64], series[160];
    const int per_code = THREAD_OPS / 2;
    for (int t = 0; t < N_THREADS; t++) {
        const char *route = ft_route_label((ft_route_id)(t % FT_ROUTE_COUNT));
        snprintf(series, sizeof series, "facetwind_requests_total{route=\"%s\",code=\"200\"}", route);
        snprintf(want, sizeof want, "%d", per_code);
        assert_line(text, series, want);
        snprintf(series, sizeof series, "facetwind_requests_total{route=\"%s\",code=\"500\"}", route);
        assert_line(text, series, want);
        snprintf(series, sizeof series, "facetwind_request_duration_seconds_count{route=\"%s\"}", route);
        snprintf(want, sizeof want, "%d", THREAD_OPS);
        assert_line(text, series, want);
        snprintf(series, sizeof series, "facetwind_request_duration_seconds_sum{route=\"%s\"}", route);
        snprintf(want, sizeof want, "%d.000000", THREAD_OPS * 2 / 1000);
        assert_line(text, series, want);
    }
    const int total = N_THREADS * THREAD_OPS;
    snprintf(want, sizeof want, "%d", total);
    assert_line(text, "facetwind_decode_seconds_count", want);
    assert_line(text, "facetwind_decode_seconds_bucket{le=\"0.0005\"}", want);
    snprintf(want, sizeof want, "%d.%06d", total / 10000, (total % 10000) * 100);
    assert_line(text, "facetwind_decode_seconds_sum", want);
    snprintf(want, sizeof want, "%d.000000", total * 3);
    assert_line(text, "facetwind_encoder_seconds_sum", want);
    snprintf(want, sizeof want, "%d", N_THREADS * (THREAD_OPS / 100));
    assert_line(text, "facetwind_overload_rejections_total", want);
    assert_line(text, "facetwind_in_flight_requests", "0");
    assert_int_equal(ft_metrics_inflight_now(), 0);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_labels),
        cmocka_unit_test(test_render_after_observations),
        cmocka_unit_test(test_families_and_labels),
        cmocka_unit_test(test_gauges),
        cmocka_unit_test(test_large_render),
        cmocka_unit_test(test_concurrent_totals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
