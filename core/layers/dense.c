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

#include "pool.h"

/* A one-image forward streams all of W once; with the pool on (ft_set_threads(n > 1)) and W
 * large, the n threads each stream their own block of rows (out rows [OUT*t/T, OUT*(t+1)/T)),
 * so the weights come through both cores' caches at once. Each row's dot product is the same
 * sgemv work whichever part runs it. */
#define FT_DENSE_PAR_MIN_ROWS 8
#define FT_DENSE_PAR_MIN_BYTES ((double)(1 << 20))

typedef struct {
    float *out;
    const float *inp, *weight;
    int IN, OUT;
} dense_gemv;

static void gemv_rows(void *arg, int t, int T)
{
    const dense_gemv *g = arg;
    const int r0 = (int)((long long)g->OUT * t / T), r1 = (int)((long long)g->OUT * (t + 1) / T);
    if (r1 > r0)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, r1 - r0, g->IN, 1.0f, g->weight + (size_t)r0 * g->IN, g->IN, g->inp, 1,
                    1.0f, g->out + r0, 1);
}

void ft_dense_forward(float *out, const float *inp, const float *weight, const float *bias,
                      int B, int IN, int OUT)
{
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * OUT;
        if (bias) memcpy(o, bias, (size_t)OUT * sizeof(float));
        else memset(o, 0, (size_t)OUT * sizeof(float));
    }
    if (B == 1) {
        dense_gemv gv = {out, inp, weight, IN, OUT};
        const int T = ft_pool_threads();
        if (T > 1 && OUT >= T * FT_DENSE_PAR_MIN_ROWS && (double)OUT * IN * sizeof(float) >= FT_DENSE_PAR_MIN_BYTES)
            ft_pool_run(T, gemv_rows, &gv);
        else
            gemv_rows(&gv, 0, 1);
    } else
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
