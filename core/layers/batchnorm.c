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
#include "pool.h"

/* Every function below walks channels independently: channel c's statistics, output and
 * gradients are one thread's work, in the serial order, so the pool (core/pool.h) can take
 * ranges of channels when the layer is large and the bits stay those of one thread. */
typedef struct {
    float *out, *mean, *rstd, *running_mean, *running_var, *dgamma, *dbeta;
    const float *inp, *dout, *gamma, *beta, *rmean, *rvar, *cmean, *crstd;
    int B, C, HW;
    float momentum, eps;
} bn_job;

static double channel_bytes(int B, int HW, double passes) { return passes * sizeof(float) * (double)B * HW; }

FT_SIMD_CLONES static void forward_train_channels(void *arg, size_t lo, size_t hi)
{
    const bn_job *j = arg;
    const int B = j->B, C = j->C, HW = j->HW;
    const size_t N = (size_t)B * HW;
    for (size_t c = lo; c < hi; c++) {
        double sum = 0.0;
        for (int b = 0; b < B; b++) sum += ft_sum_f64(j->inp + ((size_t)b * C + c) * HW, (size_t)HW);
        double m = sum / (double)N, sq = 0.0;
        for (int b = 0; b < B; b++) sq += ft_sumsq_dev_f64(j->inp + ((size_t)b * C + c) * HW, (size_t)HW, m);
        double var = sq / (double)N;
        double rs = 1.0 / sqrt(var + (double)j->eps);
        j->mean[c] = (float)m;
        j->rstd[c] = (float)rs;
        if (j->running_mean) j->running_mean[c] = (1.0f - j->momentum) * j->running_mean[c] + j->momentum * (float)m;
        if (j->running_var) {
            double unbiased = N > 1 ? sq / (double)(N - 1) : var;
            j->running_var[c] = (1.0f - j->momentum) * j->running_var[c] + j->momentum * (float)unbiased;
        }
        const float scale = (float)rs * (j->gamma ? j->gamma[c] : 1.0f);
        const float shift = (j->beta ? j->beta[c] : 0.0f) - (float)m * scale;
        for (int b = 0; b < B; b++) {
            const float *x = j->inp + ((size_t)b * C + c) * HW;
            float *o = j->out + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++) o[i] = x[i] * scale + shift;
        }
    }
}

void ft_batchnorm_forward_train(float *out, float *mean, float *rstd, float *running_mean,
                                float *running_var, const float *inp, const float *gamma,
                                const float *beta, int B, int C, int HW, float momentum,
                                float eps)
{
    bn_job j = {.out = out, .mean = mean, .rstd = rstd, .running_mean = running_mean, .running_var = running_var,
                .inp = inp, .gamma = gamma, .beta = beta, .B = B, .C = C, .HW = HW, .momentum = momentum, .eps = eps};
    ft_pool_for((size_t)C, channel_bytes(B, HW, 4.0), forward_train_channels, &j);
}

FT_SIMD_CLONES static void forward_eval_channels(void *arg, size_t lo, size_t hi)
{
    const bn_job *j = arg;
    const int B = j->B, C = j->C, HW = j->HW;
    for (size_t c = lo; c < hi; c++) {
        double rs = 1.0 / sqrt((double)j->rvar[c] + (double)j->eps);
        const float scale = (float)rs * (j->gamma ? j->gamma[c] : 1.0f);
        const float shift = (j->beta ? j->beta[c] : 0.0f) - j->rmean[c] * scale;
        for (int b = 0; b < B; b++) {
            const float *x = j->inp + ((size_t)b * C + c) * HW;
            float *o = j->out + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++) o[i] = x[i] * scale + shift;
        }
    }
}

void ft_batchnorm_forward_eval(float *out, const float *inp, const float *gamma,
                               const float *beta, const float *running_mean,
                               const float *running_var, int B, int C, int HW, float eps)
{
    bn_job j = {.out = out, .inp = inp, .gamma = gamma, .beta = beta, .rmean = running_mean, .rvar = running_var,
                .B = B, .C = C, .HW = HW, .eps = eps};
    ft_pool_for((size_t)C, channel_bytes(B, HW, 2.0), forward_eval_channels, &j);
}

/* Here out is dinp (may be NULL). */
FT_SIMD_CLONES static void backward_channels(void *arg, size_t lo, size_t hi)
{
    const bn_job *j = arg;
    const int B = j->B, C = j->C, HW = j->HW;
    const double N = (double)B * HW;
    for (size_t c = lo; c < hi; c++) {
        const float m = j->cmean[c], rs = j->crstd[c];
        double sum_g = 0.0, sum_gx = 0.0; /* sum dout, sum dout * xhat */
        for (int b = 0; b < B; b++) {
            const float *x = j->inp + ((size_t)b * C + c) * HW;
            const float *g = j->dout + ((size_t)b * C + c) * HW;
            sum_g += ft_sum_f64(g, (size_t)HW);
            sum_gx += ft_dot_dev_f64(g, x, (size_t)HW, m);
        }
        sum_gx *= rs;
        if (j->dbeta) j->dbeta[c] += (float)sum_g;
        if (j->dgamma) j->dgamma[c] += (float)sum_gx;
        if (!j->out) continue;
        const float gm = j->gamma ? j->gamma[c] : 1.0f;
        const float mean_g = (float)(sum_g / N) * gm, mean_gx = (float)(sum_gx / N) * gm;
        for (int b = 0; b < B; b++) {
            const float *x = j->inp + ((size_t)b * C + c) * HW;
            const float *g = j->dout + ((size_t)b * C + c) * HW;
            float *d = j->out + ((size_t)b * C + c) * HW;
            for (int i = 0; i < HW; i++) {
                float xhat = (x[i] - m) * rs;
                d[i] += rs * (g[i] * gm - mean_g - xhat * mean_gx);
            }
        }
    }
}

void ft_batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                           const float *inp, const float *mean, const float *rstd,
                           const float *gamma, int B, int C, int HW)
{
    bn_job j = {.out = dinp, .dgamma = dgamma, .dbeta = dbeta, .inp = inp, .dout = dout, .gamma = gamma,
                .cmean = mean, .crstd = rstd, .B = B, .C = C, .HW = HW};
    ft_pool_for((size_t)C, channel_bytes(B, HW, dinp ? 5.0 : 2.0), backward_channels, &j);
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
