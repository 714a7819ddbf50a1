/* auth.h — API keys: who may call what.
 *
 * The keys file holds one key per line, never the key itself but its SHA-256:
 *     # comment
 *     <name> <64 hex digits: SHA-256 of the key> <scope>[,<scope>...]
 * Scopes: "verify" (verify, identify, embed, reads of the gallery and model) and "admin"
 * (enroll, delete, reload; admin implies verify). `facetwind hash-key` prints the line's
 * hash for a key read from stdin. A request carries "Authorization: Bearer <key>"; the
 * server hashes the presented key and compares it against EVERY stored hash with
 * CRYPTO_memcmp (constant time, no early exit on the first match), so timing reveals
 * neither which key nor how much of it matched.
 *
 * Threads: a loaded ft_auth is read-only and safe to share. Ownership: ft_auth_load
 * returns an object freed with ft_auth_free.
 */
#ifndef FACETWIN_SERVER_AUTH_H
#define FACETWIN_SERVER_AUTH_H

#include <stddef.h>

#include "facetwin/status.h"

enum { FT_SCOPE_VERIFY = 1, FT_SCOPE_ADMIN = 2 };
#define FT_AUTH_MAX_KEYS 1024
#define FT_AUTH_MAX_NAME 64

typedef struct ft_auth ft_auth;

/* Parses the keys file; errors name the line ("<path>: keys file line 3: ...") and never echo
 * a hash. An empty file (no keys) is an error: use no file at all for no authentication.
 * Details (auth.c): at most 1 MiB and FT_AUTH_MAX_KEYS keys; '#' starts a comment only as
 * a line's first non-blank character; names are 1..FT_AUTH_MAX_NAME of [A-Za-z0-9._@-];
 * hex in either case; names and hashes unique. FT_EIO / FT_ETOOBIG / FT_EFORMAT. */
ft_status ft_auth_load(const char *path, ft_auth **out, ft_error *err);
void ft_auth_free(ft_auth *a);
int ft_auth_count(const ft_auth *a);

/* Checks an Authorization header value (may be NULL): "Bearer" in any case, one or more
 * blanks, a key of 1..4096 bytes with no blank or control byte, optional trailing blanks.
 * Returns the key's scopes
 * (FT_SCOPE_* bits, admin implying verify), or 0 when missing/unknown. name (if non-NULL)
 * receives the key's name for the access log. */
int ft_auth_check(const ft_auth *a, const char *authorization, char name[FT_AUTH_MAX_NAME + 1]);

/* Lowercase hex SHA-256 of key (65 bytes with NUL). Returns 1, or 0 if OpenSSL failed (then
 * out is ""). (Was void: a failure would have printed a wrong hash line.) */
int ft_auth_hash_hex(const char *key, size_t n, char out[65]);

#endif
