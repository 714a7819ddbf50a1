/* metrics.c — accuracy, ROC AUC, best threshold and EER from pair distances.
 *
 * Everything comes from one sort of the distances: sweeping the threshold
 * upwards through the sorted list turns pairs from "rejected" into
 * "accepted" one distinct value at a time, which gives every ROC point, the
 * best achievable accuracy and the equal-error point in one pass. Thresholds
 * are placed half-way between consecutive distinct distances so that the
 * strict rule d < t reproduces the counted point exactly.
 */
#include "facetwin/metrics.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    float d;
    uint8_t same;
} dpair;

static int cmp_dpair(const void *a, const void *b)
{
    float x = ((const dpair *)a)->d, y = ((const dpair *)b)->d;
    return (x > y) - (x < y);
}

double ft_pair_accuracy(const float *dist, const uint8_t *same, int n, float threshold)
{
    if (n <= 0) return 0.0;
    int ok = 0;
    for (int i = 0; i < n; i++) ok += ((dist[i] < threshold) == (same[i] != 0));
    return (double)ok / n;
}

ft_status ft_pair_metrics_compute(const float *dist, const uint8_t *same, int n, float threshold,
                                  ft_pair_metrics *m, ft_error *err)
{
    m->pairs = n;
    m->positives = m->negatives = 0;
    for (int i = 0; i < n; i++) {
        if (same[i]) m->positives++;
        else m->negatives++;
    }
    if (!m->positives || !m->negatives)
        return ft_error_set(err, FT_EINVAL, "metrics need both same and different pairs (%d same, %d different)",
                            m->positives, m->negatives);
    dpair *p = malloc((size_t)n * sizeof *p);
    if (!p) return ft_error_set(err, FT_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) p[i] = (dpair){dist[i], same[i] != 0};
    qsort(p, (size_t)n, sizeof *p, cmp_dpair);

    double P = m->positives, N = m->negatives;
    /* AUC via ranks with tie handling: sum over positives of (#neg farther + 0.5 #neg tied) */
    double auc_sum = 0, neg_below = 0;
    /* sweep: accepted = all pairs with d < t; start with t below everything */
    double tp = 0, fp = 0;
    double best_acc = N / n; /* accept nothing */
    float best_t = p[0].d;
    double eer = 1.0, eer_gap = INFINITY, tar2 = 0, tar3 = 0;
    float eer_t = p[0].d;
    for (int i = 0; i < n;) {
        int j = i;
        double pos = 0, neg = 0;
        while (j < n && p[j].d == p[i].d) {
            if (p[j].same) pos++;
            else neg++;
            j++;
        }
        auc_sum += pos * ((N - neg_below - neg) + 0.5 * neg);
        neg_below += neg;
        tp += pos;
        fp += neg;
        /* threshold just above this group: accepts groups [0, j) */
        float t = j < n ? 0.5f * (p[j - 1].d + p[j].d) : nextafterf(p[n - 1].d, INFINITY);
        double acc = (tp + (N - fp)) / n;
        if (acc > best_acc) {
            best_acc = acc;
            best_t = t;
        }
        double far = fp / N, frr = (P - tp) / P;
        if (far <= 1e-2) tar2 = tp / P;
        if (far <= 1e-3) tar3 = tp / P;
        if (fabs(far - frr) < eer_gap) {
            eer_gap = fabs(far - frr);
            eer = 0.5 * (far + frr);
            eer_t = t;
        }
        i = j;
    }
    m->auc = auc_sum / (P * N);
    m->threshold = threshold;
    m->accuracy = ft_pair_accuracy(dist, same, n, threshold);
    double fa = 0, fr = 0;
    for (int i = 0; i < n; i++) {
        if (same[i] && !(dist[i] < threshold)) fr++;
        if (!same[i] && dist[i] < threshold) fa++;
    }
    m->far = fa / N;
    m->frr = fr / P;
    m->best_accuracy = best_acc;
    m->best_threshold = best_t;
    m->eer = eer;
    m->eer_threshold = eer_t;
    m->tar_far_1e2 = tar2;
    m->tar_far_1e3 = tar3;
    free(p);
    return FT_OK;
}
