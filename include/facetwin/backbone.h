/* facetwin/backbone.h — a frozen backbone and a small head trained on its features.
 *
 * The second reference's design: a pretrained network (the backbone: face-api's whole photo
 * pipeline, or any checkpoint's encoder) is never trained; each image of the dataset goes
 * through it ONCE, and a small head (a few dense layers, a JSON spec like any other, whose
 * input is the backbone's embedding) is trained with the ordinary contrastive loop on those
 * cached vectors — so an epoch costs only the head (milliseconds on ORL).
 *
 *   features  ft_features_extract: every image of a dataset -> the backbone's embedding, on
 *             several threads (one pipeline per thread, BLAS single-threaded meanwhile).
 *             Photos go through ft_photo_input (canvas, detection, face choice, alignment)
 *             when the backbone carries a pipeline. An image where NO face is found is
 *             counted (no_face, n_no_face: ORL has 4 such images of 400 with the SSD on a
 *             300 canvas) and embedded anyway, so every identity keeps all its images:
 *               FT_NOFACE_LANDMARKS (default): the whole image is taken as the detector's
 *                 box — landmarks in it, then the usual alignDlib crop — which suits
 *                 datasets of tight face crops such as ORL; if that fails too, as WHOLE;
 *               FT_NOFACE_WHOLE: the whole image stretched to the encoder's input (the
 *                 pre-cropped path; tools/faceapi/orl_pipeline.py's rule).
 *             (embed, verify and the daemon still answer no_face for such an image.)
 *             With flip, the mirrored encoder input (the aligned crop flipped left-right)
 *             is embedded too: the head's only augmentation, computed once.
 *   pairs     ft_features_select cuts the rows of some identities out as an ft_labelled
 *             (labels = dataset identity indices, images in ft_dataset_images order, so the
 *             identity-folder protocol's pair lists are the same as for images);
 *             ft_evalset_features_new scores the protocol's pairs (every same-identity pair
 *             and as many seeded different-identity pairs) through a head, or ft_pairs_
 *             feature_distances without one (the backbone alone).
 *   deploy    ft_backbone_compose writes ONE ordinary checkpoint: the backbone checkpoint
 *             whose encoder spec is extended by the head's layers (layer k of the head
 *             becomes layer n_backbone + k, its "input"/"from" indices shifted, -1 = the
 *             backbone's output), the head's tensors renamed to those indices, every
 *             backbone tensor (pipeline parts under aux/ included) copied bit for bit, the
 *             head's threshold and calibration ROC, and metadata "backbone": {model_id,
 *             frozen, layers, head}. So embed, verify and the daemon run backbone + head
 *             on photos with no code of their own for it.
 *
 * A head's input is a vector: its spec says "input": {"width": D, "height": 1, "channels": 1}
 * (the parser's channels are 1 or 3), and it should start with a layer that does not care
 * whether D values come as (1,1,D) or (D,1,1): dense, flatten, relu, l2norm (composing
 * checks every tensor's shape and says which one differs otherwise).
 *
 * Ownership and threads: structs own their arrays (free with the matching _free, safe on
 * zeroed structs); ft_features_extract starts and joins its own threads and restores the
 * BLAS thread count before returning.
 */
#ifndef FACETWIN_BACKBONE_H
#define FACETWIN_BACKBONE_H

#include <signal.h>
#include <stdint.h>

#include "facetwin/checkpoint.h"
#include "facetwin/dataset.h"
#include "facetwin/net.h"
#include "facetwin/photo.h"
#include "facetwin/status.h"
#include "facetwin/train.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FT_FEATURES_MAX_THREADS 64

typedef enum { FT_NOFACE_LANDMARKS = 0, FT_NOFACE_WHOLE } ft_noface_rule;

typedef struct {
    ft_photo_opts photo; /* detect/canvas/...; detection is off when the backbone cannot detect */
    ft_noface_rule no_face; /* what an image without a detected face becomes (LANDMARKS) */
    int flip;            /* also embed the mirrored encoder input */
    int threads;         /* extraction threads; 0 = cores */
    volatile sig_atomic_t *stop; /* NULL, or set asynchronously (SIGINT): FT_EINTERRUPTED */
} ft_features_opts;

/* Defaults: detect on (the largest face), no canvas, no face -> LANDMARKS, flip off,
 * threads = cores. */
void ft_features_opts_defaults(ft_features_opts *o);

typedef struct {
    int n, dim;             /* n = the dataset's images */
    float *x;               /* (n, dim) the backbone's embeddings */
    float *x_flip;          /* (n, dim) of the mirrored inputs, or NULL (flip off) */
    int32_t *label;         /* (n) dataset identity index */
    uint8_t *no_face;       /* (n) 1: no face found, the whole image was used */
    int n_no_face;
    int detected;           /* 1 when faces were detected (the backbone has a pipeline) */
    double seconds;         /* wall time of the extraction */
    char model_id[128];     /* the backbone's */
} ft_features;

/* Embeds every image of ds through the backbone checkpoint at path. An unreadable image is
 * an error naming it; an image without a face falls back to the whole image (counted). */
ft_status ft_features_extract(const char *path, const ft_dataset *ds, const ft_features_opts *o, ft_features *out,
                              ft_error *err);
void ft_features_free(ft_features *f);

/* The rows of ids' images (ft_dataset_images order) as a labelled set of dim-vectors;
 * with_flips appends the mirrored rows (same labels) after them when f has them. */
ft_status ft_features_select(const ft_features *f, const ft_dataset *ds, const ft_idset *ids, int with_flips,
                             ft_labelled *out, ft_error *err);

/* Evaluation set over a labelled set of vectors: the protocol's balanced pairs (every
 * same-label pair + as many seeded different-label pairs, ft_pairs_balanced); embedding runs
 * the given net (the head) over the vectors. set must outlive it. */
ft_status ft_evalset_features_new(const ft_labelled *set, uint64_t seed, ft_evalset **out, ft_error *err);

/* Euclidean distances of pairs straight on the vectors (the backbone alone, no head). */
void ft_pairs_feature_distances(const ft_labelled *set, const ft_pair *pairs, int n, float *dist, uint8_t *same);

/* FT_EMISMATCH unless head takes exactly dim values per input:
 * "the head '<name>' takes 64 values per input, the backbone's embedding has 128". */
ft_status ft_head_check(const ft_net *head, int dim, ft_error *err);

/* The deployable checkpoint (see the top of this file): backbone extended by head. head is a
 * checkpoint written by the training loop (its threshold, calibration ROC and training
 * metadata are kept); out is filled (free with ft_ckpt_free) and verified by building its
 * net. */
ft_status ft_backbone_compose(const ft_ckpt *backbone, const ft_ckpt *head, ft_ckpt *out, ft_error *err);

#ifdef __cplusplus
}
#endif
#endif
