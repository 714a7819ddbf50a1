/* server.c — the libmicrohttpd plumbing: connections, routing, bodies, replies, access log.
 *
 * One request = one ftd_req, created on MHD's first callback for it. On that first call,
 * before any body byte is read, the request is counted in-flight (over max_inflight -> 503
 * with Retry-After), routed (404 / 405 with Allow), authenticated (401 / 403) and its
 * Content-Type and Content-Length checked (415 / 413); a reply queued then makes MHD drop
 * the upload. Bodies stream in: multipart through MHD's post processor into named parts,
 * JSON into a buffer bounded by max_body, then normalised into the same parts (http.h).
 * When the upload is complete, routes that may decode and embed are queued for the encoder
 * workers with their connection suspended (ftd_workq in http.h: whichever worker is free takes
 * the next request; the worker resumes the connection and MHD sends the reply); the cheap routes
 * run right here on the I/O thread. The completion callback writes the one-line JSON access log
 * and the metrics and frees all.
 */
#include "server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "facetwin/runtime.h"

#define FTD_PP_BUFFER 8192     /* MHD's post-processor buffer; parts are accumulated by us */
#define FTD_PART_INITIAL 16384 /* first allocation of a part (face images are tens of KB) */
#define FTD_DISCARD_FACTOR 4   /* an oversized chunked body is read (and dropped) up to 4x the limit */
#define FTD_CONN_MEMORY (256 * 1024)

/* ------------------------------------------------------------------ replies ---- */

void ftd_reply_header(ftd_req *r, const char *name, const char *value)
{
    if (r->n_hdr >= FTD_MAX_HEADERS) return;
    r->hdr_name[r->n_hdr] = name;
    snprintf(r->hdr_val[r->n_hdr], sizeof r->hdr_val[0], "%s", value);
    r->n_hdr++;
}

void ftd_reply_text(ftd_req *r, int status, const char *content_type, char *text, size_t n)
{
    free(r->resp);
    r->status = status;
    r->resp = text;
    r->resp_len = n;
    r->content_type = content_type;
}

void ftd_reply_json(ftd_req *r, int status, cJSON *body)
{
    if (!body) { ftd_reply_text(r, 500, "application/json", NULL, 0); return; }
    if (!cJSON_GetObjectItemCaseSensitive(body, "error"))
        cJSON_AddStringToObject(body, "request_id", r->request_id);
    char *s = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    ftd_reply_text(r, s ? status : 500, "application/json", s, s ? strlen(s) : 0);
}

void ftd_reply_error(ftd_req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "request_id", r->request_id);
    ftd_reply_json(r, status, o);
}

void ftd_reply_image_error(ftd_req *r, const char *what, const ft_error *err)
{
    switch (err->code) {
    case FT_ETOOBIG: ftd_reply_error(r, 413, "image_too_large", "%s: %s", what, err->msg); break;
    case FT_EUNSUPPORTED: ftd_reply_error(r, 415, "unsupported_image_format", "%s: %s", what, err->msg); break;
    case FT_ENOMEM: ftd_reply_error(r, 503, "overloaded", "%s: out of memory", what); break;
    default: ftd_reply_error(r, 422, "invalid_image", "%s: %s", what, err->msg); break;
    }
}

/* ------------------------------------------------------------- request fields ---- */

const ftd_part *ftd_part_get(const ftd_req *r, const char *name, int nth)
{
    for (int i = 0; i < r->n_parts; i++)
        if (!strcmp(r->parts[i].name, name) && nth-- == 0) return &r->parts[i];
    return NULL;
}

int ftd_part_count(const ftd_req *r, const char *name)
{
    int n = 0;
    for (int i = 0; i < r->n_parts; i++) n += !strcmp(r->parts[i].name, name);
    return n;
}

const char *ftd_header(const ftd_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *ftd_query(const ftd_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

int ftd_is_image_field(const char *name)
{
    return !strcmp(name, "image") || !strcmp(name, "image1") || !strcmp(name, "image2");
}

/* appends a new part; -1 on OOM / too many */
static int part_new(ftd_req *r, const char *name, int is_file)
{
    if (r->n_parts >= FTD_MAX_PARTS) return -1;
    if (r->n_parts == r->cap_parts) {
        int nc = r->cap_parts ? r->cap_parts * 2 : 8;
        ftd_part *np = realloc(r->parts, (size_t)nc * sizeof *np);
        if (!np) return -1;
        r->parts = np;
        r->cap_parts = nc;
    }
    ftd_part *p = &r->parts[r->n_parts];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->is_file = is_file;
    return r->n_parts++;
}

static int part_append(ftd_part *p, const void *data, size_t n)
{
    if (p->len + n + 1 > p->cap) {
        size_t nc = p->cap ? p->cap : FTD_PART_INITIAL;
        while (nc < p->len + n + 1) nc *= 2;
        uint8_t *nd = realloc(p->data, nc);
        if (!nd) return -1;
        p->data = nd;
        p->cap = nc;
    }
    if (n) memcpy(p->data + p->len, data, n);
    p->len += n;
    p->data[p->len] = 0;
    return 0;
}

static enum MHD_Result post_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *filename, const char *content_type,
                                 const char *transfer_encoding, const char *data, uint64_t off,
                                 size_t size)
{
    ftd_req *r = cls;
    if (!key) return MHD_YES;
    ftd_part *cur = r->cur_part >= 0 ? &r->parts[r->cur_part] : NULL;
    if (off == 0 && !(cur && cur->len == 0 && !strcmp(cur->name, key))) {
        if (ftd_is_image_field(key) && ++r->n_images > r->max_images) { r->too_many = 1; r->cur_part = -1; return MHD_YES; }
        int k = part_new(r, key, filename != NULL);
        if (k < 0) { r->pp_failed = 1; return MHD_NO; }
        r->cur_part = k;
    } else if (r->cur_part < 0 || strcmp(r->parts[r->cur_part].name, key)) {
        return MHD_YES; /* continuation of a part that was dropped */
    }
    if (part_append(&r->parts[r->cur_part], data, size)) { r->pp_failed = 1; return MHD_NO; }
    return MHD_YES;
}

/* --------------------------------------------------------- JSON normalisation ---- */

/* base64 (or a data: URL) -> bytes in a new part; replies and returns -1 on bad input */
static int part_from_base64(ftd_req *r, const char *field, const char *s)
{
    static const char *const k_url_schemes[] = {"http:", "https:", "ftp:", "file:", "//", NULL};
    for (int i = 0; k_url_schemes[i]; i++)
        if (!strncasecmp(s, k_url_schemes[i], strlen(k_url_schemes[i]))) {
            ftd_reply_error(r, 400, "url_not_supported",
                            "%s: images are taken only from the request body; URLs are not fetched", field);
            return -1;
        }
    if (!strncasecmp(s, "data:", 5)) {
        const char *b = strstr(s, ";base64,");
        if (!b) { ftd_reply_error(r, 400, "invalid_base64", "%s: data URL is not base64", field); return -1; }
        s = b + 8;
    }
    size_t n = strlen(s);
    if (n == 0) { ftd_reply_error(r, 400, "missing_field", "%s is empty", field); return -1; }
    int k = part_new(r, field, 1);
    if (k < 0) { ftd_reply_error(r, 413, "too_many_images", "too many fields"); return -1; }
    ftd_part *p = &r->parts[k];
    p->cap = n / 4 * 3 + 4;
    if (!(p->data = malloc(p->cap))) { ftd_reply_error(r, 503, "overloaded", "out of memory"); return -1; }
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    int out1 = 0, out2 = 0, ok = ctx != NULL;
    if (ok) {
        EVP_DecodeInit(ctx);
        ok = n <= (size_t)INT32_MAX && EVP_DecodeUpdate(ctx, p->data, &out1, (const unsigned char *)s, (int)n) >= 0 &&
             EVP_DecodeFinal(ctx, p->data + out1, &out2) == 1;
    }
    EVP_ENCODE_CTX_free(ctx);
    if (!ok) { ftd_reply_error(r, 400, "invalid_base64", "%s is not valid base64", field); return -1; }
    p->len = (size_t)out1 + (size_t)out2;
    return 0;
}

static int field_allowed(const ftd_req *r, const char *name)
{
    for (const char *const *f = r->route->fields; f && *f; f++)
        if (!strcmp(*f, name)) return 1;
    return 0;
}

/* JSON body -> parts; replies and returns -1 on bad input */
static int normalise_json(ftd_req *r)
{
    cJSON *root = r->body_len ? cJSON_ParseWithLength((const char *)r->body, r->body_len) : NULL;
    if (!r->body_len && r->route->body == FTD_BODY_OPTIONAL) return 0;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        ftd_reply_error(r, 400, "invalid_json", "the body is not a JSON object");
        return -1;
    }
    int rc = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        const char *name = it->string;
        if (!field_allowed(r, name)) {
            ftd_reply_error(r, 400, "invalid_field", "unknown field '%.60s'", name);
            rc = -1;
            break;
        }
        if (cJSON_IsNull(it)) continue;
        if (!strcmp(name, "images")) {
            if (!cJSON_IsArray(it)) { ftd_reply_error(r, 400, "invalid_field", "images must be an array of base64 strings"); rc = -1; break; }
            if (cJSON_GetArraySize(it) > r->max_images) {
                ftd_reply_error(r, 413, "too_many_images", "at most %d images per request", r->max_images);
                rc = -1;
                break;
            }
            const cJSON *e;
            cJSON_ArrayForEach(e, it) {
                if (!cJSON_IsString(e)) { ftd_reply_error(r, 400, "invalid_field", "images must be an array of base64 strings"); rc = -1; break; }
                if ((rc = part_from_base64(r, "image", e->valuestring))) break;
            }
            if (rc) break;
        } else if (ftd_is_image_field(name)) {
            if (!cJSON_IsString(it)) { ftd_reply_error(r, 400, "invalid_field", "%s must be a base64 string", name); rc = -1; break; }
            if ((rc = part_from_base64(r, name, it->valuestring))) break;
        } else {
            char num[64], *printed = NULL;
            const char *val;
            if (cJSON_IsString(it)) val = it->valuestring;
            else if (cJSON_IsNumber(it)) { snprintf(num, sizeof num, "%.17g", it->valuedouble); val = num; }
            else if (cJSON_IsBool(it)) val = cJSON_IsTrue(it) ? "true" : "false";
            else if (cJSON_IsObject(it) && !strcmp(name, "metadata")) val = printed = cJSON_PrintUnformatted(it);
            else { ftd_reply_error(r, 400, "invalid_field", "%s has the wrong type", name); rc = -1; break; }
            int k = val ? part_new(r, name, 0) : -1;
            rc = k < 0 || part_append(&r->parts[k], val, strlen(val)) ? -1 : 0;
            free(printed);
            if (rc) { ftd_reply_error(r, 503, "overloaded", "out of memory"); break; }
        }
    }
    cJSON_Delete(root);
    return rc;
}

static int check_multipart_fields(ftd_req *r)
{
    for (int i = 0; i < r->n_parts; i++) {
        const ftd_part *p = &r->parts[i];
        if (!field_allowed(r, p->name) || !strcmp(p->name, "images")) {
            ftd_reply_error(r, 400, "invalid_field", "unknown field '%.60s'", p->name);
            return -1;
        }
        if (ftd_is_image_field(p->name) && p->len == 0) {
            ftd_reply_error(r, 400, "missing_field", "%s is empty", p->name);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ plumbing ---- */

static uint32_t g_request_prefix;

static void init_request_prefix(void)
{
    if (RAND_bytes((unsigned char *)&g_request_prefix, sizeof g_request_prefix) != 1)
        g_request_prefix = (uint32_t)time(NULL);
}

static void make_request_id(ftd_req *r)
{
    const char *given = ftd_header(r, "X-Request-Id");
    if (given) {
        size_t n = strlen(given), i = 0;
        for (; i < n; i++)
            if (!isalnum((unsigned char)given[i]) && !strchr("._-", given[i])) break;
        if (n > 0 && n <= FTD_REQUEST_ID_MAX && i == n) {
            memcpy(r->request_id, given, n + 1);
            return;
        }
    }
    /* 16 hex digits: a random per-process prefix + a counter (unique, and no RNG per request) */
    static atomic_uint_fast64_t counter;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_request_prefix);
    uint64_t n = atomic_fetch_add(&counter, 1);
    snprintf(r->request_id, sizeof r->request_id, "%08x%08x", g_request_prefix, (uint32_t)n);
}

static enum MHD_Result send_reply(ftd_req *r)
{
    if (!r->resp && r->status == 0) ftd_reply_error(r, 500, "internal_error", "no reply");
    if (!r->resp) { r->resp = strdup(""); r->resp_len = 0; }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->resp_len, r->resp ? r->resp : (char *)"", MHD_RESPMEM_MUST_FREE);
    r->resp = NULL; /* MHD owns it now */
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", r->content_type ? r->content_type : "application/json");
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    for (int i = 0; i < r->n_hdr; i++) MHD_add_response_header(resp, r->hdr_name[i], r->hdr_val[i]);
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static int ct_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    if (!ct || strncasecmp(ct, want, n)) return 0;
    return ct[n] == 0 || ct[n] == ';' || ct[n] == ' ';
}

/* the checks done before any body byte is read; 1 if a reply was prepared */
static int first_call(ftd_server *s, ftd_req *r, const char *url, const char *method)
{
    make_request_id(r);
    r->counted = 1;
    int inflight = atomic_fetch_add(&s->inflight, 1) + 1;
    ft_metrics_inflight(1);
    char allow[64] = "";
    int rc = ftd_route_find(method, url, r, allow, sizeof allow);
    if (atomic_load(&s->stopping)) {
        ftd_reply_error(r, 503, "overloaded", "the server is shutting down");
        return 1;
    }
    if (inflight > s->cfg->max_inflight) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", s->cfg->retry_after_s);
        ftd_reply_header(r, "Retry-After", ra);
        ft_metrics_overload();
        ftd_reply_error(r, 503, "overloaded", "too many requests in flight; retry later");
        return 1;
    }
    if (rc == 404) { ftd_reply_error(r, 404, "not_found", "no such route"); return 1; }
    if (rc == 405) {
        ftd_reply_header(r, "Allow", allow);
        ftd_reply_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)", method, allow);
        return 1;
    }
    const ftd_route *rt = r->route;
    int open = rt->open_name && ftd_config_is_open(s->cfg, rt->open_name);
    if (s->auth && !open) {
        int scopes = ft_auth_check(s->auth, ftd_header(r, "Authorization"), r->key_name);
        int need = rt->scope ? rt->scope : FT_SCOPE_VERIFY;
        if (!scopes) {
            ftd_reply_header(r, "WWW-Authenticate", "Bearer");
            ftd_reply_error(r, 401, "unauthorized", "a valid API key is required (Authorization: Bearer <key>)");
            return 1;
        }
        if (!(scopes & need)) {
            ftd_reply_error(r, 403, "forbidden", "this key lacks the '%s' scope", need == FT_SCOPE_ADMIN ? "admin" : "verify");
            return 1;
        }
    }
    const char *cl = ftd_header(r, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > s->max_body) {
        ftd_reply_error(r, 413, "body_too_large", "the body is over the %zu-byte limit", s->max_body);
        return 1;
    }
    if (rt->body != FTD_BODY_NONE) {
        const char *ct = ftd_header(r, "Content-Type");
        int has_body = (cl && strtoull(cl, NULL, 10) > 0) || ftd_header(r, "Transfer-Encoding");
        if (ct_is(ct, "multipart/form-data")) {
            r->body_kind = 2;
            r->pp = MHD_create_post_processor(r->conn, FTD_PP_BUFFER, post_iter, r);
            if (!r->pp) { ftd_reply_error(r, 400, "bad_request", "multipart body without a boundary"); return 1; }
        } else if (ct_is(ct, "application/json")) {
            r->body_kind = 1;
            size_t want = cl ? (size_t)strtoull(cl, NULL, 10) : 0;
            if (want > 0 && (r->body = malloc(want))) r->body_cap = want; /* <= max_body, checked above */
        } else if (rt->body == FTD_BODY_OPTIONAL && !has_body) {
            r->body_kind = 0;
        } else {
            ftd_reply_error(r, 415, "unsupported_media_type",
                            "send multipart/form-data or application/json, not '%.60s'", ct ? ct : "(none)");
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------- the workers ---- */

static void workq_push(ftd_workq *q, ftd_req *r)
{
    pthread_mutex_lock(&q->mu);
    r->next = NULL;
    if (q->tail) q->tail->next = r;
    else q->head = r;
    q->tail = r;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static void *worker_main(void *arg)
{
    ftd_server *s = arg;
    ftd_workq *q = &s->wq;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->head && !q->stop) pthread_cond_wait(&q->cv, &q->mu);
        ftd_req *r = q->head;
        if (r) {
            q->head = r->next;
            if (!q->head) q->tail = NULL;
        }
        int stop = q->stop;
        pthread_mutex_unlock(&q->mu);
        if (!r) break; /* stopping and nothing left */
        if (stop) ftd_reply_error(r, 503, "overloaded", "the server is shutting down");
        else r->route->fn(s, r);
        r->done = 1;
        MHD_resume_connection(r->conn);
    }
    return NULL;
}

static int workq_start(ftd_server *s, int n)
{
    ftd_workq *q = &s->wq;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if (!(q->threads = calloc((size_t)n, sizeof(pthread_t)))) return -1;
    for (int i = 0; i < n; i++) {
        if (pthread_create(&q->threads[i], NULL, worker_main, s)) return -1;
        q->n_threads++;
    }
    return 0;
}

/* stops the workers: queued requests still waiting get 503 and are resumed */
static void workq_stop(ftd_workq *q)
{
    if (!q->threads) return;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->n_threads; i++) pthread_join(q->threads[i], NULL);
    free(q->threads);
    q->threads = NULL;
    q->n_threads = 0;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    ftd_server *s = cls;
    ftd_req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        *con_cls = r;
        r->conn = conn;
        r->t0 = ft_now();
        r->cur_part = -1;
        r->max_images = s->cfg->max_images;
        snprintf(r->method, sizeof r->method, "%s", method);
        r->started = 1;
        if (first_call(s, r, url, method)) return send_reply(r);
        return MHD_YES;
    }
    if (r->done) return send_reply(r);                   /* resumed: a worker ran the handler */
    if (r->status || r->queued) { *upload_size = 0; return MHD_YES; } /* reply already queued */
    if (*upload_size) {
        size_t n = *upload_size;
        r->bytes_in += n;
        *upload_size = 0;
        if (r->bytes_in > s->max_body) {
            r->too_large = 1;
            return r->bytes_in > s->max_body * FTD_DISCARD_FACTOR ? MHD_NO : MHD_YES;
        }
        if (r->body_kind == 2) {
            if (MHD_post_process(r->pp, upload, n) != MHD_YES) r->pp_failed = 1;
        } else if (r->body_kind == 1) {
            if (r->body_len + n > r->body_cap) {
                size_t nc = r->body_cap ? r->body_cap : 4096;
                while (nc < r->body_len + n) nc *= 2;
                uint8_t *nb = realloc(r->body, nc);
                if (!nb) { r->pp_failed = 1; return MHD_YES; }
                r->body = nb;
                r->body_cap = nc;
            }
            memcpy(r->body + r->body_len, upload, n);
            r->body_len += n;
        }
        return MHD_YES;
    }
    /* the whole body is in */
    if (r->too_large)
        ftd_reply_error(r, 413, "body_too_large", "the body is over the %zu-byte limit", s->max_body);
    else if (r->too_many)
        ftd_reply_error(r, 413, "too_many_images", "at most %d images per request", r->max_images);
    else if (r->pp_failed)
        ftd_reply_error(r, 400, "bad_request", "the multipart body could not be parsed");
    else if (r->body_kind == 1 && normalise_json(r)) {
    } else if (r->body_kind == 2 && check_multipart_fields(r)) {
    } else if (r->route->body == FTD_BODY_REQUIRED && r->body_kind == 0) {
        ftd_reply_error(r, 415, "unsupported_media_type", "a body is required");
    } else if (r->route->offload && s->wq.n_threads > 0 && !ftd_resolve_cached(s, r)) {
        r->queued = 1;
        MHD_suspend_connection(conn);   /* before the push: a worker may resume it at once */
        workq_push(&s->wq, r);
        return MHD_YES;
    } else {
        r->route->fn(s, r);
    }
    return send_reply(r);
}

static void log_access(const ftd_server *s, const ftd_req *r, double ms)
{
    if (strcmp(s->cfg->access_log, "stderr")) return;
    cJSON *o = cJSON_CreateObject();
    if (!o) return;
    char ts[32];
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    cJSON_AddStringToObject(o, "ts", ts);
    cJSON_AddStringToObject(o, "request_id", r->request_id);
    cJSON_AddStringToObject(o, "method", r->method);
    cJSON_AddStringToObject(o, "route", ft_route_label(r->route ? r->route->id : FT_ROUTE_OTHER));
    cJSON_AddNumberToObject(o, "status", r->status);
    cJSON_AddNumberToObject(o, "bytes_in", (double)r->bytes_in);
    cJSON_AddNumberToObject(o, "bytes_out", (double)r->resp_len);
    cJSON_AddNumberToObject(o, "ms", (double)(int64_t)(ms * 1000) / 1000.0);
    if (*r->key_name) cJSON_AddStringToObject(o, "key", r->key_name);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (line) {
        fprintf(stderr, "%s\n", line);
        free(line);
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    ftd_server *s = cls;
    ftd_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    double sec = ft_now() - r->t0;
    if (!r->status) r->status = 499; /* the client went away before a reply */
    log_access(s, r, sec * 1e3);
    ft_metrics_request(r->route ? r->route->id : FT_ROUTE_OTHER, r->status, sec);
    if (r->counted) {
        atomic_fetch_sub(&s->inflight, 1);
        ft_metrics_inflight(-1);
    }
    if (r->pp) MHD_destroy_post_processor(r->pp);
    for (int i = 0; i < r->n_parts; i++) {
        free(r->parts[i].data);
        free(r->parts[i].emb);
    }
    free(r->parts);
    free(r->body);
    free(r->resp);
    free(r);
}

/* -------------------------------------------------------------- start / stop ---- */

/* "HOST:PORT" or "[V6]:PORT" -> sockaddr; returns 0 and whether it is loopback */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, int *loopback, ft_error *err)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen) return ft_error_set(err, FT_EINVAL, "listen '%.80s' is not HOST:PORT", listen);
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof host) return ft_error_set(err, FT_EINVAL, "listen host is too long");
    memcpy(host, listen, hl);
    host[hl] = 0;
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') { memmove(host, host + 1, hl - 2); host[hl - 2] = 0; }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        return ft_error_set(err, FT_EINVAL, "listen port in '%.80s' is not 0..65535", listen);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    if (getaddrinfo(host, NULL, &hints, &ai) || !ai)
        return ft_error_set(err, FT_EINVAL, "listen host '%.80s' does not resolve", host);
    memset(ss, 0, sizeof *ss);
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (ss->ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_port = htons((uint16_t)port);
        *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_port = htons((uint16_t)port);
        *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    return 0;
}

ft_status ftd_server_start(ftd_server *s, ft_error *err)
{
    struct sockaddr_storage ss;
    int loopback = 0;
    if (parse_listen(s->cfg->listen, &ss, &loopback, err)) return FT_EINVAL;
    if (!s->auth && !loopback && !s->cfg->insecure_no_auth)
        return ft_error_set(err, FT_EINVAL,
                            "refusing to listen on %s without API keys: use --api-keys FILE, a loopback "
                            "address, or --insecure-no-auth",
                            s->cfg->listen);
    s->max_body = (size_t)s->cfg->max_body_mb << 20;
    unsigned threads = (unsigned)(s->cfg->threads > 0 ? s->cfg->threads : ft_cpu_count());
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                 MHD_OPTION_THREAD_POOL_SIZE, threads,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg->max_connections,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg->timeout_s,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)FTD_CONN_MEMORY,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_END);
    if (!s->daemon) return ft_error_set(err, FT_EIO, "cannot listen on %s (address in use or not permitted)", s->cfg->listen);
    if (workq_start(s, (int)threads)) {
        ftd_server_stop(s);
        return ft_error_set(err, FT_ENOMEM, "cannot start the encoder workers");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    return FT_OK;
}

void ftd_server_quiesce(ftd_server *s)
{
    atomic_store(&s->stopping, 1);
    if (s->daemon) {
        MHD_socket fd = MHD_quiesce_daemon(s->daemon);
        if (fd != MHD_INVALID_SOCKET) close(fd);
    }
}

void ftd_server_stop(ftd_server *s)
{
    workq_stop(&s->wq); /* no connection may stay suspended when MHD stops */
    if (s->daemon) MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
}
