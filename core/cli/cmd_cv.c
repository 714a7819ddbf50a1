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
 *
 * With --backbone MODEL --freeze-backbone every image is embedded ONCE through the frozen
 * backbone (include/facetwin/backbone.h); then each fold reports two rows on the same pairs:
 * the backbone alone (its distances, threshold calibrated on the fold's validation people)
 * and a head (--arch HEAD.json, or --head none for the first row only) trained on the fold's
 * training people's cached vectors (mirrored copies with --augment on).
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
           "  --augment on|off      (on)    --zoom X  augmentation zoom range +-X (0.12)\n"
           "  --far X | --threshold X   calibration rule (default: validation equal-error point)\n"
           "  --calib-folds J       calibrate on ALL training people by inner J-fold cross-validation\n"
           "                        (J extra models per fold) instead of the validation people\n"
           "  --out-dir DIR         keep each fold's model as DIR/fold-<f>.ftw (eval/report them)\n"
           "  --first-folds N       run only folds 0..N-1 (quick experiments; figures then cover N folds)\n"
           "  --threads N           BLAS threads; with --backbone also the extraction threads (cores)\n"
           "  --json                one JSON object: accuracy, auc, eer, ... each {mean, std},\n"
           "                        plus per-fold figures\n"
           "  --quiet               no per-fold lines on stderr\n"
           "a frozen backbone (features computed ONCE for all images, then per fold):\n"
           "  --backbone MODEL --freeze-backbone   the backbone alone (its distances, threshold\n"
           "                        calibrated on the fold's validation people) and a head --arch\n"
           "                        HEAD.json trained on the fold's training people's vectors;\n"
           "                        --head none: the backbone alone only. --augment on: mirrored\n"
           "                        vectors too. --json: \"pipeline\" and \"head\" rows, each as above.\n"
           "  --canvas PX, --detector ssd|tiny, --rotate, --no-detect   how photos reach it\n"
           "                        (ORL needs --canvas 300 for the SSD)\n"
           "  --no-face landmarks|whole   an image without a detected face: the whole image as the\n"
           "                        face box, then landmarks and the usual crop (landmarks), or\n"
           "                        the whole image stretched (whole); counted either way\n");
}

typedef struct {
    double accuracy, best_accuracy, auc, eer, threshold, tar2, tar3, val_eer, seconds;
    int pairs, test_ids;
    char test_people[256]; /* the fold's test identities, comma-separated */
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

/* Fold f's people: test = the fold, of the others n_val seeded validation people, the rest train. */
static ft_status fold_split(const ft_dataset *ds, int k, int f, uint64_t seed, long n_val, ft_idset *tr, ft_idset *va,
                            ft_idset *test, ft_error *err)
{
    ft_idset trval = {0};
    memset(tr, 0, sizeof *tr), memset(va, 0, sizeof *va), memset(test, 0, sizeof *test);
    ft_status st = ft_dataset_fold(ds, k, f, seed, &trval, test, err);
    if (st) goto done;
    if (trval.n - n_val < 2) {
        st = ft_error_set(err, FT_EINVAL, "fold %d leaves %d training identities after %ld for validation", f,
                          trval.n - (int)n_val, n_val);
        goto done;
    }
    /* validation people: a seeded choice among this fold's training side */
    uint32_t *perm = malloc((size_t)trval.n * sizeof *perm);
    tr->ids = malloc((size_t)trval.n * sizeof(int));
    va->ids = malloc((size_t)(n_val ? n_val : 1) * sizeof(int));
    if (!perm || !tr->ids || !va->ids) {
        free(perm);
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < trval.n; i++) perm[i] = (uint32_t)i;
    ft_rng r = ft_rng_derive(seed, FT_CV_VAL_TAG + (uint64_t)f);
    ft_rng_shuffle_u32(&r, perm, (size_t)trval.n);
    uint8_t *is_val = calloc((size_t)trval.n, 1);
    if (!is_val) {
        free(perm);
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n_val; i++) is_val[perm[i]] = 1;
    for (int i = 0; i < trval.n; i++) {
        if (is_val[i]) va->ids[va->n++] = trval.ids[i];
        else tr->ids[tr->n++] = trval.ids[i];
    }
    free(is_val);
    free(perm);
done:
    ft_idset_free(&trval);
    if (st) {
        ft_idset_free(tr);
        ft_idset_free(va);
        ft_idset_free(test);
    }
    return st;
}

/* Fold f: train, calibrate, test. */
static ft_status run_fold(const ft_dataset *ds, const char *spec, int k, int f, long n_val, int calib_folds,
                          ft_train_opts o, const ft_faceset_opts *fo, const char *out_dir, const char *tmp_dir,
                          fold_result *fr, ft_error *err)
{
    cli_pairs_eval inner = {0};
    ft_idset test = {0}, tr = {0}, va = {0};
    ft_net *net = NULL;
    ft_source *src = NULL;
    ft_evalset *vs = NULL;
    char *split = NULL;
    cli_pairs_eval ev = {0};
    char path[4096];
    ft_status st = fold_split(ds, k, f, o.seed, n_val, &tr, &va, &test, err);
    if (st) goto done;
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
                        ev.m.tar_far_1e2, ev.m.tar_far_1e3, res.calibration.eer, res.seconds, ev.m.pairs, test.n, ""};
    ft_idset_names(ds, &test, fr->test_people, sizeof fr->test_people);
    if (!out_dir) unlink(path);
done:
    cli_pairs_eval_free(&ev);
    cli_pairs_eval_free(&inner);
    ft_source_free(src);
    ft_evalset_free(vs);
    ft_net_free(net);
    free(split);
    ft_idset_free(&test);
    ft_idset_free(&tr);
    ft_idset_free(&va);
    return st;
}

/* Fold f on a frozen backbone's features: the backbone alone, then (head_spec) a head. */
typedef struct {
    const ft_features *f;
    const ft_ckpt *bb;     /* the backbone checkpoint, for --out-dir's composed fold models (else NULL) */
    const char *head_spec; /* NULL: --head none */
    int augment;           /* train on the mirrored vectors too */
} backbone_cv;

static ft_status run_fold_backbone(const ft_dataset *ds, const backbone_cv *b, int k, int f, long n_val,
                                   ft_train_opts o, const char *out_dir, const char *tmp_dir, fold_result *alone,
                                   fold_result *hr, ft_error *err)
{
    ft_idset test = {0}, tr = {0}, va = {0};
    ft_labelled trs = {0}, vas = {0}, tes = {0};
    ft_net *net = NULL;
    ft_source *src = NULL;
    ft_evalset *vs = NULL;
    char *split = NULL, path[4096] = "";
    cli_pairs_eval ev = {0};
    ft_ckpt hd = {0}, all = {0};
    ft_status st = fold_split(ds, k, f, o.seed, n_val, &tr, &va, &test, err);
    if (st) goto done;
    if ((st = ft_features_select(b->f, ds, &tr, b->augment, &trs, err)) ||
        (va.n && (st = ft_features_select(b->f, ds, &va, 0, &vas, err))) ||
        (st = ft_features_select(b->f, ds, &test, 0, &tes, err)))
        goto done;
    if (!va.n) o.calib = FT_CALIB_FIXED;
    double t0 = ft_now();
    ft_calibration cal = {0};
    if (va.n) st = cli_backbone_alone(&vas, &tes, &o, &cal, &ev, err);
    else st = cli_eval_features(NULL, &tes, o.threshold, 0, &ev, err), cal.threshold = o.threshold, cal.eer = NAN;
    if (st) goto done;
    *alone = (fold_result){ev.m.accuracy, ev.m.best_accuracy, ev.m.auc, ev.m.eer, cal.threshold, ev.m.tar_far_1e2,
                           ev.m.tar_far_1e3, cal.eer, ft_now() - t0, ev.m.pairs, test.n, ""};
    ft_idset_names(ds, &test, alone->test_people, sizeof alone->test_people);
    cli_pairs_eval_free(&ev);
    if (!b->head_spec) goto done;
    split = cli_split_json(ds, "fold", &tr, &va, &test);
    if (!split) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory");
        goto done;
    }
    o.split_json = split;
    o.stop = NULL; /* seconds per fold: no resume state */
    snprintf(path, sizeof path, "%s/head-%d.ftw", tmp_dir, f);
    o.out_path = path;
    if ((st = ft_net_from_json(b->head_spec, &net, err))) goto done;
    ft_net_init(net, o.seed + (uint64_t)f);
    if ((st = ft_source_labelled_new(&trs, &o, &src, err))) goto done;
    if (va.n && (st = ft_evalset_features_new(&vas, o.seed ^ FT_VAL_PAIRS_TAG, &vs, err))) goto done;
    ft_train_result res;
    if ((st = ft_train_source(net, src, vs, &o, &res, err))) goto done;
    if ((st = cli_eval_features(net, &tes, res.calibration.threshold, 0, &ev, err))) goto done;
    *hr = (fold_result){ev.m.accuracy, ev.m.best_accuracy, ev.m.auc, ev.m.eer, res.calibration.threshold,
                        ev.m.tar_far_1e2, ev.m.tar_far_1e3, res.calibration.eer, res.seconds, ev.m.pairs, test.n, ""};
    ft_idset_names(ds, &test, hr->test_people, sizeof hr->test_people);
    if (out_dir && b->bb) {
        char fold_path[4200];
        snprintf(fold_path, sizeof fold_path, "%s/fold-%d.ftw", out_dir, f);
        if ((st = ft_ckpt_read(path, &hd, err)) || (st = ft_backbone_compose(b->bb, &hd, &all, err)) ||
            (st = ft_ckpt_write(fold_path, &all, err)))
            goto done;
    }
done:
    if (path[0]) unlink(path);
    ft_ckpt_free(&hd);
    ft_ckpt_free(&all);
    cli_pairs_eval_free(&ev);
    ft_source_free(src);
    ft_evalset_free(vs);
    ft_net_free(net);
    free(split);
    ft_labelled_free(&trs);
    ft_labelled_free(&vas);
    ft_labelled_free(&tes);
    ft_idset_free(&test);
    ft_idset_free(&tr);
    ft_idset_free(&va);
    return st;
}

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
#define K_NFIELDS ((int)(sizeof k_fields / sizeof k_fields[0]))

/* Every figure's {mean, std} and the per-fold list into j (the shape of `cv --json`). */
static void rows_json(cJSON *j, const fold_result *fr, int run)
{
    for (int i = 0; i < K_NFIELDS; i++) {
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
        cJSON_AddStringToObject(x, "test_people", fr[f].test_people);
        cJSON_AddNumberToObject(x, "pairs", fr[f].pairs);
        for (int i = 0; i < K_NFIELDS; i++)
            cJSON_AddNumberToObject(x, k_fields[i].name, *(const double *)((const char *)&fr[f] + k_fields[i].off));
        cJSON_AddNumberToObject(x, "seconds", fr[f].seconds);
        cJSON_AddItemToArray(per, x);
    }
}

static void rows_text(const char *title, const fold_result *fr, int run)
{
    if (title) printf("%s\n", title);
    for (int i = 0; i < K_NFIELDS; i++) {
        double mu, sd;
        mean_std(fr, run, k_fields[i].off, &mu, &sd);
        printf("  %-16s %.4f +- %.4f%s\n", k_fields[i].name, mu, sd,
               !strcmp(k_fields[i].name, "best_accuracy") ? "  (oracle threshold)" : "");
    }
}

static void fold_line(const char *what, int f, int run, const fold_result *r)
{
    fprintf(stderr, "fold %d/%d%s: %d test people, %d pairs: accuracy %.4f at threshold %.4f, best %.4f, AUC %.4f, "
                    "EER %.4f (%.1f s)\n",
            f + 1, run, what, r->test_ids, r->pairs, r->accuracy, r->threshold, r->best_accuracy, r->auc, r->eer,
            r->seconds);
}

int cmd_cv(int argc, char **argv)
{
    enum { O_DATA = 256, O_ARCH, O_FOLDS, O_SEED, O_VAL, O_EPOCHS, O_BATCH, O_PAIRS, O_PERID, O_OPT, O_LR, O_WD,
           O_MARGIN, O_AUG, O_FAR, O_THR, O_OUTDIR, O_THREADS, O_JSON, O_QUIET, O_HELP, O_FIRST, O_CALIBF,
           O_BACKBONE, O_FREEZE, O_HEAD, O_NOFACE, O_ZOOM };
    static const struct option opts[] = {
        {"data", 1, 0, O_DATA},     {"arch", 1, 0, O_ARCH},         {"folds", 1, 0, O_FOLDS},
        {"seed", 1, 0, O_SEED},     {"val-identities", 1, 0, O_VAL}, {"epochs", 1, 0, O_EPOCHS},
        {"batch", 1, 0, O_BATCH},   {"pairs", 1, 0, O_PAIRS},       {"per-identity", 1, 0, O_PERID},
        {"optimizer", 1, 0, O_OPT}, {"lr", 1, 0, O_LR},             {"weight-decay", 1, 0, O_WD},
        {"margin", 1, 0, O_MARGIN}, {"augment", 1, 0, O_AUG},       {"far", 1, 0, O_FAR},
        {"threshold", 1, 0, O_THR}, {"out-dir", 1, 0, O_OUTDIR},    {"threads", 1, 0, O_THREADS},
        {"json", 0, 0, O_JSON},     {"quiet", 0, 0, O_QUIET},       {"help", 0, 0, O_HELP},
        {"first-folds", 1, 0, O_FIRST}, {"calib-folds", 1, 0, O_CALIBF},
        {"backbone", 1, 0, O_BACKBONE}, {"freeze-backbone", 0, 0, O_FREEZE}, {"head", 1, 0, O_HEAD},
        {"no-face", 1, 0, O_NOFACE}, {"zoom", 1, 0, O_ZOOM},
        CLI_PHOTO_OPTIONS,
        {0, 0, 0, 0}};
    const char *data = NULL, *arch = NULL, *out_dir = NULL, *optname = "adam", *backbone = NULL;
    long folds = FT_CV_DEFAULT_FOLDS, first = 0, calib_folds = 0, seed = 0, n_val = 4, epochs = 60, batch = -1, per_id = 4, threads = 0;
    double lr = -1, wd = 0, margin = 1.0, far = NAN, thr = NAN, zoom = -1;
    int pairs_all = 0, augment = 1, json = 0, quiet = 0, c, freeze = 0, no_head = 0, photo_given = 0;
    ft_features_opts fopts;
    ft_features_opts_defaults(&fopts);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0, ph = cli_photo_option("cv", c, optarg, &fopts.photo, &photo_given);
        if (ph < 0) return FT_EXIT_USAGE;
        if (ph) continue;
        switch (c) {
        case O_DATA: data = optarg; break;
        case O_ARCH: arch = optarg; break;
        case O_OUTDIR: out_dir = optarg; break;
        case O_OPT: optname = optarg; break;
        case O_BACKBONE: backbone = optarg; break;
        case O_FREEZE: freeze = 1; break;
        case O_NOFACE:
            if (!strcmp(optarg, "landmarks")) fopts.no_face = FT_NOFACE_LANDMARKS;
            else if (!strcmp(optarg, "whole")) fopts.no_face = FT_NOFACE_WHOLE;
            else return cli_usage("cv", "--no-face must be 'landmarks' or 'whole' (got '%s')", optarg);
            photo_given = 1;
            break;
        case O_HEAD:
            if (strcmp(optarg, "none")) return cli_usage("cv", "--head takes only 'none' (got '%s'); a head is --arch HEAD.json", optarg);
            no_head = 1;
            break;
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
        case O_ZOOM: bad = cli_float("cv", "--zoom", optarg, 0, FT_AUG_MAX_ZOOM, &zoom); break;
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
    if (freeze && !backbone) return cli_usage("cv", "--freeze-backbone needs --backbone MODEL");
    if (backbone && !freeze)
        return cli_usage("cv", "--backbone trains a head on a FROZEN backbone only: add --freeze-backbone");
    if (no_head && !backbone) return cli_usage("cv", "--head none needs --backbone MODEL (the backbone alone)");
    if (no_head && arch) return cli_usage("cv", "--head none and --arch exclude each other");
    if (!backbone && photo_given)
        return cli_usage("cv", "--canvas, --detector, --face, --rotate, --no-detect, --require-single and --no-face "
                               "apply to --backbone only");
    if (backbone && calib_folds) return cli_usage("cv", "--calib-folds does not apply to --backbone");
    if (!data || (!arch && !no_head)) return cli_usage("cv", "--data and --arch (or --backbone with --head none) are required");
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
    fold_result *fr = NULL, *fa = NULL;
    ft_features feat = {0};
    ft_ckpt bb = {0};
    int made_tmp = 0;
    ft_status st = FT_OK;
    if (arch && (st = ft_spec_resolve(arch, &spec, &err))) goto done;
    if (backbone && spec) {
        ft_net *probe;
        if ((st = ft_net_from_json(spec, &probe, &err))) goto done;
        int rc = cli_head_fits("cv", backbone, probe);
        ft_net_free(probe);
        if (rc) {
            free(spec);
            return rc;
        }
    }
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
    fa = calloc((size_t)folds, sizeof *fa);
    if (!fr || !fa) {
        st = ft_error_set(&err, FT_ENOMEM, "out of memory");
        goto done;
    }
    int run = first > 0 && first < folds ? (int)first : (int)folds; /* folds actually run */
    double t0 = ft_now();
    backbone_cv bcv = {&feat, NULL, spec, augment};
    if (backbone) {
        fopts.flip = augment && spec;
        fopts.threads = (int)threads;
        fopts.stop = o.stop;
        if ((st = cli_features_extract("cv", backbone, &ds, &fopts, quiet, &feat, &err))) goto done;
        if (out_dir && spec) {
            if ((st = ft_ckpt_read(backbone, &bb, &err))) goto done;
            bcv.bb = &bb;
        }
    }
    for (int f = 0; f < run; f++) {
        if (backbone) st = run_fold_backbone(&ds, &bcv, (int)folds, f, n_val, o, out_dir, tmp_dir, &fa[f], &fr[f], &err);
        else {
            ft_net *probe;
            if ((st = ft_net_from_json(spec, &probe, &err))) goto done;
            if (augment) fo.aug = cli_default_augment(ft_net_input(probe));
            if (augment && zoom >= 0) fo.aug.zoom = (float)zoom;
            ft_net_free(probe);
            st = run_fold(&ds, spec, (int)folds, f, n_val, (int)calib_folds, o, &fo, out_dir, tmp_dir, &fr[f], &err);
        }
        if (st) {
            if (st != FT_EINTERRUPTED) {
                char pre[32];
                snprintf(pre, sizeof pre, "fold %d", f);
                ft_error_prefix(&err, pre);
            }
            goto done;
        }
        if (!quiet) {
            if (backbone) fold_line(", backbone alone", f, run, &fa[f]);
            if (spec) fold_line(backbone ? ", head" : "", f, run, &fr[f]);
        }
    }
    double total = ft_now() - t0;
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "data", data);
        cJSON_AddStringToObject(j, "arch", arch ? arch : "none");
        cJSON_AddNumberToObject(j, "folds", (double)folds);
        cJSON_AddNumberToObject(j, "folds_run", run);
        cJSON_AddNumberToObject(j, "seed", (double)seed);
        cJSON_AddNumberToObject(j, "seconds", total);
        cJSON_AddNumberToObject(j, "threads", ft_get_threads());
        if (!backbone) rows_json(j, fr, run);
        else {
            cJSON *b = cJSON_AddObjectToObject(j, "backbone");
            cJSON_AddStringToObject(b, "model", backbone);
            cJSON_AddStringToObject(b, "model_id", feat.model_id);
            cJSON_AddBoolToObject(b, "frozen", 1);
            cJSON *fj = cJSON_AddObjectToObject(j, "features");
            cJSON_AddNumberToObject(fj, "images", feat.n);
            cJSON_AddNumberToObject(fj, "no_face", feat.n_no_face);
            cJSON_AddStringToObject(fj, "no_face_rule", fopts.no_face == FT_NOFACE_WHOLE ? "whole" : "landmarks");
            cJSON_AddBoolToObject(fj, "detected", feat.detected);
            cJSON_AddBoolToObject(fj, "mirrored", feat.x_flip != NULL);
            cJSON_AddNumberToObject(fj, "seconds", feat.seconds);
            rows_json(cJSON_AddObjectToObject(j, "pipeline"), fa, run);
            if (spec) rows_json(cJSON_AddObjectToObject(j, "head"), fr, run);
        }
        cli_print_json(j);
    } else {
        printf("%ld-fold cross-validation by identity on %s (%d identities; %d fold(s) run), %s, seed %ld, %.0f s on "
               "%d threads\n",
               folds, data, ds.n_ids, run, arch ? arch : "no head", seed, total, ft_get_threads());
        if (!backbone) rows_text(NULL, fr, run);
        else {
            printf("features of %s: %d images in %.1f s, %d without a face (whole image used)\n", feat.model_id, feat.n,
                   feat.seconds, feat.n_no_face);
            rows_text("the backbone alone (threshold calibrated on each fold's validation people):", fa, run);
            if (spec) rows_text("the head trained on the frozen backbone's features:", fr, run);
        }
        if (out_dir && spec) printf("fold models in %s/fold-<f>.ftw\n", out_dir);
    }
done:
    if (made_tmp) rmdir(tmp_dir);
    free(fr);
    free(fa);
    free(spec);
    ft_features_free(&feat);
    ft_ckpt_free(&bb);
    ft_dataset_free(&ds);
    return st ? cli_fail(&err) : FT_EXIT_OK;
}
