/* test_srv_cache.c — the embedding cache (server/cache.c).
 *
 * The per-entry cost is not hard-coded here: it is measured from the stats
 * after one put, so the LRU tests size the cache in whole entries. Keys are
 * real SHA-256 digests of small strings; vectors are derived from the key, so
 * any hit can be checked for a torn or mixed-up copy (the 8-thread test
 * relies on it).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "ft_test.h"

#define DIM 16
#define MODEL "m-0001"
#define N_THREADS 8
#define THREAD_OPS 20000
#define THREAD_KEYS 200
#define BOUND_PUTS 5000

/* ------------------------------------------------------------- helpers ---- */

static void make_key(int i, uint8_t key[FT_CACHE_KEY_BYTES])
{
    char s[32];
    int n = snprintf(s, sizeof s, "image-%d", i);
    assert_int_equal(ft_cache_digest((const uint8_t *)s, (size_t)n, key), 1);
}

static void make_vec(int i, float *v, int dim)
{
    for (int k = 0; k < dim; k++) v[k] = (float)i + 0.001f * (float)k;
}

static void put_i(ft_cache *c, int i, const char *model, int dim)
{
    uint8_t key[FT_CACHE_KEY_BYTES];
    float v[DIM * 4];
    make_key(i, key);
    make_vec(i, v, dim);
    ft_cache_put(c, key, model, v, dim);
}

/* 1 on a hit whose vector is the one put for i. */
static int get_i(ft_cache *c, int i, const char *model, int dim)
{
    uint8_t key[FT_CACHE_KEY_BYTES];
    float v[DIM * 4], want[DIM * 4];
    make_key(i, key);
    make_vec(i, want, dim);
    if (!ft_cache_get(c, key, model, v, dim)) return 0;
    assert_memory_equal(v, want, (size_t)dim * sizeof(float));
    return 1;
}

static ft_cache_stats stats(ft_cache *c)
{
    ft_cache_stats s;
    ft_cache_get_stats(c, &s);
    return s;
}

/* Bytes one (MODEL, DIM) entry costs. */
static size_t one_entry_cost(void)
{
    ft_cache *c = ft_cache_new(1 << 20);
    assert_non_null(c);
    put_i(c, 0, MODEL, DIM);
    size_t cost = (size_t)stats(c).bytes;
    ft_cache_free(c);
    return cost;
}

/* --------------------------------------------------------------- tests ---- */

static void test_digest_known_answer(void **state)
{
    (void)state;
    static const uint8_t abc[FT_CACHE_KEY_BYTES] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    static const uint8_t empty[FT_CACHE_KEY_BYTES] = {
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
        0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};
    uint8_t key[FT_CACHE_KEY_BYTES];
    assert_int_equal(ft_cache_digest((const uint8_t *)"abc", 3, key), 1);
    assert_memory_equal(key, abc, sizeof key);
    assert_int_equal(ft_cache_digest(NULL, 0, key), 1);
    assert_memory_equal(key, empty, sizeof key);
}

static void test_hit_miss_counts(void **state)
{
    (void)state;
    ft_cache *c = ft_cache_new(1 << 20);
    assert_non_null(c);
    assert_int_equal(get_i(c, 1, MODEL, DIM), 0);
    put_i(c, 1, MODEL, DIM);
    assert_int_equal(get_i(c, 1, MODEL, DIM), 1);
    assert_int_equal(get_i(c, 1, MODEL, DIM), 1);
    assert_int_equal(get_i(c, 1, MODEL, DIM / 2), 0); /* the dim is part of the key */
    put_i(c, 1, MODEL, DIM);                           /* re-put: refresh, not a new entry */
    ft_cache_stats s = stats(c);
    assert_int_equal(s.hits, 2);
    assert_int_equal(s.misses, 2);
    assert_int_equal(s.inserts, 1);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.evictions, 0);
    assert_int_equal(s.max_bytes, 1 << 20);
    assert_true(s.bytes >= DIM * sizeof(float) + sizeof MODEL);

    /* Overwriting a stored key replaces its vector. */
    uint8_t key[FT_CACHE_KEY_BYTES];
    float v[DIM], out[DIM];
    make_key(1, key);
    make_vec(99, v, DIM);
    ft_cache_put(c, key, MODEL, v, DIM);
    assert_int_equal(ft_cache_get(c, key, MODEL, out, DIM), 1);
    assert_memory_equal(out, v, sizeof v);
    ft_cache_free(c);
}

static void test_cost_counts_everything(void **state)
{
    (void)state;
    ft_cache *c = ft_cache_new(1 << 20);
    assert_non_null(c);
    put_i(c, 1, "a", DIM);
    uint64_t b1 = stats(c).bytes;
    put_i(c, 2, "a", DIM * 2); /* +DIM floats */
    uint64_t b2 = stats(c).bytes;
    assert_int_equal(b2 - b1, b1 + DIM * sizeof(float));
    put_i(c, 3, "abcdef", DIM); /* +5 bytes of model id */
    assert_int_equal(stats(c).bytes - b2, b1 + 5);
    assert_true(b1 > DIM * sizeof(float) + 2 + FT_CACHE_KEY_BYTES); /* the struct counts */
    ft_cache_free(c);
}

static void test_lru_eviction_order(void **state)
{
    (void)state;
    size_t cost = one_entry_cost();
    ft_cache *c = ft_cache_new(3 * cost);
    assert_non_null(c);
    put_i(c, 1, MODEL, DIM);
    put_i(c, 2, MODEL, DIM);
    put_i(c, 3, MODEL, DIM);
    assert_int_equal(stats(c).entries, 3);
    assert_int_equal(stats(c).bytes, 3 * cost);

    put_i(c, 4, MODEL, DIM); /* evicts 1, the oldest */
    assert_int_equal(stats(c).evictions, 1);
    assert_int_equal(get_i(c, 1, MODEL, DIM), 0);

    assert_int_equal(get_i(c, 2, MODEL, DIM), 1); /* 2 is now the most recent: order 3,4,2 */
    put_i(c, 5, MODEL, DIM);                      /* evicts 3 */
    assert_int_equal(get_i(c, 3, MODEL, DIM), 0);
    assert_int_equal(get_i(c, 2, MODEL, DIM), 1);
    assert_int_equal(get_i(c, 4, MODEL, DIM), 1);
    assert_int_equal(get_i(c, 5, MODEL, DIM), 1);

    put_i(c, 4, MODEL, DIM); /* put refreshes too: order 2,5,4 */
    put_i(c, 6, MODEL, DIM); /* evicts 2 */
    assert_int_equal(get_i(c, 2, MODEL, DIM), 0);
    assert_int_equal(get_i(c, 5, MODEL, DIM), 1);
    ft_cache_stats s = stats(c);
    assert_int_equal(s.entries, 3);
    assert_int_equal(s.evictions, 3);
    assert_true(s.bytes <= s.max_bytes);

    /* A larger entry evicts as many as it needs, oldest first (order 4,6,5 -> 4 and 6 go). */
    put_i(c, 7, MODEL, DIM * 2);
    assert_int_equal(get_i(c, 7, MODEL, DIM * 2), 1);
    assert_int_equal(get_i(c, 5, MODEL, DIM), 1);
    assert_int_equal(get_i(c, 4, MODEL, DIM), 0);
    assert_int_equal(get_i(c, 6, MODEL, DIM), 0);
    assert_true(stats(c).bytes <= 3 * cost);
    ft_cache_free(c);
}

static void test_too_big_not_stored(void **state)
{
    (void)state;
    size_t cost = one_entry_cost();
    ft_cache *c = ft_cache_new(cost - 1);
    assert_non_null(c);
    put_i(c, 1, MODEL, DIM);
    assert_int_equal(stats(c).entries, 0);
    assert_int_equal(stats(c).inserts, 0);
    assert_int_equal(get_i(c, 1, MODEL, DIM), 0);
    ft_cache_free(c);

    c = ft_cache_new(2 * cost); /* exactly two fit */
    assert_non_null(c);
    put_i(c, 1, MODEL, DIM);
    put_i(c, 2, MODEL, DIM);
    assert_int_equal(stats(c).bytes, 2 * cost);
    put_i(c, 3, MODEL, DIM * 4); /* costs more than the whole cache: stored nowhere, evicts nothing */
    assert_int_equal(get_i(c, 3, MODEL, DIM * 4), 0);
    assert_int_equal(get_i(c, 1, MODEL, DIM), 1);
    assert_int_equal(get_i(c, 2, MODEL, DIM), 1);
    assert_int_equal(stats(c).evictions, 0);
    ft_cache_free(c);
}

static void test_byte_bound_never_exceeded(void **state)
{
    (void)state;
    size_t cost = one_entry_cost();
    size_t max = 37 * cost + cost / 2; /* not a multiple of any entry size */
    ft_cache *c = ft_cache_new(max);
    assert_non_null(c);
    for (int i = 0; i < BOUND_PUTS; i++) {
        int dim = 1 + i % (DIM * 4);
        put_i(c, i, (i % 3) ? MODEL : "other-model-with-a-longer-id", dim);
        ft_cache_stats s = stats(c);
        assert_true(s.bytes <= max);
        assert_int_equal(s.inserts, s.entries + s.evictions);
    }
    /* The most recent put is always present. */
    int last = BOUND_PUTS - 1;
    assert_int_equal(get_i(c, last, (last % 3) ? MODEL : "other-model-with-a-longer-id", 1 + last % (DIM * 4)), 1);
    ft_cache_free(c);

    /* A big cache holds thousands (the table grows), every one retrievable. */
    c = ft_cache_new((size_t)BOUND_PUTS * cost);
    assert_non_null(c);
    for (int i = 0; i < BOUND_PUTS; i++) put_i(c, i, MODEL, DIM);
    assert_int_equal(stats(c).entries, BOUND_PUTS);
    assert_int_equal(stats(c).bytes, (uint64_t)BOUND_PUTS * cost);
    for (int i = 0; i < BOUND_PUTS; i++) assert_int_equal(get_i(c, i, MODEL, DIM), 1);
    ft_cache_free(c);
}

static void test_same_digest_other_model(void **state)
{
    (void)state;
    ft_cache *c = ft_cache_new(1 << 20);
    assert_non_null(c);
    uint8_t key[FT_CACHE_KEY_BYTES];
    float a[DIM], b[DIM], out[DIM];
    make_key(1, key);
    make_vec(1, a, DIM);
    make_vec(2, b, DIM);
    ft_cache_put(c, key, "model-a", a, DIM);
    assert_int_equal(ft_cache_get(c, key, "model-b", out, DIM), 0);
    ft_cache_put(c, key, "model-b", b, DIM);
    assert_int_equal(stats(c).entries, 2);
    assert_int_equal(ft_cache_get(c, key, "model-a", out, DIM), 1);
    assert_memory_equal(out, a, sizeof a);
    assert_int_equal(ft_cache_get(c, key, "model-b", out, DIM), 1);
    assert_memory_equal(out, b, sizeof b);
    assert_int_equal(ft_cache_get(c, key, "model-", out, DIM), 0); /* prefix is not a match */
    ft_cache_free(c);
}

static void test_forget_vector(void **state)
{
    (void)state;
    ft_cache *c = ft_cache_new(1 << 20);
    assert_non_null(c);
    uint8_t k1[FT_CACHE_KEY_BYTES], k2[FT_CACHE_KEY_BYTES], k3[FT_CACHE_KEY_BYTES];
    float face[DIM], other[DIM], out[DIM];
    make_key(1, k1);
    make_key(2, k2);
    make_key(3, k3);
    make_vec(7, face, DIM);
    make_vec(8, other, DIM);
    face[0] = 0.0f;
    ft_cache_put(c, k1, "A", face, DIM); /* two images of the deleted face */
    ft_cache_put(c, k2, "A", face, DIM);
    ft_cache_put(c, k3, "A", other, DIM);
    ft_cache_put(c, k1, "B", face, DIM); /* same vector, other model: stays */

    float near[DIM];
    memcpy(near, face, sizeof near);
    near[0] = -0.0f; /* == as floats, different bits: not the same vector */
    assert_int_equal(ft_cache_forget_vector(c, "A", near, DIM), 0);
    /* a prefix matches: a photo's entry carries its face record after the embedding */
    assert_int_equal(ft_cache_forget_vector(c, "A", face, DIM / 2), 2);
    assert_int_equal(ft_cache_forget_vector(c, "A", face, DIM), 0);
    assert_int_equal(ft_cache_get(c, k1, "A", out, DIM), 0);
    assert_int_equal(ft_cache_get(c, k2, "A", out, DIM), 0);
    assert_int_equal(ft_cache_get(c, k3, "A", out, DIM), 1);
    assert_int_equal(ft_cache_get(c, k1, "B", out, DIM), 1);
    ft_cache_stats s = stats(c);
    assert_int_equal(s.forgotten, 2);
    assert_int_equal(s.entries, 2);
    assert_int_equal(ft_cache_forget_vector(c, "A", face, DIM), 0);
    ft_cache_free(c);
}

static void test_clear(void **state)
{
    (void)state;
    ft_cache *c = ft_cache_new(1 << 20);
    assert_non_null(c);
    for (int i = 0; i < 100; i++) put_i(c, i, MODEL, DIM);
    ft_cache_clear(c);
    ft_cache_stats s = stats(c);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.bytes, 0);
    assert_int_equal(s.inserts, 100);
    for (int i = 0; i < 100; i++) assert_int_equal(get_i(c, i, MODEL, DIM), 0);
    put_i(c, 5, MODEL, DIM); /* usable after a clear */
    assert_int_equal(get_i(c, 5, MODEL, DIM), 1);
    ft_cache_clear(c);
    ft_cache_clear(c);
    ft_cache_free(c);
}

static void test_disabled(void **state)
{
    (void)state;
    ft_cache *c = ft_cache_new(0);
    assert_non_null(c);
    put_i(c, 1, MODEL, DIM);
    assert_int_equal(get_i(c, 1, MODEL, DIM), 0);
    ft_cache_stats s = stats(c);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.bytes, 0);
    assert_int_equal(s.inserts, 0);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.max_bytes, 0);
    ft_cache_free(c);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    ft_cache *c = ft_cache_new(1 << 20);
    assert_non_null(c);
    uint8_t key[FT_CACHE_KEY_BYTES], zero[FT_CACHE_KEY_BYTES] = {0};
    float v[DIM] = {1.0f};
    make_key(1, key);
    ft_cache_put(c, key, NULL, v, DIM);
    ft_cache_put(c, key, MODEL, NULL, DIM);
    ft_cache_put(c, key, MODEL, v, 0);
    ft_cache_put(c, key, MODEL, v, -1);
    ft_cache_put(c, zero, MODEL, v, DIM); /* a failed digest's key is never stored */
    assert_int_equal(stats(c).entries, 0);
    assert_int_equal(ft_cache_get(c, zero, MODEL, v, DIM), 0);
    assert_int_equal(ft_cache_get(c, key, NULL, v, DIM), 0);
    assert_int_equal(ft_cache_get(c, key, MODEL, v, 0), 0);
    assert_int_equal(ft_cache_forget_vector(c, NULL, v, DIM), 0);
    ft_cache_free(c);
    ft_cache_free(NULL);
    ft_cache_clear(NULL);
    ft_cache_stats s;
    ft_cache_get_stats(NULL, &s);
    assert_int_equal(s.entries, 0);
}

/* --------------------------------------------------------- concurrency ---- */

typedef struct {
    ft_cache *c;
    int seed;
    int hits, gets, bad; /* bad: torn or wrong copies (cmocka asserts only on the main thread) */
} worker_arg;

/* get_i without assertions: 1 hit, 0 miss, -1 a hit with the wrong vector. */
static int get_checked(ft_cache *c, const uint8_t *key, int i, int dim)
{
    float v[DIM], want[DIM];
    make_vec(i, want, dim);
    if (!ft_cache_get(c, key, MODEL, v, dim)) return 0;
    return memcmp(v, want, (size_t)dim * sizeof(float)) == 0 ? 1 : -1;
}

static void *worker(void *p)
{
    worker_arg *a = p;
    unsigned s = (unsigned)a->seed * 2654435761u + 1;
    for (int n = 0; n < THREAD_OPS; n++) {
        s = s * 1103515245u + 12345u;
        int i = (int)((s >> 8) % THREAD_KEYS);
        int dim = 1 + i % DIM; /* a key always comes with the same dim and vector */
        uint8_t key[FT_CACHE_KEY_BYTES];
        float v[DIM];
        char name[32];
        int len = snprintf(name, sizeof name, "image-%d", i);
        if (!ft_cache_digest((const uint8_t *)name, (size_t)len, key)) a->bad++;
        make_vec(i, v, dim);
        switch ((s >> 4) % 8) {
        case 0:
            ft_cache_put(a->c, key, MODEL, v, dim);
            break;
        case 1:
            ft_cache_forget_vector(a->c, MODEL, v, dim);
            break;
        default: {
            int r = get_checked(a->c, key, i, dim);
            if (r < 0) a->bad++;
            else a->hits += r;
            a->gets++;
        }
        }
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    size_t cost = one_entry_cost();
    ft_cache *c = ft_cache_new(THREAD_KEYS / 4 * cost); /* small: constant eviction */
    assert_non_null(c);
    pthread_t th[N_THREADS];
    worker_arg args[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        args[t] = (worker_arg){c, t + 1, 0, 0, 0};
        assert_int_equal(pthread_create(&th[t], NULL, worker, &args[t]), 0);
    }
    uint64_t hits = 0, gets = 0;
    for (int t = 0; t < N_THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(args[t].bad, 0);
        hits += (uint64_t)args[t].hits;
        gets += (uint64_t)args[t].gets;
    }
    ft_cache_stats s = stats(c);
    assert_int_equal(s.hits, hits);
    assert_int_equal(s.hits + s.misses, gets);
    assert_true(s.hits > 0 && s.evictions > 0);
    assert_true(s.bytes <= s.max_bytes);
    assert_int_equal(s.inserts, s.entries + s.evictions + s.forgotten);
    ft_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_known_answer),
        cmocka_unit_test(test_hit_miss_counts),
        cmocka_unit_test(test_cost_counts_everything),
        cmocka_unit_test(test_lru_eviction_order),
        cmocka_unit_test(test_too_big_not_stored),
        cmocka_unit_test(test_byte_bound_never_exceeded),
        cmocka_unit_test(test_same_digest_other_model),
        cmocka_unit_test(test_forget_vector),
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
