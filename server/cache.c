/* cache.c — the embedding cache (cache.h): a byte-bounded LRU keyed by
 * (SHA-256 of the image bytes, model id, dim).
 *
 * Layout. Each entry is ONE allocation: the struct, then its dim floats (a
 * flexible array member), then the NUL-terminated model id. Its cost — the
 * number the byte bound counts — is exactly that allocation's size:
 * sizeof(entry) + dim*4 + strlen(model_id) + 1. The bucket array is
 * bookkeeping and is not counted (it is 8 bytes per bucket and at most about
 * twice the entry count).
 *
 * Lookup is a chained hash table: the bucket index comes from the first 8
 * bytes of the digest (already uniform — it is SHA-256) mixed with an FNV-1a
 * hash of the model id and the dim, and a chain compares all three fields in
 * full. The table doubles when the load factor passes 3/4; if that allocation
 * fails the table just keeps longer chains (correct, only slower).
 *
 * Recency is a doubly linked list with the most recently used entry at the
 * head; get and put move an entry to the head, eviction takes the tail until
 * the new entry fits. An entry costing more than max_bytes is not stored and
 * evicts nothing. Re-putting an existing key overwrites its vector in place and
 * refreshes it (it is not counted as an insert).
 *
 * ft_cache_forget_vector walks the whole list: deletions are rare admin
 * operations and the gallery keeps embeddings, not the image digests that would
 * let us index them.
 *
 * Threads: one mutex around every operation. Everything under the lock is
 * O(1) (or O(n) for forget/clear, which are rare) and tiny next to an encoder
 * pass, so there is nothing to gain from finer locking and nothing to reason
 * about: no field is ever read or written outside the lock.
 *
 * A failed digest. ft_cache_digest zeroes the key if OpenSSL fails. An
 * all-zero SHA-256 is never produced by real data in practice, so get/put
 * treat the all-zero key as "no key" (miss, nothing stored): a caller that
 * ignores the return value can still never collide two images on one entry.
 */
#include "cache.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_BUCKETS_INITIAL 64
#define CACHE_LOAD_NUM 3 /* grow when entries > buckets * 3/4 */
#define CACHE_LOAD_DEN 4
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

typedef struct cache_entry {
    struct cache_entry *chain;       /* next in the bucket */
    struct cache_entry *prev, *next; /* recency list: prev is more recent */
    uint64_t hash;
    size_t cost;
    int dim;
    const char *model_id; /* points after vec[dim], same allocation */
    uint8_t key[FT_CACHE_KEY_BYTES];
    float vec[];
} cache_entry;

struct ft_cache {
    pthread_mutex_t mu;
    cache_entry **buckets;
    size_t n_buckets; /* a power of two */
    cache_entry *head, *tail;
    ft_cache_stats st;
};

/* ---------------------------------------------------------------- keys ---- */

int ft_cache_digest(const uint8_t *bytes, size_t n, uint8_t key[FT_CACHE_KEY_BYTES])
{
    unsigned int len = 0;
    static const uint8_t empty = 0;
    if (!EVP_Digest(n ? bytes : &empty, n, key, &len, EVP_sha256(), NULL) || len != FT_CACHE_KEY_BYTES) {
        memset(key, 0, FT_CACHE_KEY_BYTES);
        return 0;
    }
    return 1;
}

static int key_is_zero(const uint8_t key[FT_CACHE_KEY_BYTES])
{
    uint8_t acc = 0;
    for (int i = 0; i < FT_CACHE_KEY_BYTES; i++) acc |= key[i];
    return acc == 0;
}

static uint64_t key_hash(const uint8_t key[FT_CACHE_KEY_BYTES], const char *model_id, int dim)
{
    uint64_t h = FNV_OFFSET;
    for (const unsigned char *p = (const unsigned char *)model_id; *p; p++) h = (h ^ *p) * FNV_PRIME;
    h = (h ^ (uint64_t)(uint32_t)dim) * FNV_PRIME;
    uint64_t d;
    memcpy(&d, key, sizeof d);
    return d ^ h;
}

static int usable(const ft_cache *c, const uint8_t *key, const char *model_id, int dim)
{
    return c && key && model_id && dim > 0 && !key_is_zero(key);
}

static size_t entry_cost(const char *model_id, int dim)
{
    return sizeof(cache_entry) + (size_t)dim * sizeof(float) + strlen(model_id) + 1;
}

/* ---------------------------------------------------------- structure ---- */

ft_cache *ft_cache_new(size_t max_bytes)
{
    ft_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->n_buckets = CACHE_BUCKETS_INITIAL;
    c->buckets = calloc(c->n_buckets, sizeof *c->buckets);
    if (!c->buckets || pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c->buckets);
        free(c);
        return NULL;
    }
    c->st.max_bytes = max_bytes;
    return c;
}

static void list_unlink(ft_cache *c, cache_entry *e)
{
    if (e->prev) e->prev->next = e->next;
    else c->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_head(ft_cache *c, cache_entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head) c->head->prev = e;
    else c->tail = e;
    c->head = e;
}

static cache_entry **bucket_of(ft_cache *c, uint64_t hash)
{
    return &c->buckets[hash & (c->n_buckets - 1)];
}

static cache_entry *find(ft_cache *c, uint64_t hash, const uint8_t *key, const char *model_id, int dim)
{
    for (cache_entry *e = *bucket_of(c, hash); e; e = e->chain)
        if (e->hash == hash && e->dim == dim && memcmp(e->key, key, FT_CACHE_KEY_BYTES) == 0 &&
            strcmp(e->model_id, model_id) == 0)
            return e;
    return NULL;
}

/* Unlinks e from its bucket and the recency list, frees it, fixes the counts. */
static void remove_entry(ft_cache *c, cache_entry *e)
{
    cache_entry **pp = bucket_of(c, e->hash);
    while (*pp != e) pp = &(*pp)->chain;
    *pp = e->chain;
    list_unlink(c, e);
    c->st.entries--;
    c->st.bytes -= e->cost;
    free(e);
}

/* Doubles the bucket array; on OOM keeps the old one. */
static void maybe_grow(ft_cache *c)
{
    if (c->st.entries * CACHE_LOAD_DEN <= c->n_buckets * CACHE_LOAD_NUM) return;
    size_t n = c->n_buckets * 2;
    cache_entry **b = calloc(n, sizeof *b);
    if (!b) return;
    for (size_t i = 0; i < c->n_buckets; i++) {
        cache_entry *e = c->buckets[i];
        while (e) {
            cache_entry *next = e->chain;
            cache_entry **dst = &b[e->hash & (n - 1)];
            e->chain = *dst;
            *dst = e;
            e = next;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->n_buckets = n;
}

static void clear_locked(ft_cache *c)
{
    cache_entry *e = c->head;
    while (e) {
        cache_entry *next = e->next;
        free(e);
        e = next;
    }
    memset(c->buckets, 0, c->n_buckets * sizeof *c->buckets);
    c->head = c->tail = NULL;
    c->st.entries = 0;
    c->st.bytes = 0;
}

void ft_cache_free(ft_cache *c)
{
    if (!c) return;
    clear_locked(c);
    pthread_mutex_destroy(&c->mu);
    free(c->buckets);
    free(c);
}

/* ---------------------------------------------------------------- API ---- */

int ft_cache_get(ft_cache *c, const uint8_t key[FT_CACHE_KEY_BYTES], const char *model_id, float *out,
                 int dim)
{
    if (!c) return 0;
    pthread_mutex_lock(&c->mu);
    cache_entry *e = NULL;
    if (usable(c, key, model_id, dim) && out && c->st.max_bytes > 0)
        e = find(c, key_hash(key, model_id, dim), key, model_id, dim);
    if (e) {
        memcpy(out, e->vec, (size_t)dim * sizeof(float));
        list_unlink(c, e);
        list_push_head(c, e);
        c->st.hits++;
    } else {
        c->st.misses++;
    }
    pthread_mutex_unlock(&c->mu);
    return e != NULL;
}

void ft_cache_put(ft_cache *c, const uint8_t key[FT_CACHE_KEY_BYTES], const char *model_id, const float *emb,
                  int dim)
{
    if (!usable(c, key, model_id, dim) || !emb) return;
    size_t cost = entry_cost(model_id, dim);
    uint64_t hash = key_hash(key, model_id, dim);
    pthread_mutex_lock(&c->mu);
    if (cost > c->st.max_bytes) goto out; /* also covers the disabled cache */
    cache_entry *e = find(c, hash, key, model_id, dim);
    if (e) { /* same key, model and dim: same size, overwrite and refresh */
        memcpy(e->vec, emb, (size_t)dim * sizeof(float));
        list_unlink(c, e);
        list_push_head(c, e);
        goto out;
    }
    e = malloc(cost);
    if (!e) goto out;
    e->hash = hash;
    e->cost = cost;
    e->dim = dim;
    memcpy(e->key, key, FT_CACHE_KEY_BYTES);
    memcpy(e->vec, emb, (size_t)dim * sizeof(float));
    char *id = (char *)(e->vec + dim);
    memcpy(id, model_id, strlen(model_id) + 1);
    e->model_id = id;
    while (c->tail && c->st.bytes + cost > c->st.max_bytes) {
        remove_entry(c, c->tail);
        c->st.evictions++;
    }
    cache_entry **b = bucket_of(c, hash);
    e->chain = *b;
    *b = e;
    list_push_head(c, e);
    c->st.entries++;
    c->st.bytes += cost;
    c->st.inserts++;
    maybe_grow(c);
out:
    pthread_mutex_unlock(&c->mu);
}

int ft_cache_forget_vector(ft_cache *c, const char *model_id, const float *emb, int dim)
{
    if (!c || !model_id || !emb || dim <= 0) return 0;
    int n = 0;
    pthread_mutex_lock(&c->mu);
    cache_entry *e = c->head;
    while (e) {
        cache_entry *next = e->next;
        if (e->dim >= dim && strcmp(e->model_id, model_id) == 0 && /* prefix: a photo's entry carries its face record */
            memcmp(e->vec, emb, (size_t)dim * sizeof(float)) == 0) {
            remove_entry(c, e);
            n++;
        }
        e = next;
    }
    c->st.forgotten += (uint64_t)n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void ft_cache_clear(ft_cache *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    clear_locked(c);
    pthread_mutex_unlock(&c->mu);
}

void ft_cache_get_stats(ft_cache *c, ft_cache_stats *out)
{
    if (!out) return;
    if (!c) {
        memset(out, 0, sizeof *out);
        return;
    }
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    pthread_mutex_unlock(&c->mu);
}
