/*
 * map_llm.c: the optional LLM mapping proposer's exchange with an OpenAI-compatible
 * chat-completions endpoint (declared in api_int.h; docs/transforms.md, "The LLM proposer").
 *
 * Owns: the request (a system prompt saying what to answer, and a user message holding only
 * field names and types), the HTTP call (libcurl: one POST to {IVORY_MAPPING_LLM_URL}/chat/
 * completions, http/https only, no redirects, a total timeout, the answer capped at
 * MAP_LLM_MAX_ANSWER bytes) and reading the answer's shape. It does not judge the proposals:
 * mappings.c validates each one like client input and decides what is kept.
 *
 * Security: the API key goes only into the Authorization header; it is never logged, never
 * put in an error message, and the request never carries connector config or data values.
 * Ownership: *answer is a new jansson reference; everything else is freed before returning.
 * Thread-safe (one easy handle per call; curl_global_init once).
 */
#include "api/api_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static const char SYSTEM_PROMPT[] =
    "You map the fields of a source data stream onto the columns of a destination table. "
    "Answer with one JSON object and nothing else: {\"mappings\": [{\"source_field\": "
    "\"<exact source field name>\", \"target_column\": \"<exact target column name>\", "
    "\"transform_fn\": null or \"<Python expression>\"}]}. Map a target column only when a "
    "source field clearly holds its data; leave the others out. transform_fn converts the "
    "source value to the column's type or format when needed: one Python expression over the "
    "names value (the source field's value) and row (the whole record as a dict), using only "
    "str int float bool len abs round min max sum sorted, str methods, dict.get and "
    "parse_datetime, parse_date, to_epoch, format_datetime; use null when the value loads as "
    "it is.";

/* {"type": ..., "format": ...} of one source field: only its type words, nothing else. */
static json_t *field_type(json_t *def)
{
    json_t *out = json_object();
    if (json_is_string(def)) {
        json_object_set(out, "type", def);
        return out;
    }
    json_t *t = json_object_get(def, "type"), *f = json_object_get(def, "format");
    if (json_is_string(t)) {
        json_object_set(out, "type", t);
    } else if (json_is_array(t)) {
        json_t *arr = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(t, i, x) if (json_is_string(x) && json_string_length(x) <= 16)
            json_array_append(arr, x);
        json_object_set_new(out, "type", arr);
    }
    if (json_is_string(f) && json_string_length(f) <= 32)
        json_object_set(out, "format", f);
    return out;
}

static char *request_body(const struct iv_config *cfg, const char *stream, json_t *fields,
                          const struct map_target *tv, size_t tn)
{
    json_t *src = json_array(), *dst = json_array();
    const char *k;
    json_t *def;
    json_object_foreach(fields, k, def) {
        json_t *f = field_type(def);
        json_object_set_new(f, "name", json_string(k));
        json_array_append_new(src, f);
    }
    for (size_t i = 0; i < tn; i++)
        json_array_append_new(dst, json_pack("{s:s, s:s}", "name", tv[i].name, "type",
                                             tv[i].type));
    json_t *user = json_pack("{s:s, s:o, s:o}", "source_stream", stream, "source_fields", src,
                             "target_columns", dst);
    char *user_txt = json_dumps(user, JSON_COMPACT);
    json_t *req = json_pack("{s:s, s:i, s:{s:s}, s:[{s:s, s:s}, {s:s, s:s}]}", "model",
                            cfg->mapping_llm_model, "temperature", 0, "response_format", "type",
                            "json_object", "messages", "role", "system", "content",
                            SYSTEM_PROMPT, "role", "user", "content", user_txt);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_decref(user);
    free(user_txt);
    return body;
}

struct answer_buf {
    struct buf b;
    bool too_big;
};

static size_t keep_answer(char *p, size_t size, size_t n, void *ud)
{
    struct answer_buf *a = ud;
    if (buf_append(&a->b, p, size * n)) {
        a->too_big = true;
        return 0;   /* aborts the transfer */
    }
    return size * n;
}

/* The POST; IV_OK with the body in a->b when the endpoint answered 200. */
static int post(const struct iv_config *cfg, const char *body, struct answer_buf *a,
                struct iv_err *e)
{
    pthread_once(&curl_once, curl_init_once);
    CURL *h = curl_easy_init();
    if (!h)
        return iv_err_set(e, IV_ENOMEM, "the HTTP client could not start");
    size_t ul = strlen(cfg->mapping_llm_url);
    while (ul > 0 && cfg->mapping_llm_url[ul - 1] == '/')
        ul--;
    char *url = xasprintf("%.*s/chat/completions", (int)ul, cfg->mapping_llm_url);
    char *auth = cfg->mapping_llm_api_key && *cfg->mapping_llm_api_key
                     ? xasprintf("Authorization: Bearer %s", cfg->mapping_llm_api_key) : NULL;
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (auth)
        hdrs = curl_slist_append(hdrs, auth);
    long ms = (long)(cfg->mapping_llm_timeout_s * 1000.0);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MAP_LLM_MAX_ANSWER);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_answer);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ivory/" IVORY_VERSION);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    int rc = IV_OK;
    if (a->too_big || cc == CURLE_FILESIZE_EXCEEDED)
        rc = iv_err_set(e, IV_ETOOBIG, "the LLM answer was larger than %zu KiB",
                        MAP_LLM_MAX_ANSWER / 1024);
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        rc = iv_err_set(e, IV_EIO, "the LLM endpoint did not answer within %g s",
                        cfg->mapping_llm_timeout_s);
    else if (cc != CURLE_OK)
        rc = iv_err_set(e, IV_EIO, "the LLM endpoint could not be reached (%s)",
                        curl_easy_strerror(cc));
    else if (status != 200)
        rc = iv_err_set(e, IV_EIO, "the LLM endpoint answered HTTP %ld", status);
    curl_slist_free_all(hdrs);
    if (auth) {
        explicit_bzero(auth, strlen(auth));
        free(auth);
    }
    free(url);
    curl_easy_cleanup(h);
    return rc;
}

/* The proposals inside a chat completion: choices[0].message.content holds a JSON object
 * {"mappings": [...]} (or the bare array), possibly inside a ``` code fence. */
static json_t *proposals_of(const char *body, size_t n, struct iv_err *e)
{
    json_error_t je;
    json_t *doc = json_loadb(body, n, 0, &je), *out = NULL;
    const char *content = json_str(json_object_get(json_array_get(
        json_object_get(doc, "choices"), 0), "message"), "content");
    if (!content) {
        iv_err_set(e, IV_EINVAL, "the LLM answer is not a chat completion with a message");
        goto done;
    }
    const char *p = strchr(content, '{'), *q = strchr(content, '[');
    if (!p || (q && q < p))
        p = q;
    const char *end = p ? strrchr(content, *p == '{' ? '}' : ']') : NULL;
    json_t *inner = p && end ? json_loadb(p, (size_t)(end - p + 1), JSON_REJECT_DUPLICATES, &je)
                             : NULL;
    json_t *arr = json_is_array(inner) ? inner : json_object_get(inner, "mappings");
    if (!json_is_array(arr)) {
        iv_err_set(e, IV_EINVAL, "the LLM answer holds no JSON list of mappings");
    } else {
        out = json_incref(arr);
    }
    json_decref(inner);
done:
    json_decref(doc);
    return out;
}

int map_llm_ask(const struct iv_config *cfg, const char *stream, json_t *fields,
                const struct map_target *tv, size_t tn, json_t **answer, struct iv_err *e)
{
    *answer = NULL;
    if (!cfg->mapping_llm_url)
        return iv_err_set(e, IV_EUNSUPPORTED, "no LLM proposer is configured");
    char *body = request_body(cfg, stream, fields, tv, tn);
    struct answer_buf a = {0};
    buf_init(&a.b, MAP_LLM_MAX_ANSWER);
    int rc = post(cfg, body, &a, e);
    if (rc == IV_OK) {
        *answer = proposals_of(a.b.data ? a.b.data : "", a.b.len, e);
        rc = *answer ? IV_OK : IV_EINVAL;
    }
    buf_release(&a.b);
    free(body);
    return rc;
}
