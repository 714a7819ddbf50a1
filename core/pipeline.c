/* pipeline.c — several networks in one checkpoint (include/facetwin/pipeline.h).
 *
 * The format is not extended: the extra networks are tensors under "aux/<part>/" (which the
 * encoder's loader skips, as it skips "opt/" and "calib/") and their specs and metadata are
 * strings and objects in the metadata JSON. ft_ckpt_part reverses ft_ckpt_add_part exactly,
 * so a part read back from a combined checkpoint is byte-for-byte the single-part checkpoint
 * the importer built — and is loaded by the same code.
 */
#include "facetwin/pipeline.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/runtime.h"

#define PART_PREFIX_MAX 32

static const cJSON *part_obj(const cJSON *meta, const char *part)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(meta, "pipeline"), part);
}

int ft_ckpt_has_part(const ft_ckpt *ck, const char *part)
{
    cJSON *m = cJSON_Parse(ck->meta_json ? ck->meta_json : "{}");
    int has = part_obj(m, part) != NULL;
    cJSON_Delete(m);
    return has;
}

ft_status ft_ckpt_add_part(ft_ckpt *dst, const char *part, const ft_ckpt *src, ft_error *err)
{
    char prefix[PART_PREFIX_MAX];
    snprintf(prefix, sizeof prefix, "%s%s/", FT_AUX_PREFIX, part);
    cJSON *m = cJSON_Parse(dst->meta_json ? dst->meta_json : "{}");
    cJSON *sm = cJSON_Parse(src->meta_json ? src->meta_json : "{}");
    if (!cJSON_IsObject(m) || !sm) {
        cJSON_Delete(m), cJSON_Delete(sm);
        return ft_error_set(err, FT_EFORMAT, "pipeline: unreadable metadata");
    }
    cJSON *pl = cJSON_GetObjectItemCaseSensitive(m, "pipeline");
    if (!pl) pl = cJSON_AddObjectToObject(m, "pipeline");
    cJSON *po = cJSON_AddObjectToObject(pl, part);
    cJSON_AddStringToObject(po, "spec", src->spec_json);
    cJSON_AddItemToObject(po, "meta", sm);
    char *txt = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    ft_ckpt_tensor *t = realloc(dst->tensors, (size_t)(dst->n_tensors + src->n_tensors) * sizeof *t);
    if (!txt || !t) {
        free(txt);
        if (t) dst->tensors = t;
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    dst->tensors = t;
    for (int i = 0; i < src->n_tensors; i++) {
        ft_ckpt_tensor *o = &dst->tensors[dst->n_tensors];
        *o = src->tensors[i];
        if (snprintf(o->name, sizeof o->name, "%s%s", prefix, src->tensors[i].name) >= (int)sizeof o->name) {
            free(txt);
            return ft_error_set(err, FT_ETOOBIG, "pipeline: tensor name '%s%s' is too long", prefix,
                                src->tensors[i].name);
        }
        o->data = malloc(o->count * sizeof(float));
        if (!o->data) {
            free(txt);
            return ft_error_set(err, FT_ENOMEM, "out of memory");
        }
        memcpy(o->data, src->tensors[i].data, o->count * sizeof(float));
        dst->n_tensors++;
    }
    free(dst->meta_json);
    dst->meta_json = txt;
    return FT_OK;
}

ft_status ft_ckpt_part(const ft_ckpt *ck, const char *part, ft_ckpt *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    cJSON *m = cJSON_Parse(ck->meta_json ? ck->meta_json : "{}");
    const cJSON *po = part_obj(m, part);
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(po, "spec");
    const cJSON *pm = cJSON_GetObjectItemCaseSensitive(po, "meta");
    if (!cJSON_IsString(spec) || !cJSON_IsObject(pm)) {
        cJSON_Delete(m);
        return ft_error_set(err, FT_EMISMATCH,
                            "the checkpoint holds no '%s' (import it: facetwin import --from face-api --parts all)", part);
    }
    ft_net *net;
    ft_status st = ft_net_from_json(spec->valuestring, &net, err);
    if (st) {
        cJSON_Delete(m);
        return ft_error_prefix(err, part);
    }
    out->input = *ft_net_input(net);
    out->embed_dim = ft_net_embed_dim(net);
    ft_net_free(net);
    out->spec_json = strdup(spec->valuestring);
    out->meta_json = cJSON_PrintUnformatted(pm);
    cJSON_Delete(m);
    char prefix[PART_PREFIX_MAX];
    snprintf(prefix, sizeof prefix, "%s%s/", FT_AUX_PREFIX, part);
    const size_t pl = strlen(prefix);
    out->tensors = calloc((size_t)(ck->n_tensors ? ck->n_tensors : 1), sizeof *out->tensors);
    if (!out->spec_json || !out->meta_json || !out->tensors) {
        ft_ckpt_free(out);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    for (int i = 0; i < ck->n_tensors; i++) {
        if (strncmp(ck->tensors[i].name, prefix, pl)) continue;
        ft_ckpt_tensor *o = &out->tensors[out->n_tensors];
        *o = ck->tensors[i];
        snprintf(o->name, sizeof o->name, "%s", ck->tensors[i].name + pl);
        o->data = malloc(o->count * sizeof(float));
        if (!o->data) {
            ft_ckpt_free(out);
            return ft_error_set(err, FT_ENOMEM, "out of memory");
        }
        memcpy(o->data, ck->tensors[i].data, o->count * sizeof(float));
        out->n_tensors++;
    }
    return FT_OK;
}

void ft_pipeline_free(ft_pipeline *p)
{
    ft_net_free(p->encoder);
    ft_net_free(p->landmarks);
    ft_detector_free(p->ssd);
    ft_detector_free(p->tiny);
    free(p->arena);
    memset(p, 0, sizeof *p);
}

/* One arena for the inference activations of every net, sized for the largest (the SSD's):
 * one photo runs the detector, then the landmarks, then the encoder, never two at once. */
static ft_status share_arena(ft_pipeline *p, ft_error *err)
{
    ft_net *nets[] = {p->encoder, p->landmarks, p->ssd ? ft_detector_net(p->ssd) : NULL,
                      p->tiny ? ft_detector_net(p->tiny) : NULL};
    const int n = (int)(sizeof nets / sizeof nets[0]);
    size_t need = 0;
    for (int i = 0; i < n; i++) {
        if (!nets[i]) continue;
        size_t k = ft_net_inference_floats(nets[i], 1);
        if (!k) return ft_error_set(err, FT_ENOMEM, "out of memory planning the activations");
        if (k > need) need = k;
    }
    if (!need) return FT_OK;
    if (!(p->arena = malloc(need * sizeof(float)))) return ft_error_set(err, FT_ENOMEM, "out of memory");
    ft_status st = FT_OK;
    for (int i = 0; i < n && !st; i++)
        if (nets[i]) st = ft_net_reserve_in(nets[i], 1, p->arena, need, err);
    return st;
}

static ft_status load_part(const ft_ckpt *ck, const char *part, ft_pipeline *p, ft_error *err)
{
    ft_ckpt sub;
    ft_status st = ft_ckpt_part(ck, part, &sub, err);
    if (st) return st;
    if (!strcmp(part, "landmarks")) st = ft_net_from_checkpoint(&sub, &p->landmarks, err);
    else st = ft_detector_from_checkpoint(&sub, !strcmp(part, "ssd") ? &p->ssd : &p->tiny, err);
    ft_ckpt_free(&sub);
    if (st) ft_error_prefix(err, part);
    return st;
}

ft_status ft_pipeline_from_checkpoint(const ft_ckpt *ck, int with_encoder, ft_pipeline *p, ft_error *err)
{
    memset(p, 0, sizeof *p);
    cJSON *m = cJSON_Parse(ck->meta_json ? ck->meta_json : "{}");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "detector");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(d, "kind");
    ft_status st = FT_OK;
    if (cJSON_IsString(kind)) { /* a single-part detector checkpoint */
        int ssd = !strcmp(kind->valuestring, "ssd");
        st = ft_detector_from_checkpoint(ck, ssd ? &p->ssd : &p->tiny, err);
    } else {
        p->threshold = ck->threshold;
        static const char *const parts[] = {"ssd", "tiny", "landmarks"};
        for (size_t i = 0; !st && i < sizeof parts / sizeof parts[0]; i++)
            if (part_obj(m, parts[i])) st = load_part(ck, parts[i], p, err);
        /* the checkpoint's own net: the encoder, or the landmark net of a --parts landmarks file */
        if (!st && (with_encoder || !p->landmarks)) st = ft_net_from_checkpoint(ck, &p->encoder, err);
        if (!st && p->encoder && !p->landmarks && ft_net_embed_dim(p->encoder) == 2 * FT_LANDMARKS) {
            p->landmarks = p->encoder;
            p->encoder = NULL;
        }
        if (!st && !with_encoder) {
            ft_net_free(p->encoder);
            p->encoder = NULL;
        }
    }
    if (!st) st = share_arena(p, err);
    cJSON_Delete(m);
    if (st) ft_pipeline_free(p);
    return st;
}

ft_status ft_pipeline_load(const char *path, ft_pipeline *p, ft_error *err)
{
    memset(p, 0, sizeof *p);
    ft_ckpt ck;
    ft_status st = ft_ckpt_read(path, &ck, err);
    if (st) return st;
    st = ft_pipeline_from_checkpoint(&ck, 1, p, err);
    ft_ckpt_free(&ck);
    ft_trim_heap(); /* the checkpoint's tensors, now copied into the nets: ~50 MB not to keep resident */
    return st ? ft_error_prefix(err, path) : FT_OK;
}

ft_status ft_pipeline_load_model(const char *path, ft_model *m, ft_pipeline *p, ft_error *err)
{
    memset(m, 0, sizeof *m);
    memset(p, 0, sizeof *p);
    ft_ckpt ck;
    ft_status st = ft_ckpt_read(path, &ck, err);
    if (st) return st;
    st = ft_model_from_checkpoint(&ck, m, err);
    if (!st && (st = ft_pipeline_from_checkpoint(&ck, 0, p, err))) ft_model_free(m);
    ft_ckpt_free(&ck);
    ft_trim_heap();
    return st ? ft_error_prefix(err, path) : FT_OK;
}
