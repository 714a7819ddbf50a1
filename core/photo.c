/* photo.c — a whole photo to the encoder's input: canvas, detect, landmarks, the face-choice
 * policy and alignment (include/facetwin/photo.h). The detectors and the alignment themselves
 * are detect.c and align.c; this file only decides which face and which crop. */
#include "facetwin/photo.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int ft_detector_choice_parse(const char *name, ft_detector_choice *out)
{
    if (!strcmp(name, "ssd")) *out = FT_DETECTOR_SSD;
    else if (!strcmp(name, "tiny")) *out = FT_DETECTOR_TINY;
    else return 0;
    return 1;
}

const char *ft_detector_choice_name(ft_detector_choice c)
{
    return c == FT_DETECTOR_SSD ? "ssd" : c == FT_DETECTOR_TINY ? "tiny" : "face";
}

ft_detector *ft_photo_detector(const ft_pipeline *p, ft_detector_choice c)
{
    if (!p) return NULL;
    switch (c) {
    case FT_DETECTOR_SSD: return p->ssd;
    case FT_DETECTOR_TINY: return p->tiny;
    default: return p->ssd ? p->ssd : p->tiny;
    }
}

int ft_photo_can_detect(const ft_pipeline *p, const ft_photo_opts *o)
{
    return ft_photo_detector(p, o->detector) && p->landmarks;
}

ft_status ft_image_on_canvas(const ft_image *img, int side, ft_image *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    if (side < img->w || side < img->h || side > FT_CANVAS_MAX)
        return ft_error_set(err, FT_EINVAL, "canvas %d does not hold a %dx%d image (max %d)", side, img->w, img->h,
                            FT_CANVAS_MAX);
    out->data = malloc((size_t)side * side * 3);
    if (!out->data) return ft_error_set(err, FT_ENOMEM, "out of memory");
    out->w = out->h = side;
    out->c = 3;
    memset(out->data, FT_CANVAS_GREY, (size_t)side * side * 3);
    const int ox = (side - img->w) / 2, oy = (side - img->h) / 2;
    for (int y = 0; y < img->h; y++) {
        const uint8_t *s = img->data + (size_t)y * img->w * img->c;
        uint8_t *d = out->data + ((size_t)(y + oy) * side + ox) * 3;
        for (int x = 0; x < img->w; x++, s += img->c, d += 3) {
            d[0] = s[0];
            d[1] = s[img->c == 3 ? 1 : 0];
            d[2] = s[img->c == 3 ? 2 : 0];
        }
    }
    return FT_OK;
}

static void shift_box(ft_face_box *b, float dx, float dy)
{
    b->x -= dx;
    b->y -= dy;
}

/* Face coordinates from the canvas back to the original image. */
static void uncanvas(ft_face *f, float dx, float dy)
{
    shift_box(&f->box, dx, dy);
    shift_box(&f->aligned, dx, dy);
    shift_box(&f->crop, dx, dy);
    for (int i = 0; i < FT_LANDMARKS; i++) {
        f->landmarks[i][0] -= dx;
        f->landmarks[i][1] -= dy;
    }
}

static int cmp_area(const void *a, const void *b)
{
    const ft_face *x = a, *y = b;
    const float ax = x->box.w * x->box.h, ay = y->box.w * y->box.h;
    return ax < ay ? 1 : ax > ay ? -1 : 0;
}

ft_status ft_photo_input(ft_pipeline *p, const ft_image *img, const ft_photo_opts *o, const ft_input_spec *spec,
                         float *x, ft_photo_face *info, ft_error *err)
{
    memset(info, 0, sizeof *info);
    if (!o->detect) return ft_image_to_input(img, spec, x, err);
    ft_detector *det = ft_photo_detector(p, o->detector);
    if (!det || !p->landmarks)
        return ft_error_set(err, FT_EMISMATCH, "this model has no %s detector and landmark net; detection needs a "
                            "checkpoint from 'facetwin import --from face-api'",
                            ft_detector_choice_name(o->detector));
    ft_image canvas = {0};
    const ft_image *src = img;
    float dx = 0, dy = 0;
    if (o->canvas > 0 && img->w <= o->canvas && img->h <= o->canvas) {
        ft_status st = ft_image_on_canvas(img, o->canvas, &canvas, err);
        if (st) return st;
        src = &canvas;
        dx = (float)((o->canvas - img->w) / 2);
        dy = (float)((o->canvas - img->h) / 2);
    }
    ft_face *faces = NULL;
    int nf = 0;
    ft_status st = ft_faces_find(det, p->landmarks, src, &faces, &nf, err);
    if (!st) {
        if (nf > 1) qsort(faces, (size_t)nf, sizeof *faces, cmp_area);
        info->faces_detected = nf;
        if (nf == 0) {
            st = ft_error_set(err, FT_ENOFACE, "no face found");
        } else if (o->require_single && nf > 1) {
            st = ft_error_set(err, FT_EMANYFACES, "%d faces found and a single one is required", nf);
        } else if (o->face_index < 0 || o->face_index >= nf) {
            st = ft_error_set(err, FT_ENOFACE, "face %d asked, %d face(s) found", o->face_index, nf);
        } else {
            const ft_face *f = &faces[o->face_index];
            st = o->rotate ? ft_face_input_rotated(src, f, spec->width, spec, x, err)
                           : ft_face_input(src, &f->crop, spec->width, spec, x, err);
            if (!st) {
                info->detected = 1;
                info->face = *f;
                uncanvas(&info->face, dx, dy);
            }
        }
    }
    free(faces);
    ft_image_free(&canvas);
    return st;
}

ft_status ft_photo_embed(ft_pipeline *p, ft_net *enc, const ft_image *img, const ft_photo_opts *o, float *out,
                         ft_photo_face *info, ft_error *err)
{
    float *x = malloc((size_t)ft_net_input_size(enc) * sizeof(float));
    if (!x) return ft_error_set(err, FT_ENOMEM, "out of memory");
    ft_status st = ft_photo_input(p, img, o, ft_net_input(enc), x, info, err);
    if (!st) st = ft_net_embed(enc, x, 1, out, err);
    free(x);
    return st;
}

cJSON *ft_face_json(const ft_face *face)
{
    cJSON *f = cJSON_CreateObject(), *b = cJSON_AddObjectToObject(f, "box");
    cJSON_AddNumberToObject(b, "x", face->box.x);
    cJSON_AddNumberToObject(b, "y", face->box.y);
    cJSON_AddNumberToObject(b, "width", face->box.w);
    cJSON_AddNumberToObject(b, "height", face->box.h);
    cJSON_AddNumberToObject(f, "score", face->box.score);
    cJSON *lm = cJSON_AddArrayToObject(f, "landmarks");
    for (int i = 0; i < FT_LANDMARKS; i++) {
        cJSON *pt = cJSON_CreateArray();
        cJSON_AddItemToArray(pt, cJSON_CreateNumber(round(face->landmarks[i][0] * 100) / 100));
        cJSON_AddItemToArray(pt, cJSON_CreateNumber(round(face->landmarks[i][1] * 100) / 100));
        cJSON_AddItemToArray(lm, pt);
    }
    return f;
}
