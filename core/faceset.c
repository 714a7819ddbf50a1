/* faceset.c — ft_source and ft_evalset over identity folders (faceset.h).
 *
 * The loader delivers images in fixed batches of FT_FACESET_LOADER_BATCH in
 * plan order; this file re-cuts them into the training steps (2B pair sides,
 * or one group), copying each image once into a staging buffer, and drops
 * what failed to load: a pair whose side failed, or a group member.
 *
 * Plan positions: an epoch's whole plan is always handed to the loader (its
 * augmentation is keyed by plan position), so resuming at step k skips the
 * first steps' images rather than starting a shorter plan — the resumed run
 * sees bit-identical batches.
 */
#include "facetwin/faceset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FT_FACESET_PAIRS_TAG 0x50414952ull
#define FT_FACESET_GROUP_TAG 0x47524F50ull
#define FT_FACESET_AUG_TAG 0x41554755ull
#define FT_FACESET_EVAL_BATCH 64

void ft_faceset_opts_defaults(ft_faceset_opts *fo)
{
    memset(fo, 0, sizeof *fo);
    fo->cache_bytes = FT_FACESET_DEFAULT_CACHE;
    fo->depth = FT_LOADER_DEFAULT_DEPTH;
}

/* The images of ids as dataset indices and labels. */
static ft_status gather_images(const ft_dataset *ds, const ft_idset *ids, int32_t **img, int32_t **lab, int *n,
                               ft_error *err)
{
    ft_status st = ft_dataset_images(ds, ids, img, lab, n, err);
    if (!st && *n < 2) {
        free(*img);
        free(*lab);
        *img = *lab = NULL;
        return ft_error_set(err, FT_EINVAL, "%s: the selected identities hold %d image(s); at least 2 are needed",
                            ds->root, *n);
    }
    return st;
}

typedef struct {
    ft_source base;
    const ft_dataset *ds;
    ft_faceset_opts fo;
    ft_pairs_mode mode;
    int batch, per_class, isz;
    uint64_t seed;
    int32_t *img, *lab; /* n training images: dataset index, identity */
    int n;
    ft_loader *loader;
    /* the epoch */
    ft_pair *pairs;
    int n_pairs;
    ft_group_plan plan;
    int32_t *plan_img;  /* dataset indices of the epoch's plan */
    int plan_n, steps, step;
    /* the current loader batch, consumed from `used` */
    ft_loader_batch lb;
    int used;
    /* staging: one step's images */
    float *x;
    uint8_t *ok;
    float *y, *xc;      /* pairs labels; compacted images */
    int32_t *ids;
    uint8_t *warned;    /* per dataset image: failure already reported */
} ds_source;

static void ds_destroy(ft_source *s)
{
    ds_source *d = (ds_source *)s;
    ft_loader_free(d->loader);
    free(d->img);
    free(d->lab);
    free(d->pairs);
    ft_group_plan_free(&d->plan);
    free(d->plan_img);
    free(d->x);
    free(d->ok);
    free(d->y);
    free(d->xc);
    free(d->ids);
    free(d->warned);
    free(d);
}

/* Images of step i of the current epoch. */
static int step_images(const ds_source *d, int i)
{
    if (d->mode == FT_PAIRS_BATCH) return d->plan.start[i + 1] - d->plan.start[i];
    int rest = d->n_pairs - i * d->batch;
    return 2 * (rest < d->batch ? rest : d->batch);
}

/* Copies the next `need` images of the plan into staging [at, at + need). */
static ft_status take_images(ds_source *d, int at, int need, int keep, ft_error *err)
{
    size_t isz = (size_t)d->isz;
    while (need > 0) {
        if (d->used >= d->lb.n) {
            ft_status st = ft_loader_next(d->loader, &d->lb, err);
            if (st) return st;
            if (d->lb.n == 0) return ft_error_set(err, FT_EINVAL, "loader ended before the epoch's plan");
            d->used = 0;
        }
        int k = d->lb.n - d->used < need ? d->lb.n - d->used : need;
        for (int j = 0; j < k; j++) {
            int src = d->used + j;
            if (keep) {
                memcpy(d->x + (size_t)(at + j) * isz, d->lb.x + (size_t)src * isz, isz * sizeof(float));
                d->ok[at + j] = d->lb.ok[src];
            }
            int32_t im = d->lb.images[src];
            if (!d->lb.ok[src] && !d->warned[im]) {
                d->warned[im] = 1;
                if (d->fo.warn) {
                    char msg[FT_ERROR_MSG_MAX + 64];
                    snprintf(msg, sizeof msg, "skipping an unreadable image: %s",
                             d->lb.error[src] ? d->lb.error[src] : d->ds->paths[im]);
                    d->fo.warn(d->fo.warn_ctx, msg);
                }
            }
        }
        d->used += k;
        at += k;
        need -= k;
    }
    return FT_OK;
}

static ft_status ds_begin(ft_source *s, int epoch, int start, int *steps, ft_error *err)
{
    ds_source *d = (ds_source *)s;
    ft_status st;
    uint64_t es = d->seed + 0x9E3779B97F4A7C15ull * (uint64_t)(epoch + 1);
    if (d->mode == FT_PAIRS_BATCH) {
        ft_group_plan_free(&d->plan);
        if ((st = ft_group_plan_make(d->lab, d->n, d->per_class, d->batch, es ^ FT_FACESET_GROUP_TAG, &d->plan, err)))
            return st;
        d->steps = d->plan.n_batches;
        d->plan_n = d->plan.n;
        for (int i = 0; i < d->plan.n; i++) d->plan_img[i] = d->img[d->plan.order[i]];
    } else {
        free(d->pairs);
        d->pairs = NULL;
        if ((st = ft_pairs_balanced(d->lab, d->n, d->fo.max_pos, es ^ FT_FACESET_PAIRS_TAG, &d->pairs, &d->n_pairs,
                                    err)))
            return st;
        d->steps = (d->n_pairs + d->batch - 1) / d->batch;
        int32_t *grown = realloc(d->plan_img, (size_t)2 * d->n_pairs * sizeof *grown);
        if (!grown) return ft_error_set(err, FT_ENOMEM, "out of memory for an epoch of %d pairs", d->n_pairs);
        d->plan_img = grown;
        int k = 0;
        for (int i = 0; i < d->steps; i++) { /* per step: left sides, then right sides */
            int i0 = i * d->batch, B = d->n_pairs - i0 < d->batch ? d->n_pairs - i0 : d->batch;
            for (int j = 0; j < B; j++) d->plan_img[k++] = d->img[d->pairs[i0 + j].a];
            for (int j = 0; j < B; j++) d->plan_img[k++] = d->img[d->pairs[i0 + j].b];
        }
        d->plan_n = k;
    }
    if ((st = ft_loader_start(d->loader, d->plan_img, d->plan_n, FT_FACESET_LOADER_BATCH, &d->fo.aug,
                              es ^ FT_FACESET_AUG_TAG, err)))
        return st;
    d->lb.n = 0;
    d->used = 0;
    d->step = 0;
    for (; d->step < start && d->step < d->steps; d->step++) /* resume: skip, keeping plan positions */
        if ((st = take_images(d, 0, step_images(d, d->step), 0, err))) return st;
    *steps = d->steps;
    return FT_OK;
}

static ft_status ds_next(ft_source *s, ft_batch *b, ft_error *err)
{
    ds_source *d = (ds_source *)s;
    memset(b, 0, sizeof *b);
    if (d->step >= d->steps) return FT_OK;
    int i = d->step++, n = step_images(d, i);
    ft_status st = take_images(d, 0, n, 1, err);
    if (st) return st;
    size_t isz = (size_t)d->isz;
    if (d->mode == FT_PAIRS_BATCH) {
        int k = 0, s0 = d->plan.start[i];
        for (int j = 0; j < n; j++) {
            if (!d->ok[j]) continue;
            if (k != j) memcpy(d->x + (size_t)k * isz, d->x + (size_t)j * isz, isz * sizeof(float));
            d->ids[k++] = d->lab[d->plan.order[s0 + j]];
        }
        *b = (ft_batch){d->x, k, NULL, d->ids, k * (k - 1) / 2};
        return FT_OK;
    }
    int B = n / 2, i0 = i * d->batch, all = 1;
    for (int j = 0; j < n; j++) all &= d->ok[j];
    if (all) {
        for (int j = 0; j < B; j++) d->y[j] = d->pairs[i0 + j].same ? 1.0f : 0.0f;
        *b = (ft_batch){d->x, 2 * B, d->y, NULL, B};
        return FT_OK;
    }
    int keep = 0;
    for (int j = 0; j < B; j++) keep += d->ok[j] && d->ok[B + j];
    int k = 0;
    for (int j = 0; j < B; j++) {
        if (!(d->ok[j] && d->ok[B + j])) continue;
        memcpy(d->xc + (size_t)k * isz, d->x + (size_t)j * isz, isz * sizeof(float));
        memcpy(d->xc + (size_t)(keep + k) * isz, d->x + (size_t)(B + j) * isz, isz * sizeof(float));
        d->y[k++] = d->pairs[i0 + j].same ? 1.0f : 0.0f;
    }
    *b = (ft_batch){d->xc, 2 * keep, d->y, NULL, keep};
    return FT_OK;
}

ft_status ft_source_dataset_new(const ft_dataset *ds, const ft_idset *ids, const ft_input_spec *spec,
                                const ft_train_opts *o, const ft_faceset_opts *fo, ft_source **out, ft_error *err)
{
    *out = NULL;
    if (o->batch < 1) return ft_error_set(err, FT_EINVAL, "batch size must be at least 1");
    if (o->pairs == FT_PAIRS_KERAS)
        return ft_error_set(err, FT_EINVAL, "keras pairs are for IDX data; identity folders take 'all' or 'batch'");
    ds_source *d = calloc(1, sizeof *d);
    if (!d) return ft_error_set(err, FT_ENOMEM, "out of memory");
    d->ds = ds;
    d->fo = *fo;
    d->mode = o->pairs;
    d->batch = o->batch;
    d->per_class = o->per_class;
    d->seed = o->seed;
    d->isz = spec->channels * spec->width * spec->height;
    int max_images = d->mode == FT_PAIRS_BATCH ? o->batch : 2 * o->batch;
    d->base = (ft_source){ds_begin, ds_next, ds_destroy, 0, max_images};
    ft_status st = gather_images(ds, ids, &d->img, &d->lab, &d->n, err);
    if (st) goto fail;
    d->base.n_images = d->n;
    /* check the pairing can work now, not at the first epoch */
    if (d->mode == FT_PAIRS_BATCH) {
        ft_group_plan probe;
        if ((st = ft_group_plan_make(d->lab, d->n, d->per_class, d->batch, d->seed, &probe, err))) goto fail;
        ft_group_plan_free(&probe);
    } else {
        ft_pair *probe;
        int np;
        if ((st = ft_pairs_balanced(d->lab, d->n, 1, d->seed, &probe, &np, err))) goto fail;
        free(probe);
    }
    d->x = malloc((size_t)max_images * d->isz * sizeof(float));
    d->xc = malloc((size_t)max_images * d->isz * sizeof(float));
    d->ok = malloc((size_t)max_images);
    d->y = malloc((size_t)max_images * sizeof(float));
    d->ids = malloc((size_t)max_images * sizeof(int32_t));
    d->warned = calloc((size_t)ds->n_images, 1);
    d->plan_img = malloc((size_t)d->n * sizeof(int32_t));
    if (!d->x || !d->xc || !d->ok || !d->y || !d->ids || !d->warned || !d->plan_img) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto fail;
    }
    if ((st = ft_loader_new(ds, spec, FT_FACESET_LOADER_BATCH, fo->depth > 1 ? fo->depth : FT_LOADER_DEFAULT_DEPTH,
                            fo->cache_bytes, &d->loader, err)))
        goto fail;
    *out = &d->base;
    return FT_OK;
fail:
    ds_destroy(&d->base);
    return st;
}

void ft_source_dataset_stats(ft_source *s, ft_loader_stats *st)
{
    memset(st, 0, sizeof *st);
    if (s && s->destroy == ds_destroy) ft_loader_stats_get(((ds_source *)s)->loader, st);
}

/* ------------------------------------------------------ evaluation set ---- */

typedef struct {
    ft_evalset base;
    const ft_dataset *ds;
    const ft_input_spec *spec;
    ft_faceset_opts fo;
    int32_t *img, *lab;
    ft_loader *loader; /* created at the first embedding */
} ds_evalset;

static void ds_eval_destroy(ft_evalset *e)
{
    ds_evalset *d = (ds_evalset *)e;
    ft_loader_free(d->loader);
    free(d->img);
    free(d->lab);
    free(e->pairs);
    free(d);
}

static ft_status ds_embed(ft_evalset *e, ft_net *net, float *out, ft_error *err)
{
    ds_evalset *d = (ds_evalset *)e;
    const ft_input_spec *in = ft_net_input(net);
    if (in->width != d->spec->width || in->height != d->spec->height || in->channels != d->spec->channels)
        return ft_error_set(err, FT_EMISMATCH, "evaluation set prepared for %dx%dx%d input, the network takes %dx%dx%d",
                            d->spec->width, d->spec->height, d->spec->channels, in->width, in->height, in->channels);
    ft_status st;
    if (!d->loader && (st = ft_loader_new(d->ds, d->spec, FT_FACESET_EVAL_BATCH,
                                          d->fo.depth > 1 ? d->fo.depth : FT_LOADER_DEFAULT_DEPTH, d->fo.cache_bytes,
                                          &d->loader, err)))
        return st;
    if ((st = ft_loader_start(d->loader, d->img, e->n_images, FT_FACESET_EVAL_BATCH, NULL, 0, err))) return st;
    int D = ft_net_embed_dim(net), done = 0;
    for (;;) {
        ft_loader_batch b;
        if ((st = ft_loader_next(d->loader, &b, err))) return st;
        if (b.n == 0) break;
        for (int j = 0; j < b.n; j++)
            if (!b.ok[j])
                return ft_error_set(err, FT_EFORMAT, "%s",
                                    b.error[j] ? b.error[j] : d->ds->paths[b.images[j]]);
        if ((st = ft_net_embed(net, b.x, b.n, out + (size_t)done * D, err))) return st;
        done += b.n;
    }
    if (done != e->n_images)
        return ft_error_set(err, FT_EIO, "loader delivered %d of %d evaluation images", done, e->n_images);
    return FT_OK;
}

ft_status ft_evalset_dataset_new(const ft_dataset *ds, const ft_idset *ids, const ft_input_spec *spec, uint64_t seed,
                                 const ft_faceset_opts *fo, ft_evalset **out, ft_error *err)
{
    *out = NULL;
    ds_evalset *d = calloc(1, sizeof *d);
    if (!d) return ft_error_set(err, FT_ENOMEM, "out of memory");
    d->base = (ft_evalset){ds_embed, ds_eval_destroy, 0, NULL, 0, ids->n};
    d->ds = ds;
    d->spec = spec;
    d->fo = *fo;
    int n;
    ft_status st = gather_images(ds, ids, &d->img, &d->lab, &n, err);
    if (!st) {
        d->base.n_images = n;
        st = ft_pairs_balanced(d->lab, n, 0, seed, &d->base.pairs, &d->base.n_pairs, err);
    }
    if (st) {
        ds_eval_destroy(&d->base);
        return st;
    }
    *out = &d->base;
    return FT_OK;
}
