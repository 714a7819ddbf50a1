/* dense.c — fully connected layer as one cblas_sgemm per direction.
 *
 * Shapes: inp (B,IN), weight (OUT,IN) in PyTorch's layout, bias (OUT) or
 * NULL, out (B,OUT).
 *
 *     forward   out   (B,OUT)  = inp (B,IN) x W^T + bias       (bias first, beta = 1)
 *     backward  dW    (OUT,IN) += dout^T (OUT,B) x inp (B,IN)  (beta = 1)
 *               dbias (OUT)    += column sums of dout
 *               dinp  (B,IN)   += dout (B,OUT) x W (OUT,IN)    (beta = 1)
 *
 * With one image (B == 1, the latency path of embed/verify) the forward is a
 * matrix-vector product: cblas_sgemv streams W once, where sgemm would first
 * pack (copy) all of W — for seed-mnist's 18432x128 layer that copy is 9.4 MB
 * per call and doubles the layer's memory traffic.
 *
 * Keeping W as (OUT,IN) means checkpoints map one-to-one onto nn.Linear and
 * the transposes are GEMM flags, never copies. Every gradient accumulates
 * through beta = 1, so the caller's zeroing once per step is all it takes.
 */
#include "facetwin/layers.h"

#include <cblas.h>
#include <string.h>

void ft_dense_forward(float *out, const float *inp, const float *weight, const float *bias,
                      int B, int IN, int OUT)
{
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * OUT;
        if (bias) memcpy(o, bias, (size_t)OUT * sizeof(float));
        else memset(o, 0, (size_t)OUT * sizeof(float));
    }
    if (B == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, OUT, IN, 1.0f, weight, IN, inp, 1, 1.0f, out, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, OUT, IN, 1.0f, inp, IN, weight, IN,
                    1.0f, out, OUT);
}

void ft_dense_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                       const float *inp, const float *weight, int B, int IN, int OUT)
{
    if (dweight)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, IN, B, 1.0f, dout, OUT, inp, IN,
                    1.0f, dweight, IN);
    if (dbias)
        for (int b = 0; b < B; b++) {
            const float *g = dout + (size_t)b * OUT;
            for (int o = 0; o < OUT; o++) dbias[o] += g[o];
        }
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, IN, OUT, 1.0f, dout, OUT, weight,
                    IN, 1.0f, dinp, IN);
}
