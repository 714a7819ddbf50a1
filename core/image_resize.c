/* image_resize.c — resizing and channel conversion of 8-bit images.
 *
 * Resizing is separable: a horizontal pass into a float buffer (in->h rows of
 * the new width), then a vertical pass that rounds to bytes. Each axis gets
 * its own table of (first input index, weights) per output index, chosen
 * per axis by direction:
 *
 *   shrinking  area averaging (a box filter with fractional coverage): output
 *              i covers input [i*in/out, (i+1)*in/out) and each input pixel
 *              weighs by the length it overlaps. Computed in integer units
 *              of 1/out pixel, so the weights are exact rationals; every
 *              input pixel contributes, hence no aliasing on big reductions.
 *   enlarging  bilinear with half-pixel centres (align_corners = false, as
 *              PyTorch and OpenCV): src = (i + 0.5) * in/out - 0.5, clamped
 *              to the edge pixels.
 *   same size  a copy along that axis.
 *
 * Trade-offs: floats in the intermediate keep shrink-then-round exact for
 * simple ratios (4x4 -> 2x2 gives the true block means); the second pass
 * rounds half up. The float buffer costs 4 * in->h * w * c bytes. Output
 * size is capped at FT_MAX_PIXELS_DEFAULT, like decoded images.
 *
 * Conversion: RGB -> grey uses ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B
 * in integer thousandths, rounded half up; grey -> RGB replicates.
 */
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

#define LUMA_R 299 /* BT.601 weights, in thousandths */
#define LUMA_G 587
#define LUMA_B 114
#define LUMA_SCALE 1000
#define BILINEAR_TAPS 2
#define SAMPLE_MAX 255.0f
#define ROUND_HALF 0.5f

/* For output index i along one axis: inputs first[i] .. first[i] + count[i] - 1
 * with weights w[i * taps + t]. */
typedef struct {
    int taps;
    int *first, *count;
    float *w;
} axis_weights;

static void axis_free(axis_weights *a)
{
    free(a->first);
    free(a->count);
    free(a->w);
    memset(a, 0, sizeof *a);
}

static void axis_area(axis_weights *a, int in, int out)
{
    /* units of 1/out input pixel: input j covers [j*out, (j+1)*out), output i
     * covers [i*in, (i+1)*in); weight = overlap / in */
    const int64_t in64 = in, out64 = out;
    for (int i = 0; i < out; i++) {
        const int64_t lo = i * in64, hi = (i + 1) * in64;
        const int first = (int)(lo / out64), last = (int)((hi - 1) / out64);
        a->first[i] = first;
        a->count[i] = last - first + 1;
        for (int j = first; j <= last; j++) {
            int64_t s = j * out64 > lo ? j * out64 : lo;
            int64_t e = (j + 1) * out64 < hi ? (j + 1) * out64 : hi;
            a->w[(size_t)i * a->taps + (size_t)(j - first)] =
                (float)((double)(e - s) / (double)in64);
        }
    }
}

static void axis_bilinear(axis_weights *a, int in, int out)
{
    /* src = (i + 0.5) * in / out - 0.5 = ((2i + 1) * in - out) / (2 * out) */
    const int64_t den = 2 * (int64_t)out;
    for (int i = 0; i < out; i++) {
        const int64_t num = (2 * (int64_t)i + 1) * in - out;
        int j0 = 0;
        float frac = 0.0f;
        if (num > 0) {
            j0 = (int)(num / den);
            frac = (float)((double)(num % den) / (double)den);
        }
        float *w = a->w + (size_t)i * a->taps;
        if (j0 >= in - 1 || frac == 0.0f) { /* on a sample, or past the last one */
            a->first[i] = j0 < in - 1 ? j0 : in - 1;
            a->count[i] = 1;
            w[0] = 1.0f;
        } else {
            a->first[i] = j0;
            a->count[i] = BILINEAR_TAPS;
            w[0] = 1.0f - frac;
            w[1] = frac;
        }
    }
}

static ft_status axis_build(axis_weights *a, int in, int out, ft_error *err)
{
    memset(a, 0, sizeof *a);
    a->taps = out < in ? in / out + 2 : BILINEAR_TAPS; /* an area box spans <= in/out + 2 inputs */
    a->first = malloc((size_t)out * sizeof *a->first);
    a->count = malloc((size_t)out * sizeof *a->count);
    a->w = calloc((size_t)out * (size_t)a->taps, sizeof *a->w);
    if (!a->first || !a->count || !a->w) {
        axis_free(a);
        return ft_error_set(err, FT_ENOMEM, "out of memory for resize weights");
    }
    if (out < in)
        axis_area(a, in, out);
    else if (out > in)
        axis_bilinear(a, in, out);
    else
        for (int i = 0; i < out; i++) {
            a->first[i] = i;
            a->count[i] = 1;
            a->w[(size_t)i * a->taps] = 1.0f;
        }
    return FT_OK;
}

static ft_status check_image(const ft_image *in, ft_error *err)
{
    if (!in || !in->data || in->w <= 0 || in->h <= 0 ||
        (in->c != FT_IMAGE_GREY && in->c != FT_IMAGE_RGB))
        return ft_error_set(err, FT_EINVAL, "invalid input image");
    return FT_OK;
}

ft_status ft_image_resize(const ft_image *in, int w, int h, ft_image *out, ft_error *err)
{
    if (!out) return ft_error_set(err, FT_EINVAL, "ft_image_resize: out is NULL");
    memset(out, 0, sizeof *out);
    ft_status st = check_image(in, err);
    if (st) return st;
    if (w <= 0 || h <= 0) return ft_error_set(err, FT_EINVAL, "invalid resize target %dx%d", w, h);
    if ((st = ft_image_check_size((uint64_t)w, (uint64_t)h, in->c, FT_MAX_PIXELS_DEFAULT,
                                  "resize target", err)))
        return st;
    const int c = in->c;
    if (w == in->w && h == in->h) {
        if ((st = ft_image_alloc(out, w, h, c, err))) return st;
        memcpy(out->data, in->data, (size_t)w * (size_t)h * (size_t)c);
        return FT_OK;
    }

    axis_weights ax, ay;
    if ((st = axis_build(&ax, in->w, w, err))) return st;
    if ((st = axis_build(&ay, in->h, h, err))) {
        axis_free(&ax);
        return st;
    }
    const size_t row = (size_t)w * (size_t)c; /* floats per intermediate row */
    float *tmp = NULL;
    if ((size_t)in->h > SIZE_MAX / sizeof *tmp / row ||
        !(tmp = malloc((size_t)in->h * row * sizeof *tmp))) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory resizing to %dx%d", w, h);
        goto done;
    }
    if ((st = ft_image_alloc(out, w, h, c, err))) goto done;

    /* horizontal: in (in->h x in->w) -> tmp (in->h x w) */
    for (int y = 0; y < in->h; y++) {
        const uint8_t *src = in->data + (size_t)y * in->w * c;
        float *dst = tmp + (size_t)y * row;
        for (int x = 0; x < w; x++) {
            const float *wt = ax.w + (size_t)x * ax.taps;
            const uint8_t *s = src + (size_t)ax.first[x] * c;
            for (int k = 0; k < c; k++) {
                float acc = 0.0f;
                for (int t = 0; t < ax.count[x]; t++) acc += wt[t] * (float)s[(size_t)t * c + k];
                dst[(size_t)x * c + k] = acc;
            }
        }
    }
    /* vertical: tmp (in->h x w) -> out (h x w), rounded half up */
    for (int y = 0; y < h; y++) {
        const float *wt = ay.w + (size_t)y * ay.taps;
        const float *s = tmp + (size_t)ay.first[y] * row;
        uint8_t *dst = out->data + (size_t)y * row;
        for (size_t i = 0; i < row; i++) {
            float acc = 0.0f;
            for (int t = 0; t < ay.count[y]; t++) acc += wt[t] * s[(size_t)t * row + i];
            acc += ROUND_HALF;
            dst[i] = acc >= SAMPLE_MAX ? (uint8_t)SAMPLE_MAX : acc <= 0.0f ? 0 : (uint8_t)acc;
        }
    }
done:
    free(tmp);
    axis_free(&ax);
    axis_free(&ay);
    return st;
}

ft_status ft_image_convert(const ft_image *in, int channels, ft_image *out, ft_error *err)
{
    if (!out) return ft_error_set(err, FT_EINVAL, "ft_image_convert: out is NULL");
    memset(out, 0, sizeof *out);
    ft_status st = check_image(in, err);
    if (st) return st;
    if (channels != FT_IMAGE_GREY && channels != FT_IMAGE_RGB)
        return ft_error_set(err, FT_EINVAL, "cannot convert to %d channels (1 or 3)", channels);
    if ((st = ft_image_alloc(out, in->w, in->h, channels, err))) return st;
    const size_t npix = (size_t)in->w * (size_t)in->h;
    const uint8_t *s = in->data;
    uint8_t *d = out->data;
    if (in->c == channels) {
        memcpy(d, s, npix * (size_t)channels);
    } else if (channels == FT_IMAGE_GREY) {
        for (size_t i = 0; i < npix; i++, s += FT_IMAGE_RGB)
            d[i] = (uint8_t)((LUMA_R * s[0] + LUMA_G * s[1] + LUMA_B * s[2] + LUMA_SCALE / 2) /
                             LUMA_SCALE);
    } else {
        for (size_t i = 0; i < npix; i++, d += FT_IMAGE_RGB) d[0] = d[1] = d[2] = s[i];
    }
    return FT_OK;
}
