/* engine.c — model generations, reload, and embedding through the cache (see engine.h). */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "facetwin/runtime.h"

static void gen_free(ftd_gen *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_inst; i++) ft_model_free(&g->inst[i]);
    for (int i = 0; g->pipe && i < g->n_inst; i++) ft_pipeline_free(&g->pipe[i]);
    free(g->pipe);
    free(g->inst);
    free(g->free_inst);
    ftd_index_free(g->index);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}

typedef struct {
    ftd_index *ix;
    int dim;
} scan_ctx;

static int scan_add(void *ctx, const ftg_face *f)
{
    scan_ctx *s = ctx;
    if (f->dim != s->dim) return 0; /* cannot happen for one model id; skip defensively */
    return ftd_index_add(s->ix, f->subject_id, f->face_id, f->embedding) ? 1 : 0;
}

/* strips a leading "<path>: " from a core error message: reload errors go to clients */
static void strip_path(ft_error *err, const char *path)
{
    if (!err) return;
    size_t n = strlen(path);
    if (!strncmp(err->msg, path, n) && !strncmp(err->msg + n, ": ", 2))
        memmove(err->msg, err->msg + n + 2, strlen(err->msg + n + 2) + 1);
}

/* A complete generation: n copies of the checkpoint + the index (scan under write_mu). */
static ft_status gen_load(ftd_engine *e, ftd_gen **out, ft_error *err)
{
    ftd_gen *g = calloc(1, sizeof *g);
    if (!g) return ft_error_set(err, FT_ENOMEM, "out of memory");
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->inst = calloc((size_t)e->n_inst, sizeof *g->inst);
    g->free_inst = calloc((size_t)e->n_inst, sizeof(int));
    g->pipe = calloc((size_t)e->n_inst, sizeof *g->pipe);
    if (!g->inst || !g->free_inst || !g->pipe) { gen_free(g); return ft_error_set(err, FT_ENOMEM, "out of memory"); }
    ft_status st = FT_OK;
    for (int i = 0; i < e->n_inst && !st; i++) {
        if ((st = ft_pipeline_load_model(e->model_path, &g->inst[i], &g->pipe[i], err))) break;
        g->n_inst++;
        g->free_inst[g->n_free++] = i;
        if (i > 0 && strcmp(g->inst[i].model_id, g->inst[0].model_id))
            st = ft_error_set(err, FT_EMISMATCH, "the checkpoint changed while it was being loaded");
    }
    if (st) { gen_free(g); return st; }
    g->m = &g->inst[0];
    g->dim = ft_net_embed_dim(g->m->net);
    g->has_pipeline = g->pipe[0].ssd && g->pipe[0].landmarks;
    if (!(g->index = ftd_index_new(g->dim, e->search_threads))) {
        gen_free(g);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(g->loaded_at, sizeof g->loaded_at, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    *out = g;
    return FT_OK;
}

static ft_status gen_index(ftd_engine *e, ftd_gen *g, ft_error *err)
{
    scan_ctx sc = {g->index, g->dim};
    ft_status st = ft_gallery_scan(e->gallery, g->m->model_id, scan_add, &sc, err);
    if (st == FT_EINTERRUPTED) st = ft_error_set(err, FT_ENOMEM, "out of memory building the gallery index");
    return st;
}

ft_status ftd_engine_init(ftd_engine *e, const char *model_path, int n_inst, int search_threads,
                          size_t cache_bytes, uint64_t max_pixels, ft_gallery *gal, ft_error *err)
{
    memset(e, 0, sizeof *e);
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->write_mu, NULL);
    pthread_mutex_init(&e->reload_mu, NULL);
    e->n_inst = n_inst > 0 ? n_inst : 1;
    e->search_threads = search_threads;
    e->gallery = gal;
    e->max_pixels = max_pixels;
    ftd_gen *g = NULL;
    ft_status st = FT_OK;
    if (!(e->model_path = strdup(model_path)) || !(e->cache = ft_cache_new(cache_bytes)))
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
    if (!st) st = gen_load(e, &g, err);
    if (!st && (st = gen_index(e, g, err))) gen_free(g);
    if (st) { /* leave nothing behind: the caller does not call destroy after a failed init */
        ftd_engine_destroy(e);
        return st;
    }
    g->refs = 1; /* the engine's own reference */
    e->cur = g;
    return FT_OK;
}

void ftd_engine_destroy(ftd_engine *e)
{
    if (e->cur) ftd_engine_release(e, e->cur);
    e->cur = NULL;
    ft_cache_free(e->cache);
    free(e->model_path);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->write_mu);
    pthread_mutex_destroy(&e->reload_mu);
}

ftd_gen *ftd_engine_acquire(ftd_engine *e)
{
    pthread_mutex_lock(&e->mu);
    ftd_gen *g = e->cur;
    g->refs++;
    pthread_mutex_unlock(&e->mu);
    return g;
}

void ftd_engine_release(ftd_engine *e, ftd_gen *g)
{
    pthread_mutex_lock(&e->mu);
    int last = --g->refs == 0;
    pthread_mutex_unlock(&e->mu);
    if (last) gen_free(g);
}

ft_status ftd_engine_reload(ftd_engine *e, char prev[128], ft_error *err)
{
    pthread_mutex_lock(&e->reload_mu);
    ftd_gen *g;
    ft_status st = gen_load(e, &g, err);
    if (!st) {
        pthread_mutex_lock(&e->write_mu);   /* no gallery write between the scan and the swap */
        st = gen_index(e, g, err);
        if (!st) {
            g->refs = 1;
            pthread_mutex_lock(&e->mu);
            ftd_gen *old = e->cur;
            e->cur = g;
            pthread_mutex_unlock(&e->mu);
            if (prev) snprintf(prev, 128, "%s", old->m->model_id);
            if (strcmp(old->m->model_id, g->m->model_id)) ft_cache_clear(e->cache);
            ftd_engine_release(e, old);
        } else {
            gen_free(g);
        }
        pthread_mutex_unlock(&e->write_mu);
    }
    if (st) strip_path(err, e->model_path);
    pthread_mutex_unlock(&e->reload_mu);
    return st;
}

static double ms_since(double t0) { return (ft_now() - t0) * 1e3; }

int ftd_cache_key(const ftd_gen *g, const uint8_t *bytes, size_t n, const ft_photo_opts *o,
                  uint8_t key[FT_CACHE_KEY_BYTES])
{
    ft_cache_digest(bytes, n, key);
    if (!g->has_pipeline || !o->detect) return g->dim;
    /* a detected photo: the key also names which face was embedded */
    uint8_t buf[FT_CACHE_KEY_BYTES + 32];
    memcpy(buf, key, FT_CACHE_KEY_BYTES);
    /* ssd (the default) keeps the key it always had; the tiny detector finds other boxes */
    int k = snprintf((char *)buf + FT_CACHE_KEY_BYTES, 32, "face:%d%s", o->face_index,
                     o->detector == FT_DETECTOR_TINY ? ":tiny" : "");
    ft_cache_digest(buf, FT_CACHE_KEY_BYTES + (size_t)k, key);
    return g->dim + FTD_FACE_REC;
}

void ftd_unpack_cached(const ftd_gen *g, const float *vec, int len, float *out, ftd_embed_info *info)
{
    memcpy(out, vec, (size_t)g->dim * sizeof(float));
    if (len < g->dim + FTD_FACE_REC) return;
    const float *r = vec + g->dim;
    info->used_pipeline = 1;
    info->face.box = (ft_face_box){r[0], r[1], r[2], r[3], r[4]};
    info->faces_detected = (int)r[5];
    memcpy(info->face.landmarks, r + 6, sizeof info->face.landmarks);
}

static void pack_record(const ftd_gen *g, const ftd_embed_info *info, float *vec)
{
    float *r = vec + g->dim;
    r[0] = info->face.box.x; r[1] = info->face.box.y; r[2] = info->face.box.w; r[3] = info->face.box.h;
    r[4] = info->face.box.score;
    r[5] = (float)info->faces_detected;
    memcpy(r + 6, info->face.landmarks, sizeof info->face.landmarks);
}

/* decode -> ft_photo_input (detect, choose, align) -> the encoder's input, on instance k */
static ft_status photo_input(ftd_engine *e, ftd_gen *g, int k, const uint8_t *bytes, size_t n,
                             const ft_photo_opts *o, float *x, ftd_embed_info *info, ft_error *err)
{
    ft_image img = {0};
    ft_decode_opts dopts = {.max_pixels = e->max_pixels};
    ft_status st = ft_image_decode(bytes, n, &dopts, &img, err);
    if (st) return st;
    ft_photo_face pf;
    st = ft_photo_input(&g->pipe[k], &img, o, ft_net_input(g->m->net), x, &pf, err);
    info->faces_detected = pf.faces_detected;
    if (!st) {
        info->used_pipeline = 1;
        info->face = pf.face;
    }
    ft_image_free(&img);
    return st;
}

ft_status ftd_embed(ftd_engine *e, ftd_gen *g, const uint8_t *bytes, size_t n, const ft_photo_opts *o,
                    const uint8_t *known_miss, float *out, ftd_embed_info *info, ft_error *err)
{
    memset(info, 0, sizeof *info);
    uint8_t key[FT_CACHE_KEY_BYTES];
    int len;
    if (known_miss) {
        memcpy(key, known_miss, sizeof key);
        len = g->has_pipeline && o->detect ? g->dim + FTD_FACE_REC : g->dim;
    } else {
        len = ftd_cache_key(g, bytes, n, o, key);
    }
    float *vec = malloc((size_t)len * sizeof(float));
    float *x = malloc((size_t)ft_net_input_size(g->m->net) * sizeof(float));
    if (!vec || !x) {
        free(vec);
        free(x);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    ft_status st = FT_OK;
    if (!known_miss && ft_cache_get(e->cache, key, g->m->model_id, vec, len)) {
        ftd_unpack_cached(g, vec, len, out, info);
        info->cache_hit = 1;
        if (o->require_single && info->faces_detected > 1)
            st = ft_error_set(err, FT_EMANYFACES, "%d faces found and a single one is required", info->faces_detected);
        goto done;
    }
    pthread_mutex_lock(&g->mu);
    while (g->n_free == 0) pthread_cond_wait(&g->cv, &g->mu);
    int k = g->free_inst[--g->n_free];
    pthread_mutex_unlock(&g->mu);
    double t0 = ft_now();
    if (len > g->dim) {
        st = photo_input(e, g, k, bytes, n, o, x, info, err);
    } else {
        ft_decode_opts dopts = {.max_pixels = e->max_pixels};
        st = ft_input_from_bytes(bytes, n, ft_net_input(g->m->net), &dopts, x, err);
    }
    info->decode_ms = ms_since(t0);
    if (!st) {
        t0 = ft_now();
        st = ft_net_embed(g->inst[k].net, x, 1, out, err);
        info->encode_ms = ms_since(t0);
    }
    pthread_mutex_lock(&g->mu);
    g->free_inst[g->n_free++] = k;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (!st) {
        memcpy(vec, out, (size_t)g->dim * sizeof(float));
        if (len > g->dim) pack_record(g, info, vec);
        ft_cache_put(e->cache, key, g->m->model_id, vec, len);
    }
done:
    free(vec);
    free(x);
    return st;
}
