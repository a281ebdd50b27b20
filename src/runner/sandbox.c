/*
 * sandbox.c: the tap sandbox (see child.h "the tap sandbox" and docs/security.md).
 *
 * Owns the process-wide sandbox policy and the translation of one child_spawn()
 * into a bubblewrap command line plus the rlimits the forked child sets before it
 * executes bubblewrap. It lives in the child-spawn layer, not in the runner's sync
 * code, so every way a tap is started (sync, discover, later ones) is confined the
 * same way without its caller having to remember it.
 *
 * Why bubblewrap: Debian ships it, it needs no daemon, and it builds exactly the
 * view we want from an empty root (pid/ipc/uts namespaces, a fresh /proc, a tmpfs
 * /tmp, read-only binds) without a setuid helper when run as root or with
 * unprivileged user namespaces. The network namespace is deliberately kept.
 *
 * Memory: the policy is copied into static storage by child_sandbox_enable() (one
 * call at start, before threads spawn children) and freed by child_sandbox_disable();
 * argv vectors returned by child_sandbox_prepare() are owned by the caller.
 */
#include "runner/child.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* /etc entries a tap may need: name service, TLS roots, time zone, linker cache,
 * Debian's alternatives links. Nothing with accounts or host secrets (no passwd,
 * shadow, ssh, machine-id). */
static const char *const etc_entries[] = {
    "alternatives", "ca-certificates", "ca-certificates.conf", "crypto-policies", "gai.conf",
    "host.conf", "hosts", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime",
    "mime.types", "nsswitch.conf", "pki", "protocols", "resolv.conf", "services", "ssl",
    "timezone", NULL,
};

/* Top-level system paths: bound read-only when a directory, recreated when a symlink
 * (merged /usr: /bin -> usr/bin). */
static const char *const system_paths[] = {
    "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", NULL,
};

static struct {
    bool on;
    char *bwrap;          /* resolved path */
    char **ro, **rw;      /* realpaths */
    char **deny;          /* realpaths never bound, nor their parents */
    struct child_sandbox lim;
} g_sb;

static char **strv_copy_real(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **out = xcalloc(n + 1, sizeof *out);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char *r = realpath(v[i], NULL);
        if (r)
            out[k++] = r;
    }
    return out;
}

static void strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

/* ---- argv assembly -------------------------------------------------------------- */

struct argv_b {
    char **v;
    size_t n, cap;
};

static void ab_add(struct argv_b *a, const char *s)
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}

static void ab_add3(struct argv_b *a, const char *x, const char *y, const char *z)
{
    ab_add(a, x);
    ab_add(a, y);
    if (z)
        ab_add(a, z);
}

/* One bind of the sandbox view: sorted so that parents are mounted before children. */
struct bind {
    char *path;
    bool rw;
};

static int bind_cmp(const void *a, const void *b)
{
    const struct bind *x = a, *y = b;
    size_t lx = strlen(x->path), ly = strlen(y->path);
    return lx < ly ? -1 : lx > ly ? 1 : strcmp(x->path, y->path);
}

/* Would binding path show a denied directory (path is it, or a parent of it)? */
static bool shows_denied(const char *path)
{
    size_t l = strlen(path);
    for (char **d = g_sb.deny; d && *d; d++) {
        if (!strcmp(path, "/") || (!strncmp(*d, path, l) && ((*d)[l] == '/' || (*d)[l] == '\0')))
            return true;
    }
    return false;
}

static void binds_add(struct bind **v, size_t *n, const char *path, bool rw)
{
    if (!path || path[0] != '/' || shows_denied(path))
        return;
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*v)[i].path, path)) {
            (*v)[i].rw |= rw;
            return;
        }
    *v = xrealloc(*v, (*n + 1) * sizeof **v);
    (*v)[*n].path = xstrdup(path);
    (*v)[*n].rw = rw;
    (*n)++;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return NULL;
    if (slash == path)
        return xstrdup("/");
    return xasprintf("%.*s", (int)(slash - path), path);
}

/* The program's own directories: where it was found, where it really is, and the
 * environment above a "bin" directory (a Python venv: bin/python + lib/). */
static void add_program_dirs(struct bind **v, size_t *n, const char *path)
{
    char *d = dir_of(path);
    char *rd = d ? realpath(d, NULL) : NULL;
    if (rd)
        binds_add(v, n, rd, false);
    free(rd);
    free(d);
    char *real = realpath(path, NULL);
    char *real_dir = real ? dir_of(real) : NULL;
    if (real_dir) {
        binds_add(v, n, real_dir, false);
        const char *base = strrchr(real_dir, '/');
        if (base && !strcmp(base, "/bin") && base != real_dir) {
            char *up = dir_of(real_dir);
            if (up && strcmp(up, "/") != 0 && strcmp(up, "/usr") != 0)
                binds_add(v, n, up, false);
            free(up);
        }
    }
    free(real_dir);
    free(real);
}

static void add_system_view(struct argv_b *a)
{
    ab_add3(a, "--ro-bind", "/usr", "/usr");
    for (int i = 0; system_paths[i]; i++) {
        struct stat st;
        if (lstat(system_paths[i], &st) != 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t k = readlink(system_paths[i], target, sizeof target - 1);
            if (k <= 0)
                continue;
            target[k] = '\0';
            ab_add3(a, "--symlink", target, system_paths[i]);
        } else if (S_ISDIR(st.st_mode)) {
            ab_add3(a, "--ro-bind", system_paths[i], system_paths[i]);
        }
    }
    for (int i = 0; etc_entries[i]; i++) {
        char *p = xasprintf("/etc/%s", etc_entries[i]);
        ab_add3(a, "--ro-bind-try", p, p);
        free(p);
    }
}

char **child_sandbox_prepare(const char *path, const char *const *argv,
                             const struct child_spec *spec)
{
    if (!g_sb.on)
        return NULL;
    struct argv_b a = {0};
    ab_add(&a, g_sb.bwrap);
    ab_add(&a, "--die-with-parent");
    ab_add(&a, "--unshare-pid");
    ab_add(&a, "--unshare-ipc");
    ab_add(&a, "--unshare-uts");
    ab_add(&a, "--unshare-cgroup-try");
    ab_add3(&a, "--hostname", "ivory-tap", NULL);
    ab_add3(&a, "--cap-drop", "ALL", NULL);
    add_system_view(&a);
    ab_add3(&a, "--proc", "/proc", NULL);
    ab_add3(&a, "--dev", "/dev", NULL);
    if (g_sb.lim.file_bytes) {
        char sz[32];
        snprintf(sz, sizeof sz, "%llu", (unsigned long long)g_sb.lim.file_bytes);
        ab_add3(&a, "--size", sz, NULL);
    }
    ab_add3(&a, "--tmpfs", "/tmp", NULL);
    ab_add3(&a, "--tmpfs", "/var/tmp", NULL);

    struct bind *b = NULL;
    size_t nb = 0;
    add_program_dirs(&b, &nb, path);
    for (char **p = g_sb.ro; p && *p; p++)
        binds_add(&b, &nb, *p, false);
    for (char **p = g_sb.rw; p && *p; p++)
        binds_add(&b, &nb, *p, true);
    for (const char *const *p = spec->bind_rw; p && *p; p++) {
        char *r = realpath(*p, NULL);
        binds_add(&b, &nb, r, true);
        free(r);
    }
    char *cwd = NULL;
    if (spec->cwd) {
        cwd = realpath(spec->cwd, NULL);
        binds_add(&b, &nb, cwd, true);
    }
    qsort(b, nb, sizeof *b, bind_cmp);
    for (size_t i = 0; i < nb; i++) {
        ab_add3(&a, b[i].rw ? "--bind-try" : "--ro-bind-try", b[i].path, b[i].path);
        free(b[i].path);
    }
    free(b);
    /* The working directory: the given one, else the runner's as an empty directory
     * (relative paths into listed data directories below it keep working). */
    if (!cwd)
        cwd = getcwd(NULL, 0);
    if (cwd && cwd[0] == '/') {
        ab_add3(&a, "--dir", cwd, NULL);
        ab_add3(&a, "--chdir", cwd, NULL);
    } else {
        ab_add3(&a, "--chdir", "/tmp", NULL);
    }
    free(cwd);
    ab_add(&a, "--");
    if (g_sb.lim.max_procs) {
        /* RLIMIT_NPROC counts every process of the user in the namespace where it is
         * set: set inside the sandbox's own namespaces, it bounds the tap alone. */
        char np[64];
        snprintf(np, sizeof np, "--nproc=%llu", (unsigned long long)g_sb.lim.max_procs);
        ab_add(&a, "/usr/bin/prlimit");
        ab_add(&a, np);
        ab_add(&a, "--");
    }
    ab_add(&a, path);
    for (size_t i = 1; argv[i]; i++)
        ab_add(&a, argv[i]);
    return a.v;
}

int child_sandbox_rlimits(struct child_rlimits *out)
{
    memset(out, 0, sizeof *out);
    if (!g_sb.on)
        return 0;
    if (g_sb.lim.memory_bytes) {
        out->res[out->n] = RLIMIT_DATA;
        out->lim[out->n++] = (struct rlimit){g_sb.lim.memory_bytes, g_sb.lim.memory_bytes};
    }
    if (g_sb.lim.cpu_seconds) {
        out->res[out->n] = RLIMIT_CPU;
        out->lim[out->n++] = (struct rlimit){g_sb.lim.cpu_seconds, g_sb.lim.cpu_seconds + 5};
    }
    if (g_sb.lim.file_bytes) {
        out->res[out->n] = RLIMIT_FSIZE;
        out->lim[out->n++] = (struct rlimit){g_sb.lim.file_bytes, g_sb.lim.file_bytes};
    }
    out->res[out->n] = RLIMIT_CORE;   /* a core dump would copy the tap's secrets to disk */
    out->lim[out->n++] = (struct rlimit){0, 0};
    return out->n;
}

bool child_sandbox_enabled(void)
{
    return g_sb.on;
}

void child_sandbox_disable(void)
{
    g_sb.on = false;
    free(g_sb.bwrap);
    strv_free(g_sb.ro);
    strv_free(g_sb.rw);
    strv_free(g_sb.deny);
    memset(&g_sb, 0, sizeof g_sb);
}

int child_sandbox_enable(const struct child_sandbox *sb, struct iv_err *e)
{
    child_sandbox_disable();
    const char *bw = sb->bwrap && *sb->bwrap ? sb->bwrap : "bwrap";
    char *path = strchr(bw, '/') ? (access(bw, X_OK) == 0 ? xstrdup(bw) : NULL)
                                 : child_search_path(getenv("PATH"), bw, NULL);
    if (!path)
        return iv_err_set(e, IV_ECHILD, "bubblewrap ('%s') is not installed or not "
                          "executable", bw);
    if (sb->max_procs && access("/usr/bin/prlimit", X_OK) != 0) {
        free(path);
        return iv_err_set(e, IV_ECHILD, "/usr/bin/prlimit (util-linux) is needed to limit "
                          "the tap's processes");
    }
    g_sb.bwrap = path;
    g_sb.ro = strv_copy_real(sb->ro_dirs);
    g_sb.rw = strv_copy_real(sb->rw_dirs);
    g_sb.deny = strv_copy_real(sb->deny_dirs);
    g_sb.lim = *sb;
    g_sb.lim.bwrap = NULL;
    g_sb.lim.ro_dirs = g_sb.lim.rw_dirs = g_sb.lim.deny_dirs = NULL;
    g_sb.on = true;

    /* Prove it: /bin/true inside the sandbox must exit 0. */
    const char *argv[] = {"/bin/true", NULL};
    if (access("/bin/true", X_OK) != 0)
        argv[0] = "/usr/bin/true";
    struct child_spec spec = {.argv = argv};
    struct child *c = NULL;
    int rc = child_spawn(&c, &spec, e);
    if (rc == IV_OK) {
        struct child_status st;
        child_wait(c, mono_ms() + 10000, 1000, &st);
        if (st.exit_code != 0) {
            char *tail = child_stderr_tail(c, NULL);
            size_t m = strlen(tail);
            while (m > 0 && (tail[m - 1] == '\n' || tail[m - 1] == '\r'))
                tail[--m] = '\0';
            rc = iv_err_set(e, IV_ECHILD, "bubblewrap cannot create the sandbox (exit %d%s%.300s)",
                            st.exit_code, *tail ? ": " : "", tail);
            free(tail);
        }
        child_free(c);
    }
    if (rc != IV_OK)
        child_sandbox_disable();
    return rc;
}
