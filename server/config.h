/* config.h — facetwind's settings: one table, three sources.
 *
 * Every setting has a name ("max_body_mb"), a type and a default. It can come from a JSON
 * config file ({"max_body_mb": 10, ...}, path from --config / FACETWIN_CONFIG), from the
 * environment (FACETWIN_MAX_BODY_MB) or from a flag (--max-body-mb 10). Flags win over the
 * environment, the environment over the file, the file over the defaults. Unknown keys in
 * the file and unknown flags are errors (a typo must not silently keep a default).
 *
 * Ownership: ftd_config owns its strings; ftd_config_free releases them.
 */
#ifndef FACETWIN_SERVER_CONFIG_H
#define FACETWIN_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "facetwin/status.h"

#define FTD_MAX_OPEN 8

typedef struct {
    char *model;            /* checkpoint path (required) */
    char *listen;           /* HOST:PORT, port 0 = any free port */
    char *store;            /* gallery URL: sqlite:PATH */
    char *api_keys;         /* keys file path, "" = no authentication (loopback only) */
    char *config;           /* the config file that was read, "" if none */
    char *open_endpoints;   /* comma list of healthz,readyz,metrics served without a key */
    char *access_log;       /* "stderr" or "off" */
    int threads;            /* HTTP I/O threads, and as many encoder workers; 0 = cores */
    int cache_mb;           /* embedding cache bound; 0 disables it */
    int max_body_mb;        /* request body limit */
    int64_t max_pixels;     /* per image, checked from the header before decoding */
    int max_images;         /* images per request */
    int timeout_s;          /* idle connection timeout (slow clients) */
    int max_connections;    /* open connections; more are refused by the listener */
    int max_inflight;       /* requests being served at once; more get 503 + Retry-After */
    int retry_after_s;      /* Retry-After on 503 */
    int shutdown_deadline_s;/* SIGTERM: time allowed for in-flight requests */
    int insecure_no_auth;   /* allow a non-loopback listener without API keys */
} ftd_config;

/* Fills cfg from defaults, file, environment (envp may be NULL = environ) and argv flags.
 * Returns FT_EINVAL with a one-line message naming the source and setting. Sets *help or
 * *check (if non-NULL) when --help / --check-config was given. */
ft_status ftd_config_load(ftd_config *cfg, int argc, char **argv, int *help, int *check,
                          ft_error *err);
void ftd_config_free(ftd_config *cfg);

/* Prints the settings table (flag, environment variable, default, meaning). */
void ftd_config_usage(FILE *f);

/* The effective settings as a JSON object text (malloc'd; caller frees). */
char *ftd_config_json(const ftd_config *cfg);

/* 1 if name (e.g. "metrics") is in cfg->open_endpoints. */
int ftd_config_is_open(const ftd_config *cfg, const char *name);

#endif
