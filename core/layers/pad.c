/* pad.c — explicit zero padding of the spatial axes: TensorFlow's tf.pad and
 * the asymmetric half of its 'same' convolution padding.
 *
 * Shapes: inp (B,C,H,W) -> out (B,C,H+top+bottom, W+left+right), zeros
 * around a copy of the input. TensorFlow's 'same' pads a stride-2 3x3 conv on
 * an even input by 0 rows at the top and 1 at the bottom (the odd cell of the
 * total goes last); facetwin's conv pads symmetrically, so an importer writes
 * such a conv as this layer followed by a conv with padding 0. The copy costs
 * one pass over the activation, small next to the conv it feeds.
 *
 * backward: dinp += dout cropped to the input's cells (the padding receives
 * gradient that goes nowhere).
 */
#include "facetwin/layers.h"

#include <string.h>

void ft_pad_out_shape(const ft_pad_shape *s, int *H, int *W)
{
    *H = s->H + s->top + s->bottom;
    *W = s->W + s->left + s->right;
}

void ft_pad_forward(float *out, const float *inp, const ft_pad_shape *s)
{
    int OH, OW;
    ft_pad_out_shape(s, &OH, &OW);
    const size_t HW = (size_t)s->H * s->W, P = (size_t)OH * OW;
    for (size_t bc = 0; bc < (size_t)s->B * s->C; bc++) {
        float *o = out + bc * P;
        const float *x = inp + bc * HW;
        memset(o, 0, P * sizeof(float));
        for (int y = 0; y < s->H; y++)
            memcpy(o + (size_t)(y + s->top) * OW + s->left, x + (size_t)y * s->W, (size_t)s->W * sizeof(float));
    }
}

void ft_pad_backward(float *dinp, const float *dout, const ft_pad_shape *s)
{
    if (!dinp) return;
    int OH, OW;
    ft_pad_out_shape(s, &OH, &OW);
    const size_t HW = (size_t)s->H * s->W, P = (size_t)OH * OW;
    for (size_t bc = 0; bc < (size_t)s->B * s->C; bc++) {
        const float *g = dout + bc * P;
        float *d = dinp + bc * HW;
        for (int y = 0; y < s->H; y++) {
            const float *row = g + (size_t)(y + s->top) * OW + s->left;
            for (int x = 0; x < s->W; x++) d[(size_t)y * s->W + x] += row[x];
        }
    }
}
