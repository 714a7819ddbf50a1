/* pool.c — max pooling, average pooling and global average pooling.
 *
 * Shapes: inp (B,C,H,W) -> out (B,C,OH,OW), OH = (H + 2*pad - K)/stride + 1
 * (floor, PyTorch's ceil_mode=False); global average pool (B,C,HW) -> (B,C).
 *
 * Max pool treats padding as -inf: only real cells compete, and the first
 * maximum in row-major window order wins (a NaN wins too), exactly as
 * PyTorch's CPU kernel. Backward does not keep an argmax index buffer: it
 * recomputes the winner from inp, trading a second pass over the window for
 * no extra state (the layer has no buffer of its own to keep it in). A window
 * made only of padding cannot occur when pad <= K/2 (PyTorch's rule); should
 * it, the output is 0 and no gradient flows.
 *
 * The 2x2 stride-2 unpadded window (every encoder here) has an unrolled path with the same
 * rule, and the B*C planes are split across the library's pool when the layer is large
 * (core/pool.h: each plane is one thread's, so the bits do not depend on the thread count).
 *
 * Average pool counts padding cells as zeros and always divides by K*K
 * (count_include_pad=True, PyTorch's default): with floor output sizes a
 * window never reaches beyond the padding, so K*K is also PyTorch's divisor.
 */
#include "facetwin/layers.h"

#include <math.h>

#include "layers/reduce.h"
#include "pool.h"

static int pool_out(int in, int k, int stride, int pad, int pad_extra)
{
    int span = in + 2 * pad + pad_extra - k;
    return span < 0 ? 0 : span / stride + 1;
}

int ft_pool_out_h(const ft_pool_shape *s) { return pool_out(s->H, s->K, s->stride, s->pad, s->pad_extra); }
int ft_pool_out_w(const ft_pool_shape *s) { return pool_out(s->W, s->K, s->stride, s->pad, s->pad_extra); }

/* The window of output (oy, ox) clipped to the image: rows [y0,y1), cols [x0,x1). */
typedef struct {
    int y0, y1, x0, x1;
} window;

static window clip_window(const ft_pool_shape *s, int oy, int ox)
{
    window w;
    w.y0 = oy * s->stride - s->pad;
    w.x0 = ox * s->stride - s->pad;
    w.y1 = w.y0 + s->K;
    w.x1 = w.x0 + s->K;
    if (w.y0 < 0) w.y0 = 0;
    if (w.x0 < 0) w.x0 = 0;
    if (w.y1 > s->H) w.y1 = s->H;
    if (w.x1 > s->W) w.x1 = s->W;
    return w;
}

/* Index in the plane of the window's first maximum, or -1 if it is empty. */
static long argmax_window(const float *plane, int W, window w)
{
    long best = -1;
    float m = 0.0f;
    for (int y = w.y0; y < w.y1; y++)
        for (int x = w.x0; x < w.x1; x++) {
            long i = (long)y * W + x;
            float v = plane[i];
            if (best < 0 || v > m || isnan(v)) {
                best = i;
                m = v;
                if (isnan(v)) return best;
            }
        }
    return best;
}

/* The common 2x2 stride-2 unpadded window, the same first-maximum rule without branches (so the
 * loops over a row vectorise): pick keeps a unless b is larger or NaN, and once a NaN is kept
 * nothing replaces it but another NaN — the value is NaN if any cell is, else the maximum, and
 * the first such cell in row-major order is the winner. */
static inline float pick(float a, float b) { return (b > a || b != b) ? b : a; }

/* The 2x2/2 backward, one output row: the winner of each window gets the gradient. With no NaN
 * in the window the winner is the first cell equal to the maximum (row-major order); the rows of
 * a plane holding a NaN take backward_2x2_row_nan, where the first NaN wins. The comparisons sit
 * in selects, so the loop vectorises — but only without -ftrapping-math: GCC otherwise keeps the
 * float compares that feed integer masks as branches ("control flow in loop") and this loop ran
 * scalar, mispredicting on random data, 10% of a face-cnn training step. No code here sets or
 * tests floating-point exception flags, so assuming compares do not trap changes no result. */
#if defined(__GNUC__) && !defined(__clang__)
#define FT_NO_TRAP __attribute__((optimize("no-trapping-math")))
#else
#define FT_NO_TRAP
#endif

FT_NO_TRAP FT_SIMD_CLONES static int has_nan(const float *x, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad |= x[i] != x[i];
    return bad;
}

FT_NO_TRAP FT_SIMD_CLONES static void backward_2x2_row(float *restrict d0, float *restrict d1, const float *r0,
                                                       const float *r1, const float *grow, int OW)
{
    for (int ox = 0; ox < OW; ox++) {
        const float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], e = r1[2 * ox + 1], gv = grow[ox];
        const float ab = a >= b ? a : b, ce = c >= e ? c : e, m = ab >= ce ? ab : ce;
        const int ka = a == m, kb = (ka ^ 1) & (b == m), kc = ((ka | kb) ^ 1) & (c == m);
        const int ke = (ka | kb | kc) ^ 1;
        d0[2 * ox] += ka ? gv : 0.0f;
        d0[2 * ox + 1] += kb ? gv : 0.0f;
        d1[2 * ox] += kc ? gv : 0.0f;
        d1[2 * ox + 1] += ke ? gv : 0.0f;
    }
}

/* The same with the first-NaN rule (argmax_window's): a row of a plane that holds a NaN. */
static void backward_2x2_row_nan(float *d0, float *d1, const float *r0, const float *r1, const float *grow, int OW)
{
    for (int ox = 0; ox < OW; ox++) {
        const float cell[4] = {r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]};
        int w = 0;
        for (int k = 1; k < 4; k++)
            if (cell[w] == cell[w] && (cell[k] > cell[w] || cell[k] != cell[k])) w = k;
        float *dst[4] = {d0 + 2 * ox, d0 + 2 * ox + 1, d1 + 2 * ox, d1 + 2 * ox + 1};
        *dst[w] += grow[ox];
    }
}

/* Any other window (the face encoder's 3x3/2, the landmark net's): the forward needs only the
 * window's value, so it is computed separably and without per-cell branches — each input row's
 * maximum over the output's columns (`h`, pick in x order), then those rows combined top to
 * bottom, every inner loop running over contiguous output columns so it vectorises as selects.
 * Row by row, then rows in order, pick keeps exactly the row-major first maximum (or a NaN): the
 * value argmax_window's cell holds. argmax_window itself, a branch per cell taken at random,
 * cost the encoder 6% of its time in this one layer. Needs every window non-empty (padding
 * narrower than the window: pad + pad_extra < K) and at most FT_POOL_ROW_FLOATS output columns
 * (the row buffer); other shapes keep the argmax loop. */
#define FT_POOL_ROW_FLOATS 1024

static int separable_ok(const ft_pool_shape *s, int OW)
{
    return s->pad + s->pad_extra < s->K && OW <= FT_POOL_ROW_FLOATS;
}

/* The max of row r over output ox's window clipped to the row. */
static inline float border_max(const float *r, const ft_pool_shape *s, int ox)
{
    int x0 = ox * s->stride - s->pad, x1 = x0 + s->K;
    if (x0 < 0) x0 = 0;
    if (x1 > s->W) x1 = s->W;
    float m = r[x0];
    for (int x = x0 + 1; x < x1; x++) m = pick(m, r[x]);
    return m;
}

/* h[ox] = the max of row r over the columns of output ox's window, for ox in [0, OW); interior
 * outputs [xlo, xhi) read K columns from ox*S - pad, the others their clipped window. */
static inline void row_max(float *restrict h, const float *restrict r, const ft_pool_shape *s, int OW, int xlo,
                           int xhi)
{
    const int S = s->stride, K = s->K, pad = s->pad;
    const int a = xhi > xlo ? xlo : OW, b = xhi > xlo ? xhi : OW; /* borders: [0, a) and [b, OW) */
    for (int ox = 0; ox < a; ox++) h[ox] = border_max(r, s, ox);
    for (int ox = b; ox < OW; ox++) h[ox] = border_max(r, s, ox);
    if (xhi <= xlo) return;
    if (S == 2) { /* a constant stride the vectoriser can use */
        for (int ox = xlo; ox < xhi; ox++) h[ox] = r[2 * ox - pad];
        for (int kx = 1; kx < K; kx++)
            for (int ox = xlo; ox < xhi; ox++) h[ox] = pick(h[ox], r[2 * ox - pad + kx]);
    } else {
        for (int ox = xlo; ox < xhi; ox++) h[ox] = r[ox * S - pad];
        for (int kx = 1; kx < K; kx++)
            for (int ox = xlo; ox < xhi; ox++) h[ox] = pick(h[ox], r[ox * S - pad + kx]);
    }
}

FT_SIMD_CLONES static void maxpool_plane_separable(float *o, const float *plane, const ft_pool_shape *s, int OH, int OW)
{
    float h[FT_POOL_ROW_FLOATS];
    const int S = s->stride, K = s->K, pad = s->pad;
    int xlo = (pad + S - 1) / S; /* first ox whose window starts inside */
    int xhi = s->W - K + pad >= 0 ? (s->W - K + pad) / S + 1 : 0; /* past the last ending inside */
    if (xlo > OW) xlo = OW;
    if (xhi > OW) xhi = OW;
    for (int oy = 0; oy < OH; oy++) {
        float *orow = o + (size_t)oy * OW;
        int y0 = oy * S - pad, y1 = y0 + K;
        if (y0 < 0) y0 = 0;
        if (y1 > s->H) y1 = s->H;
        row_max(orow, plane + (size_t)y0 * s->W, s, OW, xlo, xhi);
        for (int y = y0 + 1; y < y1; y++) {
            row_max(h, plane + (size_t)y * s->W, s, OW, xlo, xhi);
            for (int ox = 0; ox < OW; ox++) orow[ox] = pick(orow[ox], h[ox]);
        }
    }
}

static int is_2x2(const ft_pool_shape *s)
{
    return s->K == 2 && s->stride == 2 && s->pad == 0 && s->pad_extra == 0;
}

/* The planes [lo, hi) of the B*C, each independent: the pool's threads take ranges of them
 * (ft_pool_for, core/pool.h) when the layer is large. */
typedef struct {
    float *out;
    const float *inp, *dout;
    const ft_pool_shape *s;
} pool_job;

FT_SIMD_CLONES static void maxpool_forward_planes(void *arg, size_t lo, size_t hi)
{
    const pool_job *j = arg;
    const ft_pool_shape *s = j->s;
    const int OH = ft_pool_out_h(s), OW = ft_pool_out_w(s);
    const size_t HW = (size_t)s->H * s->W, P = (size_t)OH * OW;
    for (size_t bc = lo; bc < hi; bc++) {
        const float *plane = j->inp + bc * HW;
        float *o = j->out + bc * P;
        if (is_2x2(s)) {
            for (int oy = 0; oy < OH; oy++) {
                const float *r0 = plane + (size_t)(2 * oy) * s->W, *r1 = r0 + s->W;
                float *orow = o + (size_t)oy * OW;
                for (int ox = 0; ox < OW; ox++)
                    orow[ox] = pick(pick(pick(r0[2 * ox], r0[2 * ox + 1]), r1[2 * ox]), r1[2 * ox + 1]);
            }
            continue;
        }
        if (separable_ok(s, OW)) {
            maxpool_plane_separable(o, plane, s, OH, OW);
            continue;
        }
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                long i = argmax_window(plane, s->W, clip_window(s, oy, ox));
                o[(size_t)oy * OW + ox] = i < 0 ? 0.0f : plane[i];
            }
    }
}

/* Here out is dinp. */
FT_SIMD_CLONES static void maxpool_backward_planes(void *arg, size_t lo, size_t hi)
{
    const pool_job *j = arg;
    const ft_pool_shape *s = j->s;
    const int OH = ft_pool_out_h(s), OW = ft_pool_out_w(s);
    const size_t HW = (size_t)s->H * s->W, P = (size_t)OH * OW;
    for (size_t bc = lo; bc < hi; bc++) {
        const float *plane = j->inp + bc * HW;
        const float *g = j->dout + bc * P;
        float *d = j->out + bc * HW;
        if (is_2x2(s)) {
            for (int oy = 0; oy < OH; oy++) {
                const float *r0 = plane + (size_t)(2 * oy) * s->W, *r1 = r0 + s->W;
                float *d0 = d + (size_t)(2 * oy) * s->W, *d1 = d0 + s->W;
                const float *grow = g + (size_t)oy * OW;
                if (has_nan(r0, 2 * (size_t)OW) | has_nan(r1, 2 * (size_t)OW))
                    backward_2x2_row_nan(d0, d1, r0, r1, grow, OW);
                else
                    backward_2x2_row(d0, d1, r0, r1, grow, OW);
            }
            continue;
        }
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                long i = argmax_window(plane, s->W, clip_window(s, oy, ox));
                if (i >= 0) d[i] += g[(size_t)oy * OW + ox];
            }
    }
}

static double plane_bytes(const ft_pool_shape *s, int grads)
{
    const double in = (double)s->H * s->W, out = (double)ft_pool_out_h(s) * ft_pool_out_w(s);
    return sizeof(float) * (grads ? 2.0 * in + out : in + out);
}

void ft_maxpool_forward(float *out, const float *inp, const ft_pool_shape *s)
{
    pool_job j = {out, inp, NULL, s};
    ft_pool_for((size_t)s->B * s->C, plane_bytes(s, 0), maxpool_forward_planes, &j);
}

void ft_maxpool_backward(float *dinp, const float *dout, const float *inp, const ft_pool_shape *s)
{
    if (!dinp) return;
    pool_job j = {dinp, inp, dout, s};
    ft_pool_for((size_t)s->B * s->C, plane_bytes(s, 1), maxpool_backward_planes, &j);
}

void ft_avgpool_forward(float *out, const float *inp, const ft_pool_shape *s)
{
    const int OH = ft_pool_out_h(s), OW = ft_pool_out_w(s);
    const size_t HW = (size_t)s->H * s->W, P = (size_t)OH * OW;
    const float inv = 1.0f / (float)(s->K * s->K);
    for (size_t bc = 0; bc < (size_t)s->B * s->C; bc++) {
        const float *plane = inp + bc * HW;
        float *o = out + bc * P;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                window w = clip_window(s, oy, ox);
                float acc = 0.0f;
                for (int y = w.y0; y < w.y1; y++)
                    for (int x = w.x0; x < w.x1; x++) acc += plane[(size_t)y * s->W + x];
                o[(size_t)oy * OW + ox] = acc * inv;
            }
    }
}

void ft_avgpool_backward(float *dinp, const float *dout, const ft_pool_shape *s)
{
    if (!dinp) return;
    const int OH = ft_pool_out_h(s), OW = ft_pool_out_w(s);
    const size_t HW = (size_t)s->H * s->W, P = (size_t)OH * OW;
    const float inv = 1.0f / (float)(s->K * s->K);
    for (size_t bc = 0; bc < (size_t)s->B * s->C; bc++) {
        const float *g = dout + bc * P;
        float *d = dinp + bc * HW;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                window w = clip_window(s, oy, ox);
                float gv = g[(size_t)oy * OW + ox] * inv;
                for (int y = w.y0; y < w.y1; y++)
                    for (int x = w.x0; x < w.x1; x++) d[(size_t)y * s->W + x] += gv;
            }
    }
}

/* ---- global average pool: inp (B,C,HW) -> out (B,C) ---- */

void ft_gap_forward(float *out, const float *inp, int B, int C, int HW)
{
    const float inv = 1.0f / (float)HW;
    for (size_t bc = 0; bc < (size_t)B * C; bc++) out[bc] = ft_sum_f32(inp + bc * HW, (size_t)HW) * inv;
}

void ft_gap_backward(float *dinp, const float *dout, int B, int C, int HW)
{
    if (!dinp) return;
    const float inv = 1.0f / (float)HW;
    for (size_t bc = 0; bc < (size_t)B * C; bc++) {
        float gv = dout[bc] * inv;
        float *d = dinp + bc * HW;
        for (int i = 0; i < HW; i++) d[i] += gv;
    }
}
