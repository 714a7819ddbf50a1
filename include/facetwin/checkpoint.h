/* facetwin/checkpoint.h — the checkpoint container (format: docs/FORMAT.md).
 *
 * A checkpoint carries everything needed to use a model: the architecture
 * spec (JSON text), input geometry and normalisation, embedding size, the
 * decision threshold, free-form metadata (JSON text: training data, seed,
 * epochs, final metrics, calibration ROC, ...) and named float32 tensors
 * (weights, batch-norm running stats, and for resumable checkpoints the
 * optimiser state under names starting with "opt/").
 *
 * This module knows nothing of layers: it only stores and verifies. Whether
 * the tensors match the spec is checked by ft_net_load_checkpoint (net.h).
 *
 * Writing is atomic: temp file in the same directory, fsync, rename, fsync of
 * the directory. Reading verifies magic, version, bounds of every length field
 * against the file size (before allocating) and the SHA-256 over the whole
 * file; any failure is a one-line message, never a crash.
 *
 * Ownership: ft_ckpt_read fills a ft_ckpt that owns all its strings and
 * tensor data; release with ft_ckpt_free. ft_ckpt_write only reads its input.
 */
#ifndef FACETWIN_CHECKPOINT_H
#define FACETWIN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "facetwin/image.h"
#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FT_CKPT_MAGIC "FTWCKPT1"   /* 8 bytes */
#define FT_CKPT_VERSION 1u
#define FT_CKPT_MAX_NAME 95        /* tensor name bytes, without NUL */
#define FT_CKPT_MAX_DIMS 4
#define FT_CKPT_MAX_TENSORS 4096
#define FT_CKPT_MAX_BYTES ((uint64_t)2 << 30) /* files larger than 2 GiB are refused */

typedef struct {
    char name[FT_CKPT_MAX_NAME + 1];
    int ndim;
    int64_t dims[FT_CKPT_MAX_DIMS];
    size_t count;  /* product of dims */
    float *data;   /* owned (after read) */
} ft_ckpt_tensor;

typedef struct {
    ft_input_spec input;  /* geometry + normalisation */
    int embed_dim;
    float threshold;      /* decision threshold on the Euclidean distance */
    char *spec_json;      /* architecture spec, NUL-terminated (owned) */
    char *meta_json;      /* metadata object, NUL-terminated (owned); may be "{}" */
    int n_tensors;
    ft_ckpt_tensor *tensors; /* owned array */
} ft_ckpt;

/* Atomically writes ck to path. */
ft_status ft_ckpt_write(const char *path, const ft_ckpt *ck, ft_error *err);

/* Reads and verifies a checkpoint file; messages start with the path. */
ft_status ft_ckpt_read(const char *path, ft_ckpt *out, ft_error *err);

/* Same from memory (bytes are not retained). */
ft_status ft_ckpt_read_mem(const uint8_t *bytes, size_t n, ft_ckpt *out, ft_error *err);

/* Finds a tensor by name, or NULL. */
const ft_ckpt_tensor *ft_ckpt_find(const ft_ckpt *ck, const char *name);

/* Frees everything owned by ck and zeroes it. Safe on a zeroed struct. */
void ft_ckpt_free(ft_ckpt *ck);

#ifdef __cplusplus
}
#endif
#endif
