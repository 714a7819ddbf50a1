/* layers/conv2d.h — internals of the conv layer (core/layers/conv2d.c) that
 * tests and benchmarks reach: the plan (which algorithm, how many images per
 * chunk) chosen for a shape, and forward/backward under an explicit plan, so
 * a test can run every algorithm on every shape it applies to and make a
 * small batch span several chunks. The public entry points in
 * facetwin/layers.h are these with ft_conv2d_plan_for(s).
 */
#ifndef FT_LAYERS_CONV2D_H
#define FT_LAYERS_CONV2D_H

#include <stddef.h>

#include "facetwin/layers.h"

/* im2col path: the batch is cut into chunks of nb images so that the im2col
 * buffer + GEMM output of one chunk stay under this many floats (8 MiB).
 * Measured at batch 256 on the reference convs: 5 images per chunk for
 * 64 -> 32 on 26x26 and 42 for 1 -> 64 on 28x28 were as fast as or faster
 * than larger chunks (the buffers then stay in the last-level cache). */
#define FT_CONV_WS_MAX_FLOATS ((size_t)2 << 20)

/* A one-image im2col forward runs in tiles of output rows whose col buffer stays under this
 * many floats (4 MiB; at least one row): bounds a detector's workspace on a large input. */
#define FT_CONV_COL_TILE_FLOATS ((size_t)1 << 20)

/* A one-image forward is split across the pool's threads (ft_set_threads(n > 1), core/pool.h)
 * when its GEMMs do at least this many flops: below, a run's wake-up is not repaid. */
#define FT_CONV_PAR_MIN_FLOPS 2e6
/* A channel split gives each thread a multiple of this many output channels: the row block of
 * OpenBLAS's sgemm kernels (16 on Haswell), so no thread runs a ragged edge kernel. */
#define FT_CONV_PAR_ROW_ALIGN 16

typedef enum {
    FT_CONV_IM2COL,    /* any shape */
    FT_CONV_DEPTHWISE, /* groups == C only; the public choice when groups > 1 */
} ft_conv2d_algo;

typedef struct {
    ft_conv2d_algo algo;
    int nb; /* images per chunk, 1 <= nb <= B */
} ft_conv2d_plan;

/* The plan the public functions use for shape s. */
ft_conv2d_plan ft_conv2d_plan_for(const ft_conv2d_shape *s);
/* Whether algo can run shape s. */
int ft_conv2d_algo_applies(const ft_conv2d_shape *s, ft_conv2d_algo algo);
/* Workspace floats for forward-only use (inference) of the public plan: may be less than
 * ft_conv2d_workspace (facetwin/layers.h), which also covers backward. */
size_t ft_conv2d_workspace_forward(const ft_conv2d_shape *s);
/* Workspace floats for plan p (0 for the depthwise path). */
size_t ft_conv2d_workspace_plan(const ft_conv2d_shape *s, ft_conv2d_plan p);
void ft_conv2d_forward_plan(float *out, const float *inp, const float *weight, const float *bias,
                            const ft_conv2d_shape *s, float *ws, ft_conv2d_plan p);
void ft_conv2d_backward_plan(float *dinp, float *dweight, float *dbias, const float *dout,
                             const float *inp, const float *weight, const ft_conv2d_shape *s,
                             float *ws, ft_conv2d_plan p);

#endif
