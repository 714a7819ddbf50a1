/* source_mem.c — training batches and evaluation pairs from an in-memory
 * labelled set (MNIST, Fashion-MNIST: small enough to hold preprocessed).
 *
 * Training source, per epoch (everything derived from (seed, epoch) so a
 * resumed run sees the same batches):
 *   KERAS  the reference's fixed pair list, reshuffled each epoch;
 *   ALL    fresh random pairs (half positive) each epoch;
 *   BATCH  every image once, grouped per identity (ft_group_plan), the loss
 *          over every pair of each batch.
 * Pairs batches are gathered as 2B images, left sides then right sides.
 * With opts.shift > 0 (ALL and BATCH) each gathered image is then moved by a
 * seeded (dx, dy) in [-shift, shift]^2 — ft_shift_image, the identity-folder
 * loader's move — drawn from (seed, epoch, step, position in the batch), so a
 * resumed run sees the same images; the stored set is never changed.
 *
 * Evaluation set: the Keras-rule pairs of the set; each image is embedded
 * once (ft_net_embed over the whole set) and pair distances come from the
 * embeddings.
 */
#include <stdlib.h>
#include <string.h>

#include "facetwin/layers.h"
#include "facetwin/train.h"

#include "augment.h"
#include "rng.h"

#define FT_KERAS_SHUFFLE_TAG 0xE0000ull
#define FT_ALL_SEED_STRIDE 0x1000003ull
#define FT_GROUP_TAG 0x47524F50ull
#define FT_SHIFT_TAG 0x53484654ull

void ft_source_free(ft_source *s)
{
    if (s) s->destroy(s);
}

void ft_evalset_free(ft_evalset *e)
{
    if (e) e->destroy(e);
}

typedef struct {
    ft_source base;
    const ft_labelled *set;
    ft_pairs_mode mode;
    int batch, per_class, pairs_per_epoch;
    uint64_t seed;
    ft_pair *fixed, *ep; /* KERAS: the fixed list; the epoch's pairs */
    int n_fixed, n_ep;
    ft_group_plan plan;  /* BATCH */
    int step, steps, epoch;
    int shift;  /* opts.shift; 0 = off */
    float *x, *y, *tmp; /* tmp: one image, the shift's source */
    int32_t *ids;
} mem_source;

/* The batch's n gathered images moved by their seeded (dx, dy) (see the top). */
static void shift_batch(mem_source *m, float *x, int n, int step)
{
    const ft_labelled *set = m->set;
    const int c = set->isz / (set->width * set->height);
    const uint32_t span = 2u * (uint32_t)m->shift + 1u;
    ft_rng r = ft_rng_derive(m->seed ^ FT_SHIFT_TAG, ((uint64_t)m->epoch << 32) + (uint64_t)step);
    for (int k = 0; k < n; k++) {
        const int dx = (int)ft_rng_below(&r, span) - m->shift;
        const int dy = (int)ft_rng_below(&r, span) - m->shift;
        if (dx || dy) ft_shift_image(x + (size_t)k * set->isz, m->tmp, c, set->height, set->width, dx, dy);
    }
}

static void mem_destroy(ft_source *s)
{
    mem_source *m = (mem_source *)s;
    free(m->fixed);
    free(m->ep);
    ft_group_plan_free(&m->plan);
    free(m->x);
    free(m->y);
    free(m->tmp);
    free(m->ids);
    free(m);
}

static ft_status mem_begin(ft_source *s, int epoch, int start, int *steps, ft_error *err)
{
    mem_source *m = (mem_source *)s;
    const ft_labelled *set = m->set;
    ft_status st = FT_OK;
    if (m->mode == FT_PAIRS_KERAS) {
        memcpy(m->ep, m->fixed, (size_t)m->n_fixed * sizeof *m->ep);
        ft_pairs_shuffle(m->ep, m->n_fixed, m->seed, FT_KERAS_SHUFFLE_TAG + (uint64_t)epoch);
        m->n_ep = m->n_fixed;
        m->steps = (m->n_ep + m->batch - 1) / m->batch;
    } else if (m->mode == FT_PAIRS_ALL) {
        ft_pair *fresh;
        st = ft_pairs_random(set->label, set->n, m->pairs_per_epoch,
                             m->seed + FT_ALL_SEED_STRIDE * (uint64_t)(epoch + 1), &fresh, err);
        if (st) return st;
        free(m->ep);
        m->ep = fresh;
        m->n_ep = m->pairs_per_epoch;
        m->steps = (m->n_ep + m->batch - 1) / m->batch;
    } else {
        ft_group_plan_free(&m->plan);
        st = ft_group_plan_make(set->label, set->n, m->per_class, m->batch,
                                m->seed ^ (FT_GROUP_TAG + (uint64_t)epoch), &m->plan, err);
        if (st) return st;
        m->steps = m->plan.n_batches;
    }
    m->step = start;
    m->epoch = epoch;
    *steps = m->steps;
    return FT_OK;
}

static ft_status mem_next(ft_source *s, ft_batch *b, ft_error *err)
{
    mem_source *m = (mem_source *)s;
    const ft_labelled *set = m->set;
    size_t isz = (size_t)set->isz;
    memset(b, 0, sizeof *b);
    if (m->step >= m->steps) return FT_OK;
    int i = m->step++;
    if (m->mode == FT_PAIRS_BATCH) {
        int s0 = m->plan.start[i], n = m->plan.start[i + 1] - s0;
        for (int k = 0; k < n; k++) {
            uint32_t at = m->plan.order[s0 + k];
            memcpy(m->x + (size_t)k * isz, set->x + (size_t)at * isz, isz * sizeof(float));
            m->ids[k] = set->label[at];
        }
        if (m->shift) shift_batch(m, m->x, n, i);
        *b = (ft_batch){m->x, n, NULL, m->ids, n * (n - 1) / 2};
        return FT_OK;
    }
    int i0 = i * m->batch, B = m->n_ep - i0 < m->batch ? m->n_ep - i0 : m->batch;
    ft_labelled_gather_pairs(set, m->ep + i0, B, m->x, m->y);
    if (m->shift) shift_batch(m, m->x, 2 * B, i);
    *b = (ft_batch){m->x, 2 * B, m->y, NULL, B};
    (void)err;
    return FT_OK;
}

ft_status ft_source_labelled_new(const ft_labelled *set, const ft_train_opts *o, ft_source **out,
                                 ft_error *err)
{
    *out = NULL;
    if (o->batch < 1) return ft_error_set(err, FT_EINVAL, "batch size must be at least 1");
    const int shift = o->pairs == FT_PAIRS_KERAS ? 0 : o->shift;
    if (shift < 0 || (shift > 0 && (set->width < 1 || set->height < 1 || set->isz % (set->width * set->height) ||
                                     shift >= set->width || shift >= set->height)))
        return ft_error_set(err, FT_EINVAL, "shift %d needs images of known size larger than the shift (%dx%d)", shift,
                            set->width, set->height);
    mem_source *m = calloc(1, sizeof *m);
    if (!m) return ft_error_set(err, FT_ENOMEM, "out of memory");
    m->base = (ft_source){mem_begin, mem_next, mem_destroy, set->n, 0};
    m->set = set;
    m->mode = o->pairs;
    m->batch = o->batch;
    m->per_class = o->per_class;
    m->seed = o->seed;
    m->shift = shift;
    m->pairs_per_epoch = o->pairs_per_epoch > 0 ? o->pairs_per_epoch : 2 * set->n;
    ft_status st = FT_OK;
    int max_images = m->mode == FT_PAIRS_BATCH ? o->batch : 2 * o->batch;
    m->base.max_images = max_images;
    if (m->mode == FT_PAIRS_KERAS) {
        if ((st = ft_pairs_keras(set->label, set->n, o->seed, &m->fixed, &m->n_fixed, err))) goto fail;
        m->ep = malloc((size_t)m->n_fixed * sizeof *m->ep);
        if (!m->ep) goto oom;
    } else if (m->mode == FT_PAIRS_BATCH) {
        /* validate now rather than at the first epoch */
        ft_group_plan probe;
        if ((st = ft_group_plan_make(set->label, set->n, o->per_class, o->batch, o->seed, &probe, err))) goto fail;
        ft_group_plan_free(&probe);
    }
    m->x = malloc((size_t)max_images * (size_t)set->isz * sizeof(float));
    m->y = malloc((size_t)max_images * sizeof(float));
    m->ids = malloc((size_t)max_images * sizeof(int32_t));
    if (shift) m->tmp = malloc((size_t)set->isz * sizeof(float));
    if (!m->x || !m->y || !m->ids || (shift && !m->tmp)) goto oom;
    *out = &m->base;
    return FT_OK;
oom:
    st = ft_error_set(err, FT_ENOMEM, "out of memory");
fail:
    mem_destroy(&m->base);
    return st;
}

/* ------------------------------------------------------ evaluation set ---- */

typedef struct {
    ft_evalset base;
    const ft_labelled *set;
} mem_evalset;

static ft_status mem_embed(ft_evalset *e, ft_net *net, float *out, ft_error *err)
{
    const ft_labelled *set = ((mem_evalset *)e)->set;
    if (set->isz != ft_net_input_size(net))
        return ft_error_set(err, FT_EMISMATCH, "data has %d values per image, the network takes %d", set->isz,
                            ft_net_input_size(net));
    return ft_net_embed(net, set->x, set->n, out, err);
}

static void mem_eval_destroy(ft_evalset *e)
{
    free(e->pairs);
    free(e);
}

ft_status ft_evalset_labelled_new(const ft_labelled *set, uint64_t seed, ft_evalset **out, ft_error *err)
{
    *out = NULL;
    mem_evalset *m = calloc(1, sizeof *m);
    if (!m) return ft_error_set(err, FT_ENOMEM, "out of memory");
    m->base = (ft_evalset){mem_embed, mem_eval_destroy, set->n, NULL, 0, 0};
    m->set = set;
    ft_status st = ft_pairs_keras(set->label, set->n, seed, &m->base.pairs, &m->base.n_pairs, err);
    if (st) {
        free(m);
        return st;
    }
    int maxl = -1;
    for (int i = 0; i < set->n; i++)
        if (set->label[i] > maxl) maxl = set->label[i];
    m->base.n_identities = maxl + 1;
    *out = &m->base;
    return FT_OK;
}

ft_status ft_evalset_distances(ft_evalset *e, ft_net *net, float margin, float *dist, uint8_t *same,
                               double *loss, ft_error *err)
{
    int D = ft_net_embed_dim(net);
    float *emb = malloc((size_t)(e->n_images ? e->n_images : 1) * (size_t)D * sizeof(float));
    if (!emb) return ft_error_set(err, FT_ENOMEM, "out of memory for %d embeddings", e->n_images);
    ft_status st = e->embed(e, net, emb, err);
    if (!st) {
        double total = 0;
        for (int i = 0; i < e->n_pairs; i++) {
            const ft_pair *p = &e->pairs[i];
            float y = p->same ? 1.0f : 0.0f;
            total += ft_contrastive_forward(&dist[i], emb + (size_t)p->a * D, emb + (size_t)p->b * D, &y, 1, D,
                                            margin);
            if (same) same[i] = p->same;
        }
        if (loss) *loss = e->n_pairs ? total / e->n_pairs : 0.0;
    }
    free(emb);
    return st;
}
