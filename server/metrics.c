/* metrics.c — the /metrics registry and its Prometheus text rendering (metrics.h).
 *
 * One static struct, g_metrics, is the whole registry: the only mutable global
 * in the daemon, because process-wide counters are the point of this file.
 * Every cell is a C11 atomic updated with relaxed fetch_add — no lock on the
 * request path; a scrape reads each cell once. Relaxed order is enough: every
 * cell is an independent monotonic count (or the in-flight gauge), and nothing
 * is published through them.
 *
 * requests_total{route,code} is a fixed [route][code] table. The codes are the
 * statuses the daemon answers with (k_codes); any other lands in a last
 * "other" column, rendered as code="other". Only non-zero cells are rendered:
 * most (route, code) pairs can never happen and 200 zero lines help nobody.
 *
 * Histograms. An observation does ONE fetch_add on the bucket it falls in
 * (the first bound >= the value, or +Inf), one on the sum. The sum is kept in
 * whole microseconds in an integer atomic (there are no portable float
 * atomics) and rendered in seconds as an exact decimal. Buckets are stored
 * per bucket and made cumulative while rendering, and _count is the +Inf
 * bucket's cumulative value: so even a scrape racing observations shows
 * monotone buckets and +Inf == _count (a separately kept count could be one
 * ahead of or behind the buckets). The sum may race by an observation, which
 * Prometheus tolerates. The request-duration histogram is rendered for every
 * route, so the series exist from the first scrape.
 *
 * Rendering appends to a malloc'd buffer that doubles as needed; any failed
 * allocation makes ft_metrics_render return NULL, never a truncated text.
 * Label values are escaped (\\ \" \n) although the ones used here are fixed.
 */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_BUF_INITIAL 16384
#define US_PER_S 1000000
#define US_MAX 1000000000000000ull /* clamp for one observation: ~31 years */

typedef atomic_uint_fast64_t counter;

/* ------------------------------------------------------------ the tables ---- */

static const char *const k_route_labels[FT_ROUTE_COUNT] = {
    [FT_ROUTE_VERIFY] = "verify",          [FT_ROUTE_ENROLL] = "enroll",
    [FT_ROUTE_IDENTIFY] = "identify",      [FT_ROUTE_EMBED] = "embed",
    [FT_ROUTE_SUBJECTS] = "subjects",      [FT_ROUTE_SUBJECT] = "subject",
    [FT_ROUTE_SUBJECT_DELETE] = "subject_delete", [FT_ROUTE_FACE_DELETE] = "face_delete",
    [FT_ROUTE_MODEL] = "model",            [FT_ROUTE_RELOAD] = "reload",
    [FT_ROUTE_HEALTHZ] = "healthz",        [FT_ROUTE_READYZ] = "readyz",
    [FT_ROUTE_METRICS] = "metrics",        [FT_ROUTE_OTHER] = "other",
};

/* The HTTP statuses facetwind answers with; anything else counts as "other". */
static const int k_codes[] = {200, 201, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503};
#define N_CODES ((int)(sizeof k_codes / sizeof k_codes[0]))
#define CODE_OTHER N_CODES
#define CODE_OTHER_LABEL "other"

/* Histogram upper bounds in seconds, with their rendered labels. */
static const double k_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                  0.1,    0.25,  0.5,    1,     2.5,  5};
static const char *const k_bound_labels[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                             "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5"};
#define N_BOUNDS ((int)(sizeof k_bounds / sizeof k_bounds[0]))
#define N_BUCKETS (N_BOUNDS + 1) /* + the +Inf bucket */
_Static_assert(sizeof k_bound_labels / sizeof k_bound_labels[0] == sizeof k_bounds / sizeof k_bounds[0],
               "one label per bound");

enum { RELOAD_OK, RELOAD_FAILED, RELOAD_RESULTS };
static const char *const k_reload_labels[RELOAD_RESULTS] = {"ok", "failed"};

typedef struct {
    counter bucket[N_BUCKETS]; /* per bucket, not cumulative (see the top) */
    counter sum_us;
} histogram;

static struct {
    counter requests[FT_ROUTE_COUNT][N_CODES + 1];
    histogram duration[FT_ROUTE_COUNT];
    histogram decode, encoder;
    atomic_int_fast64_t in_flight;
    counter reloads[RELOAD_RESULTS];
    counter overload;
} g_metrics;

const char *ft_route_label(ft_route_id r)
{
    return ((int)r >= 0 && r < FT_ROUTE_COUNT) ? k_route_labels[r] : k_route_labels[FT_ROUTE_OTHER];
}

/* ------------------------------------------------------------- updating ---- */

static void bump(counter *c, uint64_t by) { atomic_fetch_add_explicit(c, by, memory_order_relaxed); }

static void histogram_reset(histogram *h)
{
    for (int b = 0; b < N_BUCKETS; b++) atomic_store(&h->bucket[b], 0);
    atomic_store(&h->sum_us, 0);
}

void ft_metrics_init(void)
{
    for (int r = 0; r < FT_ROUTE_COUNT; r++) {
        for (int c = 0; c <= N_CODES; c++) atomic_store(&g_metrics.requests[r][c], 0);
        histogram_reset(&g_metrics.duration[r]);
    }
    histogram_reset(&g_metrics.decode);
    histogram_reset(&g_metrics.encoder);
    atomic_store(&g_metrics.in_flight, 0);
    for (int k = 0; k < RELOAD_RESULTS; k++) atomic_store(&g_metrics.reloads[k], 0);
    atomic_store(&g_metrics.overload, 0);
}

/* Negative and NaN durations count as 0; huge ones are clamped. */
static void observe(histogram *h, double seconds)
{
    if (!(seconds >= 0)) seconds = 0;
    int b = 0;
    while (b < N_BOUNDS && !(seconds <= k_bounds[b])) b++;
    double us = seconds * US_PER_S;
    uint64_t us_int = us >= (double)US_MAX ? US_MAX : (uint64_t)llround(us);
    bump(&h->bucket[b], 1);
    bump(&h->sum_us, us_int);
}

static int code_index(int http_status)
{
    for (int i = 0; i < N_CODES; i++)
        if (k_codes[i] == http_status) return i;
    return CODE_OTHER;
}

void ft_metrics_request(ft_route_id r, int http_status, double seconds)
{
    if ((int)r < 0 || r >= FT_ROUTE_COUNT) r = FT_ROUTE_OTHER;
    bump(&g_metrics.requests[r][code_index(http_status)], 1);
    observe(&g_metrics.duration[r], seconds);
}

void ft_metrics_decode(double seconds) { observe(&g_metrics.decode, seconds); }
void ft_metrics_encoder(double seconds) { observe(&g_metrics.encoder, seconds); }

void ft_metrics_inflight(int delta)
{
    atomic_fetch_add_explicit(&g_metrics.in_flight, delta, memory_order_relaxed);
}

int64_t ft_metrics_inflight_now(void) { return (int64_t)atomic_load(&g_metrics.in_flight); }

void ft_metrics_reload(int ok) { bump(&g_metrics.reloads[ok ? RELOAD_OK : RELOAD_FAILED], 1); }
void ft_metrics_overload(void) { bump(&g_metrics.overload, 1); }

/* ------------------------------------------------------------ rendering ---- */

typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} buf;

static void appendf(buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int reserve(buf *b, size_t more)
{
    if (b->failed) return 0;
    if (b->len + more + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : METRICS_BUF_INITIAL;
    while (b->len + more + 1 > cap) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

static void appendf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (!reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Appends v with \ " and newline escaped, as the text format wants in label values. */
static void append_label_value(buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\') appendf(b, "\\\\");
        else if (*v == '"') appendf(b, "\\\"");
        else if (*v == '\n') appendf(b, "\\n");
        else appendf(b, "%c", *v);
    }
}

/* Appends {k1="v1",k2="v2"} for n pairs (nothing when n == 0). */
static void append_labels(buf *b, int n, const char *const *keys, const char *const *vals)
{
    if (n == 0) return;
    appendf(b, "{");
    for (int i = 0; i < n; i++) {
        appendf(b, "%s%s=\"", i ? "," : "", keys[i]);
        append_label_value(b, vals[i]);
        appendf(b, "\"");
    }
    appendf(b, "}");
}

static void family(buf *b, const char *name, const char *type, const char *help)
{
    appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_u64(buf *b, const char *name, int n, const char *const *keys, const char *const *vals,
                       uint64_t v)
{
    appendf(b, "%s", name);
    append_labels(b, n, keys, vals);
    appendf(b, " %" PRIu64 "\n", v);
}

static void sample_i64(buf *b, const char *name, int64_t v) { appendf(b, "%s %" PRId64 "\n", name, v); }

/* One histogram's series; label (if non-NULL) = value is added before le. */
static void histogram_series(buf *b, const char *name, const char *label, const char *value, const histogram *h)
{
    const char *keys[2] = {label, "le"}, *vals[2] = {value, NULL};
    int nl = label ? 1 : 0;
    const char *const *k = label ? keys : keys + 1;
    const char **v = label ? vals : vals + 1;
    uint64_t cumulative = 0;
    for (int i = 0; i < N_BUCKETS; i++) {
        cumulative += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        v[nl] = i < N_BOUNDS ? k_bound_labels[i] : "+Inf";
        appendf(b, "%s_bucket", name);
        append_labels(b, nl + 1, k, v);
        appendf(b, " %" PRIu64 "\n", cumulative);
    }
    uint64_t us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
    appendf(b, "%s_sum", name);
    append_labels(b, nl, k, v);
    appendf(b, " %" PRIu64 ".%06" PRIu64 "\n", us / US_PER_S, us % US_PER_S);
    appendf(b, "%s_count", name);
    append_labels(b, nl, k, v);
    appendf(b, " %" PRIu64 "\n", cumulative);
}

static void render_requests(buf *b)
{
    static const char name[] = "facetwind_requests_total";
    static const char *const keys[2] = {"route", "code"};
    family(b, name, "counter", "HTTP requests answered, by route and exact status code.");
    for (int r = 0; r < FT_ROUTE_COUNT; r++)
        for (int c = 0; c <= N_CODES; c++) {
            uint64_t n = atomic_load_explicit(&g_metrics.requests[r][c], memory_order_relaxed);
            if (!n) continue;
            char code[16];
            if (c == CODE_OTHER) snprintf(code, sizeof code, "%s", CODE_OTHER_LABEL);
            else snprintf(code, sizeof code, "%d", k_codes[c]);
            const char *vals[2] = {k_route_labels[r], code};
            sample_u64(b, name, 2, keys, vals, n);
        }
    static const char dur[] = "facetwind_request_duration_seconds";
    family(b, dur, "histogram", "Time from request start to response, by route.");
    for (int r = 0; r < FT_ROUTE_COUNT; r++)
        histogram_series(b, dur, "route", k_route_labels[r], &g_metrics.duration[r]);
}

static void counter_family(buf *b, const char *name, const char *help, uint64_t v)
{
    family(b, name, "counter", help);
    sample_u64(b, name, 0, NULL, NULL, v);
}

static void gauge_family(buf *b, const char *name, const char *help, int64_t v)
{
    family(b, name, "gauge", help);
    sample_i64(b, name, v);
}

char *ft_metrics_render(const ft_metrics_gauges *g, size_t *len)
{
    static const ft_metrics_gauges none;
    if (!g) g = &none;
    buf b = {0};
    if (!reserve(&b, 0)) return NULL;
    b.p[0] = '\0';

    render_requests(&b);
    family(&b, "facetwind_decode_seconds", "histogram", "Image decode and resize time.");
    histogram_series(&b, "facetwind_decode_seconds", NULL, NULL, &g_metrics.decode);
    family(&b, "facetwind_encoder_seconds", "histogram", "Encoder forward pass time.");
    histogram_series(&b, "facetwind_encoder_seconds", NULL, NULL, &g_metrics.encoder);

    counter_family(&b, "facetwind_cache_hits_total", "Embedding cache hits.", g->cache.hits);
    counter_family(&b, "facetwind_cache_misses_total", "Embedding cache misses.", g->cache.misses);
    counter_family(&b, "facetwind_cache_evictions_total", "Embedding cache LRU evictions.", g->cache.evictions);
    gauge_family(&b, "facetwind_cache_entries", "Embeddings in the cache.", (int64_t)g->cache.entries);
    gauge_family(&b, "facetwind_cache_bytes", "Bytes the cache holds (entries, vectors and keys).",
                 (int64_t)g->cache.bytes);
    gauge_family(&b, "facetwind_gallery_faces", "Enrolled faces for the current model.", g->gallery_faces);
    gauge_family(&b, "facetwind_gallery_subjects", "Enrolled subjects for the current model.",
                 g->gallery_subjects);
    gauge_family(&b, "facetwind_in_flight_requests", "Requests being served now.", ft_metrics_inflight_now());

    static const char reloads[] = "facetwind_model_reloads_total";
    static const char *const result_key[1] = {"result"};
    family(&b, reloads, "counter", "Model reloads, by result.");
    for (int k = 0; k < RELOAD_RESULTS; k++)
        sample_u64(&b, reloads, 1, result_key, &k_reload_labels[k],
                   atomic_load_explicit(&g_metrics.reloads[k], memory_order_relaxed));
    counter_family(&b, "facetwind_overload_rejections_total", "Requests refused because the server was full.",
                   atomic_load_explicit(&g_metrics.overload, memory_order_relaxed));

    if (b.failed) {
        free(b.p);
        return NULL;
    }
    if (len) *len = b.len;
    return b.p;
}
