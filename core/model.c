/* model.c — loading a checkpoint into a ready encoder, and embedding bytes.
 *
 * The only place that joins decoding and the encoder: every caller that has
 * image bytes goes through ft_model_embed_bytes, so the preprocessing a model
 * was trained with (stored in its checkpoint) is applied identically by the
 * CLI and by the daemon.
 */
#include "facetwin/model.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facetwin/checkpoint.h"

ft_status ft_model_from_checkpoint(const ft_ckpt *ck, ft_model *m, ft_error *err)
{
    memset(m, 0, sizeof *m);
    ft_status st = ft_net_from_checkpoint(ck, &m->net, err);
    if (!st) st = ft_calib_roc_from_ckpt(ck, &m->roc, &m->n_roc, err);
    if (!st && !(m->meta_json = strdup(ck->meta_json ? ck->meta_json : "{}")))
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
    if (st) {
        ft_model_free(m);
        return st;
    }
    m->threshold = ck->threshold;
    snprintf(m->model_id, sizeof m->model_id, "unknown");
    cJSON *meta = cJSON_Parse(m->meta_json);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(meta, "model_id");
    if (cJSON_IsString(id)) snprintf(m->model_id, sizeof m->model_id, "%s", id->valuestring);
    cJSON_Delete(meta);
    return FT_OK;
}

ft_status ft_model_load(const char *path, ft_model *m, ft_error *err)
{
    memset(m, 0, sizeof *m);
    ft_ckpt ck;
    ft_status st = ft_ckpt_read(path, &ck, err);
    if (st) return st;
    st = ft_model_from_checkpoint(&ck, m, err);
    ft_ckpt_free(&ck);
    return st ? ft_error_prefix(err, path) : FT_OK;
}

void ft_model_id_compute(const ft_net *net, char *out, size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int np;
    const ft_param *p = ft_net_params(net, &np);
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(c, ft_net_spec_json(net), strlen(ft_net_spec_json(net)));
    for (int k = 0; ok && k < np; k++) ok = EVP_DigestUpdate(c, p[k].data, p[k].count * sizeof(float));
    ok = ok && EVP_DigestFinal_ex(c, md, &len);
    EVP_MD_CTX_free(c);
    char hex[13] = "000000000000";
    for (int i = 0; ok && i < 6; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(out, n, "%s-%s", ft_net_name(net), hex);
}

void ft_model_free(ft_model *m)
{
    if (!m) return;
    ft_net_free(m->net);
    free(m->meta_json);
    free(m->roc);
    memset(m, 0, sizeof *m);
}

ft_status ft_model_embed_bytes(ft_model *m, const uint8_t *bytes, size_t n,
                               const ft_decode_opts *opts, float *out, ft_error *err)
{
    float *x = malloc((size_t)ft_net_input_size(m->net) * sizeof(float));
    if (!x) return ft_error_set(err, FT_ENOMEM, "out of memory");
    ft_status st = ft_input_from_bytes(bytes, n, ft_net_input(m->net), opts, x, err);
    if (!st) st = ft_net_embed(m->net, x, 1, out, err);
    free(x);
    return st;
}

ft_status ft_model_embed_file(ft_model *m, const char *path, const ft_decode_opts *opts,
                              float *out, ft_error *err)
{
    uint8_t *buf;
    size_t n;
    ft_status st = ft_read_file(path, FT_MAX_FILE_BYTES_DEFAULT, &buf, &n, err);
    if (st) return st;
    st = ft_model_embed_bytes(m, buf, n, opts, out, err);
    free(buf);
    return st ? ft_error_prefix(err, path) : FT_OK;
}
