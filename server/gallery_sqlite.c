/* gallery_sqlite.c — the gallery store (gallery.h): the ft_gallery_* dispatch and the
 * embedded SQLite backend.
 *
 * Dispatch. ft_gallery_open picks a backend by URL scheme from k_backends; every public
 * call validates its arguments here (backend-independent: ids, dims, JSON metadata,
 * finite vectors) and then goes through the backend's ops table. Only "sqlite:PATH"
 * exists today; when "postgres:" lands, the ops struct moves to a private header and
 * this first part to gallery.c, unchanged.
 *
 * SQLite backend. One connection per store, guarded by one pthread mutex (the daemon
 * calls from many threads; SQLite's own mutexes are off: SQLITE_OPEN_NOMUTEX). Prepared
 * statements are cached on the connection (k_sql, prepared on first use, reset after
 * every use so no statement keeps a read transaction open). The file runs in WAL mode
 * with synchronous=FULL: a commit fsyncs the WAL before it returns, so a write that
 * returned FT_OK survives kill -9 and power loss. SQLite fsyncs the directory when it
 * creates the WAL, which also makes a freshly created database file's name durable
 * (same directory). Every write is one BEGIN IMMEDIATE ... COMMIT transaction (the
 * write lock is taken up front, so no upgrade deadlock with another process); any
 * failure rolls back. busy_timeout covers another process holding the lock.
 *
 * Schema (PRAGMA user_version; k_migrations[v] takes a file from v to v+1, each step in
 * its own transaction, so a crash mid-migration leaves a consistent older version):
 *   v1  subjects(id TEXT PK, metadata TEXT NOT NULL, created INTEGER NOT NULL)
 *       faces(face_id INTEGER PK AUTOINCREMENT, subject_id TEXT NOT NULL REFERENCES
 *             subjects ON DELETE CASCADE, model_id TEXT NOT NULL, dim INTEGER NOT NULL,
 *             created INTEGER NOT NULL, embedding BLOB NOT NULL), index faces(subject_id)
 *   v2  idempotency(key TEXT PK, subject_id REFERENCES subjects ON DELETE CASCADE,
 *             fingerprint, response, created), index idempotency(subject_id),
 *       index faces(model_id), meta(key PK, value) with the 'probe' row for writable().
 * AUTOINCREMENT keeps face ids unique for the life of the file (never reused after a
 * delete). The embedding is the last column so counting queries never touch overflow
 * pages. It is dim float32 exactly as in memory (little-endian, checked at compile
 * time); its size is checked against dim on every read (FT_ECORRUPT otherwise). A file
 * whose user_version is newer than FTG_SCHEMA_VERSION is refused (FT_EVERSION), as is an
 * SQLite file that is not a gallery (foreign application_id, or tables but version 0).
 *
 * writable() commits a one-row update of meta('probe') (a rollback would not reach the
 * disk, so a full or read-only filesystem would go unnoticed): one small WAL fsync per
 * readiness probe. A read-only file or directory still opens for reading.
 *
 * Deletion really deletes: secure_delete=ON zeroes deleted rows in the file, the
 * subject's idempotency records go with it (foreign-key cascade), and a delete is
 * followed by a TRUNCATE checkpoint so the old pages do not linger in the WAL either.
 *
 * Messages: the open call names the path; later messages never do (SQLite's messages
 * name tables and constraints, not files). One line each.
 */
#include "gallery.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gallery embeddings are stored as in-memory float32: this backend assumes a little-endian host"
#endif

#define FTG_MAX_DIM 65536
#define FTG_LIST_MAX_LIMIT 1000
#define FTG_SQLITE_SCHEME "sqlite:"
#define FTG_BUSY_TIMEOUT_MS 5000
#define FTG_CACHE_KIB 16384                  /* page cache per connection (bulk loads) */
#define FTG_WAL_KEEP_BYTES (64 * 1024 * 1024) /* WAL truncated to this after checkpoints */
#define FTG_APPLICATION_ID 0x46546731        /* "FTg1" in the SQLite header */
#define FTG_DEFAULT_METADATA "{}"

/* ================================================================ dispatch ===== */

typedef struct {
    const char *name;
    const char *scheme; /* URL prefix, e.g. "sqlite:" */
    ft_status (*open)(const char *target, void **impl, ft_error *err);
    void (*close)(void *impl);
    int (*writable)(void *impl);
    ft_status (*enroll)(void *impl, const ftg_enroll_req *req, ftg_enroll_res *res, ft_error *err);
    ft_status (*enroll_bulk)(void *impl, const ftg_enroll_req *reqs, int n, ft_error *err);
    ft_status (*get_subject)(void *impl, const char *subject_id, const char *model_id, ftg_subject *out,
                             int *found, ft_error *err);
    ft_status (*list)(void *impl, const char *cursor, int limit, const char *model_id, ftg_page *out,
                      ft_error *err);
    ft_status (*delete_subject)(void *impl, const char *subject_id, ftg_deleted *out, int *found,
                                ft_error *err);
    ft_status (*delete_face)(void *impl, const char *subject_id, int64_t face_id, ftg_deleted *out,
                             int *found, ft_error *err);
    ft_status (*scan)(void *impl, const char *model_id, ftg_face_fn fn, void *ctx, ft_error *err);
    ft_status (*counts)(void *impl, const char *model_id, int64_t *subjects, int64_t *faces,
                        int64_t *faces_model, ft_error *err);
} ft_gallery_ops;

struct ft_gallery {
    const ft_gallery_ops *ops;
    void *impl;
};

static const ft_gallery_ops k_sqlite_ops; /* defined at the end of the file */
static const ft_gallery_ops *const k_backends[] = {&k_sqlite_ops};
#define FTG_N_BACKENDS (sizeof k_backends / sizeof k_backends[0])

int ft_gallery_valid_id(const char *id)
{
    if (!id) return 0;
    size_t n = 0;
    for (const char *p = id; *p; p++, n++) {
        char c = *p;
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                 c == '_' || c == ':' || c == '@' || c == '-';
        if (!ok || n >= FTG_MAX_ID) return 0;
    }
    return n >= 1;
}

/* 1..max bytes of printable ASCII without spaces (model ids, idempotency keys). */
static int valid_token(const char *s, size_t max)
{
    if (!s || !*s) return 0;
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= max || s[n] < '!' || s[n] > '~') return 0;
    return 1;
}

static int is_json_object(const char *text)
{
    cJSON *j = cJSON_ParseWithOpts(text, NULL, 1);
    int ok = cJSON_IsObject(j);
    cJSON_Delete(j);
    return ok;
}

/* Checks one enrollment; bulk = no idempotency allowed. */
static ft_status check_enroll(const ftg_enroll_req *r, int bulk, ft_error *err)
{
    if (!r) return ft_error_set(err, FT_EINVAL, "no enrollment request");
    if (!ft_gallery_valid_id(r->subject_id))
        return ft_error_set(err, FT_EINVAL, "subject id must be 1..%d bytes of [A-Za-z0-9._:@-]", FTG_MAX_ID);
    if (!valid_token(r->model_id, FTG_MAX_MODEL_ID))
        return ft_error_set(err, FT_EINVAL, "model id must be 1..%d printable bytes", FTG_MAX_MODEL_ID);
    if (r->dim < 1 || r->dim > FTG_MAX_DIM)
        return ft_error_set(err, FT_EINVAL, "embedding dimension %d is not in 1..%d", r->dim, FTG_MAX_DIM);
    if (r->n < 1 || !r->embeddings) return ft_error_set(err, FT_EINVAL, "an enrollment needs at least one embedding");
    size_t count = (size_t)r->n * (size_t)r->dim;
    for (size_t i = 0; i < count; i++)
        if (!isfinite(r->embeddings[i]))
            return ft_error_set(err, FT_EINVAL, "embedding %zu has a non-finite value", i / (size_t)r->dim);
    if (r->metadata_json && !is_json_object(r->metadata_json))
        return ft_error_set(err, FT_EINVAL, "metadata must be a JSON object");
    int has_key = r->idem_key && *r->idem_key;
    if (bulk && has_key) return ft_error_set(err, FT_EINVAL, "bulk enrollment takes no Idempotency-Key");
    if (has_key) {
        if (!valid_token(r->idem_key, FTG_MAX_IDEM_KEY))
            return ft_error_set(err, FT_EINVAL, "Idempotency-Key must be 1..%d printable bytes", FTG_MAX_IDEM_KEY);
        if (!r->fingerprint || !*r->fingerprint)
            return ft_error_set(err, FT_EINVAL, "an Idempotency-Key needs a request fingerprint");
        if (!r->response_json && !r->make_response)
            return ft_error_set(err, FT_EINVAL, "an Idempotency-Key needs a response to store");
    }
    return FT_OK;
}

static ft_status check_subject_id(const char *id, ft_error *err)
{
    if (ft_gallery_valid_id(id)) return FT_OK;
    return ft_error_set(err, FT_EINVAL, "subject id must be 1..%d bytes of [A-Za-z0-9._:@-]", FTG_MAX_ID);
}

static ft_status check_model_filter(const char *model_id, ft_error *err)
{
    if (!model_id || valid_token(model_id, FTG_MAX_MODEL_ID)) return FT_OK;
    return ft_error_set(err, FT_EINVAL, "model id must be 1..%d printable bytes", FTG_MAX_MODEL_ID);
}

ft_status ft_gallery_open(const char *url, ft_gallery **out, ft_error *err)
{
    if (!out) return ft_error_set(err, FT_EINVAL, "gallery open: no output");
    *out = NULL;
    if (!url) return ft_error_set(err, FT_EINVAL, "gallery open: no URL");
    for (size_t i = 0; i < FTG_N_BACKENDS; i++) {
        const ft_gallery_ops *ops = k_backends[i];
        size_t n = strlen(ops->scheme);
        if (strncmp(url, ops->scheme, n) != 0) continue;
        if (!url[n]) return ft_error_set(err, FT_EINVAL, "gallery URL '%s' names no store", url);
        ft_gallery *g = calloc(1, sizeof *g);
        if (!g) return ft_error_set(err, FT_ENOMEM, "gallery open: out of memory");
        g->ops = ops;
        ft_status st = ops->open(url + n, &g->impl, err);
        if (st != FT_OK) {
            free(g);
            return st;
        }
        *out = g;
        return FT_OK;
    }
    return ft_error_set(err, FT_EUNSUPPORTED, "gallery URL '%s': unknown backend (expected sqlite:PATH)", url);
}

void ft_gallery_close(ft_gallery *g)
{
    if (!g) return;
    g->ops->close(g->impl);
    free(g);
}

const char *ft_gallery_backend(const ft_gallery *g) { return g ? g->ops->name : "none"; }

int ft_gallery_writable(ft_gallery *g) { return g ? g->ops->writable(g->impl) : 0; }

ft_status ft_gallery_enroll(ft_gallery *g, const ftg_enroll_req *req, ftg_enroll_res *res, ft_error *err)
{
    if (!g || !res) return ft_error_set(err, FT_EINVAL, "enroll: no gallery or result");
    memset(res, 0, sizeof *res);
    ft_status st = check_enroll(req, 0, err);
    return st != FT_OK ? st : g->ops->enroll(g->impl, req, res, err);
}

ft_status ft_gallery_enroll_bulk(ft_gallery *g, const ftg_enroll_req *reqs, int n, ft_error *err)
{
    if (!g || n < 0 || (n > 0 && !reqs)) return ft_error_set(err, FT_EINVAL, "bulk enroll: bad arguments");
    for (int i = 0; i < n; i++) {
        ft_status st = check_enroll(&reqs[i], 1, err);
        if (st != FT_OK) {
            char where[32];
            snprintf(where, sizeof where, "request %d", i);
            return ft_error_prefix(err, where);
        }
    }
    return n == 0 ? FT_OK : g->ops->enroll_bulk(g->impl, reqs, n, err);
}

ft_status ft_gallery_get_subject(ft_gallery *g, const char *subject_id, const char *model_id,
                                 ftg_subject *out, int *found, ft_error *err)
{
    if (!g || !out || !found) return ft_error_set(err, FT_EINVAL, "get subject: bad arguments");
    memset(out, 0, sizeof *out);
    *found = 0;
    ft_status st = check_subject_id(subject_id, err);
    if (st == FT_OK) st = check_model_filter(model_id, err);
    return st != FT_OK ? st : g->ops->get_subject(g->impl, subject_id, model_id, out, found, err);
}

ft_status ft_gallery_list(ft_gallery *g, const char *cursor, int limit, const char *model_id, ftg_page *out,
                          ft_error *err)
{
    if (!g || !out) return ft_error_set(err, FT_EINVAL, "list: bad arguments");
    memset(out, 0, sizeof *out);
    if (!cursor) cursor = "";
    if (*cursor && !ft_gallery_valid_id(cursor)) return ft_error_set(err, FT_EINVAL, "list: invalid cursor");
    if (limit < 1 || limit > FTG_LIST_MAX_LIMIT)
        return ft_error_set(err, FT_EINVAL, "list: limit %d is not in 1..%d", limit, FTG_LIST_MAX_LIMIT);
    ft_status st = check_model_filter(model_id, err);
    return st != FT_OK ? st : g->ops->list(g->impl, cursor, limit, model_id, out, err);
}

ft_status ft_gallery_delete_subject(ft_gallery *g, const char *subject_id, ftg_deleted *out, int *found,
                                    ft_error *err)
{
    if (!g || !out || !found) return ft_error_set(err, FT_EINVAL, "delete subject: bad arguments");
    memset(out, 0, sizeof *out);
    *found = 0;
    ft_status st = check_subject_id(subject_id, err);
    return st != FT_OK ? st : g->ops->delete_subject(g->impl, subject_id, out, found, err);
}

ft_status ft_gallery_delete_face(ft_gallery *g, const char *subject_id, int64_t face_id, ftg_deleted *out,
                                 int *found, ft_error *err)
{
    if (!g || !out || !found) return ft_error_set(err, FT_EINVAL, "delete face: bad arguments");
    memset(out, 0, sizeof *out);
    *found = 0;
    ft_status st = check_subject_id(subject_id, err);
    if (st != FT_OK) return st;
    if (face_id < 1) return FT_OK; /* face ids are positive: nothing to find */
    return g->ops->delete_face(g->impl, subject_id, face_id, out, found, err);
}

ft_status ft_gallery_scan(ft_gallery *g, const char *model_id, ftg_face_fn fn, void *ctx, ft_error *err)
{
    if (!g || !fn) return ft_error_set(err, FT_EINVAL, "scan: bad arguments");
    ft_status st = check_model_filter(model_id, err);
    return st != FT_OK ? st : g->ops->scan(g->impl, model_id, fn, ctx, err);
}

ft_status ft_gallery_counts(ft_gallery *g, const char *model_id, int64_t *subjects, int64_t *faces,
                            int64_t *faces_model, ft_error *err)
{
    if (!g) return ft_error_set(err, FT_EINVAL, "counts: no gallery");
    ft_status st = check_model_filter(model_id, err);
    return st != FT_OK ? st : g->ops->counts(g->impl, model_id, subjects, faces, faces_model, err);
}

void ft_gallery_enroll_res_free(ftg_enroll_res *res)
{
    if (!res) return;
    free(res->face_ids);
    free(res->response_json);
    memset(res, 0, sizeof *res);
}

static void faces_free(ftg_face *faces, int n)
{
    if (!faces) return;
    for (int i = 0; i < n; i++) free(faces[i].embedding);
    free(faces);
}

void ft_gallery_subject_free(ftg_subject *s)
{
    if (!s) return;
    free(s->metadata_json);
    faces_free(s->faces, s->n_faces);
    memset(s, 0, sizeof *s);
}

void ft_gallery_page_free(ftg_page *p)
{
    if (!p) return;
    if (p->items)
        for (int i = 0; i < p->n; i++) ft_gallery_subject_free(&p->items[i]);
    free(p->items);
    memset(p, 0, sizeof *p);
}

void ft_gallery_deleted_free(ftg_deleted *d)
{
    if (!d) return;
    free(d->face_ids);
    faces_free(d->faces, d->n);
    memset(d, 0, sizeof *d);
}

/* ========================================================== SQLite backend ===== */

/* Migration k takes user_version k to k+1 (the PRAGMA is set by the caller). */
static const char *const k_migrations[FTG_SCHEMA_VERSION] = {
    /* v0 -> v1: subjects and their faces */
    "CREATE TABLE subjects("
    " id TEXT PRIMARY KEY NOT NULL,"
    " metadata TEXT NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE faces("
    " face_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " subject_id TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,"
    " model_id TEXT NOT NULL,"
    " dim INTEGER NOT NULL,"
    " created INTEGER NOT NULL,"
    " embedding BLOB NOT NULL);"
    "CREATE INDEX faces_subject ON faces(subject_id);",
    /* v1 -> v2: idempotency records, faces by model, the probe row */
    "CREATE TABLE idempotency("
    " key TEXT PRIMARY KEY NOT NULL,"
    " subject_id TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,"
    " fingerprint TEXT NOT NULL,"
    " response TEXT NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE INDEX idempotency_subject ON idempotency(subject_id);"
    "CREATE INDEX faces_model ON faces(model_id);"
    "CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);"
    "INSERT INTO meta(key, value) VALUES('probe', 0);",
};

/* The cached statements: one per query the backend runs. */
enum {
    Q_BEGIN_READ,
    Q_BEGIN_WRITE,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_IDEM_GET,
    Q_IDEM_PUT,
    Q_SUBJECT_UPSERT,
    Q_FACE_PUT,
    Q_SUBJECT_GET,
    Q_FACES_OF_SUBJECT,
    Q_FACE_GET,
    Q_LIST,
    Q_SUBJECT_DELETE,
    Q_FACE_DELETE,
    Q_SUBJECT_FACE_COUNT,
    Q_SCAN_MODEL,
    Q_SCAN_ALL,
    Q_COUNTS,
    Q_PROBE,
    Q_COUNT_
};

#define FACE_COLUMNS "face_id, subject_id, model_id, dim, created, embedding"
enum { FC_ID, FC_SUBJECT, FC_MODEL, FC_DIM, FC_CREATED, FC_EMBEDDING }; /* FACE_COLUMNS order */

static const char *const k_sql[Q_COUNT_] = {
    [Q_BEGIN_READ] = "BEGIN DEFERRED",
    [Q_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_IDEM_GET] = "SELECT fingerprint, response FROM idempotency WHERE key = ?1",
    [Q_IDEM_PUT] = "INSERT INTO idempotency(key, subject_id, fingerprint, response, created)"
                   " VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_SUBJECT_UPSERT] = "INSERT INTO subjects(id, metadata, created) VALUES(?1, coalesce(?2, '" FTG_DEFAULT_METADATA
                         "'), ?3) ON CONFLICT(id) DO UPDATE SET metadata = coalesce(?2, metadata)",
    [Q_FACE_PUT] = "INSERT INTO faces(subject_id, model_id, dim, created, embedding) VALUES(?1, ?2, ?3, ?4, ?5)",
    [Q_SUBJECT_GET] = "SELECT metadata, created FROM subjects WHERE id = ?1",
    [Q_FACES_OF_SUBJECT] = "SELECT " FACE_COLUMNS " FROM faces WHERE subject_id = ?1 ORDER BY face_id",
    [Q_FACE_GET] = "SELECT " FACE_COLUMNS " FROM faces WHERE face_id = ?1 AND subject_id = ?2",
    [Q_LIST] = "SELECT s.id, s.metadata, s.created, count(f.face_id), coalesce(sum(f.model_id = ?2), 0)"
               " FROM subjects s LEFT JOIN faces f ON f.subject_id = s.id"
               " WHERE s.id > ?1 GROUP BY s.id ORDER BY s.id LIMIT ?3",
    [Q_SUBJECT_DELETE] = "DELETE FROM subjects WHERE id = ?1",
    [Q_FACE_DELETE] = "DELETE FROM faces WHERE face_id = ?1",
    [Q_SUBJECT_FACE_COUNT] = "SELECT count(*) FROM faces WHERE subject_id = ?1",
    [Q_SCAN_MODEL] = "SELECT " FACE_COLUMNS " FROM faces WHERE model_id = ?1 ORDER BY face_id",
    [Q_SCAN_ALL] = "SELECT " FACE_COLUMNS " FROM faces ORDER BY face_id",
    [Q_COUNTS] = "SELECT (SELECT count(*) FROM subjects), (SELECT count(*) FROM faces),"
                 " (SELECT count(*) FROM faces WHERE model_id = ?1)",
    [Q_PROBE] = "UPDATE meta SET value = value + 1 WHERE key = 'probe'",
};

typedef struct {
    sqlite3 *db;
    pthread_mutex_t lock;
    sqlite3_stmt *stmt[Q_COUNT_];
} sq_store;

static ft_status sq_status(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_NOMEM: return FT_ENOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return FT_ECORRUPT;
    default: return FT_EIO;
    }
}

/* Records the connection's last error for the operation `what` (no paths). */
static ft_status sq_fail(sq_store *s, int rc, const char *what, ft_error *err)
{
    return ft_error_set(err, sq_status(rc), "gallery: %s failed: %s", what, sqlite3_errmsg(s->db));
}

/* The cached statement q, prepared on first use; NULL (err set) on failure. */
static sqlite3_stmt *sq_stmt(sq_store *s, int q, ft_error *err)
{
    if (!s->stmt[q]) {
        int rc = sqlite3_prepare_v3(s->db, k_sql[q], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[q], NULL);
        if (rc != SQLITE_OK) {
            sq_fail(s, rc, "preparing a query", err);
            return NULL;
        }
    }
    return s->stmt[q];
}

static void sq_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no rows (BEGIN, COMMIT, DELETE, INSERT ...), bound by
 * the caller; resets it. */
static ft_status sq_exec(sq_store *s, sqlite3_stmt *st, const char *what, ft_error *err)
{
    int rc = sqlite3_step(st);
    ft_status r = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? FT_OK : sq_fail(s, rc, what, err);
    sq_done(st);
    return r;
}

static ft_status sq_simple(sq_store *s, int q, const char *what, ft_error *err)
{
    sqlite3_stmt *st = sq_stmt(s, q, err);
    return st ? sq_exec(s, st, what, err) : (err ? err->code : FT_EIO);
}

static ft_status sq_begin(sq_store *s, int write, ft_error *err)
{
    return sq_simple(s, write ? Q_BEGIN_WRITE : Q_BEGIN_READ, "starting a transaction", err);
}

static ft_status sq_commit(sq_store *s, ft_error *err) { return sq_simple(s, Q_COMMIT, "commit", err); }

/* Ends a failed (or read-only) transaction; SQLite may already have rolled it back. */
static void sq_rollback(sq_store *s)
{
    if (sqlite3_get_autocommit(s->db)) return;
    sq_simple(s, Q_ROLLBACK, "rollback", NULL);
}

static int64_t now_seconds(void) { return (int64_t)time(NULL); }

static void bind_text(sqlite3_stmt *st, int i, const char *text)
{
    if (text)
        sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Copies column col (text) into dst[cap]; FT_ECORRUPT if NULL or too long. */
static ft_status copy_column(sq_store *s, sqlite3_stmt *st, int col, char *dst, size_t cap, ft_error *err)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    if (!t) {
        if (sqlite3_errcode(s->db) == SQLITE_NOMEM) return ft_error_set(err, FT_ENOMEM, "gallery: out of memory");
        return ft_error_set(err, FT_ECORRUPT, "gallery: a stored text column is NULL");
    }
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    if (n >= cap) return ft_error_set(err, FT_ECORRUPT, "gallery: a stored id is %zu bytes, longer than allowed", n);
    memcpy(dst, t, n + 1);
    return FT_OK;
}

/* Fills f from a FACE_COLUMNS row and copies its vector into *buf (grown as needed,
 * *cap floats): buf NULL = f->embedding gets a fresh allocation. */
static ft_status read_face(sq_store *s, sqlite3_stmt *st, ftg_face *f, float **buf, size_t *cap, ft_error *err)
{
    memset(f, 0, sizeof *f);
    f->face_id = sqlite3_column_int64(st, FC_ID);
    f->dim = sqlite3_column_int(st, FC_DIM);
    f->created = sqlite3_column_int64(st, FC_CREATED);
    ft_status r = copy_column(s, st, FC_SUBJECT, f->subject_id, sizeof f->subject_id, err);
    if (r == FT_OK) r = copy_column(s, st, FC_MODEL, f->model_id, sizeof f->model_id, err);
    if (r != FT_OK) return r;
    const void *blob = sqlite3_column_blob(st, FC_EMBEDDING);
    size_t bytes = (size_t)sqlite3_column_bytes(st, FC_EMBEDDING);
    if (f->dim < 1 || f->dim > FTG_MAX_DIM || !blob || bytes != (size_t)f->dim * sizeof(float))
        return ft_error_set(err, FT_ECORRUPT, "gallery: face %lld: embedding is %zu bytes for dimension %d",
                            (long long)f->face_id, bytes, f->dim);
    float *dst;
    if (buf) {
        if (*cap < (size_t)f->dim) {
            float *grown = realloc(*buf, bytes);
            if (!grown) return ft_error_set(err, FT_ENOMEM, "gallery: out of memory reading an embedding");
            *buf = grown;
            *cap = (size_t)f->dim;
        }
        dst = *buf;
    } else {
        dst = malloc(bytes);
        if (!dst) return ft_error_set(err, FT_ENOMEM, "gallery: out of memory reading an embedding");
    }
    memcpy(dst, blob, bytes);
    f->embedding = dst;
    return FT_OK;
}

/* Appends one face to a growing array (*n used of *cap). */
static ft_status push_face(ftg_face **arr, int *n, int *cap, const ftg_face *f, ft_error *err)
{
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 4;
        ftg_face *grown = realloc(*arr, (size_t)nc * sizeof **arr);
        if (!grown) return ft_error_set(err, FT_ENOMEM, "gallery: out of memory");
        *arr = grown;
        *cap = nc;
    }
    (*arr)[(*n)++] = *f;
    return FT_OK;
}

/* ------------------------------------------------------------ open/close --- */

static void sq_close(void *impl)
{
    sq_store *s = impl;
    if (!s) return;
    for (int q = 0; q < Q_COUNT_; q++) sqlite3_finalize(s->stmt[q]);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* One integer from a single-row query (PRAGMA user_version, ...). */
static int sq_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            *out = 0;
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Connection settings. journal_mode=WAL is persistent; a read-only file already in
 * another mode cannot switch and is accepted (its writes fail anyway). */
static ft_status sq_configure(sq_store *s, const char *path, ft_error *err)
{
    char *msg = NULL;
    char sql[256];
    snprintf(sql, sizeof sql,
             "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;"
             " PRAGMA cache_size = -%d; PRAGMA journal_size_limit = %d;",
             FTG_CACHE_KIB, FTG_WAL_KEEP_BYTES);
    sqlite3_busy_timeout(s->db, FTG_BUSY_TIMEOUT_MS);
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            rc = SQLITE_OK;
            if ((!mode || strcmp(mode, "wal") != 0) && !sqlite3_db_readonly(s->db, "main")) {
                sqlite3_finalize(st);
                sqlite3_free(msg);
                return ft_error_set(err, FT_EIO, "%s: cannot switch the gallery to WAL journaling (mode %s)", path,
                                    mode ? mode : "?");
            }
        }
        sqlite3_finalize(st);
    }
    sqlite3_free(msg);
    if (rc == SQLITE_OK) return FT_OK;
    if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
        return ft_error_set(err, FT_ECORRUPT, "%s: not an SQLite database, or a corrupt one (%s)", path,
                            sqlite3_errstr(rc));
    return ft_error_set(err, sq_status(rc), "%s: cannot open the gallery: %s", path, sqlite3_errmsg(s->db));
}

/* Brings the schema to FTG_SCHEMA_VERSION, one transaction per step. */
static ft_status sq_migrate(sq_store *s, const char *path, ft_error *err)
{
    for (;;) {
        int64_t version = 0, app = 0, objects = 0;
        int rc = sq_int(s->db, "PRAGMA user_version", &version);
        if (rc == SQLITE_OK) rc = sq_int(s->db, "PRAGMA application_id", &app);
        if (rc == SQLITE_OK) rc = sq_int(s->db, "SELECT count(*) FROM sqlite_schema", &objects);
        if (rc != SQLITE_OK) {
            if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
                return ft_error_set(err, FT_ECORRUPT, "%s: not an SQLite database, or a corrupt one (%s)", path,
                                    sqlite3_errstr(rc));
            return ft_error_set(err, sq_status(rc), "%s: cannot read the gallery schema: %s", path,
                                sqlite3_errmsg(s->db));
        }
        if (version > FTG_SCHEMA_VERSION)
            return ft_error_set(err, FT_EVERSION,
                                "%s: gallery schema version %lld is newer than this build supports (%d); "
                                "upgrade facetwind",
                                path, (long long)version, FTG_SCHEMA_VERSION);
        if ((app != 0 && app != FTG_APPLICATION_ID) || (version == 0 && objects > 0))
            return ft_error_set(err, FT_EFORMAT, "%s: an SQLite database but not a facetwin gallery", path);
        if (version == FTG_SCHEMA_VERSION) return FT_OK;

        /* Re-read the version under the write lock: another process may have migrated. */
        char *msg = NULL;
        rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
        int64_t locked_version = version;
        if (rc == SQLITE_OK) rc = sq_int(s->db, "PRAGMA user_version", &locked_version);
        if (rc == SQLITE_OK && locked_version == version) {
            char tail[96];
            snprintf(tail, sizeof tail, "PRAGMA user_version = %lld; PRAGMA application_id = %d;",
                     (long long)version + 1, FTG_APPLICATION_ID);
            rc = sqlite3_exec(s->db, k_migrations[version], NULL, NULL, &msg);
            if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, tail, NULL, NULL, &msg);
        }
        if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            ft_status st = ft_error_set(err, sq_status(rc), "%s: migrating the gallery schema from version %lld failed: %s",
                                        path, (long long)version, msg ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
            if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return st;
        }
        sqlite3_free(msg);
    }
}

static ft_status sq_open(const char *path, void **impl, ft_error *err)
{
    *impl = NULL;
    sq_store *s = calloc(1, sizeof *s);
    if (!s) return ft_error_set(err, FT_ENOMEM, "%s: out of memory opening the gallery", path);
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return ft_error_set(err, FT_EIO, "%s: cannot create the gallery lock", path);
    }
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    int rc = sqlite3_open_v2(path, &s->db, flags, NULL);
    ft_status st = FT_OK;
    if (rc != SQLITE_OK)
        st = ft_error_set(err, sq_status(rc), "%s: cannot open the gallery: %s", path,
                          s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    if (st == FT_OK) st = sq_configure(s, path, err);
    if (st == FT_OK) st = sq_migrate(s, path, err);
    if (st != FT_OK) {
        sq_close(s);
        return st;
    }
    *impl = s;
    return FT_OK;
}

/* ----------------------------------------------------------------- writes --- */

static int sq_writable(void *impl)
{
    sq_store *s = impl;
    pthread_mutex_lock(&s->lock);
    int ok = 0;
    if (sq_begin(s, 1, NULL) == FT_OK) {
        sqlite3_stmt *st = sq_stmt(s, Q_PROBE, NULL);
        ok = st && sq_exec(s, st, "probe", NULL) == FT_OK && sqlite3_changes(s->db) == 1 &&
             sq_commit(s, NULL) == FT_OK;
        sq_rollback(s);
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

/* Upserts the subject and inserts its faces (ids into ids[] when non-NULL). Inside a
 * write transaction. */
static ft_status put_enrollment(sq_store *s, const ftg_enroll_req *r, int64_t created, int64_t *ids, ft_error *err)
{
    sqlite3_stmt *st = sq_stmt(s, Q_SUBJECT_UPSERT, err);
    if (!st) return err ? err->code : FT_EIO;
    bind_text(st, 1, r->subject_id);
    bind_text(st, 2, r->metadata_json);
    sqlite3_bind_int64(st, 3, created);
    ft_status res = sq_exec(s, st, "storing the subject", err);
    if (res != FT_OK) return res;
    if (!(st = sq_stmt(s, Q_FACE_PUT, err))) return err ? err->code : FT_EIO;
    const int bytes = r->dim * (int)sizeof(float);
    for (int i = 0; i < r->n; i++) {
        bind_text(st, 1, r->subject_id);
        bind_text(st, 2, r->model_id);
        sqlite3_bind_int(st, 3, r->dim);
        sqlite3_bind_int64(st, 4, created);
        sqlite3_bind_blob(st, 5, r->embeddings + (size_t)i * (size_t)r->dim, bytes, SQLITE_STATIC);
        if ((res = sq_exec(s, st, "storing a face", err)) != FT_OK) return res;
        if (ids) ids[i] = sqlite3_last_insert_rowid(s->db);
    }
    return FT_OK;
}

/* Looks the key up: *hit = 1 with res filled on a replay, FT_EMISMATCH for another request. */
static ft_status idem_lookup(sq_store *s, const ftg_enroll_req *r, ftg_enroll_res *res, int *hit, ft_error *err)
{
    *hit = 0;
    sqlite3_stmt *st = sq_stmt(s, Q_IDEM_GET, err);
    if (!st) return err ? err->code : FT_EIO;
    bind_text(st, 1, r->idem_key);
    int rc = sqlite3_step(st);
    ft_status out = FT_OK;
    if (rc == SQLITE_ROW) {
        *hit = 1;
        const char *fp = (const char *)sqlite3_column_text(st, 0);
        const char *resp = (const char *)sqlite3_column_text(st, 1);
        if (!fp || strcmp(fp, r->fingerprint) != 0) {
            out = ft_error_set(err, FT_EMISMATCH, "Idempotency-Key was used with a different request");
        } else if (!(res->response_json = strdup(resp ? resp : ""))) {
            out = ft_error_set(err, FT_ENOMEM, "gallery: out of memory");
        } else {
            res->replayed = 1;
        }
    } else if (rc != SQLITE_DONE) {
        out = sq_fail(s, rc, "idempotency lookup", err);
    }
    sq_done(st);
    return out;
}

static ft_status idem_store(sq_store *s, const ftg_enroll_req *r, const char *response, int64_t created, ft_error *err)
{
    sqlite3_stmt *st = sq_stmt(s, Q_IDEM_PUT, err);
    if (!st) return err ? err->code : FT_EIO;
    bind_text(st, 1, r->idem_key);
    bind_text(st, 2, r->subject_id);
    bind_text(st, 3, r->fingerprint);
    bind_text(st, 4, response);
    sqlite3_bind_int64(st, 5, created);
    return sq_exec(s, st, "storing the idempotency record", err);
}

static ft_status sq_enroll(void *impl, const ftg_enroll_req *r, ftg_enroll_res *res, ft_error *err)
{
    sq_store *s = impl;
    const int keyed = r->idem_key && *r->idem_key;
    int64_t *ids = malloc((size_t)r->n * sizeof *ids);
    if (!ids) return ft_error_set(err, FT_ENOMEM, "gallery: out of memory");
    char *built = NULL;
    const int64_t created = now_seconds();

    pthread_mutex_lock(&s->lock);
    int hit = 0;
    ft_status st = sq_begin(s, 1, err);
    if (st == FT_OK && keyed) st = idem_lookup(s, r, res, &hit, err);
    if (st == FT_OK && !hit) st = put_enrollment(s, r, created, ids, err);
    if (st == FT_OK && !hit && r->make_response) {
        built = r->make_response(r->make_response_ctx, r->subject_id, ids, r->n);
        if (!built) st = ft_error_set(err, FT_ENOMEM, "gallery: building the enrollment response failed");
    }
    if (st == FT_OK && !hit && keyed) st = idem_store(s, r, built ? built : r->response_json, created, err);
    if (st == FT_OK && !hit) st = sq_commit(s, err);
    sq_rollback(s); /* a replay, or a failure: nothing to keep */
    pthread_mutex_unlock(&s->lock);

    if (st != FT_OK || hit) {
        free(ids);
        free(built);
        if (st != FT_OK) ft_gallery_enroll_res_free(res);
        return st;
    }
    res->n = r->n;
    res->face_ids = ids;
    res->response_json = built;
    return FT_OK;
}

static ft_status sq_enroll_bulk(void *impl, const ftg_enroll_req *reqs, int n, ft_error *err)
{
    sq_store *s = impl;
    const int64_t created = now_seconds();
    pthread_mutex_lock(&s->lock);
    ft_status st = sq_begin(s, 1, err);
    for (int i = 0; i < n && st == FT_OK; i++) st = put_enrollment(s, &reqs[i], created, NULL, err);
    if (st == FT_OK) st = sq_commit(s, err);
    sq_rollback(s);
    pthread_mutex_unlock(&s->lock);
    return st;
}

/* ------------------------------------------------------------------ reads --- */

/* Loads the subject row and all its faces into out. Inside a transaction. */
static ft_status load_subject(sq_store *s, const char *id, const char *model_id, ftg_subject *out, int *found,
                              ft_error *err)
{
    sqlite3_stmt *st = sq_stmt(s, Q_SUBJECT_GET, err);
    if (!st) return err ? err->code : FT_EIO;
    bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    ft_status r = FT_OK;
    if (rc == SQLITE_ROW) {
        const char *meta = (const char *)sqlite3_column_text(st, 0);
        out->created = sqlite3_column_int64(st, 1);
        snprintf(out->id, sizeof out->id, "%s", id);
        if (!(out->metadata_json = strdup(meta ? meta : FTG_DEFAULT_METADATA)))
            r = ft_error_set(err, FT_ENOMEM, "gallery: out of memory");
        *found = 1;
    } else if (rc != SQLITE_DONE) {
        r = sq_fail(s, rc, "reading a subject", err);
    }
    sq_done(st);
    if (r != FT_OK || !*found) return r;

    if (!(st = sq_stmt(s, Q_FACES_OF_SUBJECT, err))) return err ? err->code : FT_EIO;
    bind_text(st, 1, id);
    int cap = 0;
    while (r == FT_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ftg_face f;
        r = read_face(s, st, &f, NULL, NULL, err);
        if (r == FT_OK && (r = push_face(&out->faces, &out->n_faces, &cap, &f, err)) != FT_OK) free(f.embedding);
        if (r == FT_OK && model_id && strcmp(f.model_id, model_id) == 0) out->n_faces_model++;
    }
    if (r == FT_OK && rc != SQLITE_DONE) r = sq_fail(s, rc, "reading faces", err);
    sq_done(st);
    return r;
}

static ft_status sq_get_subject(void *impl, const char *id, const char *model_id, ftg_subject *out, int *found,
                                ft_error *err)
{
    sq_store *s = impl;
    pthread_mutex_lock(&s->lock);
    ft_status st = sq_begin(s, 0, err);
    if (st == FT_OK) st = load_subject(s, id, model_id, out, found, err);
    sq_rollback(s); /* read-only transaction */
    pthread_mutex_unlock(&s->lock);
    if (st != FT_OK) {
        ft_gallery_subject_free(out);
        *found = 0;
    }
    return st;
}

static ft_status sq_list(void *impl, const char *cursor, int limit, const char *model_id, ftg_page *out,
                         ft_error *err)
{
    sq_store *s = impl;
    out->items = calloc((size_t)limit, sizeof *out->items);
    if (!out->items) return ft_error_set(err, FT_ENOMEM, "gallery: out of memory");
    pthread_mutex_lock(&s->lock);
    ft_status r = FT_OK;
    sqlite3_stmt *st = sq_stmt(s, Q_LIST, err);
    if (!st) r = err ? err->code : FT_EIO;
    int rc = SQLITE_DONE, more = 0;
    if (st) {
        bind_text(st, 1, cursor);
        bind_text(st, 2, model_id);
        sqlite3_bind_int(st, 3, limit + 1); /* one more row says whether a next page exists */
        while (r == FT_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (out->n == limit) {
                more = 1;
                break;
            }
            ftg_subject *it = &out->items[out->n++];
            r = copy_column(s, st, 0, it->id, sizeof it->id, err);
            const char *meta = (const char *)sqlite3_column_text(st, 1);
            if (r == FT_OK && !(it->metadata_json = strdup(meta ? meta : FTG_DEFAULT_METADATA)))
                r = ft_error_set(err, FT_ENOMEM, "gallery: out of memory");
            it->created = sqlite3_column_int64(st, 2);
            it->n_faces = sqlite3_column_int(st, 3);
            it->n_faces_model = sqlite3_column_int(st, 4);
        }
        if (r == FT_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) r = sq_fail(s, rc, "listing subjects", err);
        sq_done(st);
    }
    pthread_mutex_unlock(&s->lock);
    if (r != FT_OK) {
        ft_gallery_page_free(out);
        return r;
    }
    if (more) snprintf(out->next_cursor, sizeof out->next_cursor, "%s", out->items[out->n - 1].id);
    return FT_OK;
}

static ft_status sq_scan(void *impl, const char *model_id, ftg_face_fn fn, void *ctx, ft_error *err)
{
    sq_store *s = impl;
    float *buf = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&s->lock);
    ft_status r = sq_begin(s, 0, err);
    sqlite3_stmt *st = NULL;
    if (r == FT_OK && !(st = sq_stmt(s, model_id ? Q_SCAN_MODEL : Q_SCAN_ALL, err))) r = err ? err->code : FT_EIO;
    if (st) {
        if (model_id) bind_text(st, 1, model_id);
        int rc = SQLITE_DONE;
        while (r == FT_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            ftg_face f;
            r = read_face(s, st, &f, &buf, &cap, err);
            if (r == FT_OK && fn(ctx, &f) != 0) r = ft_error_set(err, FT_EINTERRUPTED, "gallery scan stopped by the caller");
        }
        if (r == FT_OK && rc != SQLITE_DONE) r = sq_fail(s, rc, "scanning faces", err);
        sq_done(st);
    }
    sq_rollback(s);
    pthread_mutex_unlock(&s->lock);
    free(buf);
    return r;
}

static ft_status sq_counts(void *impl, const char *model_id, int64_t *subjects, int64_t *faces,
                           int64_t *faces_model, ft_error *err)
{
    sq_store *s = impl;
    pthread_mutex_lock(&s->lock);
    ft_status r = FT_OK;
    sqlite3_stmt *st = sq_stmt(s, Q_COUNTS, err);
    if (!st) r = err ? err->code : FT_EIO;
    if (st) {
        bind_text(st, 1, model_id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            if (subjects) *subjects = sqlite3_column_int64(st, 0);
            if (faces) *faces = sqlite3_column_int64(st, 1);
            if (faces_model) *faces_model = sqlite3_column_int64(st, 2);
        } else {
            r = sq_fail(s, rc, "counting", err);
        }
        sq_done(st);
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* --------------------------------------------------------------- deletion --- */

/* Moves the faces of a loaded subject into the deletion record. */
static void take_faces(ftg_subject *sub, ftg_deleted *out)
{
    out->faces = sub->faces;
    out->n = sub->n_faces;
    sub->faces = NULL;
    sub->n_faces = 0;
}

static ft_status fill_face_ids(ftg_deleted *out, ft_error *err)
{
    out->face_ids = malloc((size_t)(out->n > 0 ? out->n : 1) * sizeof *out->face_ids);
    if (!out->face_ids) return ft_error_set(err, FT_ENOMEM, "gallery: out of memory");
    for (int i = 0; i < out->n; i++) out->face_ids[i] = out->faces[i].face_id;
    return FT_OK;
}

/* After a committed delete: fold the WAL into the file and truncate it, so the deleted
 * rows (zeroed in the file by secure_delete) do not survive in old WAL frames.
 * Best effort: a reader in another process can make it partial. */
static void purge_wal(sq_store *s) { sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL); }

static ft_status delete_subject_row(sq_store *s, const char *id, ft_error *err)
{
    sqlite3_stmt *st = sq_stmt(s, Q_SUBJECT_DELETE, err);
    if (!st) return err ? err->code : FT_EIO;
    bind_text(st, 1, id);
    return sq_exec(s, st, "deleting a subject", err); /* faces and idempotency rows cascade */
}

static ft_status sq_delete_subject(void *impl, const char *id, ftg_deleted *out, int *found, ft_error *err)
{
    sq_store *s = impl;
    ftg_subject sub = {0};
    pthread_mutex_lock(&s->lock);
    ft_status r = sq_begin(s, 1, err);
    if (r == FT_OK) r = load_subject(s, id, NULL, &sub, found, err);
    if (r == FT_OK && *found) {
        take_faces(&sub, out);
        r = fill_face_ids(out, err);
        if (r == FT_OK) r = delete_subject_row(s, id, err);
        if (r == FT_OK) r = sq_commit(s, err);
        if (r == FT_OK) out->subject_removed = 1;
    }
    sq_rollback(s);
    if (r == FT_OK && *found) purge_wal(s);
    pthread_mutex_unlock(&s->lock);
    ft_gallery_subject_free(&sub);
    if (r != FT_OK) {
        ft_gallery_deleted_free(out);
        *found = 0;
    }
    return r;
}

static ft_status sq_delete_face(void *impl, const char *id, int64_t face_id, ftg_deleted *out, int *found,
                                ft_error *err)
{
    sq_store *s = impl;
    ftg_face f = {0};
    pthread_mutex_lock(&s->lock);
    ft_status r = sq_begin(s, 1, err);
    sqlite3_stmt *st = NULL;
    if (r == FT_OK && !(st = sq_stmt(s, Q_FACE_GET, err))) r = err ? err->code : FT_EIO;
    if (st) {
        sqlite3_bind_int64(st, 1, face_id);
        bind_text(st, 2, id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            r = read_face(s, st, &f, NULL, NULL, err);
            *found = r == FT_OK;
        } else if (rc != SQLITE_DONE) {
            r = sq_fail(s, rc, "reading a face", err);
        }
        sq_done(st);
    }
    if (r == FT_OK && *found) {
        int cap = 0;
        r = push_face(&out->faces, &out->n, &cap, &f, err);
        if (r == FT_OK) f.embedding = NULL; /* owned by out now */
        if (r == FT_OK) r = fill_face_ids(out, err);
        if (r == FT_OK && !(st = sq_stmt(s, Q_FACE_DELETE, err))) r = err ? err->code : FT_EIO;
        if (r == FT_OK) {
            sqlite3_bind_int64(st, 1, face_id);
            r = sq_exec(s, st, "deleting a face", err);
        }
        int64_t left = 0;
        if (r == FT_OK && !(st = sq_stmt(s, Q_SUBJECT_FACE_COUNT, err))) r = err ? err->code : FT_EIO;
        if (r == FT_OK) {
            bind_text(st, 1, id);
            int rc = sqlite3_step(st);
            if (rc == SQLITE_ROW)
                left = sqlite3_column_int64(st, 0);
            else
                r = sq_fail(s, rc, "counting faces", err);
            sq_done(st);
        }
        if (r == FT_OK && left == 0) {
            r = delete_subject_row(s, id, err);
            out->subject_removed = r == FT_OK;
        }
        if (r == FT_OK) r = sq_commit(s, err);
    }
    sq_rollback(s);
    if (r == FT_OK && *found) purge_wal(s);
    pthread_mutex_unlock(&s->lock);
    free(f.embedding);
    if (r != FT_OK) {
        ft_gallery_deleted_free(out);
        *found = 0;
    }
    return r;
}

static const ft_gallery_ops k_sqlite_ops = {
    .name = "sqlite",
    .scheme = FTG_SQLITE_SCHEME,
    .open = sq_open,
    .close = sq_close,
    .writable = sq_writable,
    .enroll = sq_enroll,
    .enroll_bulk = sq_enroll_bulk,
    .get_subject = sq_get_subject,
    .list = sq_list,
    .delete_subject = sq_delete_subject,
    .delete_face = sq_delete_face,
    .scan = sq_scan,
    .counts = sq_counts,
};
