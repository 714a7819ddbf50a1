/* facetwin/train.h — pairs, the Siamese training step and the training loop.
 *
 * A labelled set holds preprocessed encoder inputs in memory (IDX data: MNIST,
 * Fashion-MNIST). Pairs index into it. One training step embeds both sides of
 * B pairs as ONE batch of 2B images through the shared-weight encoder (the
 * batch is folded into every GEMM), computes the contrastive loss, and
 * back-propagates once — the Siamese weight sharing is literal.
 *
 * Determinism: every random choice derives from opts.seed: epoch e's pairs and
 * order from (seed, e), dropout masks from (seed, global step). With the same
 * seed and thread count, runs (and resumed runs) are bit-identical.
 */
#ifndef FACETWIN_TRAIN_H
#define FACETWIN_TRAIN_H

#include <signal.h>
#include <stdint.h>

#include "facetwin/idx.h"
#include "facetwin/metrics.h"
#include "facetwin/net.h"
#include "facetwin/optim.h"
#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Preprocessed images x (n, isz) and integer labels (n). Owned; free with ft_labelled_free. */
typedef struct {
    int n, isz;
    float *x;
    int32_t *label;
} ft_labelled;

/* Converts an IDX set to encoder input of spec (resize/convert as needed). */
ft_status ft_labelled_from_idx(const ft_idx_set *s, const ft_input_spec *spec, ft_labelled *out,
                               ft_error *err);
/* Moves the last `count` items of src into a new set dst (src shrinks). */
ft_status ft_labelled_split_tail(ft_labelled *src, int count, ft_labelled *dst, ft_error *err);
void ft_labelled_free(ft_labelled *s);

typedef struct {
    uint32_t a, b;
    uint8_t same;
} ft_pair;

/* The Keras example's pairs: per class n = min count - 1; (idx[d][i], idx[d][i+1]) and
 * (idx[d][i], idx[d'][i]) with d' a random other class. Order as Keras. Caller frees *out. */
ft_status ft_pairs_keras(const int32_t *labels, int n, uint64_t seed, ft_pair **out, int *n_pairs,
                         ft_error *err);
/* n_pairs/2 random positives (two different images of one class) and as many
 * random negatives, interleaved then shuffled. Caller frees *out. */
ft_status ft_pairs_random(const int32_t *labels, int n, int n_pairs, uint64_t seed, ft_pair **out,
                          ft_error *err);

typedef enum { FT_PAIRS_ALL = 0, FT_PAIRS_KERAS } ft_pairs_mode;

/* Reusable buffers for steps of batch B. */
typedef struct ft_trainer ft_trainer;
ft_status ft_trainer_new(ft_net *net, const ft_optim_config *opt, int batch, float margin,
                         ft_trainer **out, ft_error *err);
void ft_trainer_free(ft_trainer *t);
ft_optim *ft_trainer_optim(ft_trainer *t);
/* One step on pairs[0..B): returns the mean contrastive loss before the update. */
float ft_trainer_step(ft_trainer *t, const ft_labelled *set, const ft_pair *pairs, int B,
                      uint64_t dropout_seed);
/* Distances of pairs (inference mode) into dist (n); also the mean loss if loss != NULL. */
ft_status ft_pair_distances(ft_net *net, const ft_labelled *set, const ft_pair *pairs, int n,
                            float margin, float *dist, double *loss, ft_error *err);

typedef struct {
    int epoch, epochs;
    int step, steps;       /* within the epoch */
    double pairs_per_sec;
    double elapsed, eta;   /* seconds */
    float train_loss;      /* running mean over the epoch so far */
    float val_loss, val_accuracy; /* NAN when not evaluated / no validation set */
    float lr;
    int epoch_done;        /* 1 on the epoch-end call */
    int best;              /* 1 if this epoch is the best so far */
} ft_train_progress;

typedef struct {
    int epochs, batch;
    ft_optim_config opt;
    float margin;
    ft_pairs_mode pairs;
    int pairs_per_epoch;   /* FT_PAIRS_ALL; 0 = 2 x training images */
    uint64_t seed;
    int threads;
    float threshold;       /* decision threshold stored in the checkpoint (default 0.5) */
    float plateau_factor;  /* <= 0: off */
    int plateau_patience;
    float min_lr;
    const char *out_path;  /* the model (best by validation loss, else final) */
    const char *resume_path; /* NULL or a .resume checkpoint to continue */
    const char *data_desc; /* recorded in the metadata */
    void (*progress)(const ft_train_progress *p, void *ctx);
    void *progress_ctx;
    volatile sig_atomic_t *stop; /* set asynchronously (SIGINT) to stop and save */
} ft_train_opts;

void ft_train_opts_defaults(ft_train_opts *o);

typedef struct {
    int epochs_done;
    float final_train_loss, best_val_loss;
    int best_epoch;
    double seconds, pairs_per_sec;
    int interrupted;
} ft_train_result;

/* Trains net on train (val may be NULL), writing opts->out_path (model) and
 * opts->out_path + ".resume" (full state, each epoch and on stop; removed on
 * success). Returns FT_EINTERRUPTED after saving when *opts->stop was set. */
ft_status ft_train(ft_net *net, const ft_labelled *train, const ft_labelled *val,
                   const ft_train_opts *opts, ft_train_result *res, ft_error *err);

#define FT_RESUME_SUFFIX ".resume"

#ifdef __cplusplus
}
#endif
#endif
