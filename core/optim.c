/* optim.c — parameter updates over the net's one contiguous weight array.
 *
 * Because the net keeps all trainable floats in one array (and gradients in
 * a parallel one), each optimiser is a single loop; weight decay is applied
 * per tensor using the net's parameter list (conv/dense weights only, never
 * biases or normalisation parameters). State vectors are sized once.
 */
#include "facetwin/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ft_optim {
    ft_optim_config c;
    size_t n;
    float *m, *v; /* first/second moments (sgd: m is the velocity) */
    double t;     /* step count (adam bias correction) */
};

ft_optim_config ft_optim_defaults(ft_opt_kind kind)
{
    ft_optim_config c = {kind, 1e-3f, 0.9f, 0.9f, 0.999f, 1e-7f, 0.9f, 0.0f};
    if (kind == FT_OPT_SGD) c.lr = 1e-2f;
    return c;
}

static const char *const k_names[] = {"rmsprop", "adam", "sgd"};

const char *ft_opt_kind_name(ft_opt_kind k) { return k <= FT_OPT_SGD ? k_names[k] : "?"; }

ft_status ft_opt_kind_parse(const char *s, ft_opt_kind *out, ft_error *err)
{
    for (int k = 0; k <= FT_OPT_SGD; k++)
        if (!strcmp(s, k_names[k])) {
            *out = (ft_opt_kind)k;
            return FT_OK;
        }
    return ft_error_set(err, FT_EINVAL, "unknown optimizer '%s' (rmsprop, adam or sgd)", s);
}

ft_status ft_optim_new(const ft_optim_config *cfg, const ft_net *net, ft_optim **out, ft_error *err)
{
    *out = NULL;
    if (!(cfg->lr > 0) || !isfinite(cfg->lr))
        return ft_error_set(err, FT_EINVAL, "learning rate must be a positive number");
    if (!(cfg->weight_decay >= 0)) return ft_error_set(err, FT_EINVAL, "weight decay must be >= 0");
    ft_optim *o = calloc(1, sizeof *o);
    size_t n = ft_net_param_count(net);
    if (!o) return ft_error_set(err, FT_ENOMEM, "out of memory");
    o->c = *cfg;
    o->n = n;
    o->m = calloc(n ? n : 1, sizeof(float));
    o->v = calloc(n ? n : 1, sizeof(float));
    if (!o->m || !o->v) {
        ft_optim_free(o);
        return ft_error_set(err, FT_ENOMEM, "out of memory for optimiser state");
    }
    *out = o;
    return FT_OK;
}

void ft_optim_free(ft_optim *o)
{
    if (!o) return;
    free(o->m);
    free(o->v);
    free(o);
}

void ft_optim_set_lr(ft_optim *o, float lr) { o->c.lr = lr; }
float ft_optim_lr(const ft_optim *o) { return o->c.lr; }

static void apply_decay(const ft_optim *o, ft_net *net)
{
    if (o->c.weight_decay <= 0) return;
    int np;
    const ft_param *p = ft_net_params(net, &np);
    for (int k = 0; k < np; k++) {
        if (!p[k].grad || !p[k].decay) continue;
        for (size_t i = 0; i < p[k].count; i++) p[k].grad[i] += o->c.weight_decay * p[k].data[i];
    }
}

void ft_optim_step(ft_optim *o, ft_net *net)
{
    apply_decay(o, net);
    float *w = ft_net_weights(net);
    const float *g = ft_net_grads(net);
    const float lr = o->c.lr, eps = o->c.eps;
    float *m = o->m, *v = o->v;
    size_t n = o->n;
    o->t += 1.0;
    switch (o->c.kind) {
    case FT_OPT_RMSPROP: {
        const float rho = o->c.rho;
        for (size_t i = 0; i < n; i++) {
            v[i] = rho * v[i] + (1.0f - rho) * g[i] * g[i];
            w[i] -= lr * g[i] / (sqrtf(v[i]) + eps);
        }
        break;
    }
    case FT_OPT_ADAM: {
        const float b1 = o->c.beta1, b2 = o->c.beta2;
        const float c1 = (float)(1.0 - pow(b1, o->t)), c2 = (float)(1.0 - pow(b2, o->t));
        const float a = lr / c1, rc2 = 1.0f / sqrtf(c2);
        for (size_t i = 0; i < n; i++) {
            m[i] = b1 * m[i] + (1.0f - b1) * g[i];
            v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
            w[i] -= a * m[i] / (sqrtf(v[i]) * rc2 + eps);
        }
        break;
    }
    case FT_OPT_SGD: {
        const float mu = o->c.momentum;
        for (size_t i = 0; i < n; i++) {
            m[i] = mu * m[i] + g[i];
            w[i] -= lr * m[i];
        }
        break;
    }
    }
}

static ft_status push_tensor(ft_ckpt *ck, const char *name, const float *data, size_t count,
                             ft_error *err)
{
    ft_ckpt_tensor *t = realloc(ck->tensors, (size_t)(ck->n_tensors + 1) * sizeof *t);
    if (!t) return ft_error_set(err, FT_ENOMEM, "out of memory");
    ck->tensors = t;
    ft_ckpt_tensor *x = &t[ck->n_tensors];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    x->ndim = 1;
    x->dims[0] = (int64_t)count;
    x->count = count;
    x->data = malloc(count * sizeof(float));
    if (!x->data) return ft_error_set(err, FT_ENOMEM, "out of memory");
    memcpy(x->data, data, count * sizeof(float));
    ck->n_tensors++;
    return FT_OK;
}

ft_status ft_optim_save(const ft_optim *o, ft_ckpt *ck, ft_error *err)
{
    float t = (float)o->t;
    ft_status st;
    if ((st = push_tensor(ck, "opt/m", o->m, o->n, err))) return st;
    if ((st = push_tensor(ck, "opt/v", o->v, o->n, err))) return st;
    return push_tensor(ck, "opt/t", &t, 1, err);
}

ft_status ft_optim_load(ft_optim *o, const ft_ckpt *ck, ft_error *err)
{
    const ft_ckpt_tensor *m = ft_ckpt_find(ck, "opt/m"), *v = ft_ckpt_find(ck, "opt/v"),
                         *t = ft_ckpt_find(ck, "opt/t");
    if (!m || !v || !t)
        return ft_error_set(err, FT_EMISMATCH, "checkpoint has no optimiser state (not resumable)");
    if (m->count != o->n || v->count != o->n || t->count != 1)
        return ft_error_set(err, FT_EMISMATCH, "optimiser state size does not match the network");
    memcpy(o->m, m->data, o->n * sizeof(float));
    memcpy(o->v, v->data, o->n * sizeof(float));
    o->t = t->data[0];
    return FT_OK;
}

void ft_plateau_init(ft_plateau *p, float factor, int patience, float min_lr)
{
    p->factor = factor;
    p->patience = patience;
    p->min_lr = min_lr;
    p->threshold = 1e-4f;
    p->best = INFINITY;
    p->wait = 0;
}

float ft_plateau_update(ft_plateau *p, float loss, float lr)
{
    if (loss < p->best * (1.0f - p->threshold)) {
        p->best = loss;
        p->wait = 0;
        return lr;
    }
    if (p->factor <= 0 || p->factor >= 1) return lr;
    if (++p->wait >= p->patience) {
        p->wait = 0;
        float nl = lr * p->factor;
        return nl < p->min_lr ? p->min_lr : nl;
    }
    return lr;
}
