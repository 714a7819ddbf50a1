/* tfjs_weights.h — reading a TensorFlow.js weights manifest and its binary shards.
 *
 * The layout face-api (and every tfjs model) ships: a JSON manifest, an array
 * of groups {"paths": [shard files], "weights": [{"name", "shape", "dtype",
 * "quantization"?}]}; a group's shards are concatenated and its weights follow
 * each other in that buffer in manifest order. Decoded as tfjs's own
 * io.decodeWeights does:
 *   float32                         4 bytes per value, little-endian
 *   quantization uint8 / uint16     value = q * scale + min, computed in double
 *                                   (JavaScript numbers) and rounded to float32
 *   int32                           decoded to float (exact below 2^24); flagged
 *                                   is_int (SSD graph constants nobody reads)
 * Anything else (float16 quantization, string, ...) is refused by name.
 * Shard paths must be plain file names in the manifest's directory.
 *
 * Ownership: ft_tfjs_load fills a ft_tfjs_weights that owns names and data;
 * release with ft_tfjs_free.
 */
#ifndef FT_TFJS_WEIGHTS_H
#define FT_TFJS_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "facetwin/status.h"

#define FT_TFJS_MAX_DIMS 4
#define FT_TFJS_MAX_BYTES ((size_t)512 << 20)  /* manifest + shards of one model */

typedef struct {
    char *name;
    int ndim;
    int64_t dims[FT_TFJS_MAX_DIMS];  /* tfjs order, e.g. conv filters (KH,KW,IC,OC) */
    size_t count;
    float *data;
    int is_int;  /* the manifest's dtype was int32 */
} ft_tfjs_tensor;

typedef struct {
    int n;
    ft_tfjs_tensor *t;
} ft_tfjs_weights;

/* Reads manifest_path and its shards; messages start with the file at fault. */
ft_status ft_tfjs_load(const char *manifest_path, ft_tfjs_weights *out, ft_error *err);

/* The tensor called name, or NULL. */
const ft_tfjs_tensor *ft_tfjs_find(const ft_tfjs_weights *w, const char *name);

void ft_tfjs_free(ft_tfjs_weights *w);

#endif
