/* gallery.h — the durable gallery store behind facetwind (subjects and their face embeddings).
 *
 * The routes only see this interface; a backend is a table of functions (ft_gallery_ops),
 * so PostgreSQL can join SQLite (gallery_sqlite.c, the embedded default) without touching
 * the routes. Open by URL: "sqlite:PATH" (later "postgres:CONNINFO").
 *
 * Data model
 *   subject   id (1..FTG_MAX_ID bytes of [A-Za-z0-9._:@-]), metadata (a JSON object text, may be "{}"),
 *             created (unix seconds). A subject exists while it has at least one face.
 *   face      face_id (positive int64, unique, never reused), subject, model_id (the model that
 *             made the embedding), dim, the embedding (dim float32), created.
 *   idempotency record  key (client's Idempotency-Key) -> request fingerprint + the response
 *             JSON stored in the SAME transaction as the faces it acknowledges.
 * Embeddings only: raw images are never passed to, or stored by, the gallery.
 *
 * Durability: a call that returns FT_OK for a write has committed it (SQLite: WAL +
 * synchronous=FULL), so it survives kill -9 and power loss of the process.
 *
 * Threads: one ft_gallery may be called from many threads; the backend serialises
 * internally. Errors are FT_EIO (store unusable, message has no file paths unless it is the
 * open call), FT_EINVAL (bad argument), FT_EMISMATCH (idempotency key reused with a
 * different request), FT_EVERSION (schema newer than this binary). The open call may also
 * give FT_ECORRUPT (not an SQLite file, or a damaged one), FT_EFORMAT (an SQLite file of
 * another application) and FT_EUNSUPPORTED (unknown URL scheme); a stored embedding whose
 * size disagrees with its dim is FT_ECORRUPT on read.
 *
 * Ownership: every out-structure filled by the gallery owns its memory; release it with the
 * matching ft_gallery_*_free function. Inputs are only read.
 */
#ifndef FACETWIN_SERVER_GALLERY_H
#define FACETWIN_SERVER_GALLERY_H

#include <stddef.h>
#include <stdint.h>

#include "facetwin/status.h"

#define FTG_MAX_ID 128          /* subject id bytes */
#define FTG_MAX_MODEL_ID 127
#define FTG_MAX_IDEM_KEY 255
#define FTG_SCHEMA_VERSION 2   /* current schema; older files are migrated on open */

typedef struct {
    int64_t face_id;
    char subject_id[FTG_MAX_ID + 1];
    char model_id[FTG_MAX_MODEL_ID + 1];
    int dim;
    float *embedding;   /* dim floats (owned); NULL in listings that omit vectors */
    int64_t created;
} ftg_face;

typedef struct {
    char id[FTG_MAX_ID + 1];
    char *metadata_json;   /* owned, never NULL ("{}" when none) */
    int64_t created;
    int n_faces;           /* all faces */
    int n_faces_model;     /* faces made by the model_id asked about (see calls) */
    ftg_face *faces;       /* n_faces entries in ft_gallery_get_subject, else NULL */
} ftg_subject;

typedef struct {
    ftg_subject *items;
    int n;
    char next_cursor[FTG_MAX_ID + 1]; /* "" when this is the last page */
} ftg_page;

/* What one enrollment stores. */
typedef struct {
    const char *subject_id;
    const char *metadata_json;  /* NULL = keep existing (or "{}" for a new subject) */
    const char *model_id;
    int dim;
    int n;                      /* number of embeddings */
    const float *embeddings;    /* n x dim */
    const char *idem_key;       /* NULL or "" = none */
    const char *fingerprint;    /* request fingerprint (hex) when idem_key is set */
    const char *response_json;  /* stored with the key; returned on replay */
    /* Optional (added with the SQLite backend): a response usually names the new face ids,
     * which only exist inside the enrollment transaction. When set, make_response is called
     * there with them and its malloc'd JSON text is stored with idem_key instead of
     * response_json, and handed back in res->response_json. NULL from it rolls the
     * enrollment back (FT_ENOMEM). It runs under the gallery lock: it must not call the
     * gallery. Zero-initialised requests keep the plain response_json behaviour. */
    char *(*make_response)(void *ctx, const char *subject_id, const int64_t *face_ids, int n);
    void *make_response_ctx;
} ftg_enroll_req;

typedef struct {
    int replayed;              /* 1: the key was seen before; nothing new was stored */
    int n;                     /* new face ids (0 when replayed) */
    int64_t *face_ids;         /* owned */
    char *response_json;       /* owned: the stored response when replayed, the one
                                  make_response built when fresh, else NULL */
} ftg_enroll_res;

/* What a deletion removed (for the response and for the in-memory index/caches). */
typedef struct {
    int subject_removed;       /* 1 if the subject row went away */
    int n;                     /* faces removed */
    int64_t *face_ids;         /* owned, ascending */
    ftg_face *faces;           /* owned: the n removed faces, vectors included, same order
                                  (added: what ft_cache_forget_vector needs) */
} ftg_deleted;

typedef struct ft_gallery ft_gallery;

/* Opens (creating if needed, migrating older schemas) the store named by url. */
ft_status ft_gallery_open(const char *url, ft_gallery **out, ft_error *err);
void ft_gallery_close(ft_gallery *g);

/* Human-readable backend name ("sqlite"). */
const char *ft_gallery_backend(const ft_gallery *g);

/* 1 if a write can be committed right now (readiness probe: a tiny write transaction). */
int ft_gallery_writable(ft_gallery *g);

/* Stores req's embeddings in one transaction; see ftg_enroll_res. With an idem_key that was
 * already used: same fingerprint -> replayed=1 and the stored response; different fingerprint
 * -> FT_EMISMATCH. */
ft_status ft_gallery_enroll(ft_gallery *g, const ftg_enroll_req *req, ftg_enroll_res *res,
                            ft_error *err);
void ft_gallery_enroll_res_free(ftg_enroll_res *res);

/* Bulk load for tools and benchmarks: n requests (no idempotency keys) in ONE transaction;
 * face ids are not returned. */
ft_status ft_gallery_enroll_bulk(ft_gallery *g, const ftg_enroll_req *reqs, int n, ft_error *err);

/* One subject with all its faces (vectors included); model_id counts n_faces_model
 * (model_id NULL: n_faces_model = 0). An invalid subject id is FT_EINVAL.
 * FT_EINVAL with message "not found" style is NOT used: returns FT_OK and *found = 0. */
ft_status ft_gallery_get_subject(ft_gallery *g, const char *subject_id, const char *model_id,
                                 ftg_subject *out, int *found, ft_error *err);
void ft_gallery_subject_free(ftg_subject *s);

/* Subjects ordered by id (bytewise), ids > cursor ("" or NULL = from the start), at most
 * limit (1..1000); faces = NULL; n_faces_model counts model_id's faces (NULL: 0). One query. */
ft_status ft_gallery_list(ft_gallery *g, const char *cursor, int limit, const char *model_id,
                          ftg_page *out, ft_error *err);
void ft_gallery_page_free(ftg_page *p);

/* Deletes a subject and all its faces (and idempotency records naming it). *found = 0 if absent. */
ft_status ft_gallery_delete_subject(ft_gallery *g, const char *subject_id, ftg_deleted *out,
                                    int *found, ft_error *err);
/* Deletes one face of a subject; the subject goes too when it was its last face. */
ft_status ft_gallery_delete_face(ft_gallery *g, const char *subject_id, int64_t face_id,
                                 ftg_deleted *out, int *found, ft_error *err);
void ft_gallery_deleted_free(ftg_deleted *d);

/* Streams every face made by model_id (vectors included) to fn in face_id order; fn returns
 * non-zero to stop (then FT_EINTERRUPTED). The face passed to fn is only valid during the call.
 * model_id NULL streams every face. fn runs under the gallery lock: it must not call the
 * gallery, and writers wait until the scan ends. */
typedef int (*ftg_face_fn)(void *ctx, const ftg_face *f);
ft_status ft_gallery_scan(ft_gallery *g, const char *model_id, ftg_face_fn fn, void *ctx,
                          ft_error *err);

/* Counts: subjects, all faces, faces by model_id (NULL: 0). Any out pointer may be NULL. */
ft_status ft_gallery_counts(ft_gallery *g, const char *model_id, int64_t *subjects,
                            int64_t *faces, int64_t *faces_model, ft_error *err);

/* 1 if id is a valid subject id (length and alphabet). */
int ft_gallery_valid_id(const char *id);

#endif
