/* checkpoint.c — the checkpoint container: serialising, verifying, atomic write.
 *
 * A checkpoint is one self-describing file: a fixed header (magic, format
 * version, flags, embedding size, input geometry and normalisation, decision
 * threshold), two length-prefixed JSON texts (the architecture spec and free
 * metadata), a list of named float32 tensors, and a SHA-256 of every byte
 * before it. docs/FORMAT.md is the byte-level reference; this file and that
 * document change together, and a layout change bumps FT_CKPT_VERSION.
 *
 * Serialisation. Every field is written and read one at a time, little-endian,
 * through tiny put/get helpers: a struct is never fwrite()n, so the file does
 * not depend on the compiler's padding, the host's endianness or sizeof(int).
 * The one bulk copy is tensor data, which is memcpy'd when the host is
 * little-endian and converted value by value otherwise. Tensor data starts at
 * a file offset that is a multiple of 4 (zero padding after the dims): a
 * future reader may map the file and use the floats in place.
 *
 * Reading trusts nothing. The whole file is read into memory (refused before
 * reading if it is empty or larger than FT_CKPT_MAX_BYTES), then checked in
 * an order chosen for useful messages: magic first ("not a facetwin
 * checkpoint"), then the version (so a newer file says "version", even though
 * its checksum has not been verified yet: only the 12 bytes already bounded
 * are looked at), then the SHA-256 over the whole file, then every field is
 * parsed through a cursor that refuses to step past the end. Each length or
 * count is compared with the bytes that remain BEFORE anything is allocated,
 * so a crafted file with a valid checksum and a length of 2^62 costs nothing;
 * all allocations are bounded by the file size. On any failure the partially
 * filled result is freed and zeroed: callers never see half a checkpoint.
 *
 * Writing is atomic and never writes something the reader would refuse. The
 * in-memory checkpoint is validated with the same rules as a file (shared
 * check_* helpers), then streamed through a 64 KiB buffer into
 * "<path>.tmp.<pid>" in the destination directory, hashing each buffer with
 * EVP_DigestUpdate just before it goes to the kernel; the digest is appended,
 * the file fsync'd, closed, renamed over <path>, and the directory fsync'd so
 * the rename itself is durable. Readers therefore see the old file or the new
 * one, never a mix. The trade-off: a crash can leave a stale temp file; the
 * name carries the pid, and a leftover with our own pid (containers reuse
 * pids) is removed and recreated rather than blocking every later save.
 *
 * What this module does not know: layers. Whether the tensors fit the spec is
 * checked by ft_net_from_checkpoint / ft_net_load_tensors (net.c); the JSON
 * texts are stored as opaque bytes (no NUL allowed), not parsed here.
 */
#include "facetwin/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"

#define CK_MAGIC_LEN 8
#define CK_DIGEST_LEN 32                 /* SHA-256 */
#define CK_DTYPE_F32 1
#define CK_MAX_GEOMETRY 16384            /* input width/height cap */
#define CK_MAX_EMBED 65536               /* embedding size cap */
#define CK_MAX_COUNT (FT_CKPT_MAX_BYTES / 4) /* values per tensor (and per dim) */
#define CK_FIXED_HEADER 60               /* magic .. threshold */
#define CK_MIN_BYTES (CK_FIXED_HEADER + 8 + 8 + 4 + CK_DIGEST_LEN) /* no JSON, no tensor */
#define CK_MIN_TENSOR_BYTES (2 + 1 + 1 + 1 + 8) /* 1-byte name, dtype, ndim, one dim */
#define CK_ALIGN 4                       /* tensor data file offset alignment */
#define CK_WRITE_BUF (64 * 1024)
#define CK_NAME_FIRST 0x21               /* printable ASCII, no space */
#define CK_NAME_LAST 0x7e

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CK_HOST_LE 1
#else
#define CK_HOST_LE 0
#endif

/* ------------------------------------------------------------ byte order ---- */

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32); }

static float get_f32(const uint8_t *p)
{
    uint32_t u = get_u32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void set_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void set_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void set_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void set_f32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    set_u32(p, u);
}

static size_t pad_to_align(uint64_t offset) { return (size_t)((CK_ALIGN - offset % CK_ALIGN) % CK_ALIGN); }

/* ------------------------------------------- rules shared by read and write ---- */

static ft_status check_header(int64_t embed_dim, int64_t w, int64_t h, int64_t c, const float mean[3],
                              const float std[3], float threshold, ft_error *err)
{
    if (embed_dim < 1 || embed_dim > CK_MAX_EMBED)
        return ft_error_set(err, FT_EFORMAT, "embedding size %lld is out of range 1..%d", (long long)embed_dim,
                            CK_MAX_EMBED);
    if (w < 1 || w > CK_MAX_GEOMETRY || h < 1 || h > CK_MAX_GEOMETRY)
        return ft_error_set(err, FT_EFORMAT, "input size %lldx%lld is out of range 1..%d", (long long)w,
                            (long long)h, CK_MAX_GEOMETRY);
    if (c != 1 && c != 3)
        return ft_error_set(err, FT_EFORMAT, "input channels %lld must be 1 or 3", (long long)c);
    for (int k = 0; k < 3; k++) {
        if (!isfinite(mean[k])) return ft_error_set(err, FT_EFORMAT, "input mean[%d] is not finite", k);
        if (!isfinite(std[k])) return ft_error_set(err, FT_EFORMAT, "input std[%d] is not finite", k);
        if (k < c && !(std[k] > 0))
            return ft_error_set(err, FT_EFORMAT, "input std[%d] = %g must be positive", k, (double)std[k]);
    }
    if (!isfinite(threshold)) return ft_error_set(err, FT_EFORMAT, "threshold is not finite");
    return FT_OK;
}

/* name: len bytes, not NUL-terminated. */
static ft_status check_name(const char *name, size_t len, int idx, ft_error *err)
{
    if (len < 1 || len > FT_CKPT_MAX_NAME)
        return ft_error_set(err, FT_EFORMAT, "tensor %d: name length %zu is out of range 1..%d", idx, len,
                            FT_CKPT_MAX_NAME);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch < CK_NAME_FIRST || ch > CK_NAME_LAST)
            return ft_error_set(err, FT_EFORMAT,
                                "tensor %d: name byte %zu (0x%02x) is not printable ASCII without spaces", idx,
                                i, ch);
    }
    return FT_OK;
}

/* Validates ndim and dims; *count = product of dims (bounded by CK_MAX_COUNT). */
static ft_status check_dims(int64_t ndim, const uint64_t *dims, int idx, const char *name, size_t *count,
                            ft_error *err)
{
    if (ndim < 1 || ndim > FT_CKPT_MAX_DIMS)
        return ft_error_set(err, FT_EFORMAT, "tensor %d ('%s'): ndim %lld is out of range 1..%d", idx, name,
                            (long long)ndim, FT_CKPT_MAX_DIMS);
    uint64_t prod = 1;
    for (int64_t d = 0; d < ndim; d++) {
        if (dims[d] > CK_MAX_COUNT)
            return ft_error_set(err, FT_EFORMAT, "tensor %d ('%s'): dimension %lld = %llu exceeds %llu", idx,
                                name, (long long)d, (unsigned long long)dims[d],
                                (unsigned long long)CK_MAX_COUNT);
        if (dims[d] != 0 && prod > CK_MAX_COUNT / dims[d])
            return ft_error_set(err, FT_EFORMAT, "tensor %d ('%s'): the product of its dimensions exceeds %llu",
                                idx, name, (unsigned long long)CK_MAX_COUNT);
        prod *= dims[d];
    }
    *count = (size_t)prod;
    return FT_OK;
}

static int cmp_name_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Refuses two tensors with the same name (sort + neighbour compare). */
static ft_status check_unique(const ft_ckpt_tensor *t, int n, ft_error *err)
{
    if (n < 2) return FT_OK;
    const char **names = malloc((size_t)n * sizeof *names);
    if (!names) return ft_error_set(err, FT_ENOMEM, "out of memory checking tensor names");
    for (int i = 0; i < n; i++) names[i] = t[i].name;
    qsort(names, (size_t)n, sizeof *names, cmp_name_ptr);
    ft_status st = FT_OK;
    for (int i = 1; i < n && !st; i++)
        if (!strcmp(names[i - 1], names[i]))
            st = ft_error_set(err, FT_EFORMAT, "duplicate tensor name '%s'", names[i]);
    free(names);
    return st;
}

/* -------------------------------------------------------------- reading ---- */

/* A read position inside [0, end) of the file bytes; end excludes the digest. */
typedef struct {
    const uint8_t *b;
    size_t pos, end;
    ft_error *err;
} cursor;

/* Hands out the next n bytes, or fails naming the field that did not fit. */
static ft_status take(cursor *c, uint64_t n, const char *what, const uint8_t **p)
{
    size_t rem = c->end - c->pos;
    if (n > rem)
        return ft_error_set(c->err, FT_EFORMAT, "%s at offset %zu needs %llu bytes but only %zu remain", what,
                            c->pos, (unsigned long long)n, rem);
    *p = c->b + c->pos;
    c->pos += (size_t)n;
    return FT_OK;
}

static ft_status take_u8(cursor *c, const char *what, uint8_t *v)
{
    const uint8_t *p = NULL;
    ft_status st = take(c, 1, what, &p);
    if (!st) *v = p[0];
    return st;
}

static ft_status take_u16(cursor *c, const char *what, uint16_t *v)
{
    const uint8_t *p = NULL;
    ft_status st = take(c, 2, what, &p);
    if (!st) *v = get_u16(p);
    return st;
}

static ft_status take_u32(cursor *c, const char *what, uint32_t *v)
{
    const uint8_t *p = NULL;
    ft_status st = take(c, 4, what, &p);
    if (!st) *v = get_u32(p);
    return st;
}

static ft_status take_u64(cursor *c, const char *what, uint64_t *v)
{
    const uint8_t *p = NULL;
    ft_status st = take(c, 8, what, &p);
    if (!st) *v = get_u64(p);
    return st;
}

static ft_status take_f32(cursor *c, const char *what, float *v)
{
    const uint8_t *p = NULL;
    ft_status st = take(c, 4, what, &p);
    if (!st) *v = get_f32(p);
    return st;
}

/* u64 length + bytes -> malloc'd NUL-terminated string. */
static ft_status take_json(cursor *c, const char *what, int allow_empty, char **out)
{
    uint64_t len = 0;
    const uint8_t *p = NULL;
    ft_status st = take_u64(c, what, &len);
    if (st) return st;
    if (len == 0 && !allow_empty) return ft_error_set(c->err, FT_EFORMAT, "%s is empty", what);
    if ((st = take(c, len, what, &p))) return st;
    if (memchr(p, 0, (size_t)len))
        return ft_error_set(c->err, FT_EFORMAT, "%s contains a NUL byte", what);
    char *s = malloc((size_t)len + 1);
    if (!s) return ft_error_set(c->err, FT_ENOMEM, "out of memory reading %s (%llu bytes)", what,
                                (unsigned long long)len);
    memcpy(s, p, (size_t)len);
    s[len] = '\0';
    *out = s;
    return FT_OK;
}

static ft_status parse_tensor(cursor *c, int idx, ft_ckpt_tensor *t)
{
    ft_error *err = c->err;
    uint16_t name_len = 0;
    uint8_t dtype = 0, ndim = 0;
    const uint8_t *p = NULL;
    ft_status st = take_u16(c, "tensor name length", &name_len);
    if (st) return st;
    if (name_len < 1 || name_len > FT_CKPT_MAX_NAME)
        return ft_error_set(err, FT_EFORMAT, "tensor %d: name length %u is out of range 1..%d", idx,
                            (unsigned)name_len, FT_CKPT_MAX_NAME);
    if ((st = take(c, name_len, "tensor name", &p))) return st;
    if ((st = check_name((const char *)p, name_len, idx, err))) return st;
    memcpy(t->name, p, name_len);
    t->name[name_len] = '\0';

    if ((st = take_u8(c, "tensor dtype", &dtype)) || (st = take_u8(c, "tensor ndim", &ndim))) return st;
    if (dtype != CK_DTYPE_F32)
        return ft_error_set(err, FT_EFORMAT, "tensor %d ('%s'): dtype %u is not defined (1 = float32)", idx,
                            t->name, (unsigned)dtype);
    uint64_t dims[FT_CKPT_MAX_DIMS] = {0};
    size_t count;
    if (ndim < 1 || ndim > FT_CKPT_MAX_DIMS)
        return check_dims(ndim, dims, idx, t->name, &count, err);
    for (int d = 0; d < ndim; d++)
        if ((st = take_u64(c, "tensor dimension", &dims[d]))) return st;
    if ((st = check_dims(ndim, dims, idx, t->name, &count, err))) return st;

    size_t pad = pad_to_align(c->pos);
    if ((st = take(c, pad, "tensor padding", &p))) return st;
    for (size_t i = 0; i < pad; i++)
        if (p[i]) return ft_error_set(err, FT_EFORMAT, "tensor %d ('%s'): non-zero padding byte", idx, t->name);

    if ((st = take(c, (uint64_t)count * sizeof(float), "tensor data", &p))) return st;
    t->data = malloc(count ? count * sizeof(float) : sizeof(float)); /* never NULL, even when empty */
    if (!t->data)
        return ft_error_set(err, FT_ENOMEM, "out of memory reading tensor '%s' (%zu values)", t->name, count);
    if (CK_HOST_LE)
        memcpy(t->data, p, count * sizeof(float));
    else
        for (size_t i = 0; i < count; i++) t->data[i] = get_f32(p + 4 * i);
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->dims[d] = (int64_t)dims[d];
    t->count = count;
    return FT_OK;
}

/* Everything after magic + version, up to the digest. */
static ft_status parse_body(cursor *c, ft_ckpt *out)
{
    ft_error *err = c->err;
    uint32_t flags = 0, embed = 0, w = 0, h = 0, ch = 0;
    float mean[3] = {0}, std[3] = {0}, thr = 0;
    ft_status st;
    if ((st = take_u32(c, "header flags", &flags))) return st;
    if (flags != 0)
        return ft_error_set(err, FT_EFORMAT, "header flags 0x%08x are not defined in version %u", flags,
                            FT_CKPT_VERSION);
    if ((st = take_u32(c, "embedding size", &embed)) || (st = take_u32(c, "input width", &w)) ||
        (st = take_u32(c, "input height", &h)) || (st = take_u32(c, "input channels", &ch)))
        return st;
    for (int k = 0; k < 3 && !st; k++) st = take_f32(c, "input mean", &mean[k]);
    for (int k = 0; k < 3 && !st; k++) st = take_f32(c, "input std", &std[k]);
    if (st || (st = take_f32(c, "threshold", &thr))) return st;
    if ((st = check_header(embed, w, h, ch, mean, std, thr, err))) return st;
    out->embed_dim = (int)embed;
    out->input.width = (int)w;
    out->input.height = (int)h;
    out->input.channels = (int)ch;
    memcpy(out->input.mean, mean, sizeof mean);
    memcpy(out->input.std, std, sizeof std);
    out->threshold = thr;

    if ((st = take_json(c, "spec JSON", 0, &out->spec_json))) return st;
    if ((st = take_json(c, "metadata JSON", 1, &out->meta_json))) return st;

    uint32_t n = 0;
    if ((st = take_u32(c, "tensor count", &n))) return st;
    if (n > FT_CKPT_MAX_TENSORS)
        return ft_error_set(err, FT_EFORMAT, "tensor count %u exceeds %d", n, FT_CKPT_MAX_TENSORS);
    if ((uint64_t)n * CK_MIN_TENSOR_BYTES > c->end - c->pos)
        return ft_error_set(err, FT_EFORMAT, "tensor count %u cannot fit in the %zu bytes that remain", n,
                            c->end - c->pos);
    if (n > 0) {
        out->tensors = calloc(n, sizeof *out->tensors);
        if (!out->tensors) return ft_error_set(err, FT_ENOMEM, "out of memory reading %u tensors", n);
        out->n_tensors = (int)n;
    }
    for (int i = 0; i < (int)n; i++)
        if ((st = parse_tensor(c, i, &out->tensors[i]))) return st;
    if (c->pos != c->end)
        return ft_error_set(err, FT_EFORMAT, "%zu bytes of trailing garbage after the last tensor",
                            c->end - c->pos);
    return check_unique(out->tensors, out->n_tensors, err);
}

/* Magic, version, size and checksum: the envelope, before any field is trusted. */
static ft_status check_envelope(const uint8_t *b, size_t n, ft_error *err)
{
    if (n == 0) return ft_error_set(err, FT_EFORMAT, "empty checkpoint (0 bytes)");
    if ((uint64_t)n > FT_CKPT_MAX_BYTES)
        return ft_error_set(err, FT_ETOOBIG, "checkpoint of %zu bytes exceeds the %llu-byte limit", n,
                            (unsigned long long)FT_CKPT_MAX_BYTES);
    if (memcmp(b, FT_CKPT_MAGIC, n < CK_MAGIC_LEN ? n : CK_MAGIC_LEN))
        return ft_error_set(err, FT_EFORMAT, "not a facetwin checkpoint (bad magic)");
    if (n < CK_MAGIC_LEN + 4) return ft_error_set(err, FT_EFORMAT, "truncated checkpoint (%zu bytes)", n);
    uint32_t version = get_u32(b + CK_MAGIC_LEN);
    if (version != FT_CKPT_VERSION)
        return ft_error_set(err, FT_EVERSION,
                            "checkpoint format version %u is not supported (this build reads version %u)",
                            version, FT_CKPT_VERSION);
    if (n < CK_MIN_BYTES) return ft_error_set(err, FT_EFORMAT, "truncated checkpoint (%zu bytes)", n);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!EVP_Digest(b, n - CK_DIGEST_LEN, md, &md_len, EVP_sha256(), NULL) || md_len != CK_DIGEST_LEN)
        return ft_error_set(err, FT_ENOMEM, "SHA-256 computation failed (libcrypto)");
    if (memcmp(md, b + n - CK_DIGEST_LEN, CK_DIGEST_LEN))
        return ft_error_set(err, FT_ECORRUPT, "checksum mismatch: file is corrupt or truncated");
    return FT_OK;
}

ft_status ft_ckpt_read_mem(const uint8_t *bytes, size_t n, ft_ckpt *out, ft_error *err)
{
    if (!out) return ft_error_set(err, FT_EINVAL, "ft_ckpt_read_mem: out is NULL");
    memset(out, 0, sizeof *out);
    if (!bytes && n) return ft_error_set(err, FT_EINVAL, "ft_ckpt_read_mem: bytes is NULL");
    ft_status st = check_envelope(bytes, n, err);
    if (st) return st;
    cursor c = {bytes, CK_MAGIC_LEN + 4, n - CK_DIGEST_LEN, err};
    st = parse_body(&c, out);
    if (st) ft_ckpt_free(out);
    return st;
}

/* Reads the whole regular file at path; size limits are checked before reading. */
static ft_status load_file(const char *path, uint8_t **out, size_t *n, ft_error *err)
{
    *out = NULL;
    *n = 0;
    /* O_NONBLOCK: a FIFO must not block the open; it is then refused as not regular */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return ft_error_set(err, FT_EIO, "cannot open: %s", strerror(errno));
    struct stat sb;
    ft_status st = FT_OK;
    uint8_t *buf = NULL;
    if (fstat(fd, &sb) != 0) {
        st = ft_error_set(err, FT_EIO, "cannot stat: %s", strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        st = ft_error_set(err, FT_EIO, "not a regular file");
    } else if (sb.st_size == 0) {
        st = ft_error_set(err, FT_EFORMAT, "empty file (0 bytes), not a checkpoint");
    } else if ((uint64_t)sb.st_size > FT_CKPT_MAX_BYTES) {
        st = ft_error_set(err, FT_ETOOBIG, "file of %lld bytes exceeds the %llu-byte checkpoint limit",
                          (long long)sb.st_size, (unsigned long long)FT_CKPT_MAX_BYTES);
    } else if (!(buf = malloc((size_t)sb.st_size))) {
        st = ft_error_set(err, FT_ENOMEM, "out of memory reading %lld bytes", (long long)sb.st_size);
    }
    size_t want = st ? 0 : (size_t)sb.st_size, got = 0;
    while (!st && got < want) {
        ssize_t r = read(fd, buf + got, want - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) st = ft_error_set(err, FT_EIO, "read failed: %s", strerror(errno));
        if (r <= 0) break; /* a file that shrank: the parser reports it truncated */
        got += (size_t)r;
    }
    close(fd);
    if (st) {
        free(buf);
        return st;
    }
    *out = buf;
    *n = got;
    return FT_OK;
}

ft_status ft_ckpt_read(const char *path, ft_ckpt *out, ft_error *err)
{
    if (!out) return ft_error_set(err, FT_EINVAL, "ft_ckpt_read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return ft_error_set(err, FT_EINVAL, "ft_ckpt_read: path is NULL");
    uint8_t *bytes;
    size_t n;
    ft_status st = load_file(path, &bytes, &n, err);
    if (!st) {
        st = ft_ckpt_read_mem(bytes, n, out, err);
        free(bytes);
    }
    if (st && err) ft_error_prefix(err, path);
    return st;
}

const ft_ckpt_tensor *ft_ckpt_find(const ft_ckpt *ck, const char *name)
{
    if (!ck || !name || !ck->tensors) return NULL;
    for (int i = 0; i < ck->n_tensors; i++)
        if (!strcmp(ck->tensors[i].name, name)) return &ck->tensors[i];
    return NULL;
}

void ft_ckpt_free(ft_ckpt *ck)
{
    if (!ck) return;
    if (ck->tensors)
        for (int i = 0; i < ck->n_tensors; i++) free(ck->tensors[i].data);
    free(ck->tensors);
    free(ck->spec_json);
    free(ck->meta_json);
    memset(ck, 0, sizeof *ck);
}

/* -------------------------------------------------------------- writing ---- */

static const char k_empty_meta[] = "{}"; /* written when meta_json is NULL */

/* Applies the reading rules to an in-memory checkpoint; *size = exact file size. */
static ft_status validate(const ft_ckpt *ck, uint64_t *size, ft_error *err)
{
    ft_status st = check_header(ck->embed_dim, ck->input.width, ck->input.height, ck->input.channels,
                                ck->input.mean, ck->input.std, ck->threshold, err);
    if (st) return st;
    if (!ck->spec_json || !ck->spec_json[0]) return ft_error_set(err, FT_EFORMAT, "spec JSON is empty");
    const char *meta = ck->meta_json ? ck->meta_json : k_empty_meta;
    if (ck->n_tensors < 0 || ck->n_tensors > FT_CKPT_MAX_TENSORS)
        return ft_error_set(err, FT_EFORMAT, "tensor count %d is out of range 0..%d", ck->n_tensors,
                            FT_CKPT_MAX_TENSORS);
    if (ck->n_tensors > 0 && !ck->tensors) return ft_error_set(err, FT_EFORMAT, "tensors is NULL");
    uint64_t off = CK_FIXED_HEADER + 8 + (uint64_t)strlen(ck->spec_json) + 8 + (uint64_t)strlen(meta) + 4;
    for (int i = 0; i < ck->n_tensors; i++) {
        const ft_ckpt_tensor *t = &ck->tensors[i];
        const char *nul = memchr(t->name, 0, sizeof t->name);
        if (!nul) return ft_error_set(err, FT_EFORMAT, "tensor %d: name is not NUL-terminated", i);
        size_t name_len = (size_t)(nul - t->name);
        if ((st = check_name(t->name, name_len, i, err))) return st;
        uint64_t dims[FT_CKPT_MAX_DIMS] = {0};
        for (int d = 0; d < FT_CKPT_MAX_DIMS && d < t->ndim; d++) {
            if (t->dims[d] < 0)
                return ft_error_set(err, FT_EFORMAT, "tensor %d ('%s'): dimension %d is negative", i, t->name, d);
            dims[d] = (uint64_t)t->dims[d];
        }
        size_t count;
        if ((st = check_dims(t->ndim, dims, i, t->name, &count, err))) return st;
        if (count != t->count)
            return ft_error_set(err, FT_EFORMAT, "tensor %d ('%s'): count %zu is not the product of its dims (%zu)",
                                i, t->name, t->count, count);
        if (count > 0 && !t->data) return ft_error_set(err, FT_EFORMAT, "tensor %d ('%s'): data is NULL", i, t->name);
        off += 2 + name_len + 1 + 1 + 8 * (uint64_t)t->ndim;
        off += pad_to_align(off) + 4 * (uint64_t)count;
    }
    if ((st = check_unique(ck->tensors, ck->n_tensors, err))) return st;
    off += CK_DIGEST_LEN;
    if (off > FT_CKPT_MAX_BYTES)
        return ft_error_set(err, FT_ETOOBIG, "checkpoint would be %llu bytes, over the %llu-byte limit",
                            (unsigned long long)off, (unsigned long long)FT_CKPT_MAX_BYTES);
    *size = off;
    return FT_OK;
}

/* A buffered writer that hashes each buffer just before writing it. */
typedef struct {
    int fd;
    EVP_MD_CTX *md;  /* NULL: bytes are written but not hashed (the digest itself) */
    uint8_t *buf;
    size_t len;
    uint64_t off;    /* bytes accepted so far = current file offset */
    int failed;      /* errno of the first failure, 0 if none */
} writer;

static void w_flush(writer *w)
{
    if (w->failed || w->len == 0) return;
    if (w->md && !EVP_DigestUpdate(w->md, w->buf, w->len)) {
        w->failed = ENOMEM;
        return;
    }
    if ((w->failed = ft_write_all(w->fd, w->buf, w->len))) return;
    w->len = 0;
}

static void w_bytes(writer *w, const void *data, size_t n)
{
    const uint8_t *p = data;
    w->off += n;
    while (n > 0 && !w->failed) {
        size_t k = CK_WRITE_BUF - w->len < n ? CK_WRITE_BUF - w->len : n;
        memcpy(w->buf + w->len, p, k);
        w->len += k;
        p += k;
        n -= k;
        if (w->len == CK_WRITE_BUF) w_flush(w);
    }
}

static void w_u8(writer *w, uint8_t v) { w_bytes(w, &v, 1); }

static void w_u16(writer *w, uint16_t v)
{
    uint8_t b[2];
    set_u16(b, v);
    w_bytes(w, b, sizeof b);
}

static void w_u32(writer *w, uint32_t v)
{
    uint8_t b[4];
    set_u32(b, v);
    w_bytes(w, b, sizeof b);
}

static void w_u64(writer *w, uint64_t v)
{
    uint8_t b[8];
    set_u64(b, v);
    w_bytes(w, b, sizeof b);
}

static void w_f32(writer *w, float f)
{
    uint8_t b[4];
    set_f32(b, f);
    w_bytes(w, b, sizeof b);
}

static void w_floats(writer *w, const float *x, size_t n)
{
    if (CK_HOST_LE) {
        w_bytes(w, x, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++) w_f32(w, x[i]);
}

static void w_json(writer *w, const char *s)
{
    size_t len = strlen(s);
    w_u64(w, len);
    w_bytes(w, s, len);
}

/* Serialises everything up to (not including) the digest. */
static void w_checkpoint(writer *w, const ft_ckpt *ck)
{
    w_bytes(w, FT_CKPT_MAGIC, CK_MAGIC_LEN);
    w_u32(w, FT_CKPT_VERSION);
    w_u32(w, 0); /* header flags */
    w_u32(w, (uint32_t)ck->embed_dim);
    w_u32(w, (uint32_t)ck->input.width);
    w_u32(w, (uint32_t)ck->input.height);
    w_u32(w, (uint32_t)ck->input.channels);
    for (int k = 0; k < 3; k++) w_f32(w, ck->input.mean[k]);
    for (int k = 0; k < 3; k++) w_f32(w, ck->input.std[k]);
    w_f32(w, ck->threshold);
    w_json(w, ck->spec_json);
    w_json(w, ck->meta_json ? ck->meta_json : k_empty_meta);
    w_u32(w, (uint32_t)ck->n_tensors);
    static const uint8_t zeros[CK_ALIGN] = {0};
    for (int i = 0; i < ck->n_tensors; i++) {
        const ft_ckpt_tensor *t = &ck->tensors[i];
        size_t name_len = strlen(t->name);
        w_u16(w, (uint16_t)name_len);
        w_bytes(w, t->name, name_len);
        w_u8(w, CK_DTYPE_F32);
        w_u8(w, (uint8_t)t->ndim);
        for (int d = 0; d < t->ndim; d++) w_u64(w, (uint64_t)t->dims[d]);
        w_bytes(w, zeros, pad_to_align(w->off));
        if (t->count) w_floats(w, t->data, t->count);
    }
}

ft_status ft_ckpt_write(const char *path, const ft_ckpt *ck, ft_error *err)
{
    if (!path || !ck) return ft_error_set(err, FT_EINVAL, "ft_ckpt_write: NULL argument");
    uint64_t size = 0;
    ft_status st = validate(ck, &size, err);
    if (st) {
        if (st == FT_EFORMAT) st = FT_EINVAL;
        if (err) {
            err->code = st;
            ft_error_prefix(err, "refusing to write an invalid checkpoint");
            ft_error_prefix(err, path);
        }
        return st;
    }

    ft_atomic_file af = {-1, NULL, NULL, path};
    writer w = {.fd = -1, .md = EVP_MD_CTX_new(), .buf = malloc(CK_WRITE_BUF)};
    if (!w.md || !w.buf || !EVP_DigestInit_ex(w.md, EVP_sha256(), NULL)) {
        st = ft_error_set(err, FT_ENOMEM, "%s: out of memory preparing the write", path);
        goto done;
    }
    if ((st = ft_atomic_open(&af, path, err))) goto done;
    w.fd = af.fd;

    w_checkpoint(&w, ck);
    w_flush(&w);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!w.failed && (!EVP_DigestFinal_ex(w.md, md, &md_len) || md_len != CK_DIGEST_LEN)) w.failed = ENOMEM;
    EVP_MD_CTX_free(w.md);
    w.md = NULL; /* the digest is written, not hashed */
    if (!w.failed) {
        w_bytes(&w, md, CK_DIGEST_LEN);
        w_flush(&w);
    }
    if (!w.failed && w.off != size) w.failed = EIO; /* validate() and w_checkpoint() disagree: a bug */
    st = ft_atomic_commit(&af, w.failed, err);

done:
    ft_atomic_abort(&af);
    EVP_MD_CTX_free(w.md);
    free(w.buf);
    return st;
}
