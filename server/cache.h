/* cache.h — the embedding cache: SHA-256(image bytes) + model id -> embedding.
 *
 * A repeated image skips decoding and the encoder entirely. In-memory LRU bounded by
 * bytes (each entry costs sizeof(entry) + dim*4 + key; the bound counts all of it);
 * a hash table over the key + a doubly linked recency list; one mutex (lookups are
 * O(1) and tiny next to an encoder pass, so a single lock does not contend).
 *
 * Deletion really deletes: ft_cache_forget_vector removes every entry whose embedding equals
 * a deleted face's (the gallery keeps embeddings, not image hashes), and ft_cache_clear
 * empties it (model reload). Raw image bytes are never kept — only their digest.
 *
 * Threads: every function is safe to call concurrently. Ownership: the cache copies what
 * it stores; lookups copy out.
 */
#ifndef FACETWIN_SERVER_CACHE_H
#define FACETWIN_SERVER_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define FT_CACHE_KEY_BYTES 32   /* SHA-256 */

typedef struct ft_cache ft_cache;

typedef struct {
    uint64_t hits, misses, evictions, inserts, forgotten;
    uint64_t entries, bytes, max_bytes;
} ft_cache_stats;

/* max_bytes = 0 disables the cache (every lookup misses, nothing is stored). NULL on OOM. */
ft_cache *ft_cache_new(size_t max_bytes);
void ft_cache_free(ft_cache *c);

/* key = SHA-256 of the bytes (OpenSSL). Returns 1, or 0 if OpenSSL failed: then key is all
 * zeros, which get/put treat as "no key" (miss, nothing stored), so ignoring the result can
 * never make two images share an entry. (Was void: a failure could not be reported.) */
int ft_cache_digest(const uint8_t *bytes, size_t n, uint8_t key[FT_CACHE_KEY_BYTES]);

/* Copies the embedding into out (dim floats) and returns 1 on a hit for (key, model_id, dim). */
int ft_cache_get(ft_cache *c, const uint8_t key[FT_CACHE_KEY_BYTES], const char *model_id,
                 float *out, int dim);
/* Stores a copy, evicting least-recently-used entries to stay within max_bytes. An entry
 * costs sizeof(entry) + dim*4 + strlen(model_id)+1; one costing more than max_bytes is not
 * stored (and evicts nothing). Re-putting a stored key overwrites and refreshes it. */
void ft_cache_put(ft_cache *c, const uint8_t key[FT_CACHE_KEY_BYTES], const char *model_id,
                  const float *emb, int dim);
/* Removes entries of that model whose vector starts with emb (bitwise, dim floats: a photo's
 * entry stores its face record after the embedding); returns how many. */
int ft_cache_forget_vector(ft_cache *c, const char *model_id, const float *emb, int dim);
void ft_cache_clear(ft_cache *c);
void ft_cache_get_stats(ft_cache *c, ft_cache_stats *out);

#endif
