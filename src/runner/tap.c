/*
 * tap.c: finding a tap executable (docs/runner.md, tap resolution) and the
 * private per-run directory that holds the decrypted config, the state and
 * the catalog while a tap runs (see child.h).
 *
 * A tap name is validated against the contract's pattern before any lookup,
 * so it can never be a path ("../x", "/bin/sh"). The per-run directory comes
 * from mkdtemp (mode 0700) and its files are created 0600 with O_EXCL and
 * O_NOFOLLOW, so nothing else on the machine can read or pre-plant them. Its name carries
 * the owner process (pid and start time), so run_files_sweep_stale can remove what a killed
 * runner left in any state (docs/runner.md "Private run directories of a dead runner").
 */
#include "runner/child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

/* The start time of process pid in clock ticks since boot (field 22 of /proc/PID/stat),
 * or -1 when there is no such process (or no /proc). With the pid it names one process
 * for good: a pid reused by another process has another start time. */
static long long process_start_ticks(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');   /* the command name may hold blanks and ')' */
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoll(p + 1, NULL, 10) : -1;
}

static const char *run_files_base(void)
{
    const char *base = getenv("TMPDIR");
    return base && *base ? base : "/tmp";
}

int run_files_create(struct run_files **out, struct iv_err *e)
{
    *out = NULL;
    const char *base = run_files_base();
    long pid = (long)getpid();
    long long start = process_start_ticks(pid);
    char *tmpl = xasprintf("%s/" RUN_DIR_PREFIX "%ld-%lld-XXXXXX", base, pid,
                           start < 0 ? 0 : start);
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

/* Removes dir (absolute) and everything below it, never following symlinks. */
static bool remove_run_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd >= 0)
        remove_tree_at(dfd, 0, NULL);
    return rmdir(dir) == 0 || errno == ENOENT;
}

/* Who made a run directory, from its name "ivory-run-<pid>-<start ticks>-XXXXXX":
 * RUN_DIR_OWNER_GONE when that process no longer exists (or the pid now names another
 * process), RUN_DIR_OWNER_ALIVE, RUN_DIR_OWNER_UNKNOWN for a name without them (a
 * directory of an older version: its runner.pid file decides). */
enum run_dir_owner { RUN_DIR_OWNER_UNKNOWN, RUN_DIR_OWNER_ALIVE, RUN_DIR_OWNER_GONE };

static enum run_dir_owner run_dir_owner(const char *name)
{
    const char *p = name + strlen(RUN_DIR_PREFIX);
    char *end = NULL;
    long pid = strtol(p, &end, 10);
    if (end == p || *end != '-' || pid <= 0)
        return RUN_DIR_OWNER_UNKNOWN;
    p = end + 1;
    long long start = strtoll(p, &end, 10);
    if (end == p || *end != '-' || strlen(end + 1) != 6)
        return RUN_DIR_OWNER_UNKNOWN;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return RUN_DIR_OWNER_GONE;
    long long now = process_start_ticks(pid);
    return start > 0 && now >= 0 && now != start ? RUN_DIR_OWNER_GONE : RUN_DIR_OWNER_ALIVE;
}

/* A directory of an older version: gone when its runner.pid names a dead process. */
static bool legacy_run_dir_stale(const char *dir)
{
    char *pidf = xasprintf("%s/runner.pid", dir), *txt = NULL;
    size_t n = 0;
    bool stale = false;
    if (file_read_all(pidf, 64, &txt, &n, NULL) == IV_OK) {
        long pid = strtol(txt, NULL, 10);
        stale = pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
    }
    free(txt);
    free(pidf);
    return stale;
}

int run_files_sweep_stale(void)
{
    const char *base = run_files_base();
    DIR *d = opendir(base);
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, RUN_DIR_PREFIX, strlen(RUN_DIR_PREFIX)) != 0)
            continue;
        char *dir = xasprintf("%s/%s", base, de->d_name);
        struct stat sb;
        enum run_dir_owner owner = run_dir_owner(de->d_name);
        bool ours = lstat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == geteuid();
        bool stale = ours && (owner == RUN_DIR_OWNER_GONE ||
                              (owner == RUN_DIR_OWNER_UNKNOWN && legacy_run_dir_stale(dir)));
        if (stale && remove_run_dir(dir)) {
            log_info("runner: removed %s, left by a process that died", dir);
            removed++;
        }
        free(dir);
    }
    closedir(d);
    return removed;
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
