/* idx.c — reading MNIST-style IDX files, gzip-compressed or plain.
 *
 * An IDX file is a 4-byte magic (0, 0, element type, number of dimensions),
 * then one big-endian uint32 per dimension, then the elements in row-major
 * order. facetwin reads the unsigned-byte type (0x08), which is what MNIST
 * and Fashion-MNIST use; other types are FT_EUNSUPPORTED.
 *
 * All reads go through zlib's gzread(), which inflates gzip files and passes
 * other files through unchanged ("transparent" mode), so one path handles
 * both and the file is streamed straight into its final buffer with no
 * compressed copy in memory. The declared size is multiplied out with an
 * overflow check and compared with FT_IDX_MAX_BYTES *before* the payload is
 * allocated: a 16-byte file declaring 2^31 x 65536 images fails at once. A
 * file that ends early (or a gzip stream that is cut) is FT_EFORMAT, with a
 * message that starts with the path. The payload read asks for one byte
 * more than declared so that zlib always reaches the gzip trailer and checks
 * its CRC-32 and length; bytes after the payload are otherwise ignored.
 *
 * ft_idx_set_load() pairs PREFIX-images-idx3-ubyte[.gz] with
 * PREFIX-labels-idx1-ubyte[.gz], preferring the .gz name, and hands their
 * buffers over to the set without copying.
 */
#include "facetwin/idx.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_MAGIC_LEN 4
#define IDX_DIM_LEN 4
#define IDX_TYPE_UBYTE 0x08
#define IDX_MAGIC_TYPE 2 /* byte positions in the magic */
#define IDX_MAGIC_NDIM 3
#define IDX_READ_CHUNK ((unsigned)1 << 24) /* gzread takes an unsigned, returns an int */
#define IDX_IMAGES_NDIM 3                  /* (n, h, w) */
#define IDX_LABELS_NDIM 1                  /* (n) */
#define IDX_GZ_SUFFIX ".gz"
#define IDX_IMAGES_SUFFIX "-images-idx3-ubyte"
#define IDX_LABELS_SUFFIX "-labels-idx1-ubyte"
#define BITS_PER_BYTE 8

/* Reads up to n bytes; *got says how many arrived (fewer at the end of the
 * data). Fails on an I/O error or corrupt gzip data. */
static ft_status read_all(gzFile f, uint8_t *buf, size_t n, size_t *got, const char *path,
                          ft_error *err)
{
    *got = 0;
    while (*got < n) {
        size_t want = n - *got;
        if (want > IDX_READ_CHUNK) want = IDX_READ_CHUNK;
        int r = gzread(f, buf + *got, (unsigned)want);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            if (zerr == Z_ERRNO)
                return ft_error_set(err, FT_EIO, "%s: read error: %s", path, strerror(errno));
            /* zlib's message starts with the path it was opened with; drop it */
            size_t pl = strlen(path);
            if (msg && strncmp(msg, path, pl) == 0 && strncmp(msg + pl, ": ", 2) == 0)
                msg += pl + 2;
            return ft_error_set(err, FT_EFORMAT, "%s: corrupt gzip data: %s", path,
                                msg ? msg : "unknown error");
        }
        if (r == 0) break; /* end of data, or of a gzip stream cut short (gz_was_cut) */
        *got += (size_t)r;
    }
    return FT_OK;
}

/* After a short read: did the gzip stream end early (zlib's "unexpected end of file")? */
static int gz_was_cut(gzFile f)
{
    int zerr;
    (void)gzerror(f, &zerr);
    return zerr == Z_BUF_ERROR;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << (3 * BITS_PER_BYTE) | (uint32_t)p[1] << (2 * BITS_PER_BYTE) |
           (uint32_t)p[2] << BITS_PER_BYTE | (uint32_t)p[3];
}

static ft_status load_open(gzFile f, const char *path, ft_idx *out, ft_error *err)
{
    uint8_t magic[IDX_MAGIC_LEN];
    size_t got;
    ft_status st = read_all(f, magic, sizeof magic, &got, path, err);
    if (st) return st;
    if (got == 0)
        return ft_error_set(err, FT_EFORMAT, "%s: %s", path,
                            gz_was_cut(f) ? "truncated gzip data" : "empty file");
    if (got < sizeof magic) return ft_error_set(err, FT_EFORMAT, "%s: truncated IDX header", path);
    if (magic[0] != 0 || magic[1] != 0)
        return ft_error_set(err, FT_EFORMAT,
                            "%s: bad IDX magic %02x %02x %02x %02x (want 00 00 08 <ndim>)", path,
                            magic[0], magic[1], magic[2], magic[3]);
    if (magic[IDX_MAGIC_TYPE] != IDX_TYPE_UBYTE)
        return ft_error_set(err, FT_EUNSUPPORTED,
                            "%s: IDX element type 0x%02x not supported (only unsigned byte, 0x08)",
                            path, magic[IDX_MAGIC_TYPE]);
    const int ndim = magic[IDX_MAGIC_NDIM];
    if (ndim < 1 || ndim > FT_IDX_MAX_DIMS)
        return ft_error_set(err, FT_EUNSUPPORTED,
                            "%s: IDX with %d dimensions not supported (1..%d)", path, ndim,
                            FT_IDX_MAX_DIMS);

    uint8_t dimbuf[FT_IDX_MAX_DIMS * IDX_DIM_LEN];
    const size_t dimlen = (size_t)ndim * IDX_DIM_LEN;
    if ((st = read_all(f, dimbuf, dimlen, &got, path, err))) return st;
    if (got < dimlen) return ft_error_set(err, FT_EFORMAT, "%s: truncated IDX header", path);

    /* Multiply out with the cap as the overflow guard: count <= FT_IDX_MAX_BYTES
     * before each step, so count * dim never wraps once dim <= cap / count. */
    size_t count = 1;
    int over = 0;
    for (int i = 0; i < ndim; i++) {
        out->dims[i] = be32(dimbuf + (size_t)i * IDX_DIM_LEN);
        if (out->dims[i] == 0) {
            count = 0;
        } else if (!over && count > FT_IDX_MAX_BYTES / out->dims[i]) {
            over = 1;
        } else if (!over) {
            count *= out->dims[i];
        }
    }
    if (over && count != 0) {
        char shape[FT_IDX_MAX_DIMS * 12];
        size_t len = 0;
        for (int i = 0; i < ndim; i++)
            len += (size_t)snprintf(shape + len, sizeof shape - len, "%s%u", i ? "x" : "",
                                    out->dims[i]);
        return ft_error_set(err, FT_ETOOBIG,
                            "%s: IDX declares a %s array, over the %zu-byte cap", path, shape,
                            (size_t)FT_IDX_MAX_BYTES);
    }
    out->ndim = ndim;
    out->count = count;

    /* One byte more than the payload is requested: with room left in the
     * output, inflate carries on through the gzip trailer, so zlib checks the
     * CRC-32 and length and reports a stream cut anywhere (an exact-size read
     * can stop with the trailer unread and zlib never notices it is missing).
     * A byte that does arrive is trailing data and is ignored. */
    out->data = malloc(count + 1);
    if (!out->data)
        return ft_error_set(err, FT_ENOMEM, "%s: out of memory for %zu bytes", path, count);
    if ((st = read_all(f, out->data, count + 1, &got, path, err))) return st;
    if (got < count)
        return ft_error_set(err, FT_EFORMAT, "%s: truncated IDX data: %zu of %zu bytes%s", path,
                            got, count, gz_was_cut(f) ? " (the gzip stream ends early)" : "");
    if (gz_was_cut(f))
        return ft_error_set(err, FT_EFORMAT, "%s: truncated gzip data (no trailer)", path);
    return FT_OK;
}

ft_status ft_idx_load(const char *path, ft_idx *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return ft_error_set(err, FT_EIO, "%s: %s", path,
                            errno ? strerror(errno) : "cannot open (out of memory)");
    ft_status st = load_open(f, path, out, err);
    gzclose(f);
    if (st) ft_idx_free(out);
    return st;
}

void ft_idx_free(ft_idx *idx)
{
    if (!idx) return;
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}

/* PREFIX + suffix + ".gz" if that file exists, else without ".gz"; NULL on
 * OOM. *found says whether either exists. */
static char *pick_path(const char *prefix, const char *suffix, int *found)
{
    size_t n = strlen(prefix) + strlen(suffix) + sizeof IDX_GZ_SUFFIX;
    char *p = malloc(n);
    if (!p) return NULL;
    struct stat sb;
    snprintf(p, n, "%s%s%s", prefix, suffix, IDX_GZ_SUFFIX);
    *found = stat(p, &sb) == 0;
    if (!*found) {
        snprintf(p, n, "%s%s", prefix, suffix);
        *found = stat(p, &sb) == 0;
    }
    return p;
}

/* Loads one member of a set, naming both candidate files if neither exists. */
static ft_status load_member(const char *prefix, const char *suffix, ft_idx *out, char **path,
                             ft_error *err)
{
    int found;
    *path = pick_path(prefix, suffix, &found);
    if (!*path) return ft_error_set(err, FT_ENOMEM, "out of memory");
    if (!found)
        return ft_error_set(err, FT_EIO, "%s%s[%s]: %s", prefix, suffix, IDX_GZ_SUFFIX,
                            strerror(ENOENT));
    return ft_idx_load(*path, out, err);
}

ft_status ft_idx_set_load(const char *prefix, ft_idx_set *out, ft_error *err)
{
    memset(out, 0, sizeof *out);
    ft_idx img = {0}, lab = {0};
    ft_status st;
    char *ipath = NULL, *lpath = NULL;
    if ((st = load_member(prefix, IDX_IMAGES_SUFFIX, &img, &ipath, err))) goto done;
    if (img.ndim != IDX_IMAGES_NDIM) {
        st = ft_error_set(err, FT_EFORMAT, "%s: expected %d dimensions (n, h, w), found %d", ipath,
                          IDX_IMAGES_NDIM, img.ndim);
        goto done;
    }
    if (img.dims[0] == 0 || img.dims[1] == 0 || img.dims[2] == 0) {
        st = ft_error_set(err, FT_EFORMAT, "%s: no images (%ux%ux%u)", ipath, img.dims[0],
                          img.dims[1], img.dims[2]);
        goto done;
    }
    if ((st = load_member(prefix, IDX_LABELS_SUFFIX, &lab, &lpath, err))) goto done;
    if (lab.ndim != IDX_LABELS_NDIM) {
        st = ft_error_set(err, FT_EFORMAT, "%s: expected %d dimension (n), found %d", lpath,
                          IDX_LABELS_NDIM, lab.ndim);
        goto done;
    }
    if (lab.dims[0] != img.dims[0]) {
        st = ft_error_set(err, FT_EMISMATCH, "%s has %u images but %s has %u labels", ipath,
                          img.dims[0], lpath, lab.dims[0]);
        goto done;
    }
    /* every dim is <= FT_IDX_MAX_BYTES (1 GiB) < INT_MAX since none is 0 */
    out->n = (int)img.dims[0];
    out->h = (int)img.dims[1];
    out->w = (int)img.dims[2];
    out->images = img.data;
    out->labels = lab.data;
    img.data = lab.data = NULL;
done:
    ft_idx_free(&img);
    ft_idx_free(&lab);
    free(ipath);
    free(lpath);
    return st;
}

void ft_idx_set_free(ft_idx_set *s)
{
    if (!s) return;
    free(s->images);
    free(s->labels);
    memset(s, 0, sizeof *s);
}
