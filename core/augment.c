/* augment.c — pixel moves shared by the training loaders (see augment.h). */
#include "augment.h"

#include <stddef.h>
#include <string.h>

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

void ft_shift_image(float *x, float *tmp, int c, int h, int w, int dx, int dy)
{
    const size_t plane = (size_t)h * (size_t)w;
    memcpy(tmp, x, (size_t)c * plane * sizeof *x);
    for (int k = 0; k < c; k++) {
        const float *src = tmp + (size_t)k * plane;
        float *dst = x + (size_t)k * plane;
        for (int y = 0; y < h; y++) {
            const float *row = src + (size_t)clampi(y - dy, 0, h - 1) * (size_t)w;
            for (int i = 0; i < w; i++) dst[(size_t)y * w + i] = row[clampi(i - dx, 0, w - 1)];
        }
    }
}
