/*
 * files: durable file writes, bounded reads, whole-file copies and advisory locks
 * (flock: the store's lock file, docs/deploy.md "Backups").
 *
 * file_write_atomic() is the only way Ivory creates a file that another
 * process may read: temp name in the same directory, write, fsync, rename,
 * fsync the directory. A crash leaves either the old file or the new one.
 */
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int fsync_dir_of(const char *path)
{
    char *copy = xstrdup(path);
    char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = IV_OK;
    if (fd < 0 || fsync(fd) < 0)
        rc = IV_EIO;
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

int fd_write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int file_write_atomic(const char *path, const void *data, size_t n, int mode, struct iv_err *e)
{
    int rc = IV_OK, fd = -1;
    char rnd[37];
    uuid_v4(rnd);
    char *tmp = xasprintf("%s.tmp-%s", path, rnd);
    const char *step = "open";
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode ? mode : 0644);
    if (fd < 0)
        goto fail;
    step = "write";
    if (fd_write_all(fd, data, n) < 0)
        goto fail;
    step = "fsync";
    if (fsync(fd) < 0)
        goto fail;
    close(fd);
    fd = -1;
    step = "rename";
    if (rename(tmp, path) < 0)
        goto fail;
    fsync_dir_of(path);
    free(tmp);
    return IV_OK;
fail:
    rc = iv_err_set(e, IV_EIO, "%s('%s') failed: %s", step, tmp, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return rc;
}

int file_read_all(const char *path, size_t max, char **out, size_t *len_out, struct iv_err *e)
{
    FILE *f = fopen(path, "rbe");
    if (!f)
        return iv_err_set(e, errno == ENOENT ? IV_ENOTFOUND : IV_EIO, "cannot open '%s': %s",
                          path, strerror(errno));
    struct buf b;
    buf_init(&b, max);
    char chunk[65536];
    size_t got;
    int rc = IV_OK;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (buf_append(&b, chunk, got)) {
            rc = iv_err_set(e, IV_ETOOBIG, "file '%s' is larger than %zu bytes", path, max);
            break;
        }
    }
    if (!rc && ferror(f))
        rc = iv_err_set(e, IV_EIO, "cannot read '%s': %s", path, strerror(errno));
    fclose(f);
    if (rc) {
        buf_release(&b);
        return rc;
    }
    *out = buf_detach(&b, len_out);
    return IV_OK;
}

int mkdir_p(const char *path, int mode)
{
    char *p = xstrdup(path);
    int rc = IV_OK;
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, mode) < 0 && errno != EEXIST) {
                rc = IV_EIO;
                break;
            }
            *s = '/';
        }
    }
    if (!rc && mkdir(p, mode) < 0 && errno != EEXIST)
        rc = IV_EIO;
    free(p);
    return rc;
}

int file_copy_new(const char *src, const char *dst, int mode, struct iv_err *e)
{
    int in = -1, out = -1, rc = IV_OK;
    char block[65536];
    const char *step = "open", *file = src;
    in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        goto fail;
    file = dst;
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (out < 0)
        goto fail;
    for (;;) {
        step = "read";
        file = src;
        ssize_t n = read(in, block, sizeof block);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        step = "write";
        file = dst;
        if (fd_write_all(out, block, (size_t)n) < 0)
            goto fail;
    }
    step = "fsync";
    file = dst;
    if (fsync(out) < 0)
        goto fail;
    close(in);
    close(out);
    return IV_OK;
fail:
    rc = iv_err_set(e, IV_EIO, "%s('%s') failed: %s", step, file, strerror(errno));
    if (in >= 0)
        close(in);
    if (out >= 0) {
        close(out);
        unlink(dst);
    }
    return rc;
}

int file_lock(const char *path, bool exclusive, bool wait, int *fd_out, struct iv_err *e)
{
    *fd_out = -1;
    /* Read-only is enough for flock, so a lock file that another user created (root
     * restoring, the service user serving) can still be locked by both. */
    int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return iv_err_set(e, IV_EIO, "cannot open lock file '%s': %s", path, strerror(errno));
    int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
    int r;
    while ((r = flock(fd, op)) < 0 && errno == EINTR)
        ;
    if (r < 0) {
        int err = errno;
        close(fd);
        if (err == EWOULDBLOCK)
            return iv_err_set(e, IV_EAGAIN, "'%s' is locked by another process", path);
        return iv_err_set(e, IV_EIO, "cannot lock '%s': %s", path, strerror(err));
    }
    *fd_out = fd;
    return IV_OK;
}

/* Appends component c (not "" "." "..") to the resolved prefix cur: through realpath when the
 * result exists (following its symlinks), as written when it does not. Takes cur. */
static char *path_step(char *cur, const char *c, size_t n, bool *missing)
{
    char *cand = xasprintf("%s%s%.*s", cur, strcmp(cur, "/") ? "/" : "", (int)n, c);
    free(cur);
    if (*missing)
        return cand;
    char *real = realpath(cand, NULL);
    if (real) {
        free(cand);
        return real;
    }
    *missing = true;
    return cand;
}

int path_confined(const char *root, const char *path, char **resolved_out, struct iv_err *e)
{
    if (resolved_out)
        *resolved_out = NULL;
    if (!path || path[0] != '/')
        return iv_err_set(e, IV_EINVAL, "'%.200s' is not an absolute path", path ? path : "");
    char *root_real = realpath(root, NULL);
    if (!root_real)
        return iv_err_set(e, IV_EINVAL, "the root '%.200s' does not exist", root);
    char *cur = xstrdup("/");
    bool missing = false;
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if (n == 0)
            break;
        if (n == 1 && p[0] == '.') {
            /* nothing */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            char *slash = strrchr(cur, '/');
            if (slash == cur)
                cur[1] = '\0';
            else if (slash)
                *slash = '\0';
            struct stat sb;   /* back inside what exists: resolve again from here */
            missing = stat(cur, &sb) != 0;
        } else {
            cur = path_step(cur, p, n, &missing);
        }
        p += n;
    }
    size_t rl = strlen(root_real);
    bool inside = !strcmp(cur, root_real) ||
                  (!strncmp(cur, root_real, rl) && (cur[rl] == '/' || !strcmp(root_real, "/")));
    int rc = IV_OK;
    if (!inside)
        rc = iv_err_set(e, IV_EINVAL, "'%.200s' resolves to '%.200s', outside '%.200s'", path,
                        cur, root_real);
    if (rc == IV_OK && resolved_out)
        *resolved_out = cur;
    else
        free(cur);
    free(root_real);
    return rc;
}
