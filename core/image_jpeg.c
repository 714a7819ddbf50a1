/* image_jpeg.c — JPEG decoding with libjpeg(-turbo), EXIF orientation applied.
 *
 * libjpeg reads from memory (jpeg_mem_src). Its default error manager calls
 * exit(), which a library and a daemon cannot allow, so ours formats the
 * message and longjmps back to jpeg_decode_run(); as in image_png.c all
 * state that outlives the jump lives in a jpeg_ctx owned by the caller of
 * that function. libjpeg treats damaged entropy data and a missing end of
 * file as *warnings* and fills the rest of the image with grey; facetwin
 * would then embed half a face without noticing, so the warnings that mean
 * lost pixels ("Premature end of JPEG file", bad Huffman/arithmetic codes,
 * resync, bad progression) are errors here. Harmless ones (unknown JFIF
 * revision, padding bytes before a marker, unknown Adobe transform) are
 * ignored. jpeg_finish_decompress() is called, so a file cut after the last
 * scanline but before EOI is refused too. A progress monitor caps the number
 * of progressive scans, the known way to make a tiny file burn minutes of CPU.
 *
 * Colour: grey files give c = 1; YCbCr/RGB give c = 3. CMYK and YCCK are
 * decoded to CMYK (libjpeg converts YCCK) and then to RGB here with the naive
 * formula R = (1 - C)(1 - K): there is no colour management. Files written
 * by Adobe software (an APP14 "Adobe" marker, saw_Adobe_marker) store CMYK
 * inverted (0 = full ink), so for them R = C * K / 255 instead.
 *
 * Orientation: cameras store the sensor image and an EXIF Orientation tag
 * (1..8) saying how to display it. We save APP1 markers, find the TIFF
 * structure after "Exif\0\0", read IFD0 in its byte order (II or MM) with
 * every offset bounds-checked against the marker length, and remap the
 * pixels once after decoding so the result is upright. A missing, malformed
 * or out-of-range tag means orientation 1: orientation never fails a decode.
 *
 * The pixel cap is checked right after jpeg_read_header(), before
 * jpeg_start_decompress() allocates sample buffers.
 */
#include <limits.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE and size_t */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "image_internal.h"

#define JPEG_MAX_SCANS 500         /* progressive scans before we call it an attack */
#define JPEG_APP1 (JPEG_APP0 + 1)  /* EXIF lives in APP1 */
#define JPEG_MARKER_MAX_LEN 0xffff /* save APP1 markers whole */
#define CMYK_CHANNELS 4
#define SAMPLE_MAX 255u

/* EXIF / TIFF layout (TIFF 6.0 section 2, EXIF 2.3 section 4.6) */
#define EXIF_ID_LEN 6          /* "Exif\0\0" */
#define TIFF_HEADER_LEN 8      /* byte order (2), magic 42 (2), IFD0 offset (4) */
#define TIFF_MAGIC 42
#define TIFF_IFD_COUNT_LEN 2   /* number of entries */
#define TIFF_IFD_ENTRY_LEN 12  /* tag (2), type (2), count (4), value (4) */
#define TIFF_TYPE_SHORT 3
#define EXIF_TAG_ORIENTATION 0x0112
#define ORIENT_NORMAL 1
#define ORIENT_MAX 8
#define ORIENT_FIRST_TRANSPOSED 5 /* orientations 5..8 swap width and height */

static const uint8_t k_exif_id[EXIF_ID_LEN] = {'E', 'x', 'i', 'f', 0, 0};

typedef struct {
    struct jpeg_error_mgr pub; /* first: libjpeg sees a jpeg_error_mgr * */
    jmp_buf jump;
} jpeg_err_mgr;

typedef struct {
    struct jpeg_decompress_struct cinfo;
    jpeg_err_mgr jerr;
    struct jpeg_progress_mgr progress;
    int truncated;               /* the input ran out */
    int too_many_scans;          /* the progress monitor stopped us */
    int unsupported;             /* a valid variant libjpeg was built without (12-bit) */
    char msg[JMSG_LENGTH_MAX];   /* libjpeg's message for the failure */
    const uint8_t *bytes;
    size_t n;
    uint64_t max_pixels;
    ft_image img;                /* decoded, as stored (before orientation) */
    uint8_t *cmyk_row;           /* one CMYK scanline */
    int orientation;             /* EXIF 1..8 */
    ft_error *err;
} jpeg_ctx;

/* ---- error handling --------------------------------------------------------------- */

static jpeg_ctx *ctx_of(j_common_ptr cinfo) { return (jpeg_ctx *)cinfo->client_data; }

static void jpeg_on_error_exit(j_common_ptr cinfo)
{
    jpeg_ctx *ctx = ctx_of(cinfo);
    ctx->unsupported = cinfo->err->msg_code == JERR_BAD_PRECISION ||
                       cinfo->err->msg_code == JERR_NOT_COMPILED;
    (*cinfo->err->format_message)(cinfo, ctx->msg);
    longjmp(ctx->jerr.jump, 1);
}

/* Warnings that mean pixels were lost or invented. */
static int warning_is_fatal(int code)
{
    switch (code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
#if JPEG_LIB_VERSION >= 70 || defined(D_ARITH_CODING_SUPPORTED)
    case JWRN_ARITH_BAD_CODE:
#endif
    case JWRN_MUST_RESYNC:
    case JWRN_BOGUS_PROGRESSION:
    case JWRN_NOT_SEQUENTIAL: return 1;
    default: return 0;
    }
}

static void jpeg_on_emit_message(j_common_ptr cinfo, int level)
{
    if (level >= 0) return; /* trace messages */
    jpeg_ctx *ctx = ctx_of(cinfo);
    int code = cinfo->err->msg_code;
    if (!warning_is_fatal(code)) {
        cinfo->err->num_warnings++;
        return;
    }
    if (code == JWRN_JPEG_EOF) ctx->truncated = 1;
    (*cinfo->err->format_message)(cinfo, ctx->msg);
    longjmp(ctx->jerr.jump, 1);
}

static void jpeg_on_output_message(j_common_ptr cinfo) { (void)cinfo; /* never print */ }

static void jpeg_on_progress(j_common_ptr cinfo)
{
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_ctx *ctx = ctx_of(cinfo);
        ctx->too_many_scans = 1;
        longjmp(ctx->jerr.jump, 1);
    }
}

/* ---- EXIF orientation ------------------------------------------------------------- */

static uint32_t read_u16(const uint8_t *p, int little)
{
    return little ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : (uint32_t)p[0] << 8 | (uint32_t)p[1];
}

static uint32_t read_u32(const uint8_t *p, int little)
{
    return little ? read_u16(p, 1) | read_u16(p + 2, 1) << 16
                  : read_u16(p, 0) << 16 | read_u16(p + 2, 0);
}

/* Orientation from one APP1 payload, or 0 if it is not a usable EXIF block. */
static int exif_orientation(const uint8_t *d, size_t n)
{
    if (n < EXIF_ID_LEN + TIFF_HEADER_LEN || memcmp(d, k_exif_id, EXIF_ID_LEN) != 0) return 0;
    const uint8_t *tiff = d + EXIF_ID_LEN; /* TIFF offsets are relative to here */
    const size_t tn = n - EXIF_ID_LEN;
    int little;
    if (tiff[0] == 'I' && tiff[1] == 'I')
        little = 1;
    else if (tiff[0] == 'M' && tiff[1] == 'M')
        little = 0;
    else
        return 0;
    if (read_u16(tiff + 2, little) != TIFF_MAGIC) return 0;
    const uint32_t ifd = read_u32(tiff + 4, little);
    if (ifd > tn || tn - ifd < TIFF_IFD_COUNT_LEN) return 0;
    const size_t count = read_u16(tiff + ifd, little);
    const size_t room = (tn - ifd - TIFF_IFD_COUNT_LEN) / TIFF_IFD_ENTRY_LEN;
    if (count > room) return 0; /* the IFD claims more entries than the marker holds */
    for (size_t i = 0; i < count; i++) {
        const uint8_t *e = tiff + ifd + TIFF_IFD_COUNT_LEN + i * TIFF_IFD_ENTRY_LEN;
        if (read_u16(e, little) != EXIF_TAG_ORIENTATION) continue;
        if (read_u16(e + 2, little) != TIFF_TYPE_SHORT || read_u32(e + 4, little) < 1) return 0;
        uint32_t v = read_u16(e + 8, little); /* a single SHORT sits left-justified in the value */
        return (v >= ORIENT_NORMAL && v <= ORIENT_MAX) ? (int)v : 0;
    }
    return 0;
}

static int jpeg_orientation(j_decompress_ptr cinfo)
{
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker != JPEG_APP1 || !m->data) continue;
        int o = exif_orientation(m->data, m->data_length);
        if (o) return o;
    }
    return ORIENT_NORMAL;
}

/* Remaps in (as stored) to out (upright). For each orientation, the source
 * pixel of output (ox, oy) is base + ox * step_x + oy * step_y (in pixels,
 * source width W, height H); 5..8 also swap the output's width and height:
 *   1 (sx, sy) = (ox, oy)           5 (oy, ox)            transpose
 *   2          = (W-1-ox, oy)       6 (oy, H-1-ox)        rotate 90 clockwise
 *   3          = (W-1-ox, H-1-oy)   7 (W-1-oy, H-1-ox)    transverse
 *   4          = (ox, H-1-oy)       8 (W-1-oy, ox)        rotate 90 counter-clockwise */
static ft_status apply_orientation(const ft_image *in, int orientation, ft_image *out,
                                   ft_error *err)
{
    const ptrdiff_t W = in->w, H = in->h, last_row = (H - 1) * W;
    ptrdiff_t base, step_x, step_y;
    switch (orientation) {
    case 2: base = W - 1, step_x = -1, step_y = W; break;
    case 3: base = last_row + W - 1, step_x = -1, step_y = -W; break;
    case 4: base = last_row, step_x = 1, step_y = -W; break;
    case 5: base = 0, step_x = W, step_y = 1; break;
    case 6: base = last_row, step_x = -W, step_y = 1; break;
    case 7: base = last_row + W - 1, step_x = -W, step_y = -1; break;
    case 8: base = W - 1, step_x = W, step_y = -1; break;
    default: base = 0, step_x = 1, step_y = W; break;
    }
    const int transposed = orientation >= ORIENT_FIRST_TRANSPOSED;
    const int ow = transposed ? in->h : in->w, oh = transposed ? in->w : in->h, c = in->c;
    ft_status st = ft_image_alloc(out, ow, oh, c, err);
    if (st) return st;
    uint8_t *dst = out->data;
    for (ptrdiff_t oy = 0; oy < oh; oy++) {
        ptrdiff_t s = base + oy * step_y;
        for (ptrdiff_t ox = 0; ox < ow; ox++, s += step_x, dst += c)
            memcpy(dst, in->data + s * c, (size_t)c);
    }
    return FT_OK;
}

/* ---- decoding --------------------------------------------------------------------- */

/* (a * b) / 255, rounded: the product of two ink fractions as a sample. */
static uint8_t mul_255(unsigned a, unsigned b)
{
    return (uint8_t)((a * b + SAMPLE_MAX / 2) / SAMPLE_MAX);
}

static void cmyk_to_rgb(const uint8_t *cmyk, uint8_t *rgb, int w, int adobe_inverted)
{
    for (int x = 0; x < w; x++, cmyk += CMYK_CHANNELS, rgb += FT_IMAGE_RGB) {
        unsigned k = adobe_inverted ? cmyk[3] : SAMPLE_MAX - cmyk[3];
        for (int j = 0; j < FT_IMAGE_RGB; j++)
            rgb[j] = mul_255(adobe_inverted ? cmyk[j] : SAMPLE_MAX - cmyk[j], k);
    }
}

/* Runs libjpeg to a complete image in ctx->img; all state that outlives a
 * longjmp is in *ctx (the caller's frame). */
static ft_status jpeg_decode_run(jpeg_ctx *ctx)
{
    j_decompress_ptr cinfo = &ctx->cinfo;
    if (setjmp(ctx->jerr.jump)) {
        if (ctx->truncated) return ft_error_set(ctx->err, FT_EFORMAT, "truncated JPEG data");
        if (ctx->too_many_scans)
            return ft_error_set(ctx->err, FT_EFORMAT, "JPEG has over %d progressive scans",
                                JPEG_MAX_SCANS);
        if (ctx->unsupported)
            return ft_error_set(ctx->err, FT_EUNSUPPORTED, "unsupported JPEG: %s", ctx->msg);
        return ft_error_set(ctx->err, FT_EFORMAT, "corrupt JPEG data: %s", ctx->msg);
    }
    jpeg_create_decompress(cinfo); /* keeps err and client_data */
    ctx->progress.progress_monitor = jpeg_on_progress;
    cinfo->progress = &ctx->progress;
    jpeg_mem_src(cinfo, ctx->bytes, (unsigned long)ctx->n);
    jpeg_save_markers(cinfo, JPEG_APP1, JPEG_MARKER_MAX_LEN);
    (void)jpeg_read_header(cinfo, TRUE);

    int c, cmyk = 0;
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo->out_color_space = JCS_GRAYSCALE, c = FT_IMAGE_GREY; break;
    case JCS_RGB:
    case JCS_YCbCr: cinfo->out_color_space = JCS_RGB, c = FT_IMAGE_RGB; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo->out_color_space = JCS_CMYK, c = FT_IMAGE_RGB, cmyk = 1; break;
    default:
        return ft_error_set(ctx->err, FT_EUNSUPPORTED,
                            "JPEG colour space %d with %d components is not supported",
                            (int)cinfo->jpeg_color_space, cinfo->num_components);
    }
    ft_status st = ft_image_check_size(cinfo->image_width, cinfo->image_height, c,
                                       ctx->max_pixels, "JPEG", ctx->err);
    if (st) return st;
    ctx->orientation = jpeg_orientation(cinfo);

    (void)jpeg_start_decompress(cinfo);
    const int w = (int)cinfo->output_width, h = (int)cinfo->output_height;
    const int want_components = cmyk ? CMYK_CHANNELS : c;
    if (cinfo->output_width != cinfo->image_width || cinfo->output_height != cinfo->image_height ||
        cinfo->output_components != want_components)
        return ft_error_set(ctx->err, FT_EUNSUPPORTED, "unexpected JPEG output layout");
    if ((st = ft_image_alloc(&ctx->img, w, h, c, ctx->err))) return st;
    if (cmyk && !(ctx->cmyk_row = malloc((size_t)w * CMYK_CHANNELS)))
        return ft_error_set(ctx->err, FT_ENOMEM, "out of memory for a JPEG row");

    while (cinfo->output_scanline < cinfo->output_height) {
        uint8_t *dst = ctx->img.data + (size_t)cinfo->output_scanline * (size_t)w * (size_t)c;
        JSAMPROW row = cmyk ? ctx->cmyk_row : dst;
        if (jpeg_read_scanlines(cinfo, &row, 1) != 1)
            return ft_error_set(ctx->err, FT_EFORMAT, "truncated JPEG data");
        if (cmyk) cmyk_to_rgb(ctx->cmyk_row, dst, w, cinfo->saw_Adobe_marker);
    }
    (void)jpeg_finish_decompress(cinfo);
    return FT_OK;
}

ft_status ft_jpeg_decode(const uint8_t *bytes, size_t n, uint64_t max_pixels, ft_image *out,
                         ft_error *err)
{
    memset(out, 0, sizeof *out);
    if (n > ULONG_MAX) return ft_error_set(err, FT_ETOOBIG, "JPEG data too large");
    jpeg_ctx *ctx = calloc(1, sizeof *ctx); /* the libjpeg structs are large-ish */
    if (!ctx) return ft_error_set(err, FT_ENOMEM, "out of memory starting the JPEG decoder");
    ctx->bytes = bytes;
    ctx->n = n;
    ctx->max_pixels = max_pixels;
    ctx->err = err;
    ctx->cinfo.err = jpeg_std_error(&ctx->jerr.pub);
    ctx->jerr.pub.error_exit = jpeg_on_error_exit;
    ctx->jerr.pub.emit_message = jpeg_on_emit_message;
    ctx->jerr.pub.output_message = jpeg_on_output_message;
    ctx->cinfo.client_data = ctx; /* how the callbacks find ctx */

    ft_status st = jpeg_decode_run(ctx);
    jpeg_destroy_decompress(&ctx->cinfo); /* safe even if creation failed: ctx was zeroed */
    free(ctx->cmyk_row);
    if (!st && ctx->orientation != ORIENT_NORMAL) {
        st = apply_orientation(&ctx->img, ctx->orientation, out, err);
        ft_image_free(&ctx->img);
    } else if (!st) {
        *out = ctx->img;
    } else {
        ft_image_free(&ctx->img);
    }
    free(ctx);
    return st;
}
