/* import_faceapi.c — face-api's networks as facetwin specs + checkpoints.
 *
 * Four networks, each written as a plain spec by a function that transcribes its
 * forward pass: encoder_spec (below), landmarks_spec (denseBlock4 x4), tiny_spec
 * (TinyYolov2 runMobilenet) and ssd_spec (MobileNet v1 + SSD heads); the
 * TensorFlow details they share — 'same' padding that is asymmetric on a stride-2
 * conv (a "pad" layer + a conv with padding 0), separable convs as a depthwise conv
 * (groups = C) + a 1x1 conv — are in same_padding / sep_conv. The encoder first:
 *
 * The reference (the .ts files in src/faceRecognitionNet/ of @vladmandic/face-api 1.7.15,
 * the dlib ResNet-34-like face recognition model ported to tfjs), read line by
 * line; every step below names the facetwin layers that reproduce it:
 *
 *   input     toBatchTensor(150, centered): a 150x150 input is neither padded
 *             nor resized; RGB. normalize(x, [122.782, 117.001, 104.298]) then
 *             .div(255) -> input spec mean = m/255 per channel, std = 1, since
 *             facetwin feeds (pixel/255 - mean)/std.
 *   convLayer conv2d(x, filters, strides, padding) + bias, then scale
 *             (x * weights + biases), then relu if asked -> conv2d (bias), scale,
 *             relu. 'same' padding is only used with 3x3 stride 1 (symmetric
 *             pad 1); every strided conv is 'valid' (pad 0), so no asymmetric
 *             TensorFlow padding is needed.
 *   conv32_down  convLayer 7x7 stride 2 'valid' + relu: 150 -> 72
 *   maxPool(3, 2, 'valid')                             72 -> 35
 *   residual     conv 3x3 + relu, conv 3x3 (no relu), + x, relu
 *                -> conv, scale, relu, conv, scale, add(from x), relu
 *   residualDown conv 3x3 stride 2 'valid' + relu, conv 3x3 (no relu); the
 *                shortcut is avgPool(x, 2, 2, 'valid') concatenated with zero
 *                channels when the width grows; the main branch gets a zero
 *                bottom row and right column when it is one smaller (8 -> 3 vs
 *                4, and 4 -> 1 vs 2); their sum, relu
 *                -> ..., avgpool 2/2 reading x, add {"zero_pad": true}, relu
 *                (the add's "input" is the pooled shortcut, "from" the branch)
 *   stages   32 x3, down 64, 64 x3, down 128, 128 x2, down 256, 256 x2,
 *            down 256 ("conv256_down_out"): 35 -> 17 -> 8 -> 4 -> 2
 *   out.mean([1, 2]) -> gap; matMul(globalAvg, fc), fc (256, 128), no bias
 *            -> dense 128 without bias. The descriptor is NOT normalised.
 *
 * Layouts: tfjs conv filters are (KH, KW, IC, OC), facetwin's (OC, IC, KH, KW);
 * the fc matrix is (IN, OUT), facetwin's dense weight (OUT, IN). Channel order
 * is RGB on both sides. Every manifest tensor must be consumed and every spec
 * parameter filled, with shapes checked on the way: a package whose network
 * differs fails loudly instead of importing a different model.
 */
#include "facetwin/import.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "facetwin/model.h"
#include "facetwin/net.h"
#include "facetwin/pipeline.h"
#include "tfjs_weights.h"

#define FACEAPI_INPUT 150
#define FACEAPI_MEAN_R 122.782
#define FACEAPI_MEAN_G 117.001
#define FACEAPI_MEAN_B 104.298
#define FACEAPI_PIXEL_DIV 255.0
#define FACEAPI_ARCH "face-api-recognition"
#define FACEAPI_LANDMARKS_ARCH "face-api-landmarks68"
#define FACEAPI_LANDMARKS_INPUT 112
#define FACEAPI_TINY_ARCH "face-api-tiny-detector"
#define FACEAPI_TINY_MEAN_R 117.001 /* src/tinyFaceDetector/const.ts MEAN_RGB */
#define FACEAPI_TINY_MEAN_G 114.697
#define FACEAPI_TINY_MEAN_B 97.404
#define FACEAPI_SSD_ARCH "face-api-ssd-mobilenetv1"
#define FACEAPI_SSD_BN_EPS 0.0010000000474974513 /* src/ssdMobilenetv1/mobileNetV1.ts */
#define FACEAPI_LEAKY_ALPHA 0.10000000149011612 /* src/tinyYolov2/leaky.ts */
#define MAX_MAPS 512

/* FaceRecognitionNet.forwardInput, block by block. */
typedef enum { B_CONV_DOWN, B_MAXPOOL, B_RESIDUAL, B_RESIDUAL_DOWN } block_kind;
static const struct {
    const char *prefix;
    block_kind kind;
} k_blocks[] = {
    {"conv32_down", B_CONV_DOWN},        {NULL, B_MAXPOOL},
    {"conv32_1", B_RESIDUAL},            {"conv32_2", B_RESIDUAL},       {"conv32_3", B_RESIDUAL},
    {"conv64_down", B_RESIDUAL_DOWN},    {"conv64_1", B_RESIDUAL},       {"conv64_2", B_RESIDUAL},
    {"conv64_3", B_RESIDUAL},            {"conv128_down", B_RESIDUAL_DOWN}, {"conv128_1", B_RESIDUAL},
    {"conv128_2", B_RESIDUAL},           {"conv256_down", B_RESIDUAL_DOWN}, {"conv256_1", B_RESIDUAL},
    {"conv256_2", B_RESIDUAL},           {"conv256_down_out", B_RESIDUAL_DOWN},
};

typedef enum { MAP_FILTERS, MAP_DEPTHWISE, MAP_VECTOR, MAP_FC } map_kind;

/* One spec parameter and the manifest tensor that fills it. */
typedef struct {
    int layer;
    const char *param; /* "weight" | "bias" */
    const ft_tfjs_tensor *src;
    map_kind kind;
} param_map;

typedef struct {
    cJSON *layers;
    int n;
    param_map maps[MAX_MAPS];
    int n_maps;
    const ft_tfjs_weights *w;
    const char *part; /* "encoder", "landmarks", ... for messages */
    int heads[6][2];  /* ssd: the (box, class) predictor layers */
    const ft_tfjs_tensor *aux; /* ssd: the priors, stored as aux/priors */
    ft_error *err;
    ft_status st;
} builder;

static ft_status fail(builder *b, ft_status code, const char *what, const char *name)
{
    if (!b->st) b->st = ft_error_set(b->err, code, "face-api %s: %s '%.80s'", b->part, what, name);
    return b->st;
}

/* Appends {"type": type, "name": name} and returns it (NULL after an error). */
static cJSON *add_layer(builder *b, const char *type, const char *name)
{
    if (b->st) return NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(b->layers, o)) {
        cJSON_Delete(o);
        b->st = ft_error_set(b->err, FT_ENOMEM, "out of memory");
        return NULL;
    }
    cJSON_AddStringToObject(o, "type", type);
    if (name) cJSON_AddStringToObject(o, "name", name);
    b->n++;
    return o;
}

static void num(cJSON *o, const char *k, double v)
{
    if (o) cJSON_AddNumberToObject(o, k, v);
}

static const ft_tfjs_tensor *need(builder *b, const char *prefix, const char *suffix, int ndim)
{
    char name[128];
    snprintf(name, sizeof name, "%s/%s", prefix, suffix);
    const ft_tfjs_tensor *t = ft_tfjs_find(b->w, name);
    if (!t) {
        fail(b, FT_EMISMATCH, "the manifest lacks", name);
        return NULL;
    }
    if (t->ndim != ndim) {
        fail(b, FT_EMISMATCH, "unexpected rank of", name);
        return NULL;
    }
    return t;
}

static void map(builder *b, int layer, const char *param, const ft_tfjs_tensor *src, map_kind kind)
{
    if (b->st || !src) return;
    if (b->n_maps == MAX_MAPS) {
        fail(b, FT_EMISMATCH, "too many tensors at", src->name);
        return;
    }
    b->maps[b->n_maps++] = (param_map){layer, param, src, kind};
}

/* convLayer: conv2d + bias, scale, [relu]; returns the index of its last layer. */
static int conv_layer(builder *b, const char *prefix, int stride, int relu, int input)
{
    const ft_tfjs_tensor *f = need(b, prefix, "conv/filters", 4), *bias = need(b, prefix, "conv/bias", 1);
    const ft_tfjs_tensor *sw = need(b, prefix, "scale/weights", 1), *sb = need(b, prefix, "scale/biases", 1);
    if (b->st) return -1;
    int64_t kh = f->dims[0], kw = f->dims[1], oc = f->dims[3];
    if (kh != kw || bias->count != (size_t)oc || sw->count != (size_t)oc || sb->count != (size_t)oc) {
        fail(b, FT_EMISMATCH, "unexpected shapes in convLayer", prefix);
        return -1;
    }
    /* 'valid' for the strided convs, 'same' (= symmetric (k-1)/2 at stride 1, odd k) otherwise */
    int pad = stride == 1 ? (int)(kh - 1) / 2 : 0;
    if (stride == 1 && kh % 2 == 0) {
        fail(b, FT_EUNSUPPORTED, "even kernel with 'same' padding in", prefix);
        return -1;
    }
    char nm[128];
    snprintf(nm, sizeof nm, "%s/conv", prefix);
    cJSON *c = add_layer(b, "conv2d", nm);
    num(c, "filters", (double)oc);
    num(c, "kernel", (double)kh);
    if (stride != 1) num(c, "stride", stride);
    if (pad) num(c, "padding", pad);
    if (input != b->n - 2) num(c, "input", input);
    map(b, b->n - 1, "weight", f, MAP_FILTERS);
    map(b, b->n - 1, "bias", bias, MAP_VECTOR);
    snprintf(nm, sizeof nm, "%s/scale", prefix);
    add_layer(b, "scale", nm);
    map(b, b->n - 1, "weight", sw, MAP_VECTOR);
    map(b, b->n - 1, "bias", sb, MAP_VECTOR);
    if (relu) add_layer(b, "relu", NULL);
    return b->n - 1;
}

static void residual(builder *b, const char *prefix, int down)
{
    char p1[96], p2[96];
    snprintf(p1, sizeof p1, "%s/conv1", prefix);
    snprintf(p2, sizeof p2, "%s/conv2", prefix);
    int x = b->n - 1;
    conv_layer(b, p1, down ? 2 : 1, 1, b->n - 1);
    int branch = conv_layer(b, p2, 1, 0, b->n - 1);
    if (b->st) return;
    if (!down) {
        cJSON *a = add_layer(b, "add", NULL);
        num(a, "from", x);
    } else {
        char nm[96];
        snprintf(nm, sizeof nm, "%s/shortcut", prefix);
        cJSON *p = add_layer(b, "avgpool", nm);
        num(p, "kernel", 2);
        num(p, "stride", 2);
        num(p, "input", x);
        cJSON *a = add_layer(b, "add", NULL);
        num(a, "from", branch);
        if (a) cJSON_AddBoolToObject(a, "zero_pad", 1);
    }
    add_layer(b, "relu", NULL);
}

/* The input block every face-api net shares: width x height RGB, (pixel - mean)/255. */
static cJSON *spec_root(builder *b, const char *name, const char *desc, int size, const double mean_rgb[3])
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "name", name);
    cJSON_AddStringToObject(root, "description", desc);
    cJSON *in = cJSON_AddObjectToObject(root, "input");
    num(in, "width", size);
    num(in, "height", size);
    num(in, "channels", 3);
    const double mean[3] = {mean_rgb[0] / FACEAPI_PIXEL_DIV, mean_rgb[1] / FACEAPI_PIXEL_DIV,
                            mean_rgb[2] / FACEAPI_PIXEL_DIV};
    const double one[3] = {1, 1, 1};
    cJSON_AddItemToObject(in, "mean", cJSON_CreateDoubleArray(mean, 3));
    cJSON_AddItemToObject(in, "std", cJSON_CreateDoubleArray(one, 3));
    b->layers = cJSON_AddArrayToObject(root, "layers");
    if (!b->layers) b->st = ft_error_set(b->err, FT_ENOMEM, "out of memory");
    return root;
}

static char *spec_text(builder *b, cJSON *root)
{
    char *txt = b->st ? NULL : cJSON_PrintUnformatted(root);
    if (!b->st && !txt) b->st = ft_error_set(b->err, FT_ENOMEM, "out of memory");
    cJSON_Delete(root);
    return txt;
}

static char *encoder_spec(builder *b, const char *version)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "name", FACEAPI_ARCH);
    char desc[256];
    snprintf(desc, sizeof desc,
             "FaceRecognitionNet of @vladmandic/face-api %s (dlib's ResNet-34-like face descriptor), "
             "imported by facetwin import --from face-api",
             version);
    cJSON_AddStringToObject(root, "description", desc);
    cJSON *in = cJSON_AddObjectToObject(root, "input");
    num(in, "width", FACEAPI_INPUT);
    num(in, "height", FACEAPI_INPUT);
    num(in, "channels", 3);
    const double mean[3] = {FACEAPI_MEAN_R / FACEAPI_PIXEL_DIV, FACEAPI_MEAN_G / FACEAPI_PIXEL_DIV,
                            FACEAPI_MEAN_B / FACEAPI_PIXEL_DIV};
    const double one[3] = {1, 1, 1};
    cJSON_AddItemToObject(in, "mean", cJSON_CreateDoubleArray(mean, 3));
    cJSON_AddItemToObject(in, "std", cJSON_CreateDoubleArray(one, 3));
    b->layers = cJSON_AddArrayToObject(root, "layers");
    if (!b->layers) b->st = ft_error_set(b->err, FT_ENOMEM, "out of memory");
    for (size_t i = 0; i < sizeof k_blocks / sizeof k_blocks[0] && !b->st; i++) {
        switch (k_blocks[i].kind) {
        case B_CONV_DOWN: conv_layer(b, k_blocks[i].prefix, 2, 1, b->n - 1); break;
        case B_MAXPOOL: {
            cJSON *p = add_layer(b, "maxpool", "maxpool");
            num(p, "kernel", 3);
            num(p, "stride", 2);
            break;
        }
        case B_RESIDUAL: residual(b, k_blocks[i].prefix, 0); break;
        case B_RESIDUAL_DOWN: residual(b, k_blocks[i].prefix, 1); break;
        }
    }
    add_layer(b, "gap", NULL);
    const ft_tfjs_tensor *fc = ft_tfjs_find(b->w, "fc");
    if (!fc || fc->ndim != 2) fail(b, FT_EMISMATCH, "the manifest lacks a 2-D tensor", "fc");
    if (!b->st) {
        cJSON *d = add_layer(b, "dense", "fc");
        num(d, "units", (double)fc->dims[1]);
        if (d) cJSON_AddBoolToObject(d, "bias", 0);
        map(b, b->n - 1, "weight", fc, MAP_FC);
    }
    char *txt = b->st ? NULL : cJSON_PrintUnformatted(root);
    if (!b->st && !txt) b->st = ft_error_set(b->err, FT_ENOMEM, "out of memory");
    cJSON_Delete(root);
    return txt;
}

/* ---- the pieces of the MobileNet-style nets (landmarks, tiny detector) ---- */

static void set_input(builder *b, cJSON *o, int input)
{
    if (o && input != b->n - 2) num(o, "input", input);
}

/* TensorFlow 'same' for a k x k stride-s conv on a size x size map: facetwin's
 * conv pads symmetrically, so an odd total (stride 2 on an even map: 0 before,
 * 1 after) becomes a "pad" layer and the conv pads 0. Returns the conv's
 * padding and updates *input to the pad layer when one was added. */
static int same_padding(builder *b, int *input, int size, int k, int stride)
{
    int out = (size + stride - 1) / stride;
    int total = (out - 1) * stride + k - size;
    if (total < 0) total = 0;
    int before = total / 2, after = total - before;
    if (before == after) return before;
    cJSON *p = add_layer(b, "pad", NULL);
    set_input(b, p, *input);
    num(p, "top", before);
    num(p, "left", before);
    num(p, "bottom", after);
    num(p, "right", after);
    *input = b->n - 1;
    return 0;
}

/* One conv2d reading `input` with TF 'same' padding for a size x size map (size 0: no padding
 * needed, 1x1 convs; an asymmetric TF pad becomes a pad layer first): maps the filters (HWIO,
 * or HWC1 when depthwise: groups = channels) and the bias, or "bias": false when bias is NULL.
 * Returns the conv layer's index. */
static int conv_same(builder *b, const char *prefix, int input, int size, const ft_tfjs_tensor *f,
                     const ft_tfjs_tensor *bias, int stride, int depthwise)
{
    int pad = size > 0 ? same_padding(b, &input, size, (int)f->dims[0], stride) : 0;
    double out_ch = (double)(depthwise ? f->dims[2] : f->dims[3]);
    cJSON *c = add_layer(b, "conv2d", prefix);
    set_input(b, c, input);
    num(c, "filters", out_ch);
    num(c, "kernel", (double)f->dims[0]);
    if (stride != 1) num(c, "stride", stride);
    if (pad) num(c, "padding", pad);
    if (depthwise) num(c, "groups", out_ch);
    if (!bias && c) cJSON_AddBoolToObject(c, "bias", 0);
    map(b, b->n - 1, "weight", f, depthwise ? MAP_DEPTHWISE : MAP_FILTERS);
    if (bias) map(b, b->n - 1, "bias", bias, MAP_VECTOR);
    return b->n - 1;
}

/* conv2d(x, filters, stride, 'same') + bias: returns the conv layer's index. */
static int tf_conv(builder *b, const char *prefix, int input, int size, int stride)
{
    const ft_tfjs_tensor *f = need(b, prefix, "filters", 4), *bias = need(b, prefix, "bias", 1);
    if (b->st) return -1;
    if (f->dims[0] != f->dims[1] || bias->count != (size_t)f->dims[3]) {
        fail(b, FT_EMISMATCH, "unexpected shapes in conv", prefix);
        return -1;
    }
    return conv_same(b, prefix, input, size, f, bias, stride, 0);
}

/* tf.separableConv2d(x, depthwise, pointwise, stride, 'same') + bias: a
 * depthwise conv (groups = C, no bias) then a 1x1 conv with the bias. Returns
 * the 1x1 conv's index. */
static int sep_conv(builder *b, const char *prefix, int input, int size, int stride)
{
    const ft_tfjs_tensor *dw = need(b, prefix, "depthwise_filter", 4);
    const ft_tfjs_tensor *pw = need(b, prefix, "pointwise_filter", 4), *bias = need(b, prefix, "bias", 1);
    if (b->st) return -1;
    int64_t C = dw->dims[2];
    if (dw->dims[0] != dw->dims[1] || dw->dims[3] != 1 || pw->dims[0] != 1 || pw->dims[1] != 1 ||
        pw->dims[2] != C || bias->count != (size_t)pw->dims[3]) {
        fail(b, FT_EMISMATCH, "unexpected shapes in separable conv", prefix);
        return -1;
    }
    int pad = same_padding(b, &input, size, (int)dw->dims[0], stride);
    char nm[128];
    snprintf(nm, sizeof nm, "%s/depthwise", prefix);
    cJSON *d = add_layer(b, "conv2d", nm);
    set_input(b, d, input);
    num(d, "filters", (double)C);
    num(d, "kernel", (double)dw->dims[0]);
    if (stride != 1) num(d, "stride", stride);
    if (pad) num(d, "padding", pad);
    num(d, "groups", (double)C);
    if (d) cJSON_AddBoolToObject(d, "bias", 0);
    map(b, b->n - 1, "weight", dw, MAP_DEPTHWISE);
    snprintf(nm, sizeof nm, "%s/pointwise", prefix);
    cJSON *q = add_layer(b, "conv2d", nm);
    num(q, "filters", (double)pw->dims[3]);
    num(q, "kernel", 1);
    map(b, b->n - 1, "weight", pw, MAP_FILTERS);
    map(b, b->n - 1, "bias", bias, MAP_VECTOR);
    return b->n - 1;
}

/* out = x + y (the add reads x as its input and y as "from"); returns its index. */
static int add2(builder *b, int x, int y)
{
    cJSON *a = add_layer(b, "add", NULL);
    set_input(b, a, x);
    num(a, "from", y);
    return b->n - 1;
}

static int relu_of(builder *b, int x)
{
    cJSON *r = add_layer(b, "relu", NULL);
    set_input(b, r, x);
    return b->n - 1;
}

/* denseBlock4 (src/faceFeatureExtractor/denseBlock.ts), stride 2:
 *   out1 = relu(first ? conv(x) + bias : sepconv(x))
 *   out2 = sepconv(out1);  in3 = relu(out1 + out2)
 *   out3 = sepconv(in3);   in4 = relu(out1 + (out2 + out3))
 *   out4 = sepconv(in4);   relu(out1 + (out2 + (out3 + out4)))
 * the sums associated as the reference does. size: the input map's side. */
static void dense_block4(builder *b, const char *prefix, int size, int first)
{
    char p[4][96];
    for (int k = 0; k < 4; k++) snprintf(p[k], sizeof p[k], "%s/conv%d", prefix, k);
    int x = b->n - 1, half = (size + 1) / 2;
    int o1 = relu_of(b, first ? tf_conv(b, p[0], x, size, 2) : sep_conv(b, p[0], x, size, 2));
    int o2 = sep_conv(b, p[1], o1, half, 1);
    int in3 = relu_of(b, add2(b, o1, o2));
    int o3 = sep_conv(b, p[2], in3, half, 1);
    int in4 = relu_of(b, add2(b, o1, add2(b, o2, o3)));
    int o4 = sep_conv(b, p[3], in4, half, 1);
    relu_of(b, add2(b, o1, add2(b, o2, add2(b, o3, o4))));
}

/* FaceLandmark68Net (src/faceLandmarkNet, src/faceFeatureExtractor/FaceFeatureExtractor.ts):
 * toBatchTensor(112, centered) -> normalize(mean) / 255 -> denseBlock4 x4 (the
 * first with a plain conv; 112 -> 56 -> 28 -> 14 -> 7) -> avgPool(7, 2, 'valid')
 * -> 1x1x256 -> fc 256 -> 136 with bias: (x, y) of 68 points relative to the
 * 112x112 input, interleaved. */
static char *landmarks_spec(builder *b, const char *version)
{
    char desc[256];
    snprintf(desc, sizeof desc,
             "FaceLandmark68Net of @vladmandic/face-api %s (68 points, x0 y0 x1 y1 ... relative to the "
             "112x112 input), imported by facetwin import --from face-api",
             version);
    const double mean[3] = {FACEAPI_MEAN_R, FACEAPI_MEAN_G, FACEAPI_MEAN_B};
    cJSON *root = spec_root(b, FACEAPI_LANDMARKS_ARCH, desc, FACEAPI_LANDMARKS_INPUT, mean);
    int size = FACEAPI_LANDMARKS_INPUT;
    for (int k = 0; k < 4 && !b->st; k++, size = (size + 1) / 2) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "dense%d", k);
        dense_block4(b, prefix, size, k == 0);
    }
    cJSON *p = add_layer(b, "avgpool", "avgpool");
    num(p, "kernel", 7);
    num(p, "stride", 2);
    const ft_tfjs_tensor *fw = need(b, "fc", "weights", 2), *fb = need(b, "fc", "bias", 1);
    if (!b->st) {
        cJSON *d = add_layer(b, "dense", "fc");
        num(d, "units", (double)fw->dims[1]);
        map(b, b->n - 1, "weight", fw, MAP_FC);
        map(b, b->n - 1, "bias", fb, MAP_VECTOR);
    }
    return spec_text(b, root);
}

static int leaky_of(builder *b, int x)
{
    cJSON *r = add_layer(b, "leaky", NULL);
    set_input(b, r, x);
    num(r, "alpha", FACEAPI_LEAKY_ALPHA);
    return b->n - 1;
}

static void maxpool_same(builder *b, int stride)
{
    cJSON *p = add_layer(b, "maxpool", NULL);
    num(p, "kernel", 2);
    num(p, "stride", stride);
    if (p) cJSON_AddStringToObject(p, "padding", "same");
}

/* TinyFaceDetector = TinyYolov2Base.runMobilenet with isFirstLayerConv2d
 * (src/tinyYolov2/TinyYolov2Base.ts, src/tinyFaceDetector):
 *   toBatchTensor(416, not centered) -> normalize(MEAN_RGB) / 255
 *   leaky(convLayer(x, conv0, 'valid'))       3x3, 416 -> 414
 *   maxPool(2, 2, 'same')                    -> 207
 *   conv1..conv4: depthwiseSeparableConv = tf.pad 1 + separableConv2d 'valid'
 *     + bias + leaky, each followed by maxPool(2, 2, 'same')   207 -> 104 -> 52 -> 26 -> 13
 *   conv5, maxPool(2, 1, 'same')             13 -> 13
 *   (no conv6/conv7 in this model)
 *   convLayer(conv8, 'valid')                1x1 -> 25 = 5 anchors x (x, y, w, h, score)
 * leaky(x) = relu(x - 0.1x) + 0.1x = x > 0 ? x : 0.1x. */
static char *tiny_spec(builder *b, const char *version)
{
    char desc[256];
    snprintf(desc, sizeof desc,
             "TinyFaceDetector of @vladmandic/face-api %s (Tiny-YOLOv2 style, depthwise-separable; output "
             "13x13 cells x 5 anchors x (x, y, w, h, score)), imported by facetwin import --from face-api",
             version);
    const double mean[3] = {FACEAPI_TINY_MEAN_R, FACEAPI_TINY_MEAN_G, FACEAPI_TINY_MEAN_B};
    cJSON *root = spec_root(b, FACEAPI_TINY_ARCH, desc, FT_FACEAPI_TINY_INPUT, mean);
    const ft_tfjs_tensor *f = need(b, "conv0", "filters", 4), *bias = need(b, "conv0", "bias", 1);
    if (!b->st) {
        cJSON *c = add_layer(b, "conv2d", "conv0");
        num(c, "filters", (double)f->dims[3]);
        num(c, "kernel", (double)f->dims[0]);
        map(b, b->n - 1, "weight", f, MAP_FILTERS);
        map(b, b->n - 1, "bias", bias, MAP_VECTOR);
        leaky_of(b, b->n - 1);
        maxpool_same(b, 2);
    }
    for (int k = 1; k <= 5 && !b->st; k++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "conv%d", k);
        leaky_of(b, sep_conv(b, prefix, b->n - 1, 0, 1)); /* stride 1: pad 1 both sides */
        maxpool_same(b, k < 5 ? 2 : 1);
    }
    f = need(b, "conv8", "filters", 4);
    bias = need(b, "conv8", "bias", 1);
    if (!b->st) {
        cJSON *c = add_layer(b, "conv2d", "conv8");
        num(c, "filters", (double)f->dims[3]);
        num(c, "kernel", (double)f->dims[0]);
        map(b, b->n - 1, "weight", f, MAP_FILTERS);
        map(b, b->n - 1, "bias", bias, MAP_VECTOR);
    }
    return spec_text(b, root);
}

static int act_of(builder *b, const char *type, int x)
{
    cJSON *r = add_layer(b, type, NULL);
    set_input(b, r, x);
    return b->n - 1;
}

/* pointwiseConvLayer (src/ssdMobilenetv1/pointwiseConvLayer.ts): conv2d(x, filters, stride,
 * 'same') + batch_norm_offset, clipByValue(0, 6). Returns the relu6's index. */
static int ssd_pointwise(builder *b, const char *prefix, int input, int size, int stride)
{
    const ft_tfjs_tensor *f = need(b, prefix, "weights", 4), *off = need(b, prefix, "convolution_bn_offset", 1);
    if (b->st) return -1;
    return act_of(b, "relu6", conv_same(b, prefix, input, size, f, off, stride, 0));
}

/* depthwiseConvLayer (src/ssdMobilenetv1/mobileNetV1.ts): depthwiseConv2d 'same', batchNorm
 * (eps 0.001), clipByValue(0, 6). */
static int ssd_depthwise(builder *b, const char *prefix, int input, int size, int stride)
{
    const ft_tfjs_tensor *f = need(b, prefix, "depthwise_weights", 4);
    const ft_tfjs_tensor *g = need(b, prefix, "BatchNorm/gamma", 1), *be = need(b, prefix, "BatchNorm/beta", 1);
    const ft_tfjs_tensor *mu = need(b, prefix, "BatchNorm/moving_mean", 1);
    const ft_tfjs_tensor *var = need(b, prefix, "BatchNorm/moving_variance", 1);
    if (b->st) return -1;
    conv_same(b, prefix, input, size, f, NULL, stride, 1);
    cJSON *n = add_layer(b, "batchnorm", NULL);
    num(n, "eps", FACEAPI_SSD_BN_EPS);
    map(b, b->n - 1, "weight", g, MAP_VECTOR);
    map(b, b->n - 1, "bias", be, MAP_VECTOR);
    map(b, b->n - 1, "running_mean", mu, MAP_VECTOR);
    map(b, b->n - 1, "running_var", var, MAP_VECTOR);
    return act_of(b, "relu6", b->n - 1);
}

/* A plain convLayer (1x1 'same' + bias) reading `input`; returns its index. */
static int ssd_head_conv(builder *b, const char *prefix, int input)
{
    const ft_tfjs_tensor *f = need(b, prefix, "weights", 4), *bias = need(b, prefix, "biases", 1);
    if (b->st) return -1;
    if (f->dims[0] != 1 || f->dims[1] != 1) {
        fail(b, FT_EMISMATCH, "expected a 1x1 predictor in", prefix);
        return -1;
    }
    return conv_same(b, prefix, input, 0, f, bias, 1, 0);
}

/* SsdMobilenetv1 (src/ssdMobilenetv1): toBatchTensor(512, not centered), x / 127.5 - 1;
 * mobileNetV1: conv_0 3x3/2, then 13 (depthwise + pointwise) pairs, stride 2 at 2, 4, 6, 12
 * (512 -> 256 -> 128 -> 64 -> 32 -> 16), conv11 kept (32x32x512); predictionLayer: 8 more
 * pointwise layers (16 -> 8 -> 4 -> 2 -> 1) and six box predictors (1x1 box-encoding and class
 * convs) on [conv11, out, conv1, conv3, conv5, conv7]. One facetwin net holds all of it; the
 * 12 predictor convs are dead ends whose outputs ft_detector reads by layer index
 * (ft_net_layer_output), recorded in the metadata as "heads"; the priors (Output/extra_dim)
 * travel as the checkpoint tensor aux/priors. */
static char *ssd_spec(builder *b, const char *version)
{
    char desc[256];
    snprintf(desc, sizeof desc,
             "SsdMobilenetv1 of @vladmandic/face-api %s (MobileNet v1 backbone + 6 SSD box predictors; the "
             "predictor convs are read by layer index), imported by facetwin import --from face-api",
             version);
    const double mean[3] = {127.5, 127.5, 127.5};
    cJSON *root = spec_root(b, FACEAPI_SSD_ARCH, desc, FT_FACEAPI_SSD_INPUT, mean);
    const double half[3] = {0.5, 0.5, 0.5};
    cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    if (in) cJSON_ReplaceItemInObjectCaseSensitive(in, "std", cJSON_CreateDoubleArray(half, 3));
    char p[96];
    int size = FT_FACEAPI_SSD_INPUT;
    int x = ssd_pointwise(b, "MobilenetV1/Conv2d_0_pointwise", -1, size, 2), conv11 = -1;
    size = (size + 1) / 2;
    for (int i = 1; i <= 13 && !b->st; i++) {
        int stride = (i == 2 || i == 4 || i == 6 || i == 12) ? 2 : 1;
        snprintf(p, sizeof p, "MobilenetV1/Conv2d_%d_depthwise", i);
        x = ssd_depthwise(b, p, x, size, stride);
        size = (size + stride - 1) / stride;
        snprintf(p, sizeof p, "MobilenetV1/Conv2d_%d_pointwise", i);
        x = ssd_pointwise(b, p, x, size, 1);
        if (i == 11) conv11 = x;
    }
    int feats[6] = {conv11, x, -1, -1, -1, -1}, c = x;
    for (int i = 0; i <= 7 && !b->st; i++) {
        int stride = i % 2 ? 2 : 1;
        snprintf(p, sizeof p, "Prediction/Conv2d_%d_pointwise", i);
        c = ssd_pointwise(b, p, c, size, stride);
        size = (size + stride - 1) / stride;
        if (i % 2) feats[2 + i / 2] = c;
    }
    for (int k = 0; k < 6 && !b->st; k++) {
        snprintf(p, sizeof p, "Prediction/BoxPredictor_%d/BoxEncodingPredictor", k);
        b->heads[k][0] = ssd_head_conv(b, p, feats[k]);
        snprintf(p, sizeof p, "Prediction/BoxPredictor_%d/ClassPredictor", k);
        b->heads[k][1] = ssd_head_conv(b, p, feats[k]);
    }
    b->aux = ft_tfjs_find(b->w, "Output/extra_dim");
    if (!b->aux || b->aux->ndim != 3 || b->aux->dims[2] != 4) fail(b, FT_EMISMATCH, "the manifest lacks", "Output/extra_dim");
    return spec_text(b, root);
}

static ft_param *find_param(ft_net *net, int layer, const char *param)
{
    char name[64];
    snprintf(name, sizeof name, "%d.%s", layer, param);
    int np;
    const ft_param *p = ft_net_params(net, &np);
    for (int k = 0; k < np; k++)
        if (!strcmp(p[k].name, name)) return (ft_param *)&p[k];
    return NULL;
}

/* Copies each mapped tensor into its parameter, converting the layout. */
static ft_status fill_params(builder *b, ft_net *net)
{
    int np;
    ft_net_params(net, &np);
    if (np != b->n_maps)
        return ft_error_set(b->err, FT_EMISMATCH, "face-api %s: the spec has %d tensors, the mapping %d", b->part,
                            np, b->n_maps);
    for (int k = 0; k < b->n_maps; k++) {
        const param_map *m = &b->maps[k];
        ft_param *p = find_param(net, m->layer, m->param);
        const ft_tfjs_tensor *t = m->src;
        if (!p || p->count != t->count) return fail(b, FT_EMISMATCH, "size mismatch importing", t->name);
        if (m->kind == MAP_VECTOR) {
            memcpy(p->data, t->data, t->count * sizeof(float));
        } else if (m->kind == MAP_DEPTHWISE) { /* (KH,KW,C,M) -> (C*M,1,KH,KW) */
            int64_t KH = t->dims[0], KW = t->dims[1], C = t->dims[2], M = t->dims[3];
            if (p->dims[0] != C * M || p->dims[1] != 1 || p->dims[2] != KH || p->dims[3] != KW)
                return fail(b, FT_EMISMATCH, "depthwise shape mismatch importing", t->name);
            for (int64_t y = 0; y < KH; y++)
                for (int64_t x = 0; x < KW; x++)
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t m2 = 0; m2 < M; m2++)
                            p->data[((c * M + m2) * KH + y) * KW + x] = t->data[((y * KW + x) * C + c) * M + m2];
        } else if (m->kind == MAP_FILTERS) { /* (KH,KW,IC,OC) -> (OC,IC,KH,KW) */
            int64_t KH = t->dims[0], KW = t->dims[1], IC = t->dims[2], OC = t->dims[3];
            if (p->dims[0] != OC || p->dims[1] != IC || p->dims[2] != KH || p->dims[3] != KW)
                return fail(b, FT_EMISMATCH, "conv shape mismatch importing", t->name);
            for (int64_t y = 0; y < KH; y++)
                for (int64_t x = 0; x < KW; x++)
                    for (int64_t i = 0; i < IC; i++)
                        for (int64_t o = 0; o < OC; o++)
                            p->data[((o * IC + i) * KH + y) * KW + x] = t->data[((y * KW + x) * IC + i) * OC + o];
        } else { /* fc (IN,OUT) -> dense (OUT,IN) */
            int64_t IN = t->dims[0], OUT = t->dims[1];
            if (p->dims[0] != OUT || p->dims[1] != IN) return fail(b, FT_EMISMATCH, "fc shape mismatch importing", t->name);
            for (int64_t i = 0; i < IN; i++)
                for (int64_t o = 0; o < OUT; o++) p->data[o * IN + i] = t->data[i * OUT + o];
        }
    }
    /* every manifest tensor must have been used */
    for (int i = 0; i < b->w->n; i++) {
        int used = 0;
        for (int k = 0; k < b->n_maps && !used; k++) used = b->maps[k].src == &b->w->t[i];
        /* int32 graph constants of the SSD export: the reference never reads them either */
        used = used || b->w->t[i].is_int || b->aux == &b->w->t[i];
        /* the SSD export's preprocessing scalars: SsdMobilenetv1.forwardInput hard-codes x/127.5 - 1 */
        used = used || (b->aux && b->w->t[i].count == 1 && !strncmp(b->w->t[i].name, "Preprocessor/", 13));
        if (!used) return fail(b, FT_EMISMATCH, "the manifest holds a tensor the network does not use:", b->w->t[i].name);
    }
    return FT_OK;
}

/* The package version from <package>/package.json next to model/, or "unknown". */
static void package_version(const char *model_dir, char *out, size_t n)
{
    snprintf(out, n, "unknown");
    char path[4200];
    snprintf(path, sizeof path, "%s/../package.json", model_dir);
    uint8_t *buf;
    size_t len;
    if (ft_read_file(path, (size_t)1 << 20, &buf, &len, NULL)) return;
    cJSON *j = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "version");
    if (cJSON_IsString(v)) snprintf(out, n, "%.40s", v->valuestring);
    cJSON_Delete(j);
}

static int is_file(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

/* One importable network of the package. */
typedef struct {
    unsigned bit;
    const char *part;     /* --parts name */
    const char *manifest; /* in model/ */
    const char *network;  /* where its forward pass lives in src/ */
    const char *expects;
    char *(*spec)(builder *b, const char *version);
} part_desc;

static const part_desc k_parts[] = {
    {FT_IMPORT_ENCODER, "encoder", FT_FACEAPI_ENCODER_MANIFEST, "FaceRecognitionNet (src/faceRecognitionNet)",
     "a face crop (no detection or alignment in this checkpoint)", encoder_spec},
    {FT_IMPORT_LANDMARKS, "landmarks", FT_FACEAPI_LANDMARKS_MANIFEST,
     "FaceLandmark68Net (src/faceLandmarkNet, src/faceFeatureExtractor)",
     "a 112x112 face crop; the output is 68 (x, y) pairs relative to it", landmarks_spec},
    {FT_IMPORT_SSD, "ssd", FT_FACEAPI_SSD_MANIFEST, "SsdMobilenetv1 (src/ssdMobilenetv1)",
     "a photo padded to a square at the bottom/right and resized to 512x512 (ft_detector does it)", ssd_spec},
    {FT_IMPORT_TINY, "tiny", FT_FACEAPI_TINY_MANIFEST, "TinyFaceDetector (src/tinyFaceDetector, src/tinyYolov2)",
     "a photo padded to a square at the bottom/right and resized to 416x416 (ft_detector does it)", tiny_spec},
};

static ft_status build_meta(ft_net *net, const builder *b, const part_desc *pd, const char *version, char **out,
                            ft_error *err)
{
    char id[128];
    ft_model_id_compute(net, id, sizeof id);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "model_id", id);
    cJSON_AddStringToObject(m, "arch", ft_net_name(net));
    cJSON *src = cJSON_AddObjectToObject(m, "source");
    cJSON_AddStringToObject(src, "from", "face-api");
    cJSON_AddStringToObject(src, "package", "@vladmandic/face-api");
    cJSON_AddStringToObject(src, "version", version);
    cJSON_AddStringToObject(src, "license", "MIT");
    cJSON_AddStringToObject(src, "network", pd->network);
    cJSON_AddStringToObject(src, "weights", pd->manifest);
    cJSON_AddStringToObject(src, "parts", pd->part);
    cJSON_AddStringToObject(src, "expects", pd->expects);
    if (pd->bit == FT_IMPORT_SSD) { /* src/ssdMobilenetv1/SsdMobilenetv1.ts, SsdMobilenetv1Options.ts */
        cJSON *d = cJSON_AddObjectToObject(m, "detector");
        cJSON_AddStringToObject(d, "kind", "ssd");
        cJSON_AddNumberToObject(d, "input_size", FT_FACEAPI_SSD_INPUT);
        cJSON_AddNumberToObject(d, "score_threshold", FT_FACEAPI_SSD_SCORE);
        cJSON_AddNumberToObject(d, "iou_threshold", FT_FACEAPI_SSD_IOU);
        cJSON_AddNumberToObject(d, "max_results", FT_FACEAPI_SSD_MAX_RESULTS);
        cJSON *h = cJSON_AddArrayToObject(d, "heads");
        for (int k = 0; k < 6; k++) cJSON_AddItemToArray(h, cJSON_CreateIntArray(b->heads[k], 2));
        cJSON_AddStringToObject(d, "priors", FT_AUX_PREFIX "priors");
    }
    if (pd->bit == FT_IMPORT_TINY) { /* the decoding constants, as data (src/tinyFaceDetector/const.ts) */
        cJSON *d = cJSON_AddObjectToObject(m, "detector");
        cJSON_AddStringToObject(d, "kind", "tiny");
        cJSON_AddNumberToObject(d, "input_size", FT_FACEAPI_TINY_INPUT);
        cJSON_AddNumberToObject(d, "score_threshold", FT_FACEAPI_TINY_SCORE);
        cJSON_AddNumberToObject(d, "iou_threshold", FT_FACEAPI_TINY_IOU);
        static const double anchors[10] = {1.603231, 2.094468, 6.041143, 7.080126, 2.882459,
                                           3.518061, 4.266906, 5.178857, 9.041765, 10.66308};
        cJSON_AddItemToObject(d, "anchors", cJSON_CreateDoubleArray(anchors, 10));
    }
    if (pd->bit == FT_IMPORT_ENCODER) {
        cJSON *cal = cJSON_AddObjectToObject(m, "calibration");
        cJSON_AddStringToObject(cal, "rule", "fixed");
        cJSON_AddStringToObject(cal, "source", "the authors' recommendation");
        cJSON_AddNumberToObject(cal, "threshold", FT_FACEAPI_THRESHOLD);
        cJSON_AddStringToObject(m, "threshold_rule",
                                "fixed at 0.6, the Euclidean threshold face-api's (and dlib's) authors recommend; "
                                "not calibrated on any facetwin data; d < threshold means same");
    }
    *out = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return *out ? FT_OK : ft_error_set(err, FT_ENOMEM, "out of memory");
}

static ft_status import_part(const char *model_dir, const part_desc *pd, ft_ckpt *out, ft_error *err)
{
    char dir[4096], manifest[4200];
    snprintf(dir, sizeof dir, "%s", model_dir);
    snprintf(manifest, sizeof manifest, "%s/%s", dir, pd->manifest);
    if (!is_file(manifest)) { /* the package folder itself: use its model/ */
        snprintf(dir, sizeof dir, "%s/model", model_dir);
        snprintf(manifest, sizeof manifest, "%s/%s", dir, pd->manifest);
        if (!is_file(manifest))
            return ft_error_set(err, FT_EIO,
                                "%s: no %s here or in model/ (fetch the package: bash deploy/fetch-face-api.sh)",
                                model_dir, pd->manifest);
    }
    char version[48];
    package_version(dir, version, sizeof version);

    ft_tfjs_weights w;
    ft_status st = ft_tfjs_load(manifest, &w, err);
    if (st) return st;
    builder *b = calloc(1, sizeof *b);
    if (!b) {
        ft_tfjs_free(&w);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    b->w = &w;
    b->err = err;
    b->part = pd->part;
    char *spec = pd->spec(b, version);
    ft_net *net = NULL;
    char *meta = NULL;
    if (b->st) {
        st = b->st;
        goto done;
    }
    if ((st = ft_net_from_json(spec, &net, err))) {
        char what[64];
        snprintf(what, sizeof what, "face-api %s spec", pd->part);
        ft_error_prefix(err, what);
        goto done;
    }
    if ((st = fill_params(b, net))) goto done;
    if ((st = build_meta(net, b, pd, version, &meta, err))) goto done;
    if ((st = ft_net_to_checkpoint(net, out, err))) goto done;
    if (b->aux) { /* the SSD priors (1, N, 4) -> aux/priors (N, 4) */
        ft_ckpt_tensor *t = realloc(out->tensors, (size_t)(out->n_tensors + 1) * sizeof *t);
        if (!t) {
            st = ft_error_set(err, FT_ENOMEM, "out of memory");
            goto done;
        }
        out->tensors = t;
        t = &out->tensors[out->n_tensors];
        memset(t, 0, sizeof *t);
        snprintf(t->name, sizeof t->name, "%spriors", FT_AUX_PREFIX);
        t->ndim = 2;
        t->dims[0] = b->aux->dims[1];
        t->dims[1] = 4;
        t->count = b->aux->count;
        t->data = malloc(t->count * sizeof(float));
        if (!t->data) {
            st = ft_error_set(err, FT_ENOMEM, "out of memory");
            goto done;
        }
        memcpy(t->data, b->aux->data, t->count * sizeof(float));
        out->n_tensors++;
    }
    out->threshold = pd->bit == FT_IMPORT_ENCODER ? FT_FACEAPI_THRESHOLD : 0.0f;
    free(out->meta_json);
    out->meta_json = meta;
    meta = NULL;
done:
    free(meta);
    free(spec);
    ft_net_free(net);
    free(b);
    ft_tfjs_free(&w);
    return st;
}

ft_status ft_import_faceapi(const char *model_dir, unsigned parts, ft_ckpt *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    for (size_t k = 0; k < sizeof k_parts / sizeof k_parts[0]; k++)
        if (parts == k_parts[k].bit) return import_part(model_dir, &k_parts[k], out, err);
    if (!(parts & FT_IMPORT_ENCODER) || (parts & ~FT_IMPORT_ALL))
        return ft_error_set(err, FT_EUNSUPPORTED,
                            "face-api import: several parts need the encoder (it is the checkpoint's own net)");
    /* a combined checkpoint: the encoder, the others under aux/<part>/ (include/facetwin/pipeline.h) */
    ft_status st = import_part(model_dir, &k_parts[0], out, err);
    for (size_t k = 1; !st && k < sizeof k_parts / sizeof k_parts[0]; k++) {
        if (!(parts & k_parts[k].bit)) continue;
        ft_ckpt part;
        if ((st = import_part(model_dir, &k_parts[k], &part, err))) break;
        st = ft_ckpt_add_part(out, k_parts[k].part, &part, err);
        ft_ckpt_free(&part);
    }
    if (!st) { /* the combined checkpoint says what it holds and expects */
        cJSON *m = cJSON_Parse(out->meta_json);
        cJSON *src = cJSON_GetObjectItemCaseSensitive(m, "source");
        char list[96] = "encoder";
        for (size_t k = 1; k < sizeof k_parts / sizeof k_parts[0]; k++)
            if (parts & k_parts[k].bit) snprintf(list + strlen(list), sizeof list - strlen(list), ",%s", k_parts[k].part);
        if (src) {
            cJSON_ReplaceItemInObjectCaseSensitive(src, "parts", cJSON_CreateString(list));
            cJSON_ReplaceItemInObjectCaseSensitive(
                src, "expects",
                cJSON_CreateString("whole photos (facetwin detect / align: detector, landmarks, alignment, encoder) or "
                                   "face crops (embed / verify: the encoder alone)"));
        }
        char *txt = m ? cJSON_PrintUnformatted(m) : NULL;
        cJSON_Delete(m);
        if (txt) {
            free(out->meta_json);
            out->meta_json = txt;
        }
    }
    if (st) ft_ckpt_free(out);
    return st;
}
