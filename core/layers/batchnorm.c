/* batchnorm.c — batch normalisation and the per-channel scale/bias layer.
 *
 * Shapes: inp, out (B,C,HW) — NCHW activations with HW = H*W, or (B,C)
 * vectors with HW = 1; gamma, beta, mean, rstd, running stats (C).
 * Statistics are per channel over the N = B*HW values of that channel,
 * matching torch.nn.BatchNorm2d / BatchNorm1d:
 *
 *   training   mean = sum x / N,  var = sum (x-mean)^2 / N      (biased)
 *              out  = (x - mean) * rstd * gamma + beta,  rstd = 1/sqrt(var+eps)
 *              running_mean = (1-momentum) running_mean + momentum mean
 *              running_var  = (1-momentum) running_var  + momentum var N/(N-1)
 *   inference  out  = (x - running_mean) / sqrt(running_var + eps) * gamma + beta
 *
 * The sums run in double and the variance is two-pass (mean first), so a
 * channel with a large offset and small spread does not lose its variance to
 * cancellation. With N == 1 PyTorch refuses to train; here the unbiased
 * variance is undefined and the running variance takes the biased one (0).
 * gamma / beta NULL mean 1 / 0; running stats NULL are not updated.
 *
 * Backward (the classic closed form, xhat = (x-mean)*rstd, g = dout*gamma):
 *   dbeta  += sum dout,   dgamma += sum dout * xhat
 *   dinp   += rstd * (g - mean(g) - xhat * mean(g * xhat))
 * It needs only the saved mean and rstd, recomputing xhat from inp.
 *
 * The scale layer (out = inp * scale[c] + bias[c]) is batch norm's affine
 * half alone; it lives here since it is the same per-channel walk.
 */
#include "facetwin/layers.h"

#include <math.h>

#include "layers/reduce.h"

void ft_batchnorm_forward_train(float *out, float *mean, float *rstd, float *running_mean,
                                float *running_var, const float *inp, const float *gamma,
                                const float *beta, int B, int C, int HW, float momentum,
                                float eps)
{
    const size_t N = (size_t)B * HW;
    for (int c = 0; c < C; c++) {
        double sum = 0.0;
        for (int b = 0; b < B; b++) sum += ft_sum_f64(inp + ((size_t)b * C + c) * HW, (size_t)HW);
        double m = sum / (double)N, sq = 0.0;
        for (int b = 0; b < B; b++) sq += ft_sumsq_dev_f64(inp + ((size_t)b * C + c) * HW, (size_t)HW, m);
        double var = sq / (double)N;
        double rs = 1.0 / sqrt(var + (double)eps);
        mean[c] = (float)m;
        rstd[c] = (float)rs;
        if (running_mean)
            running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * (float)m;
        if (running_var) {
            double unbiased = N > 1 ? sq / (double)(N - 1) : var;
            running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (float)unbiased;
        }
        const float scale = (float)rs * (gamma ? gamma[c] : 1.0f);
        const float shift = (beta ? beta[c] : 0.0f) - (float)m * scale;
        for (int b = 0; b < B; b++) {
            const float *x = inp + ((size_t)b * C + c) * HW;
            float *o = out + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++) o[i] = x[i] * scale + shift;
        }
    }
}

void ft_batchnorm_forward_eval(float *out, const float *inp, const float *gamma,
                               const float *beta, const float *running_mean,
                               const float *running_var, int B, int C, int HW, float eps)
{
    for (int c = 0; c < C; c++) {
        double rs = 1.0 / sqrt((double)running_var[c] + (double)eps);
        const float scale = (float)rs * (gamma ? gamma[c] : 1.0f);
        const float shift = (beta ? beta[c] : 0.0f) - running_mean[c] * scale;
        for (int b = 0; b < B; b++) {
            const float *x = inp + ((size_t)b * C + c) * HW;
            float *o = out + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++) o[i] = x[i] * scale + shift;
        }
    }
}

void ft_batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                           const float *inp, const float *mean, const float *rstd,
                           const float *gamma, int B, int C, int HW)
{
    const double N = (double)B * HW;
    for (int c = 0; c < C; c++) {
        const float m = mean[c], rs = rstd[c];
        double sum_g = 0.0, sum_gx = 0.0; /* sum dout, sum dout * xhat */
        for (int b = 0; b < B; b++) {
            const float *x = inp + ((size_t)b * C + c) * HW;
            const float *g = dout + ((size_t)b * C + c) * HW;
            sum_g += ft_sum_f64(g, (size_t)HW);
            sum_gx += ft_dot_dev_f64(g, x, (size_t)HW, m);
        }
        sum_gx *= rs;
        if (dbeta) dbeta[c] += (float)sum_g;
        if (dgamma) dgamma[c] += (float)sum_gx;
        if (!dinp) continue;
        const float gm = gamma ? gamma[c] : 1.0f;
        const float mean_g = (float)(sum_g / N) * gm, mean_gx = (float)(sum_gx / N) * gm;
        for (int b = 0; b < B; b++) {
            const float *x = inp + ((size_t)b * C + c) * HW;
            const float *g = dout + ((size_t)b * C + c) * HW;
            float *d = dinp + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++) {
                float xhat = (x[i] - m) * rs;
                d[i] += rs * (g[i] * gm - mean_g - xhat * mean_gx);
            }
        }
    }
}

/* ---- per-channel scale and bias: out = inp * scale[c] + bias[c] ---- */

void ft_scale_forward(float *out, const float *inp, const float *scale, const float *bias, int B,
                      int C, int HW)
{
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            const float *x = inp + ((size_t)b * C + c) * HW;
            float *o = out + ((size_t)b * C + c) * HW;
            const float sc = scale[c], bi = bias ? bias[c] : 0.0f;
            for (int i = 0; i < HW; i++) o[i] = x[i] * sc + bi;
        }
}

void ft_scale_backward(float *dinp, float *dscale, float *dbias, const float *dout,
                       const float *inp, const float *scale, int B, int C, int HW)
{
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            const float *x = inp + ((size_t)b * C + c) * HW;
            const float *g = dout + ((size_t)b * C + c) * HW;
            if (dbias) dbias[c] += ft_sum_f32(g, (size_t)HW);
            if (dscale) dscale[c] += ft_dot_f32(g, x, (size_t)HW);
            if (dinp) {
                float *d = dinp + ((size_t)b * C + c) * HW;
                const float sc = scale[c];
                for (int i = 0; i < HW; i++) d[i] += g[i] * sc;
            }
        }
}
