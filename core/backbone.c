/* backbone.c — a frozen backbone's features, and a head on them (include/facetwin/backbone.h).
 *
 * Extraction is the slow part (detection + landmarks + encoder: ~0.3 s per ORL image on one
 * core), and it is embarrassingly parallel: each thread loads its own copy of the pipeline
 * (nets are not shareable between threads) and takes the next image index from an atomic
 * counter. BLAS is set to one thread for the duration so T threads use T cores, not T x T.
 * Every image's vector is computed by one single-threaded pass whichever thread takes it, so
 * the features are the same for any thread count (tested).
 *
 * Composition is done on the spec as JSON (architecture as data): the head's layer objects
 * are appended to the backbone's "layers" with their "input"/"from" indices shifted; the
 * resulting checkpoint is then loaded by the ordinary ft_net_from_checkpoint, which checks
 * every tensor name and shape, so a head that does not fit is refused here, not at serving.
 */
#include "facetwin/backbone.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/model.h"
#include "facetwin/pipeline.h"
#include "facetwin/runtime.h"

#define FT_CALIB_PREFIX "calib/"
#define FT_OPT_PREFIX "opt/"
#define FT_HEAD_META_KEYS_N 5

void ft_features_opts_defaults(ft_features_opts *o)
{
    memset(o, 0, sizeof *o);
    o->photo.detect = 1;
    o->no_face = FT_NOFACE_LANDMARKS;
}

void ft_features_free(ft_features *f)
{
    if (!f) return;
    free(f->x);
    free(f->x_flip);
    free(f->label);
    free(f->no_face);
    memset(f, 0, sizeof *f);
}

/* ---------------------------------------------------------------- extraction ---- */

typedef struct {
    const char *path;
    const ft_dataset *ds;
    const ft_features_opts *o;
    ft_features *f;
    atomic_int next;
    atomic_int failed;
    atomic_int n_no_face;
} job;

typedef struct {
    job *j;
    ft_status st;
    ft_error err;
} worker;

/* Mirrors a planar (C, H, W) input left-right in place. */
static void flip_input(float *x, const ft_input_spec *s)
{
    for (int c = 0; c < s->channels; c++)
        for (int y = 0; y < s->height; y++) {
            float *row = x + ((size_t)c * s->height + y) * s->width;
            for (int a = 0, b = s->width - 1; a < b; a++, b--) {
                float t = row[a];
                row[a] = row[b];
                row[b] = t;
            }
        }
}

/* The whole image taken as the detector's box: landmarks in it, then the usual crop. */
static ft_status align_whole(ft_pipeline *p, const ft_image *img, const ft_photo_opts *po, const ft_input_spec *spec,
                             float *x, ft_error *err)
{
    ft_face face;
    memset(&face, 0, sizeof face);
    face.box = (ft_face_box){0, 0, (float)img->w, (float)img->h, 0};
    ft_status st = ft_face_landmarks(p->landmarks, img, &face, err);
    if (st) return st;
    return po->rotate ? ft_face_input_rotated(img, &face, spec->width, spec, x, err)
                      : ft_face_input(img, &face.crop, spec->width, spec, x, err);
}

/* Image i -> f->x[i] (and f->x_flip[i]). */
static ft_status embed_one(ft_pipeline *p, job *j, int i, const ft_photo_opts *po, float *x, ft_error *err)
{
    const ft_input_spec *spec = ft_net_input(p->encoder);
    ft_features *f = j->f;
    ft_image img;
    ft_status st = ft_image_load(j->ds->paths[i], NULL, &img, err);
    if (st) return st;
    ft_photo_face info;
    st = ft_photo_input(p, &img, po, spec, x, &info, err);
    if (st == FT_ENOFACE) { /* the documented fallback (backbone.h) */
        f->no_face[i] = 1;
        atomic_fetch_add(&j->n_no_face, 1);
        st = j->o->no_face == FT_NOFACE_LANDMARKS && p->landmarks ? align_whole(p, &img, po, spec, x, err)
                                                                   : FT_ENOFACE;
        if (st == FT_ENOFACE || st == FT_EINVAL) {
            ft_photo_opts whole = *po;
            whole.detect = 0;
            st = ft_photo_input(p, &img, &whole, spec, x, &info, err);
        }
    }
    ft_image_free(&img);
    if (st) return ft_error_prefix(err, j->ds->paths[i]);
    const float *e = ft_net_forward(p->encoder, x, 1, 0);
    memcpy(f->x + (size_t)i * f->dim, e, (size_t)f->dim * sizeof(float));
    if (f->x_flip) {
        flip_input(x, spec);
        e = ft_net_forward(p->encoder, x, 1, 0);
        memcpy(f->x_flip + (size_t)i * f->dim, e, (size_t)f->dim * sizeof(float));
    }
    return FT_OK;
}

static void *work(void *arg)
{
    worker *w = arg;
    job *j = w->j;
    ft_pipeline p;
    float *x = NULL;
    w->st = ft_pipeline_load(j->path, &p, &w->err);
    if (w->st) {
        atomic_store(&j->failed, 1);
        return NULL;
    }
    ft_photo_opts po = j->o->photo;
    if (!ft_photo_can_detect(&p, &po)) po.detect = 0;
    if (!p.encoder || ft_net_embed_dim(p.encoder) != j->f->dim)
        w->st = ft_error_set(&w->err, FT_EMISMATCH, "%s: not an encoder checkpoint", j->path);
    if (!w->st && (w->st = ft_net_reserve(p.encoder, 1, 0, &w->err)) == FT_OK) {
        x = malloc((size_t)ft_net_input_size(p.encoder) * sizeof(float));
        if (!x) w->st = ft_error_set(&w->err, FT_ENOMEM, "out of memory");
    }
    while (!w->st && !atomic_load(&j->failed)) {
        if (j->o->stop && *j->o->stop) {
            w->st = ft_error_set(&w->err, FT_EINTERRUPTED, "interrupted while embedding the images");
            break;
        }
        int i = atomic_fetch_add(&j->next, 1);
        if (i >= j->ds->n_images) break;
        w->st = embed_one(&p, j, i, &po, x, &w->err);
    }
    if (w->st) atomic_store(&j->failed, 1);
    free(x);
    ft_pipeline_free(&p);
    return NULL;
}

/* The backbone's embedding size and id, and whether it can detect with o's choice. */
static ft_status probe_backbone(const char *path, const ft_features_opts *o, ft_features *f, ft_error *err)
{
    ft_model m;
    ft_status st = ft_model_load(path, &m, err);
    if (st) return st;
    f->dim = ft_net_embed_dim(m.net);
    snprintf(f->model_id, sizeof f->model_id, "%s", m.model_id);
    ft_model_free(&m);
    ft_pipeline p;
    if ((st = ft_pipeline_load(path, &p, err))) return st;
    f->detected = o->photo.detect && ft_photo_can_detect(&p, &o->photo);
    ft_pipeline_free(&p);
    return FT_OK;
}

ft_status ft_features_extract(const char *path, const ft_dataset *ds, const ft_features_opts *o, ft_features *out,
                              ft_error *err)
{
    memset(out, 0, sizeof *out);
    double t0 = ft_now();
    ft_status st = probe_backbone(path, o, out, err);
    if (st) return st;
    int n = ds->n_images;
    out->n = n;
    out->x = malloc((size_t)n * (size_t)out->dim * sizeof(float));
    out->x_flip = o->flip ? malloc((size_t)n * (size_t)out->dim * sizeof(float)) : NULL;
    out->label = malloc((size_t)n * sizeof(int32_t));
    out->no_face = calloc((size_t)n, 1);
    int T = o->threads > 0 ? o->threads : ft_cpu_count();
    if (T > FT_FEATURES_MAX_THREADS) T = FT_FEATURES_MAX_THREADS;
    if (T > n) T = n;
    if (T < 1) T = 1;
    worker *w = calloc((size_t)T, sizeof *w);
    pthread_t *tid = calloc((size_t)T, sizeof *tid);
    if (!out->x || (o->flip && !out->x_flip) || !out->label || !out->no_face || !w || !tid) {
        free(w);
        free(tid);
        ft_features_free(out);
        return ft_error_set(err, FT_ENOMEM, "out of memory for the features of %d images", n);
    }
    memcpy(out->label, ds->label, (size_t)n * sizeof(int32_t));
    job j = {path, ds, o, out, 0, 0, 0};
    int blas = ft_get_threads();
    ft_set_threads(1);
    int started = 0;
    for (int t = 0; t < T; t++) {
        w[t].j = &j;
        if (pthread_create(&tid[t], NULL, work, &w[t]) != 0) break;
        started++;
    }
    if (!started) work(&w[0]); /* no thread could start: do it here */
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    ft_set_threads(blas);
    for (int t = 0; t < T && !st; t++)
        if (w[t].st) {
            st = w[t].st;
            *err = w[t].err;
        }
    out->n_no_face = atomic_load(&j.n_no_face);
    free(w);
    free(tid);
    if (st) ft_features_free(out);
    else out->seconds = ft_now() - t0;
    return st;
}

/* ------------------------------------------------------------- pairs on vectors ---- */

ft_status ft_features_select(const ft_features *f, const ft_dataset *ds, const ft_idset *ids, int with_flips,
                             ft_labelled *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    int32_t *img = NULL, *lab = NULL;
    int n;
    ft_status st = ft_dataset_images(ds, ids, &img, &lab, &n, err);
    if (st) return st;
    int copies = with_flips && f->x_flip ? 2 : 1;
    out->n = n * copies;
    out->isz = f->dim;
    out->x = malloc((size_t)(out->n ? out->n : 1) * (size_t)f->dim * sizeof(float));
    out->label = malloc((size_t)(out->n ? out->n : 1) * sizeof(int32_t));
    if (!out->x || !out->label) {
        free(img);
        free(lab);
        ft_labelled_free(out);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    for (int c = 0; c < copies; c++)
        for (int i = 0; i < n; i++) {
            const float *src = (c ? f->x_flip : f->x) + (size_t)img[i] * f->dim;
            memcpy(out->x + ((size_t)c * n + i) * f->dim, src, (size_t)f->dim * sizeof(float));
            out->label[c * n + i] = lab[i];
        }
    free(img);
    free(lab);
    return FT_OK;
}

typedef struct {
    ft_evalset base;
    const ft_labelled *set;
} feat_evalset;

static ft_status feat_embed(ft_evalset *e, ft_net *net, float *out, ft_error *err)
{
    const ft_labelled *set = ((feat_evalset *)e)->set;
    ft_status st = ft_head_check(net, set->isz, err);
    return st ? st : ft_net_embed(net, set->x, set->n, out, err);
}

static void feat_destroy(ft_evalset *e)
{
    free(e->pairs);
    free(e);
}

ft_status ft_evalset_features_new(const ft_labelled *set, uint64_t seed, ft_evalset **out, ft_error *err)
{
    *out = NULL;
    feat_evalset *m = calloc(1, sizeof *m);
    if (!m) return ft_error_set(err, FT_ENOMEM, "out of memory");
    m->base = (ft_evalset){feat_embed, feat_destroy, set->n, NULL, 0, 0};
    m->set = set;
    ft_status st = ft_pairs_balanced(set->label, set->n, 0, seed, &m->base.pairs, &m->base.n_pairs, err);
    if (st) {
        free(m);
        return st;
    }
    /* distinct labels (they are dataset identity indices, not 0..k-1) */
    for (int i = 0; i < set->n; i++) {
        int seen = 0;
        for (int k = 0; k < i && !seen; k++) seen = set->label[k] == set->label[i];
        m->base.n_identities += !seen;
    }
    *out = &m->base;
    return FT_OK;
}

void ft_pairs_feature_distances(const ft_labelled *set, const ft_pair *pairs, int n, float *dist, uint8_t *same)
{
    const int D = set->isz;
    for (int i = 0; i < n; i++) {
        const float *a = set->x + (size_t)pairs[i].a * D, *b = set->x + (size_t)pairs[i].b * D;
        double s = 0;
        for (int k = 0; k < D; k++) {
            double d = (double)a[k] - b[k];
            s += d * d;
        }
        dist[i] = (float)sqrt(s);
        if (same) same[i] = pairs[i].same;
    }
}

ft_status ft_head_check(const ft_net *head, int dim, ft_error *err)
{
    int in = ft_net_input_size(head);
    if (in == dim) return FT_OK;
    return ft_error_set(err, FT_EMISMATCH, "the head '%s' takes %d values per input, the backbone's embedding has %d",
                        ft_net_name(head), in, dim);
}

/* ---------------------------------------------------------------- composition ---- */

/* Head layer index k -> composed index (-1, the head's input, is the backbone's output). */
static int shift_index(int k, int n_bb) { return k < 0 ? n_bb - 1 : k + n_bb; }

static ft_status compose_spec(const char *bb_spec, const char *head_spec, char **out, int *n_bb, ft_error *err)
{
    *out = NULL;
    cJSON *b = cJSON_Parse(bb_spec), *h = cJSON_Parse(head_spec);
    cJSON *bl = cJSON_GetObjectItemCaseSensitive(b, "layers");
    const cJSON *hl = cJSON_GetObjectItemCaseSensitive(h, "layers");
    ft_status st = FT_OK;
    if (!cJSON_IsArray(bl) || !cJSON_IsArray(hl)) {
        st = ft_error_set(err, FT_EFORMAT, "compose: unreadable backbone or head spec");
        goto done;
    }
    *n_bb = cJSON_GetArraySize(bl);
    const cJSON *l;
    cJSON_ArrayForEach(l, hl)
    {
        cJSON *c = cJSON_Duplicate(l, 1);
        if (!c || !cJSON_AddItemToArray(bl, c)) {
            cJSON_Delete(c);
            st = ft_error_set(err, FT_ENOMEM, "out of memory");
            goto done;
        }
        static const char *const k_refs[] = {"input", "from"};
        for (size_t r = 0; r < sizeof k_refs / sizeof k_refs[0]; r++) {
            cJSON *v = cJSON_GetObjectItemCaseSensitive(c, k_refs[r]);
            if (cJSON_IsNumber(v)) cJSON_SetNumberValue(v, shift_index(v->valueint, *n_bb));
        }
    }
    const cJSON *bn = cJSON_GetObjectItemCaseSensitive(b, "name"), *hn = cJSON_GetObjectItemCaseSensitive(h, "name");
    char name[256];
    snprintf(name, sizeof name, "%s+%s", cJSON_IsString(bn) ? bn->valuestring : "custom",
             cJSON_IsString(hn) ? hn->valuestring : "head");
    cJSON_DeleteItemFromObjectCaseSensitive(b, "name");
    cJSON_DeleteItemFromObjectCaseSensitive(b, "description");
    if (!cJSON_AddStringToObject(b, "name", name) || !(*out = cJSON_PrintUnformatted(b)))
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
done:
    cJSON_Delete(b);
    cJSON_Delete(h);
    return st;
}

static int has_prefix(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

/* Appends a deep copy of t named name. */
static ft_status push_tensor(ft_ckpt *ck, const ft_ckpt_tensor *t, const char *name, ft_error *err)
{
    ft_ckpt_tensor *o = &ck->tensors[ck->n_tensors];
    *o = *t;
    if (snprintf(o->name, sizeof o->name, "%s", name) >= (int)sizeof o->name)
        return ft_error_set(err, FT_ETOOBIG, "compose: tensor name '%s' is too long", name);
    o->data = malloc((t->count ? t->count : 1) * sizeof(float));
    if (!o->data) return ft_error_set(err, FT_ENOMEM, "out of memory");
    memcpy(o->data, t->data, t->count * sizeof(float));
    ck->n_tensors++;
    return FT_OK;
}

/* Renames a head tensor "<k>.<param>" to "<k + n_bb>.<param>"; other names are kept. */
static void head_tensor_name(const char *name, int n_bb, char *out, size_t n)
{
    char *end;
    long k = strtol(name, &end, 10);
    if (end != name && *end == '.') snprintf(out, n, "%ld%s", k + n_bb, end);
    else snprintf(out, n, "%s", name);
}

/* The metadata: the backbone's (pipeline parts, ...) with the head's training record. */
static ft_status compose_meta(const ft_ckpt *bb, const ft_ckpt *head, const char *model_id, const char *arch,
                              int n_bb, char **out, ft_error *err)
{
    *out = NULL;
    cJSON *m = cJSON_Parse(bb->meta_json ? bb->meta_json : "{}");
    cJSON *hm = cJSON_Parse(head->meta_json ? head->meta_json : "{}");
    ft_status st = FT_OK;
    if (!cJSON_IsObject(m) || !cJSON_IsObject(hm)) {
        st = ft_error_set(err, FT_EFORMAT, "compose: unreadable checkpoint metadata");
        goto done;
    }
    const cJSON *bid = cJSON_GetObjectItemCaseSensitive(m, "model_id");
    const cJSON *hid = cJSON_GetObjectItemCaseSensitive(hm, "model_id");
    cJSON *bo = cJSON_CreateObject();
    if (!bo || !cJSON_AddItemToObject(m, "backbone_tmp", bo)) {
        cJSON_Delete(bo);
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto done;
    }
    int ok = cJSON_AddStringToObject(bo, "model_id", cJSON_IsString(bid) ? bid->valuestring : "unknown") &&
             cJSON_AddBoolToObject(bo, "frozen", 1) && cJSON_AddNumberToObject(bo, "layers", n_bb) &&
             cJSON_AddStringToObject(bo, "head_model_id", cJSON_IsString(hid) ? hid->valuestring : "unknown");
    static const char *const k_head_keys[FT_HEAD_META_KEYS_N] = {"training", "metrics", "threshold_rule",
                                                                 "calibration", "history"};
    for (int i = 0; ok && i < FT_HEAD_META_KEYS_N; i++) {
        cJSON_DeleteItemFromObjectCaseSensitive(m, k_head_keys[i]);
        cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(hm, k_head_keys[i]);
        if (v) ok = cJSON_AddItemToObject(m, k_head_keys[i], v);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(m, "model_id");
    cJSON_DeleteItemFromObjectCaseSensitive(m, "arch");
    cJSON_DeleteItemFromObjectCaseSensitive(m, "backbone");
    ok = ok && cJSON_AddStringToObject(m, "model_id", model_id) && cJSON_AddStringToObject(m, "arch", arch);
    if (ok) {
        cJSON *b = cJSON_DetachItemFromObjectCaseSensitive(m, "backbone_tmp");
        ok = cJSON_AddItemToObject(m, "backbone", b);
    }
    if (!ok || !(*out = cJSON_PrintUnformatted(m))) st = ft_error_set(err, FT_ENOMEM, "out of memory");
done:
    cJSON_Delete(m);
    cJSON_Delete(hm);
    return st;
}

ft_status ft_backbone_compose(const ft_ckpt *bb, const ft_ckpt *head, ft_ckpt *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    ft_net *hn = NULL, *net = NULL;
    ft_status st = ft_net_from_json(head->spec_json, &hn, err);
    if (st) return ft_error_prefix(err, "head");
    st = ft_head_check(hn, bb->embed_dim, err);
    ft_net_free(hn);
    if (st) return st;
    int n_bb = 0;
    if ((st = compose_spec(bb->spec_json, head->spec_json, &out->spec_json, &n_bb, err))) return st;
    out->input = bb->input;
    out->threshold = head->threshold;
    out->tensors = calloc((size_t)(bb->n_tensors + head->n_tensors + 1), sizeof *out->tensors);
    if (!out->tensors) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < bb->n_tensors && !st; i++) /* the backbone's calibration no longer applies */
        if (!has_prefix(bb->tensors[i].name, FT_CALIB_PREFIX) && !has_prefix(bb->tensors[i].name, FT_OPT_PREFIX))
            st = push_tensor(out, &bb->tensors[i], bb->tensors[i].name, err);
    for (int i = 0; i < head->n_tensors && !st; i++) {
        if (has_prefix(head->tensors[i].name, FT_OPT_PREFIX)) continue;
        char name[FT_CKPT_MAX_NAME + 16];
        head_tensor_name(head->tensors[i].name, n_bb, name, sizeof name);
        st = push_tensor(out, &head->tensors[i], name, err);
    }
    if (st) goto fail;
    /* embed_dim from the composed spec; then the ordinary loader checks every tensor */
    if ((st = ft_net_from_json(out->spec_json, &net, err))) goto fail;
    out->embed_dim = ft_net_embed_dim(net);
    ft_net_free(net);
    net = NULL;
    out->meta_json = strdup("{}");
    if (!out->meta_json) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto fail;
    }
    if ((st = ft_net_from_checkpoint(out, &net, err))) {
        ft_error_prefix(err, "compose: the head does not fit the backbone");
        goto fail;
    }
    char id[128];
    ft_model_id_compute(net, id, sizeof id);
    char *meta;
    if ((st = compose_meta(bb, head, id, ft_net_name(net), n_bb, &meta, err))) goto fail;
    free(out->meta_json);
    out->meta_json = meta;
    ft_net_free(net);
    return FT_OK;
fail:
    ft_net_free(net);
    ft_ckpt_free(out);
    return st;
}
