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
    if (!g->inst || !g->free_inst) { gen_free(g); return ft_error_set(err, FT_ENOMEM, "out of memory"); }
    ft_status st = FT_OK;
    for (int i = 0; i < e->n_inst && !st; i++) {
        if ((st = ft_model_load(e->model_path, &g->inst[i], err))) break;
        g->n_inst++;
        g->free_inst[g->n_free++] = i;
        if (i > 0 && strcmp(g->inst[i].model_id, g->inst[0].model_id))
            st = ft_error_set(err, FT_EMISMATCH, "the checkpoint changed while it was being loaded");
    }
    if (st) { gen_free(g); return st; }
    g->m = &g->inst[0];
    g->dim = ft_net_embed_dim(g->m->net);
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

ft_status ftd_embed(ftd_engine *e, ftd_gen *g, const uint8_t *bytes, size_t n,
                    const uint8_t *known_miss, float *out, ftd_embed_info *info, ft_error *err)
{
    memset(info, 0, sizeof *info);
    uint8_t key[FT_CACHE_KEY_BYTES];
    if (known_miss) memcpy(key, known_miss, sizeof key);
    else ft_cache_digest(bytes, n, key);
    if (!known_miss && ft_cache_get(e->cache, key, g->m->model_id, out, g->dim)) {
        info->cache_hit = 1;
        return FT_OK;
    }
    const ft_input_spec *spec = ft_net_input(g->m->net);
    float *x = malloc((size_t)ft_net_input_size(g->m->net) * sizeof(float));
    if (!x) return ft_error_set(err, FT_ENOMEM, "out of memory");
    double t0 = ft_now();
    ft_decode_opts opts = {.max_pixels = e->max_pixels};
    ft_status st = ft_input_from_bytes(bytes, n, spec, &opts, x, err);
    info->decode_ms = ms_since(t0);
    if (!st) {
        pthread_mutex_lock(&g->mu);
        while (g->n_free == 0) pthread_cond_wait(&g->cv, &g->mu);
        int k = g->free_inst[--g->n_free];
        pthread_mutex_unlock(&g->mu);
        t0 = ft_now();
        st = ft_net_embed(g->inst[k].net, x, 1, out, err);
        info->encode_ms = ms_since(t0);
        pthread_mutex_lock(&g->mu);
        g->free_inst[g->n_free++] = k;
        pthread_cond_signal(&g->cv);
        pthread_mutex_unlock(&g->mu);
    }
    free(x);
    if (!st) ft_cache_put(e->cache, key, g->m->model_id, out, g->dim);
    return st;
}
