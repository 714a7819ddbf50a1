/* facetwin/faceset.h — training and evaluation sets over identity folders,
 * streamed from disk.
 *
 * The bridge between a dataset (dataset.h: paths and identities), the
 * background loader (loader.h: decode + preprocess + augment in a thread) and
 * the training loop (train.h: ft_source, ft_evalset). Nothing is held in
 * memory but the loader's bounded queue (and its cache when the whole set
 * fits), so training on 20,000 images needs no more memory than on 400.
 *
 * Training source, per epoch (all derived from (seed, epoch), so a resumed run
 * sees the same batches and the same augmentation):
 *   FT_PAIRS_ALL    every same-identity pair of the training images (or a
 *                   seeded sample of max_pos) and as many random
 *                   different-identity pairs, shuffled; B pairs per step as
 *                   2B images;
 *   FT_PAIRS_BATCH  every image once, in batches of `batch` images holding
 *                   runs of per_class images of one identity; the loss covers
 *                   every pair of the batch.
 * Unreadable or undecodable files: training skips the image (its pairs in
 * pairs mode) and warns once per file through fo->warn; an epoch in which
 * nothing could be trained is an error.
 *
 * Evaluation set: every same-identity pair of the given identities plus as
 * many seeded different-identity pairs (the identity-disjoint protocol's test
 * pairs); each image is decoded and embedded once, without augmentation. An
 * unreadable image here stops with an error naming the file: figures must be
 * over a known pair list.
 */
#ifndef FACETWIN_FACESET_H
#define FACETWIN_FACESET_H

#include <stddef.h>

#include "facetwin/dataset.h"
#include "facetwin/loader.h"
#include "facetwin/train.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FT_FACESET_DEFAULT_CACHE ((size_t)256 << 20) /* decoded-image cache budget */
#define FT_FACESET_LOADER_BATCH 32                   /* images per loader batch */

typedef struct {
    ft_augment aug;          /* training only */
    size_t cache_bytes;      /* loader cache budget; the cache is used only if the set fits */
    int depth;               /* loader queue depth (FT_LOADER_DEFAULT_DEPTH) */
    int max_pos;             /* FT_PAIRS_ALL: cap on positive pairs per epoch (0 = all) */
    void (*warn)(void *ctx, const char *msg); /* one line per skipped file (may be NULL) */
    void *warn_ctx;
} ft_faceset_opts;

void ft_faceset_opts_defaults(ft_faceset_opts *fo);

/* Training source over the images of identities ids. ds must outlive it. */
ft_status ft_source_dataset_new(const ft_dataset *ds, const ft_idset *ids, const ft_input_spec *spec,
                                const ft_train_opts *o, const ft_faceset_opts *fo, ft_source **out,
                                ft_error *err);

/* Loader statistics of a dataset source (zeros for another kind of source). */
void ft_source_dataset_stats(ft_source *s, ft_loader_stats *st);

/* Evaluation pairs over the images of identities ids (seeded negatives). */
ft_status ft_evalset_dataset_new(const ft_dataset *ds, const ft_idset *ids, const ft_input_spec *spec,
                                 uint64_t seed, const ft_faceset_opts *fo, ft_evalset **out,
                                 ft_error *err);

#ifdef __cplusplus
}
#endif
#endif
