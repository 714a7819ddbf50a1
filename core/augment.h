/* augment.h — pixel moves shared by the training loaders (internal).
 *
 * The identity-folder loader (core/loader.c) and the in-memory source (core/source_mem.c,
 * MNIST-like sets) move images the same way: content shifted by (dx, dy), uncovered pixels
 * repeating the nearest edge, on one CHW float input.
 */
#ifndef FT_AUGMENT_H
#define FT_AUGMENT_H

/* x (c, h, w) shifted in place: content moves dx right and dy down; tmp holds c*h*w floats. */
void ft_shift_image(float *x, float *tmp, int c, int h, int w, int dx, int dy);

#endif
