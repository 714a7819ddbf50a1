/* facetwin/idx.h — MNIST-style IDX files (optionally gzip-compressed).
 *
 * Reads the unsigned-byte IDX variant (type 0x08) used by MNIST and
 * Fashion-MNIST: images (N,H,W) and labels (N). gzip is detected by magic
 * and inflated with zlib's gz* API. Declared dimensions are checked against
 * FT_IDX_MAX_BYTES before allocation; a file shorter than declared is
 * FT_EFORMAT. Ownership: ft_idx owns data; free with ft_idx_free().
 */
#ifndef FACETWIN_IDX_H
#define FACETWIN_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FT_IDX_MAX_BYTES ((size_t)1 << 30) /* 1 GiB of payload */
#define FT_IDX_MAX_DIMS 4

typedef struct {
    int ndim;
    uint32_t dims[FT_IDX_MAX_DIMS];
    size_t count; /* product of dims */
    uint8_t *data;
} ft_idx;

ft_status ft_idx_load(const char *path, ft_idx *out, ft_error *err);
void ft_idx_free(ft_idx *idx);

/* A labelled image set: images (n, h, w) uint8 and labels (n). */
typedef struct {
    int n, h, w;
    uint8_t *images;
    uint8_t *labels;
} ft_idx_set;

/* Loads PREFIX-images-idx3-ubyte[.gz] and PREFIX-labels-idx1-ubyte[.gz]
 * (e.g. PREFIX = ".../train" or ".../t10k"); checks the counts agree. */
ft_status ft_idx_set_load(const char *prefix, ft_idx_set *out, ft_error *err);
void ft_idx_set_free(ft_idx_set *s);

#ifdef __cplusplus
}
#endif
#endif
