/* image_png.c — PNG decoding with libpng's classic (png_struct) API.
 *
 * libpng reads through a callback from the in-memory buffer. Why the classic
 * API and not the simplified png_image one: png_image treats 16-bit data as
 * linear light and gamma-encodes it, and composites alpha onto a background,
 * so its 8-bit output is not the stored samples. The classic transforms do
 * exactly what facetwin wants and nothing else:
 *
 *   palette          -> RGB (png_set_palette_to_rgb)
 *   grey 1/2/4 bits  -> 8 bits (png_set_expand_gray_1_2_4_to_8)
 *   16 bits          -> 8 bits, rounded (png_set_scale_16: v * 255 / 65535)
 *   alpha, tRNS      -> dropped (png_set_strip_alpha), not composited
 *   interlaced       -> deinterlaced by png_read_image
 *
 * Grey sources give c = 1, palette and RGB give c = 3.
 *
 * Errors: libpng reports them through an error callback that must not
 * return; ours copies the message into the decode context and longjmps back
 * to the setjmp in png_decode_run(). Everything that must survive the jump
 * (the output image, the row pointers, the message) lives in a png_ctx owned
 * by the *caller* of that function, so no local variable is ever read after
 * a longjmp (C11 7.13.2.1) and cleanup is one place. Running out of input is
 * reported by our read callback as "truncated PNG data". png_read_end() is
 * called so a file cut between the last IDAT and IEND is also refused.
 * Warnings (bad ancillary chunks, iCCP quirks) are ignored: they do not
 * change the pixels. The pixel cap is checked right after png_read_info(),
 * which has read only the header chunks; the row buffers come later.
 */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

#define PNG_BITS_8 8
#define PNG_BITS_16 16

typedef struct {
    const uint8_t *bytes; /* the whole file */
    size_t n, pos;        /* its size and the read position */
    uint64_t max_pixels;
    int truncated;            /* set by the read callback when input runs out */
    char msg[FT_ERROR_MSG_MAX]; /* libpng's error message */
    ft_image img;           /* the output, freed on error */
    png_bytep *rows;        /* row pointers into img.data */
    ft_error *err;
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_ctx *ctx = png_get_error_ptr(png);
    snprintf(ctx->msg, sizeof ctx->msg, "%s", msg ? msg : "unknown error");
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* warnings never change the decoded samples; stay silent */
}

static void png_on_read(png_structp png, png_bytep data, size_t len)
{
    png_ctx *ctx = png_get_io_ptr(png);
    if (len > ctx->n - ctx->pos) {
        ctx->truncated = 1;
        png_error(png, "truncated PNG data");
    }
    memcpy(data, ctx->bytes + ctx->pos, len);
    ctx->pos += len;
}

/* Runs libpng up to a complete image in ctx->img. All state that outlives a
 * longjmp is in *ctx (the caller's frame). */
static ft_status png_decode_run(png_ctx *ctx, png_structp png, png_infop info)
{
    if (setjmp(png_jmpbuf(png))) {
        if (ctx->truncated) return ft_error_set(ctx->err, FT_EFORMAT, "truncated PNG data");
        return ft_error_set(ctx->err, FT_EFORMAT, "corrupt PNG data: %s", ctx->msg);
    }
    png_set_read_fn(png, ctx, png_on_read);
    png_read_info(png, info);

    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    const int c = (color & PNG_COLOR_MASK_COLOR) ? FT_IMAGE_RGB : FT_IMAGE_GREY;
    ft_status st = ft_image_check_size(w, h, c, ctx->max_pixels, "PNG", ctx->err);
    if (st) return st;

    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < PNG_BITS_8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == PNG_BITS_16) png_set_scale_16(png);
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);

    /* The transforms above must yield 8-bit samples with c channels; check
     * rather than trust, since the row buffers are sized from it. */
    if (png_get_bit_depth(png, info) != PNG_BITS_8 || png_get_channels(png, info) != c ||
        png_get_rowbytes(png, info) != (size_t)w * (size_t)c)
        return ft_error_set(ctx->err, FT_EUNSUPPORTED,
                            "PNG layout (colour type %d, %d-bit) not supported", color, depth);

    if ((st = ft_image_alloc(&ctx->img, (int)w, (int)h, c, ctx->err))) return st;
    ctx->rows = malloc((size_t)h * sizeof *ctx->rows);
    if (!ctx->rows) return ft_error_set(ctx->err, FT_ENOMEM, "out of memory for PNG rows");
    for (png_uint_32 y = 0; y < h; y++) ctx->rows[y] = ctx->img.data + (size_t)y * w * c;
    png_read_image(png, ctx->rows);
    png_read_end(png, NULL);
    return FT_OK;
}

ft_status ft_png_decode(const uint8_t *bytes, size_t n, uint64_t max_pixels, ft_image *out,
                        ft_error *err)
{
    memset(out, 0, sizeof *out);
    png_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.bytes = bytes;
    ctx.n = n;
    ctx.max_pixels = max_pixels;
    ctx.err = err;

    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning);
    if (!png) return ft_error_set(err, FT_ENOMEM, "out of memory starting the PNG decoder");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return ft_error_set(err, FT_ENOMEM, "out of memory starting the PNG decoder");
    }
    ft_status st = png_decode_run(&ctx, png, info);
    png_destroy_read_struct(&png, &info, NULL);
    free(ctx.rows);
    if (st) {
        ft_image_free(&ctx.img);
        return st;
    }
    *out = ctx.img;
    return FT_OK;
}

/* ---- writing: 8-bit grey or RGB, for images a person looks at (facetwin align) ---- */

ft_status ft_image_write_png(const char *path, const ft_image *img, ft_error *err)
{
    if (!img || !img->data || img->w < 1 || img->h < 1 || (img->c != 1 && img->c != 3))
        return ft_error_set(err, FT_EINVAL, "%s: nothing to write", path);
    FILE *f = fopen(path, "wb");
    if (!f) return ft_error_set(err, FT_EIO, "%s: cannot create", path);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        fclose(f);
        return ft_error_set(err, FT_ENOMEM, "out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return ft_error_set(err, FT_EIO, "%s: write failed", path);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8,
                 img->c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < img->h; y++) png_write_row(png, img->data + (size_t)y * img->w * img->c);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f)) return ft_error_set(err, FT_EIO, "%s: write failed", path);
    return FT_OK;
}
