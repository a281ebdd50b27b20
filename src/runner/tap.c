/*
 * tap.c: finding a tap executable (CONTRACT §6 tap resolution) and the
 * private per-run directory that holds the decrypted config, the state and
 * the catalog while a tap runs (see child.h).
 *
 * A tap name is validated against the contract's pattern before any lookup,
 * so it can never be a path ("../x", "/bin/sh"). The per-run directory comes
 * from mkdtemp (mode 0700) and its files are created 0600 with O_EXCL and
 * O_NOFOLLOW, so nothing else on the machine can read or pre-plant them.
 */
#include "runner/child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAP_NAME_FIRST "abcdefghijklmnopqrstuvwxyz0123456789"
#define TAP_NAME_REST "abcdefghijklmnopqrstuvwxyz0123456789._-"
#define TAP_VERSION_SET \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-"

int tap_resolve(const char *tap_name, const char *tap_version, const char *tap_path,
                char **path_out, struct iv_err *e)
{
    *path_out = NULL;
    if (!str_matches_charset(tap_name, TAP_NAME_FIRST, TAP_NAME_REST, 1, 128))
        return iv_err_set(e, IV_EINVAL, "tap name '%.140s' is invalid (expected "
                          "^[a-z0-9][a-z0-9._-]{0,127}$)", tap_name ? tap_name : "");
    bool pinned = tap_version && *tap_version;
    if (pinned && !str_matches_charset(tap_version, NULL, TAP_VERSION_SET, 1, 64))
        return iv_err_set(e, IV_EINVAL, "tap version '%.70s' is invalid (expected "
                          "^[A-Za-z0-9._+-]{1,64}$)", tap_version);
    char *file = pinned ? xasprintf("%s@%s", tap_name, tap_version) : xstrdup(tap_name);
    struct buf searched;
    buf_init(&searched, 64 * 1024);
    char *found = child_search_path(tap_path, file, &searched);
    if (!found)
        found = child_search_path(getenv("PATH"), file, &searched);
    int rc = IV_OK;
    if (found)
        *path_out = found;
    else
        rc = iv_err_set(e, IV_ENOTFOUND, "tap '%s' not found as an executable in "
                        "IVORY_TAP_PATH then PATH (searched: %s)", file,
                        searched.len ? searched.data : "no directories");
    buf_release(&searched);
    free(file);
    return rc;
}

/* ---- per-run files -------------------------------------------------------------- */

struct run_files {
    char *dir;
    char **paths;
    size_t n;
};

int run_files_create(struct run_files **out, struct iv_err *e)
{
    *out = NULL;
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    char *tmpl = xasprintf("%s/ivory-run-XXXXXX", base);
    if (!mkdtemp(tmpl)) {
        int rc = iv_err_set(e, IV_EIO, "cannot create a private run directory in '%s': %s",
                            base, strerror(errno));
        free(tmpl);
        return rc;
    }
    struct run_files *rf = xcalloc(1, sizeof *rf);
    rf->dir = tmpl;
    *out = rf;
    return IV_OK;
}

const char *run_files_dir(const struct run_files *rf)
{
    return rf->dir;
}

int run_files_write(struct run_files *rf, const char *name, const void *data, size_t n,
                    const char **path_out, struct iv_err *e)
{
    if (!name || !*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        return iv_err_set(e, IV_EINVAL, "run file name '%.64s' must be a plain file name",
                          name ? name : "");
    char *path = xasprintf("%s/%s", rf->dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int rc = iv_err_set(e, IV_EIO, "cannot create run file '%s': %s", path, strerror(errno));
        free(path);
        return rc;
    }
    /* Recorded before writing so run_files_destroy removes it even on failure. */
    rf->paths = xrealloc(rf->paths, (rf->n + 1) * sizeof *rf->paths);
    rf->paths[rf->n++] = path;
    if (fd_write_all(fd, data, n) < 0) {
        int rc = iv_err_set(e, IV_EIO, "cannot write run file '%s': %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    if (close(fd) < 0)
        return iv_err_set(e, IV_EIO, "cannot write run file '%s': %s", path, strerror(errno));
    if (path_out)
        *path_out = path;
    return IV_OK;
}

/* Removes everything below dirfd (a tap may have written next to its config) except
 * `keep` at the top level, never following symlinks; depth-limited. Takes dirfd. */
static void remove_tree_at(int dirfd, int depth, const char *keep)
{
    DIR *d = fdopendir(dirfd);
    if (!d) {
        close(dirfd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            (keep && depth == 0 && strcmp(de->d_name, keep) == 0))
            continue;
        if (unlinkat(dirfd, de->d_name, 0) == 0 || errno != EISDIR || depth >= 16)
            continue;
        int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) {
            remove_tree_at(sub, depth + 1, NULL);
            unlinkat(dirfd, de->d_name, AT_REMOVEDIR);
        }
    }
    closedir(d);
}

void run_files_destroy(struct run_files *rf)
{
    if (!rf)
        return;
    /* The first file written (the runner's pid) goes last: a cleanup cut short by a kill
     * leaves a directory the next runner's sweep still recognises as its to remove. */
    for (size_t i = rf->n; i-- > 1;)
        unlink(rf->paths[i]);
    const char *first = rf->n ? strrchr(rf->paths[0], '/') + 1 : NULL;
    int dfd = open(rf->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd >= 0)
        remove_tree_at(dfd, 0, first);
    if (rf->n)
        unlink(rf->paths[0]);
    for (size_t i = 0; i < rf->n; i++)
        free(rf->paths[i]);
    free(rf->paths);
    if (rmdir(rf->dir) < 0 && errno != ENOENT)
        log_warn("cannot remove run directory '%s': %s", rf->dir, strerror(errno));
    free(rf->dir);
    free(rf);
}
