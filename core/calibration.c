/* calibration.c — the validation ROC, threshold rules, and their storage in
 * a checkpoint (see include/facetwin/calibration.h for the rules).
 *
 * The ROC comes from one sort of the validation distances; the sweep is the
 * same as metrics.c's (thresholds half-way between distinct distances, so
 * the strict rule d < t reproduces every counted point exactly).
 */
#include "facetwin/calibration.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FT_CALIB_LOW_FAR 1e-2   /* points below this FAR are kept first when thinning */
#define FT_CALIB_TIE 1e-9

typedef struct {
    float d;
    uint8_t same;
} dpair;

static int cmp_dpair(const void *a, const void *b)
{
    float x = ((const dpair *)a)->d, y = ((const dpair *)b)->d;
    return (x > y) - (x < y);
}

const char *ft_calib_rule_name(ft_calib_rule r)
{
    switch (r) {
    case FT_CALIB_EER: return "eer";
    case FT_CALIB_FAR: return "far";
    case FT_CALIB_FIXED: return "fixed";
    }
    return "?";
}

ft_status ft_roc_compute(const float *dist, const uint8_t *same, int n, ft_roc_point **roc,
                         int *n_roc, ft_error *err)
{
    *roc = NULL;
    *n_roc = 0;
    int P = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(dist[i])) return ft_error_set(err, FT_EINVAL, "distance %d is not finite", i);
        P += same[i] != 0;
    }
    int N = n - P;
    if (!P || !N)
        return ft_error_set(err, FT_EINVAL, "a ROC needs both same and different pairs (%d same, %d different)", P,
                            N);
    dpair *p = malloc((size_t)n * sizeof *p);
    ft_roc_point *r = malloc((size_t)(n + 1) * sizeof *r);
    if (!p || !r) {
        free(p);
        free(r);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) p[i] = (dpair){dist[i], same[i] != 0};
    qsort(p, (size_t)n, sizeof *p, cmp_dpair);
    int k = 0;
    r[k++] = (ft_roc_point){p[0].d, 0.0f, 1.0f}; /* d < min(d): accepts nothing */
    double tp = 0, fp = 0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && p[j].d == p[i].d) {
            if (p[j].same) tp++;
            else fp++;
            j++;
        }
        float t = j < n ? 0.5f * (p[j - 1].d + p[j].d) : nextafterf(p[n - 1].d, INFINITY);
        r[k++] = (ft_roc_point){t, (float)(fp / N), (float)((P - tp) / P)};
        i = j;
    }
    free(p);
    *roc = r;
    *n_roc = k;
    return FT_OK;
}

float ft_roc_threshold_eer(const ft_roc_point *roc, int n, double *eer)
{
    int best = 0;
    double gap = INFINITY;
    for (int i = 0; i < n; i++) {
        double g = fabs((double)roc[i].far - (double)roc[i].frr);
        if (g < gap - FT_CALIB_TIE) {
            gap = g;
            best = i;
        }
    }
    int last = best; /* the run of tied points after it: take the middle of their thresholds */
    while (last + 1 < n && fabs(fabs((double)roc[last + 1].far - (double)roc[last + 1].frr) - gap) <= FT_CALIB_TIE)
        last++;
    if (eer) *eer = 0.25 * ((double)roc[best].far + roc[best].frr + roc[last].far + roc[last].frr);
    return 0.5f * (roc[best].threshold + roc[last].threshold);
}

float ft_roc_threshold_at_far(const ft_roc_point *roc, int n, double far_target, double *tar)
{
    int best = 0;
    for (int i = 0; i < n; i++)
        if ((double)roc[i].far <= far_target) best = i;
    if (tar) *tar = 1.0 - (double)roc[best].frr;
    return roc[best].threshold;
}

int ft_roc_thin(ft_roc_point *roc, int n, int max)
{
    if (max < 16) max = 16;
    if (n <= max) return n;
    /* low-FAR points first (up to half the budget), then evenly spaced over the rest */
    int low = 0;
    while (low < n - 1 && roc[low].far <= FT_CALIB_LOW_FAR && low < max / 2) low++;
    int k = low, rest = max - low - 1; /* slots for [low, n-1) sampled, plus the last point */
    int span = n - 1 - low;
    for (int s = 0; s < rest; s++) {
        int src = low + (int)((long long)s * span / rest);
        roc[k++] = roc[src];
    }
    roc[k++] = roc[n - 1];
    return k;
}

ft_status ft_calibrate(const float *dist, const uint8_t *same, int n, ft_calib_rule rule,
                       double far_target, float fixed_threshold, ft_calibration *c,
                       ft_roc_point **roc, int *n_roc, ft_error *err)
{
    memset(c, 0, sizeof *c);
    c->rule = rule;
    c->far_target = rule == FT_CALIB_FAR ? far_target : NAN;
    c->threshold = fixed_threshold;
    c->far = c->frr = c->eer = NAN;
    c->val_pairs = n;
    *roc = NULL;
    *n_roc = 0;
    if (rule == FT_CALIB_FAR && !(far_target >= 0 && far_target < 1))
        return ft_error_set(err, FT_EINVAL, "target false-accept rate must be in [0, 1) (got %g)", far_target);
    ft_status st = ft_roc_compute(dist, same, n, roc, n_roc, err);
    if (st) return st;
    ft_roc_threshold_eer(*roc, *n_roc, &c->eer);
    if (rule == FT_CALIB_EER) c->threshold = ft_roc_threshold_eer(*roc, *n_roc, NULL);
    else if (rule == FT_CALIB_FAR) c->threshold = ft_roc_threshold_at_far(*roc, *n_roc, far_target, NULL);
    double fa = 0, fr = 0, P = 0;
    for (int i = 0; i < n; i++) {
        P += same[i] != 0;
        if (same[i] && !(dist[i] < c->threshold)) fr++;
        if (!same[i] && dist[i] < c->threshold) fa++;
    }
    c->far = fa / (n - P);
    c->frr = fr / P;
    return FT_OK;
}

ft_status ft_calib_roc_from_ckpt(const ft_ckpt *ck, ft_roc_point **roc, int *n_roc, ft_error *err)
{
    *roc = NULL;
    *n_roc = 0;
    const ft_ckpt_tensor *t = ft_ckpt_find(ck, FT_CALIB_ROC_TENSOR);
    if (!t) return FT_OK;
    if (t->ndim != 2 || t->dims[1] != 3 || t->dims[0] < 2)
        return ft_error_set(err, FT_EFORMAT, "tensor '%s' must have shape (n >= 2, 3)", FT_CALIB_ROC_TENSOR);
    int n = (int)t->dims[0];
    ft_roc_point *r = malloc((size_t)n * sizeof *r);
    if (!r) return ft_error_set(err, FT_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        r[i] = (ft_roc_point){t->data[3 * i], t->data[3 * i + 1], t->data[3 * i + 2]};
        int ok = isfinite(r[i].threshold) && r[i].far >= 0 && r[i].far <= 1 && r[i].frr >= 0 && r[i].frr <= 1;
        if (ok && i > 0)
            ok = r[i].threshold >= r[i - 1].threshold && r[i].far >= r[i - 1].far && r[i].frr <= r[i - 1].frr;
        if (!ok) {
            free(r);
            return ft_error_set(err, FT_EFORMAT, "tensor '%s' is not a valid ROC (row %d)", FT_CALIB_ROC_TENSOR, i);
        }
    }
    *roc = r;
    *n_roc = n;
    return FT_OK;
}

ft_status ft_calib_roc_to_ckpt(ft_ckpt *ck, const ft_roc_point *roc, int n_roc, ft_error *err)
{
    ft_roc_point *copy = malloc((size_t)n_roc * sizeof *copy);
    if (!copy) return ft_error_set(err, FT_ENOMEM, "out of memory");
    memcpy(copy, roc, (size_t)n_roc * sizeof *copy);
    int n = ft_roc_thin(copy, n_roc, FT_CALIB_MAX_POINTS);
    ft_ckpt_tensor *ts = realloc(ck->tensors, (size_t)(ck->n_tensors + 1) * sizeof *ts);
    if (!ts) {
        free(copy);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    ck->tensors = ts;
    ft_ckpt_tensor *t = &ts[ck->n_tensors];
    memset(t, 0, sizeof *t);
    t->data = malloc((size_t)n * 3 * sizeof(float));
    if (!t->data) {
        free(copy);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    snprintf(t->name, sizeof t->name, "%s", FT_CALIB_ROC_TENSOR);
    t->ndim = 2;
    t->dims[0] = n;
    t->dims[1] = 3;
    t->count = (size_t)n * 3;
    for (int i = 0; i < n; i++) {
        t->data[3 * i] = copy[i].threshold;
        t->data[3 * i + 1] = copy[i].far;
        t->data[3 * i + 2] = copy[i].frr;
    }
    ck->n_tensors++;
    free(copy);
    return FT_OK;
}
