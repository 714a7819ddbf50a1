/* detect.c — face detection with face-api's tiny detector (include/facetwin/detect.h).
 *
 * Three steps, each a transcription of the package's src/ (1.7.15):
 *
 *   input    NetInput.toBatchTensor(inputSize, isCenterInputs=false) on an image tensor:
 *            padToSquare appends max(w,h)-min(w,h) zero rows or columns at the bottom or
 *            right, then tf.image.resizeBilinear(.., [s, s], alignCorners=false,
 *            halfPixelCenters=false). ft_tf_square_input samples that padded square
 *            directly (a cell outside the image is 0), so no padded or full-size copy is
 *            made; normalize(MEAN_RGB) / 255 is the net's input spec.
 *   net      the imported spec (core/import_faceapi.c tiny_spec): (25, 13, 13).
 *   decode   TinyYolov2Base.extractBoxes: channel a*5+k of cell (row, col) is field k of
 *            anchor a; score = sigmoid(t4) kept if > scoreThreshold; centre
 *            ((col + sigmoid(t0)) / 13 * cx, (row + sigmoid(t1)) / 13 * cy), size
 *            (exp(t2) * anchor.x / 13 * cx, exp(t3) * anchor.y / 13 * cy), relative to the
 *            image's part of the square (cx = s / round(w * s / max(w,h)), cy likewise);
 *            nonMaxSuppression (ops/nonMaxSuppression.ts: scores sorted ascending — a
 *            stable sort — the last popped first, boxes overlapping it by IoU > threshold
 *            dropped) on those relative boxes; then x * width, y * height for the photo.
 * Arithmetic in double where the reference is JavaScript (numbers are doubles), float where
 * it is a tensor op.
 */
#include "facetwin/detect.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/net.h"

#define TINY_BOX_FIELDS 5 /* x, y, w, h, score */
#define MAX_ANCHORS 16
#define SSD_HEADS 6
#define SSD_CLASSES 3 /* background, face, (unused): score = sigmoid(class 1) */

struct ft_detector {
    char kind[16];
    ft_net *net;
    int input_size;
    float score_threshold, iou_threshold;
    int n_anchors;
    double anchors[MAX_ANCHORS][2];
    float *input; /* (3, s, s) */
    /* ssd */
    int heads[SSD_HEADS][2]; /* layer indices of the box-encoding and class convs */
    int max_results, n_priors;
    float *priors; /* (n_priors, 4) */
};

const char *ft_detector_kind(const ft_detector *d) { return d->kind; }
ft_net *ft_detector_net(ft_detector *d) { return d->net; }

void ft_detector_free(ft_detector *d)
{
    if (!d) return;
    ft_net_free(d->net);
    free(d->input);
    free(d->priors);
    free(d);
}

/* ------------------------------------------------------------- input ---- */

void ft_tf_square_input(const ft_image *img, int x0, int y0, int w, int h, int size, int centered,
                        const float mean[3], const float std[3], float *out)
{
    const int S = w > h ? w : h, diff = S - (w < h ? w : h);
    /* padToSquare: append round(diff * (centered ? 0.5 : 1)), prepend the rest */
    int append = centered ? (int)floor(diff * 0.5 + 0.5) : diff, prepend = diff - append;
    int ox = w < h ? prepend : 0, oy = h < w ? prepend : 0; /* image origin inside the square */
    const float scale = (float)S / (float)size;
    const size_t plane = (size_t)size * size;
    for (int r = 0; r < size; r++) {
        float fy = (float)r * scale;
        int ty = (int)floorf(fy), by = (int)ceilf(fy);
        if (by > S - 1) by = S - 1;
        float ly = fy - (float)ty;
        for (int c = 0; c < size; c++) {
            float fx = (float)c * scale;
            int lx0 = (int)floorf(fx), rx = (int)ceilf(fx);
            if (rx > S - 1) rx = S - 1;
            float lx = fx - (float)lx0;
            const int ys[2] = {ty - oy, by - oy}, xs[2] = {lx0 - ox, rx - ox};
            float v[2][2][3];
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) {
                    int inside = ys[i] >= 0 && ys[i] < h && xs[j] >= 0 && xs[j] < w;
                    const uint8_t *p =
                        inside ? img->data + ((size_t)(y0 + ys[i]) * img->w + (size_t)(x0 + xs[j])) * img->c : NULL;
                    for (int k = 0; k < 3; k++) v[i][j][k] = p ? (float)p[img->c == 3 ? k : 0] : 0.0f;
                }
            for (int k = 0; k < 3; k++) {
                float top = v[0][0][k] + (v[0][1][k] - v[0][0][k]) * lx;
                float bot = v[1][0][k] + (v[1][1][k] - v[1][0][k]) * lx;
                float val = top + (bot - top) * ly;
                out[k * plane + (size_t)r * size + c] = (val / 255.0f - mean[k]) / std[k];
            }
        }
    }
}

/* -------------------------------------------------------------- load ---- */

static ft_status meta_number(const cJSON *d, const char *key, double *v, ft_error *err)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(d, key);
    if (!cJSON_IsNumber(x)) return ft_error_set(err, FT_EFORMAT, "detector metadata: '%s' (number) is required", key);
    *v = x->valuedouble;
    return FT_OK;
}

/* The SSD's decoding data: "heads" (6 [box, class] layer pairs), "max_results", aux/priors. */
static ft_status load_ssd(ft_detector *det, const ft_ckpt *ck, const cJSON *d, ft_error *err)
{
    double mr = 0;
    ft_status st = meta_number(d, "max_results", &mr, err);
    if (st) return st;
    det->max_results = (int)mr;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(d, "heads");
    if (cJSON_GetArraySize(h) != SSD_HEADS)
        return ft_error_set(err, FT_EFORMAT, "detector metadata: 'heads' must hold %d [box, class] pairs", SSD_HEADS);
    for (int k = 0; k < SSD_HEADS; k++)
        for (int j = 0; j < 2; j++) {
            const cJSON *v = cJSON_GetArrayItem(cJSON_GetArrayItem(h, k), j);
            if (!cJSON_IsNumber(v)) return ft_error_set(err, FT_EFORMAT, "detector metadata: 'heads' must hold integers");
            det->heads[k][j] = v->valueint;
        }
    for (int i = 0; i < ck->n_tensors; i++)
        if (!strcmp(ck->tensors[i].name, FT_AUX_PREFIX "priors") && ck->tensors[i].ndim == 2 &&
            ck->tensors[i].dims[1] == 4) {
            det->n_priors = (int)ck->tensors[i].dims[0];
            det->priors = malloc(ck->tensors[i].count * sizeof(float));
            if (!det->priors) return ft_error_set(err, FT_ENOMEM, "out of memory");
            memcpy(det->priors, ck->tensors[i].data, ck->tensors[i].count * sizeof(float));
            return FT_OK;
        }
    return ft_error_set(err, FT_EFORMAT, "ssd detector: the checkpoint lacks the tensor " FT_AUX_PREFIX "priors (N, 4)");
}

ft_status ft_detector_from_checkpoint(const ft_ckpt *ck, ft_detector **out, ft_error *err)
{
    *out = NULL;
    cJSON *meta = cJSON_Parse(ck->meta_json ? ck->meta_json : "{}");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(meta, "detector");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(d, "kind");
    ft_detector *det = calloc(1, sizeof *det);
    ft_status st = FT_OK;
    if (!det) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto done;
    }
    if (!cJSON_IsObject(d) || !cJSON_IsString(kind)) {
        st = ft_error_set(err, FT_EMISMATCH,
                          "not a detector checkpoint (no \"detector\" in its metadata; import one with "
                          "facetwin import --from face-api --parts tiny)");
        goto done;
    }
    if (strcmp(kind->valuestring, "tiny") && strcmp(kind->valuestring, "ssd")) {
        st = ft_error_set(err, FT_EUNSUPPORTED, "detector kind '%.32s' is not supported", kind->valuestring);
        goto done;
    }
    snprintf(det->kind, sizeof det->kind, "%s", kind->valuestring);
    double size = 0, score = 0, iou = 0;
    if ((st = meta_number(d, "input_size", &size, err)) || (st = meta_number(d, "score_threshold", &score, err)) ||
        (st = meta_number(d, "iou_threshold", &iou, err)))
        goto done;
    det->score_threshold = (float)score;
    det->iou_threshold = (float)iou;
    if (!strcmp(det->kind, "ssd")) {
        if ((st = load_ssd(det, ck, d, err))) goto done;
        goto net;
    }
    const cJSON *an = cJSON_GetObjectItemCaseSensitive(d, "anchors");
    int na = cJSON_GetArraySize(an);
    if (!cJSON_IsArray(an) || na < 2 || na % 2 || na / 2 > MAX_ANCHORS) {
        st = ft_error_set(err, FT_EFORMAT, "detector metadata: 'anchors' must be 1..%d (x, y) pairs", MAX_ANCHORS);
        goto done;
    }
    det->n_anchors = na / 2;
    for (int i = 0; i < na; i++) {
        const cJSON *v = cJSON_GetArrayItem(an, i);
        if (!cJSON_IsNumber(v)) {
            st = ft_error_set(err, FT_EFORMAT, "detector metadata: 'anchors' must hold numbers");
            goto done;
        }
        det->anchors[i / 2][i % 2] = v->valuedouble;
    }
net:
    if ((st = ft_net_from_checkpoint(ck, &det->net, err))) goto done;
    const ft_input_spec *in = ft_net_input(det->net);
    det->input_size = in->width;
    if (in->width != (int)size || in->height != (int)size || in->channels != 3) {
        st = ft_error_set(err, FT_EMISMATCH, "detector: input %dx%dx%d, metadata says %g", in->width, in->height,
                          in->channels, size);
        goto done;
    }
    if (!det->priors && ft_net_embed_dim(det->net) % (det->n_anchors * TINY_BOX_FIELDS)) {
        st = ft_error_set(err, FT_EMISMATCH, "detector: %d outputs do not fit %d anchors", ft_net_embed_dim(det->net),
                          det->n_anchors);
        goto done;
    }
    det->input = malloc(3 * (size_t)det->input_size * det->input_size * sizeof(float));
    if (!det->input) st = ft_error_set(err, FT_ENOMEM, "out of memory");
    else st = ft_net_reserve(det->net, 1, 0, err);
    for (int k = 0; !st && det->priors && k < SSD_HEADS; k++)
        for (int j = 0; j < 2 && !st; j++) {
            int c, h, w;
            if (!ft_net_layer_output(det->net, det->heads[k][j], &c, &h, &w))
                st = ft_error_set(err, FT_EFORMAT, "detector metadata: 'heads' names layer %d, not in the net",
                                  det->heads[k][j]);
        }
done:
    cJSON_Delete(meta);
    if (st) ft_detector_free(det);
    else *out = det;
    return st;
}

ft_status ft_detector_load(const char *path, ft_detector **out, ft_error *err)
{
    ft_ckpt ck;
    ft_status st = ft_ckpt_read(path, &ck, err);
    if (st) return st;
    st = ft_detector_from_checkpoint(&ck, out, err);
    ft_ckpt_free(&ck);
    if (st) ft_error_prefix(err, path);
    return st;
}

/* ------------------------------------------------------------ decode ---- */

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

float ft_face_box_iou(const ft_face_box *a, const ft_face_box *b)
{
    double w = fmin(a->x + a->w, b->x + b->w) - fmax(a->x, b->x);
    double h = fmin(a->y + a->h, b->y + b->h) - fmax(a->y, b->y);
    if (w < 0) w = 0;
    if (h < 0) h = 0;
    double inter = w * h, uni = (double)a->w * a->h + (double)b->w * b->h - inter;
    return uni > 0 ? (float)(inter / uni) : 0.0f;
}

typedef struct {
    double x0, y0, x1, y1, score; /* relative, as the reference's BoundingBox */
    int index;
} cand;

static double cand_iou(const cand *a, const cand *b)
{
    double w = fmax(0.0, fmin(a->x1, b->x1) - fmax(a->x0, b->x0));
    double h = fmax(0.0, fmin(a->y1, b->y1) - fmax(a->y0, b->y0));
    double inter = w * h;
    return inter / ((a->x1 - a->x0) * (a->y1 - a->y0) + (b->x1 - b->x0) * (b->y1 - b->y0) - inter);
}

/* ascending score, ties by index: what a stable ascending sort gives */
static int cand_cmp(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    if (a->score != b->score) return a->score < b->score ? -1 : 1;
    return a->index - b->index;
}

/* nonMaxSuppression: keeps indices into c (sorted ascending), highest first; returns the count. */
static int nms(cand *c, int n, double iou_threshold, int *keep)
{
    qsort(c, (size_t)n, sizeof *c, cand_cmp);
    int nk = 0;
    while (n > 0) {
        cand cur = c[--n];
        keep[nk++] = cur.index;
        int m = 0;
        for (int i = 0; i < n; i++)
            if (cand_iou(&cur, &c[i]) <= iou_threshold) c[m++] = c[i];
        n = m;
    }
    return nk;
}

/* SsdMobilenetv1's IOU (src/ssdMobilenetv1/nonMaxSuppression.ts) on (ymin, xmin, ymax, xmax). */
static double ssd_iou(const float *a, const float *b)
{
    double ya0 = fmin(a[0], a[2]), xa0 = fmin(a[1], a[3]), ya1 = fmax(a[0], a[2]), xa1 = fmax(a[1], a[3]);
    double yb0 = fmin(b[0], b[2]), xb0 = fmin(b[1], b[3]), yb1 = fmax(b[0], b[2]), xb1 = fmax(b[1], b[3]);
    double aa = (ya1 - ya0) * (xa1 - xa0), ab = (yb1 - yb0) * (xb1 - xb0);
    if (aa <= 0 || ab <= 0) return 0.0;
    double inter = fmax(fmin(ya1, yb1) - fmax(ya0, yb0), 0.0) * fmax(fmin(xa1, xb1) - fmax(xa0, xb0), 0.0);
    return inter / (aa + ab - inter);
}

typedef struct {
    double score;
    int index;
} scored;

/* descending score, ties by index (a stable sort of (c2.score - c1.score)) */
static int scored_cmp(const void *pa, const void *pb)
{
    const scored *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->index - b->index;
}

/* SsdMobilenetv1.locateFaces after the net: outputLayer's decoding against the priors
 * (float32, as the tensor ops), sigmoid of class 1, nonMaxSuppression with its soft-looking
 * loop (a candidate survives only if no selected box overlaps it by IoU > threshold), then
 * clamping to [0, 1] and the correction factors of the padded square. */
static ft_status detect_ssd(ft_detector *d, const ft_image *img, float score_thr, float iou_thr,
                            ft_face_box **faces, int *n, ft_error *err)
{
    float *boxes = malloc((size_t)d->n_priors * 4 * sizeof(float));
    scored *sc_list = malloc((size_t)d->n_priors * sizeof *sc_list);
    int *sel = malloc((size_t)d->n_priors * sizeof *sel);
    if (!boxes || !sc_list || !sel) {
        free(boxes), free(sc_list), free(sel);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    int idx = 0, nc = 0;
    for (int k = 0; k < SSD_HEADS; k++) {
        int bc, bh, bw, cc, ch, cw;
        const float *bo = ft_net_layer_output(d->net, d->heads[k][0], &bc, &bh, &bw);
        const float *co = ft_net_layer_output(d->net, d->heads[k][1], &cc, &ch, &cw);
        const int A = bc / 4, P = bh * bw;
        if (bc % 4 || cc != A * SSD_CLASSES || ch != bh || cw != bw || idx + P * A > d->n_priors) {
            free(boxes), free(sc_list), free(sel);
            return ft_error_set(err, FT_EMISMATCH, "ssd detector: head %d does not match the priors", k);
        }
        for (int cell = 0; cell < P; cell++)
            for (int a = 0; a < A; a++, idx++) {
                const float *p = d->priors + (size_t)idx * 4;
                float t[4];
                for (int j = 0; j < 4; j++) t[j] = bo[(size_t)(a * 4 + j) * P + cell];
                float s0 = p[2] - p[0], s1 = p[3] - p[1];
                float c0 = p[0] + s0 / 2.0f, c1 = p[1] + s1 / 2.0f;
                float div0 = expf(t[2] / 5.0f) * s0 / 2.0f, add0 = t[0] / 10.0f * s0 + c0;
                float div1 = expf(t[3] / 5.0f) * s1 / 2.0f, add1 = t[1] / 10.0f * s1 + c1;
                float *bx = boxes + (size_t)idx * 4;
                bx[0] = add0 - div0;
                bx[1] = add1 - div1;
                bx[2] = add0 + div0;
                bx[3] = add1 + div1;
                float logit = co[(size_t)(a * SSD_CLASSES + 1) * P + cell];
                float score = 1.0f / (1.0f + expf(-logit));
                if (score > score_thr) sc_list[nc++] = (scored){score, idx};
            }
    }
    if (idx != d->n_priors) {
        free(boxes), free(sc_list), free(sel);
        return ft_error_set(err, FT_EMISMATCH, "ssd detector: %d boxes for %d priors", idx, d->n_priors);
    }
    qsort(sc_list, (size_t)nc, sizeof *sc_list, scored_cmp);
    const int out_max = d->max_results < d->n_priors ? d->max_results : d->n_priors;
    int ns = 0;
    for (int i = 0; i < nc && ns < out_max; i++) {
        int keep = 1;
        for (int j = ns - 1; j >= 0; j--) {
            double v = ssd_iou(boxes + (size_t)sc_list[i].index * 4, boxes + (size_t)sel[j] * 4);
            if (v == 0.0) continue;
            if (v > iou_thr) { /* score *= 0 -> <= threshold: dropped */
                keep = 0;
                break;
            }
        }
        if (keep) sel[ns++] = sc_list[i].index;
    }
    const int s = d->input_size;
    const double sc = (double)s / (img->w > img->h ? img->w : img->h);
    const double padx = s / round(img->w * sc), pady = s / round(img->h * sc);
    ft_face_box *f = ns ? malloc((size_t)ns * sizeof *f) : NULL;
    if (ns && !f) {
        free(boxes), free(sc_list), free(sel);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    for (int i = 0; i < ns; i++) {
        const float *bx = boxes + (size_t)sel[i] * 4;
        double top = fmax(0.0, bx[0]) * pady, bottom = fmin(1.0, bx[2]) * pady;
        double left = fmax(0.0, bx[1]) * padx, right = fmin(1.0, bx[3]) * padx;
        double score = 0;
        for (int k = 0; k < nc; k++)
            if (sc_list[k].index == sel[i]) score = sc_list[k].score;
        f[i] = (ft_face_box){(float)(left * img->w), (float)(top * img->h), (float)((right - left) * img->w),
                             (float)((bottom - top) * img->h), (float)score};
    }
    free(boxes), free(sc_list), free(sel);
    *faces = f;
    *n = ns;
    return FT_OK;
}

ft_status ft_detect(ft_detector *d, const ft_image *img, const ft_detect_opts *opts, ft_face_box **faces,
                    int *n, ft_error *err)
{
    *faces = NULL;
    *n = 0;
    if (!img || img->w < 1 || img->h < 1 || (img->c != 1 && img->c != 3))
        return ft_error_set(err, FT_EINVAL, "detect: an empty or unsupported image");
    const float score_thr = opts && opts->score_threshold > 0 ? opts->score_threshold : d->score_threshold;
    const float iou_thr = opts && opts->iou_threshold > 0 ? opts->iou_threshold : d->iou_threshold;
    const ft_input_spec *in = ft_net_input(d->net);
    const int s = d->input_size;
    ft_tf_square_input(img, 0, 0, img->w, img->h, s, 0, in->mean, in->std, d->input);
    const float *o = ft_net_forward(d->net, d->input, 1, 0);
    if (d->priors) return detect_ssd(d, img, score_thr, iou_thr, faces, n, err);

    const int fields = d->n_anchors * TINY_BOX_FIELDS;
    const int cells2 = ft_net_embed_dim(d->net) / fields, cells = (int)lround(sqrt((double)cells2));
    if (cells * cells != cells2) return ft_error_set(err, FT_EMISMATCH, "detector: the output is not square");
    /* computeReshapedDimensions + the correction factors of extractBoxes */
    const double sc = (double)s / (img->w > img->h ? img->w : img->h);
    const double rw = round(img->w * sc), rh = round(img->h * sc);
    const double cx = s / rw, cy = s / rh;
    cand *c = malloc((size_t)cells2 * d->n_anchors * sizeof *c);
    int *keep = malloc((size_t)cells2 * d->n_anchors * sizeof *keep);
    if (!c || !keep) {
        free(c), free(keep);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    int nc = 0;
    const size_t P = (size_t)cells2;
    for (int row = 0; row < cells; row++)
        for (int col = 0; col < cells; col++)
            for (int a = 0; a < d->n_anchors; a++) {
                const float *t = o + (size_t)a * TINY_BOX_FIELDS * P + (size_t)row * cells + col;
                double score = sigmoid(t[4 * P]);
                if (!(score > score_thr)) continue;
                double ctx = (col + sigmoid(t[0])) / cells * cx, cty = (row + sigmoid(t[P])) / cells * cy;
                double w = exp(t[2 * P]) * d->anchors[a][0] / cells * cx;
                double h = exp(t[3 * P]) * d->anchors[a][1] / cells * cy;
                double x = ctx - w / 2, y = cty - h / 2;
                c[nc] = (cand){x, y, x + w, y + h, score, nc};
                nc++;
            }
    cand *byidx = malloc((size_t)(nc ? nc : 1) * sizeof *byidx);
    ft_face_box *f = malloc((size_t)(nc ? nc : 1) * sizeof *f);
    if (!byidx || !f) {
        free(c), free(keep), free(byidx), free(f);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    memcpy(byidx, c, (size_t)nc * sizeof *c);
    int nk = nms(c, nc, iou_thr, keep);
    for (int k = 0; k < nk; k++) {
        const cand *b = &byidx[keep[k]];
        f[k] = (ft_face_box){(float)(b->x0 * img->w), (float)(b->y0 * img->h), (float)((b->x1 - b->x0) * img->w),
                             (float)((b->y1 - b->y0) * img->h), (float)b->score};
    }
    free(c), free(keep), free(byidx);
    if (!nk) {
        free(f);
        f = NULL;
    }
    *faces = f;
    *n = nk;
    return FT_OK;
}
