/* atomic_file.h — writing a file so that readers see the old one or the new
 * one, never a mix (internal; used by the checkpoint writer and the report).
 *
 * ft_atomic_open creates "<path>.tmp.<pid>" next to the target (a stale one of
 * the same pid is replaced); the caller writes to f.fd; ft_atomic_commit
 * fsyncs, closes, renames over <path> and fsyncs the directory so the rename
 * itself is durable. On any failure — including a write error the caller met
 * and hands in — the temporary file is removed; it never survives.
 * Messages start with the target path.
 */
#ifndef FT_ATOMIC_FILE_H
#define FT_ATOMIC_FILE_H

#include <stddef.h>

#include "facetwin/status.h"

typedef struct {
    int fd;           /* the temporary file; -1 when closed */
    char *tmp, *dir;  /* owned */
    const char *path; /* the target (borrowed) */
} ft_atomic_file;

ft_status ft_atomic_open(ft_atomic_file *f, const char *path, ft_error *err);

/* Writes all n bytes to fd; returns 0 or an errno value. */
int ft_write_all(int fd, const void *data, size_t n);

/* Makes the file durable and puts it in place. write_errno: 0, or the errno
 * of a failed write ("write to <tmp> failed: ..."). Releases f in every case. */
ft_status ft_atomic_commit(ft_atomic_file *f, int write_errno, ft_error *err);

/* Closes and removes the temporary file, releases f (safe after commit). */
void ft_atomic_abort(ft_atomic_file *f);

#endif
