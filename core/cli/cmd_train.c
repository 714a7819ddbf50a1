/* cmd_train.c — `facetwin train`: load data, build or resume the encoder,
 * run ft_train with a progress display, and report test-pair figures.
 *
 * Progress: on a terminal a single redrawn bar with pairs/s, ETA and the
 * running loss; otherwise one plain line per epoch (logs stay readable).
 * Ctrl-C sets a flag; the loop stops at the next step and writes OUT.resume.
 *
 * --backbone MODEL --freeze-backbone trains only a head (--arch HEAD.json) on the frozen
 * backbone's features, computed once (train_faces.c, include/facetwin/backbone.h).
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "facetwin/runtime.h"

#define FT_DEFAULT_VAL_FRACTION_ALL 0.1
#define FT_FACES_DEFAULT_EPOCHS 60
#define FT_FACES_DEFAULT_BATCH 32
#define FT_PROGRESS_INTERVAL_S 0.25
#define FT_BAR_WIDTH 28

static void help(void)
{
    printf("usage: facetwin train --data IDX_PREFIX|DIR --arch NAME|SPEC.json --out MODEL [options]\n"
           "\n"
           "Trains a Siamese encoder with the contrastive loss (label 1 = same).\n"
           "DATA is an IDX set (a prefix, or a DIR holding train-/t10k-images-idx3-ubyte[.gz]:\n"
           "after training the t10k pairs are evaluated) or an identity-folder DIR (one\n"
           "sub-directory of images per person: split by identity, streamed from disk).\n"
           "Presets:");
    for (const char *const *p = ft_spec_presets(); *p; p++) printf(" %s", *p);
    printf("\n\noptions:\n"
           "  --epochs N            epochs (20)\n"
           "  --batch N             pairs per step (128)\n"
           "  --lr X                learning rate (1e-3; sgd 1e-2)\n"
           "  --optimizer NAME      rmsprop | adam | sgd (rmsprop)\n"
           "  --momentum X          sgd momentum (0.9)\n"
           "  --weight-decay X      L2 on conv/dense weights (0)\n"
           "  --margin X            contrastive margin (1.0)\n"
           "  --pairs keras|all     keras: the reference's fixed pairs; all: fresh random\n"
           "                        positives + equal negatives each epoch (all)\n"
           "  --pairs-per-epoch N   for --pairs all (2 x training images)\n"
           "  --val-fraction X      hold out the last X of the training images for validation\n"
           "                        (0.1 with --pairs all, 0 with --pairs keras); the best\n"
           "                        epoch by validation loss is kept\n"
           "  --plateau-factor X    reduce LR by X after --plateau-patience epochs without\n"
           "  --plateau-patience N  improvement of the validation loss (off; patience 10)\n"
           "  --min-lr X            floor for the plateau schedule (0)\n"
           "  --threshold X         store this fixed threshold instead of calibrating (the\n"
           "                        reference's rule is 0.5; IDX data without validation: 0.5)\n"
           "  --far X               calibrate at the largest threshold with validation FAR <= X\n"
           "                        (default: the validation equal-error point)\n"
           "  --seed N              seed for init, pairs, shuffling, dropout (0)\n"
           "  --threads N           BLAS threads; with --backbone also the extraction threads (cores)\n"
           "  --shift N             IDX data, --pairs all: move every training image by up to N\n"
           "                        pixels in x and y, seeded (off; identity folders: see below)\n"
           "identity folders:\n"
           "  --val-identities N    identities held out to calibrate and pick the best epoch (4)\n"
           "  --test-identities N   identities held out and scored at the end (0)\n"
           "  --split shuffled|ordered  ordered: test = the last N identities in natural order\n"
           "                        (s1 < s2 < s10), validation the N before; shuffled: seeded (shuffled)\n"
           "  --pairs batch|all     batch: every pair inside each batch of images (default);\n"
           "                        all: every same-identity pair + as many different pairs\n"
           "  --batch N             images per step (batch: 32) or pairs per step (all: 128)\n"
           "  --per-identity K      images of one identity together in a batch (4)\n"
           "  --augment on|off      flips, shifts, brightness/contrast in the loader (on)\n"
           "  --shift N             maximum shift in pixels (1/16 of the input width)\n"
           "  --zoom X              random zoom in [1-X, 1+X] (0.12; ORL photographs people at\n"
           "                        varying distances)\n"
           "  --cache-mb N          keep decoded images if the set fits in N MB (256)\n"
           "  --max-pos N           --pairs all: at most N positive pairs per epoch (all)\n"
           "  --calib-folds J       choose the threshold on ALL training people by inner J-fold\n"
           "                        cross-validation (J extra models) instead of validation people\n"
           "  Unreadable images are skipped with a warning naming the file.\n"
           "  --resume FILE         continue from MODEL.resume (written each epoch and on Ctrl-C)\n"
           "  --no-test             skip the final test-pair evaluation\n"
           "  --json                print the final summary as one JSON object\n"
           "  --quiet               no progress output\n"
           "a head on a frozen backbone (identity folders):\n"
           "  --backbone MODEL      a pretrained checkpoint (e.g. 'facetwin import --from face-api'); every\n"
           "                        image is embedded ONCE through it (--threads N threads) and only the\n"
           "                        head --arch HEAD.json (input: the backbone's embedding, e.g. the\n"
           "                        head-dense128 preset) is trained, on the cached vectors\n"
           "  --freeze-backbone     required with --backbone (the backbone is never trained)\n"
           "  --augment on|off      with --backbone: also the mirrored faces' vectors (on)\n"
           "  --no-face landmarks|whole  an image where no face is found (counted, reported):\n"
           "                        landmarks: the whole image taken as the face box, then the\n"
           "                        usual landmarks and crop (tight crops such as ORL); whole:\n"
           "                        the whole image stretched to the encoder's input (landmarks)\n"
           "  MODEL is the backbone extended by the head: embed, verify and facetwind use it on\n"
           "  photos as they used the backbone.\n"
           CLI_PHOTO_HELP);
}

typedef struct {
    int tty, quiet;
    double last;
} progress_ctx;

static void fmt_time(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0) s = 0;
    long t = (long)(s + 0.5);
    snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
}

static void on_progress(const ft_train_progress *p, void *vctx)
{
    progress_ctx *c = vctx;
    if (c->quiet) return;
    char eta[32];
    fmt_time(p->eta, eta, sizeof eta);
    if (p->epoch_done) {
        char el[32];
        fmt_time(p->elapsed, el, sizeof el);
        if (c->tty) fprintf(stderr, "\r\033[K");
        fprintf(stderr, "epoch %d/%d  loss %.5f", p->epoch + 1, p->epochs, p->train_loss);
        if (!isnan(p->val_loss))
            fprintf(stderr, "  val_loss %.5f  val_acc %.4f%s", p->val_loss, p->val_accuracy, p->best ? " *" : "");
        fprintf(stderr, "  lr %.2g  %.0f pairs/s  elapsed %s  eta %s\n", p->lr, p->pairs_per_sec, el, eta);
        return;
    }
    if (!c->tty) return;
    double now = ft_now();
    if (now - c->last < FT_PROGRESS_INTERVAL_S && p->step != p->steps) return;
    c->last = now;
    int fill = (int)((double)p->step / p->steps * FT_BAR_WIDTH);
    char bar[FT_BAR_WIDTH + 1];
    for (int i = 0; i < FT_BAR_WIDTH; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[FT_BAR_WIDTH] = 0;
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %3d%%  loss %.5f  %.0f pairs/s  eta %s", p->epoch + 1, p->epochs,
            bar, 100 * p->step / p->steps, p->train_loss, p->pairs_per_sec, eta);
}

enum {
    O_DATA = 256, O_ARCH, O_OUT, O_EPOCHS, O_BATCH, O_LR, O_OPT, O_MOM, O_WD, O_MARGIN, O_PAIRS, O_PPE,
    O_VAL, O_PF, O_PP, O_MINLR, O_THR, O_SEED, O_THREADS, O_RESUME, O_NOTEST, O_JSON, O_QUIET, O_HELP,
    O_FAR, O_VALID, O_TESTID, O_SPLIT, O_PERID, O_AUG, O_SHIFT, O_CACHE, O_MAXPOS, O_CALIBF, O_BACKBONE, O_FREEZE, O_NOFACE, O_ZOOM
};

int cmd_train(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", 1, 0, O_DATA}, {"arch", 1, 0, O_ARCH}, {"out", 1, 0, O_OUT}, {"epochs", 1, 0, O_EPOCHS},
        {"batch", 1, 0, O_BATCH}, {"lr", 1, 0, O_LR}, {"optimizer", 1, 0, O_OPT}, {"momentum", 1, 0, O_MOM},
        {"weight-decay", 1, 0, O_WD}, {"margin", 1, 0, O_MARGIN}, {"pairs", 1, 0, O_PAIRS},
        {"pairs-per-epoch", 1, 0, O_PPE}, {"val-fraction", 1, 0, O_VAL}, {"plateau-factor", 1, 0, O_PF},
        {"plateau-patience", 1, 0, O_PP}, {"min-lr", 1, 0, O_MINLR}, {"threshold", 1, 0, O_THR},
        {"seed", 1, 0, O_SEED}, {"threads", 1, 0, O_THREADS}, {"resume", 1, 0, O_RESUME},
        {"no-test", 0, 0, O_NOTEST}, {"json", 0, 0, O_JSON}, {"quiet", 0, 0, O_QUIET}, {"help", 0, 0, O_HELP},
        {"far", 1, 0, O_FAR}, {"val-identities", 1, 0, O_VALID}, {"test-identities", 1, 0, O_TESTID},
        {"split", 1, 0, O_SPLIT}, {"per-identity", 1, 0, O_PERID}, {"augment", 1, 0, O_AUG},
        {"shift", 1, 0, O_SHIFT}, {"cache-mb", 1, 0, O_CACHE}, {"max-pos", 1, 0, O_MAXPOS},
        {"calib-folds", 1, 0, O_CALIBF}, {"backbone", 1, 0, O_BACKBONE}, {"freeze-backbone", 0, 0, O_FREEZE},
        {"no-face", 1, 0, O_NOFACE}, {"zoom", 1, 0, O_ZOOM},
        CLI_PHOTO_OPTIONS, {0, 0, 0, 0}};
    const char *data = NULL, *arch = NULL, *out = NULL, *resume = NULL, *optname = "rmsprop";
    long epochs = -1, batch = -1, ppe = 0, seed = 0, threads = 0, pp = 10;
    double lr = -1, mom = 0.9, wd = 0, margin = 1.0, val = -1, pf = 0, minlr = 0, thr = NAN, far = NAN;
    long per_id = 4;
    int keras = 0, pairs_batch = -1, notest = 0, json = 0, quiet = 0, c, opt_given = 0;
    const char *backbone = NULL;
    int freeze = 0, photo_given = 0;
    ft_features_opts fopts;
    ft_features_opts_defaults(&fopts);
    cli_face_args fa = {0};
    fa.val_ids = 4;
    fa.augment = 1;
    fa.shift = -1;
    fa.zoom = -1;
    fa.cache_mb = -1;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0, ph = cli_photo_option("train", c, optarg, &fopts.photo, &photo_given);
        if (ph < 0) return FT_EXIT_USAGE;
        if (ph) continue;
        switch (c) {
        case O_BACKBONE: backbone = optarg; break;
        case O_FREEZE: freeze = 1; break;
        case O_NOFACE:
            if (!strcmp(optarg, "landmarks")) fopts.no_face = FT_NOFACE_LANDMARKS;
            else if (!strcmp(optarg, "whole")) fopts.no_face = FT_NOFACE_WHOLE;
            else return cli_usage("train", "--no-face must be 'landmarks' or 'whole' (got '%s')", optarg);
            photo_given = 1;
            break;
        case O_DATA: data = optarg; break;
        case O_ARCH: arch = optarg; break;
        case O_OUT: out = optarg; break;
        case O_EPOCHS: bad = cli_int("train", "--epochs", optarg, 1, 100000, &epochs); break;
        case O_BATCH: bad = cli_int("train", "--batch", optarg, 1, 65536, &batch); break;
        case O_LR: bad = cli_float("train", "--lr", optarg, 1e-12, 10, &lr); break;
        case O_OPT: optname = optarg; opt_given = 1; break;
        case O_MOM: bad = cli_float("train", "--momentum", optarg, 0, 0.9999, &mom); break;
        case O_WD: bad = cli_float("train", "--weight-decay", optarg, 0, 1, &wd); break;
        case O_MARGIN: bad = cli_float("train", "--margin", optarg, 1e-6, 1e6, &margin); break;
        case O_PAIRS:
            if (!strcmp(optarg, "keras")) keras = 1, pairs_batch = 0;
            else if (!strcmp(optarg, "all")) keras = 0, pairs_batch = 0;
            else if (!strcmp(optarg, "batch")) keras = 0, pairs_batch = 1;
            else return cli_usage("train", "--pairs must be 'keras', 'all' or 'batch' (got '%s')", optarg);
            break;
        case O_PPE: bad = cli_int("train", "--pairs-per-epoch", optarg, 2, 100000000, &ppe); break;
        case O_VAL: bad = cli_float("train", "--val-fraction", optarg, 0, 0.9, &val); break;
        case O_PF: bad = cli_float("train", "--plateau-factor", optarg, 0, 0.999, &pf); break;
        case O_PP: bad = cli_int("train", "--plateau-patience", optarg, 0, 100000, &pp); break;
        case O_MINLR: bad = cli_float("train", "--min-lr", optarg, 0, 10, &minlr); break;
        case O_THR: bad = cli_float("train", "--threshold", optarg, 0, 1e6, &thr); break;
        case O_FAR: bad = cli_float("train", "--far", optarg, 0, 0.999999, &far); break;
        case O_VALID: bad = cli_int("train", "--val-identities", optarg, 0, 1000000, &fa.val_ids); break;
        case O_TESTID: bad = cli_int("train", "--test-identities", optarg, 0, 1000000, &fa.test_ids); break;
        case O_SPLIT:
            if (!strcmp(optarg, "ordered")) fa.order = FT_SPLIT_ORDERED;
            else if (!strcmp(optarg, "shuffled")) fa.order = FT_SPLIT_SHUFFLED;
            else return cli_usage("train", "--split must be 'shuffled' or 'ordered' (got '%s')", optarg);
            break;
        case O_PERID: bad = cli_int("train", "--per-identity", optarg, 2, 4096, &per_id); break;
        case O_AUG:
            if (!strcmp(optarg, "on")) fa.augment = 1;
            else if (!strcmp(optarg, "off")) fa.augment = 0;
            else return cli_usage("train", "--augment must be 'on' or 'off' (got '%s')", optarg);
            break;
        case O_SHIFT: bad = cli_int("train", "--shift", optarg, 0, 1024, &fa.shift); break;
        case O_ZOOM: bad = cli_float("train", "--zoom", optarg, 0, FT_AUG_MAX_ZOOM, &fa.zoom); break;
        case O_CACHE: bad = cli_int("train", "--cache-mb", optarg, 0, 1L << 20, &fa.cache_mb); break;
        case O_CALIBF: bad = cli_int("train", "--calib-folds", optarg, 0, 100, &fa.calib_folds); break;
        case O_MAXPOS: bad = cli_int("train", "--max-pos", optarg, 1, 100000000, &fa.max_pos); break;
        case O_SEED: bad = cli_int("train", "--seed", optarg, 0, 0x7fffffffL, &seed); break;
        case O_THREADS: bad = cli_int("train", "--threads", optarg, 1, 1024, &threads); break;
        case O_RESUME: resume = optarg; break;
        case O_NOTEST: notest = 1; break;
        case O_JSON: json = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_HELP: help(); return FT_EXIT_OK;
        default: return cli_usage("train", "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (bad) return FT_EXIT_USAGE;
    }
    if (optind < argc) return cli_usage("train", "unexpected argument '%s'", argv[optind]);
    if (!data || !arch || !out) return cli_usage("train", "--data, --arch and --out are required");
    if (!isnan(thr) && !isnan(far)) return cli_usage("train", "--threshold and --far exclude each other");
    int faces = cli_is_identity_dir(data);
    if (faces && keras) return cli_usage("train", "--pairs keras is for IDX data; identity folders take 'batch' or 'all'");
    if (!faces && pairs_batch == 1) return cli_usage("train", "--pairs batch is for identity folders");
    if (faces && !opt_given) optname = "adam";
    if (freeze && !backbone) return cli_usage("train", "--freeze-backbone needs --backbone MODEL");
    if (backbone && !freeze)
        return cli_usage("train", "--backbone trains a head on a FROZEN backbone only: add --freeze-backbone");
    if (!backbone && photo_given)
        return cli_usage("train", "--canvas, --detector, --face, --rotate, --no-detect, --require-single and --no-face "
                                  "apply to --backbone only");
    if (backbone && !faces) return cli_usage("train", "--backbone needs identity-folder data (--data DIR)");
    if (backbone && (resume || fa.calib_folds || fa.shift >= 0 || fa.zoom >= 0 || fa.cache_mb >= 0)) /* -1: not given */
        return cli_usage("train", "--resume, --calib-folds, --shift, --zoom and --cache-mb do not apply to --backbone "
                                  "(the head trains in seconds on cached vectors)");
    if (!faces && keras && fa.shift > 0)
        return cli_usage("train", "--shift does not apply to --pairs keras (the reference's recipe, unaugmented)");
    ft_set_threads((int)threads);

    ft_error err = {0};
    ft_status st;
    ft_train_opts o;
    ft_train_opts_defaults(&o);
    ft_opt_kind kind;
    if ((st = ft_opt_kind_parse(optname, &kind, &err))) return cli_usage("train", "%s", err.msg);
    o.opt = ft_optim_defaults(kind);
    if (lr > 0) o.opt.lr = (float)lr;
    o.opt.momentum = (float)mom;
    o.opt.weight_decay = (float)wd;
    if (epochs > 0) o.epochs = (int)epochs;
    else if (faces) o.epochs = FT_FACES_DEFAULT_EPOCHS;
    if (batch > 0) o.batch = (int)batch;
    else if (faces && pairs_batch != 0) o.batch = FT_FACES_DEFAULT_BATCH;
    o.per_class = (int)per_id;
    o.margin = (float)margin;
    o.pairs_per_epoch = (int)ppe;
    o.seed = (uint64_t)seed;
    o.pairs = keras ? FT_PAIRS_KERAS : FT_PAIRS_ALL;
    if (faces && pairs_batch != 0) o.pairs = FT_PAIRS_BATCH;
    o.threshold = isnan(thr) ? 0.5f : (float)thr;
    o.calib = !isnan(thr) ? FT_CALIB_FIXED : !isnan(far) ? FT_CALIB_FAR : FT_CALIB_EER;
    o.far_target = isnan(far) ? 0 : far;
    o.plateau_factor = (float)pf;
    o.plateau_patience = (int)pp;
    o.min_lr = (float)minlr;
    o.out_path = out;
    o.resume_path = resume;
    o.data_desc = data;
    if (!faces && fa.augment && fa.shift > 0) o.shift = (int)fa.shift; /* IDX: off unless given */
    if (val < 0) val = keras ? 0.0 : FT_DEFAULT_VAL_FRACTION_ALL;

    char *spec = NULL, prefix[4096], tprefix[4096];
    ft_net *net = NULL;
    ft_idx_set raw = {0};
    ft_labelled train = {0}, valset = {0}, test = {0};
    cli_pairs_eval ev = {0};
    int rc = FT_EXIT_ERROR;
    if ((st = ft_spec_resolve(arch, &spec, &err)) || (st = ft_net_from_json(spec, &net, &err))) {
        if (st == FT_EINVAL && strncmp(err.msg, arch, strlen(arch))) ft_error_prefix(&err, arch);
        goto done;
    }
    ft_net_init(net, o.seed);
    if (backbone && (rc = cli_head_fits("train", backbone, net))) goto done;
    progress_ctx pc = {isatty(2), quiet, 0};
    o.progress = on_progress;
    o.progress_ctx = &pc;
    o.stop = cli_stop_on_signals();
    if (faces) {
        fa.data = data;
        fa.out = out;
        fa.json = json;
        fa.quiet = quiet;
        fa.notest = notest;
        fopts.flip = fa.augment;
        fopts.threads = (int)threads;
        fopts.stop = o.stop;
        rc = backbone ? cli_train_backbone(backbone, &fopts, net, &o, &fa) : cli_train_faces(net, &o, &fa);
        goto done;
    }
    if ((st = cli_idx_prefix(data, "train", prefix, sizeof prefix, &err))) goto done;
    if ((st = ft_idx_set_load(prefix, &raw, &err))) goto done;
    st = ft_labelled_from_idx(&raw, ft_net_input(net), &train, &err);
    ft_idx_set_free(&raw);
    if (st) goto done;
    int nval = (int)(val * train.n);
    if (nval > 0 && (st = ft_labelled_split_tail(&train, nval, &valset, &err))) goto done;

    if (!quiet) {
        fprintf(stderr, "facetwin train: %s (%zu parameters, %.1f MFLOP/image) on %d images (%d for validation), "
                        "pairs %s, %s lr %g, batch %d, %d threads\n",
                ft_net_name(net), ft_net_param_count(net), ft_net_flops(net) / 1e6, train.n, valset.n,
                keras ? "keras" : "all", ft_opt_kind_name(kind), o.opt.lr, o.batch, ft_get_threads());
    }
    ft_train_result res;
    st = ft_train(net, &train, valset.n ? &valset : NULL, &o, &res, &err);
    if (st) goto done;

    int have_test = 0;
    if (!notest && cli_idx_prefix(data, "t10k", tprefix, sizeof tprefix, NULL) == FT_OK && strcmp(tprefix, prefix)) {
        if ((st = ft_idx_set_load(tprefix, &raw, &err))) goto done;
        st = ft_labelled_from_idx(&raw, ft_net_input(net), &test, &err);
        ft_idx_set_free(&raw);
        if (st || (st = cli_eval_pairs(net, &test, res.calibration.threshold, 0, &ev, &err))) goto done;
        have_test = 1;
    }
    if (json) {
        cJSON *j = cli_train_json(out, &res, 0);
        if (have_test) cJSON_AddItemToObject(j, "test", cli_metrics_json(&ev.m));
        cli_print_json(j);
    } else {
        printf("trained %s in %.1f s (%.0f pairs/s); model written to %s\n", ft_net_name(net), res.seconds,
               res.pairs_per_sec, out);
        if (isfinite(res.best_val_loss))
            printf("best validation loss %.5f at epoch %d (kept)\n", res.best_val_loss, res.best_epoch + 1);
        printf("threshold %.4f (%s)\n", res.calibration.threshold, ft_calib_rule_name(res.calibration.rule));
        if (have_test)
            printf("test pairs %d: accuracy %.4f at threshold %g, best %.4f (oracle), AUC %.4f, EER %.4f\n",
                   ev.m.pairs, ev.m.accuracy, ev.m.threshold, ev.m.best_accuracy, ev.m.auc, ev.m.eer);
    }
    rc = FT_EXIT_OK;
done:
    if (st) rc = cli_fail(&err);
    free(spec);
    ft_net_free(net);
    ft_labelled_free(&train);
    ft_labelled_free(&valset);
    ft_labelled_free(&test);
    cli_pairs_eval_free(&ev);
    return rc;
}
