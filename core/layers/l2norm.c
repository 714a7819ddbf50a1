/* l2norm.c — L2 normalisation of rows, the embedding's last layer.
 *
 * Shapes: inp, out (B,D). out_i = x_i / max(||x_i||, eps), as PyTorch's
 * F.normalize(x, p=2, dim=1, eps). Norms and dot products are accumulated in
 * double (D is a few hundred at most; the cost is nil).
 *
 * Backward, with n = ||x|| and g = dout_i:
 *   n >= eps (the norm is what divides; PyTorch's clamp_min passes the
 *            gradient at equality):  dx = g/n - x (x.g)/n^3
 *                                       = (g - out (out.g)) / n
 *   n <  eps (the constant eps divides):  dx = g/eps
 * The projection form says what normalisation does: the component of g along
 * the embedding is removed, since moving along it does not change out.
 */
#include "facetwin/layers.h"

#include <math.h>

static double row_norm(const float *x, int D)
{
    double ss = 0.0;
    for (int k = 0; k < D; k++) ss += (double)x[k] * x[k];
    return sqrt(ss);
}

void ft_l2norm_forward(float *out, const float *inp, int B, int D, float eps)
{
    for (int b = 0; b < B; b++) {
        const float *x = inp + (size_t)b * D;
        float *o = out + (size_t)b * D;
        double n = row_norm(x, D);
        double inv = 1.0 / (n > (double)eps ? n : (double)eps);
        for (int k = 0; k < D; k++) o[k] = (float)(x[k] * inv);
    }
}

void ft_l2norm_backward(float *dinp, const float *dout, const float *inp, int B, int D, float eps)
{
    if (!dinp) return;
    for (int b = 0; b < B; b++) {
        const float *x = inp + (size_t)b * D, *g = dout + (size_t)b * D;
        float *d = dinp + (size_t)b * D;
        double n = row_norm(x, D);
        if (n >= (double)eps && n > 0.0) {
            double xg = 0.0;
            for (int k = 0; k < D; k++) xg += (double)x[k] * g[k];
            double inv = 1.0 / n, c = xg * inv * inv * inv;
            for (int k = 0; k < D; k++) d[k] += (float)(g[k] * inv - x[k] * c);
        } else {
            double inv = 1.0 / (double)eps;
            for (int k = 0; k < D; k++) d[k] += (float)(g[k] * inv);
        }
    }
}
