/* conv2d.c — 2-D convolution: im2col + cblas_sgemm, or depthwise direct.
 *
 * Shapes: inp (B,C,H,W), weight (OC, C/g, KH, KW), bias (OC) or NULL,
 * out (B,OC,OH,OW). Write P = OH*OW, OCg = OC/g, K = (C/g)*KH*KW.
 *
 * The batch is folded into the GEMM's N dimension, as darknet does: for a
 * chunk of n images, im2col lays out
 *
 *     col (C*KH*KW, n*P)      row (c,ky,kx), column (b,oy,ox)
 *
 * and since the rows of one group's channels are contiguous, group g is the
 * row block col[g*K, (g+1)*K). Per group
 *
 *     mat[g] (OCg, n*P) = W[g] (OCg, K) x col[g] (K, n*P)
 *
 * then mat (OC, n*P) is scattered into NCHW out (n, OC, P) adding the bias.
 * One GEMM thousands of columns wide per group and chunk keeps OpenBLAS in
 * its efficient regime and both its threads busy (a per-image GEMM is only P
 * wide: 576 for a 24x24 map); the scatter costs little next to the 2*K flops
 * per output. With a chunk of one image mat already is NCHW and the GEMM
 * writes into out.
 *
 * Backward per chunk: gather dout into mat (OC, n*P), recompute col, then
 *     dW[g]   += mat[g] x col[g]^T       (beta = 1: accumulates)
 *     dcol[g]  = W[g]^T x mat[g]         (overwrites col[g]: the same group's
 *                                         dW has consumed it)
 * and col2im adds dcol into dinp. dbias is a plain sum over dout. With
 * dinp == NULL (the first layer) the dcol GEMM and col2im are skipped; with
 * dweight == NULL the im2col is.
 *
 * Memory. im2col multiplies the input by KH*KW, so the batch is cut into
 * chunks of nb images such that col + mat stay under FT_CONV_WS_MAX_FLOATS
 * (conv2d.h); ft_conv2d_workspace() is that size, and it only grows with B so
 * a buffer reserved for the largest batch serves every smaller one. An image
 * too big for the bound on its own still runs, as a chunk of one, which needs
 * col only (the GEMM writes straight into out), and a forward-only chunk of
 * one through a 1x1 unpadded conv needs nothing (ft_conv2d_workspace_forward,
 * what an inference-only net reserves).
 *
 * im2col / col2im walk (c,ky,kx) rows, then images, then output rows: the
 * source plane stays in L1 while one col row is written in sequence. For
 * each kx the range of output x whose input x lies inside the image is
 * computed once, so the inner loop is a branch-free contiguous copy at
 * stride 1 (memcpy), with the padding zero-filled around it. A 1x1 stride-1
 * unpadded conv needs no im2col: col is the input with the images side by
 * side (one memcpy per channel and image), and for one image the input itself.
 *
 * A chunk of one image (the batch-1 inference of a detector on a 512x512 or
 * 416x416 photo) is cut into tiles of output rows whose col stays within
 * FT_CONV_COL_TILE_FLOATS (conv2d.h): each tile's GEMM writes its own columns
 * of out (ldc = P), so col never holds the whole 9x (27x for a 3-channel
 * input) copy of a large image — 19 MB for the tiny detector's first conv —
 * and stays in the cache. Tiling splits only the N dimension: every output is
 * the same K-long dot product.
 *
 * With ft_set_threads(n > 1) a one-image forward whose GEMMs do at least
 * FT_CONV_PAR_MIN_FLOPS is split into n parts on the library's pool
 * (core/pool.h) instead — OpenBLAS, at one thread meanwhile, splits a GEMM of
 * 32-256 rows too expensively (the face encoder ran slower on 2 BLAS threads
 * than on 1). Output rows are split when the map is large: each part tiles
 * its own rows with its share of the one-thread col tile (the same workspace,
 * cut in n slices) and GEMMs into its columns of out. When the map has fewer
 * positions than the layer has channels (the encoder's 9x9 and 5x5 stages)
 * the channels are split instead, after the n parts have written the whole
 * col together, each the col rows of its share of the input channels (two
 * runs): N-splitting a 25-column GEMM would make every thread pack all of a
 * 256x2304 weight matrix. The parts depend on n only, so
 * the result is the same bits run to run for a given n.
 *
 * Depthwise (groups == C, OC a multiple of C): a GEMM per channel would be one
 * row high, so a direct loop accumulates w[ky,kx] * shifted input rows into
 * output rows (vectorisable at stride 1) and needs no workspace.
 *
 * A batch of several images with ft_set_threads(n > 1) is split by whole images instead
 * (par_batch_*): each of the n parts runs the serial chunk loop above on its own images with
 * its own slice of the workspace and single-threaded GEMMs, so an image's im2col, GEMMs and
 * col2im stay on one core. Before, OpenBLAS's own threads split each chunk's GEMMs, and the
 * 9x copy that im2col had just written on one core was read by the other core's BLAS thread
 * (cache lines changing owner), while im2col, the scatter and col2im ran on one core: at
 * batch 256 the 64 -> 32 3x3 conv of seed-mnist ran at 66 (forward) and 82 (backward)
 * GFLOP/s, and at ~140 and ~135 split by images (bench/run_core.sh). The weight gradient is
 * the only shared output: parts 1..n-1 write partials at the front of the workspace, added in
 * part order. Computing the conv as KH*KW GEMMs over shifted views of one padded input (no
 * 9x copy) was tried and was slower overall: its backward GEMMs are thin (OC x C outputs over
 * a long inner dimension) and run at half speed.
 *
 * The one-image split keeps a static assignment (thread t always takes the same rows or
 * channels): taking pieces from a counter, so that a faster thread takes more, was measured
 * slower on the face encoder (87-102 against 101-110 images/s, 1 to 4 pieces per thread) — a
 * thread then works on rows the other core wrote in the layer before.
 */
#include "layers/conv2d.h"
#include "layers/reduce.h"
#include "pool.h"

#include <cblas.h>
#include <string.h>

/* ------------------------------------------------------------ geometry ---- */

static int out_dim(int in, int k, int stride, int pad)
{
    int span = in + 2 * pad - k;
    return span < 0 ? 0 : span / stride + 1;
}

int ft_conv2d_out_h(const ft_conv2d_shape *s) { return out_dim(s->H, s->KH, s->stride, s->pad); }
int ft_conv2d_out_w(const ft_conv2d_shape *s) { return out_dim(s->W, s->KW, s->stride, s->pad); }

static int is_pointwise(const ft_conv2d_shape *s)
{
    return s->KH == 1 && s->KW == 1 && s->stride == 1 && s->pad == 0;
}

/* [lo, hi): output positions o whose input position o*stride - pad + k lies
 * in [0, in). Everything outside reads padding. */
static void valid_range(int *lo, int *hi, int in, int out, int k, int stride, int pad)
{
    int first = pad - k, last = in - 1 + pad - k; /* need first <= o*stride <= last */
    int l = first <= 0 ? 0 : (first + stride - 1) / stride;
    int h = last < 0 ? 0 : last / stride + 1;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* ---------------------------------------------------------------- plans ---- */

static size_t taps(const ft_conv2d_shape *s) { return (size_t)s->KH * s->KW; }

/* Output rows per tile of a one-image forward: col stays within FT_CONV_COL_TILE_FLOATS. */
static int tile_rows(const ft_conv2d_shape *s)
{
    const size_t per_row = (size_t)s->C * taps(s) * (size_t)ft_conv2d_out_w(s);
    const int OH = ft_conv2d_out_h(s);
    size_t r = per_row ? FT_CONV_COL_TILE_FLOATS / per_row : (size_t)OH;
    if (r < 1) r = 1;
    return r > (size_t)OH ? OH : (int)r;
}

/* Workspace floats per image of a chunk: col + mat for im2col, none for depthwise. */
static size_t per_image_floats(const ft_conv2d_shape *s, ft_conv2d_algo algo)
{
    if (algo != FT_CONV_IM2COL) return 0;
    size_t P = (size_t)ft_conv2d_out_h(s) * (size_t)ft_conv2d_out_w(s);
    return ((size_t)s->C * taps(s) + (size_t)s->OC) * P;
}

int ft_conv2d_algo_applies(const ft_conv2d_shape *s, ft_conv2d_algo algo)
{
    switch (algo) {
    case FT_CONV_IM2COL: return 1;
    case FT_CONV_DEPTHWISE: return s->groups == s->C;
    }
    return 0;
}

static int chunk_images(const ft_conv2d_shape *s, ft_conv2d_algo algo, size_t budget)
{
    size_t per = per_image_floats(s, algo);
    size_t nb = per ? budget / per : (size_t)s->B;
    if (nb < 1) nb = 1;
    if (nb > (size_t)s->B) nb = (size_t)s->B;
    return (int)nb;
}

ft_conv2d_plan ft_conv2d_plan_for(const ft_conv2d_shape *s)
{
    ft_conv2d_plan p;
    if (s->groups > 1 && s->groups == s->C) {
        p.algo = FT_CONV_DEPTHWISE;
        p.nb = s->B;
    } else {
        p.algo = FT_CONV_IM2COL;
        p.nb = chunk_images(s, FT_CONV_IM2COL, FT_CONV_WS_MAX_FLOATS);
    }
    if (p.nb < 1) p.nb = 1;
    return p;
}

/* Chunks of one image never use mat (the GEMM writes into out), so they need col alone; a
 * forward-only 1x1 unpadded conv does not even need col (the input is already (C, P)). */
static size_t plan_floats(const ft_conv2d_shape *s, ft_conv2d_plan p, int forward_only)
{
    if (p.algo != FT_CONV_IM2COL) return 0;
    if (p.nb > 1) return (size_t)p.nb * per_image_floats(s, p.algo);
    if (forward_only && is_pointwise(s)) return 0;
    const size_t rows = forward_only ? (size_t)tile_rows(s) : (size_t)ft_conv2d_out_h(s);
    return (size_t)s->C * taps(s) * rows * (size_t)ft_conv2d_out_w(s);
}

size_t ft_conv2d_workspace_plan(const ft_conv2d_shape *s, ft_conv2d_plan p) { return plan_floats(s, p, 0); }

size_t ft_conv2d_workspace_forward(const ft_conv2d_shape *s)
{
    return plan_floats(s, ft_conv2d_plan_for(s), 1);
}

size_t ft_conv2d_workspace(const ft_conv2d_shape *s)
{
    return ft_conv2d_workspace_plan(s, ft_conv2d_plan_for(s));
}

/* ------------------------------------------------------- row primitives ---- */

static void copy_strided(float *restrict dst, const float *restrict src, int n, int stride)
{
    if (stride == 1) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    if (stride == 2) { /* a constant stride vectorises (the encoder's 7x7/2 first conv) */
        for (int i = 0; i < n; i++) dst[i] = src[2 * (size_t)i];
        return;
    }
    for (int i = 0; i < n; i++) dst[i] = src[(size_t)i * stride];
}

/* dst[i*stride] += src[i] */
static void add_strided(float *restrict dst, const float *restrict src, int n, int stride)
{
    if (stride == 1) {
        for (int i = 0; i < n; i++) dst[i] += src[i];
        return;
    }
    for (int i = 0; i < n; i++) dst[(size_t)i * stride] += src[i];
}

/* y[i] += a * x[i*stride] */
static void axpy_strided(float *restrict y, const float *restrict x, float a, int n, int stride)
{
    if (stride == 1) {
        for (int i = 0; i < n; i++) y[i] += a * x[i];
        return;
    }
    for (int i = 0; i < n; i++) y[i] += a * x[(size_t)i * stride];
}

/* y[i*stride] += a * x[i] */
static void axpy_scatter(float *restrict y, const float *restrict x, float a, int n, int stride)
{
    if (stride == 1) {
        for (int i = 0; i < n; i++) y[i] += a * x[i];
        return;
    }
    for (int i = 0; i < n; i++) y[(size_t)i * stride] += a * x[i];
}

/* sum_i x[i] * y[i*stride] */
static float dot_strided(const float *restrict x, const float *restrict y, int n, int stride)
{
    if (stride == 1) return ft_dot_f32(x, y, (size_t)n);
    float acc = 0.0f;
    for (int i = 0; i < n; i++) acc += x[i] * y[(size_t)i * stride];
    return acc;
}

/* out (n,OC,P) = mat (OC, n*P) + bias; mat may already be out (n == 1). */
static void scatter_bias(float *out, const float *mat, const float *bias, int OC, size_t P, int n)
{
    const size_t N = (size_t)n * P;
    for (int b = 0; b < n; b++)
        for (int oc = 0; oc < OC; oc++) {
            float *o = out + ((size_t)b * OC + oc) * P;
            const float *m = mat + (size_t)oc * N + (size_t)b * P;
            float bv = bias ? bias[oc] : 0.0f;
            if (o != m)
                for (size_t p = 0; p < P; p++) o[p] = m[p] + bv;
            else if (bias)
                for (size_t p = 0; p < P; p++) o[p] += bv;
        }
}

/* The valid rows of one (c, ky, kx) row of col when the conv is stride 1 and OW == W (a "same"
 * conv such as 3x3 pad 1): output (oy, ox) reads input (oy + ky - pad, ox + kx - pad), a constant
 * offset in the flattened plane, so `rows` rows are ONE contiguous copy from the first valid cell
 * `src` (that of output (first row, xlo)) into d + xlo; the columns outside [xlo, xhi) then hold
 * the neighbouring input row's edge and are zeroed. On the face encoder's 5x5 to 35x35 maps this
 * replaced a memcpy and two fills per output row (20% of its time in im2col) by one per block. */
/* GCC turns a zero-filling loop into a memset call; for the one or two padding columns of an
 * im2col row that call costs more than the stores (memset was 5% of the 2-thread encoder). */
#if defined(__GNUC__) && !defined(__clang__)
#define FT_STORE_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define FT_STORE_LOOPS
#endif

FT_STORE_LOOPS static void copy_rows_same(float *d, const float *src, int rows, int W, int xlo, int xhi)
{
    memcpy(d + xlo, src, ((size_t)(rows - 1) * W + (size_t)(xhi - xlo)) * sizeof(float));
    for (int r = 0; r < rows; r++) {
        float *dr = d + (size_t)r * W;
        for (int ox = 0; ox < xlo; ox++) dr[ox] = 0.0f;
        for (int ox = xhi; ox < W; ox++) dr[ox] = 0.0f;
    }
}

/* --------------------------------------------------------- 1. im2col ---- */

/* col (C*KH*KW, n*P) from inp (n,C,H,W). */
FT_STORE_LOOPS static void im2col(float *col, const float *inp, const ft_conv2d_shape *s, int n)
{
    const int OH = ft_conv2d_out_h(s), OW = ft_conv2d_out_w(s), S = s->stride;
    const size_t P = (size_t)OH * OW, N = (size_t)n * P, HW = (size_t)s->H * s->W;
    if (is_pointwise(s)) {
        for (int c = 0; c < s->C; c++)
            for (int b = 0; b < n; b++)
                memcpy(col + c * N + b * P, inp + ((size_t)b * s->C + c) * HW, P * sizeof(float));
        return;
    }
    const int same = S == 1 && OW == s->W;
    for (int c = 0; c < s->C; c++) {
        for (int ky = 0; ky < s->KH; ky++) {
            int ylo, yhi;
            valid_range(&ylo, &yhi, s->H, OH, ky, S, s->pad);
            for (int kx = 0; kx < s->KW; kx++) {
                int xlo, xhi;
                valid_range(&xlo, &xhi, s->W, OW, kx, S, s->pad);
                float *row = col + (((size_t)c * s->KH + ky) * s->KW + kx) * N;
                for (int b = 0; b < n; b++) {
                    const float *plane = inp + ((size_t)b * s->C + c) * HW;
                    float *dst = row + b * P;
                    memset(dst, 0, (size_t)ylo * OW * sizeof(float));
                    if (same && xhi > xlo && yhi > ylo)
                        copy_rows_same(dst + (size_t)ylo * OW,
                                       plane + (size_t)(ylo - s->pad + ky) * s->W + (xlo - s->pad + kx),
                                       yhi - ylo, OW, xlo, xhi);
                    for (int oy = same && xhi > xlo ? yhi : ylo; oy < yhi; oy++) {
                        float *d = dst + (size_t)oy * OW;
                        for (int ox = 0; ox < xlo; ox++) d[ox] = 0.0f;
                        if (xhi > xlo)
                            copy_strided(d + xlo,
                                         plane + (size_t)(oy * S - s->pad + ky) * s->W
                                             + (xlo * S - s->pad + kx),
                                         xhi - xlo, S);
                        for (int ox = xhi; ox < OW; ox++) d[ox] = 0.0f;
                    }
                    memset(dst + (size_t)yhi * OW, 0, (size_t)(OH - yhi) * OW * sizeof(float));
                }
            }
        }
    }
}

/* col (C*KH*KW, (oy1-oy0)*OW), rows ld apart, from ONE image's output rows [oy0, oy1): a row
 * tile of im2col (ld = (oy1-oy0)*OW), or a column slice of the whole col (ld = P). */
FT_STORE_LOOPS static void im2col_rows(float *col, size_t ld, const float *inp, const ft_conv2d_shape *s, int oy0,
                                       int oy1)
{
    const int OH = ft_conv2d_out_h(s), OW = ft_conv2d_out_w(s), S = s->stride;
    const size_t N = ld, HW = (size_t)s->H * s->W;
    const int same = S == 1 && OW == s->W;
    for (int c = 0; c < s->C; c++) {
        const float *plane = inp + (size_t)c * HW;
        for (int ky = 0; ky < s->KH; ky++) {
            int ylo, yhi;
            valid_range(&ylo, &yhi, s->H, OH, ky, S, s->pad);
            if (ylo < oy0) ylo = oy0;
            if (yhi > oy1) yhi = oy1;
            if (yhi < ylo) yhi = ylo;
            for (int kx = 0; kx < s->KW; kx++) {
                int xlo, xhi;
                valid_range(&xlo, &xhi, s->W, OW, kx, S, s->pad);
                float *row = col + (((size_t)c * s->KH + ky) * s->KW + kx) * N;
                if (same && xhi > xlo) { /* padding rows, then the valid block in one copy */
                    const int y0 = ylo < oy1 ? ylo : oy1; /* oy0 <= y0 <= y1 <= oy1 */
                    const int y1 = yhi < oy1 ? yhi : oy1;
                    if (y0 > oy0) memset(row, 0, (size_t)(y0 - oy0) * OW * sizeof(float));
                    if (y1 > y0)
                        copy_rows_same(row + (size_t)(y0 - oy0) * OW,
                                       plane + (size_t)(y0 - s->pad + ky) * s->W + (xlo - s->pad + kx),
                                       y1 - y0, OW, xlo, xhi);
                    if (oy1 > y1) memset(row + (size_t)(y1 - oy0) * OW, 0, (size_t)(oy1 - y1) * OW * sizeof(float));
                    continue;
                }
                for (int oy = oy0; oy < oy1; oy++) {
                    float *d = row + (size_t)(oy - oy0) * OW;
                    if (oy < ylo || oy >= yhi) {
                        memset(d, 0, (size_t)OW * sizeof(float));
                        continue;
                    }
                    for (int ox = 0; ox < xlo; ox++) d[ox] = 0.0f;
                    if (xhi > xlo)
                        copy_strided(d + xlo, plane + (size_t)(oy * S - s->pad + ky) * s->W + (xlo * S - s->pad + kx),
                                     xhi - xlo, S);
                    for (int ox = xhi; ox < OW; ox++) d[ox] = 0.0f;
                }
            }
        }
    }
}

/* One image through im2col in row tiles: each tile's GEMM writes its columns of out (ldc P). */
static void im2col_forward_tiled(float *out, const float *inp, const float *weight, const float *bias,
                                 const ft_conv2d_shape *s, float *col)
{
    const int G = s->groups, OCg = s->OC / G, K = (s->C / G) * s->KH * s->KW;
    const int OH = ft_conv2d_out_h(s), OW = ft_conv2d_out_w(s), rows = tile_rows(s);
    const size_t P = (size_t)OH * OW;
    for (int oy0 = 0; oy0 < OH; oy0 += rows) {
        const int oy1 = oy0 + rows < OH ? oy0 + rows : OH;
        const int N = (oy1 - oy0) * OW;
        im2col_rows(col, (size_t)N, inp, s, oy0, oy1);
        for (int g = 0; g < G; g++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OCg, N, K, 1.0f, weight + (size_t)g * OCg * K, K,
                        col + (size_t)g * K * N, N, 0.0f, out + (size_t)g * OCg * P + (size_t)oy0 * OW, (int)P);
    }
    scatter_bias(out, out, bias, s->OC, P, 1);
}

/* ------------------------------------------ one image across the pool's threads ---- */

/* A one-image forward split into T parts (core/pool.h; T from ft_set_threads). */
typedef struct {
    float *out;
    const float *inp, *weight, *bias;
    const ft_conv2d_shape *s;
    float *ws;
    size_t slice; /* row split: ws floats of each part's col tile */
    int tile;     /* row split: output rows per tile of a part */
} par_conv;

/* [lo, hi): part t of T of n items. */
static void part_range(int n, int t, int T, int *lo, int *hi)
{
    *lo = (int)((long long)n * t / T);
    *hi = (int)((long long)n * (t + 1) / T);
}

/* out[oc, p] += bias[oc] for channels [c0, c1) and positions [p0, p1). */
static void add_bias(float *out, const float *bias, int c0, int c1, size_t P, size_t p0, size_t p1)
{
    if (!bias) return;
    for (int oc = c0; oc < c1; oc++) {
        float *o = out + (size_t)oc * P;
        const float bv = bias[oc];
        for (size_t p = p0; p < p1; p++) o[p] += bv;
    }
}

/* Row split: part t computes output rows [r0, r1) of every channel — its own im2col tiles in
 * its slice of ws, its own GEMMs into its columns of out (ldc P), its own bias. */
static void par_rows(void *arg, int t, int T)
{
    const par_conv *j = arg;
    const ft_conv2d_shape *s = j->s;
    const int G = s->groups, OCg = s->OC / G, K = (s->C / G) * s->KH * s->KW;
    const int OH = ft_conv2d_out_h(s), OW = ft_conv2d_out_w(s);
    const size_t P = (size_t)OH * OW;
    int r0, r1;
    part_range(OH, t, T, &r0, &r1);
    float *col = is_pointwise(s) ? NULL : j->ws + (size_t)t * j->slice; /* pointwise: ws may be NULL */
    for (int oy0 = r0; oy0 < r1; oy0 += j->tile) {
        const int oy1 = oy0 + j->tile < r1 ? oy0 + j->tile : r1;
        const int N = (oy1 - oy0) * OW;
        const float *cin = j->inp + (size_t)oy0 * OW; /* pointwise: the input is (C, P) */
        size_t ld = P;
        if (!is_pointwise(s)) {
            im2col_rows(col, (size_t)N, j->inp, s, oy0, oy1);
            cin = col;
            ld = (size_t)N;
        }
        for (int g = 0; g < G; g++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OCg, N, K, 1.0f, j->weight + (size_t)g * OCg * K,
                        K, cin + (size_t)g * K * ld, (int)ld, 0.0f, j->out + (size_t)g * OCg * P + (size_t)oy0 * OW,
                        (int)P);
    }
    add_bias(j->out, j->bias, 0, s->OC, P, (size_t)r0 * OW, (size_t)r1 * OW);
}

/* Channel split, phase 1: part t writes the col rows of its input channels [c0, c1) — every
 * output position — into the whole col (C*KH*KW, P) in ws: equal shares (the 5x5 map's 5 output
 * rows split 2 + 3 when the rows were shared out), and no col row written by two cores. */
static void par_im2col(void *arg, int t, int T)
{
    const par_conv *j = arg;
    const int OH = ft_conv2d_out_h(j->s), OW = ft_conv2d_out_w(j->s);
    int c0, c1;
    part_range(j->s->C, t, T, &c0, &c1);
    if (c1 <= c0) return;
    ft_conv2d_shape sub = *j->s; /* im2col_rows reads C only as its channel count */
    sub.C = c1 - c0;
    const size_t P = (size_t)OH * OW;
    im2col_rows(j->ws + (size_t)c0 * j->s->KH * j->s->KW * P, P, j->inp + (size_t)c0 * j->s->H * j->s->W, &sub, 0,
                OH);
}

/* Channel split, phase 2: part t computes output channels [c0, c1) of each group from the whole
 * col, c0 and c1 multiples of FT_CONV_PAR_ROW_ALIGN (the GEMM kernel's row block). */
static void par_channels(void *arg, int t, int T)
{
    const par_conv *j = arg;
    const ft_conv2d_shape *s = j->s;
    const int G = s->groups, OCg = s->OC / G, K = (s->C / G) * s->KH * s->KW;
    const size_t P = (size_t)ft_conv2d_out_h(s) * ft_conv2d_out_w(s);
    const int blocks = (OCg + FT_CONV_PAR_ROW_ALIGN - 1) / FT_CONV_PAR_ROW_ALIGN;
    int b0, b1;
    part_range(blocks, t, T, &b0, &b1);
    const int c0 = b0 * FT_CONV_PAR_ROW_ALIGN, c1 = b1 * FT_CONV_PAR_ROW_ALIGN < OCg ? b1 * FT_CONV_PAR_ROW_ALIGN : OCg;
    if (c1 <= c0) return;
    for (int g = 0; g < G; g++) {
        float *o = j->out + ((size_t)g * OCg + c0) * P;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c1 - c0, (int)P, K, 1.0f,
                    j->weight + ((size_t)g * OCg + c0) * K, K, j->ws + (size_t)g * K * P, (int)P, 0.0f, o, (int)P);
        add_bias(j->out, j->bias, g * OCg + c0, g * OCg + c1, P, 0, P);
    }
}

/* One image's forward on the pool's threads when it pays: returns 0 (nothing done) when the pool
 * has one thread or the GEMM is too small, else 1. Few output positions and many channels (the
 * deep layers: P = 25..81 for 128..256 channels) split the channels, so each thread packs half
 * the weights; otherwise the output rows are split, each thread with its own im2col tile (a
 * share of the one-thread tile, within the same workspace). */
static int conv_forward_parallel(float *out, const float *inp, const float *weight, const float *bias,
                                 const ft_conv2d_shape *s, float *ws)
{
    const int T = ft_pool_threads();
    if (T <= 1) return 0;
    const int OH = ft_conv2d_out_h(s), OW = ft_conv2d_out_w(s), OCg = s->OC / s->groups;
    const size_t P = (size_t)OH * OW;
    const double flops = 2.0 * s->OC * (double)P * (s->C / s->groups) * (double)taps(s);
    if (flops < FT_CONV_PAR_MIN_FLOPS) return 0;
    par_conv j = {out, inp, weight, bias, s, ws, 0, OH};
    const int pointwise = is_pointwise(s);
    if (!pointwise && P < (size_t)OCg && OCg >= FT_CONV_PAR_ROW_ALIGN * T && tile_rows(s) == OH) {
        ft_pool_run(T, par_im2col, &j);
        ft_pool_run(T, par_channels, &j);
        return 1;
    }
    if (OH < T) return 0;
    if (!pointwise) {
        j.tile = tile_rows(s) / T;
        if (j.tile < 1) return 0;
        j.slice = (size_t)s->C * taps(s) * (size_t)j.tile * OW;
    }
    ft_pool_run(T, par_rows, &j);
    return 1;
}

/* dinp (n,C,H,W) += col2im(dcol (C*KH*KW, n*P)). */
static void col2im_add(float *dinp, const float *col, const ft_conv2d_shape *s, int n)
{
    const int OH = ft_conv2d_out_h(s), OW = ft_conv2d_out_w(s), S = s->stride;
    const size_t P = (size_t)OH * OW, N = (size_t)n * P, HW = (size_t)s->H * s->W;
    if (is_pointwise(s)) {
        for (int c = 0; c < s->C; c++)
            for (int b = 0; b < n; b++)
                add_strided(dinp + ((size_t)b * s->C + c) * HW, col + c * N + b * P, (int)P, 1);
        return;
    }
    for (int c = 0; c < s->C; c++) {
        for (int ky = 0; ky < s->KH; ky++) {
            int ylo, yhi;
            valid_range(&ylo, &yhi, s->H, OH, ky, S, s->pad);
            for (int kx = 0; kx < s->KW; kx++) {
                int xlo, xhi;
                valid_range(&xlo, &xhi, s->W, OW, kx, S, s->pad);
                if (xlo >= xhi) continue;
                const float *row = col + (((size_t)c * s->KH + ky) * s->KW + kx) * N;
                for (int b = 0; b < n; b++) {
                    float *plane = dinp + ((size_t)b * s->C + c) * HW;
                    const float *src = row + b * P;
                    for (int oy = ylo; oy < yhi; oy++) {
                        float *d = plane + (size_t)(oy * S - s->pad + ky) * s->W
                                   + (xlo * S - s->pad + kx);
                        add_strided(d, src + (size_t)oy * OW + xlo, xhi - xlo, S);
                    }
                }
            }
        }
    }
}

/* One chunk of n images at inp/out (its first image): col (C*KH*KW, n*P) and mat (OC, n*P) are
 * its buffers. nested: running as a part of a pool run, so a one-image chunk may not split
 * itself over the pool again. */
static void forward_chunk(float *out, const float *inp, const float *weight, const float *bias,
                          const ft_conv2d_shape *s, float *col, float *mat, int n, int nested)
{
    const int G = s->groups, OCg = s->OC / G, K = (s->C / G) * s->KH * s->KW;
    const size_t P = (size_t)ft_conv2d_out_h(s) * ft_conv2d_out_w(s), N = (size_t)n * P;
    if (n == 1 && !nested && conv_forward_parallel(out, inp, weight, bias, s, col)) return;
    if (n == 1 && !is_pointwise(s)) {
        im2col_forward_tiled(out, inp, weight, bias, s, col);
        return;
    }
    float *dst = n == 1 ? out : mat; /* one image: mat is NCHW */
    const float *cin = col;
    if (n == 1) cin = inp; /* pointwise: already (C, P) */
    else im2col(col, inp, s, n);
    for (int g = 0; g < G; g++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OCg, (int)N, K, 1.0f, weight + (size_t)g * OCg * K, K,
                    cin + (size_t)g * K * N, (int)N, 0.0f, dst + (size_t)g * OCg * N, (int)N);
    scatter_bias(out, dst, bias, s->OC, P, n);
}

/* One chunk's backward (see the top): dout/inp/dinp at the chunk's first image; dweight
 * accumulates (beta = 1). */
static void backward_chunk(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                           const ft_conv2d_shape *s, float *col, float *mat, int n)
{
    const int G = s->groups, OCg = s->OC / G, K = (s->C / G) * s->KH * s->KW;
    const size_t P = (size_t)ft_conv2d_out_h(s) * ft_conv2d_out_w(s), N = (size_t)n * P;
    const size_t out_img = (size_t)s->OC * P;
    const float *dm = dout; /* one image: already (OC, P) */
    if (n > 1) {
        for (int b = 0; b < n; b++)
            for (int oc = 0; oc < s->OC; oc++)
                memcpy(mat + (size_t)oc * N + (size_t)b * P, dout + (size_t)b * out_img + (size_t)oc * P,
                       P * sizeof(float));
        dm = mat;
    }
    const float *cin = col;
    if (dweight) {
        if (n == 1 && is_pointwise(s)) cin = inp;
        else im2col(col, inp, s, n);
    }
    for (int g = 0; g < G; g++) {
        const float *dmg = dm + (size_t)g * OCg * N;
        if (dweight)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OCg, K, (int)N, 1.0f, dmg, (int)N,
                        cin + (size_t)g * K * N, (int)N, 1.0f, dweight + (size_t)g * OCg * K, K);
        if (dinp)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, (int)N, OCg, 1.0f, weight + (size_t)g * OCg * K, K,
                        dmg, (int)N, 0.0f, col + (size_t)g * K * N, (int)N);
    }
    if (dinp) col2im_add(dinp, col, s, n);
}

/* ------------------------------------- a batch across the pool's threads (training) ---- */

/* With the pool on (ft_set_threads(n > 1)) a batch is cut into T runs of whole images, each
 * part doing exactly the serial chunk loop on its images with its own slice of the workspace
 * and single-threaded GEMMs: every image's im2col, GEMMs and col2im stay on one core, where
 * OpenBLAS's own 2-thread GEMMs made each core read columns the other had just written. The
 * weight gradient is the one thing parts share: part 0 accumulates into dweight, parts 1..T-1
 * into their own zeroed partial (at the front of the workspace), which the caller then adds
 * in part order — so the bits depend on T (and the plan), never on timing. When the workspace
 * cannot hold the partials and a one-image slice per part, the serial loop runs instead. */
typedef struct {
    float *out, *dinp, *dweight;
    const float *inp, *dout, *weight, *bias;
    const ft_conv2d_shape *s;
    float *parts;    /* part t's col + mat start at parts + t * slice */
    size_t slice;    /* workspace floats per part */
    int nbt;         /* images per chunk of a part */
    float *partial;  /* backward: (T-1) partial weight gradients, wsz floats each */
    size_t wsz;
} par_batch;

/* Part t of T: images [lo, hi) of the batch, in chunks of nbt images through its own col and
 * mat (its slice of the workspace); in_img / out_img floats per input / output image. */
typedef struct {
    int lo, hi;
    float *col, *mat;
    size_t in_img, out_img;
} batch_slice;

static batch_slice batch_part(const par_batch *j, int t, int T)
{
    const ft_conv2d_shape *s = j->s;
    const size_t P = (size_t)ft_conv2d_out_h(s) * ft_conv2d_out_w(s);
    batch_slice v;
    part_range(s->B, t, T, &v.lo, &v.hi);
    v.col = j->parts + (size_t)t * j->slice;
    v.mat = v.col + (size_t)j->nbt * s->C * taps(s) * P;
    v.in_img = (size_t)s->C * s->H * s->W;
    v.out_img = (size_t)s->OC * P;
    return v;
}

static void par_batch_forward(void *arg, int t, int T)
{
    const par_batch *j = arg;
    const batch_slice v = batch_part(j, t, T);
    for (int b = v.lo; b < v.hi; b += j->nbt) {
        const int n = v.hi - b < j->nbt ? v.hi - b : j->nbt;
        forward_chunk(j->out + (size_t)b * v.out_img, j->inp + (size_t)b * v.in_img, j->weight, j->bias, j->s, v.col,
                      v.mat, n, 1);
    }
}

static void par_batch_backward(void *arg, int t, int T)
{
    const par_batch *j = arg;
    const batch_slice v = batch_part(j, t, T);
    float *dw = j->dweight;
    if (dw && t > 0) {
        dw = j->partial + (size_t)(t - 1) * j->wsz;
        memset(dw, 0, j->wsz * sizeof(float));
    }
    for (int b = v.lo; b < v.hi; b += j->nbt) {
        const int n = v.hi - b < j->nbt ? v.hi - b : j->nbt;
        backward_chunk(j->dinp ? j->dinp + (size_t)b * v.in_img : NULL, dw, j->dout + (size_t)b * v.out_img,
                       j->inp + (size_t)b * v.in_img, j->weight, j->s, v.col, v.mat, n);
    }
}

/* Threads for a batch split of shape s, or 0 when it does not apply (one thread, one image, too
 * few flops for a run's wake-up). */
static int batch_threads(const ft_conv2d_shape *s)
{
    const int T = ft_pool_threads();
    if (T <= 1 || s->B < 2) return 0;
    const double flops = 2.0 * s->OC * (double)ft_conv2d_out_h(s) * ft_conv2d_out_w(s) * (s->C / s->groups)
                         * (double)taps(s) * s->B;
    if (flops < FT_CONV_PAR_MIN_FLOPS) return 0;
    return T < s->B ? T : s->B;
}

/* Cuts the plan's workspace (ws, plan_floats of a chunk of nb images) into `reserve` floats at
 * the front and T part slices of whole images; returns 0 when a part would get no image. */
static int batch_layout(par_batch *j, const ft_conv2d_shape *s, float *ws, int nb, int T, size_t reserve)
{
    const size_t per = per_image_floats(s, FT_CONV_IM2COL), total = nb > 1 ? (size_t)nb * per : 0;
    if (total <= reserve) return 0;
    const size_t nbt = (total - reserve) / ((size_t)T * per);
    if (nbt < 1) return 0;
    j->partial = ws;
    j->parts = ws + reserve;
    j->nbt = (int)nbt;
    j->slice = nbt * per;
    return 1;
}

static int forward_batch_parallel(float *out, const float *inp, const float *weight, const float *bias,
                                  const ft_conv2d_shape *s, float *ws, int nb)
{
    const int T = batch_threads(s);
    par_batch j = {.out = out, .inp = inp, .weight = weight, .bias = bias, .s = s};
    if (!T || !batch_layout(&j, s, ws, nb, T, 0)) return 0;
    ft_pool_run(T, par_batch_forward, &j);
    return 1;
}

static int backward_batch_parallel(float *dinp, float *dweight, const float *dout, const float *inp,
                                   const float *weight, const ft_conv2d_shape *s, float *ws, int nb)
{
    const int T = batch_threads(s);
    const size_t wsz = (size_t)s->OC * (s->C / s->groups) * taps(s);
    par_batch j = {.dinp = dinp, .dweight = dweight, .inp = inp, .dout = dout, .weight = weight, .s = s, .wsz = wsz};
    if (!T || !batch_layout(&j, s, ws, nb, T, dweight ? (size_t)(T - 1) * wsz : 0)) return 0;
    ft_pool_run(T, par_batch_backward, &j);
    for (int t = 1; dweight && t < T; t++) {
        const float *p = j.partial + (size_t)(t - 1) * wsz;
        for (size_t i = 0; i < wsz; i++) dweight[i] += p[i];
    }
    return 1;
}

/* ws: col (C*KH*KW, nb*P), mat (OC, nb*P) */
static void im2col_forward(float *out, const float *inp, const float *weight, const float *bias,
                           const ft_conv2d_shape *s, float *ws, int nb)
{
    const size_t P = (size_t)ft_conv2d_out_h(s) * ft_conv2d_out_w(s);
    const size_t in_img = (size_t)s->C * s->H * s->W, out_img = (size_t)s->OC * P;
    if (forward_batch_parallel(out, inp, weight, bias, s, ws, nb)) return;
    float *col = ws, *mat = ws + (size_t)nb * s->C * taps(s) * P;
    for (int b0 = 0; b0 < s->B; b0 += nb) {
        const int n = s->B - b0 < nb ? s->B - b0 : nb;
        forward_chunk(out + (size_t)b0 * out_img, inp + (size_t)b0 * in_img, weight, bias, s, col, mat, n, 0);
    }
}

static void im2col_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                            const float *weight, const ft_conv2d_shape *s, float *ws, int nb)
{
    const size_t P = (size_t)ft_conv2d_out_h(s) * ft_conv2d_out_w(s);
    const size_t in_img = (size_t)s->C * s->H * s->W, out_img = (size_t)s->OC * P;
    if (backward_batch_parallel(dinp, dweight, dout, inp, weight, s, ws, nb)) return;
    float *col = ws, *mat = ws + (size_t)nb * s->C * taps(s) * P;
    for (int b0 = 0; b0 < s->B; b0 += nb) {
        const int n = s->B - b0 < nb ? s->B - b0 : nb;
        backward_chunk(dinp ? dinp + (size_t)b0 * in_img : NULL, dweight, dout + (size_t)b0 * out_img,
                       inp + (size_t)b0 * in_img, weight, s, col, mat, n);
    }
}

/* ----------------------------------------------------- 2. depthwise ---- */

/* groups == C: output channel oc reads input channel oc / (OC/C). */
static void depthwise_forward(float *out, const float *inp, const float *weight, const float *bias,
                              const ft_conv2d_shape *s)
{
    const int OH = ft_conv2d_out_h(s), OW = ft_conv2d_out_w(s), S = s->stride, mult = s->OC / s->C;
    const size_t P = (size_t)OH * OW, HW = (size_t)s->H * s->W;
    for (int b = 0; b < s->B; b++) {
        for (int oc = 0; oc < s->OC; oc++) {
            const float *plane = inp + ((size_t)b * s->C + oc / mult) * HW;
            const float *w = weight + (size_t)oc * taps(s);
            float *o = out + ((size_t)b * s->OC + oc) * P;
            float bv = bias ? bias[oc] : 0.0f;
            for (size_t p = 0; p < P; p++) o[p] = bv;
            for (int ky = 0; ky < s->KH; ky++) {
                int ylo, yhi;
                valid_range(&ylo, &yhi, s->H, OH, ky, S, s->pad);
                for (int kx = 0; kx < s->KW; kx++) {
                    int xlo, xhi;
                    valid_range(&xlo, &xhi, s->W, OW, kx, S, s->pad);
                    if (xlo >= xhi) continue;
                    float wv = w[ky * s->KW + kx];
                    for (int oy = ylo; oy < yhi; oy++) {
                        const float *src = plane + (size_t)(oy * S - s->pad + ky) * s->W
                                           + (xlo * S - s->pad + kx);
                        axpy_strided(o + (size_t)oy * OW + xlo, src, wv, xhi - xlo, S);
                    }
                }
            }
        }
    }
}

static void depthwise_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                               const float *weight, const ft_conv2d_shape *s)
{
    const int OH = ft_conv2d_out_h(s), OW = ft_conv2d_out_w(s), S = s->stride, mult = s->OC / s->C;
    const size_t P = (size_t)OH * OW, HW = (size_t)s->H * s->W;
    for (int b = 0; b < s->B; b++) {
        for (int oc = 0; oc < s->OC; oc++) {
            size_t in_off = ((size_t)b * s->C + oc / mult) * HW;
            const float *g = dout + ((size_t)b * s->OC + oc) * P;
            for (int ky = 0; ky < s->KH; ky++) {
                int ylo, yhi;
                valid_range(&ylo, &yhi, s->H, OH, ky, S, s->pad);
                for (int kx = 0; kx < s->KW; kx++) {
                    int xlo, xhi;
                    valid_range(&xlo, &xhi, s->W, OW, kx, S, s->pad);
                    if (xlo >= xhi) continue;
                    size_t widx = ((size_t)oc * s->KH + ky) * s->KW + kx;
                    float wv = weight[widx], dw = 0.0f;
                    for (int oy = ylo; oy < yhi; oy++) {
                        size_t off = in_off + (size_t)(oy * S - s->pad + ky) * s->W
                                     + (size_t)(xlo * S - s->pad + kx);
                        const float *grow = g + (size_t)oy * OW + xlo;
                        if (dweight) dw += dot_strided(grow, inp + off, xhi - xlo, S);
                        if (dinp) axpy_scatter(dinp + off, grow, wv, xhi - xlo, S);
                    }
                    if (dweight) dweight[widx] += dw;
                }
            }
        }
    }
}

/* -------------------------------------------------------- entry points ---- */

void ft_conv2d_forward_plan(float *out, const float *inp, const float *weight, const float *bias,
                            const ft_conv2d_shape *s, float *ws, ft_conv2d_plan p)
{
    switch (p.algo) {
    case FT_CONV_DEPTHWISE: depthwise_forward(out, inp, weight, bias, s); break;
    case FT_CONV_IM2COL: im2col_forward(out, inp, weight, bias, s, ws, p.nb); break;
    }
}

void ft_conv2d_backward_plan(float *dinp, float *dweight, float *dbias, const float *dout,
                             const float *inp, const float *weight, const ft_conv2d_shape *s,
                             float *ws, ft_conv2d_plan p)
{
    const size_t P = (size_t)ft_conv2d_out_h(s) * ft_conv2d_out_w(s);
    if (dbias) {
        for (int oc = 0; oc < s->OC; oc++) {
            float acc = 0.0f;
            for (int b = 0; b < s->B; b++) acc += ft_sum_f32(dout + ((size_t)b * s->OC + oc) * P, P);
            dbias[oc] += acc;
        }
    }
    if (!dweight && !dinp) return;
    switch (p.algo) {
    case FT_CONV_DEPTHWISE: depthwise_backward(dinp, dweight, dout, inp, weight, s); break;
    case FT_CONV_IM2COL: im2col_backward(dinp, dweight, dout, inp, weight, s, ws, p.nb); break;
    }
}

void ft_conv2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                       const ft_conv2d_shape *s, float *ws)
{
    ft_conv2d_forward_plan(out, inp, weight, bias, s, ws, ft_conv2d_plan_for(s));
}

void ft_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const ft_conv2d_shape *s,
                        float *ws)
{
    ft_conv2d_backward_plan(dinp, dweight, dbias, dout, inp, weight, s, ws, ft_conv2d_plan_for(s));
}
