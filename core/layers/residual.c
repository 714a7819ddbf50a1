/* residual.c — the residual connection: out = a + b.
 *
 * Shapes: n elements each. The gradient of a sum reaches both summands
 * unchanged, so backward adds dout to da and to db (either may be NULL; they
 * may also be the same buffer when a tensor is added to itself, which then
 * correctly receives 2 * dout).
 */
#include "facetwin/layers.h"

void ft_add_forward(float *out, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void ft_add_backward(float *da, float *db, const float *dout, size_t n)
{
    if (da)
        for (size_t i = 0; i < n; i++) da[i] += dout[i];
    if (db)
        for (size_t i = 0; i < n; i++) db[i] += dout[i];
}
