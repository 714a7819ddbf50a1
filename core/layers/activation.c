/* activation.c — element-wise activations. ReLU, ReLU6 and leaky ReLU.
 *
 * Shapes: n elements, any layout. Forward may run in place (out == inp).
 * Backward reads the forward's output rather than its input: out > 0 exactly
 * where inp > 0, and keeping out is what an in-place forward leaves behind.
 * The gradient at 0 is 0, as PyTorch. NaN inputs give NaN outputs (the
 * comparison is written so that NaN is not silently turned into 0).
 */
#include "facetwin/layers.h"

#include "layers/reduce.h"
#include "pool.h"

/* ReLU's loops are split across the library's pool when large (core/pool.h): each element is
 * one thread's, so the bits do not depend on the thread count. */
typedef struct {
    float *out;
    const float *inp, *dout;
} relu_job;

FT_SIMD_CLONES static void relu_forward_range(void *arg, size_t lo, size_t hi)
{
    const relu_job *j = arg;
    for (size_t i = lo; i < hi; i++) j->out[i] = j->inp[i] < 0.0f ? 0.0f : j->inp[i];
}

void ft_relu_forward(float *out, const float *inp, size_t n)
{
    relu_job j = {out, inp, NULL};
    ft_pool_for(n, 2.0 * sizeof(float), relu_forward_range, &j);
}

/* out is dinp, inp the forward's output */
FT_SIMD_CLONES static void relu_backward_range(void *arg, size_t lo, size_t hi)
{
    const relu_job *j = arg;
    for (size_t i = lo; i < hi; i++) j->out[i] += j->inp[i] > 0.0f ? j->dout[i] : 0.0f;
}

void ft_relu_backward(float *dinp, const float *dout, const float *out, size_t n)
{
    if (!dinp) return;
    relu_job j = {dinp, out, dout};
    ft_pool_for(n, 3.0 * sizeof(float), relu_backward_range, &j);
}

/* out is the gradient, masked in place; inp the forward's output */
FT_SIMD_CLONES static void relu_mask_range(void *arg, size_t lo, size_t hi)
{
    const relu_job *j = arg;
    for (size_t i = lo; i < hi; i++) j->out[i] = j->inp[i] > 0.0f ? j->out[i] : 0.0f;
}

void ft_relu_backward_inplace(float *dout, const float *out, size_t n)
{
    relu_job j = {dout, out, NULL};
    ft_pool_for(n, 2.0 * sizeof(float), relu_mask_range, &j);
}

/* Leaky ReLU (darknet's and face-api's tiny detector's "leaky", alpha 0.1):
 * x for x > 0, alpha*x otherwise. With alpha > 0, out > 0 exactly where
 * inp > 0, so backward reads out as ReLU does. */
void ft_leaky_forward(float *out, const float *inp, size_t n, float alpha)
{
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : alpha * inp[i];
}

void ft_leaky_backward(float *dinp, const float *dout, const float *out, size_t n, float alpha)
{
    if (!dinp) return;
    for (size_t i = 0; i < n; i++) dinp[i] += out[i] > 0.0f ? dout[i] : alpha * dout[i];
}

/* ReLU6 (tf.clipByValue(x, 0, 6), MobileNet's): the gradient passes where
 * 0 < out < 6, read from out as ReLU does. */
void ft_relu6_forward(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = inp[i] < 0.0f ? 0.0f : inp[i] > 6.0f ? 6.0f : inp[i];
}

void ft_relu6_backward(float *dinp, const float *dout, const float *out, size_t n)
{
    if (!dinp) return;
    for (size_t i = 0; i < n; i++) dinp[i] += out[i] > 0.0f && out[i] < 6.0f ? dout[i] : 0.0f;
}
