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
    out->width = spec->width;
    out->height = spec->height;
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
    dst->width = src->width;
    dst->height = src->height;
    src->n = keep;
    return FT_OK;
}

void ft_labelled_gather_pairs(const ft_labelled *set, const ft_pair *pairs, int B, float *x, float *y)
{
    size_t isz = (size_t)set->isz;
    for (int i = 0; i < B; i++) {
        memcpy(x + (size_t)i * isz, set->x + (size_t)pairs[i].a * isz, isz * sizeof(float));
        memcpy(x + (size_t)(B + i) * isz, set->x + (size_t)pairs[i].b * isz, isz * sizeof(float));
        y[i] = pairs[i].same ? 1.0f : 0.0f;
    }
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

void ft_pairs_shuffle(ft_pair *p, int n, uint64_t seed, uint64_t tag)
{
    ft_rng r = ft_rng_derive(seed, tag);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)ft_rng_below(&r, (uint32_t)(i + 1));
        ft_pair t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

/* Largest pair lists enumerated exactly; above, pairs are drawn at random. */
#define FT_MAX_ENUM_PAIRS 4000000LL

/* Partial Fisher-Yates: moves a uniform sample of k of p[0..n) to the front. */
static void sample_front(ft_pair *p, long long n, long long k, ft_rng *r)
{
    for (long long i = 0; i < k && i < n; i++) {
        long long j = i + (long long)(((ft_rng_next(r) >> 11) * (double)(n - i)) / 9007199254740992.0);
        if (j >= n) j = n - 1;
        ft_pair t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

ft_status ft_pairs_balanced(const int32_t *labels, int n, int max_pos, uint64_t seed, ft_pair **out,
                            int *n_pairs, ft_error *err)
{
    *out = NULL;
    *n_pairs = 0;
    by_class b;
    ft_status st = group(labels, n, &b, err);
    if (st) return st;
    long long all_pos = 0;
    int nonempty = 0;
    for (int c = 0; c < b.n_classes; c++) {
        long long cnt = b.start[c + 1] - b.start[c];
        all_pos += cnt * (cnt - 1) / 2;
        nonempty += cnt > 0;
    }
    long long all_neg = (long long)n * (n - 1) / 2 - all_pos;
    if (all_pos < 1 || nonempty < 2) {
        by_class_free(&b);
        return ft_error_set(err, FT_EINVAL,
                            "pairs need an identity with two images and at least two identities (%d identities, "
                            "%lld same-identity pairs)", nonempty, all_pos);
    }
    long long npos = max_pos > 0 && all_pos > max_pos ? max_pos : all_pos;
    long long nneg = npos < all_neg ? npos : all_neg;
    if (npos + nneg > 0x7fffffffLL / (long long)sizeof(ft_pair)) {
        by_class_free(&b);
        return ft_error_set(err, FT_ETOOBIG, "%lld pairs are too many; cap them", npos + nneg);
    }
    long long cap_pos = all_pos <= FT_MAX_ENUM_PAIRS ? all_pos : npos;
    long long cap_neg = all_neg <= FT_MAX_ENUM_PAIRS ? all_neg : nneg;
    ft_pair *p = malloc((size_t)(cap_pos + cap_neg) * sizeof *p);
    if (!p) {
        by_class_free(&b);
        return ft_error_set(err, FT_ENOMEM, "out of memory for %lld pairs", cap_pos + cap_neg);
    }
    ft_rng r = ft_rng_derive(seed, 0x4241);
    long long k = 0;
    if (all_pos <= FT_MAX_ENUM_PAIRS) { /* every positive, then a uniform sample of npos */
        for (int c = 0; c < b.n_classes; c++)
            for (int i = b.start[c]; i < b.start[c + 1]; i++)
                for (int j = i + 1; j < b.start[c + 1]; j++) p[k++] = (ft_pair){b.order[i], b.order[j], 1};
        sample_front(p, all_pos, npos, &r);
    } else { /* drawn: a random image of a class with two or more, a different one of its class */
        while (k < npos) {
            uint32_t a = ft_rng_below(&r, (uint32_t)n);
            int c = labels[a], cnt = b.start[c + 1] - b.start[c];
            if (cnt < 2) continue;
            uint32_t o = b.order[b.start[c] + ft_rng_below(&r, (uint32_t)cnt)];
            if (o != a) p[k++] = (ft_pair){a, o, 1};
        }
    }
    ft_pair *neg = p + npos;
    if (all_neg <= FT_MAX_ENUM_PAIRS) { /* every negative, then a uniform sample of nneg */
        long long m = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                if (labels[i] != labels[j]) neg[m++] = (ft_pair){(uint32_t)i, (uint32_t)j, 0};
        sample_front(neg, all_neg, nneg, &r);
    } else {
        for (long long m = 0; m < nneg;) {
            uint32_t a = ft_rng_below(&r, (uint32_t)n), o = ft_rng_below(&r, (uint32_t)n);
            if (labels[a] != labels[o]) neg[m++] = (ft_pair){a, o, 0};
        }
    }
    by_class_free(&b);
    int total = (int)(npos + nneg);
    ft_pairs_shuffle(p, total, seed, 0x5348);
    *out = p;
    *n_pairs = total;
    return FT_OK;
}

void ft_group_plan_free(ft_group_plan *g)
{
    if (!g) return;
    free(g->order);
    free(g->start);
    memset(g, 0, sizeof *g);
}

ft_status ft_group_plan_make(const int32_t *labels, int n, int per_class, int batch, uint64_t seed,
                             ft_group_plan *g, ft_error *err)
{
    memset(g, 0, sizeof *g);
    if (per_class < 2 || batch < 2 * per_class)
        return ft_error_set(err, FT_EINVAL, "in-batch pairs need >= 2 images per identity and a batch of at least "
                                            "two identities' images (got %d per identity, batch %d)", per_class, batch);
    by_class b;
    ft_status st = group(labels, n, &b, err);
    if (st) return st;
    /* chunks: each class's images shuffled and cut into runs of per_class; a
     * trailing single image joins the previous run (it would have no partner) */
    int *cstart = malloc((size_t)(n + 1) * sizeof(int)), nch = 0;
    uint32_t *perm = NULL;
    g->order = malloc((size_t)(n ? n : 1) * sizeof(uint32_t));
    g->start = malloc((size_t)(n + 2) * sizeof(int));
    if (!cstart || !g->order || !g->start) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto done;
    }
    ft_rng r = ft_rng_derive(seed, 0x4750);
    for (int c = 0; c < b.n_classes; c++) {
        int cnt = b.start[c + 1] - b.start[c];
        uint32_t *m = b.order + b.start[c];
        ft_rng_shuffle_u32(&r, m, (size_t)cnt);
        for (int i = 0; i < cnt; i += per_class) {
            if (cnt - i == 1 && i > 0) continue; /* joins the previous run (see below) */
            cstart[nch++] = b.start[c] + i;
        }
    }
    cstart[nch] = n;
    /* run lengths: to the next run's start, or the class end */
    perm = malloc((size_t)(nch ? nch : 1) * sizeof(uint32_t));
    if (!perm) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < nch; i++) perm[i] = (uint32_t)i;
    ft_rng_shuffle_u32(&r, perm, (size_t)nch);
    int k = 0, nb = 0, in_batch = 0;
    for (int q = 0; q < nch; q++) {
        int ch = (int)perm[q], s = cstart[ch];
        int c = labels[b.order[s]];
        int e = cstart[ch + 1] < b.start[c + 1] ? cstart[ch + 1] : b.start[c + 1];
        int len = e - s;
        if (in_batch > 0 && in_batch + len > batch) in_batch = 0; /* close the batch */
        if (in_batch == 0) g->start[nb++] = k;
        for (int i = s; i < e; i++) g->order[k++] = b.order[i];
        in_batch += len;
    }
    g->start[nb] = k;
    g->n = k;
    g->n_batches = nb;
done:
    free(cstart);
    free(perm);
    by_class_free(&b);
    if (st) ft_group_plan_free(g);
    return st;
}
