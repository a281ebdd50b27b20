/*
 * lake/catalog_hadoop: the Hadoop (file-system) catalog, in Java's layout:
 * {warehouse}/{ns}/{table}/metadata/vN.metadata.json plus
 * metadata/version-hint.text holding N (decimal, no newline).
 *
 * Commit protocol (the pointer is "the highest vN that exists"):
 *   1. write the new metadata to a temp "<uuid>.metadata.json", fsync;
 *   2. atomically create v(N+1).metadata.json from it with link() (or
 *      renameat2 RENAME_NOREPLACE) — an existing target means another writer
 *      committed first: IV_ECONFLICT, temp removed;
 *   3. fsync the directory, remove the temp name, then update the hint
 *      best-effort (temp + rename). A stale or missing hint is harmless: readers
 *      walk forward from the hint while v(N+1) exists, and list the directory
 *      when the hint is unreadable.
 * A crash anywhere leaves vN (the previous version) as the newest complete
 * file, so the table stays readable at its previous snapshot.
 */
#include "lake/lake_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *table_dir(struct lake_catalog *c, const char *ns, const char *name)
{
    return lake_default_table_path(c, ns, name);
}

static char *version_path(const char *mdir, long v)
{
    return xasprintf("%s/v%ld.metadata.json", mdir, v);
}

/* "v12.metadata.json" -> 12; -1 when the name is not a version file. */
static long parse_vname(const char *base)
{
    if (base[0] != 'v' || base[1] < '0' || base[1] > '9')
        return -1;
    char *end = NULL;
    long v = strtol(base + 1, &end, 10);
    if (!end || strcmp(end, ".metadata.json") != 0 || v < 0)
        return -1;
    return v;
}

static long list_max_version(const char *mdir)
{
    DIR *d = opendir(mdir);
    if (!d)
        return -1;
    long best = -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        long v = parse_vname(de->d_name);
        if (v > best)
            best = v;
    }
    closedir(d);
    return best;
}

/* The newest version present, or -1 when the table has none. */
static long current_version(const char *mdir)
{
    long v = -1;
    char *hint = xasprintf("%s/version-hint.text", mdir);
    char *data = NULL;
    size_t len = 0;
    if (file_read_all(hint, 64, &data, &len, NULL) == IV_OK) {
        char *end = NULL;
        long h = strtol(data, &end, 10);
        if (end != data && h >= 0)
            v = h;
        free(data);
    }
    free(hint);
    if (v >= 0) {
        char *p = version_path(mdir, v);
        bool ok = lake_io_exists(p);
        free(p);
        if (!ok)
            v = -1;
    }
    if (v < 0)
        v = list_max_version(mdir);
    if (v < 0)
        return -1;
    for (;;) {   /* the hint may be stale: walk forward */
        char *p = version_path(mdir, v + 1);
        bool ok = lake_io_exists(p);
        free(p);
        if (!ok)
            break;
        v++;
    }
    return v;
}

static int hadoop_load(struct lake_catalog *c, const char *ns, const char *name, char **loc,
                       struct iv_err *e)
{
    char *dir = table_dir(c, ns, name);
    char *mdir = xasprintf("%s/metadata", dir);
    long v = current_version(mdir);
    int rc = IV_OK;
    if (v < 0) {
        rc = iv_err_set(e, IV_ENOTFOUND, "table '%s.%s' does not exist", ns, name);
    } else {
        char *p = version_path(mdir, v);
        *loc = lake_path_to_uri(p);
        free(p);
    }
    free(mdir);
    free(dir);
    return rc;
}

/* Writes md to a temp file in mdir and links it to v<ver>. */
static int put_version(const char *mdir, long ver, const json_t *md, char **loc_out,
                       bool *unknown, struct iv_err *e)
{
    char uuid[37];
    uuid_v4(uuid);
    char *tmp = xasprintf("%s/%s.metadata.json", mdir, uuid);
    char *dst = version_path(mdir, ver);
    char *text = json_dumps_compact(md);
    int rc = lake_io_write_new(tmp, text, strlen(text), e);
    if (rc)
        goto out;
    rc = lake_io_link_noreplace(tmp, dst, e);
    if (rc == IV_EIO && lake_io_exists(dst)) {
        /* Linked, but the directory fsync failed: the pointer may have moved. */
        if (unknown)
            *unknown = true;
    }
    lake_io_unlink(tmp);
    if (rc)
        goto out;
    /* Best-effort hint; readers tolerate a stale one. */
    char *hint = xasprintf("%s/version-hint.text", mdir);
    char num[32];
    int n = snprintf(num, sizeof num, "%ld", ver);
    struct iv_err he;
    if (lake_io_write_atomic(hint, num, (size_t)n, &he) != IV_OK)
        log_warn("version hint not updated: %s", he.msg);
    free(hint);
    *loc_out = lake_path_to_uri(dst);
out:
    free(text);
    free(dst);
    free(tmp);
    return rc;
}

static int hadoop_create(struct lake_catalog *c, const char *ns, const char *name,
                         const char *location_path, const json_t *md, char **loc_out,
                         struct iv_err *e)
{
    char *dir = table_dir(c, ns, name);
    char *mdir = xasprintf("%s/metadata", dir);
    int rc = IV_OK;
    if (strcmp(dir, location_path) != 0) {
        rc = iv_err_set(e, IV_EINVAL, "hadoop catalog tables live at '%s'; a custom location "
                        "is not possible", dir);
        goto out;
    }
    if (current_version(mdir) >= 0) {
        rc = iv_err_set(e, IV_ECONFLICT, "table '%s.%s' already exists", ns, name);
        goto out;
    }
    if (mkdir_p(mdir, 0755) != IV_OK) {
        rc = iv_err_set(e, IV_EIO, "cannot create '%s': %s", mdir, strerror(errno));
        goto out;
    }
    rc = put_version(mdir, 1, md, loc_out, NULL, e);
    if (rc == IV_ECONFLICT)
        iv_err_set(e, IV_ECONFLICT, "table '%s.%s' already exists", ns, name);
out:
    free(mdir);
    free(dir);
    return rc;
}

static int hadoop_commit(struct lake_catalog *c, const char *ns, const char *name,
                         const char *location_path, const char *old_loc, const json_t *md,
                         char **new_loc_out, bool *unknown, struct iv_err *e)
{
    (void)location_path;
    const char *base = strrchr(old_loc, '/');
    long v = parse_vname(base ? base + 1 : old_loc);
    if (v < 0)
        return iv_err_set(e, IV_EINVAL, "metadata location '%s' is not a hadoop version file",
                          old_loc);
    char *dir = table_dir(c, ns, name);
    char *mdir = xasprintf("%s/metadata", dir);
    int rc = put_version(mdir, v + 1, md, new_loc_out, unknown, e);
    if (rc == IV_ECONFLICT)
        iv_err_set(e, IV_ECONFLICT, "table '%s.%s' was updated by another writer (v%ld exists)",
                   ns, name, v + 1);
    free(mdir);
    free(dir);
    return rc;
}

const struct lake_catalog_ops lake_hadoop_ops = {
    .type = "hadoop",
    .load = hadoop_load,
    .create = hadoop_create,
    .commit = hadoop_commit,
    .close = NULL,
};
