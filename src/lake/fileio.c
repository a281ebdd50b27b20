/*
 * lake/fileio: local file I/O for the Iceberg table layer — URI <-> path
 * mapping, durable writes, the atomic create-if-absent used by hadoop
 * commits, JSON reads and best-effort deletes.
 *
 * Why here: every file the lake writes must be temp -> fsync -> rename (or
 * O_EXCL + fsync then link), and every path it records must be an absolute
 * file:// URI. Keeping both rules in one file keeps the other files honest.
 * The lake_io_* helpers taking a catalog are storage-neutral: a local path or
 * file:// URI goes to the local disk, an s3:// URI to the catalog's S3 client
 * (s3.c). Files bound for S3 are written to a local spool file first and
 * uploaded when complete, so a file is referenced by a commit only after its
 * upload succeeded.
 */
#include "lake/lake_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <sys/syscall.h>

#define LAKE_JSON_MAX ((size_t)256 << 20)

char *lake_uri_to_path(const char *uri)
{
    if (!uri)
        return NULL;
    const char *p = uri;
    if (strncmp(p, "file://", 7) == 0)
        p += 7;
    if (p[0] != '/')
        return NULL;
    char *out = xstrdup(p);
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        out[--n] = '\0';
    return out;
}

char *lake_path_to_uri(const char *path)
{
    if (lake_is_s3_uri(path) || strncmp(path, "file://", 7) == 0)
        return xstrdup(path);
    return xasprintf("file://%s", path);
}

static int mkdir_parent(const char *path, struct iv_err *e)
{
    char *copy = xstrdup(path);
    char *dir = dirname(copy);
    int rc = mkdir_p(dir, 0755);
    if (rc)
        iv_err_set(e, IV_EIO, "cannot create directory '%s': %s", dir, strerror(errno));
    free(copy);
    return rc ? IV_EIO : IV_OK;
}

int lake_io_write_atomic(const char *path, const void *p, size_t n, struct iv_err *e)
{
    int rc = mkdir_parent(path, e);
    if (rc)
        return rc;
    return file_write_atomic(path, p, n, 0644, e);
}

int lake_io_write_new(const char *path, const void *p, size_t n, struct iv_err *e)
{
    int rc = mkdir_parent(path, e);
    if (rc)
        return rc;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return iv_err_set(e, IV_EIO, "cannot create '%s': %s", path, strerror(errno));
    if (fd_write_all(fd, p, n) < 0 || fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    return IV_OK;
fail:
    rc = iv_err_set(e, IV_EIO, "cannot write '%s': %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(path);
    return rc;
}

int lake_io_link_noreplace(const char *from, const char *to, struct iv_err *e)
{
    if (link(from, to) == 0)
        goto ok;
    if (errno == EEXIST)
        return iv_err_set(e, IV_ECONFLICT, "'%s' already exists", to);
    if (errno != EPERM && errno != EOPNOTSUPP && errno != EXDEV && errno != EMLINK)
        return iv_err_set(e, IV_EIO, "link('%s') failed: %s", to, strerror(errno));
    /* File systems without hard links: rename that refuses to replace. */
    if (syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) != 0) {
        if (errno == EEXIST)
            return iv_err_set(e, IV_ECONFLICT, "'%s' already exists", to);
        return iv_err_set(e, IV_EIO, "renameat2('%s') failed: %s", to, strerror(errno));
    }
ok:
    if (fsync_dir_of(to) != IV_OK)
        return iv_err_set(e, IV_EIO, "fsync of the directory of '%s' failed", to);
    return IV_OK;
}

int lake_io_read_json(const char *path, json_t **out, struct iv_err *e)
{
    char *data = NULL;
    size_t len = 0;
    int rc = file_read_all(path, LAKE_JSON_MAX, &data, &len, e);
    if (rc)
        return rc;
    json_error_t je;
    json_t *j = json_loadb(data, len, 0, &je);
    free(data);
    if (!j)
        return iv_err_set(e, IV_EINVAL, "'%s' is not valid JSON: %s (line %d)", path, je.text,
                          je.line);
    *out = j;
    return IV_OK;
}

bool lake_io_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

void lake_io_unlink(const char *path)
{
    if (path)
        (void)unlink(path);
}

void lake_io_unlink_uri(const char *uri)
{
    char *p = lake_uri_to_path(uri);
    lake_io_unlink(p);
    free(p);
}

int lake_check_name(const char *what, const char *s, struct iv_err *e)
{
    if (!s || !*s)
        return iv_err_set(e, IV_EINVAL, "%s name is empty", what);
    size_t n = strlen(s);
    if (n > 255)
        return iv_err_set(e, IV_EINVAL, "%s name is longer than 255 bytes", what);
    char *seg = lake_name_segment(s);
    size_t seg_len = strlen(seg);
    free(seg);
    if (seg_len > 255)
        return iv_err_set(e, IV_EINVAL, "%s name is longer than 255 bytes once its special "
                          "characters are encoded for its directory", what);
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return iv_err_set(e, IV_EINVAL, "%s name '%s' is not allowed", what, s);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f || ch == '/' || ch == '\\' || ch == '%')
            return iv_err_set(e, IV_EINVAL, "%s name '%s' contains a forbidden character",
                              what, s);
    }
    return IV_OK;
}

/* ---- storage-neutral helpers ----------------------------------------------------------- */

static int need_s3(struct lake_catalog *c, const char *where, struct iv_err *e)
{
    if (!c || !c->s3)
        return iv_err_set(e, IV_EINVAL, "'%s' is on S3 but the catalog has no S3 settings",
                          where);
    return IV_OK;
}

static char *local_of(const char *where, struct iv_err *e)
{
    char *p = lake_uri_to_path(where);
    if (!p)
        iv_err_set(e, IV_EINVAL, "'%s' is neither a local path nor an s3:// URI", where);
    return p;
}

int lake_io_put(struct lake_catalog *c, const char *where, const void *p, size_t n,
                struct iv_err *e)
{
    if (lake_is_s3_uri(where)) {
        int rc = need_s3(c, where, e);
        return rc ? rc : lake_s3_put(c->s3, where, p, n, e);
    }
    char *path = local_of(where, e);
    if (!path)
        return IV_EINVAL;
    int rc = lake_io_write_atomic(path, p, n, e);
    free(path);
    return rc;
}

int lake_io_get_json(struct lake_catalog *c, const char *where, json_t **out, struct iv_err *e)
{
    *out = NULL;
    if (!lake_is_s3_uri(where)) {
        char *path = local_of(where, e);
        if (!path)
            return IV_EINVAL;
        int rc = lake_io_read_json(path, out, e);
        free(path);
        return rc;
    }
    int rc = need_s3(c, where, e);
    char *data = NULL;
    size_t len = 0;
    if (!rc)
        rc = lake_s3_get(c->s3, where, LAKE_JSON_MAX, &data, &len, e);
    if (rc)
        return rc;
    json_error_t je;
    *out = json_loadb(data, len, 0, &je);
    free(data);
    if (!*out)
        return iv_err_set(e, IV_EINVAL, "'%s' is not valid JSON: %s (line %d)", where, je.text,
                          je.line);
    return IV_OK;
}

static char *spool_file(const char *where)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    const char *base = strrchr(where, '/');
    char uuid[37];
    uuid_v4(uuid);
    return xasprintf("%s/ivory-spool-%s-%s", dir, uuid, base ? base + 1 : "file");
}

char *lake_io_spool(struct lake_catalog *c, const char *where)
{
    (void)c;
    if (lake_is_s3_uri(where))
        return spool_file(where);
    char *p = lake_uri_to_path(where);
    return p ? p : xstrdup(where);
}

int lake_io_publish(struct lake_catalog *c, const char *local, const char *where,
                    struct iv_err *e)
{
    if (!lake_is_s3_uri(where))
        return IV_OK;
    int rc = need_s3(c, where, e);
    if (!rc)
        rc = lake_s3_put_file(c->s3, where, local, e);
    unlink(local);
    return rc;
}

int lake_io_fetch(struct lake_catalog *c, const char *where, char **local, struct iv_err *e)
{
    *local = NULL;
    if (!lake_is_s3_uri(where)) {
        *local = local_of(where, e);
        return *local ? IV_OK : IV_EINVAL;
    }
    int rc = need_s3(c, where, e);
    if (rc)
        return rc;
    char *tmp = spool_file(where);
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = iv_err_set(e, IV_EIO, "cannot create spool file '%s': %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    rc = lake_s3_download(c->s3, where, fd, e);
    close(fd);
    if (rc) {
        unlink(tmp);
        free(tmp);
        return rc;
    }
    *local = tmp;
    return IV_OK;
}

void lake_io_fetch_done(const char *where, char *local)
{
    if (local && lake_is_s3_uri(where))
        unlink(local);
    free(local);
}

void lake_io_remove(struct lake_catalog *c, const char *where)
{
    if (!where)
        return;
    if (!lake_is_s3_uri(where)) {
        lake_io_unlink_uri(where);
        return;
    }
    struct iv_err e;
    if (!c || !c->s3 || lake_s3_delete(c->s3, where, &e) != IV_OK)
        log_warn("could not delete %s (left for maintenance)", where);
}

char *lake_name_segment(const char *name)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(name);
    char *out = xmalloc(3 * n + 1);
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        unsigned char c = *p;
        bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
        if (safe) {
            out[k++] = (char)c;
            continue;
        }
        out[k++] = '~';
        out[k++] = hex[c >> 4];
        out[k++] = hex[c & 15];
    }
    out[k] = '\0';
    return out;
}

char *lake_default_table_path(const struct lake_catalog *c, const char *ns, const char *name)
{
    char *ns_seg = lake_name_segment(ns), *name_seg = lake_name_segment(name);
    char *path = xasprintf("%s/%s/%s", c->warehouse_path, ns_seg, name_seg);
    free(ns_seg);
    free(name_seg);
    return path;
}
