/* layers/conv2d.h — internals of the conv layer (core/layers/conv2d.c) that
 * the tests and benchmarks reach: the chunk size (images per im2col + GEMM
 * pass) chosen for a shape, and forward/backward with an explicit chunk size,
 * so a test can make a small batch span several chunks without building a
 * tensor of FT_CONV_WS_MAX_FLOATS. The public entry points in
 * facetwin/layers.h are these with nb = ft_conv2d_chunk_images(s).
 */
#ifndef FT_LAYERS_CONV2D_H
#define FT_LAYERS_CONV2D_H

#include <stddef.h>

#include "facetwin/layers.h"

/* Upper bound of the conv workspace in floats (16 MiB): the batch is cut into
 * chunks of nb images so that im2col buffer + GEMM output of one chunk fit.
 * A single image larger than this still runs, as a chunk of one. */
#define FT_CONV_WS_MAX_FLOATS ((size_t)4 << 20)

/* Images per chunk for shape s (1 <= nb <= B). */
int ft_conv2d_chunk_images(const ft_conv2d_shape *s);
/* Workspace floats for chunks of nb images (0 for the direct depthwise path). */
size_t ft_conv2d_workspace_chunked(const ft_conv2d_shape *s, int nb);
void ft_conv2d_forward_chunked(float *out, const float *inp, const float *weight,
                               const float *bias, const ft_conv2d_shape *s, float *ws, int nb);
void ft_conv2d_backward_chunked(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *inp, const float *weight, const ft_conv2d_shape *s,
                                float *ws, int nb);

#endif
