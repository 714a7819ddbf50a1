/* activation.c — element-wise activations. ReLU, ReLU6 and leaky ReLU.
 *
 * Shapes: n elements, any layout. Forward may run in place (out == inp).
 * Backward reads the forward's output rather than its input: out > 0 exactly
 * where inp > 0, and keeping out is what an in-place forward leaves behind.
 * The gradient at 0 is 0, as PyTorch. NaN inputs give NaN outputs (the
 * comparison is written so that NaN is not silently turned into 0).
 */
#include "facetwin/layers.h"

void ft_relu_forward(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = inp[i] < 0.0f ? 0.0f : inp[i];
}

void ft_relu_backward(float *dinp, const float *dout, const float *out, size_t n)
{
    if (!dinp) return;
    for (size_t i = 0; i < n; i++) dinp[i] += out[i] > 0.0f ? dout[i] : 0.0f;
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
