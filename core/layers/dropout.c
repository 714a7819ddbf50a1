/* dropout.c — inverted dropout (training only; the net copies at inference).
 *
 * Shapes: n elements, any layout. Each element is kept with probability
 * 1 - p and then scaled by 1/(1-p), so the expected output equals the input
 * and inference needs no rescaling. The mask (0 or 1/(1-p)) is stored for
 * backward, which is then a plain product: dinp += dout * mask.
 *
 * Randomness: the caller owns the generator state *rng (a uint64_t) and this
 * function advances it. The generator is the library's splitmix64 (rng.h):
 * one 64-bit draw per element, its top 24 bits giving u uniform in [0,1),
 * and the element is dropped when u < p. So a given seed always yields the
 * same masks, independent of thread count, and a checkpoint can save and
 * restore the state as one integer.
 */
#include "facetwin/layers.h"

#include "rng.h"

void ft_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p,
                        uint64_t *rng)
{
    const float keep_scale = 1.0f / (1.0f - p);
    ft_rng r = {*rng};
    for (size_t i = 0; i < n; i++) {
        float m = ft_rng_uniform(&r) < p ? 0.0f : keep_scale;
        mask[i] = m;
        out[i] = inp[i] * m;
    }
    *rng = r.s;
}

void ft_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n)
{
    if (!dinp) return;
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * mask[i];
}
