/* facetwin/train.h — pairs, the Siamese training step and the training loop.
 *
 * Data reaches the loop through a source (ft_source): an in-memory labelled
 * set (IDX data: MNIST, Fashion-MNIST) or an identity-folder dataset streamed
 * from disk by a loader thread (faceset.h). One training step embeds all the
 * images of a batch as ONE batch through the shared-weight encoder (the batch
 * is folded into every GEMM), computes the contrastive loss — over B pairs
 * (both sides of each pair in the batch) or over every pair of the batch
 * (in-batch pairs) — and back-propagates once: the Siamese weight sharing is
 * literal. Validation pairs (ft_evalset) embed each image once.
 *
 * Determinism: every random choice derives from opts.seed: epoch e's pairs and
 * order from (seed, e), dropout masks from (seed, global step). With the same
 * seed and thread count, runs (and resumed runs) are bit-identical.
 */
#ifndef FACETWIN_TRAIN_H
#define FACETWIN_TRAIN_H

#include <signal.h>
#include <stdint.h>

#include "facetwin/calibration.h"
#include "facetwin/idx.h"
#include "facetwin/metrics.h"
#include "facetwin/net.h"
#include "facetwin/optim.h"
#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Preprocessed images x (n, isz) and integer labels (n). Owned; free with ft_labelled_free.
 * width, height: each image's pixel geometry (channels = isz / (width * height)) when known
 * (ft_labelled_from_idx sets them), else 0 — needed only by ft_train_opts.shift. */
typedef struct {
    int n, isz;
    float *x;
    int32_t *label;
    int width, height;
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

/* Every same-class pair (a seeded uniform sample of max_pos when there are
 * more; 0 = no cap) and as many distinct different-class pairs, seeded, then
 * shuffled. Very large lists are drawn at random instead of enumerated.
 * The identity-folder protocol's pairs (training epochs and test pairs).
 * Caller frees *out. */
ft_status ft_pairs_balanced(const int32_t *labels, int n, int max_pos, uint64_t seed, ft_pair **out,
                            int *n_pairs, ft_error *err);

/* Fisher-Yates shuffle of a pair list with the generator ft_rng_derive(seed, tag). */
void ft_pairs_shuffle(ft_pair *p, int n, uint64_t seed, uint64_t tag);

/* An epoch of in-batch training: every image once, grouped so that each batch
 * holds runs of per_class images of one identity (P x K sampling: a batch of
 * 64 with K = 4 holds 16 identities), so every batch has same-identity pairs.
 * order[start[i] .. start[i+1]) are the positions of batch i. */
typedef struct {
    uint32_t *order;
    int n;
    int *start;     /* n_batches + 1 */
    int n_batches;
} ft_group_plan;

ft_status ft_group_plan_make(const int32_t *labels, int n, int per_class, int batch, uint64_t seed,
                             ft_group_plan *plan, ft_error *err);
void ft_group_plan_free(ft_group_plan *plan);

/* FT_PAIRS_ALL: fresh random pairs each epoch (in memory) or every positive +
 * equal negatives (identity folders); KERAS: the reference's fixed pairs;
 * BATCH: in-batch pairs (ft_group_plan + ft_contrastive_batch_*). */
typedef enum { FT_PAIRS_ALL = 0, FT_PAIRS_KERAS, FT_PAIRS_BATCH } ft_pairs_mode;

/* Lays out B pairs of set as one batch: x (2B, isz) the left sides then the
 * right sides, y (B) labels (1 = same). The one gather of every pairs step. */
void ft_labelled_gather_pairs(const ft_labelled *set, const ft_pair *pairs, int B, float *x, float *y);

/* One training batch, of one of two kinds:
 *   pairs: x holds 2B images, the B left sides then the B right sides; y (B)
 *          labels, 1 = same; the loss is the contrastive loss of the B pairs;
 *   group: x holds N images with identity labels ids (N); the loss covers all
 *          N(N-1)/2 pairs of the batch (ft_contrastive_batch_*).
 * n_pairs is the number of pairs the loss covers (B, or N(N-1)/2). */
typedef struct {
    const float *x;
    int n_images;
    const float *y;       /* pairs batches, else NULL */
    const int32_t *ids;   /* group batches, else NULL */
    int n_pairs;
} ft_batch;

/* Reusable buffers for steps of up to 2 x batch images. */
typedef struct ft_trainer ft_trainer;
ft_status ft_trainer_new(ft_net *net, const ft_optim_config *opt, int batch, float margin,
                         ft_trainer **out, ft_error *err);
void ft_trainer_free(ft_trainer *t);
ft_optim *ft_trainer_optim(ft_trainer *t);
/* One step on a batch (forward of all its images as one batch, loss,
 * backward, update); returns the loss before the update. */
float ft_trainer_step_batch(ft_trainer *t, const ft_batch *b, uint64_t dropout_seed);
/* One step on pairs[0..B) of an in-memory set (gathered into a pairs batch). */
float ft_trainer_step(ft_trainer *t, const ft_labelled *set, const ft_pair *pairs, int B,
                      uint64_t dropout_seed);
/* Distances of pairs (inference mode) into dist (n); also the mean loss if loss != NULL. */
ft_status ft_pair_distances(ft_net *net, const ft_labelled *set, const ft_pair *pairs, int n,
                            float margin, float *dist, double *loss, ft_error *err);

typedef struct {
    int epoch, epochs;
    int step, steps;       /* within the epoch */
    double pairs_per_sec, images_per_sec;
    double elapsed, eta;   /* seconds */
    float train_loss;      /* running mean over the epoch so far */
    float val_loss, val_accuracy, val_auc, val_eer; /* NAN when not evaluated / no validation set */
    float lr;
    int epoch_done;        /* 1 on the epoch-end call */
    int best;              /* 1 if this epoch is the best so far */
} ft_train_progress;

typedef struct {
    int epochs, batch;     /* batch: pairs per step (pairs modes) or images per step (BATCH) */
    ft_optim_config opt;
    float margin;
    ft_pairs_mode pairs;
    int pairs_per_epoch;   /* FT_PAIRS_ALL in memory: 0 = 2 x training images */
    int per_class;         /* FT_PAIRS_BATCH: images per identity in a batch (4) */
    int shift;             /* in-memory sets, FT_PAIRS_ALL and FT_PAIRS_BATCH: every gathered image
                            * moved by up to shift px in x and in y (seeded by seed, epoch and
                            * step; edges repeated); 0 = off, the default (FT_PAIRS_KERAS, the
                            * reference's recipe, never shifts). Needs the set's width/height. */
    uint64_t seed;
    int threads;
    ft_calib_rule calib;   /* how the stored threshold is chosen (EER; FIXED without validation) */
    double far_target;     /* FT_CALIB_FAR */
    float threshold;       /* FT_CALIB_FIXED's threshold (0.5) */
    float plateau_factor;  /* <= 0: off */
    int plateau_patience;
    float min_lr;
    const char *out_path;  /* the model (best by validation loss, else final) */
    const char *resume_path; /* NULL or a .resume checkpoint to continue */
    const char *data_desc; /* recorded in the metadata */
    const char *split_json; /* NULL or a JSON object recorded as training.split */
    /* Calibration pairs measured elsewhere — e.g. by inner cross-validation over
     * the training identities, each pair scored by a model that never saw its
     * people. When calib_n > 0 the threshold and the stored ROC come from these
     * distances instead of the validation pairs (which still pick the best epoch). */
    const float *calib_dist;
    const uint8_t *calib_same;
    int calib_n, calib_identities;
    const char *calib_source;  /* named in the threshold rule (default "validation") */
    void (*progress)(const ft_train_progress *p, void *ctx);
    void *progress_ctx;
    volatile sig_atomic_t *stop; /* set asynchronously (SIGINT) to stop and save */
} ft_train_opts;

void ft_train_opts_defaults(ft_train_opts *o);

/* Validation (calibration) pairs are drawn from seed ^ FT_VAL_PAIRS_TAG, so
 * they differ from the training pairs and the test pairs (drawn from seed 0). */
#define FT_VAL_PAIRS_TAG 0x5A11ull

/* Where training batches come from: an in-memory set (below) or images
 * streamed from an identity-folder dataset (faceset.h). */
typedef struct ft_source ft_source;
struct ft_source {
    /* Prepares epoch `epoch` (0-based, derived from the seed alone) so that the
     * next batch is step `start`; *steps = the epoch's number of steps. */
    ft_status (*begin_epoch)(ft_source *s, int epoch, int start, int *steps, ft_error *err);
    /* The next batch (valid until the next call); n_images may be 0 when every
     * image of the step failed to load (the step is skipped). */
    ft_status (*next)(ft_source *s, ft_batch *b, ft_error *err);
    void (*destroy)(ft_source *s);
    int n_images;        /* training images (metadata) */
    int max_images;      /* the largest batch next() returns */
};
void ft_source_free(ft_source *s);

/* Pairs whose images are embedded once each: validation and test sets. */
typedef struct ft_evalset ft_evalset;
struct ft_evalset {
    /* Embeds the n_images images into out (n_images, D), inference mode. */
    ft_status (*embed)(ft_evalset *e, ft_net *net, float *out, ft_error *err);
    void (*destroy)(ft_evalset *e);
    int n_images;
    ft_pair *pairs;      /* owned; indices into the n_images */
    int n_pairs;
    int n_identities;
};
void ft_evalset_free(ft_evalset *e);

/* Distances of the set's pairs (dist, n_pairs), their labels (same, may be
 * NULL) and the mean contrastive loss (loss, may be NULL). */
ft_status ft_evalset_distances(ft_evalset *e, ft_net *net, float margin, float *dist, uint8_t *same,
                               double *loss, ft_error *err);

/* In-memory sources: set must outlive them. The training source follows
 * o->pairs (KERAS, ALL, BATCH), o->batch, o->seed; the evaluation set holds
 * the Keras-rule pairs of set (seeded). */
ft_status ft_source_labelled_new(const ft_labelled *set, const ft_train_opts *o, ft_source **out,
                                 ft_error *err);
ft_status ft_evalset_labelled_new(const ft_labelled *set, uint64_t seed, ft_evalset **out,
                                  ft_error *err);

typedef struct {
    int epochs_done;
    float final_train_loss, best_val_loss;
    int best_epoch;
    double seconds, pairs_per_sec, images_per_sec;
    int interrupted;
    ft_calibration calibration; /* what the stored threshold came from */
} ft_train_result;

/* Trains net on the source (val may be NULL), writing opts->out_path (model:
 * best weights by validation loss, else final; threshold per opts->calib on
 * the validation pairs, with their ROC) and opts->out_path + ".resume" (full
 * state, each epoch and on stop; removed on success). Returns
 * FT_EINTERRUPTED after saving when *opts->stop was set. */
ft_status ft_train_source(ft_net *net, ft_source *train, ft_evalset *val, const ft_train_opts *opts,
                          ft_train_result *res, ft_error *err);

/* The same on in-memory sets (val may be NULL). */
ft_status ft_train(ft_net *net, const ft_labelled *train, const ft_labelled *val,
                   const ft_train_opts *opts, ft_train_result *res, ft_error *err);

#define FT_RESUME_SUFFIX ".resume"

#ifdef __cplusplus
}
#endif
#endif
