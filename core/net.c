/* net.c — the encoder network: a JSON spec parsed into a list of layers.
 *
 * Design. A spec (see facetwin/net.h) is parsed once into an array of small
 * layer records: type, which layer feeds it, its per-image input and output
 * shapes (C,H,W; vectors are (N,1,1)), and offsets of its parameters inside
 * ONE contiguous weight array (and one gradient array), so optimisers,
 * zeroing and checkpointing are single loops. Each layer type has one row in
 * the ops table below (parse, shape, forward, backward): the layer arithmetic
 * itself lives in core/layers/ as plain functions, this file only strings them.
 *
 * Memory. Reserved for training, ft_net_reserve allocates one activation
 * buffer per layer for the largest batch and one gradient buffer per layer:
 * backward needs every activation. Two aliasing rules keep that small: flatten
 * never copies (it shares its input's buffers) and a relu whose input feeds
 * nothing else runs in place. The conv layers share one workspace sized for
 * the largest of them.
 *
 * Reserved for inference only, activations share one arena instead
 * (plan_inference): a layer's output is needed from the layer that writes it
 * to its last consumer, so outputs never alive at the same time may take the
 * same bytes. An element-wise layer (relu, relu6, leaky, scale, batchnorm,
 * add) whose input dies with it writes over that input. Outputs nobody
 * consumes — the last layer and the SSD detector's prediction convs read with
 * ft_net_layer_output — live to the end of the forward. Offsets are given
 * largest output first, each at the lowest offset clear of the outputs alive
 * at the same time (greedy by size, as TFLite's arena planner); the
 * forward-only conv workspace follows. On MobileNet at 512x512 that is 28 MB
 * instead of ~280 MB: one training buffer per layer was most of the
 * detector's resident memory. ft_net_reserve_in lays the same plan in the
 * caller's memory, so the nets of one photo pipeline, which never run at the
 * same time, share one arena (core/pipeline.c).
 * Gradients (net->g) are calloc'd and stay untouched (not resident) until a
 * training step writes them.
 *
 * Backward zeroes the activation-gradient buffers, seeds the last one with
 * dL/dembedding, then walks the layers in reverse; each layer accumulates into
 * the gradient of the layer(s) it reads (two for "add"), so any DAG written
 * with "input"/"from" is handled without special cases.
 */
#include "facetwin/net.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/calibration.h"
#include "facetwin/layers.h"
#include "layers/conv2d.h"
#include "pool.h"
#include "rng.h"

#define FT_NET_MAX_LAYERS 512
#define FT_NET_MAX_DIM 16384      /* input width/height cap */
#define FT_NET_MAX_UNITS (1 << 20)
#define FT_NET_MAX_KERNEL 64
#define FT_EMBED_BATCH 128        /* inference batch of ft_net_embed */
#define FT_PARAM_NAME_MAX 32
#define FT_L2NORM_EPS_DEFAULT 1e-12f
#define FT_BN_MOMENTUM_DEFAULT 0.1f
#define FT_BN_EPS_DEFAULT 1e-5f
#define FT_LEAKY_ALPHA_DEFAULT 0.1f /* darknet's, and face-api's tiny detector's */

typedef enum {
    L_CONV, L_DENSE, L_RELU, L_FLATTEN, L_GAP, L_L2NORM, L_MAXPOOL, L_AVGPOOL,
    L_DROPOUT, L_BATCHNORM, L_SCALE, L_ADD, L_LEAKY, L_PAD, L_RELU6, L_NTYPES
} ltype;

static const char *const k_type_names[L_NTYPES] = {
    "conv2d", "dense", "relu", "flatten", "gap", "l2norm", "maxpool", "avgpool",
    "dropout", "batchnorm", "scale", "add", "leaky", "pad", "relu6"};

typedef struct {
    int c, h, w;
} shape3;

static size_t shape_size(shape3 s) { return (size_t)s.c * (size_t)s.h * (size_t)s.w; }

typedef struct {
    ltype type;
    int input, from;           /* producer indices; -1 = network input */
    shape3 ish, osh;           /* per-image input and output shapes */
    int filters, kernel, stride, pad, groups, has_bias, units;
    int pad_extra;             /* maxpool "same": one more padding row/column at the end */
    int pads[4];               /* pad: top, left, bottom, right */
    float alpha;               /* leaky: negative slope */
    int zero_pad;              /* add: operands of different shapes, zero-extended (face-api) */
    float rate, momentum, eps;
    /* parameters: offsets into net->w / net->g */
    size_t w_off, w_n, b_off, b_n;
    float *running_mean, *running_var; /* batchnorm buffers (owned) */
    float *bn_mean, *bn_rstd;          /* saved by a training forward */
    float *mask;                       /* dropout mask */
    float *out, *dout;                 /* activation and its gradient */
    int alias;                         /* 1: out/dout are the input's (flatten, in-place relu) */
    int consumers;
} layer;

struct ft_net {
    char *name;
    char *spec_json;
    ft_input_spec input;
    int init_he;
    int n;
    layer *L;
    float *w, *g;
    size_t n_w;
    ft_param *params;
    int n_params;
    char (*param_names)[FT_PARAM_NAME_MAX];
    int reserved_batch, reserved_training;
    float *arena;    /* inference plan: every activation and the conv workspace (NULL when training) */
    int arena_owned; /* 0: the caller's (ft_net_reserve_in) */
    float *ws;
    size_t ws_n;
    const float *x; /* input of the last forward (not owned) */
    int last_B;
    uint64_t dropout_rng;
};

static void init_weights(ft_net *net, uint64_t seed);

/* ------------------------------------------------------------------ spec ---- */

typedef struct {
    const cJSON *obj;
    int index;
    const char *type;
    ft_error *err;
} field_ctx;

static ft_status field_err(field_ctx *f, const char *field, const char *what)
{
    if (f->index < 0)
        return ft_error_set(f->err, FT_EINVAL, "spec: %s: '%s' %s", f->type, field, what);
    return ft_error_set(f->err, FT_EINVAL, "layer %d (%s): '%s' %s", f->index, f->type, field,
                        what);
}

/* Reads an integer field in [lo, hi]; absent -> def (or error if def < lo). */
static ft_status get_int(field_ctx *f, const char *field, int def, int lo, int hi, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->obj, field);
    if (!v) {
        if (def < lo) return field_err(f, field, "is required");
        *out = def;
        return FT_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return field_err(f, field, "must be an integer");
    if (v->valuedouble < lo || v->valuedouble > hi) {
        char buf[96];
        snprintf(buf, sizeof buf, "must be between %d and %d (got %g)", lo, hi, v->valuedouble);
        return field_err(f, field, buf);
    }
    *out = (int)v->valuedouble;
    return FT_OK;
}

/* "padding": an integer (every side) or "same" (TensorFlow's rule: output
 * ceil(in/stride), total padding max((out-1)*stride + k - in, 0), the odd cell
 * at the bottom/right -> pad + pad_extra). "same" must pad both axes alike. */
static ft_status get_padding(field_ctx *f, shape3 in, int kernel, int stride, int max_pad, int *pad,
                             int *pad_extra)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->obj, "padding");
    *pad_extra = 0;
    if (!cJSON_IsString(v)) return get_int(f, "padding", 0, 0, max_pad, pad);
    if (strcmp(v->valuestring, "same"))
        return field_err(f, "padding", "must be an integer or \"same\"");
    int total[2], dim[2] = {in.h, in.w};
    for (int a = 0; a < 2; a++) {
        int out = (dim[a] + stride - 1) / stride;
        total[a] = (out - 1) * stride + kernel - dim[a];
        if (total[a] < 0) total[a] = 0;
    }
    if (total[0] != total[1])
        return field_err(f, "padding", "\"same\" needs the same padding on both axes (square input)");
    *pad = total[0] / 2;
    *pad_extra = total[0] - 2 * *pad;
    if (*pad > max_pad) return field_err(f, "padding", "\"same\" pads more than the kernel allows");
    return FT_OK;
}

static ft_status get_float(field_ctx *f, const char *field, float def, float lo, float hi,
                           int lo_open, float *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->obj, field);
    if (!v) {
        if (isnan(def)) return field_err(f, field, "is required");
        *out = def;
        return FT_OK;
    }
    if (!cJSON_IsNumber(v)) return field_err(f, field, "must be a number");
    double x = v->valuedouble;
    if (!(x <= hi) || (lo_open ? !(x > lo) : !(x >= lo))) {
        char buf[96];
        snprintf(buf, sizeof buf, "must be in %s%g, %g) (got %g)", lo_open ? "(" : "[", lo, hi, x);
        return field_err(f, field, buf);
    }
    *out = (float)x;
    return FT_OK;
}

static ft_status get_bool(field_ctx *f, const char *field, int def, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->obj, field);
    if (!v) {
        *out = def;
        return FT_OK;
    }
    if (!cJSON_IsBool(v)) return field_err(f, field, "must be true or false");
    *out = cJSON_IsTrue(v);
    return FT_OK;
}

/* Every field a layer type accepts; anything else is a typo worth reporting. */
static const char *const k_allowed[L_NTYPES][8] = {
    [L_CONV] = {"filters", "kernel", "stride", "padding", "groups", "bias", NULL},
    [L_DENSE] = {"units", "bias", NULL},
    [L_RELU] = {NULL},
    [L_FLATTEN] = {NULL},
    [L_GAP] = {NULL},
    [L_L2NORM] = {"eps", NULL},
    [L_MAXPOOL] = {"kernel", "stride", "padding", NULL},
    [L_AVGPOOL] = {"kernel", "stride", "padding", NULL},
    [L_DROPOUT] = {"rate", NULL},
    [L_BATCHNORM] = {"momentum", "eps", NULL},
    [L_SCALE] = {"bias", NULL},
    [L_ADD] = {"from", "zero_pad", NULL},
    [L_LEAKY] = {"alpha", NULL},
    [L_RELU6] = {NULL},
    [L_PAD] = {"top", "left", "bottom", "right", NULL},
};

static ft_status check_fields(field_ctx *f, ltype t)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, f->obj)
    {
        const char *k = it->string;
        if (!strcmp(k, "type") || !strcmp(k, "input") || !strcmp(k, "name")) continue;
        int ok = 0;
        for (int i = 0; k_allowed[t][i]; i++)
            if (!strcmp(k, k_allowed[t][i])) ok = 1;
        if (!ok) return field_err(f, k, "is not a field of this layer type");
    }
    return FT_OK;
}

static ft_status parse_input(const cJSON *root, ft_input_spec *in, ft_error *err)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "input");
    if (!cJSON_IsObject(o)) return ft_error_set(err, FT_EINVAL, "spec: 'input' object is required");
    field_ctx f = {o, -1, "input", err};
    ft_status st;
    int w, h, c;
    if ((st = get_int(&f, "width", -1, 1, FT_NET_MAX_DIM, &w)) ||
        (st = get_int(&f, "height", -1, 1, FT_NET_MAX_DIM, &h)) ||
        (st = get_int(&f, "channels", -1, 1, 3, &c)))
        return st;
    if (c == 2) return ft_error_set(err, FT_EINVAL, "spec: input 'channels' must be 1 or 3");
    in->width = w;
    in->height = h;
    in->channels = c;
    const char *keys[2] = {"mean", "std"};
    for (int k = 0; k < 2; k++) {
        float *dst = k ? in->std : in->mean;
        float def = k ? 1.0f : 0.0f;
        for (int i = 0; i < 3; i++) dst[i] = def;
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, keys[k]);
        if (!a) continue;
        int n = cJSON_GetArraySize(a);
        if (!cJSON_IsArray(a) || (n != 1 && n != c))
            return ft_error_set(err, FT_EINVAL, "spec: input '%s' must be an array of 1 or %d numbers",
                                keys[k], c);
        for (int i = 0; i < c; i++) {
            const cJSON *v = cJSON_GetArrayItem(a, n == 1 ? 0 : i);
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || (k == 1 && !(v->valuedouble > 0)))
                return ft_error_set(err, FT_EINVAL, "spec: input '%s'[%d] must be a %s number",
                                    keys[k], i, k ? "positive" : "finite");
            dst[i] = (float)v->valuedouble;
        }
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, o)
    {
        if (strcmp(it->string, "width") && strcmp(it->string, "height") &&
            strcmp(it->string, "channels") && strcmp(it->string, "mean") && strcmp(it->string, "std"))
            return ft_error_set(err, FT_EINVAL, "spec: input: '%s' is not a field of input", it->string);
    }
    return FT_OK;
}

static ltype type_from_name(const char *s)
{
    for (int t = 0; t < L_NTYPES; t++)
        if (!strcmp(s, k_type_names[t])) return (ltype)t;
    return L_NTYPES;
}

static shape3 producer_shape(const ft_net *net, int idx)
{
    if (idx < 0) return (shape3){net->input.channels, net->input.height, net->input.width};
    return net->L[idx].osh;
}

/* Parses layer i's fields and infers its output shape; counts its parameters. */
static ft_status parse_layer(ft_net *net, int i, const cJSON *o, ft_error *err)
{
    layer *l = &net->L[i];
    memset(l, 0, sizeof *l);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (!cJSON_IsObject(o)) return ft_error_set(err, FT_EINVAL, "layer %d: must be an object", i);
    if (!cJSON_IsString(t)) return ft_error_set(err, FT_EINVAL, "layer %d: 'type' (string) is required", i);
    l->type = type_from_name(t->valuestring);
    if (l->type == L_NTYPES)
        return ft_error_set(err, FT_EINVAL, "layer %d: unknown type '%.64s'", i, t->valuestring);
    field_ctx f = {o, i, k_type_names[l->type], err};
    ft_status st;
    if ((st = check_fields(&f, l->type))) return st;
    if ((st = get_int(&f, "input", i - 1, -1, i - 1, &l->input))) return st;
    l->from = -2;
    shape3 in = producer_shape(net, l->input);
    l->ish = in;
    shape3 out = in;
    switch (l->type) {
    case L_CONV: {
        if ((st = get_int(&f, "filters", -1, 1, FT_NET_MAX_UNITS, &l->filters)) ||
            (st = get_int(&f, "kernel", -1, 1, FT_NET_MAX_KERNEL, &l->kernel)) ||
            (st = get_int(&f, "stride", 1, 1, FT_NET_MAX_KERNEL, &l->stride)) ||
            (st = get_int(&f, "padding", 0, 0, FT_NET_MAX_KERNEL, &l->pad)) ||
            (st = get_int(&f, "groups", 1, 1, FT_NET_MAX_UNITS, &l->groups)) ||
            (st = get_bool(&f, "bias", 1, &l->has_bias)))
            return st;
        if (in.c % l->groups || l->filters % l->groups)
            return field_err(&f, "groups", "must divide the input channels and the filters");
        int oh = (in.h + 2 * l->pad - l->kernel), ow = (in.w + 2 * l->pad - l->kernel);
        if (oh < 0 || ow < 0)
            return field_err(&f, "kernel", "is larger than the padded input");
        out = (shape3){l->filters, oh / l->stride + 1, ow / l->stride + 1};
        l->w_n = (size_t)l->filters * (size_t)(in.c / l->groups) * (size_t)l->kernel * (size_t)l->kernel;
        l->b_n = l->has_bias ? (size_t)l->filters : 0;
        break;
    }
    case L_DENSE:
        if ((st = get_int(&f, "units", -1, 1, FT_NET_MAX_UNITS, &l->units)) ||
            (st = get_bool(&f, "bias", 1, &l->has_bias)))
            return st;
        out = (shape3){l->units, 1, 1};
        l->w_n = (size_t)l->units * shape_size(in);
        l->b_n = l->has_bias ? (size_t)l->units : 0;
        break;
    case L_RELU6:
    case L_RELU:
    case L_DROPOUT:
        if (l->type == L_DROPOUT && (st = get_float(&f, "rate", NAN, 0.0f, 0.99f, 0, &l->rate)))
            return st;
        break;
    case L_LEAKY:
        if ((st = get_float(&f, "alpha", FT_LEAKY_ALPHA_DEFAULT, 0.0f, 1.0f, 1, &l->alpha))) return st;
        break;
    case L_PAD: {
        static const char *const side[4] = {"top", "left", "bottom", "right"};
        for (int k = 0; k < 4; k++)
            if ((st = get_int(&f, side[k], 0, 0, FT_NET_MAX_KERNEL, &l->pads[k]))) return st;
        out = (shape3){in.c, in.h + l->pads[0] + l->pads[2], in.w + l->pads[1] + l->pads[3]};
        break;
    }
    case L_FLATTEN: out = (shape3){(int)shape_size(in), 1, 1}; break;
    case L_GAP: out = (shape3){in.c, 1, 1}; break;
    case L_L2NORM:
        if ((st = get_float(&f, "eps", FT_L2NORM_EPS_DEFAULT, 0.0f, 1.0f, 1, &l->eps))) return st;
        out = (shape3){(int)shape_size(in), 1, 1};
        break;
    case L_MAXPOOL:
    case L_AVGPOOL: {
        if ((st = get_int(&f, "kernel", -1, 1, FT_NET_MAX_KERNEL, &l->kernel)) ||
            (st = get_int(&f, "stride", l->kernel, 1, FT_NET_MAX_KERNEL, &l->stride)) ||
            (st = get_padding(&f, in, l->kernel, l->stride, l->kernel / 2, &l->pad, &l->pad_extra)))
            return st;
        if (l->type == L_AVGPOOL && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "padding")))
            return field_err(&f, "padding", "\"same\" is maxpool's (TensorFlow's average excludes padding cells)");
        int oh = in.h + 2 * l->pad + l->pad_extra - l->kernel, ow = in.w + 2 * l->pad + l->pad_extra - l->kernel;
        if (oh < 0 || ow < 0) return field_err(&f, "kernel", "is larger than the padded input");
        out = (shape3){in.c, oh / l->stride + 1, ow / l->stride + 1};
        break;
    }
    case L_BATCHNORM:
        if ((st = get_float(&f, "momentum", FT_BN_MOMENTUM_DEFAULT, 0.0f, 1.0f, 0, &l->momentum)) ||
            (st = get_float(&f, "eps", FT_BN_EPS_DEFAULT, 0.0f, 1.0f, 1, &l->eps)))
            return st;
        l->w_n = l->b_n = (size_t)in.c;
        break;
    case L_SCALE:
        if ((st = get_bool(&f, "bias", 1, &l->has_bias))) return st;
        l->w_n = (size_t)in.c;
        l->b_n = l->has_bias ? (size_t)in.c : 0;
        break;
    case L_ADD: {
        if ((st = get_int(&f, "from", -2, -1, i - 1, &l->from)) ||
            (st = get_bool(&f, "zero_pad", 0, &l->zero_pad)))
            return st;
        shape3 o2 = producer_shape(net, l->from);
        if (l->zero_pad) { /* each operand zero-extended at the end of every axis */
            out = (shape3){in.c > o2.c ? in.c : o2.c, in.h > o2.h ? in.h : o2.h, in.w > o2.w ? in.w : o2.w};
            break;
        }
        if (o2.c != in.c || o2.h != in.h || o2.w != in.w) {
            char buf[160];
            char src[32];
            if (l->from < 0) snprintf(src, sizeof src, "the network input");
            else snprintf(src, sizeof src, "layer %d's output", l->from);
            snprintf(buf, sizeof buf,
                     "names %s (%d,%d,%d), which does not match this layer's input (%d,%d,%d) "
                     "(\"zero_pad\": true adds them zero-extended)",
                     src, o2.c, o2.h, o2.w, in.c, in.h, in.w);
            return field_err(&f, "from", buf);
        }
        break;
    }
    case L_NTYPES: break;
    }
    if (shape_size(out) == 0 || shape_size(out) > (size_t)FT_NET_MAX_UNITS * 64)
        return ft_error_set(err, FT_EINVAL, "layer %d (%s): output shape (%d,%d,%d) is out of range", i,
                            k_type_names[l->type], out.c, out.h, out.w);
    l->osh = out;
    return FT_OK;
}

static void add_param(ft_net *net, int i, const char *suffix, float *data, float *grad, size_t count,
                      int ndim, const int64_t *dims, int decay)
{
    int k = net->n_params++;
    snprintf(net->param_names[k], FT_PARAM_NAME_MAX, "%d.%s", i, suffix);
    ft_param *p = &net->params[k];
    p->name = net->param_names[k];
    p->data = data;
    p->grad = grad;
    p->count = count;
    p->ndim = ndim;
    for (int d = 0; d < 4; d++) p->dims[d] = d < ndim ? dims[d] : 1;
    p->decay = decay;
}

static ft_status build_params(ft_net *net, ft_error *err)
{
    size_t total = 0;
    int np = 0;
    for (int i = 0; i < net->n; i++) {
        layer *l = &net->L[i];
        l->w_off = total;
        total += l->w_n;
        l->b_off = total;
        total += l->b_n;
        np += (l->w_n > 0) + (l->b_n > 0) + (l->type == L_BATCHNORM ? 2 : 0);
    }
    net->n_w = total;
    net->w = calloc(total ? total : 1, sizeof(float));
    net->g = calloc(total ? total : 1, sizeof(float));
    net->params = calloc((size_t)np + 1, sizeof *net->params);
    net->param_names = calloc((size_t)np + 1, sizeof *net->param_names);
    if (!net->w || !net->g || !net->params || !net->param_names)
        return ft_error_set(err, FT_ENOMEM, "out of memory for %zu parameters", total);
    /* trainable tensors first, then buffers (running statistics) */
    for (int i = 0; i < net->n; i++) {
        layer *l = &net->L[i];
        float *w = net->w + l->w_off, *g = net->g + l->w_off;
        float *b = net->w + l->b_off, *gb = net->g + l->b_off;
        switch (l->type) {
        case L_CONV: {
            int64_t d[4] = {l->filters, l->ish.c / l->groups, l->kernel, l->kernel};
            add_param(net, i, "weight", w, g, l->w_n, 4, d, 1);
            if (l->b_n) add_param(net, i, "bias", b, gb, l->b_n, 1, d, 0);
            break;
        }
        case L_DENSE: {
            int64_t d[2] = {l->units, (int64_t)shape_size(l->ish)};
            add_param(net, i, "weight", w, g, l->w_n, 2, d, 1);
            if (l->b_n) add_param(net, i, "bias", b, gb, l->b_n, 1, d, 0);
            break;
        }
        case L_BATCHNORM:
        case L_SCALE: {
            int64_t d[1] = {l->ish.c};
            add_param(net, i, "weight", w, g, l->w_n, 1, d, 0);
            if (l->b_n) add_param(net, i, "bias", b, gb, l->b_n, 1, d, 0);
            break;
        }
        default: break;
        }
    }
    for (int i = 0; i < net->n; i++) {
        layer *l = &net->L[i];
        if (l->type != L_BATCHNORM) continue;
        l->running_mean = calloc((size_t)l->ish.c, sizeof(float));
        l->running_var = calloc((size_t)l->ish.c, sizeof(float));
        l->bn_mean = calloc((size_t)l->ish.c, sizeof(float));
        l->bn_rstd = calloc((size_t)l->ish.c, sizeof(float));
        if (!l->running_mean || !l->running_var || !l->bn_mean || !l->bn_rstd)
            return ft_error_set(err, FT_ENOMEM, "out of memory");
        int64_t d[1] = {l->ish.c};
        add_param(net, i, "running_mean", l->running_mean, NULL, (size_t)l->ish.c, 1, d, 0);
        add_param(net, i, "running_var", l->running_var, NULL, (size_t)l->ish.c, 1, d, 0);
    }
    return FT_OK;
}

ft_status ft_net_from_json(const char *spec_json, ft_net **out, ft_error *err)
{
    *out = NULL;
    cJSON *root = cJSON_Parse(spec_json);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        if (!at || !*at) return ft_error_set(err, FT_EINVAL, "spec: malformed JSON (ends too early)");
        return ft_error_set(err, FT_EINVAL, "spec: malformed JSON near '%.20s'", at);
    }
    ft_status st = FT_OK;
    ft_net *net = calloc(1, sizeof *net);
    if (!net) {
        cJSON_Delete(root);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    if (!cJSON_IsObject(root)) {
        st = ft_error_set(err, FT_EINVAL, "spec: must be a JSON object");
        goto fail;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    net->name = strdup(cJSON_IsString(name) ? name->valuestring : "custom");
    const cJSON *init = cJSON_GetObjectItemCaseSensitive(root, "init");
    if (init) {
        if (cJSON_IsString(init) && !strcmp(init->valuestring, "he_normal")) net->init_he = 1;
        else if (!cJSON_IsString(init) || strcmp(init->valuestring, "glorot_uniform")) {
            st = ft_error_set(err, FT_EINVAL, "spec: 'init' must be \"glorot_uniform\" or \"he_normal\"");
            goto fail;
        }
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        if (strcmp(it->string, "name") && strcmp(it->string, "input") && strcmp(it->string, "init") &&
            strcmp(it->string, "layers") && strcmp(it->string, "description")) {
            st = ft_error_set(err, FT_EINVAL, "spec: '%s' is not a top-level field", it->string);
            goto fail;
        }
    }
    if ((st = parse_input(root, &net->input, err))) goto fail;
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    int n = cJSON_GetArraySize(layers);
    if (!cJSON_IsArray(layers) || n < 1 || n > FT_NET_MAX_LAYERS) {
        st = ft_error_set(err, FT_EINVAL, "spec: 'layers' must be an array of 1 to %d layers",
                          FT_NET_MAX_LAYERS);
        goto fail;
    }
    net->L = calloc((size_t)n, sizeof *net->L);
    if (!net->L) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto fail;
    }
    net->n = n;
    for (int i = 0; i < n; i++)
        if ((st = parse_layer(net, i, cJSON_GetArrayItem(layers, i), err))) goto fail;
    for (int i = 0; i < n; i++) {
        if (net->L[i].input >= 0) net->L[net->L[i].input].consumers++;
        if (net->L[i].type == L_ADD && net->L[i].from >= 0) net->L[net->L[i].from].consumers++;
    }
    /* aliasing: flatten always, relu in place when its producer feeds nothing else */
    for (int i = 0; i < n; i++) {
        layer *l = &net->L[i];
        if (l->type == L_FLATTEN && l->input >= 0) l->alias = 1;
        if (l->type == L_RELU && l->input >= 0 && net->L[l->input].consumers == 1 &&
            !net->L[l->input].alias)
            l->alias = 1;
    }
    if ((st = build_params(net, err))) goto fail;
    net->spec_json = cJSON_PrintUnformatted(root);
    if (!net->spec_json || !net->name) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto fail;
    }
    cJSON_Delete(root);
    init_weights(net, 0); /* gradients: calloc'd zeros */
    *out = net;
    return FT_OK;
fail:
    cJSON_Delete(root);
    ft_net_free(net);
    return st;
}

static void free_buffers(ft_net *net)
{
    for (int i = 0; i < net->n; i++) {
        layer *l = &net->L[i];
        if (!l->alias) {
            if (!net->arena) free(l->out);
            free(l->dout);
        }
        free(l->mask);
        l->out = l->dout = l->mask = NULL;
    }
    if (net->arena) { /* the inference plan: activations and workspace all in the arena */
        if (net->arena_owned) free(net->arena);
        net->ws = NULL;
    }
    net->arena = NULL;
    net->arena_owned = 0;
    free(net->ws);
    net->ws = NULL;
    net->ws_n = 0;
    net->reserved_batch = 0;
    net->reserved_training = 0;
}

void ft_net_free(ft_net *net)
{
    if (!net) return;
    if (net->L) {
        free_buffers(net);
        for (int i = 0; i < net->n; i++) {
            free(net->L[i].running_mean);
            free(net->L[i].running_var);
            free(net->L[i].bn_mean);
            free(net->L[i].bn_rstd);
        }
    }
    free(net->L);
    free(net->w);
    free(net->g);
    free(net->params);
    free(net->param_names);
    free(net->name);
    free(net->spec_json);
    free(net);
}

/* ft_net_init without zeroing the gradients: a new net's are calloc'd zeros, and writing them
 * would make 4 bytes per parameter resident in every inference-only process. */
static void init_weights(ft_net *net, uint64_t seed)
{
    ft_rng r = ft_rng_derive(seed, 0x1417);
    for (int i = 0; i < net->n; i++) {
        layer *l = &net->L[i];
        float *w = net->w + l->w_off, *b = net->w + l->b_off;
        double fan_in = 0, fan_out = 0;
        if (l->type == L_CONV) {
            double k2 = (double)l->kernel * l->kernel;
            fan_in = k2 * (l->ish.c / l->groups);
            fan_out = k2 * l->filters / l->groups;
        } else if (l->type == L_DENSE) {
            fan_in = (double)shape_size(l->ish);
            fan_out = l->units;
        }
        if (fan_in > 0) {
            if (net->init_he) {
                float sd = (float)sqrt(2.0 / fan_in);
                for (size_t k = 0; k < l->w_n; k++) w[k] = sd * ft_rng_normal(&r);
            } else {
                float lim = (float)sqrt(6.0 / (fan_in + fan_out));
                for (size_t k = 0; k < l->w_n; k++) w[k] = lim * (2.0f * ft_rng_uniform(&r) - 1.0f);
            }
            memset(b, 0, l->b_n * sizeof(float));
        } else if (l->type == L_BATCHNORM || l->type == L_SCALE) {
            for (size_t k = 0; k < l->w_n; k++) w[k] = 1.0f;
            memset(b, 0, l->b_n * sizeof(float));
        }
        if (l->type == L_BATCHNORM) {
            for (int c = 0; c < l->ish.c; c++) {
                l->running_mean[c] = 0.0f;
                l->running_var[c] = 1.0f;
            }
        }
    }
    net->dropout_rng = ft_rng_derive(seed, 0xD0).s;
}

void ft_net_init(ft_net *net, uint64_t seed)
{
    init_weights(net, seed);
    memset(net->g, 0, net->n_w * sizeof(float));
}

const char *ft_net_name(const ft_net *net) { return net->name; }
const char *ft_net_spec_json(const ft_net *net) { return net->spec_json; }
const ft_input_spec *ft_net_input(const ft_net *net) { return &net->input; }
int ft_net_input_size(const ft_net *net)
{
    return net->input.channels * net->input.height * net->input.width;
}
int ft_net_embed_dim(const ft_net *net) { return (int)shape_size(net->L[net->n - 1].osh); }
size_t ft_net_param_count(const ft_net *net) { return net->n_w; }
int ft_net_n_layers(const ft_net *net) { return net->n; }
float *ft_net_weights(ft_net *net) { return net->w; }
float *ft_net_grads(ft_net *net) { return net->g; }
void ft_net_zero_grad(ft_net *net) { memset(net->g, 0, net->n_w * sizeof(float)); }
void ft_net_seed_dropout(ft_net *net, uint64_t seed) { net->dropout_rng = ft_rng_derive(seed, 0xD0).s; }

const float *ft_net_layer_output(const ft_net *net, int i, int *c, int *h, int *w)
{
    if (i < 0 || i >= net->n) return NULL;
    const layer *l = &net->L[i];
    *c = l->osh.c;
    *h = l->osh.h;
    *w = l->osh.w;
    return l->out;
}

const ft_param *ft_net_params(const ft_net *net, int *n)
{
    *n = net->n_params;
    return net->params;
}

void ft_net_describe_layer(const ft_net *net, int i, char *buf, size_t n)
{
    const layer *l = &net->L[i];
    char extra[96] = "";
    switch (l->type) {
    case L_CONV:
        snprintf(extra, sizeof extra, " %dx%d/%d pad %d groups %d", l->kernel, l->kernel, l->stride, l->pad,
                 l->groups);
        break;
    case L_MAXPOOL:
    case L_AVGPOOL:
        snprintf(extra, sizeof extra, " %dx%d/%d%s", l->kernel, l->kernel, l->stride, l->pad_extra ? " same" : "");
        break;
    case L_DROPOUT: snprintf(extra, sizeof extra, " rate %g", l->rate); break;
    case L_LEAKY: snprintf(extra, sizeof extra, " alpha %g", l->alpha); break;
    case L_PAD:
        snprintf(extra, sizeof extra, " t%d l%d b%d r%d", l->pads[0], l->pads[1], l->pads[2], l->pads[3]);
        break;
    case L_ADD: snprintf(extra, sizeof extra, " + layer %d%s", l->from, l->zero_pad ? " zero-padded" : ""); break;
    default: break;
    }
    snprintf(buf, n, "%3d %-9s%s -> (%d,%d,%d) params %zu", i, k_type_names[l->type], extra, l->osh.c,
             l->osh.h, l->osh.w, l->w_n + l->b_n);
}

double ft_net_flops(const ft_net *net)
{
    double f = 0;
    for (int i = 0; i < net->n; i++) {
        const layer *l = &net->L[i];
        if (l->type == L_CONV || l->type == L_DENSE)
            f += 2.0 * (double)l->w_n * (l->type == L_CONV ? (double)l->osh.h * l->osh.w : 1.0);
    }
    return f;
}

/* -------------------------------------------------------------- buffers ---- */

static ft_conv2d_shape conv_shape(const layer *l, int B)
{
    return (ft_conv2d_shape){B, l->ish.c, l->ish.h, l->ish.w, l->filters, l->kernel, l->kernel,
                             l->stride, l->pad, l->groups};
}

static ft_pool_shape pool_shape(const layer *l, int B)
{
    return (ft_pool_shape){B, l->ish.c, l->ish.h, l->ish.w, l->kernel, l->stride, l->pad, l->pad_extra};
}

static ft_pad_shape pad_shape(const layer *l, int B)
{
    return (ft_pad_shape){B, l->ish.c, l->ish.h, l->ish.w, l->pads[0], l->pads[1], l->pads[2], l->pads[3]};
}

/* "add" with zero_pad: a = this layer's input, b = layer `from`'s output. */
static ft_add_pad_shape add_pad_shape(const ft_net *net, const layer *l, int B)
{
    shape3 b = producer_shape(net, l->from);
    return (ft_add_pad_shape){B, l->ish.c, l->ish.h, l->ish.w, b.c, b.h, b.w};
}

/* Element-wise layers whose forward may write over their input (out == in). */
static int runs_in_place(const layer *l)
{
    switch (l->type) {
    case L_RELU:
    case L_RELU6:
    case L_LEAKY:
    case L_SCALE:
    case L_BATCHNORM: return 1;
    case L_ADD: return !l->zero_pad;
    default: return 0;
    }
}

#define FT_ARENA_ALIGN 16 /* floats: every activation starts on a 64-byte boundary */

typedef struct {
    int n_groups;
    int *group;      /* layer -> the layer whose storage it writes to (its group) */
    size_t *offset;  /* group -> offset in the arena, floats */
    size_t floats;   /* activations */
    size_t ws;       /* conv workspace (forward only) */
} inference_plan;

static void plan_free(inference_plan *p)
{
    free(p->group);
    free(p->offset);
}

static size_t round_up(size_t n) { return (n + FT_ARENA_ALIGN - 1) / FT_ARENA_ALIGN * FT_ARENA_ALIGN; }

/* order[0..n) by decreasing size[order[k]], ties by index (insertion sort: n <= a few hundred) */
static void sort_by_size(int *order, int n, const size_t *size)
{
    for (int k = 1; k < n; k++) {
        const int g = order[k];
        int j = k;
        for (; j > 0 && (size[order[j - 1]] < size[g] || (size[order[j - 1]] == size[g] && order[j - 1] > g)); j--)
            order[j] = order[j - 1];
        order[j] = g;
    }
}

/* The inference plan (see the top of the file). Groups: a layer and the layers that write
 * over its storage (aliases, in place); group g lives from layer g to end[g], its last reader
 * (net->n: kept to the end). Offsets: largest group first, each at the lowest offset that no
 * group alive at the same time occupies (greedy by size, as TFLite's arena planner). */
static ft_status plan_inference(const ft_net *net, int B, inference_plan *p, ft_error *err)
{
    const int n = net->n;
    memset(p, 0, sizeof *p);
    int *last = malloc((size_t)n * sizeof *last), *end = malloc((size_t)n * sizeof *end);
    int *order = malloc((size_t)n * sizeof *order), *placed = malloc((size_t)n * sizeof *placed);
    size_t *size = calloc((size_t)n, sizeof *size);
    p->group = malloc((size_t)n * sizeof *p->group);
    p->offset = calloc((size_t)n, sizeof *p->offset);
    ft_status st = FT_OK;
    if (!last || !end || !order || !placed || !size || !p->group || !p->offset) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) last[i] = net->L[i].consumers ? i : n; /* a dead end is an output */
    last[n - 1] = n;
    for (int i = 0; i < n; i++) {
        const layer *l = &net->L[i];
        if (l->input >= 0 && last[l->input] < i) last[l->input] = i;
        if (l->type == L_ADD && l->from >= 0 && last[l->from] < i) last[l->from] = i;
    }
    int *group = p->group;
    for (int i = 0; i < n; i++) {
        const layer *l = &net->L[i];
        int g = -1;
        if (l->alias) g = group[l->input];
        else if (runs_in_place(l) && l->input >= 0 && end[group[l->input]] == i &&
                 shape_size(net->L[l->input].osh) == shape_size(l->osh))
            g = group[l->input];
        else if (l->type == L_ADD && !l->zero_pad && l->from >= 0 && end[group[l->from]] == i)
            g = group[l->from];
        if (g >= 0) { /* joins g: g lives as long as its longest reader */
            group[i] = g;
            if (last[i] > end[g]) end[g] = last[i];
            continue;
        }
        group[i] = i;
        end[i] = last[i];
        size[i] = round_up((size_t)B * shape_size(l->osh));
        order[p->n_groups++] = i;
    }
    sort_by_size(order, p->n_groups, size);
    int n_placed = 0;
    for (int k = 0; k < p->n_groups; k++) {
        const int g = order[k];
        size_t at = 0;
        for (int moved = 1; moved;) { /* lowest offset clear of every placed group alive with g */
            moved = 0;
            for (int j = 0; j < n_placed; j++) {
                const int h = placed[j];
                if (end[h] < g || end[g] < h) continue; /* never alive together */
                if (at < p->offset[h] + size[h] && p->offset[h] < at + size[g]) {
                    at = p->offset[h] + size[h];
                    moved = 1;
                }
            }
        }
        p->offset[g] = at;
        if (at + size[g] > p->floats) p->floats = at + size[g];
        placed[n_placed++] = g;
    }
    for (int i = 0; i < n; i++)
        if (net->L[i].type == L_CONV) {
            ft_conv2d_shape cs = conv_shape(&net->L[i], B);
            size_t need = round_up(ft_conv2d_workspace_forward(&cs));
            if (need > p->ws) p->ws = need;
        }
done:
    free(last), free(end), free(order), free(placed), free(size);
    if (st) plan_free(p);
    return st;
}

size_t ft_net_inference_floats(const ft_net *net, int max_batch)
{
    inference_plan p;
    ft_error err = {0};
    if (max_batch < 1 || plan_inference(net, max_batch, &p, &err)) return 0;
    size_t n = p.floats + p.ws;
    plan_free(&p);
    return n;
}

/* Inference reservation in arena (NULL: allocate one, owned); buffers already freed. */
static ft_status reserve_inference(ft_net *net, int max_batch, float *arena, size_t arena_floats, ft_error *err)
{
    inference_plan p;
    ft_status st = plan_inference(net, max_batch, &p, err);
    if (st) return st;
    const int own = arena == NULL;
    const size_t need = p.floats + p.ws;
    if (!own && arena_floats < need) {
        st = ft_error_set(err, FT_EINVAL, "an arena of %zu floats is smaller than the %zu this net needs",
                          arena_floats, need);
    } else if (own && !(arena = malloc((need ? need : 1) * sizeof(float)))) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory for activations of batch %d", max_batch);
    } else {
        net->arena = arena;
        net->arena_owned = own;
        for (int i = 0; i < net->n; i++) net->L[i].out = arena + p.offset[p.group[i]];
        net->ws = p.ws ? arena + p.floats : NULL;
        net->ws_n = p.ws;
        net->reserved_batch = max_batch;
        net->reserved_training = 0;
    }
    plan_free(&p);
    return st;
}

ft_status ft_net_reserve_in(ft_net *net, int max_batch, float *arena, size_t arena_floats, ft_error *err)
{
    if (max_batch < 1) return ft_error_set(err, FT_EINVAL, "batch size must be at least 1");
    if (!arena) return ft_error_set(err, FT_EINVAL, "no arena");
    free_buffers(net);
    return reserve_inference(net, max_batch, arena, arena_floats, err);
}

ft_status ft_net_reserve(ft_net *net, int max_batch, int training, ft_error *err)
{
    if (max_batch < 1) return ft_error_set(err, FT_EINVAL, "batch size must be at least 1");
    if (net->reserved_batch >= max_batch && net->reserved_training >= training) return FT_OK;
    if (net->reserved_batch > max_batch) max_batch = net->reserved_batch;
    if (net->reserved_training > training) training = net->reserved_training;
    free_buffers(net);
    if (!training) return reserve_inference(net, max_batch, NULL, 0, err);
    size_t ws = 0;
    for (int i = 0; i < net->n; i++) {
        layer *l = &net->L[i];
        size_t sz = (size_t)max_batch * shape_size(l->osh);
        if (l->type == L_CONV) {
            ft_conv2d_shape s = conv_shape(l, max_batch);
            size_t need = ft_conv2d_workspace(&s);
            if (need > ws) ws = need;
        }
        if (l->alias) continue;
        l->out = malloc(sz * sizeof(float));
        if (training) l->dout = malloc(sz * sizeof(float));
        if (l->type == L_DROPOUT && training) l->mask = malloc(sz * sizeof(float));
        if (!l->out || (training && !l->dout) || (l->type == L_DROPOUT && training && !l->mask)) {
            free_buffers(net);
            return ft_error_set(err, FT_ENOMEM, "out of memory for activations of batch %d", max_batch);
        }
    }
    /* aliases share their producer's buffers (producers come first) */
    for (int i = 0; i < net->n; i++) {
        layer *l = &net->L[i];
        if (!l->alias) continue;
        l->out = net->L[l->input].out;
        l->dout = net->L[l->input].dout;
    }
    if (ws) {
        net->ws = malloc(ws * sizeof(float));
        if (!net->ws) {
            free_buffers(net);
            return ft_error_set(err, FT_ENOMEM, "out of memory for the conv workspace");
        }
        net->ws_n = ws;
    }
    net->reserved_batch = max_batch;
    net->reserved_training = training;
    return FT_OK;
}

/* -------------------------------------------------------- forward/backward -- */

static const float *act(const ft_net *net, int idx) { return idx < 0 ? net->x : net->L[idx].out; }
static float *dact(const ft_net *net, int idx) { return idx < 0 ? NULL : net->L[idx].dout; }

const float *ft_net_forward(ft_net *net, const float *x, int B, int training)
{
    /* One image with the pool on (ft_set_threads(n > 1)): the pool splits the convolutions and
     * every other GEMM/GEMV runs on one OpenBLAS thread — a 2-thread sgemv here (the dense
     * layer) would leave OpenBLAS's thread spinning on the core the pool needs (core/pool.h). */
    const int blas = B == 1 && ft_pool_threads() > 1 ? ft_pool_blas_single() : 0;
    net->x = x;
    net->last_B = B;
    for (int i = 0; i < net->n; i++) {
        layer *l = &net->L[i];
        const float *in = act(net, l->input);
        const float *w = net->w + l->w_off, *b = l->b_n ? net->w + l->b_off : NULL;
        size_t n = (size_t)B * shape_size(l->osh);
        int HW = l->ish.h * l->ish.w;
        switch (l->type) {
        case L_CONV: {
            ft_conv2d_shape s = conv_shape(l, B);
            ft_conv2d_forward(l->out, in, w, b, &s, net->ws);
            break;
        }
        case L_DENSE: ft_dense_forward(l->out, in, w, b, B, (int)shape_size(l->ish), l->units); break;
        case L_RELU: ft_relu_forward(l->out, in, n); break;
        case L_LEAKY: ft_leaky_forward(l->out, in, n, l->alpha); break;
        case L_RELU6: ft_relu6_forward(l->out, in, n); break;
        case L_PAD: {
            ft_pad_shape s = pad_shape(l, B);
            ft_pad_forward(l->out, in, &s);
            break;
        }
        case L_FLATTEN:
            if (!l->alias) memcpy(l->out, in, n * sizeof(float));
            break;
        case L_GAP: ft_gap_forward(l->out, in, B, l->ish.c, HW); break;
        case L_L2NORM: ft_l2norm_forward(l->out, in, B, (int)shape_size(l->ish), l->eps); break;
        case L_MAXPOOL: {
            ft_pool_shape s = pool_shape(l, B);
            ft_maxpool_forward(l->out, in, &s);
            break;
        }
        case L_AVGPOOL: {
            ft_pool_shape s = pool_shape(l, B);
            ft_avgpool_forward(l->out, in, &s);
            break;
        }
        case L_DROPOUT:
            if (training) ft_dropout_forward(l->out, l->mask, in, n, l->rate, &net->dropout_rng);
            else memcpy(l->out, in, n * sizeof(float));
            break;
        case L_BATCHNORM:
            if (training)
                ft_batchnorm_forward_train(l->out, l->bn_mean, l->bn_rstd, l->running_mean,
                                           l->running_var, in, w, b, B, l->ish.c, HW, l->momentum,
                                           l->eps);
            else
                ft_batchnorm_forward_eval(l->out, in, w, b, l->running_mean, l->running_var, B, l->ish.c,
                                          HW, l->eps);
            break;
        case L_SCALE: ft_scale_forward(l->out, in, w, b, B, l->ish.c, HW); break;
        case L_ADD:
            if (l->zero_pad) {
                ft_add_pad_shape s = add_pad_shape(net, l, B);
                ft_add_pad_forward(l->out, in, act(net, l->from), &s);
            } else {
                ft_add_forward(l->out, in, act(net, l->from), n);
            }
            break;
        case L_NTYPES: break;
        }
    }
    ft_pool_blas_restore(blas);
    return net->L[net->n - 1].out;
}

/* memset to 0 of n floats, split across the pool when large (core/pool.h). */
static void zero_range(void *arg, size_t lo, size_t hi) { memset((float *)arg + lo, 0, (hi - lo) * sizeof(float)); }
static void zero_floats(float *p, size_t n) { ft_pool_for(n, sizeof(float), zero_range, p); }

void ft_net_backward(ft_net *net, const float *dembed, int B)
{
    for (int i = 0; i < net->n; i++)
        if (!net->L[i].alias) zero_floats(net->L[i].dout, (size_t)B * shape_size(net->L[i].osh));
    layer *last = &net->L[net->n - 1];
    size_t nlast = (size_t)B * shape_size(last->osh);
    for (size_t k = 0; k < nlast; k++) last->dout[k] += dembed[k];
    for (int i = net->n - 1; i >= 0; i--) {
        layer *l = &net->L[i];
        const float *in = act(net, l->input);
        float *din = dact(net, l->input);
        const float *w = net->w + l->w_off;
        float *gw = net->g + l->w_off, *gb = l->b_n ? net->g + l->b_off : NULL;
        size_t n = (size_t)B * shape_size(l->osh);
        int HW = l->ish.h * l->ish.w;
        switch (l->type) {
        case L_CONV: {
            ft_conv2d_shape s = conv_shape(l, B);
            ft_conv2d_backward(din, gw, gb, l->dout, in, w, &s, net->ws);
            break;
        }
        case L_DENSE:
            ft_dense_backward(din, gw, gb, l->dout, in, w, B, (int)shape_size(l->ish), l->units);
            break;
        case L_RELU:
            if (l->alias) { /* in place: dout is the producer's gradient buffer */
                ft_relu_backward_inplace(l->dout, l->out, n);
            } else if (din) {
                ft_relu_backward(din, l->dout, l->out, n);
            }
            break;
        case L_LEAKY:
            if (din) ft_leaky_backward(din, l->dout, l->out, n, l->alpha);
            break;
        case L_RELU6:
            if (din) ft_relu6_backward(din, l->dout, l->out, n);
            break;
        case L_PAD: {
            ft_pad_shape s = pad_shape(l, B);
            if (din) ft_pad_backward(din, l->dout, &s);
            break;
        }
        case L_FLATTEN:
            if (!l->alias && din)
                for (size_t k = 0; k < n; k++) din[k] += l->dout[k];
            break;
        case L_GAP:
            if (din) ft_gap_backward(din, l->dout, B, l->ish.c, HW);
            break;
        case L_L2NORM:
            if (din) ft_l2norm_backward(din, l->dout, in, B, (int)shape_size(l->ish), l->eps);
            break;
        case L_MAXPOOL: {
            ft_pool_shape s = pool_shape(l, B);
            if (din) ft_maxpool_backward(din, l->dout, in, &s);
            break;
        }
        case L_AVGPOOL: {
            ft_pool_shape s = pool_shape(l, B);
            if (din) ft_avgpool_backward(din, l->dout, &s);
            break;
        }
        case L_DROPOUT:
            if (din) ft_dropout_backward(din, l->dout, l->mask, n);
            break;
        case L_BATCHNORM:
            ft_batchnorm_backward(din, gw, gb, l->dout, in, l->bn_mean, l->bn_rstd, w, B, l->ish.c, HW);
            break;
        case L_SCALE: ft_scale_backward(din, gw, gb, l->dout, in, w, B, l->ish.c, HW); break;
        case L_ADD:
            if (l->zero_pad) {
                ft_add_pad_shape s = add_pad_shape(net, l, B);
                ft_add_pad_backward(din, dact(net, l->from), l->dout, &s);
            } else {
                ft_add_backward(din, dact(net, l->from), l->dout, n);
            }
            break;
        case L_NTYPES: break;
        }
    }
}

ft_status ft_net_embed(ft_net *net, const float *x, int n, float *out, ft_error *err)
{
    int bs = n < FT_EMBED_BATCH ? (n > 0 ? n : 1) : FT_EMBED_BATCH;
    ft_status st = ft_net_reserve(net, bs, 0, err);
    if (st) return st;
    int D = ft_net_embed_dim(net), isz = ft_net_input_size(net);
    int step = net->reserved_batch;
    for (int i = 0; i < n; i += step) {
        int b = n - i < step ? n - i : step;
        const float *e = ft_net_forward(net, x + (size_t)i * isz, b, 0);
        memcpy(out + (size_t)i * D, e, (size_t)b * D * sizeof(float));
    }
    return FT_OK;
}

/* ----------------------------------------------------------- checkpoints ---- */

ft_status ft_net_to_checkpoint(const ft_net *net, ft_ckpt *ck, ft_error *err)
{
    memset(ck, 0, sizeof *ck);
    ck->input = net->input;
    ck->embed_dim = ft_net_embed_dim(net);
    ck->spec_json = strdup(net->spec_json);
    ck->meta_json = strdup("{}");
    ck->tensors = calloc((size_t)net->n_params + 1, sizeof *ck->tensors);
    if (!ck->spec_json || !ck->meta_json || !ck->tensors) goto oom;
    for (int k = 0; k < net->n_params; k++) {
        const ft_param *p = &net->params[k];
        ft_ckpt_tensor *t = &ck->tensors[k];
        snprintf(t->name, sizeof t->name, "%s", p->name);
        t->ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) t->dims[d] = p->dims[d];
        t->count = p->count;
        t->data = malloc(p->count * sizeof(float));
        if (!t->data) goto oom;
        memcpy(t->data, p->data, p->count * sizeof(float));
        ck->n_tensors = k + 1;
    }
    return FT_OK;
oom:
    ft_ckpt_free(ck);
    return ft_error_set(err, FT_ENOMEM, "out of memory while building a checkpoint");
}

static int input_equal(const ft_input_spec *a, const ft_input_spec *b)
{
    if (a->width != b->width || a->height != b->height || a->channels != b->channels) return 0;
    for (int i = 0; i < a->channels; i++)
        if (a->mean[i] != b->mean[i] || a->std[i] != b->std[i]) return 0;
    return 1;
}

ft_status ft_net_load_tensors(ft_net *net, const ft_ckpt *ck, const char *prefix, ft_error *err)
{
    char key[FT_CKPT_MAX_NAME + 1];
    for (int k = 0; k < net->n_params; k++) {
        ft_param *p = &net->params[k];
        snprintf(key, sizeof key, "%s%s", prefix ? prefix : "", p->name);
        const ft_ckpt_tensor *t = ft_ckpt_find(ck, key);
        if (!t)
            return ft_error_set(err, FT_EMISMATCH, "checkpoint lacks tensor '%s' required by its spec", key);
        int same = t->ndim == p->ndim && t->count == p->count;
        for (int d = 0; same && d < p->ndim; d++) same = t->dims[d] == p->dims[d];
        if (!same)
            return ft_error_set(err, FT_EMISMATCH,
                                "tensor '%s' has %zu values, the spec needs shape (%lld,%lld,%lld,%lld)", key,
                                t->count, (long long)p->dims[0], (long long)p->dims[1],
                                (long long)p->dims[2], (long long)p->dims[3]);
        for (size_t i = 0; i < t->count; i++)
            if (!isfinite(t->data[i]))
                return ft_error_set(err, FT_EMISMATCH, "tensor '%s' holds a non-finite value", key);
        memcpy(p->data, t->data, t->count * sizeof(float));
    }
    if (prefix) return FT_OK;
    for (int k = 0; k < ck->n_tensors; k++) {
        const char *nm = ck->tensors[k].name;
        if (!strncmp(nm, "opt/", 4) || !strncmp(nm, FT_CALIB_PREFIX, strlen(FT_CALIB_PREFIX)) ||
            !strncmp(nm, FT_AUX_PREFIX, strlen(FT_AUX_PREFIX)))
            continue;
        int found = 0;
        for (int j = 0; j < net->n_params && !found; j++) found = !strcmp(net->params[j].name, nm);
        if (!found)
            return ft_error_set(err, FT_EMISMATCH, "checkpoint tensor '%s' is not part of its spec", nm);
    }
    return FT_OK;
}

ft_status ft_net_from_checkpoint(const ft_ckpt *ck, ft_net **out, ft_error *err)
{
    *out = NULL;
    ft_net *net;
    ft_status st = ft_net_from_json(ck->spec_json, &net, err);
    if (st) return ft_error_prefix(err, "checkpoint spec");
    if (!input_equal(&ck->input, &net->input)) {
        st = ft_error_set(err, FT_EMISMATCH,
                          "checkpoint input %dx%dx%d does not match its spec's input %dx%dx%d",
                          ck->input.width, ck->input.height, ck->input.channels, net->input.width,
                          net->input.height, net->input.channels);
        goto fail;
    }
    if (ck->embed_dim != ft_net_embed_dim(net)) {
        st = ft_error_set(err, FT_EMISMATCH, "checkpoint embedding size %d does not match its spec's %d",
                          ck->embed_dim, ft_net_embed_dim(net));
        goto fail;
    }
    if ((st = ft_net_load_tensors(net, ck, NULL, err))) goto fail;
    *out = net;
    return FT_OK;
fail:
    ft_net_free(net);
    return st;
}
