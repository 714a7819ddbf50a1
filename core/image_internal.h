/* image_internal.h — what the image decoders share, private to core/.
 *
 * image.c sniffs the format and dispatches to one decoder per file
 * (image_png.c, image_jpeg.c, image_pnm.c). Every decoder follows the same
 * three steps, and these helpers keep them identical:
 *
 *   1. read the header and call ft_image_check_size() with the declared
 *      width and height: zero sizes, the pixel cap and size_t overflow are
 *      refused here, before a single pixel byte is allocated;
 *   2. ft_image_alloc() the output (it repeats the overflow check, so no
 *      caller can forget it);
 *   3. decode into it, freeing it on any error so the caller's ft_image is
 *      left zeroed.
 */
#ifndef FT_IMAGE_INTERNAL_H
#define FT_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "facetwin/image.h"

#define FT_IMAGE_GREY 1 /* channels of a grey image */
#define FT_IMAGE_RGB 3  /* channels of a colour image */

/* The cap in force: opts->max_pixels, or FT_MAX_PIXELS_DEFAULT when 0/NULL. */
uint64_t ft_image_max_pixels(const ft_decode_opts *opts);

/* Checks a declared w x h (as read from a header, before any allocation):
 * FT_EFORMAT for a zero size, FT_ETOOBIG for w*h over max_pixels or a size
 * that does not fit an int / size_t. `what` names the format in messages. */
ft_status ft_image_check_size(uint64_t w, uint64_t h, int c, uint64_t max_pixels,
                              const char *what, ft_error *err);

/* Allocates img->data for w x h x c (overflow-checked); sets w, h, c. */
ft_status ft_image_alloc(ft_image *img, int w, int h, int c, ft_error *err);

/* The decoders: bytes hold a whole file of the sniffed format. On error *out is zeroed. */
ft_status ft_png_decode(const uint8_t *bytes, size_t n, uint64_t max_pixels, ft_image *out,
                        ft_error *err);
ft_status ft_jpeg_decode(const uint8_t *bytes, size_t n, uint64_t max_pixels, ft_image *out,
                         ft_error *err);
ft_status ft_pnm_decode(const uint8_t *bytes, size_t n, uint64_t max_pixels, ft_image *out,
                        ft_error *err);

#endif
