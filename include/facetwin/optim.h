/* facetwin/optim.h — optimisers (RMSprop, Adam, SGD+momentum), weight decay
 * and reduce-LR-on-plateau.
 *
 * Update rules (g includes weight decay: g += wd * w on conv/dense weights):
 *   rmsprop  v = rho v + (1-rho) g^2;          w -= lr g / (sqrt(v) + eps)   (Keras)
 *   adam     m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *            w -= lr * mhat / (sqrt(vhat) + eps), hats bias-corrected        (Keras/PyTorch)
 *   sgd      u = mu u + g;                      w -= lr u                    (PyTorch)
 * Ownership: ft_optim owns its state vectors; it does not own the net.
 */
#ifndef FACETWIN_OPTIM_H
#define FACETWIN_OPTIM_H

#include <stddef.h>

#include "facetwin/checkpoint.h"
#include "facetwin/net.h"
#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { FT_OPT_RMSPROP = 0, FT_OPT_ADAM, FT_OPT_SGD } ft_opt_kind;

typedef struct {
    ft_opt_kind kind;
    float lr;
    float rho;          /* rmsprop, default 0.9 */
    float beta1, beta2; /* adam, defaults 0.9, 0.999 */
    float eps;          /* default 1e-7 (Keras) */
    float momentum;     /* sgd, default 0.9 */
    float weight_decay; /* L2 on conv/dense weights, default 0 */
} ft_optim_config;

typedef struct ft_optim ft_optim;

/* Defaults for kind (lr 1e-3 for rmsprop/adam, 1e-2 for sgd). */
ft_optim_config ft_optim_defaults(ft_opt_kind kind);
ft_status ft_opt_kind_parse(const char *s, ft_opt_kind *out, ft_error *err);
const char *ft_opt_kind_name(ft_opt_kind k);

ft_status ft_optim_new(const ft_optim_config *cfg, const ft_net *net, ft_optim **out, ft_error *err);
void ft_optim_free(ft_optim *o);
void ft_optim_set_lr(ft_optim *o, float lr);
float ft_optim_lr(const ft_optim *o);
/* One update of all trainable weights of net from its gradients. */
void ft_optim_step(ft_optim *o, ft_net *net);

/* Optimiser state <-> checkpoint tensors "opt/m", "opt/v", "opt/t". append
 * grows ck->tensors; load checks sizes (FT_EMISMATCH). */
ft_status ft_optim_save(const ft_optim *o, ft_ckpt *ck, ft_error *err);
ft_status ft_optim_load(ft_optim *o, const ft_ckpt *ck, ft_error *err);

/* Reduce-LR-on-plateau (as Keras ReduceLROnPlateau, mode min, relative threshold). */
typedef struct {
    float factor;   /* e.g. 0.1; <= 0 disables */
    int patience;   /* epochs without improvement before reducing */
    float min_lr;
    float threshold; /* relative improvement that counts, e.g. 1e-4 */
    float best;
    int wait;
} ft_plateau;

void ft_plateau_init(ft_plateau *p, float factor, int patience, float min_lr);
/* Feeds an epoch's monitored loss; returns the new lr (possibly unchanged). */
float ft_plateau_update(ft_plateau *p, float loss, float lr);

#ifdef __cplusplus
}
#endif
#endif
