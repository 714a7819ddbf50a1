/* image.c — from bytes to pixels to encoder input: the front door of decoding.
 *
 * The format is sniffed from the first bytes (PNG signature, JPEG SOI marker,
 * PNM "P<digit>" magic), never guessed from a file name, and the bytes are
 * handed to one decoder per format (image_png.c, image_jpeg.c, image_pnm.c).
 * Decoders work on a complete in-memory buffer: the daemon receives images as
 * request bodies, the CLI reads whole files with ft_read_file(), so one code
 * path serves both and a file is never half-read when an error is reported.
 * The price is holding the compressed file in memory, bounded by the caller's
 * byte cap (FT_MAX_FILE_BYTES_DEFAULT for ft_image_load).
 *
 * Safety lives in two shared helpers: ft_image_check_size() is called by
 * every decoder with the dimensions read from the header, before any pixel
 * buffer exists, and refuses zero sizes, the pixel cap and size_t overflow;
 * ft_image_alloc() repeats the overflow check so no path can skip it.
 *
 * ft_image_to_input() is the one preprocessing step shared by training, the
 * CLI and the daemon: channel conversion, resize to the model's geometry,
 * then (pixel/255 - mean)/std written planar (CHW). Keeping it in one place
 * is what guarantees a model sees at inference what it saw in training.
 */
#include "facetwin/image.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image_internal.h"

#define PNG_SIGNATURE_LEN 8
#define JPEG_SOI_LEN 3 /* FF D8 FF: start-of-image and the first marker's prefix */
#define PNM_MAGIC_LEN 2
#define READ_CHUNK_BYTES ((size_t)64 * 1024) /* first read size when the size is unknown */
#define PIXEL_MAX 255.0f

static const uint8_t k_png_signature[PNG_SIGNATURE_LEN] = {0x89, 'P',  'N',  'G',
                                                           '\r', '\n', 0x1a, '\n'};
static const uint8_t k_jpeg_soi[JPEG_SOI_LEN] = {0xff, 0xd8, 0xff};

/* ---- sniffing -------------------------------------------------------------- */

static int is_pnm_space(uint8_t b)
{
    return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f';
}

ft_image_format ft_image_sniff(const uint8_t *bytes, size_t n)
{
    if (!bytes) return FT_FORMAT_UNKNOWN;
    if (n >= PNG_SIGNATURE_LEN && memcmp(bytes, k_png_signature, PNG_SIGNATURE_LEN) == 0)
        return FT_FORMAT_PNG;
    if (n >= JPEG_SOI_LEN && memcmp(bytes, k_jpeg_soi, JPEG_SOI_LEN) == 0) return FT_FORMAT_JPEG;
    /* P1..P7 are all Netpbm; the PNM decoder refuses the variants it does not read
     * (PBM, PAM) with FT_EUNSUPPORTED, which says more than "unknown format". */
    if (n > PNM_MAGIC_LEN && bytes[0] == 'P' && bytes[1] >= '1' && bytes[1] <= '7' &&
        (is_pnm_space(bytes[PNM_MAGIC_LEN]) || bytes[PNM_MAGIC_LEN] == '#'))
        return FT_FORMAT_PNM;
    return FT_FORMAT_UNKNOWN;
}

const char *ft_image_format_name(ft_image_format f)
{
    switch (f) {
    case FT_FORMAT_PNG: return "PNG";
    case FT_FORMAT_JPEG: return "JPEG";
    case FT_FORMAT_PNM: return "PNM";
    case FT_FORMAT_UNKNOWN: break;
    }
    return "unknown";
}

/* ---- shared helpers (image_internal.h) ------------------------------------------ */

uint64_t ft_image_max_pixels(const ft_decode_opts *opts)
{
    return (opts && opts->max_pixels) ? opts->max_pixels : (uint64_t)FT_MAX_PIXELS_DEFAULT;
}

ft_status ft_image_check_size(uint64_t w, uint64_t h, int c, uint64_t max_pixels,
                              const char *what, ft_error *err)
{
    if (w == 0 || h == 0)
        return ft_error_set(err, FT_EFORMAT, "%s header declares an empty %llux%llu image", what,
                            (unsigned long long)w, (unsigned long long)h);
    /* w > cap / h  <=>  w * h > cap, without computing a product that may overflow */
    if (w > max_pixels / h)
        return ft_error_set(err, FT_ETOOBIG, "image is %llux%llu pixels, over the %llu-pixel cap",
                            (unsigned long long)w, (unsigned long long)h,
                            (unsigned long long)max_pixels);
    if (w > INT_MAX || h > INT_MAX || c <= 0 || w * h > SIZE_MAX / (uint64_t)c)
        return ft_error_set(err, FT_ETOOBIG, "image is %llux%llu pixels, too large to address",
                            (unsigned long long)w, (unsigned long long)h);
    return FT_OK;
}

ft_status ft_image_alloc(ft_image *img, int w, int h, int c, ft_error *err)
{
    memset(img, 0, sizeof *img);
    if (w <= 0 || h <= 0 || (c != FT_IMAGE_GREY && c != FT_IMAGE_RGB))
        return ft_error_set(err, FT_EINVAL, "invalid image geometry %dx%dx%d", w, h, c);
    if ((size_t)w > SIZE_MAX / (size_t)h || (size_t)w * (size_t)h > SIZE_MAX / (size_t)c)
        return ft_error_set(err, FT_ETOOBIG, "image %dx%dx%d is too large to address", w, h, c);
    img->data = malloc((size_t)w * (size_t)h * (size_t)c);
    if (!img->data)
        return ft_error_set(err, FT_ENOMEM, "out of memory for a %dx%dx%d image", w, h, c);
    img->w = w;
    img->h = h;
    img->c = c;
    return FT_OK;
}

/* ---- decoding -------------------------------------------------------------------- */

ft_status ft_image_decode(const uint8_t *bytes, size_t n, const ft_decode_opts *opts,
                          ft_image *out, ft_error *err)
{
    if (!out) return ft_error_set(err, FT_EINVAL, "ft_image_decode: out is NULL");
    memset(out, 0, sizeof *out);
    if (n == 0) return ft_error_set(err, FT_EFORMAT, "empty file");
    if (!bytes) return ft_error_set(err, FT_EINVAL, "ft_image_decode: bytes is NULL");
    uint64_t cap = ft_image_max_pixels(opts);
    switch (ft_image_sniff(bytes, n)) {
    case FT_FORMAT_PNG: return ft_png_decode(bytes, n, cap, out, err);
    case FT_FORMAT_JPEG: return ft_jpeg_decode(bytes, n, cap, out, err);
    case FT_FORMAT_PNM: return ft_pnm_decode(bytes, n, cap, out, err);
    case FT_FORMAT_UNKNOWN: break;
    }
    return ft_error_set(err, FT_EUNSUPPORTED, "unknown image format (not PNG, JPEG or PNM)");
}

ft_status ft_read_file(const char *path, size_t max_bytes, uint8_t **out, size_t *n,
                       ft_error *err)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ft_error_set(err, FT_EIO, "%s: %s", path, strerror(errno));

    ft_status st = FT_OK;
    uint8_t *buf = NULL;
    size_t len = 0, cap = READ_CHUNK_BYTES;
    const size_t limit = max_bytes < SIZE_MAX ? max_bytes + 1 : SIZE_MAX; /* one past the cap */
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            st = ft_error_set(err, FT_EIO, "%s: is a directory", path);
            goto done;
        }
        if (S_ISREG(sb.st_mode)) {
            if ((uint64_t)sb.st_size > (uint64_t)max_bytes) {
                st = ft_error_set(err, FT_ETOOBIG, "%s: file is %llu bytes, over the %zu-byte cap",
                                  path, (unsigned long long)sb.st_size, max_bytes);
                goto done;
            }
            cap = (size_t)sb.st_size + 1; /* +1: the read that hits EOF needs no regrow */
            if (cap > limit) cap = limit;
        }
    }
    /* Regular files are read in one go; pipes and growing files by doubling. */
    for (;;) {
        if (len == cap || !buf) {
            if (buf) {
                if (len > max_bytes) {
                    st = ft_error_set(err, FT_ETOOBIG, "%s: file is over the %zu-byte cap", path,
                                      max_bytes);
                    goto done;
                }
                cap = (cap > limit / 2) ? limit : cap * 2;
            }
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                st = ft_error_set(err, FT_ENOMEM, "%s: out of memory reading %zu bytes", path, cap);
                goto done;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) {
            if (ferror(f))
                st = ft_error_set(err, FT_EIO, "%s: read error: %s", path, strerror(errno));
            break;
        }
    }
    if (!st && len > max_bytes)
        st = ft_error_set(err, FT_ETOOBIG, "%s: file is over the %zu-byte cap", path, max_bytes);
done:
    fclose(f);
    if (st) {
        free(buf);
        return st;
    }
    *out = buf;
    *n = len;
    return FT_OK;
}

ft_status ft_image_load(const char *path, const ft_decode_opts *opts, ft_image *out,
                        ft_error *err)
{
    if (!out) return ft_error_set(err, FT_EINVAL, "ft_image_load: out is NULL");
    memset(out, 0, sizeof *out);
    uint8_t *buf;
    size_t n;
    ft_status st = ft_read_file(path, FT_MAX_FILE_BYTES_DEFAULT, &buf, &n, err);
    if (st) return st; /* ft_read_file already names the path */
    st = ft_image_decode(buf, n, opts, out, err);
    free(buf);
    if (st) ft_error_prefix(err, path);
    return st;
}

void ft_image_free(ft_image *img)
{
    if (!img) return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

/* ---- encoder input -------------------------------------------------------------- */

static ft_status check_spec(const ft_input_spec *spec, ft_error *err)
{
    if (!spec) return ft_error_set(err, FT_EINVAL, "input spec is NULL");
    if (spec->channels != FT_IMAGE_GREY && spec->channels != FT_IMAGE_RGB)
        return ft_error_set(err, FT_EINVAL, "input spec: channels must be 1 or 3, not %d",
                            spec->channels);
    if (spec->width <= 0 || spec->height <= 0)
        return ft_error_set(err, FT_EINVAL, "input spec: invalid size %dx%d", spec->width,
                            spec->height);
    for (int k = 0; k < spec->channels; k++)
        if (!(spec->std[k] != 0.0f))
            return ft_error_set(err, FT_EINVAL, "input spec: std[%d] must be non-zero", k);
    return FT_OK;
}

ft_status ft_image_to_input(const ft_image *img, const ft_input_spec *spec, float *out,
                            ft_error *err)
{
    ft_status st = check_spec(spec, err);
    if (st) return st;
    if (!img || !img->data || !out)
        return ft_error_set(err, FT_EINVAL, "ft_image_to_input: NULL image or output");

    /* Only build intermediates that are needed: MNIST at model size needs neither. */
    ft_image conv = {0}, sized = {0};
    const ft_image *src = img;
    if (src->c != spec->channels) {
        if ((st = ft_image_convert(src, spec->channels, &conv, err))) return st;
        src = &conv;
    }
    if (src->w != spec->width || src->h != spec->height) {
        if ((st = ft_image_resize(src, spec->width, spec->height, &sized, err))) {
            ft_image_free(&conv);
            return st;
        }
        src = &sized;
    }

    const size_t plane = (size_t)spec->width * (size_t)spec->height;
    const int c = spec->channels;
    for (int k = 0; k < c; k++) {
        const float mean = spec->mean[k], std = spec->std[k];
        const uint8_t *p = src->data + k;
        float *o = out + (size_t)k * plane;
        for (size_t i = 0; i < plane; i++) o[i] = ((float)p[i * c] / PIXEL_MAX - mean) / std;
    }
    ft_image_free(&conv);
    ft_image_free(&sized);
    return FT_OK;
}

ft_status ft_input_from_bytes(const uint8_t *bytes, size_t n, const ft_input_spec *spec,
                              const ft_decode_opts *opts, float *out, ft_error *err)
{
    ft_image img;
    ft_status st = ft_image_decode(bytes, n, opts, &img, err);
    if (st) return st;
    st = ft_image_to_input(&img, spec, out, err);
    ft_image_free(&img);
    return st;
}
