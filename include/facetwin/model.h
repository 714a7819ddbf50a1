/* facetwin/model.h — a loaded model: the one "embed these bytes" API.
 *
 * ft_model_load reads and verifies a checkpoint, builds its encoder and keeps
 * its threshold and metadata. ft_model_embed_bytes is the single path from
 * image bytes to an embedding (decode -> ft_image_to_input -> encoder) used
 * by `facetwin embed/verify` and, later, the daemon — so a model behaves the
 * same everywhere. Ownership: ft_model owns net and meta_json; free with
 * ft_model_free. Not thread-safe (one ft_model per thread).
 */
#ifndef FACETWIN_MODEL_H
#define FACETWIN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "facetwin/calibration.h"
#include "facetwin/image.h"
#include "facetwin/net.h"
#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    ft_net *net;
    float threshold;
    char *meta_json;       /* the checkpoint's metadata object */
    char model_id[128];    /* meta "model_id", or "unknown" */
    ft_roc_point *roc;     /* the validation ROC stored at calibration (NULL if none) */
    int n_roc;
} ft_model;

ft_status ft_model_load(const char *path, ft_model *m, ft_error *err);
/* The same from a checkpoint already read (ck stays the caller's; everything is copied). */
ft_status ft_model_from_checkpoint(const ft_ckpt *ck, ft_model *m, ft_error *err);

/* The id a checkpoint's metadata records for net ("model_id"): "<arch name>-" and
 * 12 hex digits of SHA-256 over the canonical spec text and every tensor. */
void ft_model_id_compute(const ft_net *net, char *out, size_t n);
void ft_model_free(ft_model *m);

/* Decodes image bytes and embeds them; out holds ft_net_embed_dim floats. */
ft_status ft_model_embed_bytes(ft_model *m, const uint8_t *bytes, size_t n,
                               const ft_decode_opts *opts, float *out, ft_error *err);

/* Reads a file (bounded) and embeds it; errors start with the path. */
ft_status ft_model_embed_file(ft_model *m, const char *path, const ft_decode_opts *opts,
                              float *out, ft_error *err);

#ifdef __cplusplus
}
#endif
#endif
