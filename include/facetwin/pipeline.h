/* facetwin/pipeline.h — one checkpoint holding face-api's whole photo pipeline.
 *
 * `facetwin import --from face-api --parts all` (the default) writes ONE checkpoint in the
 * ordinary format (docs/FORMAT.md, unchanged): its own net is the encoder (so embed, verify,
 * info and the daemon use it as before, on pre-cropped faces), and the other networks ride
 * along as data the encoder's loader skips:
 *   tensors   "aux/<part>/<name>" for part ssd, tiny, landmarks (the SSD priors become
 *             "aux/ssd/aux/priors")
 *   metadata  "pipeline": {"<part>": {"spec": "<its architecture spec, JSON text>",
 *                                      "meta": {<its own metadata: detector constants ...>}}}
 * ft_ckpt_part rebuilds a part as a checkpoint of its own, so every part is loaded by the same
 * code as a single-part checkpoint (ft_net_from_checkpoint, ft_detector_from_checkpoint).
 *
 * Ownership and threads: ft_pipeline owns its nets and the one activation arena they share
 * (ft_net_reserve_in, batch 1: the nets run one after the other); one pipeline per thread.
 */
#ifndef FACETWIN_PIPELINE_H
#define FACETWIN_PIPELINE_H

#include "facetwin/align.h"
#include "facetwin/checkpoint.h"
#include "facetwin/detect.h"
#include "facetwin/model.h"
#include "facetwin/net.h"
#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if ck carries part ("ssd", "tiny", "landmarks") in its "pipeline" metadata. */
int ft_ckpt_has_part(const ft_ckpt *ck, const char *part);
/* The part as a checkpoint of its own (deep copy; release with ft_ckpt_free). */
ft_status ft_ckpt_part(const ft_ckpt *ck, const char *part, ft_ckpt *out, ft_error *err);
/* Adds src (a single-part checkpoint) to dst as part `part` (dst's own net untouched). */
ft_status ft_ckpt_add_part(ft_ckpt *dst, const char *part, const ft_ckpt *src, ft_error *err);

typedef struct {
    ft_net *encoder;     /* the checkpoint's own net (150x150 face -> 128-d) */
    float threshold;
    ft_net *landmarks;   /* NULL if absent */
    ft_detector *ssd;    /* NULL if absent */
    ft_detector *tiny;   /* NULL if absent */
    float *arena;        /* the nets' inference activations, shared: they never run at once */
} ft_pipeline;

/* Loads whatever parts the checkpoint has (a single-part detector checkpoint loads as
 * ssd or tiny with no encoder). */
ft_status ft_pipeline_load(const char *path, ft_pipeline *p, ft_error *err);
/* The same from a checkpoint already read (ck stays the caller's); with_encoder = 0 leaves
 * p->encoder NULL (the caller embeds with an ft_model of its own). */
ft_status ft_pipeline_from_checkpoint(const ft_ckpt *ck, int with_encoder, ft_pipeline *p, ft_error *err);
/* One read of path for both: m gets the encoder, threshold, ROC and metadata (model.h), p the
 * detectors and the landmark net (no encoder; empty for a checkpoint without them). */
ft_status ft_pipeline_load_model(const char *path, ft_model *m, ft_pipeline *p, ft_error *err);
void ft_pipeline_free(ft_pipeline *p);

#ifdef __cplusplus
}
#endif
#endif
