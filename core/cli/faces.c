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

#include "cli.h"

/* default augmentation: flips, shifts of ~6% of the width, +-12% zoom, +-10% brightness and contrast */
#define FT_AUG_SHIFT_FRACTION 0.0625
#define FT_AUG_BRIGHTNESS 0.1f
#define FT_AUG_CONTRAST 0.1f
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
