/* facetwin/layers.h — the layers, as plain forward/backward function pairs.
 *
 * Conventions (llm.c style):
 *  - Tensors are contiguous float32, activations NCHW: (B,C,H,W); vectors (B,N).
 *  - Shapes are arguments; the comment above each pair states them.
 *  - Backward ACCUMULATES (+=) into every gradient it writes (dinp, dweight,
 *    dbias, ...). The caller zeroes gradients once per step. Any gradient
 *    pointer may be NULL, meaning "not needed" (e.g. dinp of the first layer).
 *  - Workspace: layers that need scratch memory take a caller-owned buffer
 *    whose size (in floats) is given by the matching *_workspace() function.
 *  - Nothing here allocates, keeps global state, or spawns threads; the heavy
 *    arithmetic is OpenBLAS (threads set by the caller via ft_set_threads).
 */
#ifndef FACETWIN_LAYERS_H
#define FACETWIN_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- conv2d: im2col + cblas_sgemm, batch folded into the GEMM's N ------
 * inp (B,C,H,W); weight (OC, C/groups, KH, KW); bias (OC) or NULL;
 * out (B,OC,OH,OW) with OH = (H + 2*pad - KH)/stride + 1 (same for OW).
 * groups divides C and OC; groups == C == OC is depthwise. */
typedef struct {
    int B, C, H, W;
    int OC, KH, KW;
    int stride, pad, groups;
} ft_conv2d_shape;

int ft_conv2d_out_h(const ft_conv2d_shape *s);
int ft_conv2d_out_w(const ft_conv2d_shape *s);
size_t ft_conv2d_workspace(const ft_conv2d_shape *s); /* floats */
void ft_conv2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                       const ft_conv2d_shape *s, float *ws);
void ft_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const ft_conv2d_shape *s,
                        float *ws);

/* ---- dense (fully connected) ---------------------------------------------
 * inp (B,IN); weight (OUT,IN) (PyTorch layout); bias (OUT) or NULL; out (B,OUT). */
void ft_dense_forward(float *out, const float *inp, const float *weight, const float *bias,
                      int B, int IN, int OUT);
void ft_dense_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                       const float *inp, const float *weight, int B, int IN, int OUT);

/* ---- relu: out = max(inp, 0); n elements. out may alias inp. -------------
 * backward uses out (>0 where the gradient passes). */
void ft_relu_forward(float *out, const float *inp, size_t n);
void ft_relu_backward(float *dinp, const float *dout, const float *out, size_t n);
/* The gradient of an in-place ReLU: dout (the producer's gradient buffer) set to 0 where
 * out <= 0 (or NaN). */
void ft_relu_backward_inplace(float *dout, const float *out, size_t n);

/* ---- relu6: out = min(max(inp, 0), 6) (tf.clipByValue(x, 0, 6)); out may alias inp.
 * backward passes dout where 0 < out < 6. */
void ft_relu6_forward(float *out, const float *inp, size_t n);
void ft_relu6_backward(float *dinp, const float *dout, const float *out, size_t n);

/* ---- leaky relu: out = inp > 0 ? inp : alpha * inp; n elements. --------
 * out may alias inp; backward reads out (same sign as inp for alpha > 0). */
void ft_leaky_forward(float *out, const float *inp, size_t n, float alpha);
void ft_leaky_backward(float *dinp, const float *dout, const float *out, size_t n, float alpha);

/* ---- zero padding: inp (B,C,H,W) -> out (B,C,H+top+bottom,W+left+right) ---
 * TensorFlow's tf.pad / asymmetric 'same'. backward: dinp += dout cropped. */
typedef struct {
    int B, C, H, W;
    int top, left, bottom, right;
} ft_pad_shape;

void ft_pad_out_shape(const ft_pad_shape *s, int *H, int *W);
void ft_pad_forward(float *out, const float *inp, const ft_pad_shape *s);
void ft_pad_backward(float *dinp, const float *dout, const ft_pad_shape *s);

/* ---- pooling --------------------------------------------------------------
 * inp (B,C,H,W) -> out (B,C,OH,OW), OH = (H + 2*pad + pad_extra - K)/stride + 1
 * (pad_extra: more padding at the bottom and right, TensorFlow's odd 'same').
 * Max pool ignores padding cells; avg pool divides by K*K (count_include_pad,
 * as PyTorch's default). Max backward recomputes the argmax from inp (first
 * maximum wins, as PyTorch). */
typedef struct {
    int B, C, H, W;
    int K, stride, pad;
    int pad_extra;
} ft_pool_shape;

int ft_pool_out_h(const ft_pool_shape *s);
int ft_pool_out_w(const ft_pool_shape *s);
void ft_maxpool_forward(float *out, const float *inp, const ft_pool_shape *s);
void ft_maxpool_backward(float *dinp, const float *dout, const float *inp, const ft_pool_shape *s);
void ft_avgpool_forward(float *out, const float *inp, const ft_pool_shape *s);
void ft_avgpool_backward(float *dinp, const float *dout, const ft_pool_shape *s);

/* global average pool: inp (B,C,H,W) -> out (B,C). */
void ft_gap_forward(float *out, const float *inp, int B, int C, int HW);
void ft_gap_backward(float *dinp, const float *dout, int B, int C, int HW);

/* ---- dropout (training only; identity at inference) ----------------------
 * mask (n) receives 0 or 1/(1-p); drawn from the caller's rng state (*rng is
 * advanced, deterministic for a given seed). p in [0,1). */
void ft_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p,
                        uint64_t *rng);
void ft_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n);

/* ---- batch norm over (B,C,HW): per-channel statistics over B*HW ----------
 * Training: uses batch mean/var (biased) to normalise, stores mean (C) and
 * rstd (C) = 1/sqrt(var+eps) for backward, and updates running stats as
 * PyTorch: running = (1-momentum)*running + momentum*stat, running_var uses
 * the unbiased variance. Inference: uses running_mean/running_var.
 * gamma, beta (C). For a (B,C) vector input pass HW = 1. */
void ft_batchnorm_forward_train(float *out, float *mean, float *rstd, float *running_mean,
                                float *running_var, const float *inp, const float *gamma,
                                const float *beta, int B, int C, int HW, float momentum,
                                float eps);
void ft_batchnorm_forward_eval(float *out, const float *inp, const float *gamma,
                               const float *beta, const float *running_mean,
                               const float *running_var, int B, int C, int HW, float eps);
void ft_batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                           const float *inp, const float *mean, const float *rstd,
                           const float *gamma, int B, int C, int HW);

/* ---- per-channel scale and bias: out = inp * scale[c] + bias[c] ----------
 * inp/out (B,C,HW); scale, bias (C); bias may be NULL. */
void ft_scale_forward(float *out, const float *inp, const float *scale, const float *bias, int B,
                      int C, int HW);
void ft_scale_backward(float *dinp, float *dscale, float *dbias, const float *dout,
                       const float *inp, const float *scale, int B, int C, int HW);

/* ---- residual add: out = a + b (n elements) -------------------------------
 * backward: da += dout, db += dout. */
void ft_add_forward(float *out, const float *a, const float *b, size_t n);
void ft_add_backward(float *da, float *db, const float *dout, size_t n);

/* ---- residual add with zero padding: out = pad(a) + pad(b) ----------------
 * a (B,AC,AH,AW), b (B,BC,BH,BW) -> out (B,C,H,W) with C = max(AC,BC),
 * H = max(AH,BH), W = max(AW,BW): each operand is extended with zeros at the
 * END of every axis (extra channels after its last one, extra rows at the
 * bottom, extra columns at the right) — face-api's residualDown shortcut,
 * whose 2x2-average-pooled input gains zero channels and whose main branch a
 * zero bottom row and right column. backward: da/db += dout cropped. */
typedef struct {
    int B;
    int ac, ah, aw;
    int bc, bh, bw;
} ft_add_pad_shape;

void ft_add_pad_out_shape(const ft_add_pad_shape *s, int *C, int *H, int *W);
void ft_add_pad_forward(float *out, const float *a, const float *b, const ft_add_pad_shape *s);
void ft_add_pad_backward(float *da, float *db, const float *dout, const ft_add_pad_shape *s);

/* ---- L2 normalise rows: out = inp / max(||inp||_2, eps); inp (B,D) ------- */
void ft_l2norm_forward(float *out, const float *inp, int B, int D, float eps);
void ft_l2norm_backward(float *dinp, const float *dout, const float *inp, int B, int D, float eps);

/* ---- contrastive loss (Hadsell, Chopra, LeCun 2006) -----------------------
 * a, b (B,D) embeddings; y (B) labels, 1 = same, 0 = different.
 * d_i = sqrt(max(sum_k (a_ik - b_ik)^2, FT_DIST_EPS))           (Keras rule)
 * loss = mean_i [ y_i d_i^2 + (1 - y_i) max(margin - d_i, 0)^2 ]
 * forward writes dist (B) if non-NULL and returns the loss;
 * backward accumulates dL/da, dL/db (either may be NULL) for loss scale dloss. */
#define FT_DIST_EPS 1e-7f
float ft_contrastive_forward(float *dist, const float *a, const float *b, const float *y, int B,
                             int D, float margin);
void ft_contrastive_backward(float *da, float *db, const float *a, const float *b,
                             const float *y, int B, int D, float margin, float dloss);

/* ---- in-batch contrastive loss: every pair of a batch of N embeddings -----
 * e (N,D) embeddings, ids (N) identity labels; the pairs are all (i<j), same
 * when ids equal. Positives and negatives are weighted to count equally, as
 * in a balanced list of pairs:
 *   loss = 1/2 mean_pos d^2 + 1/2 mean_neg max(margin - d, 0)^2
 * (a kind with no pair in the batch drops out and the other gets weight 1).
 * Each image is embedded once and contributes to N-1 pairs: a batch of 64
 * images trains on 2016 pairs. forward returns the loss and, if non-NULL,
 * the counts of positive and negative pairs; backward ACCUMULATES dL/de. */
float ft_contrastive_batch_forward(const float *e, const int32_t *ids, int N, int D, float margin,
                                   int *n_pos, int *n_neg);
void ft_contrastive_batch_backward(float *de, const float *e, const int32_t *ids, int N, int D,
                                   float margin, float dloss);

/* Euclidean distance between two D-vectors with the same FT_DIST_EPS rule. */
float ft_distance(const float *a, const float *b, int D);

#ifdef __cplusplus
}
#endif
#endif
