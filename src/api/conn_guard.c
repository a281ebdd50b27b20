/*
 * conn_guard.c: total deadlines for slow clients. libmicrohttpd 0.9.75 only
 * has an idle timeout, which a slowloris client defeats by trickling a byte
 * every few seconds; this module owns the list of open connections, the phase
 * each one is in and since when, and a reaper thread that cuts the ones whose
 * phase outlived its deadline:
 *
 *   awaiting headers  (since the connection opened or the previous response
 *                      was sent)                  -> header deadline
 *   receiving a body  (since the headers arrived) -> body deadline
 *   in a handler / sending a response             -> no deadline here (the
 *                      handler is our own work; a client that stops reading
 *                      is cut by libmicrohttpd's idle timeout)
 *
 * Cutting is shutdown(fd, SHUT_RDWR): the connection's polling thread then sees
 * end-of-file and closes it through libmicrohttpd's normal path, so no state is
 * torn down from a foreign thread. The fd cannot have been reused while it is
 * on the list: libmicrohttpd reports a connection closed (api_guard_closed,
 * which takes the same mutex) before it closes the socket.
 *
 * Memory: the guard owns every struct api_conn on its list; api_guard_closed
 * frees one. Thread-safe: one mutex, held only for list and field updates.
 */
#include "api/api_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define GUARD_TICK_MS 200

struct api_conn {
    struct api_conn *prev, *next;
    int fd;
    enum api_conn_phase phase;
    int64_t phase_since_ms;
    bool cut;
};

struct api_guard {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t reaper;
    bool reaper_started;
    bool stopping;
    struct api_conn *head;
    int64_t header_ms, body_ms;
    _Atomic uint64_t cut_total;
    _Atomic int64_t open_now;
};

static int64_t phase_deadline(const struct api_guard *g, enum api_conn_phase phase)
{
    if (phase == API_CONN_AWAIT_HEADERS)
        return g->header_ms;
    if (phase == API_CONN_RECEIVING_BODY)
        return g->body_ms;
    return 0;   /* no deadline */
}

/* Cuts every connection whose phase is past its deadline. Caller holds g->mu. */
static void cut_overdue(struct api_guard *g, int64_t now)
{
    for (struct api_conn *c = g->head; c; c = c->next) {
        int64_t limit = phase_deadline(g, c->phase);
        if (c->cut || limit <= 0 || now - c->phase_since_ms <= limit)
            continue;
        c->cut = true;
        (void)shutdown(c->fd, SHUT_RDWR);   /* best effort: the socket may already be gone */
        atomic_fetch_add(&g->cut_total, 1);
    }
}

static void *reaper_main(void *arg)
{
    struct api_guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stopping) {
        cut_overdue(g, mono_ms());
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += GUARD_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g->wake, &g->mu, &ts);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

int api_guard_new(struct api_guard **out, double header_s, double body_s, struct iv_err *e)
{
    *out = NULL;
    struct api_guard *g = xcalloc(1, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->wake, NULL);
    g->header_ms = (int64_t)(header_s * 1000.0);
    g->body_ms = (int64_t)(body_s * 1000.0);
    int rc = pthread_create(&g->reaper, NULL, reaper_main, g);
    if (rc != 0) {
        api_guard_free(g);
        return iv_err_set(e, IV_EIO, "cannot start the connection reaper thread: %s",
                          strerror(rc));
    }
    g->reaper_started = true;
    *out = g;
    return IV_OK;
}

void api_guard_free(struct api_guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->stopping = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->mu);
    if (g->reaper_started)
        pthread_join(g->reaper, NULL);
    while (g->head) {   /* connections the server never reported closed */
        struct api_conn *c = g->head;
        g->head = c->next;
        free(c);
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

struct api_conn *api_guard_opened(struct api_guard *g, int fd)
{
    struct api_conn *c = xcalloc(1, sizeof *c);
    c->fd = fd;
    c->phase = API_CONN_AWAIT_HEADERS;
    c->phase_since_ms = mono_ms();
    pthread_mutex_lock(&g->mu);
    c->next = g->head;
    if (g->head)
        g->head->prev = c;
    g->head = c;
    pthread_mutex_unlock(&g->mu);
    atomic_fetch_add(&g->open_now, 1);
    return c;
}

void api_guard_closed(struct api_guard *g, struct api_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&g->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&g->mu);
    atomic_fetch_sub(&g->open_now, 1);
    free(c);
}

void api_guard_phase(struct api_guard *g, struct api_conn *c, enum api_conn_phase phase)
{
    if (!c)
        return;
    int64_t now = mono_ms();
    pthread_mutex_lock(&g->mu);
    c->phase = phase;
    c->phase_since_ms = now;
    pthread_mutex_unlock(&g->mu);
}

bool api_guard_overdue(struct api_guard *g, struct api_conn *c)
{
    if (!c)
        return false;
    pthread_mutex_lock(&g->mu);
    int64_t limit = phase_deadline(g, c->phase);
    bool overdue = c->cut || (limit > 0 && mono_ms() - c->phase_since_ms > limit);
    pthread_mutex_unlock(&g->mu);
    return overdue;
}

void api_guard_stats(struct api_guard *g, uint64_t *cut_total, int64_t *open_now)
{
    *cut_total = atomic_load(&g->cut_total);
    *open_now = atomic_load(&g->open_now);
}
