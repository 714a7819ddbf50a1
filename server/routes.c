/* routes.c — the HTTP API: one handler per route, and the route table.
 *
 *   POST /v1/verify     two images (or enrolled subjects) -> distance, same?  handle_verify
 *   POST /v1/enroll     subject_id + images -> stored face ids                handle_enroll
 *   POST /v1/identify   image -> nearest enrolled subjects (1:N)              handle_identify
 *   POST /v1/embed      image -> embedding                                     handle_embed
 *   GET  /v1/subjects[/{id}], DELETE /v1/subjects/{id}[/faces/{face_id}]      handle_subject*
 *   GET  /v1/model, POST /v1/admin/reload, GET /healthz /readyz /metrics
 * Decisions: "same" means distance < threshold, as in training and calibration. The threshold
 * is the model's calibrated one, or the one the stored ROC gives for a requested false-accept
 * rate ("far"), or the request's own ("threshold"); the reply says which. A subject side of a
 * verification uses the subject's nearest face made by the current model; subjects with faces
 * only from other models answer 409 subject_needs_reenrollment. The contract is openapi.yaml.
 */
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/runtime.h"
#include "http.h"
#include "server_version.h"

#define FTD_DEFAULT_K 5
#define FTD_DEFAULT_PAGE 100
#define FTD_MAX_PAGE 1000
#define FTD_MAX_IDEM_KEY 255
#define FTD_MAX_FACE_INDEX 99

/* per-request accounting shared by the image handlers */
typedef struct {
    double decode_ms, encode_ms, gallery_ms;
    int hits, misses;
} req_stats;

static double ms3(double ms) { return round(ms * 1e3) / 1e3; } /* microsecond resolution */

static cJSON *stats_json(cJSON *o, const ftd_req *r, const req_stats *st)
{
    cJSON *t = cJSON_AddObjectToObject(o, "timings_ms");
    cJSON_AddNumberToObject(t, "decode", ms3(st->decode_ms));
    cJSON_AddNumberToObject(t, "encode", ms3(st->encode_ms));
    cJSON_AddNumberToObject(t, "gallery", ms3(st->gallery_ms));
    cJSON_AddNumberToObject(t, "total", ms3((ft_now() - r->t0) * 1e3));
    cJSON *c = cJSON_AddObjectToObject(o, "cache");
    cJSON_AddNumberToObject(c, "hits", st->hits);
    cJSON_AddNumberToObject(c, "misses", st->misses);
    return o;
}

static void store_failed(ftd_req *r, const ft_error *err)
{
    fprintf(stderr, "facetwind: gallery store error (request %s): %s\n", r->request_id, err->msg);
    ftd_reply_error(r, 500, "internal_error", "the gallery store failed; nothing was changed");
}

/* Embeds an image part; replies (and returns -1) on a bad image. When the photo went through
 * detection, "faces_detected" and "face" are added to face_into (if non-NULL). */
static int embed_part(ftd_server *s, ftd_req *r, ftd_gen *g, const ftd_part *p, const char *what,
                      const ft_photo_opts *o, float *out, req_stats *st, cJSON *face_into)
{
    ftd_embed_info info;
    ft_error err = {0};
    memset(&info, 0, sizeof info);
    if (p->emb && !strcmp(p->emb_model, g->m->model_id)) { /* resolved from the cache on the I/O thread */
        ftd_unpack_cached(g, p->emb, p->emb_len, out, &info);
        st->hits++;
    } else {
        /* the key is only trusted for the model it was looked up under (a reload may intervene) */
        const uint8_t *miss = p->has_key && !p->emb && !strcmp(p->emb_model, g->m->model_id) ? p->key : NULL;
        if (ftd_embed(&s->eng, g, p->data, p->len, o, miss, out, &info, &err)) {
            if (err.code == FT_ENOFACE || err.code == FT_EMANYFACES)
                ftd_reply_error(r, 422, ft_status_name(err.code), "%s: %s", what, err.msg);
            else if (err.code == FT_EMISMATCH) /* a detector this model does not carry */
                ftd_reply_error(r, 400, "invalid_field", "%s: %s", what, err.msg);
            else ftd_reply_image_error(r, what, &err);
            return -1;
        }
        st->decode_ms += info.decode_ms;
        st->encode_ms += info.encode_ms;
        if (info.cache_hit) st->hits++;
        else {
            st->misses++;
            ft_metrics_decode(info.decode_ms * 1e-3);
            ft_metrics_encoder(info.encode_ms * 1e-3);
        }
    }
    if (o->require_single && info.faces_detected > 1) {
        ftd_reply_error(r, 422, "multiple_faces", "%s: %d faces found and require_single is set", what, info.faces_detected);
        return -1;
    }
    if (info.used_pipeline && face_into) {
        cJSON_AddNumberToObject(face_into, "faces_detected", info.faces_detected);
        cJSON_AddItemToObject(face_into, "face", ft_face_json(&info.face));
    }
    return 0;
}

static const char *text_field(const ftd_req *r, const char *name)
{
    const ftd_part *p = ftd_part_get(r, name, 0);
    return p ? (const char *)(p->data ? p->data : (const uint8_t *)"") : NULL;
}

static int parse_double(const char *s, double *v)
{
    char *end;
    *v = strtod(s, &end);
    return end != s && *end == 0 && isfinite(*v);
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "1")) *out = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "0")) *out = 0;
    else return 0;
    return 1;
}

/* detect / detector / face_index / require_single; replies (and returns -1) when one is malformed */
static int face_opts(ftd_req *r, ft_photo_opts *o, int reply)
{
    const char *d = text_field(r, "detect"), *fi = text_field(r, "face_index"), *rs = text_field(r, "require_single");
    const char *dk = text_field(r, "detector");
    double v;
    *o = (ft_photo_opts){.detect = 1, .face_index = 0, .require_single = 0};
    const char *bad = NULL;
    if (d && !parse_bool(d, &o->detect)) bad = "detect must be true or false";
    else if (rs && !parse_bool(rs, &o->require_single)) bad = "require_single must be true or false";
    else if (fi && (!parse_double(fi, &v) || v != floor(v) || v < 0 || v > FTD_MAX_FACE_INDEX))
        bad = "face_index must be an integer in 0..99";
    else if (fi) o->face_index = (int)v;
    if (!bad && dk) {
        if (!ft_detector_choice_parse(dk, &o->detector)) bad = "detector must be ssd or tiny";
    }
    if (bad && reply) ftd_reply_error(r, 400, "invalid_field", "%s", bad);
    return bad ? -1 : 0;
}

/* threshold for this request; replies (and returns -1) on a bad far/threshold */
typedef struct {
    float threshold;
    const char *source;
    int has_far;
    double far_target, far_est, tar;
} thr_choice;

static int choose_threshold(ftd_req *r, const ftd_gen *g, thr_choice *c)
{
    const char *ts = text_field(r, "threshold"), *fs = text_field(r, "far");
    memset(c, 0, sizeof *c);
    c->threshold = g->m->threshold;
    /* a threshold chosen on validation pairs comes with its ROC; an imported model's shipped
     * value (face-api's 0.6) does not, and the reply says so */
    c->source = g->m->roc && g->m->n_roc >= 2 ? "calibrated" : "model";
    double v;
    if (ts && fs) {
        ftd_reply_error(r, 400, "invalid_field", "give either threshold or far, not both");
        return -1;
    }
    if (ts) {
        if (!parse_double(ts, &v) || v <= 0 || v > 1e6) {
            ftd_reply_error(r, 400, "invalid_field", "threshold must be a number > 0");
            return -1;
        }
        c->threshold = (float)v;
        c->source = "request";
    } else if (fs) {
        if (!parse_double(fs, &v) || v <= 0 || v >= 1) {
            ftd_reply_error(r, 400, "invalid_field", "far must be a number in (0, 1)");
            return -1;
        }
        if (!g->m->roc || g->m->n_roc < 2) {
            ftd_reply_error(r, 400, "invalid_field", "this model stores no ROC, so far cannot be used; give threshold");
            return -1;
        }
        c->threshold = ft_roc_threshold_at_far(g->m->roc, g->m->n_roc, v, &c->tar);
        c->far_est = 0;
        for (int i = 0; i < g->m->n_roc; i++)
            if (g->m->roc[i].threshold == c->threshold) c->far_est = g->m->roc[i].far;
        c->has_far = 1;
        c->far_target = v;
        c->source = "far";
    }
    return 0;
}

static void threshold_json(cJSON *o, const thr_choice *c)
{
    cJSON_AddNumberToObject(o, "threshold", c->threshold);
    cJSON_AddStringToObject(o, "threshold_source", c->source);
    if (c->has_far) {
        cJSON *f = cJSON_AddObjectToObject(o, "far");
        cJSON_AddNumberToObject(f, "target", c->far_target);
        cJSON_AddNumberToObject(f, "estimated", c->far_est);
        cJSON_AddNumberToObject(f, "tar", c->tar);
    }
}

/* 404 or 409 for a subject the index does not have */
static void subject_missing(ftd_server *s, ftd_req *r, const ftd_gen *g, const char *id)
{
    ftg_subject subj = {0};
    int found = 0;
    ft_error err = {0};
    if (ft_gallery_get_subject(s->gallery, id, g->m->model_id, &subj, &found, &err)) {
        store_failed(r, &err);
        return;
    }
    if (found)
        ftd_reply_error(r, 409, "subject_needs_reenrollment",
                        "subject '%s' has no faces made by the current model %s; enroll it again", id, g->m->model_id);
    else
        ftd_reply_error(r, 404, "subject_not_found", "no subject '%s'", id);
    ft_gallery_subject_free(&subj);
}

static float l2(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return (float)sqrt(s);
}

/* ----------------------------------------------------------------- /v1/verify ---- */

static void handle_verify(ftd_server *s, ftd_req *r)
{
    static const char *const img_name[2] = {"image1", "image2"}, *const sub_name[2] = {"subject_id1", "subject_id2"};
    const ftd_part *img[2];
    const char *sub[2];
    for (int i = 0; i < 2; i++) {
        img[i] = ftd_part_get(r, img_name[i], 0);
        sub[i] = text_field(r, sub_name[i]);
        if (!img[i] == !sub[i]) {
            ftd_reply_error(r, 400, img[i] ? "invalid_field" : "missing_field", "give exactly one of %s or %s",
                            img_name[i], sub_name[i]);
            return;
        }
        if (ftd_part_count(r, img_name[i]) > 1) {
            ftd_reply_error(r, 400, "invalid_field", "%s given more than once", img_name[i]);
            return;
        }
        if (sub[i] && !ft_gallery_valid_id(sub[i])) {
            ftd_reply_error(r, 400, "invalid_subject_id", "%s is not a valid subject id", sub_name[i]);
            return;
        }
    }
    ft_photo_opts fo;
    if (face_opts(r, &fo, 1)) return;
    ftd_gen *g = ftd_engine_acquire(&s->eng);
    thr_choice thr;
    req_stats st = {0};
    float *e = calloc(2 * (size_t)g->dim, sizeof(float));
    int64_t face[2] = {0, 0};
    float d = 0;
    cJSON *inobj[2] = {cJSON_CreateObject(), cJSON_CreateObject()};
    if (!e) { ftd_reply_error(r, 503, "overloaded", "out of memory"); goto out; }
    if (choose_threshold(r, g, &thr)) goto out;
    for (int i = 0; i < 2; i++)
        if (img[i] && embed_part(s, r, g, img[i], img_name[i], &fo, e + (size_t)i * (size_t)g->dim, &st, inobj[i]))
            goto out;
    double t0 = ft_now();
    if (sub[0] && sub[1]) {
        if (!ftd_index_subject_distance(g->index, sub[0], sub[1], &d, &face[0], &face[1])) {
            int ok0 = ftd_index_nearest_in_subject(g->index, sub[0], e, &d, &face[0]);
            subject_missing(s, r, g, ok0 ? sub[1] : sub[0]);
            goto out;
        }
    } else if (sub[0] || sub[1]) {
        int si = sub[0] ? 0 : 1;
        if (!ftd_index_nearest_in_subject(g->index, sub[si], e + (size_t)(1 - si) * (size_t)g->dim, &d, &face[si])) {
            subject_missing(s, r, g, sub[si]);
            goto out;
        }
    } else {
        d = l2(e, e + g->dim, g->dim);
    }
    st.gallery_ms = (ft_now() - t0) * 1e3;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", g->m->model_id);
    cJSON_AddNumberToObject(o, "distance", d);
    cJSON_AddBoolToObject(o, "same", d < thr.threshold);
    threshold_json(o, &thr);
    cJSON *in = cJSON_AddArrayToObject(o, "inputs");
    for (int i = 0; i < 2; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "kind", sub[i] ? "subject" : "image");
        if (sub[i]) {
            cJSON_AddStringToObject(x, "subject_id", sub[i]);
            cJSON_AddNumberToObject(x, "face_id", (double)face[i]);
        }
        cJSON *c;
        while ((c = inobj[i] ? inobj[i]->child : NULL)) /* the face record, if the photo was detected */
            cJSON_AddItemToObject(x, c->string, cJSON_DetachItemViaPointer(inobj[i], c));
        cJSON_AddItemToArray(in, x);
    }
    ftd_reply_json(r, 200, stats_json(o, r, &st));
out:
    cJSON_Delete(inobj[0]);
    cJSON_Delete(inobj[1]);
    free(e);
    ftd_engine_release(&s->eng, g);
}

/* ----------------------------------------------------------------- /v1/enroll ---- */

/* SHA-256 over what makes two enrollments "the same request" (hex): subject, metadata and each
 * image's cache key — already computed on the I/O thread (ftd_resolve_cached), and covering
 * the face choice (detect, face_index) as well as the bytes. */
static void enroll_fingerprint(const ftd_req *r, const ftd_gen *g, const ft_photo_opts *fo, const char *subject,
                               const char *meta, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) && EVP_DigestUpdate(c, subject, strlen(subject) + 1) &&
             EVP_DigestUpdate(c, meta ? meta : "", meta ? strlen(meta) + 1 : 1);
    for (int i = 0; ok && i < r->n_parts; i++) {
        const ftd_part *p = &r->parts[i];
        if (strcmp(p->name, "image")) continue;
        uint8_t key[FT_CACHE_KEY_BYTES];
        if (p->has_key || p->emb) memcpy(key, p->key, sizeof key);
        else ftd_cache_key(g, p->data, p->len, fo, key);
        ok = EVP_DigestUpdate(c, key, sizeof key);
    }
    ok = ok && EVP_DigestFinal_ex(c, md, &len);
    EVP_MD_CTX_free(c);
    hex[0] = 0;
    for (unsigned i = 0; ok && i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static int valid_idem_key(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > FTD_MAX_IDEM_KEY) return 0;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x20 || k[i] > 0x7e) return 0;
    return 1;
}

/* the enrollment's answer (minus request_id, replayed, timings), built inside the store's
 * transaction once the face ids exist, and kept with an Idempotency-Key for replays */
typedef struct {
    const char *model_id;
    int64_t before;
    int existed;
} enroll_ctx;

static char *enroll_response(void *ctx, const char *subject_id, const int64_t *face_ids, int n)
{
    const enroll_ctx *c = ctx;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "subject_id", subject_id);
    cJSON_AddStringToObject(o, "model", c->model_id);
    cJSON *ids = cJSON_AddArrayToObject(o, "face_ids");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)face_ids[i]));
    cJSON_AddNumberToObject(o, "faces_total", (double)(c->before + n));
    cJSON_AddBoolToObject(o, "created", !c->existed);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return txt;
}

static void handle_enroll(ftd_server *s, ftd_req *r)
{
    const char *subject = text_field(r, "subject_id"), *meta = text_field(r, "metadata");
    const char *idem = ftd_header(r, "Idempotency-Key");
    int n = ftd_part_count(r, "image");
    if (!subject) { ftd_reply_error(r, 400, "missing_field", "subject_id is required"); return; }
    if (!ft_gallery_valid_id(subject)) {
        ftd_reply_error(r, 400, "invalid_subject_id",
                        "subject_id must be 1..%d characters of A-Z a-z 0-9 . _ : @ -", FTG_MAX_ID);
        return;
    }
    if (meta) {
        cJSON *m = cJSON_Parse(meta);
        int ok = cJSON_IsObject(m);
        cJSON_Delete(m);
        if (!ok) { ftd_reply_error(r, 400, "invalid_field", "metadata must be a JSON object"); return; }
    }
    if (n == 0) { ftd_reply_error(r, 400, "missing_field", "at least one image is required"); return; }
    if (idem && !valid_idem_key(idem)) {
        ftd_reply_error(r, 400, "invalid_field", "Idempotency-Key must be 1..%d printable characters", FTD_MAX_IDEM_KEY);
        return;
    }
    ft_photo_opts fo;
    if (face_opts(r, &fo, 1)) return;
    cJSON *faces = cJSON_CreateArray(); /* per image, when photos go through detection */
    ftd_gen *g = ftd_engine_acquire(&s->eng);
    req_stats st = {0};
    float *e = malloc((size_t)n * (size_t)g->dim * sizeof(float));
    char fp[65] = "";
    ftg_enroll_res res = {0};
    ft_error err = {0};
    if (!e) { ftd_reply_error(r, 503, "overloaded", "out of memory"); goto out; }
    for (int i = 0; i < n; i++) {
        char what[32];
        snprintf(what, sizeof what, "image %d", i + 1);
        cJSON *fobj = cJSON_CreateObject();
        cJSON_AddItemToArray(faces, fobj);
        if (embed_part(s, r, g, ftd_part_get(r, "image", i), what, &fo, e + (size_t)i * (size_t)g->dim, &st, fobj))
            goto out;
    }
    if (idem) enroll_fingerprint(r, g, &fo, subject, meta, fp);
    double t0 = ft_now();
    pthread_mutex_lock(&s->eng.write_mu);
    int64_t before = 0;
    ftg_subject prior = {0};
    int existed = 0;
    ft_status gst = ft_gallery_get_subject(s->gallery, subject, g->m->model_id, &prior, &existed, &err);
    if (!gst) {
        before = existed ? prior.n_faces_model : 0;
        ft_gallery_subject_free(&prior);
        enroll_ctx ec = {g->m->model_id, before, existed};
        ftg_enroll_req req = {.subject_id = subject, .metadata_json = meta, .model_id = g->m->model_id,
                              .dim = g->dim, .n = n, .embeddings = e, .idem_key = idem,
                              .fingerprint = fp, .make_response = enroll_response, .make_response_ctx = &ec};
        gst = ft_gallery_enroll(s->gallery, &req, &res, &err);
        if (!gst && !res.replayed) {
            /* index it in the generation now serving (a reload may have swapped it meanwhile) */
            ftd_gen *cur = ftd_engine_acquire(&s->eng);
            if (!strcmp(cur->m->model_id, g->m->model_id))
                for (int i = 0; i < res.n; i++)
                    if (ftd_index_add(cur->index, subject, res.face_ids[i], e + (size_t)i * (size_t)g->dim))
                        fprintf(stderr, "facetwind: out of memory indexing face %lld (request %s); stored, "
                                        "searchable after a reload\n", (long long)res.face_ids[i], r->request_id);
            ftd_engine_release(&s->eng, cur);
        }
    }
    pthread_mutex_unlock(&s->eng.write_mu);
    st.gallery_ms = (ft_now() - t0) * 1e3;
    if (gst == FT_EMISMATCH) {
        ftd_reply_error(r, 422, "idempotency_key_reused", "this Idempotency-Key was used for a different request");
        goto out;
    }
    if (gst == FT_EINVAL) { ftd_reply_error(r, 400, "invalid_field", "%s", err.msg); goto out; }
    if (gst) { store_failed(r, &err); goto out; }
    cJSON *o = res.response_json ? cJSON_Parse(res.response_json) : NULL;
    if (!o) { ftd_reply_error(r, 500, "internal_error", "the stored enrollment answer is unreadable"); goto out; }
    cJSON_AddBoolToObject(o, "replayed", res.replayed);
    if (res.replayed) ftd_reply_header(r, "Idempotent-Replayed", "true");
    if (cJSON_GetArraySize(faces) > 0 && cJSON_GetArrayItem(faces, 0)->child) {
        cJSON_AddItemToObject(o, "faces", faces);
        faces = NULL;
    }
    ftd_reply_json(r, 201, stats_json(o, r, &st));
out:
    cJSON_Delete(faces);
    ft_gallery_enroll_res_free(&res);
    free(e);
    ftd_engine_release(&s->eng, g);
}

/* --------------------------------------------------------------- /v1/identify ---- */

static cJSON *match_json(const ftd_match *m)
{
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "subject_id", m->subject_id);
    cJSON_AddNumberToObject(x, "distance", m->distance);
    cJSON_AddNumberToObject(x, "face_id", (double)m->face_id);
    return x;
}

static void handle_identify(ftd_server *s, ftd_req *r)
{
    const ftd_part *img = ftd_part_get(r, "image", 0);
    const char *ks = text_field(r, "k");
    double kv = FTD_DEFAULT_K;
    if (!img) { ftd_reply_error(r, 400, "missing_field", "image is required"); return; }
    if (ftd_part_count(r, "image") > 1) { ftd_reply_error(r, 400, "invalid_field", "identify takes one image"); return; }
    if (ks && (!parse_double(ks, &kv) || kv != floor(kv) || kv < 1 || kv > FTD_MAX_K)) {
        ftd_reply_error(r, 400, "invalid_field", "k must be an integer in 1..%d", FTD_MAX_K);
        return;
    }
    ft_photo_opts fo;
    if (face_opts(r, &fo, 1)) return;
    ftd_gen *g = ftd_engine_acquire(&s->eng);
    thr_choice thr;
    req_stats st = {0};
    float *e = malloc((size_t)g->dim * sizeof(float));
    ftd_match *m = malloc(FTD_MAX_K * sizeof *m);
    cJSON *o = cJSON_CreateObject();
    if (!e || !m) { ftd_reply_error(r, 503, "overloaded", "out of memory"); goto out; }
    if (choose_threshold(r, g, &thr) || embed_part(s, r, g, img, "image", &fo, e, &st, o)) goto out;
    double t0 = ft_now();
    int64_t searched = 0;
    /* "same" is d < threshold: search up to it and drop an exact tie below */
    int n = ftd_index_search(g->index, e, (int)kv, thr.threshold, m, &searched);
    if (n < 0) { ftd_reply_error(r, 503, "overloaded", "out of memory"); goto out; }
    while (n > 0 && !(m[n - 1].distance < thr.threshold)) n--;
    st.gallery_ms = (ft_now() - t0) * 1e3;
    cJSON_AddStringToObject(o, "model", g->m->model_id);
    threshold_json(o, &thr);
    cJSON *arr = cJSON_AddArrayToObject(o, "matches");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, match_json(&m[i]));
    cJSON_AddItemToObject(o, "match", n ? match_json(&m[0]) : cJSON_CreateNull());
    cJSON_AddNumberToObject(o, "gallery_faces", (double)searched);
    ftd_reply_json(r, 200, stats_json(o, r, &st));
    o = NULL;
out:
    cJSON_Delete(o);
    free(m);
    free(e);
    ftd_engine_release(&s->eng, g);
}

/* ------------------------------------------------------------------ /v1/embed ---- */

static void handle_embed(ftd_server *s, ftd_req *r)
{
    const ftd_part *img = ftd_part_get(r, "image", 0);
    if (!img) { ftd_reply_error(r, 400, "missing_field", "image is required"); return; }
    if (ftd_part_count(r, "image") > 1) { ftd_reply_error(r, 400, "invalid_field", "embed takes one image"); return; }
    ft_photo_opts fo;
    if (face_opts(r, &fo, 1)) return;
    ftd_gen *g = ftd_engine_acquire(&s->eng);
    req_stats st = {0};
    float *e = malloc((size_t)g->dim * sizeof(float));
    cJSON *o = cJSON_CreateObject();
    if (!e) ftd_reply_error(r, 503, "overloaded", "out of memory");
    else if (!embed_part(s, r, g, img, "image", &fo, e, &st, o)) {
        cJSON_AddStringToObject(o, "model", g->m->model_id);
        cJSON_AddNumberToObject(o, "dim", g->dim);
        cJSON *arr = cJSON_AddArrayToObject(o, "embedding");
        for (int i = 0; i < g->dim; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(e[i]));
        ftd_reply_json(r, 200, stats_json(o, r, &st));
        o = NULL;
    }
    cJSON_Delete(o);
    free(e);
    ftd_engine_release(&s->eng, g);
}

/* --------------------------------------------------------------- /v1/subjects ---- */

static cJSON *metadata_json(const char *text)
{
    cJSON *m = text ? cJSON_Parse(text) : NULL;
    if (!cJSON_IsObject(m)) { cJSON_Delete(m); m = cJSON_CreateObject(); }
    return m;
}

static void handle_subjects(ftd_server *s, ftd_req *r)
{
    const char *ls = ftd_query(r, "limit"), *cursor = ftd_query(r, "cursor");
    double lim = FTD_DEFAULT_PAGE;
    if (ls && (!parse_double(ls, &lim) || lim != floor(lim) || lim < 1 || lim > FTD_MAX_PAGE)) {
        ftd_reply_error(r, 400, "invalid_field", "limit must be an integer in 1..%d", FTD_MAX_PAGE);
        return;
    }
    if (cursor && *cursor && !ft_gallery_valid_id(cursor)) {
        ftd_reply_error(r, 400, "invalid_field", "cursor is not a subject id");
        return;
    }
    ftd_gen *g = ftd_engine_acquire(&s->eng);
    ftg_page page = {0};
    ft_error err = {0};
    if (ft_gallery_list(s->gallery, cursor ? cursor : "", (int)lim, g->m->model_id, &page, &err)) {
        store_failed(r, &err);
    } else {
        cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "subjects");
        for (int i = 0; i < page.n; i++) {
            const ftg_subject *x = &page.items[i];
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "subject_id", x->id);
            cJSON_AddItemToObject(j, "metadata", metadata_json(x->metadata_json));
            cJSON_AddNumberToObject(j, "created", (double)x->created);
            cJSON_AddNumberToObject(j, "faces", x->n_faces);
            cJSON_AddNumberToObject(j, "faces_current_model", x->n_faces_model);
            cJSON_AddBoolToObject(j, "needs_reenrollment", x->n_faces > 0 && x->n_faces_model == 0);
            cJSON_AddItemToArray(arr, j);
        }
        if (*page.next_cursor) cJSON_AddStringToObject(o, "next_cursor", page.next_cursor);
        else cJSON_AddNullToObject(o, "next_cursor");
        ftd_reply_json(r, 200, o);
    }
    ft_gallery_page_free(&page);
    ftd_engine_release(&s->eng, g);
}

static void handle_subject_get(ftd_server *s, ftd_req *r)
{
    const char *id = r->params[0];
    if (!ft_gallery_valid_id(id)) { ftd_reply_error(r, 400, "invalid_subject_id", "not a valid subject id"); return; }
    ftd_gen *g = ftd_engine_acquire(&s->eng);
    ftg_subject subj = {0};
    int found = 0;
    ft_error err = {0};
    if (ft_gallery_get_subject(s->gallery, id, g->m->model_id, &subj, &found, &err)) store_failed(r, &err);
    else if (!found) ftd_reply_error(r, 404, "subject_not_found", "no subject '%s'", id);
    else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "subject_id", subj.id);
        cJSON_AddItemToObject(o, "metadata", metadata_json(subj.metadata_json));
        cJSON_AddNumberToObject(o, "created", (double)subj.created);
        cJSON_AddBoolToObject(o, "needs_reenrollment", subj.n_faces > 0 && subj.n_faces_model == 0);
        cJSON *arr = cJSON_AddArrayToObject(o, "faces");
        for (int i = 0; i < subj.n_faces; i++) {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddNumberToObject(f, "face_id", (double)subj.faces[i].face_id);
            cJSON_AddStringToObject(f, "model", subj.faces[i].model_id);
            cJSON_AddNumberToObject(f, "created", (double)subj.faces[i].created);
            cJSON_AddBoolToObject(f, "current_model", !strcmp(subj.faces[i].model_id, g->m->model_id));
            cJSON_AddItemToArray(arr, f);
        }
        ftd_reply_json(r, 200, o);
    }
    ft_gallery_subject_free(&subj);
    ftd_engine_release(&s->eng, g);
}

/* Deletes a whole subject (face_id <= 0) or one face: from the store, the index of the
 * serving model and the embedding cache (entries whose vector is a deleted face's). */
static void delete_common(ftd_server *s, ftd_req *r, int64_t face_id)
{
    const char *id = r->params[0];
    if (!ft_gallery_valid_id(id)) { ftd_reply_error(r, 400, "invalid_subject_id", "not a valid subject id"); return; }
    ftg_subject subj = {0};
    ftg_deleted del = {0};
    int found = 0, face_found = face_id <= 0, index_n = 0, cache_n = 0;
    ft_error err = {0};
    pthread_mutex_lock(&s->eng.write_mu);
    ft_status st = ft_gallery_get_subject(s->gallery, id, NULL, &subj, &found, &err);
    for (int i = 0; !st && found && i < subj.n_faces; i++) face_found |= subj.faces[i].face_id == face_id;
    if (!st && found && face_found) {
        st = face_id > 0 ? ft_gallery_delete_face(s->gallery, id, face_id, &del, &found, &err)
                         : ft_gallery_delete_subject(s->gallery, id, &del, &found, &err);
        if (!st) {
            ftd_gen *g = ftd_engine_acquire(&s->eng);
            for (int i = 0; i < del.n; i++) index_n += ftd_index_remove_face(g->index, del.face_ids[i]);
            ftd_engine_release(&s->eng, g);
            for (int i = 0; i < del.n; i++)
                if (del.faces && del.faces[i].embedding)
                    cache_n += ft_cache_forget_vector(s->eng.cache, del.faces[i].model_id, del.faces[i].embedding,
                                                      del.faces[i].dim);
        }
    }
    pthread_mutex_unlock(&s->eng.write_mu);
    if (st) store_failed(r, &err);
    else if (!found) ftd_reply_error(r, 404, "subject_not_found", "no subject '%s'", id);
    else if (!face_found) ftd_reply_error(r, 404, "face_not_found", "subject '%s' has no face %lld", id, (long long)face_id);
    else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "subject_id", id);
        cJSON *d = cJSON_AddObjectToObject(o, "deleted");
        cJSON_AddBoolToObject(d, "subject", del.subject_removed);
        cJSON *ids = cJSON_AddArrayToObject(d, "face_ids");
        for (int i = 0; i < del.n; i++) cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)del.face_ids[i]));
        cJSON_AddNumberToObject(d, "index_entries", index_n);
        cJSON_AddNumberToObject(d, "cache_entries", cache_n);
        ftd_reply_json(r, 200, o);
    }
    ft_gallery_subject_free(&subj);
    ft_gallery_deleted_free(&del);
}

static void handle_subject_delete(ftd_server *s, ftd_req *r) { delete_common(s, r, 0); }

static void handle_face_delete(ftd_server *s, ftd_req *r)
{
    char *end;
    long long f = strtoll(r->params[1], &end, 10);
    if (*end || end == r->params[1] || f <= 0) {
        ftd_reply_error(r, 400, "invalid_field", "face_id must be a positive integer");
        return;
    }
    delete_common(s, r, f);
}

/* ------------------------------------------------------ model, admin, health ---- */

static void handle_model(ftd_server *s, ftd_req *r)
{
    ftd_gen *g = ftd_engine_acquire(&s->eng);
    const ft_model *m = g->m;
    const ft_input_spec *in = ft_net_input(m->net);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", m->model_id);
    cJSON_AddStringToObject(o, "architecture", ft_net_name(m->net));
    cJSON *i = cJSON_AddObjectToObject(o, "input");
    cJSON_AddNumberToObject(i, "width", in->width);
    cJSON_AddNumberToObject(i, "height", in->height);
    cJSON_AddNumberToObject(i, "channels", in->channels);
    cJSON_AddNumberToObject(o, "embedding_dim", g->dim);
    cJSON_AddNumberToObject(o, "threshold", m->threshold);
    if (m->roc && m->n_roc > 0) {
        /* the ROC point at the calibrated threshold (the largest threshold not above it) */
        int best = 0;
        for (int k = 0; k < m->n_roc; k++)
            if (m->roc[k].threshold <= m->threshold && m->roc[k].threshold >= m->roc[best].threshold) best = k;
        cJSON *c = cJSON_AddObjectToObject(o, "calibration");
        cJSON_AddNumberToObject(c, "roc_points", m->n_roc);
        cJSON_AddNumberToObject(c, "far_at_threshold", m->roc[best].far);
        cJSON_AddNumberToObject(c, "tar_at_threshold", 1.0 - m->roc[best].frr);
    } else {
        cJSON_AddNullToObject(o, "calibration");
    }
    cJSON *meta = metadata_json(m->meta_json);
    cJSON_AddItemToObject(o, "training", meta);
    cJSON_AddStringToObject(o, "loaded_at", g->loaded_at);
    cJSON_AddStringToObject(o, "version", ft_server_version());
    ftd_engine_release(&s->eng, g);
    ftd_reply_json(r, 200, o);
}

static void handle_reload(ftd_server *s, ftd_req *r)
{
    char prev[128] = "";
    ft_error err = {0};
    if (ftd_engine_reload(&s->eng, prev, &err)) {
        ft_metrics_reload(0);
        fprintf(stderr, "facetwind: reload failed, still serving the old model: %s\n", err.msg);
        ftd_reply_error(r, 500, "reload_failed", "reload failed; the previous model keeps serving: %s", err.msg);
        return;
    }
    ft_metrics_reload(1);
    ftd_gen *g = ftd_engine_acquire(&s->eng);
    int64_t faces = 0;
    ftd_index_counts(g->index, &faces, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", g->m->model_id);
    cJSON_AddStringToObject(o, "previous_model", prev);
    cJSON_AddNumberToObject(o, "gallery_faces", (double)faces);
    ftd_engine_release(&s->eng, g);
    ftd_reply_json(r, 200, o);
}

static void handle_healthz(ftd_server *s, ftd_req *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    ftd_reply_json(r, 200, o);
}

static void handle_readyz(ftd_server *s, ftd_req *r)
{
    int model = s->eng.cur != NULL, store = ft_gallery_writable(s->gallery);
    int ready = model && store && !atomic_load(&s->stopping);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ready", ready);
    cJSON *c = cJSON_AddObjectToObject(o, "checks");
    cJSON_AddBoolToObject(c, "model", model);
    cJSON_AddBoolToObject(c, "store", store);
    ftd_reply_json(r, ready ? 200 : 503, o);
}

static void handle_metrics(ftd_server *s, ftd_req *r)
{
    ft_metrics_gauges gg = {0};
    ft_cache_get_stats(s->eng.cache, &gg.cache);
    ftd_gen *g = ftd_engine_acquire(&s->eng);
    ftd_index_counts(g->index, &gg.gallery_faces, &gg.gallery_subjects);
    ftd_engine_release(&s->eng, g);
    size_t n = 0;
    char *text = ft_metrics_render(&gg, &n);
    if (!text) { ftd_reply_error(r, 503, "overloaded", "out of memory"); return; }
    ftd_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, n);
}

/* ---------------------------------------------------------- cache on the I/O thread ---- */

int ftd_resolve_cached(ftd_server *s, ftd_req *r)
{
    ft_photo_opts fo;
    if (face_opts(r, &fo, 0)) return 1; /* malformed: the handler answers 400 right here */
    ftd_gen *g = ftd_engine_acquire(&s->eng);
    int all = 1;
    for (int i = 0; i < r->n_parts; i++) {
        ftd_part *p = &r->parts[i];
        if (!ftd_is_image_field(p->name) || p->has_key || p->emb) continue;
        int len = ftd_cache_key(g, p->data, p->len, &fo, p->key);
        snprintf(p->emb_model, sizeof p->emb_model, "%s", g->m->model_id);
        p->emb = malloc((size_t)len * sizeof(float));
        if (p->emb && ft_cache_get(s->eng.cache, p->key, g->m->model_id, p->emb, len)) {
            p->emb_len = len;
        } else {
            free(p->emb);
            p->emb = NULL;
            p->has_key = 1;
            all = 0;
        }
    }
    ftd_engine_release(&s->eng, g);
    return all;
}

/* ------------------------------------------------------------- route table ---- */

#define FACE_FIELDS "detect", "detector", "face_index", "require_single"
static const char *const k_verify_fields[] = {"image1", "image2", "subject_id1", "subject_id2", "far", "threshold", FACE_FIELDS, NULL};
static const char *const k_enroll_fields[] = {"subject_id", "metadata", "image", "images", FACE_FIELDS, NULL};
static const char *const k_identify_fields[] = {"image", "k", "far", "threshold", FACE_FIELDS, NULL};
static const char *const k_embed_fields[] = {"image", FACE_FIELDS, NULL};
static const char *const k_no_fields[] = {NULL};

static const ftd_route k_routes[] = {
    {"POST", "/v1/verify", FT_ROUTE_VERIFY, FT_SCOPE_VERIFY, NULL, FTD_BODY_REQUIRED, k_verify_fields, handle_verify, 1},
    {"POST", "/v1/enroll", FT_ROUTE_ENROLL, FT_SCOPE_ADMIN, NULL, FTD_BODY_REQUIRED, k_enroll_fields, handle_enroll, 1},
    {"POST", "/v1/identify", FT_ROUTE_IDENTIFY, FT_SCOPE_VERIFY, NULL, FTD_BODY_REQUIRED, k_identify_fields, handle_identify, 1},
    {"POST", "/v1/embed", FT_ROUTE_EMBED, FT_SCOPE_VERIFY, NULL, FTD_BODY_REQUIRED, k_embed_fields, handle_embed, 1},
    {"GET", "/v1/subjects", FT_ROUTE_SUBJECTS, FT_SCOPE_VERIFY, NULL, FTD_BODY_NONE, NULL, handle_subjects, 0},
    {"GET", "/v1/subjects/{}", FT_ROUTE_SUBJECT, FT_SCOPE_VERIFY, NULL, FTD_BODY_NONE, NULL, handle_subject_get, 0},
    {"DELETE", "/v1/subjects/{}", FT_ROUTE_SUBJECT_DELETE, FT_SCOPE_ADMIN, NULL, FTD_BODY_NONE, NULL, handle_subject_delete, 0},
    {"DELETE", "/v1/subjects/{}/faces/{}", FT_ROUTE_FACE_DELETE, FT_SCOPE_ADMIN, NULL, FTD_BODY_NONE, NULL, handle_face_delete, 0},
    {"GET", "/v1/model", FT_ROUTE_MODEL, FT_SCOPE_VERIFY, NULL, FTD_BODY_NONE, NULL, handle_model, 0},
    {"POST", "/v1/admin/reload", FT_ROUTE_RELOAD, FT_SCOPE_ADMIN, NULL, FTD_BODY_OPTIONAL, k_no_fields, handle_reload, 1},
    {"GET", "/healthz", FT_ROUTE_HEALTHZ, FT_SCOPE_VERIFY, "healthz", FTD_BODY_NONE, NULL, handle_healthz, 0},
    {"GET", "/readyz", FT_ROUTE_READYZ, FT_SCOPE_VERIFY, "readyz", FTD_BODY_NONE, NULL, handle_readyz, 0},
    {"GET", "/metrics", FT_ROUTE_METRICS, FT_SCOPE_VERIFY, "metrics", FTD_BODY_NONE, NULL, handle_metrics, 0},
};
#define N_ROUTES ((int)(sizeof k_routes / sizeof k_routes[0]))

/* matches path against pattern; "{}" takes one non-empty segment into params */
static int match(const char *pat, const char *path, char params[2][FTG_MAX_ID + 2])
{
    int np = 0;
    while (*pat && *path) {
        if (pat[0] == '{' && pat[1] == '}') {
            size_t n = strcspn(path, "/");
            if (n == 0 || np >= 2) return 0;
            if (n > FTG_MAX_ID) n = FTG_MAX_ID + 1; /* too long: kept over-length so it fails validation */
            memcpy(params[np], path, n);
            params[np++][n] = 0;
            path += strcspn(path, "/");
            pat += 2;
            continue;
        }
        if (*pat != *path) return 0;
        pat++;
        path++;
    }
    return !*pat && !*path;
}

int ftd_route_find(const char *method, const char *path, ftd_req *r, char *allow, size_t n)
{
    int path_known = 0;
    allow[0] = 0;
    for (int i = 0; i < N_ROUTES; i++) {
        char params[2][FTG_MAX_ID + 2];
        if (!match(k_routes[i].pattern, path, params)) continue;
        if (!strcmp(k_routes[i].method, method)) {
            r->route = &k_routes[i];
            memcpy(r->params, params, sizeof params);
            return 0;
        }
        path_known = 1;
        if (*allow) strncat(allow, ", ", n - strlen(allow) - 1);
        strncat(allow, k_routes[i].method, n - strlen(allow) - 1);
    }
    return path_known ? 405 : 404;
}
