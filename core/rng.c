/* rng.c — the non-inline parts of the library's PRNG (see rng.h). */
#include "rng.h"

#include <math.h>

float ft_rng_normal(ft_rng *r)
{
    float u1 = ft_rng_uniform(r), u2 = ft_rng_uniform(r);
    if (u1 < 1e-12f) u1 = 1e-12f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

void ft_rng_shuffle_u32(ft_rng *r, uint32_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = ft_rng_below(r, (uint32_t)i);
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}
