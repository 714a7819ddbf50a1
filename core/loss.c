/* loss.c — the contrastive loss of a Siamese pair and the distance it uses.
 *
 * Shapes: a, b (B,D) embeddings of the two sides; y (B) labels, 1 = same
 * person, 0 = different; dist (B) optional output.
 *
 *   d_i  = sqrt(max(sum_k (a_ik - b_ik)^2, FT_DIST_EPS))          (Keras rule)
 *   loss = mean_i [ y_i d_i^2 + (1 - y_i) max(margin - d_i, 0)^2 ]
 *
 * (Hadsell, Chopra & LeCun 2006, as in the Keras Siamese example.) Same pairs
 * are pulled together by d^2; different pairs are pushed apart only while
 * they are closer than the margin. The floor FT_DIST_EPS keeps the square
 * root's derivative finite for identical embeddings: below it d is the
 * constant sqrt(eps), so the gradient through d is exactly 0 (Keras'
 * K.maximum passes the gradient to the sum of squares when it is >= eps).
 *
 * Backward, with s = sum_k (a_k - b_k)^2, for each pair:
 *   dL/dd   = dloss/B * (2 y d - 2 (1-y) max(margin - d, 0))
 *   dd/da_k = (a_k - b_k) / d   if s >= eps, else 0;   dd/db_k = -dd/da_k
 * Sums run in double; the loss is returned as a float.
 */
#include "facetwin/layers.h"

#include <math.h>

static double sum_sq_diff(const float *a, const float *b, int D)
{
    double s = 0.0;
    for (int k = 0; k < D; k++) {
        double t = (double)a[k] - (double)b[k];
        s += t * t;
    }
    return s;
}

static double floored_dist(double s) { return sqrt(s > (double)FT_DIST_EPS ? s : (double)FT_DIST_EPS); }

float ft_distance(const float *a, const float *b, int D) { return (float)floored_dist(sum_sq_diff(a, b, D)); }

float ft_contrastive_forward(float *dist, const float *a, const float *b, const float *y, int B,
                             int D, float margin)
{
    double total = 0.0;
    for (int i = 0; i < B; i++) {
        double d = floored_dist(sum_sq_diff(a + (size_t)i * D, b + (size_t)i * D, D));
        double hinge = (double)margin - d > 0.0 ? (double)margin - d : 0.0;
        total += (double)y[i] * d * d + (1.0 - (double)y[i]) * hinge * hinge;
        if (dist) dist[i] = (float)d;
    }
    return B > 0 ? (float)(total / B) : 0.0f;
}

void ft_contrastive_backward(float *da, float *db, const float *a, const float *b,
                             const float *y, int B, int D, float margin, float dloss)
{
    if (!da && !db) return;
    for (int i = 0; i < B; i++) {
        const float *ai = a + (size_t)i * D, *bi = b + (size_t)i * D;
        double s = sum_sq_diff(ai, bi, D);
        if (s < (double)FT_DIST_EPS) continue; /* d is constant there: no gradient */
        double d = sqrt(s);
        double hinge = (double)margin - d > 0.0 ? (double)margin - d : 0.0;
        double dd = (double)dloss / B * (2.0 * y[i] * d - 2.0 * (1.0 - y[i]) * hinge);
        double c = dd / d;
        for (int k = 0; k < D; k++) {
            float g = (float)(c * ((double)ai[k] - (double)bi[k]));
            if (da) da[(size_t)i * D + k] += g;
            if (db) db[(size_t)i * D + k] -= g;
        }
    }
}

/* ---- in-batch pairs -------------------------------------------------------
 * The same per-pair rule over every (i<j) of one batch, with the positive and
 * negative halves each averaged over their own count (weights wp, wn), so the
 * scale matches the pairs loss on a balanced pair list. O(N^2 D): for N = 64,
 * D = 128 about 0.5 MFLOP, nothing next to the encoder. */
static void batch_weights(const int32_t *ids, int N, int *np, int *nn, double *wp, double *wn)
{
    int p = 0;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) p += ids[i] == ids[j];
    int total = N > 1 ? N * (N - 1) / 2 : 0, n = total - p;
    *np = p;
    *nn = n;
    double half = (p && n) ? 0.5 : 1.0;
    *wp = p ? half / p : 0.0;
    *wn = n ? half / n : 0.0;
}

float ft_contrastive_batch_forward(const float *e, const int32_t *ids, int N, int D, float margin,
                                   int *n_pos, int *n_neg)
{
    int np, nn;
    double wp, wn, total = 0.0;
    batch_weights(ids, N, &np, &nn, &wp, &wn);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            double d = floored_dist(sum_sq_diff(e + (size_t)i * D, e + (size_t)j * D, D));
            if (ids[i] == ids[j]) {
                total += wp * d * d;
            } else {
                double hinge = (double)margin - d > 0.0 ? (double)margin - d : 0.0;
                total += wn * hinge * hinge;
            }
        }
    if (n_pos) *n_pos = np;
    if (n_neg) *n_neg = nn;
    return (float)total;
}

void ft_contrastive_batch_backward(float *de, const float *e, const int32_t *ids, int N, int D,
                                   float margin, float dloss)
{
    int np, nn;
    double wp, wn;
    batch_weights(ids, N, &np, &nn, &wp, &wn);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            const float *ei = e + (size_t)i * D, *ej = e + (size_t)j * D;
            double s = sum_sq_diff(ei, ej, D);
            if (s < (double)FT_DIST_EPS) continue; /* d is constant there: no gradient */
            double d = sqrt(s), dd;
            if (ids[i] == ids[j]) {
                dd = (double)dloss * wp * 2.0 * d;
            } else {
                double hinge = (double)margin - d > 0.0 ? (double)margin - d : 0.0;
                if (hinge == 0.0) continue;
                dd = -(double)dloss * wn * 2.0 * hinge;
            }
            double c = dd / d;
            for (int k = 0; k < D; k++) {
                float g = (float)(c * ((double)ei[k] - (double)ej[k]));
                de[(size_t)i * D + k] += g;
                de[(size_t)j * D + k] -= g;
            }
        }
}
