/* atomic_file.c — temp file + fsync + rename + directory fsync (atomic_file.h). */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FT_TMP_SUFFIX_MAX 32

/* "dir/name" -> "dir", "name" -> ".", "/name" -> "/" (malloc'd). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

/* fsync of the directory makes the rename durable. Filesystems that cannot
 * sync a directory (EINVAL, ENOTSUP) are accepted as they are. */
static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    int rc = 0;
    if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP) rc = errno;
    close(fd);
    return rc;
}

void ft_atomic_abort(ft_atomic_file *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        unlink(f->tmp);
    }
    f->fd = -1;
    free(f->tmp);
    free(f->dir);
    f->tmp = f->dir = NULL;
}

ft_status ft_atomic_open(ft_atomic_file *f, const char *path, ft_error *err)
{
    size_t tmp_n = strlen(path) + FT_TMP_SUFFIX_MAX;
    *f = (ft_atomic_file){-1, malloc(tmp_n), dir_of(path), path};
    if (!f->tmp || !f->dir) {
        ft_atomic_abort(f);
        return ft_error_set(err, FT_ENOMEM, "%s: out of memory preparing the write", path);
    }
    snprintf(f->tmp, tmp_n, "%s.tmp.%ld", path, (long)getpid());
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
    f->fd = open(f->tmp, flags, 0644);
    if (f->fd < 0 && errno == EEXIST && unlink(f->tmp) == 0) f->fd = open(f->tmp, flags, 0644); /* stale, our pid */
    if (f->fd < 0) {
        ft_status st = ft_error_set(err, FT_EIO, "%s: cannot create temporary file %s: %s", path, f->tmp,
                                    strerror(errno));
        ft_atomic_abort(f);
        return st;
    }
    return FT_OK;
}

int ft_write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return r < 0 ? errno : EIO;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

ft_status ft_atomic_commit(ft_atomic_file *f, int write_errno, ft_error *err)
{
    const char *step = "write to";
    int e = write_errno;
    if (!e && fsync(f->fd) != 0) {
        e = errno;
        step = "fsync of";
    }
    int rc = close(f->fd);
    f->fd = -1;
    if (!e && rc != 0) {
        e = errno;
        step = "close of";
    }
    if (!e && rename(f->tmp, f->path) != 0) {
        e = errno;
        step = "rename over the target of";
    }
    ft_status st = FT_OK;
    if (e) {
        unlink(f->tmp);
        st = ft_error_set(err, FT_EIO, "%s: %s %s failed: %s", f->path, step, f->tmp, strerror(e));
    } else if ((rc = fsync_dir(f->dir)) != 0) {
        st = ft_error_set(err, FT_EIO, "%s: fsync of directory %s failed: %s", f->path, f->dir, strerror(rc));
    }
    ft_atomic_abort(f);
    return st;
}
