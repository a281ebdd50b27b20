/*
 * cache.c: the API's response cache and the immutable, reference-counted
 * response bodies it holds (struct api_blob).
 *
 * DESIGN
 * An entry is (key, generation, epoch) -> blob. The key names a view of one
 * tenant ("connectors\x1f<tenant>\x1f<status filter>"); (generation, epoch)
 * is the tenant's change counter from the store (store_tenant_generation),
 * which SQL triggers bump on every write that can change what the tenant
 * sees. A lookup hands out the blob only when the caller's freshly read
 * generation equals the entry's, so a hit is never stale, and several API
 * servers over one store each check the shared counter. Nothing is ever
 * invalidated by hand.
 *
 * Bounds: at most max_entries entries and max_bytes of bodies; the least
 * recently used entries go first. A body over max_bytes / 8 is not kept.
 * One mutex guards the table and the LRU list; it is held for pointer work
 * only (no I/O, no allocation of bodies). A blob handed out carries its own
 * reference, so eviction never frees a body that a response is still sending.
 */
#include "api/api_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_BUCKETS 1024u

/* Content hash for the ETag: 8 bytes per multiply (the bodies are tens of KB and
 * are hashed on every render). Not cryptographic; a validator only has to change
 * when the bytes do. */
static uint64_t body_hash(const char *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    memcpy(&w, p + i, n - i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    return h;
}

struct api_blob *api_blob_adopt(char *data, size_t len)
{
    struct api_blob *b = xmalloc(sizeof *b);
    atomic_init(&b->refs, 1);
    b->len = len;
    b->data = data;
    /* Strong validator from the bytes: equal bodies, equal tags, whichever
     * server rendered them. */
    snprintf(b->etag, sizeof b->etag, "\"%016llx\"", (unsigned long long)body_hash(data, len));
    return b;
}

struct api_blob *api_blob_new(const char *data, size_t len)
{
    char *copy = xmalloc(len + 1);
    memcpy(copy, data, len);
    copy[len] = '\0';
    return api_blob_adopt(copy, len);
}

struct api_blob *api_blob_ref(struct api_blob *b)
{
    if (b)
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void api_blob_unref(struct api_blob *b)
{
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
        free(b->data);
        free(b);
    }
}

bool api_etag_matches(const char *if_none_match, const char *etag)
{
    if (!if_none_match || !etag)
        return false;
    size_t n = strlen(etag);
    const char *p = if_none_match;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;                     /* weak comparison, as If-None-Match wants */
        if (!strncmp(p, etag, n) && (p[n] == '\0' || p[n] == ',' || p[n] == ' ' ||
                                     p[n] == '\t'))
            return true;
        while (*p && *p != ',')
            p++;
    }
    return false;
}

struct entry {
    char *key;
    uint32_t hash;
    int64_t gen, epoch;
    struct api_blob *blob;
    struct entry *next_in_bucket;
    struct entry *lru_prev, *lru_next;   /* lru_prev toward most recent */
};

struct api_cache {
    pthread_mutex_t lock;
    struct entry *buckets[CACHE_BUCKETS];
    struct entry *mru, *lru;
    size_t n_entries, bytes;
    size_t max_entries, max_bytes;
    uint64_t hits, misses;
};

static uint32_t key_hash(const char *k)
{
    uint32_t h = 2166136261u;
    for (; *k; k++) {
        h ^= (unsigned char)*k;
        h *= 16777619u;
    }
    return h;
}

struct api_cache *api_cache_new(size_t max_bytes, size_t max_entries)
{
    struct api_cache *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->max_bytes = max_bytes;
    c->max_entries = max_entries ? max_entries : 1;
    return c;
}

static void lru_unlink(struct api_cache *c, struct entry *en)
{
    if (en->lru_prev)
        en->lru_prev->lru_next = en->lru_next;
    else
        c->mru = en->lru_next;
    if (en->lru_next)
        en->lru_next->lru_prev = en->lru_prev;
    else
        c->lru = en->lru_prev;
    en->lru_prev = en->lru_next = NULL;
}

static void lru_push_front(struct api_cache *c, struct entry *en)
{
    en->lru_prev = NULL;
    en->lru_next = c->mru;
    if (c->mru)
        c->mru->lru_prev = en;
    c->mru = en;
    if (!c->lru)
        c->lru = en;
}

static struct entry *find(struct api_cache *c, const char *key, uint32_t h)
{
    for (struct entry *en = c->buckets[h % CACHE_BUCKETS]; en; en = en->next_in_bucket)
        if (en->hash == h && !strcmp(en->key, key))
            return en;
    return NULL;
}

/* Unlinks and frees en (the lock is held). */
static void drop(struct api_cache *c, struct entry *en)
{
    struct entry **pp = &c->buckets[en->hash % CACHE_BUCKETS];
    while (*pp != en)
        pp = &(*pp)->next_in_bucket;
    *pp = en->next_in_bucket;
    lru_unlink(c, en);
    c->n_entries--;
    c->bytes -= en->blob->len;
    api_blob_unref(en->blob);
    free(en->key);
    free(en);
}

void api_cache_free(struct api_cache *c)
{
    if (!c)
        return;
    while (c->mru)
        drop(c, c->mru);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

struct api_blob *api_cache_get(struct api_cache *c, const char *key, int64_t gen, int64_t epoch)
{
    if (!c)
        return NULL;
    uint32_t h = key_hash(key);
    struct api_blob *b = NULL;
    pthread_mutex_lock(&c->lock);
    struct entry *en = find(c, key, h);
    if (en && en->gen == gen && en->epoch == epoch) {
        b = api_blob_ref(en->blob);
        if (c->mru != en) {
            lru_unlink(c, en);
            lru_push_front(c, en);
        }
        c->hits++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->lock);
    return b;
}

void api_cache_put(struct api_cache *c, const char *key, int64_t gen, int64_t epoch,
                   struct api_blob *b)
{
    if (!c || !b || b->len > c->max_bytes / 8)
        return;
    uint32_t h = key_hash(key);
    pthread_mutex_lock(&c->lock);
    struct entry *en = find(c, key, h);
    if (en) {
        /* A slower request that rendered an older generation must not
         * replace a newer body. */
        if (en->epoch == epoch && en->gen >= gen) {
            pthread_mutex_unlock(&c->lock);
            return;
        }
        drop(c, en);
    }
    while (c->mru && (c->n_entries + 1 > c->max_entries || c->bytes + b->len > c->max_bytes))
        drop(c, c->lru);
    en = xcalloc(1, sizeof *en);
    en->key = xstrdup(key);
    en->hash = h;
    en->gen = gen;
    en->epoch = epoch;
    en->blob = api_blob_ref(b);
    en->next_in_bucket = c->buckets[h % CACHE_BUCKETS];
    c->buckets[h % CACHE_BUCKETS] = en;
    lru_push_front(c, en);
    c->n_entries++;
    c->bytes += b->len;
    pthread_mutex_unlock(&c->lock);
}

void api_cache_stats(struct api_cache *c, struct api_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    out->entries = c->n_entries;
    out->bytes = c->bytes;
    out->hits = c->hits;
    out->misses = c->misses;
    pthread_mutex_unlock(&c->lock);
}
