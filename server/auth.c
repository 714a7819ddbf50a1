/* auth.c — API keys (auth.h): the keys file and the Bearer check.
 *
 * The file. Read whole (it is small; more than AUTH_FILE_MAX bytes is refused
 * rather than truncated), then split into lines ('\n', an optional '\r'
 * before it dropped). A line is blank, a comment (first non-blank character
 * '#'; a '#' later in a line is not a comment, it is an extra field), or
 * exactly three blank-separated fields:
 *     <name> <64 hex digits> <scope>[,<scope>...]
 * Names are 1..FT_AUTH_MAX_NAME characters of [A-Za-z0-9._@-] (they go to the
 * access log verbatim, so nothing that could forge a log line). Hex digits may
 * be either case. Scopes are verify|admin, no empty items; admin implies
 * verify. Names and hashes are unique (two names for one hash would make the
 * name logged for a request ambiguous). Every error names the line and is one
 * line; none echoes the hash field or anything that might be a key.
 *
 * The check. "Bearer" (any case), one or more blanks, the key; trailing blanks
 * are dropped; an empty key, a key longer than AUTH_KEY_MAX, or one holding a
 * blank or a control byte is refused before hashing. The key is hashed with
 * SHA-256 and compared against EVERY stored hash with CRYPTO_memcmp. The loop
 * never exits early and folds the result in with masks, not branches: hashes
 * are unique, so at most one entry matches and OR-ing masked scopes and
 * indices yields exactly that entry's. The time taken depends only on the
 * number of keys, which is not secret.
 */
#include "auth.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define AUTH_FILE_MAX (1u << 20) /* 1 MiB */
#define AUTH_KEY_MAX 4096        /* longest presented key accepted, bytes */
#define AUTH_HASH_BYTES 32
#define AUTH_HASH_HEX (2 * AUTH_HASH_BYTES)
#define AUTH_SCHEME "Bearer"
#define AUTH_SCOPE_ECHO_MAX 16 /* unknown scopes longer than this are not quoted */

typedef struct {
    char name[FT_AUTH_MAX_NAME + 1];
    uint8_t hash[AUTH_HASH_BYTES];
    int scopes;
    int line;
} auth_key;

struct ft_auth {
    int n;
    auth_key keys[];
};

/* --------------------------------------------------------------- hashing ---- */

static int sha256(const void *p, size_t n, uint8_t out[AUTH_HASH_BYTES])
{
    static const uint8_t empty = 0;
    unsigned int len = 0;
    return EVP_Digest(n ? p : &empty, n, out, &len, EVP_sha256(), NULL) && len == AUTH_HASH_BYTES;
}

int ft_auth_hash_hex(const char *key, size_t n, char out[65])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t h[AUTH_HASH_BYTES];
    out[0] = '\0';
    if (!sha256(key, n, h)) return 0;
    for (int i = 0; i < AUTH_HASH_BYTES; i++) {
        out[2 * i] = digits[h[i] >> 4];
        out[2 * i + 1] = digits[h[i] & 0xf];
    }
    out[AUTH_HASH_HEX] = '\0';
    return 1;
}

/* --------------------------------------------------------------- parsing ---- */

static int is_blank(char ch) { return ch == ' ' || ch == '\t'; }

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static int name_char_ok(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
           ch == '_' || ch == '-' || ch == '@';
}

/* Next blank-separated field of [*p, end): sets *f and *len, advances *p; 0 if none. */
static int next_field(const char **p, const char *end, const char **f, size_t *len)
{
    const char *s = *p;
    while (s < end && is_blank(*s)) s++;
    if (s == end) return 0;
    const char *e = s;
    while (e < end && !is_blank(*e)) e++;
    *f = s;
    *len = (size_t)(e - s);
    *p = e;
    return 1;
}

static ft_status line_error(ft_error *err, int line, const char *what)
{
    return ft_error_set(err, FT_EFORMAT, "keys file line %d: %s", line, what);
}

static ft_status parse_name(const char *f, size_t len, int line, auth_key *k, ft_error *err)
{
    if (len > FT_AUTH_MAX_NAME)
        return ft_error_set(err, FT_EFORMAT, "keys file line %d: name longer than %d characters", line,
                            FT_AUTH_MAX_NAME);
    for (size_t i = 0; i < len; i++)
        if (!name_char_ok(f[i]))
            return line_error(err, line, "name may hold only letters, digits and . _ - @");
    memcpy(k->name, f, len);
    k->name[len] = '\0';
    return FT_OK;
}

static ft_status parse_hash(const char *f, size_t len, int line, auth_key *k, ft_error *err)
{
    if (len != AUTH_HASH_HEX)
        return ft_error_set(err, FT_EFORMAT, "keys file line %d: hash has %zu characters, want %d hex digits",
                            line, len, AUTH_HASH_HEX);
    for (int i = 0; i < AUTH_HASH_BYTES; i++) {
        int hi = hex_value(f[2 * i]), lo = hex_value(f[2 * i + 1]);
        if (hi < 0 || lo < 0) return line_error(err, line, "hash holds a character that is not a hex digit");
        k->hash[i] = (uint8_t)(hi << 4 | lo);
    }
    return FT_OK;
}

static ft_status parse_scopes(const char *f, size_t len, int line, auth_key *k, ft_error *err)
{
    const char *end = f + len;
    k->scopes = 0;
    for (const char *s = f; s <= end;) {
        const char *e = memchr(s, ',', (size_t)(end - s));
        if (!e) e = end;
        size_t n = (size_t)(e - s);
        if (n == strlen("verify") && memcmp(s, "verify", n) == 0) k->scopes |= FT_SCOPE_VERIFY;
        else if (n == strlen("admin") && memcmp(s, "admin", n) == 0) k->scopes |= FT_SCOPE_ADMIN | FT_SCOPE_VERIFY;
        else if (n == 0) return line_error(err, line, "empty scope in the scope list (want verify,admin)");
        else if (n <= AUTH_SCOPE_ECHO_MAX)
            return ft_error_set(err, FT_EFORMAT, "keys file line %d: unknown scope '%.*s' (want verify or admin)",
                                line, (int)n, s);
        else return line_error(err, line, "unknown scope (want verify or admin)");
        s = e + 1;
    }
    return FT_OK;
}

/* Parses one non-blank, non-comment line into k and checks it against keys[0..n). */
static ft_status parse_line(const char *p, const char *end, int line, const auth_key *keys, int n, auth_key *k,
                            ft_error *err)
{
    const char *f[3];
    size_t len[3];
    static const char *const missing[3] = {"missing name", "missing hash after the name",
                                           "missing scopes after the hash"};
    for (int i = 0; i < 3; i++)
        if (!next_field(&p, end, &f[i], &len[i])) return line_error(err, line, missing[i]);
    const char *extra;
    size_t extra_len;
    if (next_field(&p, end, &extra, &extra_len))
        return line_error(err, line, "extra field after the scopes (want: name hash scopes)");
    ft_status st;
    memset(k, 0, sizeof *k);
    if ((st = parse_name(f[0], len[0], line, k, err)) != FT_OK) return st;
    if ((st = parse_hash(f[1], len[1], line, k, err)) != FT_OK) return st;
    if ((st = parse_scopes(f[2], len[2], line, k, err)) != FT_OK) return st;
    k->line = line;
    for (int i = 0; i < n; i++) {
        if (strcmp(keys[i].name, k->name) == 0)
            return ft_error_set(err, FT_EFORMAT, "keys file line %d: duplicate name '%s' (first on line %d)", line,
                                k->name, keys[i].line);
        if (memcmp(keys[i].hash, k->hash, AUTH_HASH_BYTES) == 0)
            return ft_error_set(err, FT_EFORMAT, "keys file line %d: same key hash as line %d", line,
                                keys[i].line);
    }
    return FT_OK;
}

static ft_status parse(const char *buf, size_t size, ft_auth *a, ft_error *err)
{
    const char *p = buf, *end = buf + size;
    int line = 0;
    while (p < end) {
        line++;
        size_t rest = (size_t)(end - p);
        const char *nl = memchr(p, '\n', rest);
        size_t n = nl ? (size_t)(nl - p) : rest;
        const char *next = nl ? nl + 1 : end;
        if (n > 0 && p[n - 1] == '\r') n--;
        if (memchr(p, '\0', n)) return line_error(err, line, "NUL byte");
        const char *le = p + n;
        const char *s = p;
        while (s < le && is_blank(*s)) s++;
        p = next;
        if (s == le || *s == '#') continue;
        if (a->n == FT_AUTH_MAX_KEYS)
            return ft_error_set(err, FT_ETOOBIG, "keys file line %d: more than %d keys", line, FT_AUTH_MAX_KEYS);
        ft_status st = parse_line(s, le, line, a->keys, a->n, &a->keys[a->n], err);
        if (st != FT_OK) return st;
        a->n++;
    }
    if (a->n == 0)
        return ft_error_set(err, FT_EFORMAT, "keys file holds no keys (run without one for no authentication)");
    return FT_OK;
}

/* Reads the whole file into a malloc'd buffer of at most AUTH_FILE_MAX bytes. */
static ft_status read_all(const char *path, char **out, size_t *size, ft_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return ft_error_set(err, FT_EIO, "cannot open keys file: %s", strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return ft_error_set(err, FT_EIO, "keys file is not a regular file");
    }
    if (sb.st_size > (off_t)AUTH_FILE_MAX) {
        fclose(fp);
        return ft_error_set(err, FT_ETOOBIG, "keys file is larger than %u bytes", AUTH_FILE_MAX);
    }
    char *buf = malloc(AUTH_FILE_MAX + 1);
    if (!buf) {
        fclose(fp);
        return ft_error_set(err, FT_ENOMEM, "out of memory reading the keys file");
    }
    size_t n = fread(buf, 1, AUTH_FILE_MAX + 1, fp); /* +1: notices a file that grew */
    int bad = ferror(fp);
    fclose(fp);
    if (bad || n > AUTH_FILE_MAX) {
        free(buf);
        return bad ? ft_error_set(err, FT_EIO, "read error on the keys file")
                   : ft_error_set(err, FT_ETOOBIG, "keys file is larger than %u bytes", AUTH_FILE_MAX);
    }
    *out = buf;
    *size = n;
    return FT_OK;
}

/* Prefixes the message with the file's path; returns st (also when err is NULL). */
static ft_status with_path(ft_error *err, const char *path, ft_status st)
{
    if (err) ft_error_prefix(err, path);
    return st;
}

ft_status ft_auth_load(const char *path, ft_auth **out, ft_error *err)
{
    if (!out || !path) return ft_error_set(err, FT_EINVAL, "ft_auth_load: NULL argument");
    *out = NULL;
    char *buf = NULL;
    size_t size = 0;
    ft_status st = read_all(path, &buf, &size, err);
    if (st != FT_OK) return with_path(err, path, st);
    ft_auth *a = calloc(1, sizeof *a + FT_AUTH_MAX_KEYS * sizeof(auth_key));
    if (!a) {
        free(buf);
        return with_path(err, path, ft_error_set(err, FT_ENOMEM, "out of memory loading the keys file"));
    }
    st = parse(buf, size, a, err);
    free(buf);
    if (st != FT_OK) {
        free(a);
        return with_path(err, path, st);
    }
    ft_auth *shrunk = realloc(a, sizeof *a + (size_t)a->n * sizeof(auth_key));
    *out = shrunk ? shrunk : a;
    return FT_OK;
}

void ft_auth_free(ft_auth *a) { free(a); }

int ft_auth_count(const ft_auth *a) { return a ? a->n : 0; }

/* ----------------------------------------------------------------- check ---- */

/* The key in an Authorization value, or NULL: sets *len. */
static const char *bearer_key(const char *v, size_t *len)
{
    size_t scheme = strlen(AUTH_SCHEME);
    if (strncasecmp(v, AUTH_SCHEME, scheme) != 0 || !is_blank(v[scheme])) return NULL;
    const char *k = v + scheme;
    while (is_blank(*k)) k++;
    size_t n = 0;
    while (n <= AUTH_KEY_MAX && (unsigned char)k[n] > ' ' && k[n] != 0x7f) n++;
    if (n == 0 || n > AUTH_KEY_MAX) return NULL;
    const char *t = k + n;
    while (is_blank(*t)) t++;
    if (*t != '\0') return NULL; /* a second token or a control byte after the key */
    *len = n;
    return k;
}

int ft_auth_check(const ft_auth *a, const char *authorization, char name[FT_AUTH_MAX_NAME + 1])
{
    if (name) name[0] = '\0';
    if (!a || !authorization) return 0;
    size_t len = 0;
    const char *key = bearer_key(authorization, &len);
    uint8_t h[AUTH_HASH_BYTES];
    if (!key || !sha256(key, len, h)) return 0;
    unsigned scopes = 0, index = 0, found = 0;
    for (int i = 0; i < a->n; i++) {
        unsigned eq = (unsigned)(CRYPTO_memcmp(h, a->keys[i].hash, AUTH_HASH_BYTES) == 0);
        unsigned mask = 0u - eq; /* all ones on the match, else zero */
        scopes |= mask & (unsigned)a->keys[i].scopes;
        index |= mask & (unsigned)i;
        found |= mask;
    }
    if (found && name) memcpy(name, a->keys[index].name, FT_AUTH_MAX_NAME + 1);
    return (int)scopes;
}
