/* status.c — the error type shared by the whole library.
 *
 * Messages are formatted into a fixed buffer inside ft_error, so reporting an
 * error never allocates (it must work when allocation is what failed).
 */
#include "facetwin/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

ft_status ft_error_set(ft_error *err, ft_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

ft_status ft_error_prefix(ft_error *err, const char *prefix)
{
    if (!err) return FT_EINVAL;
    char tmp[FT_ERROR_MSG_MAX];
    size_t lp = strlen(prefix), lm = strlen(err->msg);
    if (lp > FT_ERROR_MSG_MAX / 2) lp = FT_ERROR_MSG_MAX / 2; /* keep room for the reason */
    if (lp + 2 + lm >= sizeof tmp) lm = sizeof tmp - lp - 3;
    memcpy(tmp, prefix, lp);
    memcpy(tmp + lp, ": ", 2);
    memcpy(tmp + lp + 2, err->msg, lm);
    tmp[lp + 2 + lm] = '\0';
    memcpy(err->msg, tmp, sizeof tmp);
    return err->code;
}

const char *ft_status_name(ft_status s)
{
    switch (s) {
    case FT_OK: return "ok";
    case FT_EINVAL: return "invalid";
    case FT_ENOMEM: return "out_of_memory";
    case FT_EIO: return "io";
    case FT_EFORMAT: return "format";
    case FT_ETOOBIG: return "too_big";
    case FT_EUNSUPPORTED: return "unsupported";
    case FT_ECORRUPT: return "corrupt";
    case FT_EVERSION: return "version";
    case FT_EMISMATCH: return "mismatch";
    case FT_EINTERRUPTED: return "interrupted";
    case FT_ENOFACE: return "no_face";
    case FT_EMANYFACES: return "multiple_faces";
    }
    return "unknown";
}
