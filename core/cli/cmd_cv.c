/* cmd_cv.c — `facetwin cv`: k-fold cross-validation by identity.
 *
 * The identities are cut into K folds from a seeded permutation. For fold f:
 * test = fold f's people; of the others, --val-identities (4, chosen by the
 * seed) calibrate the threshold and pick the best epoch, the rest train a
 * fresh network (initialised from seed + f). The test pairs are every
 * same-person pair of the test people plus as many seeded different-person
 * pairs; accuracy is measured at the calibrated threshold — never at one
 * chosen on test people. Every figure is reported per fold and as mean ± std
 * (sample standard deviation over folds).
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "facetwin/runtime.h"
#include "rng.h"

#define FT_CV_DEFAULT_FOLDS 10
#define FT_CV_VAL_TAG 0x564Aull
#define FT_CV_MAX_FOLDS 1000

static void help(void)
{
    printf("usage: facetwin cv --data DIR --arch NAME|SPEC.json [options]\n"
           "\n"
           "K-fold cross-validation by identity on an identity-folder dataset: each fold's\n"
           "people are held out for test, the threshold is calibrated on validation people\n"
           "taken from the training side, and every metric is reported per fold and as\n"
           "mean +- std.\n"
           "\n"
           "options:\n"
           "  --folds K             folds (10)\n"
           "  --seed N              folds, validation people, init, pairs, augmentation (0)\n"
           "  --val-identities N    validation people per fold (4)\n"
           "  --epochs N            epochs per fold (60)\n"
           "  --batch N             images per step (32; pairs per step with --pairs all: 128)\n"
           "  --pairs batch|all     in-batch pairs (default) or all positives + equal negatives\n"
           "  --per-identity K      images of one identity together in a batch (4)\n"
           "  --optimizer NAME      adam | rmsprop | sgd (adam)   --lr X (1e-3)\n"
           "  --weight-decay X      (0)    --margin X (1.0)\n"
           "  --augment on|off      (on)\n"
           "  --far X | --threshold X   calibration rule (default: validation equal-error point)\n"
           "  --calib-folds J       calibrate on ALL training people by inner J-fold cross-validation\n"
           "                        (J extra models per fold) instead of the validation people\n"
           "  --out-dir DIR         keep each fold's model as DIR/fold-<f>.ftw (eval/report them)\n"
           "  --first-folds N       run only folds 0..N-1 (quick experiments; figures then cover N folds)\n"
           "  --threads N           BLAS threads (cores)\n"
           "  --json                one JSON object: accuracy, auc, eer, ... each {mean, std},\n"
           "                        plus per-fold figures\n"
           "  --quiet               no per-fold lines on stderr\n");
}

typedef struct {
    double accuracy, best_accuracy, auc, eer, threshold, tar2, tar3, val_eer, seconds;
    int pairs, test_ids;
} fold_result;

static void mean_std(const fold_result *r, int k, size_t off, double *mean, double *sd)
{
    double s = 0, q = 0;
    for (int i = 0; i < k; i++) s += *(const double *)((const char *)&r[i] + off);
    *mean = s / k;
    for (int i = 0; i < k; i++) {
        double d = *(const double *)((const char *)&r[i] + off) - *mean;
        q += d * d;
    }
    *sd = k > 1 ? sqrt(q / (k - 1)) : 0;
}

/* Fold f: train, calibrate, test. */
static ft_status run_fold(const ft_dataset *ds, const char *spec, int k, int f, long n_val, int calib_folds,
                          ft_train_opts o, const ft_faceset_opts *fo, const char *out_dir, const char *tmp_dir,
                          fold_result *fr, ft_error *err)
{
    cli_pairs_eval inner = {0};
    ft_idset trval = {0}, test = {0}, tr = {0}, va = {0};
    ft_net *net = NULL;
    ft_source *src = NULL;
    ft_evalset *vs = NULL;
    char *split = NULL;
    cli_pairs_eval ev = {0};
    char path[4096];
    ft_status st = ft_dataset_fold(ds, k, f, o.seed, &trval, &test, err);
    if (st) goto done;
    if (trval.n - n_val < 2) {
        st = ft_error_set(err, FT_EINVAL, "fold %d leaves %d training identities after %ld for validation", f,
                          trval.n - (int)n_val, n_val);
        goto done;
    }
    /* validation people: a seeded choice among this fold's training side */
    uint32_t *perm = malloc((size_t)trval.n * sizeof *perm);
    tr.ids = malloc((size_t)trval.n * sizeof(int));
    va.ids = malloc((size_t)(n_val ? n_val : 1) * sizeof(int));
    if (!perm || !tr.ids || !va.ids) {
        free(perm);
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < trval.n; i++) perm[i] = (uint32_t)i;
    ft_rng r = ft_rng_derive(o.seed, FT_CV_VAL_TAG + (uint64_t)f);
    ft_rng_shuffle_u32(&r, perm, (size_t)trval.n);
    uint8_t *is_val = calloc((size_t)trval.n, 1);
    if (!is_val) {
        free(perm);
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n_val; i++) is_val[perm[i]] = 1;
    for (int i = 0; i < trval.n; i++) {
        if (is_val[i]) va.ids[va.n++] = trval.ids[i];
        else tr.ids[tr.n++] = trval.ids[i];
    }
    free(is_val);
    free(perm);
    split = cli_split_json(ds, "fold", &tr, &va, &test);
    if (!split) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto done;
    }
    o.split_json = split;
    if (calib_folds > 0) { /* the threshold from inner cross-validation over the training people */
        char scratch[4200];
        snprintf(scratch, sizeof scratch, "%s/inner-%d.ftw", tmp_dir, f);
        if ((st = cli_inner_calibration(ds, &tr, spec, &o, fo, calib_folds, scratch, &inner, err))) goto done;
        o.calib_dist = inner.dist;
        o.calib_same = inner.same;
        o.calib_n = inner.n;
        o.calib_identities = tr.n;
        o.calib_source = "inner cross-validation over the training identities";
    }
    snprintf(path, sizeof path, "%s/fold-%d.ftw", out_dir ? out_dir : tmp_dir, f);
    o.out_path = path;
    if ((st = ft_net_from_json(spec, &net, err))) goto done;
    ft_net_init(net, o.seed + (uint64_t)f);
    if ((st = ft_source_dataset_new(ds, &tr, ft_net_input(net), &o, fo, &src, err))) goto done;
    if (va.n && (st = ft_evalset_dataset_new(ds, &va, ft_net_input(net), o.seed ^ FT_VAL_PAIRS_TAG, fo, &vs, err)))
        goto done;
    if (!vs && !o.calib_n) o.calib = FT_CALIB_FIXED;
    ft_train_result res;
    if ((st = ft_train_source(net, src, vs, &o, &res, err))) goto done;
    if ((st = cli_eval_identities(net, ds, &test, res.calibration.threshold, 0, fo, &ev, err))) goto done;
    *fr = (fold_result){ev.m.accuracy, ev.m.best_accuracy, ev.m.auc, ev.m.eer, res.calibration.threshold,
                        ev.m.tar_far_1e2, ev.m.tar_far_1e3, res.calibration.eer, res.seconds, ev.m.pairs, test.n};
    if (!out_dir) unlink(path);
done:
    cli_pairs_eval_free(&ev);
    cli_pairs_eval_free(&inner);
    ft_source_free(src);
    ft_evalset_free(vs);
    ft_net_free(net);
    free(split);
    ft_idset_free(&trval);
    ft_idset_free(&test);
    ft_idset_free(&tr);
    ft_idset_free(&va);
    return st;
}

int cmd_cv(int argc, char **argv)
{
    enum { O_DATA = 256, O_ARCH, O_FOLDS, O_SEED, O_VAL, O_EPOCHS, O_BATCH, O_PAIRS, O_PERID, O_OPT, O_LR, O_WD,
           O_MARGIN, O_AUG, O_FAR, O_THR, O_OUTDIR, O_THREADS, O_JSON, O_QUIET, O_HELP, O_FIRST, O_CALIBF };
    static const struct option opts[] = {
        {"data", 1, 0, O_DATA},     {"arch", 1, 0, O_ARCH},         {"folds", 1, 0, O_FOLDS},
        {"seed", 1, 0, O_SEED},     {"val-identities", 1, 0, O_VAL}, {"epochs", 1, 0, O_EPOCHS},
        {"batch", 1, 0, O_BATCH},   {"pairs", 1, 0, O_PAIRS},       {"per-identity", 1, 0, O_PERID},
        {"optimizer", 1, 0, O_OPT}, {"lr", 1, 0, O_LR},             {"weight-decay", 1, 0, O_WD},
        {"margin", 1, 0, O_MARGIN}, {"augment", 1, 0, O_AUG},       {"far", 1, 0, O_FAR},
        {"threshold", 1, 0, O_THR}, {"out-dir", 1, 0, O_OUTDIR},    {"threads", 1, 0, O_THREADS},
        {"json", 0, 0, O_JSON},     {"quiet", 0, 0, O_QUIET},       {"help", 0, 0, O_HELP},
        {"first-folds", 1, 0, O_FIRST}, {"calib-folds", 1, 0, O_CALIBF},
        {0, 0, 0, 0}};
    const char *data = NULL, *arch = NULL, *out_dir = NULL, *optname = "adam";
    long folds = FT_CV_DEFAULT_FOLDS, first = 0, calib_folds = 0, seed = 0, n_val = 4, epochs = 60, batch = -1, per_id = 4, threads = 0;
    double lr = -1, wd = 0, margin = 1.0, far = NAN, thr = NAN;
    int pairs_all = 0, augment = 1, json = 0, quiet = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case O_DATA: data = optarg; break;
        case O_ARCH: arch = optarg; break;
        case O_OUTDIR: out_dir = optarg; break;
        case O_OPT: optname = optarg; break;
        case O_FOLDS: bad = cli_int("cv", "--folds", optarg, 2, FT_CV_MAX_FOLDS, &folds); break;
        case O_SEED: bad = cli_int("cv", "--seed", optarg, 0, 0x7fffffffL, &seed); break;
        case O_CALIBF: bad = cli_int("cv", "--calib-folds", optarg, 0, 100, &calib_folds); break;
        case O_FIRST: bad = cli_int("cv", "--first-folds", optarg, 1, FT_CV_MAX_FOLDS, &first); break;
        case O_VAL: bad = cli_int("cv", "--val-identities", optarg, 0, 1000000, &n_val); break;
        case O_EPOCHS: bad = cli_int("cv", "--epochs", optarg, 1, 100000, &epochs); break;
        case O_BATCH: bad = cli_int("cv", "--batch", optarg, 2, 65536, &batch); break;
        case O_PERID: bad = cli_int("cv", "--per-identity", optarg, 2, 4096, &per_id); break;
        case O_LR: bad = cli_float("cv", "--lr", optarg, 1e-12, 10, &lr); break;
        case O_WD: bad = cli_float("cv", "--weight-decay", optarg, 0, 1, &wd); break;
        case O_MARGIN: bad = cli_float("cv", "--margin", optarg, 1e-6, 1e6, &margin); break;
        case O_FAR: bad = cli_float("cv", "--far", optarg, 0, 0.999999, &far); break;
        case O_THR: bad = cli_float("cv", "--threshold", optarg, 0, 1e6, &thr); break;
        case O_THREADS: bad = cli_int("cv", "--threads", optarg, 1, 1024, &threads); break;
        case O_PAIRS:
            if (!strcmp(optarg, "all")) pairs_all = 1;
            else if (!strcmp(optarg, "batch")) pairs_all = 0;
            else return cli_usage("cv", "--pairs must be 'batch' or 'all' (got '%s')", optarg);
            break;
        case O_AUG:
            if (!strcmp(optarg, "on")) augment = 1;
            else if (!strcmp(optarg, "off")) augment = 0;
            else return cli_usage("cv", "--augment must be 'on' or 'off' (got '%s')", optarg);
            break;
        case O_JSON: json = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_HELP: help(); return FT_EXIT_OK;
        default: return cli_usage("cv", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (bad) return FT_EXIT_USAGE;
    }
    if (optind < argc) return cli_usage("cv", "unexpected argument '%s'", argv[optind]);
    if (!data || !arch) return cli_usage("cv", "--data and --arch are required");
    if (!isnan(thr) && !isnan(far)) return cli_usage("cv", "--threshold and --far exclude each other");
    if (!cli_is_identity_dir(data)) return cli_usage("cv", "--data must be an identity-folder directory");
    ft_set_threads((int)threads);

    ft_error err = {0};
    ft_train_opts o;
    ft_train_opts_defaults(&o);
    ft_opt_kind kind;
    if (ft_opt_kind_parse(optname, &kind, &err)) return cli_usage("cv", "%s", err.msg);
    o.opt = ft_optim_defaults(kind);
    if (lr > 0) o.opt.lr = (float)lr;
    o.opt.weight_decay = (float)wd;
    o.epochs = (int)epochs;
    o.pairs = pairs_all ? FT_PAIRS_ALL : FT_PAIRS_BATCH;
    o.batch = batch > 0 ? (int)batch : pairs_all ? 128 : 32;
    o.per_class = (int)per_id;
    o.margin = (float)margin;
    o.seed = (uint64_t)seed;
    o.threshold = isnan(thr) ? 0.5f : (float)thr;
    o.calib = !isnan(thr) ? FT_CALIB_FIXED : !isnan(far) ? FT_CALIB_FAR : FT_CALIB_EER;
    o.far_target = isnan(far) ? 0 : far;
    o.data_desc = data;
    o.stop = cli_stop_on_signals();

    char *spec = NULL, tmp_dir[] = "/tmp/facetwin-cv-XXXXXX";
    ft_dataset ds = {0};
    fold_result *fr = NULL;
    int made_tmp = 0;
    ft_status st;
    if ((st = ft_spec_resolve(arch, &spec, &err))) goto done;
    if ((st = cli_dataset_open(data, &ds, &err))) goto done;
    if (folds > ds.n_ids) {
        st = ft_error_set(&err, FT_EINVAL, "%s: %ld folds need at least %ld identities (it has %d)", data, folds, folds,
                          ds.n_ids);
        goto done;
    }
    if (out_dir && mkdir(out_dir, 0755) != 0 && access(out_dir, W_OK) != 0) {
        st = ft_error_set(&err, FT_EIO, "%s: cannot create or write this directory", out_dir);
        goto done;
    }
    if (!mkdtemp(tmp_dir)) { /* fold models without --out-dir, inner-calibration scratch models */
        st = ft_error_set(&err, FT_EIO, "cannot create a temporary directory");
        goto done;
    }
    made_tmp = 1;
    ft_faceset_opts fo;
    ft_faceset_opts_defaults(&fo);
    fo.warn = cli_warn;
    fr = calloc((size_t)folds, sizeof *fr);
    if (!fr) {
        st = ft_error_set(&err, FT_ENOMEM, "out of memory");
        goto done;
    }
    int run = first > 0 && first < folds ? (int)first : (int)folds; /* folds actually run */
    double t0 = ft_now();
    for (int f = 0; f < run; f++) {
        ft_net *probe;
        if ((st = ft_net_from_json(spec, &probe, &err))) goto done;
        if (augment) fo.aug = cli_default_augment(ft_net_input(probe));
        ft_net_free(probe);
        if ((st = run_fold(&ds, spec, (int)folds, f, n_val, (int)calib_folds, o, &fo, out_dir, tmp_dir, &fr[f],
                           &err))) {
            if (st != FT_EINTERRUPTED) {
                char pre[32];
                snprintf(pre, sizeof pre, "fold %d", f);
                ft_error_prefix(&err, pre);
            }
            goto done;
        }
        if (!quiet)
            fprintf(stderr, "fold %d/%ld: %d test people, %d pairs: accuracy %.4f at threshold %.4f, best %.4f, "
                            "AUC %.4f, EER %.4f (%.0f s)\n",
                    f + 1, (long)run, fr[f].test_ids, fr[f].pairs, fr[f].accuracy, fr[f].threshold, fr[f].best_accuracy,
                    fr[f].auc, fr[f].eer, fr[f].seconds);
    }
    double total = ft_now() - t0;
    static const struct {
        const char *name;
        size_t off;
    } k_fields[] = {{"accuracy", offsetof(fold_result, accuracy)},
                    {"best_accuracy", offsetof(fold_result, best_accuracy)},
                    {"auc", offsetof(fold_result, auc)},
                    {"eer", offsetof(fold_result, eer)},
                    {"threshold", offsetof(fold_result, threshold)},
                    {"tar_at_far_1e-2", offsetof(fold_result, tar2)},
                    {"tar_at_far_1e-3", offsetof(fold_result, tar3)},
                    {"val_eer", offsetof(fold_result, val_eer)}};
    int nf = (int)(sizeof k_fields / sizeof k_fields[0]);
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "data", data);
        cJSON_AddStringToObject(j, "arch", arch);
        cJSON_AddNumberToObject(j, "folds", (double)folds);
        cJSON_AddNumberToObject(j, "folds_run", run);
        cJSON_AddNumberToObject(j, "seed", (double)seed);
        cJSON_AddNumberToObject(j, "seconds", total);
        cJSON_AddNumberToObject(j, "threads", ft_get_threads());
        for (int i = 0; i < nf; i++) {
            double mu, sd;
            mean_std(fr, run, k_fields[i].off, &mu, &sd);
            cJSON *v = cJSON_AddObjectToObject(j, k_fields[i].name);
            cJSON_AddNumberToObject(v, "mean", mu);
            cJSON_AddNumberToObject(v, "std", sd);
        }
        cJSON *per = cJSON_AddArrayToObject(j, "per_fold");
        for (int f = 0; f < run; f++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "fold", f);
            cJSON_AddNumberToObject(x, "test_identities", fr[f].test_ids);
            cJSON_AddNumberToObject(x, "pairs", fr[f].pairs);
            for (int i = 0; i < nf; i++)
                cJSON_AddNumberToObject(x, k_fields[i].name, *(const double *)((const char *)&fr[f] + k_fields[i].off));
            cJSON_AddNumberToObject(x, "seconds", fr[f].seconds);
            cJSON_AddItemToArray(per, x);
        }
        cli_print_json(j);
    } else {
        printf("%ld-fold cross-validation by identity on %s (%d identities; %d fold(s) run), %s, seed %ld, %.0f s on "
               "%d threads\n",
               folds, data, ds.n_ids, run, arch, seed, total, ft_get_threads());
        for (int i = 0; i < nf; i++) {
            double mu, sd;
            mean_std(fr, run, k_fields[i].off, &mu, &sd);
            printf("  %-16s %.4f +- %.4f%s\n", k_fields[i].name, mu, sd,
                   !strcmp(k_fields[i].name, "best_accuracy") ? "  (oracle threshold)" : "");
        }
        if (out_dir) printf("fold models in %s/fold-<f>.ftw\n", out_dir);
    }
done:
    if (made_tmp) rmdir(tmp_dir);
    free(fr);
    free(spec);
    ft_dataset_free(&ds);
    return st ? cli_fail(&err) : FT_EXIT_OK;
}
