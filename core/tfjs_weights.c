/* tfjs_weights.c — a TensorFlow.js weights manifest and its shards, decoded to float32.
 *
 * Design. The whole model is small (face-api's largest net is 6 MB), so every
 * group's shards are read whole with ft_read_file (bounded) and concatenated,
 * then each weight is decoded from its offset in manifest order, exactly as
 * tfjs's io.decodeWeights walks the buffer. The byte count a weight needs is
 * known from its shape and (quantized) dtype before any value is read, and the
 * group's buffer must hold exactly the sum: a short or over-long shard is an
 * error naming the group's first file, not a silently shifted model.
 *
 * Dequantization follows tfjs (io_utils.ts): for uint8/uint16 quantization
 * the value is `q * scale + min` evaluated in double (JavaScript numbers) and
 * stored into a Float32Array, i.e. rounded once to float32 — done the same
 * way here, so the imported weights are bit-identical to what tfjs holds.
 */
#include "tfjs_weights.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/image.h" /* ft_read_file */

#define MAX_SHARDS_PER_GROUP 256
#define MAX_WEIGHTS (1 << 16)

void ft_tfjs_free(ft_tfjs_weights *w)
{
    if (!w) return;
    for (int i = 0; i < w->n; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->t);
    memset(w, 0, sizeof *w);
}

const ft_tfjs_tensor *ft_tfjs_find(const ft_tfjs_weights *w, const char *name)
{
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name)) return &w->t[i];
    return NULL;
}

/* A shard name must stay in the manifest's directory. */
static int plain_file_name(const char *s)
{
    return *s && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") && strcmp(s, "..");
}

/* Reads and concatenates a group's shards into *buf (*n bytes). */
static ft_status read_group(const char *dir, const cJSON *paths, const char *manifest, uint8_t **buf,
                            size_t *n, ft_error *err)
{
    *buf = NULL;
    *n = 0;
    int np = cJSON_GetArraySize(paths);
    if (!cJSON_IsArray(paths) || np < 1 || np > MAX_SHARDS_PER_GROUP)
        return ft_error_set(err, FT_EFORMAT, "%s: a group's 'paths' must be an array of 1 to %d file names",
                            manifest, MAX_SHARDS_PER_GROUP);
    const cJSON *p;
    cJSON_ArrayForEach(p, paths)
    {
        if (!cJSON_IsString(p) || !plain_file_name(p->valuestring)) {
            free(*buf);
            return ft_error_set(err, FT_EFORMAT, "%s: shard path '%.64s' must be a file name in the manifest's directory",
                                manifest, cJSON_IsString(p) ? p->valuestring : "?");
        }
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, p->valuestring) >= sizeof path) {
            free(*buf);
            return ft_error_set(err, FT_EINVAL, "%s: shard path too long", manifest);
        }
        uint8_t *part;
        size_t pn;
        ft_status st = ft_read_file(path, FT_TFJS_MAX_BYTES - *n, &part, &pn, err);
        if (st) {
            free(*buf);
            return st;
        }
        uint8_t *grown = realloc(*buf, *n + pn + 1);
        if (!grown) {
            free(part);
            free(*buf);
            return ft_error_set(err, FT_ENOMEM, "out of memory reading %s", path);
        }
        memcpy(grown + *n, part, pn);
        free(part);
        *buf = grown;
        *n += pn;
    }
    return FT_OK;
}

static uint32_t rd_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Parses one weight entry's name, shape and encoding; *bytes = its size in the buffer. */
typedef struct {
    const char *name;
    int ndim;
    int64_t dims[FT_TFJS_MAX_DIMS];
    size_t count;
    int qbytes;          /* 0: float32; 1: uint8; 2: uint16 */
    int is_int;          /* dtype int32 (graph constants; decoded to float) */
    double qmin, qscale;
    size_t bytes;
} entry;

static ft_status parse_entry(const cJSON *w, const char *manifest, entry *e, ft_error *err)
{
    memset(e, 0, sizeof *e);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(w, "name");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(w, "shape");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(w, "dtype");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(w, "quantization");
    if (!cJSON_IsString(name) || !*name->valuestring)
        return ft_error_set(err, FT_EFORMAT, "%s: a weight has no 'name'", manifest);
    e->name = name->valuestring;
    int nd = cJSON_GetArraySize(shape);
    if (!cJSON_IsArray(shape) || nd > FT_TFJS_MAX_DIMS)
        return ft_error_set(err, FT_EFORMAT, "%s: weight '%.64s': 'shape' must be an array of at most %d sizes",
                            manifest, e->name, FT_TFJS_MAX_DIMS);
    e->ndim = nd;
    e->count = 1;
    for (int d = 0; d < nd; d++) {
        const cJSON *v = cJSON_GetArrayItem(shape, d);
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1 ||
            v->valuedouble > (double)FT_TFJS_MAX_BYTES)
            return ft_error_set(err, FT_EFORMAT, "%s: weight '%.64s': shape[%d] must be a positive integer",
                                manifest, e->name, d);
        e->dims[d] = (int64_t)v->valuedouble;
        if (e->count > FT_TFJS_MAX_BYTES / (size_t)e->dims[d])
            return ft_error_set(err, FT_ETOOBIG, "%s: weight '%.64s' is too large", manifest, e->name);
        e->count *= (size_t)e->dims[d];
    }
    e->is_int = cJSON_IsString(dtype) && !strcmp(dtype->valuestring, "int32");
    if (!cJSON_IsString(dtype) || (strcmp(dtype->valuestring, "float32") && !e->is_int))
        return ft_error_set(err, FT_EUNSUPPORTED, "%s: weight '%.64s': dtype '%.16s' is not supported (float32, int32)",
                            manifest, e->name, cJSON_IsString(dtype) ? dtype->valuestring : "?");
    if (!q) {
        e->bytes = e->count * 4;
        return FT_OK;
    }
    const cJSON *qd = cJSON_GetObjectItemCaseSensitive(q, "dtype");
    const cJSON *mn = cJSON_GetObjectItemCaseSensitive(q, "min");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(q, "scale");
    if (cJSON_IsString(qd) && !strcmp(qd->valuestring, "uint8")) e->qbytes = 1;
    else if (cJSON_IsString(qd) && !strcmp(qd->valuestring, "uint16")) e->qbytes = 2;
    else
        return ft_error_set(err, FT_EUNSUPPORTED,
                            "%s: weight '%.64s': quantization dtype '%.16s' is not supported (uint8, uint16)", manifest,
                            e->name, cJSON_IsString(qd) ? qd->valuestring : "?");
    if (!cJSON_IsNumber(mn) || !cJSON_IsNumber(sc) || !isfinite(mn->valuedouble) || !isfinite(sc->valuedouble))
        return ft_error_set(err, FT_EFORMAT, "%s: weight '%.64s': quantization needs finite 'min' and 'scale'",
                            manifest, e->name);
    e->qmin = mn->valuedouble;
    e->qscale = sc->valuedouble;
    e->bytes = e->count * (size_t)e->qbytes;
    return FT_OK;
}

/* Decodes e from p (e->bytes bytes) into a new tensor. */
static ft_status decode_entry(const entry *e, const uint8_t *p, ft_tfjs_tensor *t, ft_error *err)
{
    t->name = strdup(e->name);
    t->data = malloc((e->count ? e->count : 1) * sizeof(float));
    if (!t->name || !t->data) return ft_error_set(err, FT_ENOMEM, "out of memory decoding '%.64s'", e->name);
    t->ndim = e->ndim;
    for (int d = 0; d < FT_TFJS_MAX_DIMS; d++) t->dims[d] = d < e->ndim ? e->dims[d] : 1;
    t->count = e->count;
    t->is_int = e->is_int;
    for (size_t i = 0; i < e->count; i++) {
        if (e->qbytes == 0 && e->is_int) {
            t->data[i] = (float)(int32_t)rd_u32le(p + 4 * i);
        } else if (e->qbytes == 0) {
            uint32_t u = rd_u32le(p + 4 * i);
            memcpy(&t->data[i], &u, sizeof u);
        } else {
            unsigned q = e->qbytes == 1 ? p[i] : (unsigned)p[2 * i] | (unsigned)p[2 * i + 1] << 8;
            double v = (double)q * e->qscale; /* JavaScript: v * scale + min, in double */
            v += e->qmin;
            t->data[i] = e->is_int ? (float)trunc(v) : (float)v; /* an Int32Array truncates */
        }
    }
    return FT_OK;
}

ft_status ft_tfjs_load(const char *manifest_path, ft_tfjs_weights *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    uint8_t *text;
    size_t tn;
    ft_status st = ft_read_file(manifest_path, FT_TFJS_MAX_BYTES, &text, &tn, err);
    if (st) return st;
    cJSON *root = cJSON_ParseWithLength((const char *)text, tn);
    free(text);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return ft_error_set(err, FT_EFORMAT, "%s: not a tfjs weights manifest (a JSON array of groups)", manifest_path);
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", manifest_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");

    int total = 0;
    const cJSON *g;
    cJSON_ArrayForEach(g, root) total += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(g, "weights"));
    if (total < 1 || total > MAX_WEIGHTS) {
        cJSON_Delete(root);
        return ft_error_set(err, FT_EFORMAT, "%s: the manifest lists %d weights (1 to %d expected)", manifest_path,
                            total, MAX_WEIGHTS);
    }
    out->t = calloc((size_t)total, sizeof *out->t);
    if (!out->t) {
        cJSON_Delete(root);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    cJSON_ArrayForEach(g, root)
    {
        const cJSON *ws = cJSON_GetObjectItemCaseSensitive(g, "weights");
        const cJSON *paths = cJSON_GetObjectItemCaseSensitive(g, "paths");
        if (!cJSON_IsArray(ws)) {
            st = ft_error_set(err, FT_EFORMAT, "%s: a group has no 'weights' array", manifest_path);
            goto fail;
        }
        uint8_t *buf;
        size_t bn;
        if ((st = read_group(dir, paths, manifest_path, &buf, &bn, err))) goto fail;
        size_t off = 0;
        const cJSON *w;
        cJSON_ArrayForEach(w, ws)
        {
            entry e;
            if (!(st = parse_entry(w, manifest_path, &e, err))) {
                if (ft_tfjs_find(out, e.name))
                    st = ft_error_set(err, FT_EFORMAT, "%s: weight '%.64s' is listed twice", manifest_path, e.name);
                else if (e.bytes > bn - off)
                    st = ft_error_set(err, FT_EFORMAT,
                                      "%s: shard '%.64s' ends inside weight '%.64s' (needs %zu bytes at offset %zu, "
                                      "the group has %zu)",
                                      manifest_path, cJSON_GetArrayItem(paths, 0)->valuestring, e.name, e.bytes, off,
                                      bn);
                else
                    st = decode_entry(&e, buf + off, &out->t[out->n++], err);
            }
            if (st) {
                free(buf);
                goto fail;
            }
            off += e.bytes;
        }
        free(buf);
        if (off != bn) {
            st = ft_error_set(err, FT_EFORMAT, "%s: shard '%.64s' holds %zu bytes, its weights need %zu",
                              manifest_path, cJSON_GetArrayItem(paths, 0)->valuestring, bn, off);
            goto fail;
        }
    }
    cJSON_Delete(root);
    return FT_OK;
fail:
    cJSON_Delete(root);
    ft_tfjs_free(out);
    return st;
}
