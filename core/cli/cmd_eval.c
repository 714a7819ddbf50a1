/* cmd_eval.c — `facetwin eval`: test-pair metrics of a model, and the report.
 *
 * IDX data: the Keras reference's pairs over the t10k images. Identity
 * folders: every same-identity pair of the chosen identities plus as many
 * seeded different-identity pairs (the identity-disjoint protocol). The
 * identities are --identities, else the test identities the model's training
 * recorded, else every identity of DIR (with a warning when the model was
 * trained on some of them). Pairs are drawn from --seed (0), so every run
 * and every model is scored on the same pairs.
 *
 * The applied threshold is the model's stored one, or with --far X the
 * largest threshold whose FAR on the stored validation ROC is <= X.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "facetwin/model.h"
#include "facetwin/report.h"
#include "facetwin/runtime.h"

static void help(void)
{
    printf("usage: facetwin eval --model MODEL --data IDX_PREFIX|DIR [options]\n"
           "\n"
           "Pair accuracy at the model's stored threshold (and at --threshold), ROC AUC, EER,\n"
           "TAR at FAR 1e-2 and 1e-3, the best-threshold accuracy (an oracle figure) and the\n"
           "number of pairs. IDX DIR: its t10k set. Identity-folder DIR: the same-person pairs\n"
           "of the chosen identities plus as many seeded different-person pairs.\n"
           "\n"
           "options:\n"
           "  --identities LIST   comma-separated identity folders to score (default: the test\n"
           "                      identities recorded in the model, else all of DIR)\n"
           "  --far X             apply the threshold for validation FAR <= X from the ROC stored\n"
           "                      in the model at calibration\n"
           "  --threshold X       also report the accuracy at X (0.5 is the reference's rule)\n"
           "  --report FILE       write a self-contained HTML page: histogram, ROC, training curves\n"
           "  --seed N            seed of the pair list (0)\n"
           "  --threads N         BLAS threads (cores)\n"
           "  --json              one JSON object: the metrics plus model, identities, rule\n");
}

/* The identities to score on an identity-folder set (see the file comment). */
static ft_status pick_identities(const ft_dataset *ds, const ft_model *m, const char *list, ft_idset *out,
                                 char *how, size_t hn, ft_error *err)
{
    if (list) {
        snprintf(how, hn, "--identities");
        return ft_dataset_find_ids(ds, list, out, err);
    }
    cJSON *meta = cJSON_Parse(m->meta_json);
    const cJSON *split = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(meta, "training"), "split");
    const cJSON *test = cJSON_GetObjectItemCaseSensitive(split, "test");
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(split, "train");
    ft_status st = FT_OK;
    if (cJSON_GetArraySize(test) > 0) {
        size_t cap = 1, len = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, test) if (cJSON_IsString(v)) cap += strlen(v->valuestring) + 1;
        char *names = malloc(cap);
        if (!names) {
            cJSON_Delete(meta);
            return ft_error_set(err, FT_ENOMEM, "out of memory");
        }
        names[0] = 0;
        cJSON_ArrayForEach(v, test) if (cJSON_IsString(v)) len += (size_t)snprintf(names + len, cap - len, "%s%s",
                                                                                    len ? "," : "", v->valuestring);
        st = ft_dataset_find_ids(ds, names, out, err);
        if (st) ft_error_prefix(err, "the model's recorded test identities are not all in this dataset");
        free(names);
        snprintf(how, hn, "the model's recorded test identities");
    } else {
        ft_idset none = {0, NULL};
        st = ft_idset_complement(ds, &none, out, err);
        snprintf(how, hn, "every identity of the dataset");
        int overlap = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, train) if (cJSON_IsString(v)) for (int i = 0; i < ds->n_ids; i++) overlap +=
            !strcmp(ds->id_names[i], v->valuestring);
        if (!st && overlap)
            fprintf(stderr, "facetwin: warning: the model was trained on %d of these identities: the figures are "
                            "not identity-disjoint (use --identities)\n", overlap);
    }
    cJSON_Delete(meta);
    return st;
}

static char *meta_string(const char *meta_json, const char *key, int print)
{
    cJSON *meta = cJSON_Parse(meta_json);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
    char *s = NULL;
    if (print && v) s = cJSON_PrintUnformatted(v);
    else if (cJSON_IsString(v)) s = strdup(v->valuestring);
    cJSON_Delete(meta);
    return s;
}

int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", 1, 0, 'm'},     {"data", 1, 0, 'd'},   {"threshold", 1, 0, 't'}, {"seed", 1, 0, 's'},
        {"threads", 1, 0, 'j'},   {"json", 0, 0, 'J'},   {"help", 0, 0, 'h'},      {"identities", 1, 0, 'i'},
        {"far", 1, 0, 'f'},       {"report", 1, 0, 'r'}, {0, 0, 0, 0}};
    const char *model = NULL, *data = NULL, *list = NULL, *report = NULL;
    double thr = NAN, far = NAN;
    long seed = 0, threads = 0;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': data = optarg; break;
        case 'i': list = optarg; break;
        case 'r': report = optarg; break;
        case 't': bad = cli_float("eval", "--threshold", optarg, 0, 1e6, &thr); break;
        case 'f': bad = cli_float("eval", "--far", optarg, 0, 1, &far); break;
        case 's': bad = cli_int("eval", "--seed", optarg, 0, 0x7fffffffL, &seed); break;
        case 'j': bad = cli_int("eval", "--threads", optarg, 1, 1024, &threads); break;
        case 'J': json = 1; break;
        case 'h': help(); return FT_EXIT_OK;
        default: return cli_usage("eval", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (bad) return FT_EXIT_USAGE;
    }
    if (optind < argc) return cli_usage("eval", "unexpected argument '%s'", argv[optind]);
    if (!model || !data) return cli_usage("eval", "--model and --data are required");
    int faces = cli_is_identity_dir(data);
    if (list && !faces) return cli_usage("eval", "--identities needs an identity-folder dataset");
    ft_set_threads((int)threads);
    ft_error err = {0};
    ft_model m;
    ft_status st = ft_model_load(model, &m, &err);
    if (st) return cli_fail(&err);
    ft_idx_set raw = {0};
    ft_labelled set = {0};
    ft_dataset ds = {0};
    ft_idset ids = {0};
    cli_pairs_eval r = {0};
    char how[128] = "", *rule = NULL, *history = NULL;
    float threshold = m.threshold;
    double far_tar = NAN;
    if (!isnan(far)) {
        if (!m.roc) {
            st = ft_error_set(&err, FT_EINVAL, "%s: the model stores no validation ROC (trained with a fixed threshold); "
                                               "--far needs one", model);
            goto done;
        }
        threshold = ft_roc_threshold_at_far(m.roc, m.n_roc, far, &far_tar);
    }
    if (faces) {
        ft_faceset_opts fo;
        ft_faceset_opts_defaults(&fo);
        if ((st = cli_dataset_open(data, &ds, &err))) goto done;
        if ((st = pick_identities(&ds, &m, list, &ids, how, sizeof how, &err))) goto done;
        if ((st = cli_eval_identities(m.net, &ds, &ids, threshold, (uint64_t)seed, &fo, &r, &err))) goto done;
    } else {
        char prefix[4096];
        if ((st = cli_idx_prefix(data, "t10k", prefix, sizeof prefix, &err)) ||
            (st = ft_idx_set_load(prefix, &raw, &err)))
            goto done;
        st = ft_labelled_from_idx(&raw, ft_net_input(m.net), &set, &err);
        ft_idx_set_free(&raw);
        if (st || (st = cli_eval_pairs(m.net, &set, threshold, (uint64_t)seed, &r, &err))) goto done;
    }
    double acc_user = isnan(thr) ? NAN : ft_pair_accuracy(r.dist, r.same, r.n, (float)thr);
    char rule_buf[256];
    if (!isnan(far)) {
        snprintf(rule_buf, sizeof rule_buf, "--far %g on the stored validation ROC (validation TAR %.4f there)", far,
                 far_tar);
    } else {
        rule = meta_string(m.meta_json, "threshold_rule", 0);
        snprintf(rule_buf, sizeof rule_buf, "%s", rule ? rule : "stored in the model");
    }
    if (report) {
        history = meta_string(m.meta_json, "history", 1);
        char title[512], desc[4400];
        snprintf(title, sizeof title, "facetwin eval: %s", m.model_id);
        if (faces) {
            char names[512];
            ft_idset_names(&ds, &ids, names, sizeof names);
            snprintf(desc, sizeof desc, "%s: %d identities (%s: %s)", data, ids.n, how, names);
        } else {
            snprintf(desc, sizeof desc, "%s (t10k, Keras-rule pairs)", data);
        }
        ft_report rep = {title, m.model_id, desc, r.dist, r.same, r.n, &r.m, r.m.tar_far_1e2, r.m.tar_far_1e3,
                         rule_buf, history, m.roc ? &m.roc[0].threshold : NULL, m.n_roc};
        if ((st = ft_report_write_html(report, &rep, &err))) goto done;
    }
    if (json) {
        cJSON *o = cli_metrics_json(&r.m);
        cJSON_AddStringToObject(o, "model", m.model_id);
        cJSON_AddStringToObject(o, "threshold_rule", rule_buf);
        if (faces) {
            char names[4096];
            ft_idset_names(&ds, &ids, names, sizeof names);
            cJSON_AddStringToObject(o, "identities", names);
        }
        if (!isnan(thr)) {
            cJSON *u = cJSON_AddObjectToObject(o, "accuracy_at_threshold");
            cJSON_AddNumberToObject(u, "threshold", thr);
            cJSON_AddNumberToObject(u, "accuracy", acc_user);
        }
        if (report) cJSON_AddStringToObject(o, "report", report);
        cli_print_json(o);
    } else {
        printf("model      %s\n", m.model_id);
        if (faces) printf("identities %d (%s)\n", ids.n, how);
        printf("pairs      %d (%d same, %d different)\n", r.m.pairs, r.m.positives, r.m.negatives);
        printf("accuracy   %.4f at threshold %.4f (FAR %.4f, FRR %.4f): %s\n", r.m.accuracy, r.m.threshold, r.m.far,
               r.m.frr, rule_buf);
        if (!isnan(thr)) printf("accuracy   %.4f at --threshold %g\n", acc_user, thr);
        printf("auc        %.4f\neer        %.4f (threshold %.4f)\ntar        %.4f at FAR<=1e-2, %.4f at FAR<=1e-3\n"
               "best       %.4f at threshold %.4f (oracle)\n",
               r.m.auc, r.m.eer, r.m.eer_threshold, r.m.tar_far_1e2, r.m.tar_far_1e3, r.m.best_accuracy,
               r.m.best_threshold);
        if (report) printf("report     %s\n", report);
    }
done:
    free(rule);
    free(history);
    cli_pairs_eval_free(&r);
    ft_labelled_free(&set);
    ft_idset_free(&ids);
    ft_dataset_free(&ds);
    ft_model_free(&m);
    return st ? cli_fail(&err) : FT_EXIT_OK;
}
