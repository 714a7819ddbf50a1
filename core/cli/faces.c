/* faces.c — the identity-folder pieces shared by `train`, `eval` and `cv`:
 * recognising such a dataset, opening it with warnings, the default
 * augmentation, recording a split in the model, and scoring a model on the
 * pairs of a set of identities. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "rng.h"

/* default augmentation: flips, shifts of ~6% of the width, +-12% zoom, +-10% brightness and contrast */
#define FT_AUG_SHIFT_FRACTION 0.0625
#define FT_AUG_BRIGHTNESS 0.1f
#define FT_AUG_CONTRAST 0.1f
#define FT_INNER_CALIB_TAG 0x1C4Cull
#define FT_AUG_ZOOM 0.12f /* ORL's people are photographed at varying distances */

int cli_is_identity_dir(const char *data)
{
    struct stat st;
    if (stat(data, &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
    char prefix[4096];
    return cli_idx_prefix(data, "train", prefix, sizeof prefix, NULL) != FT_OK &&
           cli_idx_prefix(data, "t10k", prefix, sizeof prefix, NULL) != FT_OK;
}

void cli_warn(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "facetwin: warning: %s\n", msg);
}

ft_status cli_dataset_open(const char *dir, ft_dataset *ds, ft_error *err)
{
    ft_status st = ft_dataset_open(dir, ds, err);
    if (st) return st;
    if (ds->n_skipped)
        fprintf(stderr, "facetwin: warning: %s: skipped %d file(s) that are not images (e.g. %s)\n", dir,
                ds->n_skipped, ds->skipped_example);
    if (ds->n_empty_ids)
        fprintf(stderr, "facetwin: warning: %s: %d identity folder(s) hold no image and are ignored\n", dir,
                ds->n_empty_ids);
    int singles = 0;
    const char *example = NULL;
    for (int i = 0; i < ds->n_ids; i++)
        if (ds->id_start[i + 1] - ds->id_start[i] == 1) {
            singles++;
            if (!example) example = ds->id_names[i];
        }
    if (singles)
        fprintf(stderr,
                "facetwin: warning: %s: %d identit%s with a single image (e.g. %s) give no same-person pair; "
                "they serve as different-person examples only\n",
                dir, singles, singles == 1 ? "y" : "ies", example);
    return FT_OK;
}

ft_augment cli_default_augment(const ft_input_spec *spec)
{
    ft_augment a = {1, (int)(spec->width * FT_AUG_SHIFT_FRACTION + 0.5), FT_AUG_BRIGHTNESS, FT_AUG_CONTRAST,
                    FT_AUG_ZOOM};
    return a;
}

static cJSON *names_json(const ft_dataset *ds, const ft_idset *s)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; s && a && i < s->n; i++) {
        cJSON *v = cJSON_CreateString(ds->id_names[s->ids[i]]);
        if (!v || !cJSON_AddItemToArray(a, v)) {
            cJSON_Delete(v);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

char *cli_split_json(const ft_dataset *ds, const char *how, const ft_idset *train, const ft_idset *val,
                     const ft_idset *test)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *t = names_json(ds, train), *v = names_json(ds, val), *x = names_json(ds, test);
    char *s = NULL;
    if (o && t && v && x && cJSON_AddStringToObject(o, "how", how) && cJSON_AddItemToObject(o, "train", t) &&
        (t = NULL, cJSON_AddItemToObject(o, "val", v)) && (v = NULL, cJSON_AddItemToObject(o, "test", x))) {
        x = NULL;
        s = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(t);
    cJSON_Delete(v);
    cJSON_Delete(x);
    cJSON_Delete(o);
    return s;
}

void cli_pairs_eval_free(cli_pairs_eval *r)
{
    free(r->dist);
    free(r->same);
    memset(r, 0, sizeof *r);
}

ft_status cli_eval_identities(ft_net *net, const ft_dataset *ds, const ft_idset *ids, float threshold,
                              uint64_t seed, const ft_faceset_opts *fo, cli_pairs_eval *r, ft_error *err)
{
    memset(r, 0, sizeof *r);
    ft_evalset *es = NULL;
    ft_status st = ft_evalset_dataset_new(ds, ids, ft_net_input(net), seed, fo, &es, err);
    if (st) return st;
    r->n = es->n_pairs;
    r->dist = malloc((size_t)r->n * sizeof(float));
    r->same = malloc((size_t)r->n);
    if (!r->dist || !r->same) st = ft_error_set(err, FT_ENOMEM, "out of memory");
    if (!st) st = ft_evalset_distances(es, net, 1.0f, r->dist, r->same, NULL, err);
    if (!st) st = ft_pair_metrics_compute(r->dist, r->same, r->n, threshold, &r->m, err);
    ft_evalset_free(es);
    if (st) cli_pairs_eval_free(r);
    return st;
}

cJSON *cli_metrics_json(const ft_pair_metrics *m)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "pairs", m->pairs);
    cJSON_AddNumberToObject(t, "positives", m->positives);
    cJSON_AddNumberToObject(t, "negatives", m->negatives);
    cJSON_AddNumberToObject(t, "threshold", m->threshold);
    cJSON_AddNumberToObject(t, "accuracy", m->accuracy);
    cJSON_AddNumberToObject(t, "far", m->far);
    cJSON_AddNumberToObject(t, "frr", m->frr);
    cJSON_AddNumberToObject(t, "auc", m->auc);
    cJSON_AddNumberToObject(t, "eer", m->eer);
    cJSON_AddNumberToObject(t, "eer_threshold", m->eer_threshold);
    cJSON_AddNumberToObject(t, "best_accuracy", m->best_accuracy);
    cJSON_AddNumberToObject(t, "best_threshold", m->best_threshold);
    cJSON_AddNumberToObject(t, "tar_at_far_1e-2", m->tar_far_1e2);
    cJSON_AddNumberToObject(t, "tar_at_far_1e-3", m->tar_far_1e3);
    return t;
}

/* Inner cross-validation for the threshold: the identities ids are cut into J
 * seeded groups; for each group an inner model (same recipe, no validation,
 * final weights) is trained on the other groups and scores the protocol pairs
 * of the held-out group. The pooled distances — every pair scored by a model
 * that never saw its people — calibrate the final model's threshold on all of
 * ids' people instead of a handful of validation people. */
ft_status cli_inner_calibration(const ft_dataset *ds, const ft_idset *ids, const char *spec, const ft_train_opts *o,
                                const ft_faceset_opts *fo, int J, const char *tmp_path, cli_pairs_eval *out,
                                ft_error *err)
{
    memset(out, 0, sizeof *out);
    if (J < 2 || ids->n < 2 * J)
        return ft_error_set(err, FT_EINVAL, "inner calibration: %d folds need at least %d training identities (%d)", J,
                            2 * J, ids->n);
    uint32_t *perm = malloc((size_t)ids->n * sizeof *perm);
    ft_idset in = {0, malloc((size_t)ids->n * sizeof(int))}, held = {0, malloc((size_t)ids->n * sizeof(int))};
    ft_status st = FT_OK;
    if (!perm || !in.ids || !held.ids) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < ids->n; i++) perm[i] = (uint32_t)i;
    ft_rng r = ft_rng_derive(o->seed, FT_INNER_CALIB_TAG);
    ft_rng_shuffle_u32(&r, perm, (size_t)ids->n);
    for (int j = 0; j < J && !st; j++) {
        in.n = held.n = 0;
        for (int i = 0; i < ids->n; i++) {
            int id = ids->ids[perm[i]];
            if (i % J == j) held.ids[held.n++] = id;
            else in.ids[in.n++] = id;
        }
        ft_train_opts io = *o;
        io.calib = FT_CALIB_FIXED;
        io.calib_n = 0;
        io.resume_path = NULL;
        io.progress = NULL;
        io.split_json = NULL;
        io.out_path = tmp_path;
        ft_net *net = NULL;
        ft_source *src = NULL;
        cli_pairs_eval ev = {0};
        ft_train_result res;
        if (!(st = ft_net_from_json(spec, &net, err))) {
            ft_net_init(net, o->seed + FT_INNER_CALIB_TAG + (uint64_t)j);
            st = ft_source_dataset_new(ds, &in, ft_net_input(net), &io, fo, &src, err);
        }
        if (!st) st = ft_train_source(net, src, NULL, &io, &res, err);
        if (!st)
            st = cli_eval_identities(net, ds, &held, res.calibration.threshold, o->seed ^ FT_VAL_PAIRS_TAG, fo, &ev,
                                     err);
        if (!st) {
            float *d = realloc(out->dist, (size_t)(out->n + ev.n) * sizeof *d);
            uint8_t *s = d ? realloc(out->same, (size_t)(out->n + ev.n)) : NULL;
            if (d) out->dist = d;
            if (s) out->same = s;
            if (!d || !s) st = ft_error_set(err, FT_ENOMEM, "out of memory");
            else {
                memcpy(out->dist + out->n, ev.dist, (size_t)ev.n * sizeof *d);
                memcpy(out->same + out->n, ev.same, (size_t)ev.n);
                out->n += ev.n;
            }
        }
        if (st) ft_error_prefix(err, "inner calibration model");
        cli_pairs_eval_free(&ev);
        ft_source_free(src);
        ft_net_free(net);
        unlink(tmp_path);
    }
done:
    free(perm);
    free(in.ids);
    free(held.ids);
    if (st) cli_pairs_eval_free(out);
    return st;
}

/* ---- features of a frozen backbone ---- */

ft_status cli_eval_features(ft_net *head, const ft_labelled *set, float threshold, uint64_t seed, cli_pairs_eval *r,
                            ft_error *err)
{
    memset(r, 0, sizeof *r);
    ft_evalset *es = NULL;
    ft_status st = ft_evalset_features_new(set, seed, &es, err);
    if (st) return st;
    r->n = es->n_pairs;
    r->dist = malloc((size_t)r->n * sizeof(float));
    r->same = malloc((size_t)r->n);
    if (!r->dist || !r->same) st = ft_error_set(err, FT_ENOMEM, "out of memory");
    else if (head) st = ft_evalset_distances(es, head, 1.0f, r->dist, r->same, NULL, err);
    else ft_pairs_feature_distances(set, es->pairs, es->n_pairs, r->dist, r->same);
    if (!st) st = ft_pair_metrics_compute(r->dist, r->same, r->n, threshold, &r->m, err);
    ft_evalset_free(es);
    if (st) cli_pairs_eval_free(r);
    return st;
}

ft_status cli_backbone_alone(const ft_labelled *val, const ft_labelled *test, const ft_train_opts *o,
                             ft_calibration *c, cli_pairs_eval *r, ft_error *err)
{
    cli_pairs_eval v;
    ft_roc_point *roc = NULL;
    int n_roc = 0;
    ft_status st = cli_eval_features(NULL, val, o->threshold, o->seed ^ FT_VAL_PAIRS_TAG, &v, err);
    if (st) return st;
    st = ft_calibrate(v.dist, v.same, v.n, o->calib, o->far_target, o->threshold, c, &roc, &n_roc, err);
    free(roc);
    cli_pairs_eval_free(&v);
    if (st) return ft_error_prefix(err, "calibrating the backbone alone");
    return cli_eval_features(NULL, test, c->threshold, 0, r, err);
}

int cli_head_fits(const char *cmd, const char *backbone, const ft_net *head)
{
    ft_error err = {0};
    ft_ckpt ck;
    if (ft_ckpt_read(backbone, &ck, &err)) return cli_fail(&err);
    int dim = ck.embed_dim;
    ft_ckpt_free(&ck);
    if (ft_head_check(head, dim, &err)) return cli_usage(cmd, "%s (%s)", err.msg, backbone);
    return 0;
}

ft_status cli_features_extract(const char *cmd, const char *backbone, const ft_dataset *ds, const ft_features_opts *fo,
                               int quiet, ft_features *f, ft_error *err)
{
    if (!quiet)
        fprintf(stderr, "facetwin %s: embedding the %d images of %s once through the frozen backbone %s%s\n", cmd,
                ds->n_images, ds->root, backbone, fo->flip ? " (and their mirror images)" : "");
    ft_status st = ft_features_extract(backbone, ds, fo, f, err);
    if (st) return st;
    if (!quiet) {
        fprintf(stderr, "facetwin %s: %d images in %.1f s (%s)", cmd, f->n, f->seconds,
                f->detected ? "faces detected and aligned" : "whole images: no detection");
        if (f->n_no_face) {
            int first = 0;
            while (!f->no_face[first]) first++;
            fprintf(stderr, "; no face found in %d image(s), e.g. %s: %s", f->n_no_face, ds->paths[first],
                    fo->no_face == FT_NOFACE_WHOLE ? "the whole image stretched is used"
                                                   : "the whole image is taken as the face box (--no-face landmarks)");
        }
        fprintf(stderr, "\n");
    }
    return FT_OK;
}
