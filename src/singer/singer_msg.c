/*
 * singer_msg: message dispatch for one Singer line. The top-level object is
 * scanned by hand (jscan) to find "type", "stream" and the span of "record",
 * validating the whole line as JSON on the way; RECORD lines never touch
 * jansson (the record itself is decoded later, schema-directed, by
 * singer_record.c). SCHEMA, STATE and ACTIVATE_VERSION lines are rare and are
 * loaded with jansson (duplicate keys rejected).
 */
#include "singer/singer.h"
#include "singer/jscan.h"

#include <stdlib.h>
#include <string.h>

void singer_parser_init(struct singer_parser *p)
{
    buf_init(&p->scratch, (size_t)1 << 30);
    buf_init(&p->member, (size_t)1 << 30);
}

void singer_parser_release(struct singer_parser *p)
{
    buf_release(&p->scratch);
    buf_release(&p->member);
}

void singer_msg_clear(struct singer_msg *m)
{
    if (m->json)
        json_decref(m->json);
    memset(m, 0, sizeof(*m));
}

struct span {
    const char *s;
    size_t n;
    bool esc;
    bool set;
};

/* Copies string contents (unescaped) into the scratch buffer; NUL-terminated. */
static const char *span_text(struct singer_parser *p, const struct span *sp, size_t *n)
{
    buf_reset(&p->scratch);
    if (buf_reserve(&p->scratch, sp->n + 1))
        return NULL;
    size_t k = sp->esc ? js_unescape(sp->s, sp->n, p->scratch.data) : sp->n;
    if (!sp->esc)
        memcpy(p->scratch.data, sp->s, sp->n);
    p->scratch.len = k;
    p->scratch.data[k] = '\0';
    *n = k;
    return p->scratch.data;
}

static bool span_eq(const struct span *sp, const char *lit)
{
    size_t n = strlen(lit);
    if (!sp->esc)
        return sp->n == n && memcmp(sp->s, lit, n) == 0;
    char tmp[64];
    if (sp->n > sizeof(tmp))
        return false;
    size_t k = js_unescape(sp->s, sp->n, tmp);
    return k == n && memcmp(tmp, lit, n) == 0;
}

static int fail_at(struct iv_err *e, const struct jscan *js, const char *what)
{
    return iv_err_set(e, IV_EINVAL, "invalid JSON at byte %zu: %s", (size_t)(js->p - js->base) + 1,
                      what);
}

static int load_json(const char *line, size_t len, struct singer_msg *out, struct iv_err *e)
{
    json_error_t je;
    out->json = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!out->json)
        return iv_err_set(e, IV_EINVAL, "invalid JSON at byte %d: %s", je.position, je.text);
    return IV_OK;
}

/* A BATCH message (Meltano SDK batch mode): "encoding" {"format": "jsonl",
 * "compression": "gzip" | "none"} and "manifest", a non-empty array of file URIs. */
static int check_batch(const json_t *m, struct iv_err *e)
{
    const json_t *enc = json_object_get(m, "encoding");
    if (!json_is_object(enc))
        return iv_err_set(e, IV_EINVAL, "BATCH has no \"encoding\" object");
    const char *format = json_str(enc, "format");
    if (!format || strcmp(format, "jsonl") != 0)
        return iv_err_set(e, IV_EINVAL, "BATCH encoding format \"%.40s\" is not supported "
                          "(jsonl only)", format ? format : "(none)");
    const json_t *comp = json_object_get(enc, "compression");
    const char *c = json_string_value(comp);
    if (comp && !json_is_null(comp) && !(c && (!strcmp(c, "gzip") || !strcmp(c, "none"))))
        return iv_err_set(e, IV_EINVAL, "BATCH compression \"%.40s\" is not supported "
                          "(gzip or none)", c ? c : "(not a string)");
    const json_t *man = json_object_get(m, "manifest");
    if (!json_is_array(man) || json_array_size(man) == 0)
        return iv_err_set(e, IV_EINVAL, "BATCH has no \"manifest\" array of files");
    size_t i;
    const json_t *f;
    json_array_foreach(man, i, f) {
        if (!json_is_string(f))
            return iv_err_set(e, IV_EINVAL, "BATCH manifest entry %zu is not a string", i);
    }
    return IV_OK;
}

int singer_parse_line(struct singer_parser *p, const char *line, size_t len,
                      struct singer_msg *out, struct iv_err *e)
{
    struct jscan js;
    struct span type = {0}, stream = {0};
    const char *rec = NULL, *rec_end = NULL;
    memset(out, 0, sizeof(*out));
    /* shortcut for the usual RECORD envelope; same result as the scan below */
    struct span pre_stream = {0};
    if (js_record_prefix(line, len, &pre_stream.s, &pre_stream.n, &rec)) {
        out->type = SINGER_MSG_RECORD;
        out->stream = span_text(p, &pre_stream, &out->stream_len);
        if (!out->stream)
            return iv_err_set(e, IV_ETOOBIG, "stream name too long");
        out->record = rec;
        out->record_len = (size_t)(line + len - rec);
        out->record_open = true;
        return IV_OK;
    }
    js_init(&js, line, len);

    if (js_peek(&js) != J_OBJ) {
        if (js.p >= js.end)
            return iv_err_set(e, IV_EINVAL, "empty message (not JSON)");
        return iv_err_set(e, IV_EINVAL, "not a JSON object");
    }
    js.p++;
    js_ws(&js);
    if (js.p < js.end && *js.p == '}') {
        js.p++;
    } else {
        for (;;) {
            struct span key = {0};
            if (js_peek(&js) != J_STR)
                return fail_at(e, &js, "expected object key");
            if (js_string(&js, &key.s, &key.n, &key.esc))
                return fail_at(e, &js, js.err);
            js_ws(&js);
            if (js.p >= js.end || *js.p != ':')
                return fail_at(e, &js, "expected ':'");
            js.p++;
            enum jtok t = js_peek(&js);
            struct span *target = NULL;
            if (span_eq(&key, "type"))
                target = &type;
            else if (span_eq(&key, "stream"))
                target = &stream;
            if (target) {
                if (target->set)
                    return iv_err_set(e, IV_EINVAL, "duplicate key \"%s\"",
                                      target == &type ? "type" : "stream");
                if (t == J_STR) {
                    if (js_string(&js, &target->s, &target->n, &target->esc))
                        return fail_at(e, &js, js.err);
                    target->set = true;
                } else {
                    if (js_skip(&js, 1))
                        return fail_at(e, &js, js.err);
                    return iv_err_set(e, IV_EINVAL, "\"%s\" is not a string",
                                      target == &type ? "type" : "stream");
                }
            } else if (span_eq(&key, "record")) {
                if (rec)
                    return iv_err_set(e, IV_EINVAL, "duplicate key \"record\"");
                if (t == J_OBJ && type.set && stream.set && span_eq(&type, "RECORD")) {
                    /* the usual order (type, stream, record): stop here. The decoder
                     * (singer_decode_record) validates the record and then the rest
                     * of the message in one pass over the bytes. */
                    out->type = SINGER_MSG_RECORD;
                    out->stream = span_text(p, &stream, &out->stream_len);
                    if (!out->stream)
                        return iv_err_set(e, IV_ETOOBIG, "stream name too long");
                    out->record = js.p;
                    out->record_len = (size_t)(js.end - js.p);
                    out->record_open = true;
                    return IV_OK;
                }
                rec = js.p;
                /* the record is validated when decoded (singer_decode_record); here only
                 * its end is found. Other message types are validated by jansson. */
                if (t == J_OBJ ? js_skip_fast(&js) : js_skip(&js, 1))
                    return fail_at(e, &js, js.err);
                rec_end = js.p;
                if (t != J_OBJ)
                    return iv_err_set(e, IV_EINVAL, "\"record\" is not an object");
            } else {
                if (js_skip(&js, 1))
                    return fail_at(e, &js, js.err);
            }
            int more = js_after_item(&js, '}');
            if (more < 0)
                return fail_at(e, &js, js.err);
            if (more == 0)
                break;
        }
    }
    js_ws(&js);
    if (js.p != js.end)
        return fail_at(e, &js, "trailing characters after the message");
    if (!type.set)
        return iv_err_set(e, IV_EINVAL, "message has no \"type\"");

    if (span_eq(&type, "RECORD")) {
        out->type = SINGER_MSG_RECORD;
        if (!stream.set)
            return iv_err_set(e, IV_EINVAL, "RECORD has no \"stream\"");
        if (!rec)
            return iv_err_set(e, IV_EINVAL, "RECORD has no \"record\"");
        out->stream = span_text(p, &stream, &out->stream_len);
        if (!out->stream)
            return iv_err_set(e, IV_ETOOBIG, "stream name too long");
        out->record = rec;
        out->record_len = (size_t)(rec_end - rec);
        return IV_OK;
    }
    int rc;
    if (span_eq(&type, "SCHEMA")) {
        out->type = SINGER_MSG_SCHEMA;
        if (!stream.set)
            return iv_err_set(e, IV_EINVAL, "SCHEMA has no \"stream\"");
        if ((rc = load_json(line, len, out, e)))
            return rc;
        if (!json_is_object(json_object_get(out->json, "schema"))) {
            singer_msg_clear(out);
            return iv_err_set(e, IV_EINVAL, "SCHEMA has no \"schema\" object");
        }
        json_t *kp = json_object_get(out->json, "key_properties");
        if (kp && !json_is_array(kp) && !json_is_null(kp)) {
            singer_msg_clear(out);
            return iv_err_set(e, IV_EINVAL, "SCHEMA \"key_properties\" is not an array");
        }
    } else if (span_eq(&type, "STATE")) {
        out->type = SINGER_MSG_STATE;
        if ((rc = load_json(line, len, out, e)))
            return rc;
        if (!json_object_get(out->json, "value")) {
            singer_msg_clear(out);
            return iv_err_set(e, IV_EINVAL, "STATE has no \"value\"");
        }
        return IV_OK;
    } else if (span_eq(&type, "ACTIVATE_VERSION")) {
        out->type = SINGER_MSG_ACTIVATE_VERSION;
        if ((rc = load_json(line, len, out, e)))
            return rc;
    } else if (span_eq(&type, "BATCH")) {
        out->type = SINGER_MSG_BATCH;
        if (!stream.set)
            return iv_err_set(e, IV_EINVAL, "BATCH has no \"stream\"");
        if ((rc = load_json(line, len, out, e)))
            return rc;
        if ((rc = check_batch(out->json, e))) {
            singer_msg_clear(out);
            return rc;
        }
    } else {
        size_t n;
        const char *t = span_text(p, &type, &n);
        return iv_err_set(e, IV_EINVAL, "unknown message type \"%.64s\"", t ? t : "?");
    }
    if (stream.set) {
        out->stream = span_text(p, &stream, &out->stream_len);
        if (!out->stream) {
            singer_msg_clear(out);
            return iv_err_set(e, IV_ETOOBIG, "stream name too long");
        }
    }
    return IV_OK;
}
