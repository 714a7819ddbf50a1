/* http.h — what a route handler sees: the parsed request, the reply helpers, the server.
 *
 * server.c owns the libmicrohttpd plumbing: it routes on method + path before reading any
 * body (404/405/401/403/413/415/503 are answered without touching the upload), feeds
 * multipart bodies to MHD's post processor and JSON bodies to cJSON, and normalises BOTH
 * into one list of named parts: a multipart file part "image" and a JSON "images"[i] base64
 * string both become a part named "image" holding the decoded bytes; scalar JSON fields
 * become text parts. Handlers (routes.c) therefore never care how the client sent a field.
 *
 * Ownership: everything in ftd_req belongs to the request and is freed when it completes;
 * reply helpers take over the body they are given.
 */
#ifndef FACETWIN_SERVER_HTTP_H
#define FACETWIN_SERVER_HTTP_H

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "config.h"
#include "engine.h"
#include "gallery.h"
#include "metrics.h"

#define FTD_MAX_PARTS 1024
#define FTD_MAX_HEADERS 4
#define FTD_REQUEST_ID_MAX 64

typedef struct {
    char name[64];
    uint8_t *data;      /* decoded bytes (NUL-terminated for text) */
    size_t len, cap;
    int is_file;
    /* image parts, filled by ftd_resolve_cached on the I/O thread before a request is queued */
    int has_key;                    /* key = SHA-256 of data, and the cache missed it then */
    uint8_t key[FT_CACHE_KEY_BYTES];
    float *emb;                     /* cache hit: the cached vector (owned), made by emb_model */
    int emb_len;                    /* its length (embedding, + face record for a photo) */
    char emb_model[128];
} ftd_part;

typedef struct ftd_server ftd_server;
typedef struct ftd_req ftd_req;
typedef void (*ftd_handler)(ftd_server *s, ftd_req *r);

typedef enum { FTD_BODY_NONE, FTD_BODY_REQUIRED, FTD_BODY_OPTIONAL } ftd_body_rule;

typedef struct {
    const char *method;
    const char *pattern;   /* "/v1/subjects/{}/faces/{}" */
    ft_route_id id;
    int scope;             /* FT_SCOPE_* needed, 0 = open (or configurable, see open_name) */
    const char *open_name; /* "healthz" | "readyz" | "metrics": open when configured so */
    ftd_body_rule body;
    const char *const *fields; /* accepted field names (NULL-terminated) for bodies */
    ftd_handler fn;
    int offload;           /* 1: runs on the encoder workers (it may decode and embed) */
} ftd_route;

struct ftd_req {
    struct MHD_Connection *conn;
    const ftd_route *route;
    char method[16];
    char params[2][FTG_MAX_ID + 2];  /* path parameters in order */
    char request_id[FTD_REQUEST_ID_MAX + 1];
    char key_name[FT_AUTH_MAX_NAME + 1];
    double t0;
    int started;          /* first callback done */
    int counted;          /* counted in in-flight */
    int queued, done;     /* handed to the workers (connection suspended) / handler finished */
    ftd_req *next;        /* work queue link */
    /* body */
    int body_kind;        /* 0 none, 1 json, 2 multipart */
    struct MHD_PostProcessor *pp;
    uint8_t *body;
    size_t body_len, body_cap, bytes_in;
    int too_large, too_many, pp_failed;
    ftd_part *parts;
    int n_parts, cap_parts;
    int cur_part;         /* multipart part being filled, -1 none */
    int n_images, max_images;
    /* reply */
    int status;
    char *resp;           /* malloc'd body */
    size_t resp_len;
    const char *content_type;
    const char *hdr_name[FTD_MAX_HEADERS];
    char hdr_val[FTD_MAX_HEADERS][64];
    int n_hdr;
};

/* The encoder workers: requests whose route may embed are queued here with their connection
 * suspended, so whichever worker is free takes the next one — libmicrohttpd pins a connection
 * to the I/O thread that accepted it, and running the encoder there left one core idle
 * whenever one I/O thread happened to hold most connections (bench/README.md). */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ftd_req *head, *tail;
    int stop, n_threads;
    pthread_t *threads;
} ftd_workq;

struct ftd_server {
    ftd_config *cfg;
    ftd_workq wq;
    ftd_engine eng;
    ft_gallery *gallery;
    ft_auth *auth;             /* NULL = no authentication */
    struct MHD_Daemon *daemon;
    atomic_int inflight;
    atomic_int stopping;
    int port;
    size_t max_body;
};

/* The route table (routes.c) and lookup: sets r->route and r->params; returns 0 on a match,
 * 404 when no pattern matches, 405 when the path matches with another method (allow gets the
 * methods, comma-separated). */
int ftd_route_find(const char *method, const char *path, ftd_req *r, char *allow, size_t n);

/* Replies */
void ftd_reply_json(ftd_req *r, int status, cJSON *body);     /* takes body; adds request_id */
void ftd_reply_text(ftd_req *r, int status, const char *content_type, char *text, size_t n);
void ftd_reply_error(ftd_req *r, int status, const char *code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
void ftd_reply_header(ftd_req *r, const char *name, const char *value);

/* Request fields (after body normalisation) */
int ftd_is_image_field(const char *name);   /* "image", "image1" or "image2" */
const ftd_part *ftd_part_get(const ftd_req *r, const char *name, int nth);
int ftd_part_count(const ftd_req *r, const char *name);
const char *ftd_header(const ftd_req *r, const char *name);
const char *ftd_query(const ftd_req *r, const char *name);

/* For a route that may embed: looks every image part up in the embedding cache (keeping the
 * digest, and the embedding on a hit). Returns 1 when no image needs the encoder, so the
 * request can run on the I/O thread instead of being queued for the workers. */
int ftd_resolve_cached(ftd_server *s, ftd_req *r);

/* Maps a core decode error to (status, code) for the client. */
void ftd_reply_image_error(ftd_req *r, const char *what, const ft_error *err);

#endif
