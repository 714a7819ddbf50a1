/* layers/reduce.h — sums over float arrays that the compiler can vectorise.
 *
 * A plain `acc += x[i]` is one long dependency chain: floating-point addition
 * is not associative, so without -ffast-math the compiler must keep the order
 * and issues one add per add-latency (3-4 cycles). Eight independent partial
 * sums, added together at the end, map onto SIMD lanes and run ~10x faster on
 * long arrays (a conv's dbias sums 11M floats per step on the reference
 * network). The result differs from the serial sum only by rounding, and is
 * deterministic: the order depends on n alone.
 */
#ifndef FT_LAYERS_REDUCE_H
#define FT_LAYERS_REDUCE_H

#include <stddef.h>

#define FT_REDUCE_LANES 8

/* FT_SIMD_CLONES on a hot loop of the memory-bound layers: GCC compiles it twice, for AVX2 and
 * for the baseline x86-64 the library is built for, and picks one at load time (an ifunc), so
 * one binary runs anywhere and uses 256-bit vectors where the CPU has them. The arithmetic is the
 * same in both (no FMA contraction: "avx2" does not enable FMA; the reductions above fix their
 * order), so the bits do not depend on which clone ran. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FT_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FT_SIMD_CLONES
#endif

/* sum_i x[i] */
static inline float ft_sum_f32(const float *x, size_t n)
{
    float acc[FT_REDUCE_LANES] = {0};
    size_t i = 0;
    for (; i + FT_REDUCE_LANES <= n; i += FT_REDUCE_LANES)
        for (int k = 0; k < FT_REDUCE_LANES; k++) acc[k] += x[i + k];
    float t = 0.0f;
    for (; i < n; i++) t += x[i];
    for (int k = 0; k < FT_REDUCE_LANES; k++) t += acc[k];
    return t;
}

/* sum_i x[i] * y[i] */
static inline float ft_dot_f32(const float *x, const float *y, size_t n)
{
    float acc[FT_REDUCE_LANES] = {0};
    size_t i = 0;
    for (; i + FT_REDUCE_LANES <= n; i += FT_REDUCE_LANES)
        for (int k = 0; k < FT_REDUCE_LANES; k++) acc[k] += x[i + k] * y[i + k];
    float t = 0.0f;
    for (; i < n; i++) t += x[i] * y[i];
    for (int k = 0; k < FT_REDUCE_LANES; k++) t += acc[k];
    return t;
}

/* sum_i x[i], accumulated in double */
static inline double ft_sum_f64(const float *x, size_t n)
{
    double acc[FT_REDUCE_LANES] = {0};
    size_t i = 0;
    for (; i + FT_REDUCE_LANES <= n; i += FT_REDUCE_LANES)
        for (int k = 0; k < FT_REDUCE_LANES; k++) acc[k] += (double)x[i + k];
    double t = 0.0;
    for (; i < n; i++) t += (double)x[i];
    for (int k = 0; k < FT_REDUCE_LANES; k++) t += acc[k];
    return t;
}

/* sum_i (x[i] - m)^2, accumulated in double */
static inline double ft_sumsq_dev_f64(const float *x, size_t n, double m)
{
    double acc[FT_REDUCE_LANES] = {0};
    size_t i = 0;
    for (; i + FT_REDUCE_LANES <= n; i += FT_REDUCE_LANES)
        for (int k = 0; k < FT_REDUCE_LANES; k++) {
            double d = (double)x[i + k] - m;
            acc[k] += d * d;
        }
    double t = 0.0;
    for (; i < n; i++) {
        double d = (double)x[i] - m;
        t += d * d;
    }
    for (int k = 0; k < FT_REDUCE_LANES; k++) t += acc[k];
    return t;
}

/* sum_i g[i] * (x[i] - m), accumulated in double */
static inline double ft_dot_dev_f64(const float *g, const float *x, size_t n, double m)
{
    double acc[FT_REDUCE_LANES] = {0};
    size_t i = 0;
    for (; i + FT_REDUCE_LANES <= n; i += FT_REDUCE_LANES)
        for (int k = 0; k < FT_REDUCE_LANES; k++) acc[k] += (double)g[i + k] * ((double)x[i + k] - m);
    double t = 0.0;
    for (; i < n; i++) t += (double)g[i] * ((double)x[i] - m);
    for (int k = 0; k < FT_REDUCE_LANES; k++) t += acc[k];
    return t;
}

#endif
