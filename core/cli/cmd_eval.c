/* cmd_eval.c — `facetwin eval`: test-pair metrics of a model on IDX data.
 *
 * The pairs are the Keras reference's construction over the test images
 * (per class n = min count - 1; one positive and one negative per step),
 * with the negative classes drawn from --seed (0), so every run and every
 * model is scored on the same pairs.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "facetwin/model.h"
#include "facetwin/runtime.h"

static void help(void)
{
    printf("usage: facetwin eval --model MODEL --data IDX_PREFIX|DIR [--threshold X] [--seed N] [--threads N] [--json]\n"
           "\n"
           "Pair accuracy at the model's stored threshold (and at --threshold), ROC AUC, EER,\n"
           "the best-threshold accuracy (an oracle figure) and the number of pairs.\n"
           "DIR: its t10k-images-idx3-ubyte[.gz] test set is used.\n"
           "--json prints one object: accuracy, threshold, auc, pairs, eer, best_accuracy,\n"
           "best_threshold, accuracy_at_threshold (with --threshold), model.\n");
}

int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {{"model", 1, 0, 'm'}, {"data", 1, 0, 'd'}, {"threshold", 1, 0, 't'},
                                         {"seed", 1, 0, 's'},  {"threads", 1, 0, 'j'}, {"json", 0, 0, 'J'},
                                         {"help", 0, 0, 'h'},  {0, 0, 0, 0}};
    const char *model = NULL, *data = NULL;
    double thr = NAN;
    long seed = 0, threads = 0;
    int json = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': data = optarg; break;
        case 't': bad = cli_float("eval", "--threshold", optarg, 0, 1e6, &thr); break;
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
    ft_set_threads((int)threads);
    ft_error err = {0};
    ft_model m;
    ft_status st = ft_model_load(model, &m, &err);
    if (st) return cli_fail(&err);
    char prefix[4096];
    ft_idx_set raw = {0};
    ft_labelled set = {0};
    cli_eval_result r;
    if ((st = cli_idx_prefix(data, "t10k", prefix, sizeof prefix, &err)) ||
        (st = ft_idx_set_load(prefix, &raw, &err)))
        goto done;
    st = ft_labelled_from_idx(&raw, ft_net_input(m.net), &set, &err);
    ft_idx_set_free(&raw);
    if (st || (st = cli_eval_pairs(m.net, &set, m.threshold, (float)thr, (uint64_t)seed, &r, &err))) goto done;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", m.model_id);
        cJSON_AddNumberToObject(o, "pairs", r.m.pairs);
        cJSON_AddNumberToObject(o, "positives", r.m.positives);
        cJSON_AddNumberToObject(o, "negatives", r.m.negatives);
        cJSON_AddNumberToObject(o, "threshold", r.m.threshold);
        cJSON_AddNumberToObject(o, "accuracy", r.m.accuracy);
        cJSON_AddNumberToObject(o, "auc", r.m.auc);
        cJSON_AddNumberToObject(o, "eer", r.m.eer);
        cJSON_AddNumberToObject(o, "eer_threshold", r.m.eer_threshold);
        cJSON_AddNumberToObject(o, "best_accuracy", r.m.best_accuracy);
        cJSON_AddNumberToObject(o, "best_threshold", r.m.best_threshold);
        cJSON_AddNumberToObject(o, "far", r.m.far);
        cJSON_AddNumberToObject(o, "frr", r.m.frr);
        if (!isnan(thr)) {
            cJSON *u = cJSON_AddObjectToObject(o, "accuracy_at_threshold");
            cJSON_AddNumberToObject(u, "threshold", thr);
            cJSON_AddNumberToObject(u, "accuracy", r.acc_at_user);
        }
        cli_print_json(o);
    } else {
        printf("model      %s\npairs      %d (%d same, %d different)\n", m.model_id, r.m.pairs, r.m.positives,
               r.m.negatives);
        printf("accuracy   %.4f at the stored threshold %g (FAR %.4f, FRR %.4f)\n", r.m.accuracy, r.m.threshold,
               r.m.far, r.m.frr);
        if (!isnan(thr)) printf("accuracy   %.4f at --threshold %g\n", r.acc_at_user, thr);
        printf("auc        %.4f\neer        %.4f (threshold %.4f)\nbest       %.4f at threshold %.4f (oracle)\n",
               r.m.auc, r.m.eer, r.m.eer_threshold, r.m.best_accuracy, r.m.best_threshold);
    }
done:
    ft_labelled_free(&set);
    ft_model_free(&m);
    return st ? cli_fail(&err) : FT_EXIT_OK;
}
