/*
 * lake/s3: S3 object storage for the table layer — PUT, multipart upload,
 * GET (whole, a byte range, or streamed into a file), HEAD and DELETE on
 * "s3://bucket/key" URIs, signed with AWS SigV4 by libcurl.
 *
 * Addressing: with a custom endpoint (MinIO, R2, Ceph, moto) path-style
 * ({endpoint}/{bucket}/{key}) is the default; without one the AWS regional
 * endpoint https://s3.{region}.amazonaws.com is used with virtual-host
 * addressing ({bucket}.s3.{region}.amazonaws.com/{key}). Either can be forced.
 *
 * Uploads: an object up to part_bytes goes in one PUT; a larger file goes as a
 * multipart upload whose parts are read from the file by libcurl as they are
 * sent (memory stays at libcurl's buffers whatever the size); a failed upload
 * is aborted so no parts linger. Every request that may be repeated is
 * retried on 5xx, 429 and timeouts (lake_http.c).
 *
 * Ownership: struct lake_s3 owns copies of its settings; the secret key is
 * wiped before it is freed and never appears in a message.
 */
#include "lake/lake_int.h"
#include "lake/lake_http.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S3_MIN_PART ((size_t)5 << 20)
#define S3_DEFAULT_PART ((size_t)8 << 20)
#define S3_MAX_PARTS 10000

struct lake_s3 {
    char *endpoint;        /* scheme://host[:port][/base], no trailing slash */
    char *region;
    char *access_key;
    char *secret_key;      /* wiped on free */
    bool path_style;
    size_t part_bytes;
    char sigv4[160];
};

int lake_s3_new(struct lake_s3 **out, const struct lake_s3_config *cfg, struct iv_err *e)
{
    *out = NULL;
    const char *region = cfg->region && *cfg->region ? cfg->region : "us-east-1";
    if (!str_matches_charset(region, "abcdefghijklmnopqrstuvwxyz0123456789",
                             "abcdefghijklmnopqrstuvwxyz0123456789-", 1, 64))
        return iv_err_set(e, IV_EINVAL, "region '%s' is not a valid AWS region name", region);
    if (cfg->endpoint && *cfg->endpoint && strncmp(cfg->endpoint, "http://", 7) != 0
        && strncmp(cfg->endpoint, "https://", 8) != 0)
        return iv_err_set(e, IV_EINVAL, "s3_endpoint '%s' must start with http:// or https://",
                          cfg->endpoint);
    struct lake_s3 *s = xcalloc(1, sizeof *s);
    s->region = xstrdup(region);
    if (cfg->endpoint && *cfg->endpoint) {
        s->endpoint = xstrdup(cfg->endpoint);
        size_t n = strlen(s->endpoint);
        while (n > 0 && s->endpoint[n - 1] == '/')
            s->endpoint[--n] = '\0';
    } else {
        s->endpoint = xasprintf("https://s3.%s.amazonaws.com", region);
    }
    s->path_style = cfg->path_style < 0 ? (cfg->endpoint && *cfg->endpoint) : cfg->path_style;
    s->access_key = xstrdup(cfg->access_key_id ? cfg->access_key_id : "");
    s->secret_key = xstrdup(cfg->secret_key ? cfg->secret_key : "");
    s->part_bytes = S3_DEFAULT_PART;
    const char *pb = getenv("IVORY_S3_PART_BYTES");
    if (pb && strtoull(pb, NULL, 10) >= S3_MIN_PART)
        s->part_bytes = (size_t)strtoull(pb, NULL, 10);
    snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", s->region);
    *out = s;
    return IV_OK;
}

void lake_s3_free(struct lake_s3 *s)
{
    if (!s)
        return;
    explicit_bzero(s->secret_key, strlen(s->secret_key));
    free(s->secret_key);
    free(s->access_key);
    free(s->endpoint);
    free(s->region);
    free(s);
}

bool lake_is_s3_uri(const char *uri)
{
    return uri && (strncmp(uri, "s3://", 5) == 0 || strncmp(uri, "s3a://", 6) == 0);
}

/* "s3://bucket/key" -> bucket, key (key may be empty). */
static int split_uri(const char *uri, char **bucket, const char **key, struct iv_err *e)
{
    const char *p = strncmp(uri, "s3://", 5) == 0 ? uri + 5
                  : strncmp(uri, "s3a://", 6) == 0 ? uri + 6 : NULL;
    if (!p)
        return iv_err_set(e, IV_EINVAL, "'%s' is not an s3:// URI", uri);
    const char *slash = strchr(p, '/');
    size_t bl = slash ? (size_t)(slash - p) : strlen(p);
    if (bl < 3 || bl > 63)
        return iv_err_set(e, IV_EINVAL, "'%s': bucket name must be 3 to 63 characters", uri);
    for (size_t i = 0; i < bl; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return iv_err_set(e, IV_EINVAL, "'%s': bucket name has a character S3 refuses", uri);
    }
    *bucket = xstrndup(p, bl);
    *key = slash ? slash + 1 : "";
    return IV_OK;
}

/* The request URL for (uri, query); caller frees. */
static char *object_url(const struct lake_s3 *s, const char *uri, const char *query,
                        struct iv_err *e)
{
    char *bucket = NULL;
    const char *key = NULL;
    if (split_uri(uri, &bucket, &key, e))
        return NULL;
    char *ekey = lake_url_encode(key, true);
    char *url;
    if (s->path_style) {
        url = xasprintf("%s/%s/%s%s%s", s->endpoint, bucket, ekey, query ? "?" : "",
                        query ? query : "");
    } else {
        const char *host = strstr(s->endpoint, "://") + 3;
        url = xasprintf("%.*s%s.%s/%s%s%s", (int)(host - s->endpoint), s->endpoint, bucket,
                        host, ekey, query ? "?" : "", query ? query : "");
    }
    free(bucket);
    free(ekey);
    return url;
}

static const char *const UNSIGNED_HDR[] = { "x-amz-content-sha256: UNSIGNED-PAYLOAD", NULL };

static void req_setup(const struct lake_s3 *s, struct lake_http_req *r, const char *method,
                      const char *url)
{
    lake_http_req_init(r, method, url);
    r->sigv4 = s->sigv4;
    r->access_key = s->access_key;
    r->secret_key = s->secret_key;
    r->headers = UNSIGNED_HDR;
    r->retry = true;
}

/* Copies the text between <tag> and </tag> of an S3 XML body into out. */
static bool xml_value(const char *body, const char *tag, char *out, size_t outsz)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = body ? strstr(body, open) : NULL;
    if (!a)
        return false;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (!b || (size_t)(b - a) >= outsz)
        return false;
    memcpy(out, a, (size_t)(b - a));
    out[b - a] = '\0';
    return true;
}

/* Turns a non-2xx response into an error naming the operation and S3's code. */
static int s3_status_error(const char *op, const char *uri, const struct lake_http_resp *resp,
                           struct iv_err *e)
{
    char code[128] = "", msg[256] = "";
    xml_value(resp->body.data, "Code", code, sizeof code);
    xml_value(resp->body.data, "Message", msg, sizeof msg);
    int rc = resp->status == 404 ? IV_ENOTFOUND
           : resp->status == 403 || resp->status == 401 ? IV_EAUTH : IV_EIO;
    if (resp->status == 403 && !code[0])
        snprintf(code, sizeof code, "AccessDenied");
    return iv_err_set(e, rc, "S3 %s %s: HTTP %ld%s%s%s%s", op, uri, resp->status,
                      code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
}

static bool ok2xx(long st)
{
    return st >= 200 && st < 300;
}

/* ---- simple operations ------------------------------------------------------------------- */

int lake_s3_put(const struct lake_s3 *s, const char *uri, const void *p, size_t n,
                struct iv_err *e)
{
    char *url = object_url(s, uri, NULL, e);
    if (!url)
        return IV_EINVAL;
    struct lake_http_req r;
    req_setup(s, &r, "PUT", url);
    r.body = p;
    r.body_len = n;
    struct lake_http_resp resp;
    int rc = lake_http_do(&r, &resp, e);
    if (!rc && !ok2xx(resp.status))
        rc = s3_status_error("PUT", uri, &resp, e);
    lake_http_resp_release(&resp);
    free(url);
    return rc;
}

int lake_s3_get(const struct lake_s3 *s, const char *uri, size_t max, char **out, size_t *len,
                struct iv_err *e)
{
    return lake_s3_get_range(s, uri, -1, 0, max, out, len, e);
}

int lake_s3_get_range(const struct lake_s3 *s, const char *uri, int64_t off, size_t n,
                      size_t max, char **out, size_t *len, struct iv_err *e)
{
    *out = NULL;
    *len = 0;
    char *url = object_url(s, uri, NULL, e);
    if (!url)
        return IV_EINVAL;
    char range[96];
    const char *hdrs[3] = { UNSIGNED_HDR[0], NULL, NULL };
    if (off >= 0) {
        snprintf(range, sizeof range, "Range: bytes=%lld-%lld", (long long)off,
                 (long long)(off + (int64_t)n - 1));
        hdrs[1] = range;
    }
    struct lake_http_req r;
    req_setup(s, &r, "GET", url);
    r.headers = hdrs;
    r.max_resp = max;
    struct lake_http_resp resp;
    int rc = lake_http_do(&r, &resp, e);
    if (!rc && !ok2xx(resp.status))
        rc = s3_status_error("GET", uri, &resp, e);
    if (!rc)
        *out = buf_detach(&resp.body, len);
    lake_http_resp_release(&resp);
    free(url);
    return rc;
}

int lake_s3_download(const struct lake_s3 *s, const char *uri, int fd, struct iv_err *e)
{
    char *url = object_url(s, uri, NULL, e);
    if (!url)
        return IV_EINVAL;
    struct lake_http_req r;
    req_setup(s, &r, "GET", url);
    r.out_fd = fd;
    struct lake_http_resp resp;
    int rc = lake_http_do(&r, &resp, e);
    if (!rc && !ok2xx(resp.status))
        rc = s3_status_error("GET", uri, &resp, e);
    lake_http_resp_release(&resp);
    free(url);
    return rc;
}

int lake_s3_head(const struct lake_s3 *s, const char *uri, int64_t *size, struct iv_err *e)
{
    char *url = object_url(s, uri, NULL, e);
    if (!url)
        return IV_EINVAL;
    struct lake_http_req r;
    req_setup(s, &r, "HEAD", url);
    struct lake_http_resp resp;
    int rc = lake_http_do(&r, &resp, e);
    if (!rc && !ok2xx(resp.status))
        rc = s3_status_error("HEAD", uri, &resp, e);
    if (!rc && size)
        *size = resp.content_length;
    lake_http_resp_release(&resp);
    free(url);
    return rc;
}

int lake_s3_delete(const struct lake_s3 *s, const char *uri, struct iv_err *e)
{
    char *url = object_url(s, uri, NULL, e);
    if (!url)
        return IV_EINVAL;
    struct lake_http_req r;
    req_setup(s, &r, "DELETE", url);
    struct lake_http_resp resp;
    int rc = lake_http_do(&r, &resp, e);
    if (!rc && !ok2xx(resp.status) && resp.status != 404)
        rc = s3_status_error("DELETE", uri, &resp, e);
    lake_http_resp_release(&resp);
    free(url);
    return rc;
}

/* ---- multipart --------------------------------------------------------------------------- */

struct mpu {
    const struct lake_s3 *s;
    const char *uri;
    char upload_id[512];
    char *id_enc;
    struct buf done;          /* <Part>...</Part> list for CompleteMultipartUpload */
};

/* POST bodies are XML: without a Content-Type libcurl sends them as a form, which some
 * servers (moto's Werkzeug) then consume as form fields. */
static const char *const XML_HDRS[] = { "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                                        "Content-Type: application/xml", NULL };

static int mpu_call(struct mpu *m, const char *method, const char *query, const void *body,
                    size_t blen, int fd, off_t off, size_t flen, struct lake_http_resp *resp,
                    struct iv_err *e)
{
    char *url = object_url(m->s, m->uri, query, e);
    if (!url)
        return IV_EINVAL;
    struct lake_http_req r;
    req_setup(m->s, &r, method, url);
    if (strcmp(method, "POST") == 0)
        r.headers = XML_HDRS;
    r.body = body;
    r.body_len = blen;
    r.body_fd = fd;
    r.body_off = off;
    r.body_fd_len = flen;
    int rc = lake_http_do(&r, resp, e);
    free(url);
    return rc;
}

static int mpu_start(struct mpu *m, struct iv_err *e)
{
    struct lake_http_resp resp;
    int rc = mpu_call(m, "POST", "uploads=", NULL, 0, -1, 0, 0, &resp, e);
    if (!rc && !ok2xx(resp.status))
        rc = s3_status_error("CreateMultipartUpload", m->uri, &resp, e);
    if (!rc && !xml_value(resp.body.data, "UploadId", m->upload_id, sizeof m->upload_id))
        rc = iv_err_set(e, IV_EIO, "S3 CreateMultipartUpload %s: no UploadId in the reply",
                        m->uri);
    lake_http_resp_release(&resp);
    if (!rc)
        m->id_enc = lake_url_encode(m->upload_id, false);
    return rc;
}

static int mpu_part(struct mpu *m, int num, int fd, off_t off, size_t n, struct iv_err *e)
{
    char *q = xasprintf("partNumber=%d&uploadId=%s", num, m->id_enc);
    struct lake_http_resp resp;
    int rc = mpu_call(m, "PUT", q, NULL, 0, fd, off, n, &resp, e);
    free(q);
    if (!rc && !ok2xx(resp.status))
        rc = s3_status_error("UploadPart", m->uri, &resp, e);
    if (!rc && !resp.etag[0])
        rc = iv_err_set(e, IV_EIO, "S3 UploadPart %s: no ETag in the reply", m->uri);
    if (!rc)
        buf_printf(&m->done, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", num,
                   resp.etag);
    lake_http_resp_release(&resp);
    return rc;
}

static int mpu_complete(struct mpu *m, struct iv_err *e)
{
    struct buf body;
    buf_init(&body, (size_t)4 << 20);
    buf_printf(&body, "<CompleteMultipartUpload>%s</CompleteMultipartUpload>", m->done.data);
    char *q = xasprintf("uploadId=%s", m->id_enc);
    struct lake_http_resp resp;
    int rc = mpu_call(m, "POST", q, body.data, body.len, -1, 0, 0, &resp, e);
    free(q);
    /* S3 may answer 200 with an <Error> body when completion fails late. */
    if (!rc && (!ok2xx(resp.status) || (resp.body.data && strstr(resp.body.data, "<Error>"))))
        rc = s3_status_error("CompleteMultipartUpload", m->uri, &resp, e);
    lake_http_resp_release(&resp);
    buf_release(&body);
    return rc;
}

static void mpu_abort(struct mpu *m)
{
    if (!m->id_enc)
        return;
    char *q = xasprintf("uploadId=%s", m->id_enc);
    struct lake_http_resp resp;
    struct iv_err e2;
    if (mpu_call(m, "DELETE", q, NULL, 0, -1, 0, 0, &resp, &e2) == IV_OK
        && !ok2xx(resp.status))
        log_warn("S3 AbortMultipartUpload %s: HTTP %ld", m->uri, resp.status);
    lake_http_resp_release(&resp);
    free(q);
}

int lake_s3_put_file(const struct lake_s3 *s, const char *uri, const char *path,
                     struct iv_err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return iv_err_set(e, IV_EIO, "cannot open '%s' for upload", path);
    struct stat st;
    int rc = IV_OK;
    if (fstat(fd, &st) != 0) {
        rc = iv_err_set(e, IV_EIO, "cannot stat '%s'", path);
        goto out;
    }
    size_t size = (size_t)st.st_size;
    size_t part = s->part_bytes;
    while (size / part >= S3_MAX_PARTS)
        part *= 2;
    if (size <= part) {
        char *url = object_url(s, uri, NULL, e);
        if (!url) {
            rc = IV_EINVAL;
            goto out;
        }
        struct lake_http_req r;
        req_setup(s, &r, "PUT", url);
        r.body_fd = fd;
        r.body_fd_len = size;
        struct lake_http_resp resp;
        rc = lake_http_do(&r, &resp, e);
        if (!rc && !ok2xx(resp.status))
            rc = s3_status_error("PUT", uri, &resp, e);
        lake_http_resp_release(&resp);
        free(url);
        goto out;
    }
    struct mpu m = { .s = s, .uri = uri };
    buf_init(&m.done, (size_t)4 << 20);
    rc = mpu_start(&m, e);
    int num = 1;
    for (size_t off = 0; !rc && off < size; off += part, num++) {
        size_t n = size - off < part ? size - off : part;
        rc = mpu_part(&m, num, fd, (off_t)off, n, e);
    }
    if (!rc)
        rc = mpu_complete(&m, e);
    if (rc)
        mpu_abort(&m);
    free(m.id_enc);
    buf_release(&m.done);
out:
    close(fd);
    return rc;
}
