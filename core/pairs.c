/* pairs.c — labelled in-memory sets and the pair samplers.
 *
 * Two samplers. "keras" reproduces the reference example exactly (its pair
 * list is fixed once; the trainer reshuffles it each epoch, as Keras' fit
 * does). "all" draws fresh pairs every epoch: n/2 positives (two distinct
 * images of one class) and n/2 negatives (images of two different classes),
 * so over an epoch the network sees far more distinct pairs than the fixed
 * list offers. Both are driven only by the seed they are given.
 */
#include <stdlib.h>
#include <string.h>

#include "facetwin/train.h"
#include "rng.h"

#define FT_MAX_CLASSES 65536

void ft_labelled_free(ft_labelled *s)
{
    if (!s) return;
    free(s->x);
    free(s->label);
    memset(s, 0, sizeof *s);
}

ft_status ft_labelled_from_idx(const ft_idx_set *s, const ft_input_spec *spec, ft_labelled *out,
                               ft_error *err)
{
    memset(out, 0, sizeof *out);
    int isz = spec->channels * spec->width * spec->height;
    out->x = malloc((size_t)s->n * (size_t)isz * sizeof(float));
    out->label = malloc((size_t)(s->n ? s->n : 1) * sizeof(int32_t));
    if (!out->x || !out->label) {
        ft_labelled_free(out);
        return ft_error_set(err, FT_ENOMEM, "out of memory for %d images", s->n);
    }
    out->n = s->n;
    out->isz = isz;
    for (int i = 0; i < s->n; i++) {
        ft_image img = {s->w, s->h, 1, s->images + (size_t)i * s->w * s->h};
        ft_status st = ft_image_to_input(&img, spec, out->x + (size_t)i * isz, err);
        if (st) {
            ft_labelled_free(out);
            return st;
        }
        out->label[i] = s->labels[i];
    }
    return FT_OK;
}

ft_status ft_labelled_split_tail(ft_labelled *src, int count, ft_labelled *dst, ft_error *err)
{
    memset(dst, 0, sizeof *dst);
    if (count <= 0 || count >= src->n)
        return ft_error_set(err, FT_EINVAL, "cannot hold out %d of %d images", count, src->n);
    int keep = src->n - count;
    dst->x = malloc((size_t)count * src->isz * sizeof(float));
    dst->label = malloc((size_t)count * sizeof(int32_t));
    if (!dst->x || !dst->label) {
        ft_labelled_free(dst);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    memcpy(dst->x, src->x + (size_t)keep * src->isz, (size_t)count * src->isz * sizeof(float));
    memcpy(dst->label, src->label + keep, (size_t)count * sizeof(int32_t));
    dst->n = count;
    dst->isz = src->isz;
    src->n = keep;
    return FT_OK;
}

/* Groups indices by class: cls_start[c]..cls_start[c+1] in `order`. */
typedef struct {
    int n_classes;
    int *start;      /* n_classes + 1 */
    uint32_t *order; /* indices sorted by class, dataset order within a class */
} by_class;

static void by_class_free(by_class *b)
{
    free(b->start);
    free(b->order);
}

static ft_status group(const int32_t *labels, int n, by_class *b, ft_error *err)
{
    memset(b, 0, sizeof *b);
    int maxl = -1;
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= FT_MAX_CLASSES)
            return ft_error_set(err, FT_EINVAL, "label %d of item %d is out of range", labels[i], i);
        if (labels[i] > maxl) maxl = labels[i];
    }
    b->n_classes = maxl + 1;
    b->start = calloc((size_t)b->n_classes + 2, sizeof(int));
    b->order = malloc((size_t)(n ? n : 1) * sizeof(uint32_t));
    if (!b->start || !b->order) {
        by_class_free(b);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) b->start[labels[i] + 1]++;
    for (int c = 0; c < b->n_classes; c++) b->start[c + 1] += b->start[c];
    int *fill = calloc((size_t)b->n_classes + 1, sizeof(int));
    if (!fill) {
        by_class_free(b);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) b->order[b->start[labels[i]] + fill[labels[i]]++] = (uint32_t)i;
    free(fill);
    return FT_OK;
}

ft_status ft_pairs_keras(const int32_t *labels, int n, uint64_t seed, ft_pair **out, int *n_pairs,
                         ft_error *err)
{
    *out = NULL;
    *n_pairs = 0;
    by_class b;
    ft_status st = group(labels, n, &b, err);
    if (st) return st;
    int C = b.n_classes, m = n;
    for (int c = 0; c < C; c++) {
        int cnt = b.start[c + 1] - b.start[c];
        if (cnt < m) m = cnt;
    }
    m -= 1; /* n = min count - 1 */
    if (C < 2 || m < 1) {
        by_class_free(&b);
        return ft_error_set(err, FT_EINVAL, "keras pairs need at least 2 classes with 2 images each");
    }
    ft_pair *p = malloc((size_t)C * m * 2 * sizeof *p);
    if (!p) {
        by_class_free(&b);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    ft_rng r = ft_rng_derive(seed, 0x4B);
    int k = 0;
    for (int d = 0; d < C; d++) {
        for (int i = 0; i < m; i++) {
            const uint32_t *id = b.order + b.start[d];
            p[k++] = (ft_pair){id[i], id[i + 1], 1};
            int dn = (d + 1 + (int)ft_rng_below(&r, (uint32_t)(C - 1))) % C;
            p[k++] = (ft_pair){id[i], b.order[b.start[dn] + i], 0};
        }
    }
    by_class_free(&b);
    *out = p;
    *n_pairs = k;
    return FT_OK;
}

ft_status ft_pairs_random(const int32_t *labels, int n, int n_pairs, uint64_t seed, ft_pair **out,
                          ft_error *err)
{
    *out = NULL;
    by_class b;
    ft_status st = group(labels, n, &b, err);
    if (st) return st;
    /* classes that can give a positive pair */
    int *pos_cls = malloc((size_t)b.n_classes * sizeof(int)), npc = 0, nonempty = 0;
    if (!pos_cls) {
        by_class_free(&b);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    for (int c = 0; c < b.n_classes; c++) {
        int cnt = b.start[c + 1] - b.start[c];
        if (cnt >= 2) pos_cls[npc++] = c;
        if (cnt >= 1) nonempty++;
    }
    if (npc < 1 || nonempty < 2 || n_pairs < 2) {
        free(pos_cls);
        by_class_free(&b);
        return ft_error_set(err, FT_EINVAL, "random pairs need a class with 2 images and at least 2 classes");
    }
    ft_pair *p = malloc((size_t)n_pairs * sizeof *p);
    if (!p) {
        free(pos_cls);
        by_class_free(&b);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    ft_rng r = ft_rng_derive(seed, 0x52);
    for (int k = 0; k < n_pairs; k++) {
        if (k % 2 == 0) { /* positive: a class weighted by its pair count ~ its size */
            uint32_t a = ft_rng_below(&r, (uint32_t)n);
            int c = labels[a];
            int cnt = b.start[c + 1] - b.start[c];
            if (cnt < 2) { /* singleton: draw a class that has pairs */
                c = pos_cls[ft_rng_below(&r, (uint32_t)npc)];
                cnt = b.start[c + 1] - b.start[c];
                a = b.order[b.start[c] + ft_rng_below(&r, (uint32_t)cnt)];
            }
            uint32_t bi;
            do bi = b.order[b.start[c] + ft_rng_below(&r, (uint32_t)cnt)];
            while (bi == a);
            p[k] = (ft_pair){a, bi, 1};
        } else {
            uint32_t a = ft_rng_below(&r, (uint32_t)n), bi;
            do bi = ft_rng_below(&r, (uint32_t)n);
            while (labels[bi] == labels[a]);
            p[k] = (ft_pair){a, bi, 0};
        }
    }
    free(pos_cls);
    by_class_free(&b);
    *out = p;
    return FT_OK;
}
