/* train.c — the Siamese training step and the epoch loop.
 *
 * Step: the batch's images — 2B pair sides (left sides first) or N images of
 * a group — go through the shared encoder once; the contrastive loss between
 * the two halves, or over every pair of the group; one backward; update.
 *
 * Loop: the source prepares each epoch from the seed; at the end of each
 * epoch the validation loss, AUC, EER and accuracy (inference mode, each
 * validation image embedded once), reduce-LR-on-plateau, and
 * best-by-validation-loss tracking. The model file receives the best weights
 * (or the final ones without validation data) and the threshold calibrated on
 * the validation pairs with the chosen rule, plus their ROC (calibration.h).
 *
 * Durability: after every epoch, and when asked to stop (SIGINT), the full
 * training state — current weights, optimiser moments, best weights, the
 * position in the epoch and the history — is written atomically to
 * OUT.resume; --resume continues bit-identically because every random choice
 * is derived from (seed, epoch) or (seed, step), never from a running stream.
 */
#include "facetwin/train.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facetwin/layers.h"
#include "facetwin/model.h"
#include "facetwin/runtime.h"
#include "rng.h"

#define FT_DEFAULT_EPOCHS 20
#define FT_DEFAULT_BATCH 128
#define FT_DEFAULT_MARGIN 1.0f
#define FT_DEFAULT_THRESHOLD 0.5f
#define FT_BEST_PREFIX "opt/best/"
#define FT_EVAL_BATCH 256
#define FT_DEFAULT_PER_CLASS 4

struct ft_trainer {
    ft_net *net;
    ft_optim *opt;
    int B, isz, D;
    float margin;
    float *x, *y, *de;
};

void ft_train_opts_defaults(ft_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = FT_DEFAULT_EPOCHS;
    o->batch = FT_DEFAULT_BATCH;
    o->opt = ft_optim_defaults(FT_OPT_RMSPROP);
    o->margin = FT_DEFAULT_MARGIN;
    o->pairs = FT_PAIRS_ALL;
    o->threshold = FT_DEFAULT_THRESHOLD;
    o->calib = FT_CALIB_EER;
    o->per_class = FT_DEFAULT_PER_CLASS;
    o->plateau_factor = 0.0f;
    o->plateau_patience = 10;
    o->min_lr = 0.0f;
}

ft_status ft_trainer_new(ft_net *net, const ft_optim_config *opt, int batch, float margin,
                         ft_trainer **out, ft_error *err)
{
    *out = NULL;
    if (batch < 1) return ft_error_set(err, FT_EINVAL, "batch size must be at least 1");
    if (!(margin > 0)) return ft_error_set(err, FT_EINVAL, "margin must be positive");
    ft_trainer *t = calloc(1, sizeof *t);
    if (!t) return ft_error_set(err, FT_ENOMEM, "out of memory");
    t->net = net;
    t->B = batch;
    t->isz = ft_net_input_size(net);
    t->D = ft_net_embed_dim(net);
    t->margin = margin;
    ft_status st = ft_optim_new(opt, net, &t->opt, err);
    if (!st) st = ft_net_reserve(net, 2 * batch, 1, err);
    if (st) {
        ft_trainer_free(t);
        return st;
    }
    t->x = malloc((size_t)2 * batch * t->isz * sizeof(float));
    t->y = malloc((size_t)batch * sizeof(float));
    t->de = malloc((size_t)2 * batch * t->D * sizeof(float));
    if (!t->x || !t->y || !t->de) {
        ft_trainer_free(t);
        return ft_error_set(err, FT_ENOMEM, "out of memory for a batch of %d pairs", batch);
    }
    *out = t;
    return FT_OK;
}

void ft_trainer_free(ft_trainer *t)
{
    if (!t) return;
    ft_optim_free(t->opt);
    free(t->x);
    free(t->y);
    free(t->de);
    free(t);
}

ft_optim *ft_trainer_optim(ft_trainer *t) { return t->opt; }

float ft_trainer_step_batch(ft_trainer *t, const ft_batch *b, uint64_t dropout_seed)
{
    size_t D = (size_t)t->D;
    int N = b->n_images;
    ft_net_seed_dropout(t->net, dropout_seed);
    const float *e = ft_net_forward(t->net, b->x, N, 1);
    memset(t->de, 0, (size_t)N * D * sizeof(float));
    float loss;
    if (b->ids) {
        loss = ft_contrastive_batch_forward(e, b->ids, N, (int)D, t->margin, NULL, NULL);
        ft_contrastive_batch_backward(t->de, e, b->ids, N, (int)D, t->margin, 1.0f);
    } else {
        int B = N / 2;
        loss = ft_contrastive_forward(NULL, e, e + (size_t)B * D, b->y, B, (int)D, t->margin);
        ft_contrastive_backward(t->de, t->de + (size_t)B * D, e, e + (size_t)B * D, b->y, B, (int)D,
                                t->margin, 1.0f);
    }
    ft_net_zero_grad(t->net);
    ft_net_backward(t->net, t->de, N);
    ft_optim_step(t->opt, t->net);
    return loss;
}

float ft_trainer_step(ft_trainer *t, const ft_labelled *set, const ft_pair *pairs, int B,
                      uint64_t dropout_seed)
{
    ft_labelled_gather_pairs(set, pairs, B, t->x, t->y);
    ft_batch b = {t->x, 2 * B, t->y, NULL, B};
    return ft_trainer_step_batch(t, &b, dropout_seed);
}

ft_status ft_pair_distances(ft_net *net, const ft_labelled *set, const ft_pair *pairs, int n,
                            float margin, float *dist, double *loss, ft_error *err)
{
    int isz = ft_net_input_size(net), D = ft_net_embed_dim(net);
    int bs = FT_EVAL_BATCH / 2;
    if (set->isz != isz)
        return ft_error_set(err, FT_EMISMATCH, "data has %d values per image, the network takes %d", set->isz, isz);
    float *x = malloc((size_t)2 * bs * isz * sizeof(float));
    float *y = malloc((size_t)bs * sizeof(float));
    float *e = malloc((size_t)2 * bs * D * sizeof(float));
    if (!x || !y || !e) {
        free(x);
        free(y);
        free(e);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    double total = 0;
    ft_status st = FT_OK;
    for (int i = 0; i < n && !st; i += bs) {
        int b = n - i < bs ? n - i : bs;
        ft_labelled_gather_pairs(set, pairs + i, b, x, y);
        st = ft_net_embed(net, x, 2 * b, e, err);
        if (!st) total += (double)b * ft_contrastive_forward(dist + i, e, e + (size_t)b * D, y, b, D, margin);
    }
    if (loss) *loss = n ? total / n : 0.0;
    free(x);
    free(y);
    free(e);
    return st;
}

/* ------------------------------------------------------------ metadata ---- */

typedef struct {
    int epoch, step;          /* next epoch to run / next step within it */
    double loss_sum;          /* sum over the current epoch so far (loss x pairs) */
    double pairs_sum;         /* pairs trained in the current epoch so far */
    float best_val;
    int best_epoch;
    ft_plateau plateau;
    float lr;
    cJSON *history;           /* array of per-epoch objects (owned) */
} loop_state;

/* JSON building that cannot silently lose fields: each helper clears *ok when
 * an allocation fails (and frees an item it could not attach), so the caller
 * reports FT_ENOMEM instead of writing incomplete metadata. */
static void jattach(int *ok, cJSON *obj, const char *key, cJSON *item)
{
    int done = item && obj && (key ? cJSON_AddItemToObject(obj, key, item) : cJSON_AddItemToArray(obj, item));
    if (!done) {
        cJSON_Delete(item);
        *ok = 0;
    }
}
static void jnum(int *ok, cJSON *obj, const char *key, double v)
{
    if (!cJSON_AddNumberToObject(obj, key, v)) *ok = 0;
}
static void jstr(int *ok, cJSON *obj, const char *key, const char *v)
{
    if (!cJSON_AddStringToObject(obj, key, v)) *ok = 0;
}

static cJSON *training_json(int *ok, const ft_train_opts *o, int n_train, int n_val)
{
    cJSON *t = cJSON_CreateObject();
    jstr(ok, t, "data", o->data_desc ? o->data_desc : "");
    jnum(ok, t, "train_images", n_train);
    jnum(ok, t, "val_images", n_val);
    jstr(ok, t, "pairs", o->pairs == FT_PAIRS_KERAS ? "keras" : o->pairs == FT_PAIRS_BATCH ? "batch" : "all");
    if (o->pairs == FT_PAIRS_BATCH) jnum(ok, t, "per_identity", o->per_class);
    if (o->split_json) jattach(ok, t, "split", cJSON_Parse(o->split_json));
    jnum(ok, t, "seed", (double)o->seed);
    jnum(ok, t, "epochs", o->epochs);
    jnum(ok, t, "batch", o->batch);
    jstr(ok, t, "optimizer", ft_opt_kind_name(o->opt.kind));
    jnum(ok, t, "lr", o->opt.lr);
    jnum(ok, t, "weight_decay", o->opt.weight_decay);
    jnum(ok, t, "margin", o->margin);
    jnum(ok, t, "threads", ft_get_threads());
    return t;
}

static cJSON *calibration_json(int *ok, const ft_calibration *c, const char *source)
{
    cJSON *j = cJSON_CreateObject();
    jstr(ok, j, "rule", ft_calib_rule_name(c->rule));
    if (c->rule != FT_CALIB_FIXED) jstr(ok, j, "source", source ? source : "validation");
    if (c->rule == FT_CALIB_FAR) jnum(ok, j, "far_target", c->far_target);
    jnum(ok, j, "threshold", c->threshold);
    if (c->val_pairs > 0) {
        jnum(ok, j, "val_pairs", c->val_pairs);
        jnum(ok, j, "val_identities", c->val_identities);
        jnum(ok, j, "val_far", c->far);
        jnum(ok, j, "val_frr", c->frr);
        jnum(ok, j, "val_eer", c->eer);
    }
    return j;
}

static void threshold_rule(const ft_calibration *c, const char *source, char *buf, size_t n)
{
    if (!source) source = "validation";
    if (c->rule == FT_CALIB_FIXED)
        snprintf(buf, n, "fixed at %g (--threshold); d < threshold means same", c->threshold);
    else if (c->rule == FT_CALIB_FAR)
        snprintf(buf, n, "largest threshold with FAR <= %g on %d pairs of %d held-out identities (%s); "
                         "d < threshold means same", c->far_target, c->val_pairs, c->val_identities, source);
    else
        snprintf(buf, n, "equal-error point of %d pairs of %d held-out identities (%s); d < threshold means same",
                 c->val_pairs, c->val_identities, source);
}

/* Fills ck (from the net's current weights) with metadata; resume adds the
 * loop state; cal (final model only) the threshold, its rule and the ROC. */
static ft_status build_ckpt(const ft_net *net, const ft_train_opts *o, const loop_state *ls,
                            int n_train, int n_val, int resume, const ft_calibration *cal,
                            const ft_roc_point *roc, int n_roc, ft_ckpt *ck, ft_error *err)
{
    ft_status st = ft_net_to_checkpoint(net, ck, err);
    if (st) return st;
    ck->threshold = cal ? cal->threshold : o->threshold;
    int ok = 1;
    cJSON *m = cJSON_CreateObject();
    char id[128];
    ft_model_id_compute(net, id, sizeof id);
    jstr(&ok, m, "model_id", id);
    jstr(&ok, m, "arch", ft_net_name(net));
    jattach(&ok, m, "training", training_json(&ok, o, n_train, n_val));
    cJSON *met = cJSON_CreateObject();
    jattach(&ok, m, "metrics", met);
    int nh = cJSON_GetArraySize(ls->history);
    if (ok && nh > 0) {
        cJSON *last = cJSON_GetArrayItem(ls->history, nh - 1);
        jnum(&ok, met, "epochs_done", nh);
        jattach(&ok, met, "final_train_loss", cJSON_Duplicate(cJSON_GetObjectItem(last, "train_loss"), 1));
        if (isfinite(ls->best_val)) {
            jnum(&ok, met, "best_val_loss", ls->best_val);
            jnum(&ok, met, "best_epoch", ls->best_epoch + 1);
        }
    }
    if (cal) {
        char rule[256];
        threshold_rule(cal, o->calib_source, rule, sizeof rule);
        jstr(&ok, m, "threshold_rule", rule);
        jattach(&ok, m, "calibration", calibration_json(&ok, cal, o->calib_source));
    }
    jattach(&ok, m, "history", cJSON_Duplicate(ls->history, 1));
    if (resume) {
        cJSON *r = cJSON_CreateObject();
        jattach(&ok, m, "resume", r);
        if (ok) {
            jnum(&ok, r, "epoch", ls->epoch);
            jnum(&ok, r, "step", ls->step);
            jnum(&ok, r, "loss_sum", ls->loss_sum);
            jnum(&ok, r, "pairs_sum", ls->pairs_sum);
            jnum(&ok, r, "best_val", isfinite(ls->best_val) ? ls->best_val : -1);
            jnum(&ok, r, "best_epoch", ls->best_epoch);
            jnum(&ok, r, "plateau_best", isfinite(ls->plateau.best) ? ls->plateau.best : -1);
            jnum(&ok, r, "plateau_wait", ls->plateau.wait);
            jnum(&ok, r, "lr", ls->lr);
        }
    }
    char *txt = ok ? cJSON_PrintUnformatted(m) : NULL;
    cJSON_Delete(m);
    if (!txt) {
        ft_ckpt_free(ck);
        return ft_error_set(err, FT_ENOMEM, "out of memory while writing checkpoint metadata");
    }
    free(ck->meta_json);
    ck->meta_json = txt;
    if (roc && n_roc > 0 && (st = ft_calib_roc_to_ckpt(ck, roc, n_roc, err))) {
        ft_ckpt_free(ck);
        return st;
    }
    return FT_OK;
}

/* Appends tensors "opt/best/<name>" holding the best weights snapshot. */
static ft_status append_best(ft_ckpt *ck, const ft_net *net, const float *best, ft_error *err)
{
    int np;
    const ft_param *p = ft_net_params(net, &np);
    ft_ckpt_tensor *t = realloc(ck->tensors, (size_t)(ck->n_tensors + np) * sizeof *t);
    if (!t) return ft_error_set(err, FT_ENOMEM, "out of memory");
    ck->tensors = t;
    size_t off = 0;
    for (int k = 0; k < np; k++) {
        ft_ckpt_tensor *x = &ck->tensors[ck->n_tensors];
        memset(x, 0, sizeof *x);
        snprintf(x->name, sizeof x->name, "%s%s", FT_BEST_PREFIX, p[k].name);
        x->ndim = p[k].ndim;
        for (int d = 0; d < p[k].ndim; d++) x->dims[d] = p[k].dims[d];
        x->count = p[k].count;
        x->data = malloc(p[k].count * sizeof(float));
        if (!x->data) return ft_error_set(err, FT_ENOMEM, "out of memory");
        memcpy(x->data, best + off, p[k].count * sizeof(float));
        off += p[k].count;
        ck->n_tensors++;
    }
    return FT_OK;
}

static size_t all_tensor_floats(const ft_net *net)
{
    int np;
    const ft_param *p = ft_net_params(net, &np);
    size_t n = 0;
    for (int k = 0; k < np; k++) n += p[k].count;
    return n;
}

static void snapshot(const ft_net *net, float *dst)
{
    int np;
    const ft_param *p = ft_net_params(net, &np);
    for (int k = 0; k < np; k++) {
        memcpy(dst, p[k].data, p[k].count * sizeof(float));
        dst += p[k].count;
    }
}

static void restore(ft_net *net, const float *src)
{
    int np;
    const ft_param *p = ft_net_params(net, &np);
    for (int k = 0; k < np; k++) {
        memcpy(p[k].data, src, p[k].count * sizeof(float));
        src += p[k].count;
    }
}

static ft_status write_resume(const ft_net *net, ft_optim *opt, const float *best,
                              const ft_train_opts *o, const loop_state *ls, int n_train, int n_val,
                              ft_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%s", o->out_path, FT_RESUME_SUFFIX);
    ft_ckpt ck;
    ft_status st = build_ckpt(net, o, ls, n_train, n_val, 1, NULL, NULL, 0, &ck, err);
    if (st) return st;
    if (!(st = ft_optim_save(opt, &ck, err)) && best) st = append_best(&ck, net, best, err);
    if (!st) st = ft_ckpt_write(path, &ck, err);
    ft_ckpt_free(&ck);
    return st;
}

static double num(const cJSON *o, const char *k, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static ft_status load_resume(ft_net *net, ft_optim *opt, float *best, loop_state *ls,
                             const ft_train_opts *o, ft_error *err)
{
    ft_ckpt ck;
    ft_status st = ft_ckpt_read(o->resume_path, &ck, err);
    if (st) return st;
    cJSON *m = NULL;
    if (strcmp(ck.spec_json, ft_net_spec_json(net))) {
        st = ft_error_set(err, FT_EMISMATCH, "%s: resume checkpoint has a different architecture",
                          o->resume_path);
        goto done;
    }
    m = cJSON_Parse(ck.meta_json);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "resume");
    if (!cJSON_IsObject(r)) {
        st = ft_error_set(err, FT_EMISMATCH, "%s: not a resumable checkpoint (no training state; use the %s file)",
                          o->resume_path, FT_RESUME_SUFFIX);
        goto done;
    }
    if ((st = ft_net_load_tensors(net, &ck, NULL, err)) || (st = ft_optim_load(opt, &ck, err))) {
        ft_error_prefix(err, o->resume_path);
        goto done;
    }
    if (best && ft_ckpt_find(&ck, FT_BEST_PREFIX "0.weight")) {
        /* borrow the net to unpack the best snapshot, then put the current weights back */
        size_t nf = all_tensor_floats(net);
        float *cur = malloc(nf * sizeof(float));
        if (!cur) {
            st = ft_error_set(err, FT_ENOMEM, "out of memory");
            goto done;
        }
        snapshot(net, cur);
        st = ft_net_load_tensors(net, &ck, FT_BEST_PREFIX, err);
        if (!st) snapshot(net, best);
        restore(net, cur);
        free(cur);
        if (st) goto done;
    }
    ls->epoch = (int)num(r, "epoch", 0);
    ls->step = (int)num(r, "step", 0);
    ls->loss_sum = num(r, "loss_sum", 0);
    ls->pairs_sum = num(r, "pairs_sum", 0);
    double bv = num(r, "best_val", -1), pb = num(r, "plateau_best", -1);
    ls->best_val = bv < 0 ? INFINITY : (float)bv;
    ls->best_epoch = (int)num(r, "best_epoch", -1);
    ls->plateau.best = pb < 0 ? INFINITY : (float)pb;
    ls->plateau.wait = (int)num(r, "plateau_wait", 0);
    ls->lr = (float)num(r, "lr", o->opt.lr);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(m, "history");
    if (cJSON_IsArray(h)) {
        cJSON *copy = cJSON_Duplicate(h, 1);
        if (!copy) {
            st = ft_error_set(err, FT_ENOMEM, "out of memory");
            goto done;
        }
        cJSON_Delete(ls->history);
        ls->history = copy;
    }
done:
    cJSON_Delete(m);
    ft_ckpt_free(&ck);
    return st;
}

/* --------------------------------------------------------------- loop ---- */

/* Validation figures of one epoch: loss, AUC, EER and accuracy — at the fixed
 * threshold under FT_CALIB_FIXED, else at the validation EER threshold. */
typedef struct {
    float loss, accuracy, auc, eer;
} val_figures;

static ft_status validate(ft_net *net, ft_evalset *val, const ft_train_opts *o, float *dist, uint8_t *same,
                          val_figures *v, ft_error *err)
{
    double loss;
    ft_status st = ft_evalset_distances(val, net, o->margin, dist, same, &loss, err);
    if (st) return st;
    ft_pair_metrics m;
    if ((st = ft_pair_metrics_compute(dist, same, val->n_pairs, o->threshold, &m, err)))
        return ft_error_prefix(err, "validation pairs");
    v->loss = (float)loss;
    v->auc = (float)m.auc;
    v->eer = (float)m.eer;
    v->accuracy = (float)(o->calib == FT_CALIB_FIXED ? m.accuracy
                                                      : ft_pair_accuracy(dist, same, val->n_pairs, m.eer_threshold));
    return FT_OK;
}

static void progress_call(const ft_train_opts *o, const loop_state *ls, int steps, int steps_done, int steps_left,
                          double t0, double pairs_done, double images_done, const val_figures *v, int done,
                          int best)
{
    double el = ft_now() - t0, dt = el > 0 ? el : 1e-9;
    ft_train_progress p = {ls->epoch, o->epochs, done ? steps : ls->step + 1, steps, pairs_done / dt, images_done / dt,
                           el, steps_done ? el / steps_done * steps_left : 0,
                           (float)(ls->pairs_sum > 0 ? ls->loss_sum / ls->pairs_sum : 0), v ? v->loss : NAN,
                           v ? v->accuracy : NAN, v ? v->auc : NAN, v ? v->eer : NAN, ls->lr, done, best};
    o->progress(&p, o->progress_ctx);
}

ft_status ft_train_source(ft_net *net, ft_source *src, ft_evalset *val, const ft_train_opts *o,
                          ft_train_result *res, ft_error *err)
{
    memset(res, 0, sizeof *res);
    if (o->epochs < 1) return ft_error_set(err, FT_EINVAL, "epochs must be at least 1");
    ft_trainer *tr = NULL;
    float *vdist = NULL, *best = NULL;
    uint8_t *vsame = NULL;
    ft_roc_point *roc = NULL;
    int n_roc = 0;
    loop_state ls = {0};
    ls.best_val = INFINITY;
    ls.best_epoch = -1;
    ls.lr = o->opt.lr;
    ls.history = cJSON_CreateArray();
    if (!ls.history) return ft_error_set(err, FT_ENOMEM, "out of memory");
    ft_plateau_init(&ls.plateau, o->plateau_factor, o->plateau_patience, o->min_lr);
    ft_status st = ft_trainer_new(net, &o->opt, (src->max_images + 1) / 2, o->margin, &tr, err);
    if (st) goto done;
    int n_vp = val ? val->n_pairs : 0;
    if (val) {
        vdist = malloc((size_t)(n_vp ? n_vp : 1) * sizeof(float));
        vsame = malloc((size_t)(n_vp ? n_vp : 1));
        best = malloc(all_tensor_floats(net) * sizeof(float));
        if (!vdist || !vsame || !best) {
            st = ft_error_set(err, FT_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (o->resume_path && (st = load_resume(net, ft_trainer_optim(tr), best, &ls, o, err))) goto done;
    ft_optim_set_lr(ft_trainer_optim(tr), ls.lr);
    int n_val = val ? val->n_images : 0, n_train = src->n_images;
    double t0 = ft_now(), pairs_done = 0, images_done = 0;
    int steps_done = 0;
    for (; ls.epoch < o->epochs; ls.epoch++) {
        int steps;
        if ((st = src->begin_epoch(src, ls.epoch, ls.step, &steps, err))) goto done;
        int trained = 0;
        for (; ls.step < steps; ls.step++) {
            if (o->stop && *o->stop) {
                res->interrupted = 1;
                if ((st = write_resume(net, ft_trainer_optim(tr), isfinite(ls.best_val) ? best : NULL, o, &ls,
                                       n_train, n_val, err)))
                    goto done;
                st = ft_error_set(err, FT_EINTERRUPTED, "interrupted at epoch %d step %d; state saved to %s%s",
                                  ls.epoch + 1, ls.step, o->out_path, FT_RESUME_SUFFIX);
                goto done;
            }
            ft_batch b;
            if ((st = src->next(src, &b, err))) goto done;
            if (b.n_images < 2 || b.n_pairs < 1) continue; /* every image of the step failed to load */
            uint64_t gstep = (uint64_t)ls.epoch * (uint64_t)steps + (uint64_t)ls.step;
            float loss = ft_trainer_step_batch(tr, &b, o->seed ^ (gstep * 0x9E37ull));
            if (!isfinite(loss)) {
                st = ft_error_set(err, FT_EINVAL, "training diverged (loss is %f at epoch %d); lower --lr",
                                  loss, ls.epoch + 1);
                goto done;
            }
            ls.loss_sum += (double)loss * b.n_pairs;
            ls.pairs_sum += b.n_pairs;
            pairs_done += b.n_pairs;
            images_done += b.n_images;
            steps_done++;
            trained++;
            if (o->progress)
                progress_call(o, &ls, steps, steps_done, (o->epochs - ls.epoch) * steps - ls.step - 1, t0, pairs_done,
                              images_done, NULL, 0, 0);
        }
        if (!trained && ls.pairs_sum == 0) {
            st = ft_error_set(err, FT_EINVAL, "epoch %d trained on nothing: no batch had a usable pair", ls.epoch + 1);
            goto done;
        }
        float tl = (float)(ls.pairs_sum > 0 ? ls.loss_sum / ls.pairs_sum : 0);
        val_figures v = {NAN, NAN, NAN, NAN};
        if (val && (st = validate(net, val, o, vdist, vsame, &v, err))) goto done;
        int is_best = 0;
        if (val && v.loss < ls.best_val) {
            ls.best_val = v.loss;
            ls.best_epoch = ls.epoch;
            snapshot(net, best);
            is_best = 1;
        }
        cJSON *h = cJSON_CreateObject();
        int ok = 1;
        jnum(&ok, h, "epoch", ls.epoch + 1);
        jnum(&ok, h, "train_loss", tl);
        if (val) {
            jnum(&ok, h, "val_loss", v.loss);
            jnum(&ok, h, "val_accuracy", v.accuracy);
            jnum(&ok, h, "val_auc", v.auc);
            jnum(&ok, h, "val_eer", v.eer);
        }
        jnum(&ok, h, "lr", ls.lr);
        jattach(&ok, ls.history, NULL, h);
        if (!ok) {
            st = ft_error_set(err, FT_ENOMEM, "out of memory recording the training history");
            goto done;
        }
        float nl = ft_plateau_update(&ls.plateau, val ? v.loss : tl, ls.lr);
        if (o->progress)
            progress_call(o, &ls, steps, steps_done, (o->epochs - ls.epoch - 1) * steps, t0, pairs_done, images_done,
                          &v, 1, is_best);
        ls.lr = nl;
        ft_optim_set_lr(ft_trainer_optim(tr), nl);
        res->final_train_loss = tl;
        ls.step = 0;
        ls.loss_sum = 0;
        ls.pairs_sum = 0;
        if (ls.epoch + 1 < o->epochs) {
            loop_state next = ls;
            next.epoch = ls.epoch + 1;
            if ((st = write_resume(net, ft_trainer_optim(tr), isfinite(ls.best_val) ? best : NULL, o, &next, n_train,
                                   n_val, err)))
                goto done;
        }
    }
    res->seconds = ft_now() - t0;
    res->pairs_per_sec = pairs_done / (res->seconds > 0 ? res->seconds : 1e-9);
    res->images_per_sec = images_done / (res->seconds > 0 ? res->seconds : 1e-9);
    res->epochs_done = o->epochs;
    res->best_val_loss = ls.best_val;
    res->best_epoch = ls.best_epoch;
    if (best && isfinite(ls.best_val)) restore(net, best);
    ft_calibration *cal = &res->calibration;
    if (o->calib_n > 0) {
        if ((st = ft_calibrate(o->calib_dist, o->calib_same, o->calib_n, o->calib, o->far_target, o->threshold, cal,
                               &roc, &n_roc, err))) {
            ft_error_prefix(err, "calibration");
            goto done;
        }
        cal->val_identities = o->calib_identities;
    } else if (val) {
        double vl;
        if ((st = ft_evalset_distances(val, net, o->margin, vdist, vsame, &vl, err))) goto done;
        if ((st = ft_calibrate(vdist, vsame, n_vp, o->calib, o->far_target, o->threshold, cal, &roc, &n_roc, err))) {
            ft_error_prefix(err, "calibration on the validation pairs");
            goto done;
        }
        cal->val_identities = val->n_identities;
    } else {
        if (o->calib != FT_CALIB_FIXED) {
            st = ft_error_set(err, FT_EINVAL, "calibrating the threshold (%s) needs validation identities",
                              ft_calib_rule_name(o->calib));
            goto done;
        }
        memset(cal, 0, sizeof *cal);
        cal->rule = FT_CALIB_FIXED;
        cal->threshold = o->threshold;
        cal->far = cal->frr = cal->eer = cal->far_target = NAN;
    }
    ft_ckpt ck;
    if ((st = build_ckpt(net, o, &ls, n_train, n_val, 0, cal, roc, n_roc, &ck, err))) goto done;
    st = ft_ckpt_write(o->out_path, &ck, err);
    ft_ckpt_free(&ck);
    if (!st) {
        char path[4096];
        snprintf(path, sizeof path, "%s%s", o->out_path, FT_RESUME_SUFFIX);
        unlink(path);
    }
done:
    cJSON_Delete(ls.history);
    ft_trainer_free(tr);
    free(vdist);
    free(vsame);
    free(best);
    free(roc);
    return st;
}

ft_status ft_train(ft_net *net, const ft_labelled *train, const ft_labelled *val, const ft_train_opts *o,
                   ft_train_result *res, ft_error *err)
{
    memset(res, 0, sizeof *res);
    if (train->isz != ft_net_input_size(net))
        return ft_error_set(err, FT_EMISMATCH, "training data has %d values per image, the network takes %d",
                            train->isz, ft_net_input_size(net));
    ft_source *src = NULL;
    ft_evalset *vs = NULL;
    ft_status st = ft_source_labelled_new(train, o, &src, err);
    if (!st && val && val->n > 0) st = ft_evalset_labelled_new(val, o->seed ^ FT_VAL_PAIRS_TAG, &vs, err);
    if (!st) {
        ft_train_opts eff = *o;
        if (!vs) eff.calib = FT_CALIB_FIXED; /* nothing to calibrate on: the given threshold */
        st = ft_train_source(net, src, vs, &eff, res, err);
    }
    ft_source_free(src);
    ft_evalset_free(vs);
    return st;
}
