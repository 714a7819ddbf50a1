/* config.c — facetwind's settings table and the three sources (file < env < flags).
 *
 * k_opts is the only list of settings: the parser, the environment lookup, --help and
 * --check-config all walk it, so a new setting is one row here plus one field.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/image.h"

extern char **environ;

#define FTD_MAX_CONFIG_BYTES (1u << 20)

typedef enum { OPT_STR, OPT_INT, OPT_I64, OPT_BOOL } opt_type;

typedef struct {
    const char *name;  /* file key; flag = --name with '_' -> '-'; env = FACETWIN_NAME */
    opt_type type;
    size_t off;
    const char *def;
    int64_t lo, hi;    /* numeric range */
    const char *help;
} opt_def;

#define O(f) offsetof(ftd_config, f)
static const opt_def k_opts[] = {
    {"model", OPT_STR, O(model), "", 0, 0, "checkpoint to serve (facetwin train --out)"},
    {"listen", OPT_STR, O(listen), "127.0.0.1:8080", 0, 0, "HOST:PORT to listen on; port 0 picks a free one"},
    {"store", OPT_STR, O(store), "sqlite:facetwin-gallery.db", 0, 0, "gallery store URL (sqlite:PATH)"},
    {"api_keys", OPT_STR, O(api_keys), "", 0, 0, "API keys file (name sha256 scopes); none = no auth, loopback only"},
    {"open_endpoints", OPT_STR, O(open_endpoints), "healthz,readyz,metrics", 0, 0,
     "endpoints served without a key (comma list of healthz,readyz,metrics; \"\" = none)"},
    {"access_log", OPT_STR, O(access_log), "stderr", 0, 0, "one JSON line per request: stderr | off"},
    {"threads", OPT_INT, O(threads), "0", 0, 256, "HTTP I/O threads and encoder workers (each); 0 = cores"},
    {"cache_mb", OPT_INT, O(cache_mb), "64", 0, 1 << 20, "embedding cache size in MiB; 0 disables"},
    {"max_body_mb", OPT_INT, O(max_body_mb), "10", 1, 1024, "request body limit in MiB"},
    {"max_pixels", OPT_I64, O(max_pixels), "40000000", 1, (int64_t)1 << 40, "pixels per image, checked before decoding"},
    {"max_images", OPT_INT, O(max_images), "16", 1, 1000, "images per request"},
    {"timeout_s", OPT_INT, O(timeout_s), "30", 1, 3600, "idle connection timeout in seconds"},
    {"max_connections", OPT_INT, O(max_connections), "1024", 1, 1000000, "open connections"},
    {"max_inflight", OPT_INT, O(max_inflight), "256", 1, 1000000, "requests served at once; more get 503"},
    {"retry_after_s", OPT_INT, O(retry_after_s), "1", 0, 3600, "Retry-After seconds on 503"},
    {"shutdown_deadline_s", OPT_INT, O(shutdown_deadline_s), "10", 0, 3600, "SIGTERM grace for in-flight requests"},
    {"insecure_no_auth", OPT_BOOL, O(insecure_no_auth), "false", 0, 1, "allow a non-loopback listener without API keys"},
};
#undef O
#define N_OPTS ((int)(sizeof k_opts / sizeof k_opts[0]))

static const opt_def *find_opt(const char *name)
{
    for (int i = 0; i < N_OPTS; i++)
        if (!strcmp(k_opts[i].name, name)) return &k_opts[i];
    return NULL;
}

static ft_status set_opt(ftd_config *cfg, const opt_def *o, const char *val, const char *src,
                         ft_error *err)
{
    char *base = (char *)cfg + o->off;
    if (o->type == OPT_STR) {
        char *dup = strdup(val);
        if (!dup) return ft_error_set(err, FT_ENOMEM, "out of memory");
        free(*(char **)base);
        *(char **)base = dup;
        return FT_OK;
    }
    if (o->type == OPT_BOOL) {
        int b;
        if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes")) b = 1;
        else if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no")) b = 0;
        else return ft_error_set(err, FT_EINVAL, "%s: %s must be true or false, not '%.40s'", src, o->name, val);
        *(int *)base = b;
        return FT_OK;
    }
    errno = 0;
    char *end;
    long long v = strtoll(val, &end, 10);
    if (errno || end == val || *end || v < o->lo || v > o->hi)
        return ft_error_set(err, FT_EINVAL, "%s: %s must be an integer in [%lld, %lld], not '%.40s'", src,
                            o->name, (long long)o->lo, (long long)o->hi, val);
    if (o->type == OPT_INT) *(int *)base = (int)v;
    else *(int64_t *)base = v;
    return FT_OK;
}

static ft_status apply_file(ftd_config *cfg, const char *path, ft_error *err)
{
    uint8_t *buf;
    size_t n;
    ft_status st = ft_read_file(path, FTD_MAX_CONFIG_BYTES, &buf, &n, err);
    if (st) return st;
    cJSON *root = cJSON_ParseWithLength((const char *)buf, n);
    free(buf);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ft_error_set(err, FT_EINVAL, "config %s: not a JSON object", path);
    }
    const cJSON *it;
    st = FT_OK;
    char src[300];
    snprintf(src, sizeof src, "config %s", path);
    cJSON_ArrayForEach(it, root) {
        const opt_def *o = find_opt(it->string);
        if (!o) { st = ft_error_set(err, FT_EINVAL, "%s: unknown setting '%.60s'", src, it->string); break; }
        char num[64];
        const char *val;
        if (cJSON_IsString(it)) val = it->valuestring;
        else if (cJSON_IsBool(it)) val = cJSON_IsTrue(it) ? "true" : "false";
        else if (cJSON_IsNumber(it)) { snprintf(num, sizeof num, "%.0f", it->valuedouble); val = num; }
        else if (cJSON_IsArray(it) && o->type == OPT_STR) { /* lists: ["healthz", "readyz"] */
            char list[256] = "";
            const cJSON *e;
            cJSON_ArrayForEach(e, it) {
                if (!cJSON_IsString(e)) { st = ft_error_set(err, FT_EINVAL, "%s: %s must list strings", src, o->name); break; }
                if (*list) strncat(list, ",", sizeof list - strlen(list) - 1);
                strncat(list, e->valuestring, sizeof list - strlen(list) - 1);
            }
            if (st) break;
            if ((st = set_opt(cfg, o, list, src, err))) break;
            continue;
        } else { st = ft_error_set(err, FT_EINVAL, "%s: %s has the wrong type", src, o->name); break; }
        if ((st = set_opt(cfg, o, val, src, err))) break;
    }
    cJSON_Delete(root);
    return st;
}

static void env_name(const char *name, char *out, size_t n)
{
    size_t k = (size_t)snprintf(out, n, "FACETWIN_");
    for (const char *p = name; *p && k + 1 < n; p++) out[k++] = (char)toupper((unsigned char)*p);
    out[k] = 0;
}

/* "--max-body-mb" -> "max_body_mb" (NULL if not a long flag). */
static int flag_to_name(const char *arg, char *out, size_t n)
{
    if (strncmp(arg, "--", 2) || strlen(arg + 2) >= n) return 0;
    size_t k = 0;
    for (const char *p = arg + 2; *p && *p != '='; p++) out[k++] = *p == '-' ? '_' : *p;
    out[k] = 0;
    return 1;
}

ft_status ftd_config_load(ftd_config *cfg, int argc, char **argv, int *help, int *check,
                          ft_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    if (help) *help = 0;
    if (check) *check = 0;
    ft_status st = FT_OK;
    for (int i = 0; i < N_OPTS && !st; i++) st = set_opt(cfg, &k_opts[i], k_opts[i].def, "default", err);
    if (!st) st = set_opt(cfg, &(opt_def){"config", OPT_STR, offsetof(ftd_config, config), "", 0, 0, ""},
                          "", "default", err);
    if (st) return st;

    /* pass 1: flags syntax, --help/--check-config, and where the config file is */
    const char *cfile = getenv("FACETWIN_CONFIG");
    for (int i = 1; i < argc; i++) {
        char name[64];
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { if (help) *help = 1; continue; }
        if (!strcmp(a, "--check-config")) { if (check) *check = 1; continue; }
        if (!flag_to_name(a, name, sizeof name))
            return ft_error_set(err, FT_EINVAL, "unexpected argument '%.60s' (see --help)", a);
        const opt_def *o = find_opt(name);
        int is_config = !strcmp(name, "config");
        if (!o && !is_config) return ft_error_set(err, FT_EINVAL, "unknown flag '%.60s' (see --help)", a);
        const char *eq = strchr(a, '=');
        if (!eq && o && o->type == OPT_BOOL) continue;   /* bare boolean flag */
        if (!eq && ++i >= argc) return ft_error_set(err, FT_EINVAL, "flag %s needs a value", a);
        if (is_config) cfile = eq ? eq + 1 : argv[i];
    }
    if (help && *help) return FT_OK;
    if (cfile && *cfile) {
        if ((st = apply_file(cfg, cfile, err))) return st;
        if ((st = set_opt(cfg, &(opt_def){"config", OPT_STR, offsetof(ftd_config, config), "", 0, 0, ""},
                          cfile, "config", err)))
            return st;
    }
    /* environment */
    for (int i = 0; i < N_OPTS; i++) {
        char en[80];
        env_name(k_opts[i].name, en, sizeof en);
        const char *v = getenv(en);
        if (v && (st = set_opt(cfg, &k_opts[i], v, en, err))) return st;
    }
    /* pass 2: flags */
    for (int i = 1; i < argc; i++) {
        char name[64];
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "--check-config")) continue;
        flag_to_name(a, name, sizeof name);
        const char *eq = strchr(a, '=');
        const opt_def *o = find_opt(name);
        if (!o) { if (!eq) i++; continue; } /* --config */
        const char *val = eq ? eq + 1 : NULL;
        if (!val && o->type == OPT_BOOL) val = "true";
        else if (!val) val = argv[++i];
        char src[80];
        snprintf(src, sizeof src, "flag --%.60s", a + 2);
        if (eq) src[5 + (size_t)(eq - a)] = 0; /* "flag --" + name */
        if ((st = set_opt(cfg, o, val, src, err))) return st;
    }
    if (!*cfg->model) return ft_error_set(err, FT_EINVAL, "no model: give --model PATH or FACETWIN_MODEL");
    if (strcmp(cfg->access_log, "stderr") && strcmp(cfg->access_log, "off"))
        return ft_error_set(err, FT_EINVAL, "access_log must be stderr or off");
    char *list = strdup(cfg->open_endpoints), *save = NULL;
    if (!list) return ft_error_set(err, FT_ENOMEM, "out of memory");
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (strcmp(t, "healthz") && strcmp(t, "readyz") && strcmp(t, "metrics")) {
            st = ft_error_set(err, FT_EINVAL, "open_endpoints: '%.40s' is not healthz, readyz or metrics", t);
            break;
        }
    free(list);
    return st;
}

void ftd_config_free(ftd_config *cfg)
{
    for (int i = 0; i < N_OPTS; i++)
        if (k_opts[i].type == OPT_STR) free(*(char **)((char *)cfg + k_opts[i].off));
    free(cfg->config);
    memset(cfg, 0, sizeof *cfg);
}

void ftd_config_usage(FILE *f)
{
    fprintf(f, "usage: facetwind --model MODEL [--listen HOST:PORT] [--store sqlite:PATH]\n"
               "                 [--config FILE] [--api-keys FILE] [settings...]\n"
               "       facetwind --check-config ...   validate everything, print the settings, exit\n"
               "       facetwind hash-key             read a key on stdin, print its SHA-256 for the keys file\n\n"
               "settings (flag | environment | default): flags win over the environment, the\n"
               "environment over the JSON config file (--config / FACETWIN_CONFIG).\n");
    for (int i = 0; i < N_OPTS; i++) {
        char flag[64], env[80];
        size_t k = 0;
        for (const char *p = k_opts[i].name; *p; p++) flag[k++] = *p == '_' ? '-' : *p;
        flag[k] = 0;
        env_name(k_opts[i].name, env, sizeof env);
        fprintf(f, "  --%-20s %-30s [%s]\n      %s\n", flag, env, k_opts[i].def, k_opts[i].help);
    }
    fprintf(f, "\nexit codes: 0 clean shutdown, 1 runtime failure (e.g. cannot listen),\n"
               "  2 bad settings, 3 model missing or corrupt, 4 store unusable, 5 bad API keys file\n");
}

char *ftd_config_json(const ftd_config *cfg)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < N_OPTS; i++) {
        const char *base = (const char *)cfg + k_opts[i].off;
        switch (k_opts[i].type) {
        case OPT_STR: cJSON_AddStringToObject(o, k_opts[i].name, *(char *const *)base); break;
        case OPT_INT: cJSON_AddNumberToObject(o, k_opts[i].name, *(const int *)base); break;
        case OPT_I64: cJSON_AddNumberToObject(o, k_opts[i].name, (double)*(const int64_t *)base); break;
        case OPT_BOOL: cJSON_AddBoolToObject(o, k_opts[i].name, *(const int *)base); break;
        }
    }
    char *s = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    return s;
}

int ftd_config_is_open(const ftd_config *cfg, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = cfg->open_endpoints; (p = strstr(p, name)); p += n)
        if ((p == cfg->open_endpoints || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return 1;
    return 0;
}
