/* residual.c — the residual connection: out = a + b, and its zero-padded form.
 *
 * Shapes: n elements each. The gradient of a sum reaches both summands
 * unchanged, so backward adds dout to da and to db (either may be NULL; they
 * may also be the same buffer when a tensor is added to itself, which then
 * correctly receives 2 * dout).
 *
 * The padded form adds two NCHW tensors of different shapes by extending each
 * with zeros at the end of every axis to the elementwise-largest shape. That is
 * exactly what face-api's residualDown block does (src/faceRecognitionNet/
 * residualLayer.ts): the shortcut, a 2x2 average pool of the block input, is
 * concatenated with zero channels when the block widens, and the main branch
 * (a 'valid' stride-2 conv) gets a zero row at the bottom and a zero column at
 * the right when it comes out one smaller than the pooled shortcut. Padding
 * cells contribute nothing, so backward is the gradient cropped to each
 * operand's own shape. out = 0 + a + b in that order, so where only one
 * operand is present the value is copied exactly.
 */
#include "facetwin/layers.h"

#include <string.h>

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

/* ---- zero-padded add: a (B,AC,AH,AW) + b (B,BC,BH,BW) -> out (B,C,H,W) ---- */

static int imax(int x, int y) { return x > y ? x : y; }

void ft_add_pad_out_shape(const ft_add_pad_shape *s, int *C, int *H, int *W)
{
    *C = imax(s->ac, s->bc);
    *H = imax(s->ah, s->bh);
    *W = imax(s->aw, s->bw);
}

/* out (C,H,W) += x (xc,xh,xw) placed at the origin, for one image. */
static void accumulate_into(float *out, int H, int W, const float *x, int xc, int xh, int xw)
{
    for (int c = 0; c < xc; c++)
        for (int y = 0; y < xh; y++) {
            float *o = out + ((size_t)c * H + y) * W;
            const float *r = x + ((size_t)c * xh + y) * xw;
            for (int k = 0; k < xw; k++) o[k] += r[k];
        }
}

/* dx (xc,xh,xw) += the top-left (xc,xh,xw) corner of dout (C,H,W), for one image. */
static void crop_into(float *dx, int xc, int xh, int xw, const float *dout, int H, int W)
{
    for (int c = 0; c < xc; c++)
        for (int y = 0; y < xh; y++) {
            const float *g = dout + ((size_t)c * H + y) * W;
            float *d = dx + ((size_t)c * xh + y) * xw;
            for (int k = 0; k < xw; k++) d[k] += g[k];
        }
}

void ft_add_pad_forward(float *out, const float *a, const float *b, const ft_add_pad_shape *s)
{
    int C, H, W;
    ft_add_pad_out_shape(s, &C, &H, &W);
    const size_t on = (size_t)C * H * W, an = (size_t)s->ac * s->ah * s->aw,
                 bn = (size_t)s->bc * s->bh * s->bw;
    memset(out, 0, (size_t)s->B * on * sizeof(float));
    for (int i = 0; i < s->B; i++) {
        accumulate_into(out + i * on, H, W, a + i * an, s->ac, s->ah, s->aw);
        accumulate_into(out + i * on, H, W, b + i * bn, s->bc, s->bh, s->bw);
    }
}

void ft_add_pad_backward(float *da, float *db, const float *dout, const ft_add_pad_shape *s)
{
    int C, H, W;
    ft_add_pad_out_shape(s, &C, &H, &W);
    const size_t on = (size_t)C * H * W, an = (size_t)s->ac * s->ah * s->aw,
                 bn = (size_t)s->bc * s->bh * s->bw;
    for (int i = 0; i < s->B; i++) {
        if (da) crop_into(da + i * an, s->ac, s->ah, s->aw, dout + i * on, H, W);
        if (db) crop_into(db + i * bn, s->bc, s->bh, s->bw, dout + i * on, H, W);
    }
}
