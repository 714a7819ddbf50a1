/* facetwin/metrics.h — verification metrics over labelled pair distances.
 *
 * A pair is accepted as "same" when its distance is strictly below the
 * threshold (d < t), the Keras reference's rule. same[i] is 1 for same-identity
 * pairs. AUC is the probability that a random same pair has a smaller
 * distance than a random different pair (ties count one half), computed
 * exactly from ranks in O(n log n).
 */
#ifndef FACETWIN_METRICS_H
#define FACETWIN_METRICS_H

#include <stdint.h>

#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int pairs, positives, negatives;
    double accuracy;       /* at `threshold` */
    float threshold;
    double auc;
    double best_accuracy;  /* at the best threshold for these pairs (an oracle figure) */
    float best_threshold;
    double eer;            /* equal error rate */
    float eer_threshold;
    double far, frr;       /* at `threshold` */
    double tar_far_1e2;    /* true-accept rate at the largest threshold with FAR <= 1e-2 */
    double tar_far_1e3;    /* ... FAR <= 1e-3 (with fewer than 1000 different pairs this means FAR 0) */
} ft_pair_metrics;

double ft_pair_accuracy(const float *dist, const uint8_t *same, int n, float threshold);

/* All metrics; FT_EINVAL if there are no positives or no negatives. */
ft_status ft_pair_metrics_compute(const float *dist, const uint8_t *same, int n, float threshold,
                                  ft_pair_metrics *out, ft_error *err);

#ifdef __cplusplus
}
#endif
#endif
