/* rng.h — the library's one pseudo-random generator (internal).
 *
 * splitmix64: tiny, fast, statistically fine for initialisation, shuffling,
 * pair sampling and augmentation, and above all reproducible — every random
 * choice in facetwin flows from an explicit seed through one of these, so the
 * same seed and thread count give bit-identical runs. Streams are derived
 * with ft_rng_derive(seed, tag) so that, e.g., epoch 7's pair order depends
 * only on (seed, 7) and a resumed run reproduces it exactly.
 */
#ifndef FT_RNG_H
#define FT_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s;
} ft_rng;

static inline uint64_t ft_rng_next(ft_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline ft_rng ft_rng_derive(uint64_t seed, uint64_t tag)
{
    ft_rng r = {seed ^ (tag * 0xD1B54A32D192ED03ull)};
    (void)ft_rng_next(&r);
    return r;
}

/* Uniform in [0, 1) with 24 bits, exactly representable as float. */
static inline float ft_rng_uniform(ft_rng *r)
{
    return (float)(ft_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

/* Uniform integer in [0, n), n > 0 (Lemire's multiply-shift, negligible bias). */
static inline uint32_t ft_rng_below(ft_rng *r, uint32_t n)
{
    return (uint32_t)(((ft_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Standard normal (Box-Muller). */
float ft_rng_normal(ft_rng *r);

/* Fisher-Yates shuffle of n uint32 indices. */
void ft_rng_shuffle_u32(ft_rng *r, uint32_t *a, size_t n);

#endif
