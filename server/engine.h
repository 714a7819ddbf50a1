/* engine.h — the serving model: generations of loaded checkpoints, embedding through the
 * cache, and the gallery index that belongs to each model.
 *
 * A generation (ftd_gen) is one loaded checkpoint: N encoder instances (ft_net is not
 * thread-safe, so each worker borrows one), its threshold and ROC, and the index of the
 * gallery faces made by that model. Requests acquire the current generation and release it
 * when done; reload (SIGHUP or POST /v1/admin/reload) builds a complete new generation off
 * to the side and swaps the pointer — in-flight requests finish on the old one, which is
 * freed by whoever releases it last. A failed reload leaves the current generation serving.
 *
 * Writes to the gallery (enroll, delete) and the reload's index scan are serialised by one
 * mutex, so a face committed during a reload is in the new index or added to it afterwards.
 *
 * Ownership: the engine owns its generations, the cache and (borrowed) the gallery stays
 * the caller's.
 */
#ifndef FACETWIN_SERVER_ENGINE_H
#define FACETWIN_SERVER_ENGINE_H

#include <pthread.h>
#include <stdint.h>

#include "cache.h"
#include "facetwin/align.h"
#include "facetwin/model.h"
#include "facetwin/photo.h"
#include "facetwin/pipeline.h"
#include "gallery.h"
#include "index.h"

typedef struct ftd_gen {
    ft_model *inst;          /* n_inst loaded copies of the checkpoint */
    ft_pipeline *pipe;       /* per instance: the checkpoint's detector + landmark nets (if any) */
    int has_pipeline;        /* the checkpoint carries ssd + landmarks: photos are detected */
    int n_inst;
    int *free_inst, n_free;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const ft_model *m;       /* = &inst[0]: threshold, roc, meta, model_id */
    int dim;
    ftd_index *index;        /* gallery faces made by this model */
    int refs;                /* guarded by the engine's mutex */
    char loaded_at[32];      /* RFC 3339 UTC */
} ftd_gen;

typedef struct {
    pthread_mutex_t mu;      /* guards cur and refs */
    pthread_mutex_t write_mu;/* gallery writes + reload scans */
    pthread_mutex_t reload_mu;
    ftd_gen *cur;
    char *model_path;
    int n_inst, search_threads;
    ft_cache *cache;
    ft_gallery *gallery;     /* borrowed */
    uint64_t max_pixels;
} ftd_engine;

/* A cached photo embedding carries its face record after the embedding: box x, y, w, h, score,
 * faces detected, then 68 (x, y) landmarks. */
#define FTD_FACE_REC (5 + 1 + 2 * FT_LANDMARKS)

typedef struct {
    int cache_hit;
    double decode_ms, encode_ms;
    int used_pipeline;   /* the face below is filled */
    int faces_detected;
    ft_face face;        /* box (score in box.score) and landmarks */
} ftd_embed_info;

/* Loads the checkpoint (n_inst copies), builds the index from the gallery. On failure
 * everything is released (do not call ftd_engine_destroy). */
ft_status ftd_engine_init(ftd_engine *e, const char *model_path, int n_inst, int search_threads,
                          size_t cache_bytes, uint64_t max_pixels, ft_gallery *g, ft_error *err);
void ftd_engine_destroy(ftd_engine *e);

ftd_gen *ftd_engine_acquire(ftd_engine *e);
void ftd_engine_release(ftd_engine *e, ftd_gen *g);

/* Re-reads the configured checkpoint; on success prev (if non-NULL) gets the old model id.
 * On failure the old generation keeps serving and err says why (no file path in it). */
ft_status ftd_engine_reload(ftd_engine *e, char prev[128], ft_error *err);

/* The cache key of an image under these options: SHA-256 of the bytes, mixed with the face
 * choice when the photo goes through detection. Returns the cached vector's length
 * (g->dim, or g->dim + FTD_FACE_REC for a detected photo). */
int ftd_cache_key(const ftd_gen *g, const uint8_t *bytes, size_t n, const ft_photo_opts *o,
                  uint8_t key[FT_CACHE_KEY_BYTES]);

/* Unpacks a cached vector of length ftd_cache_key's into out (g->dim) and info's face. */
void ftd_unpack_cached(const ftd_gen *g, const float *vec, int len, float *out, ftd_embed_info *info);

/* Image bytes -> embedding (g->dim floats) through the cache; a photo goes through detection,
 * landmarks and alignment first when the model carries the pipeline and o->detect is set.
 * known_miss: the key from ftd_cache_key when the caller already looked it up and missed (skips
 * the digest and the lookup), else NULL. A photo without a usable face: FT_ENOFACE or
 * FT_EMANYFACES (ft_photo_input's policy). */
ft_status ftd_embed(ftd_engine *e, ftd_gen *g, const uint8_t *bytes, size_t n, const ft_photo_opts *o,
                    const uint8_t *known_miss, float *out, ftd_embed_info *info, ft_error *err);

#endif
