/* facetwin/image.h — decoding images and turning them into encoder input.
 *
 * Formats: PNG (libpng: 1/2/4/8/16-bit, grey, grey+alpha, palette, RGB, RGBA;
 * alpha is dropped), JPEG (libjpeg-turbo: grey, YCbCr/RGB, CMYK/YCCK incl.
 * Adobe-inverted; the EXIF Orientation tag 1..8 is applied so the result is
 * upright), PNM (P2/P3/P5/P6, maxval up to 65535). The format is sniffed from
 * the bytes, never from a file name.
 *
 * Safety: the pixel cap (width*height, default FT_MAX_PIXELS_DEFAULT) is
 * checked from the header BEFORE any pixel buffer is allocated; truncated or
 * corrupt data yields FT_EFORMAT, never a crash or a partial image.
 *
 * Ownership: an ft_image returned by any function here owns its data; release
 * it with ft_image_free(). Functions never take ownership of their inputs.
 */
#ifndef FACETWIN_IMAGE_H
#define FACETWIN_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FT_MAX_PIXELS_DEFAULT (40u * 1000u * 1000u) /* 40 MP */
#define FT_MAX_FILE_BYTES_DEFAULT (256u * 1024u * 1024u) /* ft_image_load cap */

typedef enum {
    FT_FORMAT_UNKNOWN = 0,
    FT_FORMAT_PNG,
    FT_FORMAT_JPEG,
    FT_FORMAT_PNM
} ft_image_format;

/* 8-bit interleaved pixels, row-major: data[(y*w + x)*c + k]; c is 1 (grey) or 3 (RGB). */
typedef struct {
    int w, h, c;
    uint8_t *data;
} ft_image;

typedef struct {
    uint64_t max_pixels; /* 0 means FT_MAX_PIXELS_DEFAULT */
} ft_decode_opts;

/* Encoder input geometry and normalisation (stored in every checkpoint).
 * value = (pixel / 255 - mean[k]) / std[k], written planar CHW. */
typedef struct {
    int width, height, channels; /* channels: 1 or 3 */
    float mean[3];
    float std[3];
} ft_input_spec;

ft_image_format ft_image_sniff(const uint8_t *bytes, size_t n);
const char *ft_image_format_name(ft_image_format f);

/* Decodes bytes (any supported format) into out (grey or RGB as stored). */
ft_status ft_image_decode(const uint8_t *bytes, size_t n, const ft_decode_opts *opts,
                          ft_image *out, ft_error *err);

/* Reads and decodes a file; error messages start with the path. */
ft_status ft_image_load(const char *path, const ft_decode_opts *opts, ft_image *out,
                        ft_error *err);

void ft_image_free(ft_image *img);

/* Resizes to w x h: area averaging when shrinking an axis, bilinear when enlarging. */
ft_status ft_image_resize(const ft_image *in, int w, int h, ft_image *out, ft_error *err);

/* Converts to `channels` (1: ITU-R BT.601 luma, 3: grey replicated). Copies if equal. */
ft_status ft_image_convert(const ft_image *in, int channels, ft_image *out, ft_error *err);

/* Image -> encoder input: convert channels, resize to spec geometry, normalise.
 * out must hold spec->channels * spec->height * spec->width floats (CHW). */
ft_status ft_image_to_input(const ft_image *img, const ft_input_spec *spec, float *out,
                            ft_error *err);

/* THE one path from bytes to encoder input, used by CLI, training and daemon:
 * decode (with cap) -> ft_image_to_input. */
ft_status ft_input_from_bytes(const uint8_t *bytes, size_t n, const ft_input_spec *spec,
                              const ft_decode_opts *opts, float *out, ft_error *err);

/* Writes an 8-bit grey or RGB image as PNG (not atomic: for images a person looks at). */
ft_status ft_image_write_png(const char *path, const ft_image *img, ft_error *err);

/* Reads a whole file into a malloc'd buffer (caller frees), refusing files over max_bytes. */
ft_status ft_read_file(const char *path, size_t max_bytes, uint8_t **out, size_t *n,
                       ft_error *err);

#ifdef __cplusplus
}
#endif
#endif
