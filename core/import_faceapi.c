/* import_faceapi.c — face-api's FaceRecognitionNet as a facetwin spec + checkpoint.
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
#include "tfjs_weights.h"

#define FACEAPI_INPUT 150
#define FACEAPI_MEAN_R 122.782
#define FACEAPI_MEAN_G 117.001
#define FACEAPI_MEAN_B 104.298
#define FACEAPI_PIXEL_DIV 255.0
#define FACEAPI_ARCH "face-api-recognition"
#define MAX_MAPS 256

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

typedef enum { MAP_FILTERS, MAP_VECTOR, MAP_FC } map_kind;

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
    ft_error *err;
    ft_status st;
} builder;

static ft_status fail(builder *b, ft_status code, const char *what, const char *name)
{
    if (!b->st) b->st = ft_error_set(b->err, code, "face-api encoder: %s '%.80s'", what, name);
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
        return ft_error_set(b->err, FT_EMISMATCH, "face-api encoder: the spec has %d tensors, the mapping %d", np,
                            b->n_maps);
    for (int k = 0; k < b->n_maps; k++) {
        const param_map *m = &b->maps[k];
        ft_param *p = find_param(net, m->layer, m->param);
        const ft_tfjs_tensor *t = m->src;
        if (!p || p->count != t->count) return fail(b, FT_EMISMATCH, "size mismatch importing", t->name);
        if (m->kind == MAP_VECTOR) {
            memcpy(p->data, t->data, t->count * sizeof(float));
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

static ft_status build_meta(ft_net *net, const char *version, char **out, ft_error *err)
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
    cJSON_AddStringToObject(src, "network", "FaceRecognitionNet (src/faceRecognitionNet)");
    cJSON_AddStringToObject(src, "weights", FT_FACEAPI_ENCODER_MANIFEST);
    cJSON_AddStringToObject(src, "parts", "encoder");
    cJSON_AddStringToObject(src, "expects", "a face crop (no detection or alignment in this checkpoint)");
    cJSON *cal = cJSON_AddObjectToObject(m, "calibration");
    cJSON_AddStringToObject(cal, "rule", "fixed");
    cJSON_AddStringToObject(cal, "source", "the authors' recommendation");
    cJSON_AddNumberToObject(cal, "threshold", FT_FACEAPI_THRESHOLD);
    cJSON_AddStringToObject(m, "threshold_rule",
                            "fixed at 0.6, the Euclidean threshold face-api's (and dlib's) authors recommend; not "
                            "calibrated on any facetwin data; d < threshold means same");
    *out = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return *out ? FT_OK : ft_error_set(err, FT_ENOMEM, "out of memory");
}

ft_status ft_import_faceapi(const char *model_dir, unsigned parts, ft_ckpt *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    if (parts != FT_IMPORT_ENCODER)
        return ft_error_set(err, FT_EUNSUPPORTED,
                            "face-api import: only the encoder can be imported so far (--parts encoder)");
    char dir[4096], manifest[4200];
    snprintf(dir, sizeof dir, "%s", model_dir);
    snprintf(manifest, sizeof manifest, "%s/%s", dir, FT_FACEAPI_ENCODER_MANIFEST);
    if (!is_file(manifest)) { /* the package folder itself: use its model/ */
        snprintf(dir, sizeof dir, "%s/model", model_dir);
        snprintf(manifest, sizeof manifest, "%s/%s", dir, FT_FACEAPI_ENCODER_MANIFEST);
        if (!is_file(manifest))
            return ft_error_set(err, FT_EIO,
                                "%s: no %s here or in model/ (fetch the package: bash deploy/fetch-face-api.sh)",
                                model_dir, FT_FACEAPI_ENCODER_MANIFEST);
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
    char *spec = encoder_spec(b, version);
    ft_net *net = NULL;
    char *meta = NULL;
    if (b->st) {
        st = b->st;
        goto done;
    }
    if ((st = ft_net_from_json(spec, &net, err))) {
        ft_error_prefix(err, "face-api encoder spec");
        goto done;
    }
    if ((st = fill_params(b, net))) goto done;
    if ((st = build_meta(net, version, &meta, err))) goto done;
    if ((st = ft_net_to_checkpoint(net, out, err))) goto done;
    out->threshold = FT_FACEAPI_THRESHOLD;
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
