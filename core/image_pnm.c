/* image_pnm.c — Netpbm PGM/PPM decoding: P2, P3 (plain) and P5, P6 (raw).
 *
 * A hand-written reader, because Netpbm is small and the library (libnetpbm)
 * exits the process on bad input. The header is
 *
 *   P<n> <ws> width <ws> height <ws> maxval <one whitespace char> raster
 *
 * where <ws> is any run of whitespace and '#' comments (to end of line).
 * maxval is 1..65535; raw rasters use one byte per sample when maxval < 256
 * and two big-endian bytes otherwise; plain rasters are decimal numbers.
 * Every sample is scaled to 8 bits as round(v * 255 / maxval), so maxval 255
 * is a copy and 16-bit data keeps its full range.
 *
 * Strictness: numbers are unsigned decimals terminated by whitespace, '#' or
 * the end of data; a number that overflows, a sample above maxval, a stray
 * character or missing data is FT_EFORMAT with a message saying which.
 * Comments are also skipped between plain samples, as libnetpbm does. Data
 * after the raster (a second image in the same file) is ignored.
 * The pixel cap is checked as soon as width and height are read, and the
 * raster size is checked against the bytes available before allocating, so
 * a 20-byte file declaring a huge image costs nothing.
 * PBM (P1/P4) and PAM (P7) are Netpbm too but are refused as unsupported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

#define PNM_MAGIC_LEN 2
#define PNM_DIM_MAX UINT32_MAX   /* larger width/height numbers are malformed */
#define PNM_MAXVAL_MAX 65535u    /* 16-bit samples */
#define PNM_ONE_BYTE_MAXVAL 255u /* maxval <= this: one byte per raw sample */
#define PNM_SAMPLE_MAX UINT32_MAX
#define PNM_MIN_PLAIN_SAMPLE_BYTES 2 /* a digit and a separator */
#define OUT_SAMPLE_MAX 255u
#define DECIMAL_BASE 10u
#define BITS_PER_BYTE 8

typedef struct {
    const uint8_t *p;
    size_t n, pos;
} pnm_reader;

static int is_space(uint8_t b)
{
    return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f';
}

static int is_digit(uint8_t b) { return b >= '0' && b <= '9'; }

static void skip_space_and_comments(pnm_reader *r)
{
    while (r->pos < r->n) {
        uint8_t b = r->p[r->pos];
        if (is_space(b)) {
            r->pos++;
        } else if (b == '#') {
            while (r->pos < r->n && r->p[r->pos] != '\n' && r->p[r->pos] != '\r') r->pos++;
        } else {
            break;
        }
    }
}

/* Describes byte b for a message: 'x' if printable, else its hex value. */
static const char *describe_byte(uint8_t b, char *buf, size_t n)
{
    if (b >= ' ' && b < 0x7f)
        snprintf(buf, n, "'%c'", b);
    else
        snprintf(buf, n, "byte 0x%02x", b);
    return buf;
}

/* Reads one unsigned decimal (after whitespace/comments) no larger than limit. */
static ft_status read_uint(pnm_reader *r, uint64_t limit, const char *what, uint64_t *out,
                           ft_error *err)
{
    skip_space_and_comments(r);
    if (r->pos >= r->n) return ft_error_set(err, FT_EFORMAT, "truncated PNM data (no %s)", what);
    char desc[16];
    if (!is_digit(r->p[r->pos]))
        return ft_error_set(err, FT_EFORMAT, "bad PNM %s: expected a number, found %s", what,
                            describe_byte(r->p[r->pos], desc, sizeof desc));
    uint64_t v = 0;
    while (r->pos < r->n && is_digit(r->p[r->pos])) {
        unsigned d = (unsigned)(r->p[r->pos] - '0');
        if (v > (limit - d) / DECIMAL_BASE)
            return ft_error_set(err, FT_EFORMAT, "bad PNM %s: number too large (over %llu)", what,
                                (unsigned long long)limit);
        v = v * DECIMAL_BASE + d;
        r->pos++;
    }
    if (r->pos < r->n && !is_space(r->p[r->pos]) && r->p[r->pos] != '#')
        return ft_error_set(err, FT_EFORMAT, "bad PNM %s: unexpected %s after the number", what,
                            describe_byte(r->p[r->pos], desc, sizeof desc));
    *out = v;
    return FT_OK;
}

/* round(v * 255 / maxval), v <= maxval */
static uint8_t scale_sample(uint32_t v, uint32_t maxval)
{
    return (uint8_t)(((uint64_t)v * OUT_SAMPLE_MAX + maxval / 2) / maxval);
}

static ft_status read_raw(pnm_reader *r, uint32_t maxval, ft_image *img, size_t count,
                          ft_error *err)
{
    const uint8_t *s = r->p + r->pos;
    if (maxval == OUT_SAMPLE_MAX) {
        memcpy(img->data, s, count);
        return FT_OK;
    }
    const int wide = maxval > PNM_ONE_BYTE_MAXVAL;
    for (size_t i = 0; i < count; i++) {
        uint32_t v = wide ? (uint32_t)s[2 * i] << BITS_PER_BYTE | s[2 * i + 1] : s[i];
        if (v > maxval)
            return ft_error_set(err, FT_EFORMAT, "PNM sample %u exceeds maxval %u", v, maxval);
        img->data[i] = scale_sample(v, maxval);
    }
    return FT_OK;
}

static ft_status read_plain(pnm_reader *r, uint32_t maxval, ft_image *img, size_t count,
                            ft_error *err)
{
    for (size_t i = 0; i < count; i++) {
        uint64_t v;
        ft_status st = read_uint(r, PNM_SAMPLE_MAX, "sample", &v, err);
        if (st) return st;
        if (v > maxval)
            return ft_error_set(err, FT_EFORMAT, "PNM sample %llu exceeds maxval %u",
                                (unsigned long long)v, maxval);
        img->data[i] = scale_sample((uint32_t)v, maxval);
    }
    return FT_OK;
}

ft_status ft_pnm_decode(const uint8_t *bytes, size_t n, uint64_t max_pixels, ft_image *out,
                        ft_error *err)
{
    memset(out, 0, sizeof *out);
    if (n < PNM_MAGIC_LEN || bytes[0] != 'P')
        return ft_error_set(err, FT_EFORMAT, "not a PNM file");
    int plain, c;
    switch (bytes[1]) {
    case '2': plain = 1, c = FT_IMAGE_GREY; break;
    case '3': plain = 1, c = FT_IMAGE_RGB; break;
    case '5': plain = 0, c = FT_IMAGE_GREY; break;
    case '6': plain = 0, c = FT_IMAGE_RGB; break;
    case '1':
    case '4':
        return ft_error_set(err, FT_EUNSUPPORTED, "PBM (P%c) images are not supported", bytes[1]);
    case '7': return ft_error_set(err, FT_EUNSUPPORTED, "PAM (P7) images are not supported");
    default: return ft_error_set(err, FT_EFORMAT, "not a PNM file (magic P%c)", bytes[1]);
    }
    pnm_reader r = {bytes, n, PNM_MAGIC_LEN};
    uint64_t w, h, maxval;
    ft_status st;
    if ((st = read_uint(&r, PNM_DIM_MAX, "width", &w, err))) return st;
    if ((st = read_uint(&r, PNM_DIM_MAX, "height", &h, err))) return st;
    if ((st = ft_image_check_size(w, h, c, max_pixels, "PNM", err))) return st;
    if ((st = read_uint(&r, PNM_MAXVAL_MAX, "maxval", &maxval, err))) return st;
    if (maxval == 0) return ft_error_set(err, FT_EFORMAT, "bad PNM maxval: 0");

    /* w * h * c fits size_t (checked above); now check the data is there. */
    const size_t count = (size_t)w * (size_t)h * (size_t)c;
    if (plain) {
        if (count > (SIZE_MAX - 1) / PNM_MIN_PLAIN_SAMPLE_BYTES ||
            n - r.pos < count * PNM_MIN_PLAIN_SAMPLE_BYTES - 1)
            return ft_error_set(err, FT_EFORMAT, "truncated PNM data: %zu bytes for %zu samples",
                                n - r.pos, count);
    } else {
        /* exactly one whitespace byte separates maxval from the raster */
        if (r.pos >= n) return ft_error_set(err, FT_EFORMAT, "truncated PNM data (no raster)");
        r.pos++;
        const size_t bps = maxval > PNM_ONE_BYTE_MAXVAL ? 2 : 1;
        if (count > SIZE_MAX / bps)
            return ft_error_set(err, FT_ETOOBIG, "PNM raster too large to address");
        if (n - r.pos < count * bps)
            return ft_error_set(err, FT_EFORMAT,
                                "truncated PNM data: %zu of %zu raster bytes present", n - r.pos,
                                count * bps);
    }

    if ((st = ft_image_alloc(out, (int)w, (int)h, c, err))) return st;
    st = plain ? read_plain(&r, (uint32_t)maxval, out, count, err)
               : read_raw(&r, (uint32_t)maxval, out, count, err);
    if (st) ft_image_free(out);
    return st;
}
