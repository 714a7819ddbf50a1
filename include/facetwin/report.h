/* facetwin/report.h — the evaluation report: one self-contained HTML page.
 *
 * `facetwin eval --report FILE` writes it. The page has no external resource
 * (no script, font, stylesheet or image fetched: everything is inline SVG and
 * CSS), so it opens from a file in any browser and can be mailed around. It
 * shows:
 *   - a table of the figures (pairs, accuracy at the applied threshold and at
 *     the best threshold, AUC, EER, TAR at FAR 1e-2 and 1e-3, threshold rule);
 *   - the histogram of same-person vs different-person distances, with the
 *     applied threshold as a vertical line (the reference's plot);
 *   - the ROC curve (TAR against FAR, log-scaled FAR axis) of the evaluated
 *     pairs, and the validation ROC stored at calibration when present;
 *   - the training curves (train loss, validation loss, validation accuracy
 *     per epoch) from the checkpoint's history when present.
 * Every string from outside (titles, names, paths) is HTML-escaped.
 */
#ifndef FACETWIN_REPORT_H
#define FACETWIN_REPORT_H

#include <stdint.h>

#include "facetwin/metrics.h"
#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *title;          /* page title and heading */
    const char *model_id;       /* e.g. "face-cnn-1a2b3c4d5e6f" */
    const char *data_desc;      /* e.g. "../shared/datasets/orl, identities s38,s39,s40" */
    const float *dist;          /* n evaluated pair distances */
    const uint8_t *same;        /* n labels, 1 = same identity */
    int n;
    const ft_pair_metrics *m;   /* computed on (dist, same) at `threshold` */
    double tar_at_far_1e2, tar_at_far_1e3; /* NAN when not measurable */
    const char *threshold_rule; /* how the applied threshold was chosen (may be NULL) */
    const char *history_json;   /* JSON array of {"epoch","train_loss"[,"val_loss","val_accuracy"],"lr"}, or NULL */
    const float *val_roc;       /* calibration ROC rows (threshold, far, frr), n_val_roc x 3, or NULL */
    int n_val_roc;
} ft_report;

/* Writes the page to path (atomically: temp file + fsync + rename; a failed
 * write leaves no temp file). Only r->m is required besides the counts;
 * NULL strings print as "n/a", a NULL/empty/unreadable history_json gives a
 * "no training history" note instead of the training chart (not an error),
 * non-finite distances or figures are left out of the charts / print "n/a".
 * Errors: FT_EINVAL (NULL path, r or r->m; n or n_val_roc without data),
 * FT_ENOMEM, FT_EIO (message names path). */
ft_status ft_report_write_html(const char *path, const ft_report *r, ft_error *err);

#ifdef __cplusplus
}
#endif
#endif
