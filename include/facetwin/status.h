/* facetwin/status.h — status codes and error messages for every public call.
 *
 * Every fallible function in libfacetwin returns an ft_status and, when it is
 * not FT_OK, fills the caller's ft_error with a one-line, human-readable
 * message (no trailing newline) that names the file or field at fault.
 * Passing err = NULL is allowed: the message is then dropped.
 * The edges translate: the CLI prints "facetwin: <msg>" and exits non-zero,
 * the daemon maps the code to an HTTP status.
 */
#ifndef FACETWIN_STATUS_H
#define FACETWIN_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FT_OK = 0,
    FT_EINVAL,       /* bad argument or option value */
    FT_ENOMEM,       /* allocation failed */
    FT_EIO,          /* read/write/open failed */
    FT_EFORMAT,      /* malformed or truncated input data */
    FT_ETOOBIG,      /* input exceeds a configured cap (pixels, bytes) */
    FT_EUNSUPPORTED, /* valid but unsupported variant (format, layer) */
    FT_ECORRUPT,     /* checksum mismatch */
    FT_EVERSION,     /* unknown format version */
    FT_EMISMATCH,    /* data does not match the spec it claims */
    FT_EINTERRUPTED, /* stopped by a signal (e.g. Ctrl-C during training) */
    FT_ENOFACE,      /* a photo without a usable face (none found, or face_index beyond them) */
    FT_EMANYFACES    /* several faces and a single one was required */
} ft_status;

#define FT_ERROR_MSG_MAX 512

typedef struct {
    ft_status code;
    char msg[FT_ERROR_MSG_MAX];
} ft_error;

/* Records code and a printf-style message in err (if non-NULL); returns code. */
ft_status ft_error_set(ft_error *err, ft_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prefixes err->msg with "<prefix>: " (e.g. a file name); returns err->code. */
ft_status ft_error_prefix(ft_error *err, const char *prefix);

/* Short stable name of a status ("FT_EFORMAT" -> "format"). */
const char *ft_status_name(ft_status s);

#ifdef __cplusplus
}
#endif
#endif
