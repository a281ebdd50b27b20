/*
 * cmd_expr: `ivory expr 'EXPRESSION' [--value JSON] [--row JSON]` evaluates one transform
 * expression (docs/transforms.md) and prints the result as JSON (exit 0), or the Python
 * exception name and message on stderr (exit 1): how a user tries an expression before
 * saving it in a mapping. Bad arguments (JSON that does not parse, a row that is not an
 * object) are usage errors (exit 2).
 *
 * `ivory expr --batch` (for the differential test against CPython, tests/expr) reads one
 * JSON object per stdin line, {"expr": "...", "value": V, "row": R}, and prints one line
 * per case: {"ok": TYPED} with the typed form of tx_to_typed_json, or {"error": "Kind",
 * "msg": "..."}. Limits are the runner's defaults.
 */
#include "cmd/cmd.h"
#include "transform/transform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: ivory expr 'EXPRESSION' [--value JSON] [--row JSON]\n"
    "Evaluates a transform expression with `value` and `row` bound and prints the result as\n"
    "JSON; an error prints its Python exception name and message and exits 1.\n";

/* Compiles and evaluates; *out or err. */
static int run_one(const char *src, json_t *value, json_t *row, struct tx_value **out,
                   struct tx_error *err)
{
    struct tx_expr *x = NULL;
    if (tx_compile(src, strlen(src), &x, err) != IV_OK)
        return IV_EINVAL;
    struct tx_value *v = value ? tx_from_json(value) : tx_none();
    struct tx_value *r = row ? tx_from_json(row) : tx_none();
    int rc = tx_eval(x, v, r, NULL, out, err);
    tx_unref(v);
    tx_unref(r);
    tx_expr_free(x);
    return rc;
}

static void print_error_line(const struct tx_error *err)
{
    json_t *o = json_pack("{s:s, s:s}", "error", err->kind, "msg", err->msg);
    if (err->column)
        json_object_set_new(o, "column", json_integer(err->column));
    char *t = json_dumps(o, JSON_COMPACT);
    puts(t ? t : "{\"error\":\"SystemError\",\"msg\":\"encoding\"}");
    free(t);
    json_decref(o);
}

static int batch(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        json_error_t je;
        json_t *c = json_loadb(line, (size_t)n, JSON_DECODE_ANY, &je);
        const char *src = json_str(c, "expr");
        struct tx_error err = {0};
        struct tx_value *out = NULL;
        if (!src) {
            snprintf(err.kind, sizeof err.kind, "UsageError");
            snprintf(err.msg, sizeof err.msg, "each line needs an \"expr\" string");
            print_error_line(&err);
        } else if (run_one(src, json_object_get(c, "value"), json_object_get(c, "row"), &out,
                           &err) != IV_OK) {
            print_error_line(&err);
        } else {
            struct buf b;
            buf_init(&b, 64u * 1024 * 1024);
            buf_append_str(&b, "{\"ok\":");
            tx_to_typed_json(out, &b);
            buf_append_str(&b, "}");
            fwrite(b.data, 1, b.len, stdout);
            putchar('\n');
            buf_release(&b);
            tx_unref(out);
        }
        json_decref(c);
    }
    free(line);
    return 0;
}

static int parse_json_arg(const char *name, const char *text, json_t **out)
{
    json_error_t je;
    *out = json_loads(text, JSON_DECODE_ANY, &je);
    if (!*out)
        return cmd_usage_error("%s is not valid JSON: %s", name, je.text);
    return 0;
}

int cmd_expr(int argc, char **argv)
{
    const char *src = NULL;
    json_t *value = NULL, *row = NULL;
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            goto out;
        } else if (!strcmp(argv[i], "--batch")) {
            rc = batch();
            goto out;
        } else if (!strcmp(argv[i], "--value") || !strcmp(argv[i], "--row")) {
            json_t **slot = argv[i][2] == 'v' ? &value : &row;
            if (i + 1 >= argc)
                rc = cmd_usage_error("%s needs a JSON argument", argv[i]);
            else if (*slot)
                rc = cmd_usage_error("%s given twice", argv[i]);
            else
                rc = parse_json_arg(argv[i], argv[i + 1], slot);
            i++;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            rc = cmd_usage_error("unknown option '%s' (see ivory expr --help)", argv[i]);
        } else if (src) {
            rc = cmd_usage_error("one expression only (quote it)");
        } else {
            src = argv[i];
        }
    }
    if (rc)
        goto out;
    if (!src) {
        rc = cmd_usage_error("missing EXPRESSION (see ivory expr --help)");
        goto out;
    }
    if (row && !json_is_object(row)) {
        rc = cmd_usage_error("--row must be a JSON object (the source record)");
        goto out;
    }
    struct tx_error err = {0};
    struct tx_value *res = NULL;
    if (run_one(src, value, row, &res, &err) != IV_OK) {
        if (err.column)
            rc = cmd_fail("%s at column %d: %s", err.kind, err.column, err.msg);
        else
            rc = cmd_fail("%s: %s", err.kind, err.msg);
        goto out;
    }
    struct buf b;
    buf_init(&b, 64u * 1024 * 1024);
    if (tx_to_json_text(res, &b, &err) != IV_OK) {
        rc = cmd_fail("the result cannot be written as JSON: %s", err.msg);
    } else {
        fwrite(b.data, 1, b.len, stdout);
        putchar('\n');
    }
    buf_release(&b);
    tx_unref(res);
out:
    json_decref(value);
    json_decref(row);
    return rc;
}
