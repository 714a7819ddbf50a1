/* facetwin/dataset.h — identity-folder datasets and identity-disjoint splits.
 *
 * Layout: DIR/<identity>/<image files>, one sub-directory per person (ORL:
 * s1..s40; photos/people/<name>/). Identities are sorted in natural order
 * (s1, s2, ..., s10: strverscmp), files within an identity likewise, so the
 * image numbering is stable across machines and runs.
 *
 * Opening lists paths only — nothing is decoded — so a dataset of any size
 * opens in memory proportional to its file names. Files whose extension names
 * no supported image format (.pgm .pnm .ppm .png .jpg .jpeg, any case) are
 * skipped and counted (n_skipped, the first named in skipped_example) so the
 * caller can warn once; hidden entries are ignored; identity folders with no
 * image are skipped too (counted in n_empty_ids).
 *
 * Splits are by identity, never by image: an identity's images all land in
 * one split. FT_SPLIT_ORDERED takes the last n_test identities (natural
 * order) for test and the n_val before them for validation — the reference's
 * "first 37 train, last 3 test"; FT_SPLIT_SHUFFLED does the same on a
 * permutation derived from the seed. k-fold cuts a seeded permutation into k
 * folds of nearly equal size (sizes differ by at most one).
 *
 * Ownership: ft_dataset and ft_idset own their arrays; free with
 * ft_dataset_free / ft_idset_free (safe on zeroed structs).
 */
#ifndef FACETWIN_DATASET_H
#define FACETWIN_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FT_DATASET_MAX_IMAGES 50000000 /* refuse larger listings */

typedef struct {
    char *root;          /* the directory as given */
    int n_ids;
    char **id_names;     /* n_ids names (the sub-directory names), natural order */
    int *id_start;       /* n_ids + 1: identity i owns images [id_start[i], id_start[i+1]) */
    int n_images;
    char **paths;        /* n_images paths "root/identity/file" */
    int32_t *label;      /* n_images identity indices */
    int n_skipped;       /* non-image files skipped */
    char skipped_example[256]; /* "identity/file" of the first skipped file, or "" */
    int n_empty_ids;     /* identity folders without any image (not listed) */
} ft_dataset;

/* Lists DIR. Errors (one line, naming DIR): not a readable directory; no
 * identity sub-directory; no image file at all. */
ft_status ft_dataset_open(const char *dir, ft_dataset *out, ft_error *err);
void ft_dataset_free(ft_dataset *ds);

/* A set of identity indices (ascending). */
typedef struct {
    int n;
    int *ids;
} ft_idset;

void ft_idset_free(ft_idset *s);

typedef enum { FT_SPLIT_SHUFFLED = 0, FT_SPLIT_ORDERED } ft_split_order;

/* Identity-disjoint train / validation / test sets. val or test may be NULL
 * when the count is 0. FT_EINVAL (saying how many identities there are and
 * how many were asked) unless at least 2 identities remain for training. */
ft_status ft_dataset_split(const ft_dataset *ds, int n_val, int n_test, ft_split_order order,
                           uint64_t seed, ft_idset *train, ft_idset *val, ft_idset *test,
                           ft_error *err);

/* Fold `fold` (0-based) of k by identity: test = that fold, train = the rest.
 * FT_EINVAL unless 2 <= k <= n_ids and 0 <= fold < k. */
ft_status ft_dataset_fold(const ft_dataset *ds, int k, int fold, uint64_t seed, ft_idset *train,
                          ft_idset *test, ft_error *err);

/* Identities by name from a comma-separated list ("s38,s39,s40"); an unknown
 * name is FT_EINVAL naming it. */
ft_status ft_dataset_find_ids(const ft_dataset *ds, const char *names, ft_idset *out,
                              ft_error *err);

/* Complement: every identity of ds not in s. */
ft_status ft_idset_complement(const ft_dataset *ds, const ft_idset *s, ft_idset *out, ft_error *err);

/* The images of the identities in s, ascending: *images (n) dataset image
 * indices and *labels (n) their identity indices. Caller frees both. */
ft_status ft_dataset_images(const ft_dataset *ds, const ft_idset *s, int32_t **images,
                            int32_t **labels, int *n, ft_error *err);

/* Comma-separated identity names of s into buf (truncated with "..." if needed). */
void ft_idset_names(const ft_dataset *ds, const ft_idset *s, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
