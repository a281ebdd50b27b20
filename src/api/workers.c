/*
 * workers.c: a fixed pool of threads that run API handlers off the
 * libmicrohttpd polling threads. The polling threads only parse and move
 * bytes; a request whose handler may block (SQLite write lock, fsync, a slow
 * PostgreSQL) is suspended and queued here, so a blocked handler holds one
 * worker, never the thousands of idle connections a polling thread serves.
 *
 * Queue: FIFO singly-linked list, one mutex + condition variable. Memory: a
 * job node is allocated by submit and freed by the worker that ran it; the
 * job's argument belongs to the caller's fn.
 */
#include "api/api_int.h"

#include <pthread.h>
#include <string.h>

struct job {
    struct job *next;
    void (*fn)(void *arg);
    void *arg;
};

struct api_workers {
    pthread_mutex_t mu;
    pthread_cond_t ready;
    struct job *head, *tail;
    size_t backlog;
    bool stopping;
    int nthreads;
    pthread_t *threads;
};

static void *worker_main(void *arg)
{
    struct api_workers *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->ready, &w->mu);
        struct job *j = w->head;
        if (!j) {   /* stopping and drained */
            pthread_mutex_unlock(&w->mu);
            return NULL;
        }
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        w->backlog--;
        pthread_mutex_unlock(&w->mu);
        j->fn(j->arg);
        free(j);
    }
}

int api_workers_new(struct api_workers **out, int n, struct iv_err *e)
{
    *out = NULL;
    if (n < 1)
        n = 1;
    struct api_workers *w = xcalloc(1, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->ready, NULL);
    w->threads = xcalloc((size_t)n, sizeof *w->threads);
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&w->threads[i], NULL, worker_main, w);
        if (rc != 0) {
            api_workers_free(w);
            return iv_err_set(e, IV_EIO, "cannot start API worker thread %d: %s", i,
                              strerror(rc));
        }
        w->nthreads++;
    }
    *out = w;
    return IV_OK;
}

void api_workers_submit(struct api_workers *w, void (*fn)(void *arg), void *arg)
{
    struct job *j = xcalloc(1, sizeof *j);
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->backlog++;
    pthread_cond_signal(&w->ready);
    pthread_mutex_unlock(&w->mu);
}

size_t api_workers_backlog(struct api_workers *w)
{
    pthread_mutex_lock(&w->mu);
    size_t n = w->backlog;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void api_workers_free(struct api_workers *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->ready);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    free(w->threads);
    pthread_cond_destroy(&w->ready);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
