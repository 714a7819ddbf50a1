/* index.h — the in-memory gallery index: every face embedding of the current model as one
 * row-major float matrix, for 1:N identification with BLAS and 1:1 subject verification.
 *
 * Rows are packed (a deletion moves the last row into the hole), each with its face id,
 * squared norm and subject. Subjects map to their rows through a hash table. Squared
 * distances come from |q|^2 + |g|^2 - 2 q.g, the dot products from cblas_sgemv over blocks
 * of rows; identification splits the matrix across threads for large galleries.
 *
 * Threads: searches take a read lock, mutations a write lock; all calls are thread-safe.
 * Ownership: the index copies what it is given.
 */
#ifndef FACETWIN_SERVER_INDEX_H
#define FACETWIN_SERVER_INDEX_H

#include <stdint.h>

#include "gallery.h"

#define FTD_MAX_K 100
#define FTD_INDEX_PARALLEL_ROWS 65536  /* split a search across threads above this */

typedef struct ftd_index ftd_index;

typedef struct {
    char subject_id[FTG_MAX_ID + 1];
    float distance;
    int64_t face_id;
} ftd_match;

ftd_index *ftd_index_new(int dim, int search_threads);
void ftd_index_free(ftd_index *ix);
int ftd_index_dim(const ftd_index *ix);

/* Adds one face; 0 on success, -1 on OOM or bad subject id. */
int ftd_index_add(ftd_index *ix, const char *subject_id, int64_t face_id, const float *emb);
/* Removes one face / all faces of a subject; returns how many rows went. */
int ftd_index_remove_face(ftd_index *ix, int64_t face_id);
int ftd_index_remove_subject(ftd_index *ix, const char *subject_id);

void ftd_index_counts(ftd_index *ix, int64_t *faces, int64_t *subjects);

/* Distance from q to the subject's nearest face: 1 and (dist, face_id) if the subject has
 * rows, else 0. */
int ftd_index_nearest_in_subject(ftd_index *ix, const char *subject_id, const float *q,
                                 float *dist, int64_t *face_id);
/* Smallest distance between any face of a and any face of b; 1 if both have rows. */
int ftd_index_subject_distance(ftd_index *ix, const char *a, const char *b, float *dist,
                               int64_t *face_a, int64_t *face_b);

/* The k nearest distinct subjects (by their nearest face) with distance <= max_dist,
 * nearest first; returns the count (<= k <= FTD_MAX_K), or -1 when out of memory.
 * *searched = rows compared. */
int ftd_index_search(ftd_index *ix, const float *q, int k, float max_dist, ftd_match *out,
                     int64_t *searched);

#endif
