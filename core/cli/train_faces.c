/* train_faces.c — `facetwin train` on an identity-folder dataset.
 *
 * Split by identity (validation identities calibrate the threshold and pick
 * the best epoch; test identities, if any, are scored at the end), stream the
 * training identities' images through the loader, train, report. The split
 * is recorded in the model so `facetwin eval` can score the same test people.
 *
 * With --backbone MODEL --freeze-backbone (cli_train_backbone) the images are embedded once
 * through the frozen backbone and only a small head is trained, on those cached vectors; the
 * model written is the backbone extended by the head (include/facetwin/backbone.h), so it
 * runs on photos wherever the backbone did.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "facetwin/runtime.h"

#define FT_TEST_PAIR_SEED 0 /* test pairs: the same list for `train` and `eval` (default --seed) */

int cli_train_faces(ft_net *net, ft_train_opts *o, const cli_face_args *a)
{
    ft_error err = {0};
    ft_dataset ds = {0};
    ft_idset tr = {0}, va = {0}, te = {0};
    ft_source *src = NULL;
    ft_evalset *vs = NULL;
    char *split = NULL;
    cli_pairs_eval ev = {0}, inner = {0};
    int have_test = 0;
    ft_status st = cli_dataset_open(a->data, &ds, &err);
    if (st) goto done;
    if ((st = ft_dataset_split(&ds, (int)a->val_ids, (int)a->test_ids, a->order, o->seed, &tr, &va, &te, &err)))
        goto done;
    ft_faceset_opts fo;
    ft_faceset_opts_defaults(&fo);
    if (a->augment) fo.aug = cli_default_augment(ft_net_input(net));
    if (a->augment && a->shift >= 0) fo.aug.shift = (int)a->shift;
    if (a->augment && a->zoom >= 0) fo.aug.zoom = (float)a->zoom;
    if (a->cache_mb >= 0) fo.cache_bytes = (size_t)a->cache_mb << 20;
    fo.max_pos = (int)a->max_pos;
    fo.warn = cli_warn;
    split = cli_split_json(&ds, a->order == FT_SPLIT_ORDERED ? "ordered" : "shuffled", &tr, &va, &te);
    if (!split) {
        st = ft_error_set(&err, FT_ENOMEM, "out of memory");
        goto done;
    }
    o->split_json = split;
    if (a->calib_folds > 0) {
        char scratch[4200];
        snprintf(scratch, sizeof scratch, "%s.inner", a->out);
        if (!a->quiet)
            fprintf(stderr, "facetwin train: calibrating the threshold by inner %ld-fold cross-validation over the %d "
                            "training identities (%ld extra models)\n", a->calib_folds, tr.n, a->calib_folds);
        if ((st = cli_inner_calibration(&ds, &tr, ft_net_spec_json(net), o, &fo, (int)a->calib_folds, scratch, &inner,
                                        &err)))
            goto done;
        o->calib_dist = inner.dist;
        o->calib_same = inner.same;
        o->calib_n = inner.n;
        o->calib_identities = tr.n;
        o->calib_source = "inner cross-validation over the training identities";
    }
    if ((st = ft_source_dataset_new(&ds, &tr, ft_net_input(net), o, &fo, &src, &err))) goto done;
    if (va.n > 0 &&
        (st = ft_evalset_dataset_new(&ds, &va, ft_net_input(net), o->seed ^ FT_VAL_PAIRS_TAG, &fo, &vs, &err)))
        goto done;
    if (!vs && !o->calib_n && o->calib != FT_CALIB_FIXED) {
        st = ft_error_set(&err, FT_EINVAL, "calibrating the threshold needs validation identities "
                                           "(--val-identities N), or give --threshold X");
        goto done;
    }
    if (!a->quiet)
        fprintf(stderr,
                "facetwin train: %s (%zu parameters, %.1f MFLOP/image) on %s: %d identities for training (%d images), "
                "%d for validation, %d for test; pairs %s, batch %d, %s lr %g, %d threads\n",
                ft_net_name(net), ft_net_param_count(net), ft_net_flops(net) / 1e6, a->data, tr.n, src->n_images, va.n,
                te.n, o->pairs == FT_PAIRS_BATCH ? "in-batch" : "all", o->batch, ft_opt_kind_name(o->opt.kind),
                o->opt.lr, ft_get_threads());
    ft_train_result res;
    if ((st = ft_train_source(net, src, vs, o, &res, &err))) goto done;
    ft_loader_stats ls;
    ft_source_dataset_stats(src, &ls);
    double wait = res.seconds > 0 ? ls.wait_seconds / res.seconds : 0;
    if (!a->notest && te.n > 0) {
        if ((st = cli_eval_identities(net, &ds, &te, res.calibration.threshold, FT_TEST_PAIR_SEED, &fo, &ev, &err)))
            goto done;
        have_test = 1;
    }
    const ft_calibration *c = &res.calibration;
    if (a->json) {
        cJSON *j = cli_train_json(a->out, &res, 1);
        cJSON_AddNumberToObject(j, "images_per_sec", res.images_per_sec);
        cJSON *lj = cJSON_AddObjectToObject(j, "loader");
        cJSON_AddNumberToObject(lj, "wait_seconds", ls.wait_seconds);
        cJSON_AddNumberToObject(lj, "wait_fraction", wait);
        cJSON_AddNumberToObject(lj, "decode_seconds", ls.work_seconds);
        cJSON_AddNumberToObject(lj, "images", (double)ls.images);
        cJSON_AddNumberToObject(lj, "failures", (double)ls.failures);
        cJSON_AddBoolToObject(lj, "cache", ls.cache_enabled);
        cJSON_AddNumberToObject(j, "peak_rss_mb", ft_peak_rss_mb());
        if (have_test) cJSON_AddItemToObject(j, "test", cli_metrics_json(&ev.m));
        cli_print_json(j);
    } else {
        printf("trained %s in %.1f s (%.0f pairs/s, %.0f images/s); model written to %s\n", ft_net_name(net),
               res.seconds, res.pairs_per_sec, res.images_per_sec, a->out);
        if (isfinite(res.best_val_loss))
            printf("best validation loss %.5f at epoch %d (kept)\n", res.best_val_loss, res.best_epoch + 1);
        if (c->rule == FT_CALIB_FIXED) printf("threshold %.4f (fixed)\n", c->threshold);
        else
            printf("threshold %.4f calibrated (%s) on %d pairs of %d held-out identities (%s): FAR %.4f FRR %.4f, "
                   "EER %.4f\n",
                   c->threshold, ft_calib_rule_name(c->rule), c->val_pairs, c->val_identities,
                   o->calib_n ? "inner cross-validation" : "validation", c->far, c->frr, c->eer);
        printf("loader: waited %.1f s of %.1f s (%.1f%%), cache %s, peak RSS %.0f MB\n", ls.wait_seconds, res.seconds,
               100 * wait, ls.cache_enabled ? "on" : "off", ft_peak_rss_mb());
        if (have_test)
            printf("test pairs %d (%d identities): accuracy %.4f at threshold %.4f, best %.4f (oracle), AUC %.4f, "
                   "EER %.4f\n",
                   ev.m.pairs, te.n, ev.m.accuracy, ev.m.threshold, ev.m.best_accuracy, ev.m.auc, ev.m.eer);
    }
done:
    cli_pairs_eval_free(&ev);
    cli_pairs_eval_free(&inner);
    ft_source_free(src);
    ft_evalset_free(vs);
    free(split);
    ft_idset_free(&tr);
    ft_idset_free(&va);
    ft_idset_free(&te);
    ft_dataset_free(&ds);
    return st ? cli_fail(&err) : FT_EXIT_OK;
}

/* The head's checkpoint (written by the loop to a scratch file) + the backbone -> out. */
static ft_status write_composed(const char *backbone, const char *head_path, const char *out, ft_error *err)
{
    ft_ckpt bb = {0}, hd = {0}, all = {0};
    ft_status st = ft_ckpt_read(backbone, &bb, err);
    if (!st) st = ft_ckpt_read(head_path, &hd, err);
    if (!st) st = ft_backbone_compose(&bb, &hd, &all, err);
    if (!st) st = ft_ckpt_write(out, &all, err);
    ft_ckpt_free(&bb);
    ft_ckpt_free(&hd);
    ft_ckpt_free(&all);
    return st;
}

int cli_train_backbone(const char *backbone, const ft_features_opts *fopts, ft_net *head, ft_train_opts *o,
                       const cli_face_args *a)
{
    ft_error err = {0};
    ft_dataset ds = {0};
    ft_idset tr = {0}, va = {0}, te = {0};
    ft_features f = {0};
    ft_labelled trs = {0}, vas = {0}, tes = {0};
    ft_source *src = NULL;
    ft_evalset *vs = NULL;
    char *split = NULL, scratch[4200], desc[4300];
    cli_pairs_eval ev = {0}, alone = {0};
    ft_calibration alone_cal;
    int have_test = 0;
    snprintf(scratch, sizeof scratch, "%s.head", a->out);
    ft_status st = cli_dataset_open(a->data, &ds, &err);
    if (st) goto done;
    if ((st = ft_dataset_split(&ds, (int)a->val_ids, (int)a->test_ids, a->order, o->seed, &tr, &va, &te, &err)))
        goto done;
    split = cli_split_json(&ds, a->order == FT_SPLIT_ORDERED ? "ordered" : "shuffled", &tr, &va, &te);
    if (!split) {
        st = ft_error_set(&err, FT_ENOMEM, "out of memory");
        goto done;
    }
    if ((st = cli_features_extract("train", backbone, &ds, fopts, a->quiet, &f, &err))) goto done;
    if ((st = ft_features_select(&f, &ds, &tr, a->augment, &trs, &err))) goto done;
    if (va.n && (st = ft_features_select(&f, &ds, &va, 0, &vas, &err))) goto done;
    if (te.n && (st = ft_features_select(&f, &ds, &te, 0, &tes, &err))) goto done;
    snprintf(desc, sizeof desc, "%s (features of the frozen backbone %s%s%s)", a->data, f.model_id,
             fopts->flip ? ", mirrored copies" : "", f.n_no_face ? "; whole image where no face was found" : "");
    o->data_desc = desc;
    o->split_json = split;
    o->out_path = scratch;
    o->stop = NULL; /* seconds of work: no resume state */
    if ((st = ft_source_labelled_new(&trs, o, &src, &err))) goto done;
    if (vas.n && (st = ft_evalset_features_new(&vas, o->seed ^ FT_VAL_PAIRS_TAG, &vs, &err))) goto done;
    if (!vs && o->calib != FT_CALIB_FIXED) {
        st = ft_error_set(&err, FT_EINVAL, "calibrating the threshold needs validation identities "
                                           "(--val-identities N), or give --threshold X");
        goto done;
    }
    if (!a->quiet)
        fprintf(stderr,
                "facetwin train: head %s (%zu parameters) on the frozen backbone %s: %d identities for training (%d "
                "vectors), %d for validation, %d for test; pairs %s, batch %d, %s lr %g\n",
                ft_net_name(head), ft_net_param_count(head), f.model_id, tr.n, trs.n, va.n, te.n,
                o->pairs == FT_PAIRS_BATCH ? "in-batch" : "all", o->batch, ft_opt_kind_name(o->opt.kind), o->opt.lr);
    ft_train_result res;
    if ((st = ft_train_source(head, src, vs, o, &res, &err))) goto done;
    if ((st = write_composed(backbone, scratch, a->out, &err))) goto done;
    if (!a->notest && te.n > 0) {
        if ((st = cli_eval_features(head, &tes, res.calibration.threshold, FT_TEST_PAIR_SEED, &ev, &err))) goto done;
        if (vas.n && (st = cli_backbone_alone(&vas, &tes, o, &alone_cal, &alone, &err))) goto done;
        have_test = 1;
    }
    const ft_calibration *c = &res.calibration;
    if (a->json) {
        cJSON *j = cli_train_json(a->out, &res, 1);
        cJSON_AddStringToObject(j, "backbone", f.model_id);
        cJSON *fj = cJSON_AddObjectToObject(j, "features");
        cJSON_AddNumberToObject(fj, "images", f.n);
        cJSON_AddNumberToObject(fj, "no_face", f.n_no_face);
        cJSON_AddStringToObject(fj, "no_face_rule", fopts->no_face == FT_NOFACE_WHOLE ? "whole" : "landmarks");
        cJSON_AddBoolToObject(fj, "detected", f.detected);
        cJSON_AddBoolToObject(fj, "mirrored", f.x_flip != NULL);
        cJSON_AddNumberToObject(fj, "seconds", f.seconds);
        if (have_test) {
            cJSON_AddItemToObject(j, "test", cli_metrics_json(&ev.m));
            if (alone.n) cJSON_AddItemToObject(j, "test_backbone_alone", cli_metrics_json(&alone.m));
        }
        cli_print_json(j);
    } else {
        printf("trained head %s in %.2f s on the features of %s (%d images, %.1f s); model written to %s\n",
               ft_net_name(head), res.seconds, f.model_id, f.n, f.seconds, a->out);
        if (isfinite(res.best_val_loss))
            printf("best validation loss %.5f at epoch %d (kept)\n", res.best_val_loss, res.best_epoch + 1);
        printf("threshold %.4f (%s)\n", c->threshold, ft_calib_rule_name(c->rule));
        if (have_test) {
            printf("test pairs %d (%d identities): accuracy %.4f at threshold %.4f, best %.4f (oracle), AUC %.4f, "
                   "EER %.4f\n",
                   ev.m.pairs, te.n, ev.m.accuracy, ev.m.threshold, ev.m.best_accuracy, ev.m.auc, ev.m.eer);
            if (alone.n)
                printf("the backbone alone on the same pairs: accuracy %.4f at threshold %.4f (calibrated the same "
                       "way), best %.4f, AUC %.4f, EER %.4f\n",
                       alone.m.accuracy, alone.m.threshold, alone.m.best_accuracy, alone.m.auc, alone.m.eer);
        }
    }
done:
    unlink(scratch);
    snprintf(desc, sizeof desc, "%s%s", scratch, FT_RESUME_SUFFIX);
    unlink(desc);
    cli_pairs_eval_free(&ev);
    cli_pairs_eval_free(&alone);
    ft_source_free(src);
    ft_evalset_free(vs);
    ft_labelled_free(&trs);
    ft_labelled_free(&vas);
    ft_labelled_free(&tes);
    ft_features_free(&f);
    free(split);
    ft_idset_free(&tr);
    ft_idset_free(&va);
    ft_idset_free(&te);
    ft_dataset_free(&ds);
    return st ? cli_fail(&err) : FT_EXIT_OK;
}
