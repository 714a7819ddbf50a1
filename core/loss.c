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
