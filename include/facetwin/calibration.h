/* facetwin/calibration.h — choosing the decision threshold from data, and
 * keeping the evidence.
 *
 * A verifier accepts a pair as "same" when d < threshold. Rather than guess
 * the threshold (the Keras reference's 0.5), facetwin measures it on
 * validation pairs of validation identities — people never used for the
 * weights and never used for testing — and stores in the checkpoint both the
 * chosen threshold and the whole validation ROC, so another operating point
 * (say FAR 1e-4 for a bank, 1e-2 for a photo app) can be picked later without
 * retraining (ft_roc_threshold_at_far on the stored curve).
 *
 * The ROC: one point per distinct validation distance, thresholds ascending,
 * so FAR rises and FRR falls along it; a point (t, far, frr) means "with
 * threshold t, the rule d < t falsely accepts far of the different pairs and
 * falsely rejects frr of the same pairs". The first point accepts nothing
 * (far 0, frr 1) and the last accepts everything (far 1, frr 0).
 *
 * Rules:
 *   FT_CALIB_EER   the equal-error point: where |FAR - FRR| is smallest; when
 *                  several consecutive points tie, the middle of their
 *                  threshold range (small validation sets make plateaus).
 *   FT_CALIB_FAR   the largest threshold whose FAR <= target: the most same
 *                  pairs accepted within the false-accept budget, measured.
 * ROC thresholds sit half-way between consecutive distinct distances, so a
 * chosen threshold never lies on a validation distance.
 *   FT_CALIB_FIXED a threshold given by the user (--threshold 0.5).
 *
 * Storage: tensor FT_CALIB_ROC_TENSOR of shape (n, 3) rows (threshold, far,
 * frr), thinned to at most FT_CALIB_MAX_POINTS points (both ends and every
 * point below FAR 1e-2 kept), plus a "calibration" object in the metadata
 * (rule, target, threshold, validation pairs and identities, EER).
 */
#ifndef FACETWIN_CALIBRATION_H
#define FACETWIN_CALIBRATION_H

#include <stdint.h>

#include "facetwin/checkpoint.h"
#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FT_CALIB_ROC_TENSOR "calib/roc"
#define FT_CALIB_PREFIX "calib/"  /* tensors that are not network weights */
#define FT_CALIB_MAX_POINTS 2048

typedef struct {
    float threshold;
    float far, frr;
} ft_roc_point;

/* rows are three floats: a ROC can be passed as a (n, 3) float array */
_Static_assert(sizeof(ft_roc_point) == 3 * sizeof(float), "ft_roc_point is three packed floats");

typedef enum { FT_CALIB_EER = 0, FT_CALIB_FAR, FT_CALIB_FIXED } ft_calib_rule;

const char *ft_calib_rule_name(ft_calib_rule r);

/* The ROC of labelled pair distances (needs both kinds). Caller frees *roc. */
ft_status ft_roc_compute(const float *dist, const uint8_t *same, int n, ft_roc_point **roc,
                         int *n_roc, ft_error *err);

/* Equal-error threshold of a ROC; *eer (if non-NULL) = (far + frr) / 2 there. */
float ft_roc_threshold_eer(const ft_roc_point *roc, int n, double *eer);

/* Largest threshold with far <= target; *tar (if non-NULL) = 1 - frr there. */
float ft_roc_threshold_at_far(const ft_roc_point *roc, int n, double far_target, double *tar);

/* Thins a ROC in place to at most max points (max >= 16): keeps both ends,
 * every point with far <= 1e-2 while room allows, and evenly spaced others.
 * Returns the new count. */
int ft_roc_thin(ft_roc_point *roc, int n, int max);

typedef struct {
    ft_calib_rule rule;
    double far_target;      /* FT_CALIB_FAR */
    float threshold;        /* chosen (or given) */
    double far, frr;        /* on the validation pairs at threshold (NAN if none) */
    double eer;             /* validation EER (NAN if none) */
    int val_pairs, val_identities;
} ft_calibration;

/* Calibrates from validation distances with rule (FIXED keeps c->threshold).
 * Fills c and returns the (unthinned) ROC in *roc (caller frees). */
ft_status ft_calibrate(const float *dist, const uint8_t *same, int n, ft_calib_rule rule,
                       double far_target, float fixed_threshold, ft_calibration *c,
                       ft_roc_point **roc, int *n_roc, ft_error *err);

/* Reads the stored ROC of a checkpoint (NULL/0 if it has none; FT_EFORMAT if
 * the tensor is malformed: wrong shape, non-finite, not monotone). */
ft_status ft_calib_roc_from_ckpt(const ft_ckpt *ck, ft_roc_point **roc, int *n_roc, ft_error *err);

/* Appends the ROC to a checkpoint as FT_CALIB_ROC_TENSOR (copied, thinned). */
ft_status ft_calib_roc_to_ckpt(ft_ckpt *ck, const ft_roc_point *roc, int n_roc, ft_error *err);

#ifdef __cplusplus
}
#endif
#endif
