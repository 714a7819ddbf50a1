/* align.c — landmarks and the aligned encoder crop, as face-api computes them
 * (include/facetwin/align.h has the steps and where each lives in the package's src/).
 *
 * Arithmetic follows the reference: JavaScript numbers (double) for box and point
 * geometry, float32 where the reference uses tensor ops (the landmark post-processing).
 */
#include "facetwin/align.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Box.clipAtImageBorders: clip the left/top to 0, the size to the image, then floor all. */
static int clip_box(const ft_face_box *b, int W, int H, int *x, int *y, int *w, int *h)
{
    double cx = fmax(b->x, 0.0), cy = fmax(b->y, 0.0);
    double cw = fmin((double)b->x + b->w - cx, W - cx), ch = fmin((double)b->y + b->h - cy, H - cy);
    *x = (int)floor(cx);
    *y = (int)floor(cy);
    *w = (int)floor(cw);
    *h = (int)floor(ch);
    return *w > 0 && *h > 0 && *x < W && *y < H;
}

ft_status ft_face_input(const ft_image *img, const ft_face_box *rect, int size, const ft_input_spec *spec, float *out,
                        ft_error *err)
{
    int x, y, w, h;
    if (!clip_box(rect, img->w, img->h, &x, &y, &w, &h))
        return ft_error_set(err, FT_EINVAL, "the face box lies outside the image");
    ft_tf_square_input(img, x, y, w, h, size, 1, spec->mean, spec->std, out);
    return FT_OK;
}

ft_status ft_face_crop_image(const ft_image *img, const ft_face_box *rect, int size, ft_image *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    const size_t plane = (size_t)size * size;
    float *f = malloc(3 * plane * sizeof(float));
    out->data = malloc(3 * plane);
    if (!f || !out->data) {
        free(f);
        free(out->data);
        out->data = NULL;
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    const ft_input_spec raw = {size, size, 3, {0, 0, 0}, {1.0f / 255.0f, 1.0f / 255.0f, 1.0f / 255.0f}};
    ft_status st = ft_face_input(img, rect, size, &raw, f, err); /* pixel values */
    if (!st) {
        for (size_t i = 0; i < plane; i++)
            for (int k = 0; k < 3; k++) {
                float v = roundf(f[k * plane + i]);
                out->data[i * 3 + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        out->w = out->h = size;
        out->c = 3;
    } else {
        free(out->data);
        out->data = NULL;
    }
    free(f);
    return st;
}

/* getCenterPoint: the sum in order, then divided. */
static void center(const ft_face *f, int from, int to, double *cx, double *cy)
{
    double sx = 0, sy = 0;
    for (int i = from; i < to; i++) sx += f->landmarks[i][0], sy += f->landmarks[i][1];
    *cx = sx / (to - from);
    *cy = sy / (to - from);
}

/* FaceLandmarks.alignDlib (relX 0.5, relY 0.43, relScale 0.45); imgW/imgH are the landmarks'
 * image dims, i.e. the detector crop's. */
static void dlib_rect(ft_face *f, int imgw, int imgh)
{
    double c[3][2];
    center(f, 36, 42, &c[0][0], &c[0][1]);
    center(f, 42, 48, &c[1][0], &c[1][1]);
    center(f, 48, 68, &c[2][0], &c[2][1]);
    double d = (hypot(c[2][0] - c[0][0], c[2][1] - c[0][1]) + hypot(c[2][0] - c[1][0], c[2][1] - c[1][1])) / 2;
    double size = floor(d / FT_DLIB_REL_SCALE);
    double rx = (c[0][0] + c[1][0] + c[2][0]) / 3, ry = (c[0][1] + c[1][1] + c[2][1]) / 3;
    double x = floor(fmax(0.0, rx - FT_DLIB_REL_X * size)), y = floor(fmax(0.0, ry - FT_DLIB_REL_Y * size));
    f->crop = (ft_face_box){(float)x, (float)y, (float)fmin(size, imgw + x), (float)fmin(size, imgh + y), f->box.score};
}

ft_status ft_face_landmarks(ft_net *lm, const ft_image *img, ft_face *f, ft_error *err)
{
    const ft_input_spec *in = ft_net_input(lm);
    const int S = in->width;
    if (in->height != S || in->channels != 3 || ft_net_embed_dim(lm) != 2 * FT_LANDMARKS)
        return ft_error_set(err, FT_EMISMATCH, "not a 68-point landmark net (import one with --parts landmarks)");
    int x, y, w, h;
    if (!clip_box(&f->box, img->w, img->h, &x, &y, &w, &h))
        return ft_error_set(err, FT_EINVAL, "the face box lies outside the image");
    float *input = malloc(3 * (size_t)S * S * sizeof(float));
    if (!input) return ft_error_set(err, FT_ENOMEM, "out of memory");
    ft_tf_square_input(img, x, y, w, h, S, 1, in->mean, in->std, input);
    ft_status st = ft_net_reserve(lm, 1, 0, err);
    const float *o = st ? NULL : ft_net_forward(lm, input, 1, 0);
    free(input);
    if (st) return st;
    /* postProcess: (out * S - pad) / (dim * scale), pad = |w - h| * scale / 2 on the short side */
    const double scale = (double)S / (w > h ? w : h);
    const float iw = (float)(w * scale), ih = (float)(h * scale);
    const float padx = w < h ? fabsf(iw - ih) / 2.0f : 0.0f, pady = h < w ? fabsf(iw - ih) / 2.0f : 0.0f;
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (int i = 0; i < FT_LANDMARKS; i++) {
        float rx = (o[2 * i] * (float)S - padx) / iw, ry = (o[2 * i + 1] * (float)S - pady) / ih;
        /* FaceLandmarks: relative * crop size + shift (the detector's box origin, unclipped) */
        double px = (double)rx * w + f->box.x, py = (double)ry * h + f->box.y;
        f->landmarks[i][0] = (float)px;
        f->landmarks[i][1] = (float)py;
        x0 = fmin(x0, px), y0 = fmin(y0, py), x1 = fmax(x1, px), y1 = fmax(y1, py);
    }
    /* alignMinBbox: minBbox, then pad(w * 0.2, h * 0.2) around it */
    double bw = x1 - x0, bh = y1 - y0, ppx = bw * FT_ALIGN_PADDING, ppy = bh * FT_ALIGN_PADDING;
    f->aligned = (ft_face_box){(float)(x0 - ppx / 2), (float)(y0 - ppy / 2), (float)(bw + ppx), (float)(bh + ppy),
                               f->box.score};
    dlib_rect(f, w, h);
    return FT_OK;
}

ft_status ft_faces_find(ft_detector *det, ft_net *lm, const ft_image *img, ft_face **faces, int *n, ft_error *err)
{
    *faces = NULL;
    *n = 0;
    ft_face_box *b;
    int nb;
    ft_status st = ft_detect(det, img, NULL, &b, &nb, err);
    if (st || !nb) return st;
    ft_face *f = calloc((size_t)nb, sizeof *f);
    if (!f) {
        free(b);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    int m = 0;
    for (int i = 0; i < nb; i++) {
        f[m].box = b[i];
        ft_error e2 = {0};
        st = ft_face_landmarks(lm, img, &f[m], &e2);
        if (st == FT_EINVAL) continue; /* a box outside the image: the reference drops it too */
        if (st) {
            *err = e2;
            free(b);
            free(f);
            return st;
        }
        m++;
    }
    free(b);
    if (!m) {
        free(f);
        f = NULL;
    }
    *faces = f;
    *n = m;
    return FT_OK;
}

/* The similarity-transform variant (not face-api's): the same alignDlib square, but rotated
 * about the eye/mouth reference point so the eye centres lie level; sampled bilinearly
 * (pixel centres, zeros outside the image) straight into the encoder's input. */
ft_status ft_face_input_rotated(const ft_image *img, const ft_face *f, int size, const ft_input_spec *spec, float *out,
                                ft_error *err)
{
    double c[3][2];
    center(f, 36, 42, &c[0][0], &c[0][1]);
    center(f, 42, 48, &c[1][0], &c[1][1]);
    center(f, 48, 68, &c[2][0], &c[2][1]);
    const double S = f->crop.w > f->crop.h ? f->crop.w : f->crop.h;
    if (!(S > 0)) return ft_error_set(err, FT_EINVAL, "empty face crop");
    const double rx = (c[0][0] + c[1][0] + c[2][0]) / 3, ry = (c[0][1] + c[1][1] + c[2][1]) / 3;
    const double a = atan2(c[1][1] - c[0][1], c[1][0] - c[0][0]), ca = cos(a), sa = sin(a);
    const size_t plane = (size_t)size * size;
    for (int v = 0; v < size; v++)
        for (int u = 0; u < size; u++) {
            double dx = (u + 0.5) * S / size - FT_DLIB_REL_X * S, dy = (v + 0.5) * S / size - FT_DLIB_REL_Y * S;
            double sx = rx + ca * dx - sa * dy - 0.5, sy = ry + sa * dx + ca * dy - 0.5;
            int x0 = (int)floor(sx), y0 = (int)floor(sy);
            double fx = sx - x0, fy = sy - y0;
            for (int k = 0; k < 3; k++) {
                double acc = 0;
                for (int j = 0; j < 2; j++)
                    for (int i = 0; i < 2; i++) {
                        int x = x0 + i, y = y0 + j;
                        if (x < 0 || y < 0 || x >= img->w || y >= img->h) continue;
                        double wgt = (i ? fx : 1 - fx) * (j ? fy : 1 - fy);
                        acc += wgt * img->data[((size_t)y * img->w + x) * img->c + (img->c == 3 ? k : 0)];
                    }
                out[k * plane + (size_t)v * size + u] = ((float)acc / 255.0f - spec->mean[k]) / spec->std[k];
            }
        }
    return FT_OK;
}
