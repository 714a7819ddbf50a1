/* facetwin/loader.h — the background image loader: training streams from disk.
 *
 * A loader owns one worker thread and `depth` batch slots (a bounded queue).
 * The consumer starts a plan — a list of dataset image indices cut into
 * batches — then takes the batches in order with ft_loader_next(). The worker
 * reads and decodes each file (ft_image_load), turns it into encoder input
 * (ft_image_to_input), applies the seeded augmentation and fills the next free
 * slot, so decoding overlaps the encoder's work on the previous batch.
 *
 * Memory is depth x max_batch x input floats (+ the optional cache),
 * independent of the number of images in the dataset.
 *
 * Cache: when cache_bytes >= n_images x input floats x 4 (the whole dataset
 * fits), each image's preprocessed, un-augmented input is kept after its
 * first decode; otherwise nothing is cached (all-or-nothing: no eviction
 * churn). Augmentation always runs on a copy.
 *
 * Determinism: plan position k is augmented with a generator derived from
 * (seed, k) only, so the same plan and seed give bit-identical batches
 * whatever the thread timing.
 *
 * Failures: a file that cannot be read or decoded does not stop the loader:
 * its slot is zero, ok[i] = 0 and error[i] holds the one-line message naming
 * the file. The consumer decides (training skips the image with a warning).
 *
 * Threads: one consumer thread per loader. ft_loader_start cancels an
 * unfinished plan. ft_loader_free joins the worker.
 */
#ifndef FACETWIN_LOADER_H
#define FACETWIN_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "facetwin/dataset.h"
#include "facetwin/image.h"
#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FT_LOADER_DEFAULT_DEPTH 4

typedef struct ft_loader ft_loader; /* opaque */

/* Seeded augmentation; all zero = none. Applied in this order: zoom + shift, flip, brightness/contrast. */
typedef struct {
    int flip;          /* 1: mirror left-right with probability 1/2 */
    int shift;         /* translate by uniform integers in [-shift, shift] on each axis (edge pixels replicated) */
    float brightness;  /* add uniform [-b, b] (in pixel/255 units, i.e. b/std[c] after normalisation) */
    float contrast;    /* scale deviations from the image's per-channel mean by uniform [1-c, 1+c] */
    float zoom;        /* scale about the centre by uniform [1-z, 1+z] (bilinear; with the shift, one resample);
                          at most FT_AUG_MAX_ZOOM */
} ft_augment;
#define FT_AUG_MAX_ZOOM 0.5f /* zoom factors stay within [0.5, 1.5] */

typedef struct {
    const float *x;            /* (n, C, H, W) encoder input */
    const int32_t *images;     /* n dataset image indices */
    const uint8_t *ok;         /* n: 1 loaded, 0 failed (x zero there) */
    const char *const *error;  /* n: NULL, or the failure message naming the file */
    int n;                     /* 0 at the end of the plan */
    int index;                 /* batch number within the plan */
} ft_loader_batch;

typedef struct {
    double wait_seconds;  /* consumer time blocked in ft_loader_next */
    double work_seconds;  /* worker time reading, decoding, preprocessing */
    long images;          /* images delivered */
    long cache_hits;
    long failures;
    int cache_enabled;
} ft_loader_stats;


/* ds and spec must outlive the loader. max_batch >= 1, depth >= 2. */
ft_status ft_loader_new(const ft_dataset *ds, const ft_input_spec *spec, int max_batch, int depth,
                        size_t cache_bytes, ft_loader **out, ft_error *err);

/* Starts a plan: plan[0..n) dataset image indices (copied), in batches of
 * `batch` <= max_batch (the last may be partial). aug NULL = none. */
ft_status ft_loader_start(ft_loader *l, const int32_t *plan, int n, int batch,
                          const ft_augment *aug, uint64_t seed, ft_error *err);

/* Blocks for the next batch of the plan; b->n == 0 after the last one. The
 * batch stays valid until the next ft_loader_next / ft_loader_start / free. */
ft_status ft_loader_next(ft_loader *l, ft_loader_batch *b, ft_error *err);

void ft_loader_stats_get(ft_loader *l, ft_loader_stats *s);
void ft_loader_free(ft_loader *l);

#ifdef __cplusplus
}
#endif
#endif
