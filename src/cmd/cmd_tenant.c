/*
 * cmd_tenant: `ivory tenant create --slug SLUG [--id ID]` creates a tenant in
 * the store (migrating it first if needed) and prints {"id","slug"[,"token"]}
 * on stdout; the token is a 24 h HS256 dev token for that tenant, printed
 * only when IVORY_JWT_SECRET is configured.
 */
#include "cmd/cmd.h"
#include "config/config.h"
#include "crypto/crypto.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEV_TOKEN_TTL_S (24 * 3600)

static bool valid_slug(const char *s)
{
    return str_matches_charset(s, NULL, "abcdefghijklmnopqrstuvwxyz0123456789-", 3, 48);
}

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= STORE_ID_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '/' || *p == '?' || *p == '#' ||
            *p == '%')
            return false;
    return true;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ivory tenant create --slug SLUG [--id ID]\n"
               "  SLUG: ^[a-z0-9-]{3,48}$; ID defaults to a new UUID (it is the JWT sub)\n");
}

int cmd_tenant(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "create") != 0)
        return cmd_usage_error("tenant: expected 'create' (see 'ivory tenant --help')");
    const char *slug = NULL, *id = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--slug") && i + 1 < argc) {
            slug = argv[++i];
        } else if (!strncmp(argv[i], "--slug=", 7)) {
            slug = argv[i] + 7;
        } else if (!strcmp(argv[i], "--id") && i + 1 < argc) {
            id = argv[++i];
        } else if (!strncmp(argv[i], "--id=", 5)) {
            id = argv[i] + 5;
        } else {
            return cmd_usage_error("tenant create: unexpected argument '%s'", argv[i]);
        }
    }
    if (!slug)
        return cmd_usage_error("tenant create: --slug is required");
    if (!valid_slug(slug))
        return cmd_usage_error("tenant create: slug '%s' must match ^[a-z0-9-]{3,48}$", slug);
    if (id && !valid_id(id))
        return cmd_usage_error("tenant create: --id must be 1-255 printable characters without "
                               "spaces, '/', '?', '#' or '%%'");
    char gen[37];
    if (!id) {
        uuid_v4(gen);
        id = gen;
    }

    struct iv_config cfg;
    struct iv_err e = {0};
    if (config_load(&cfg, &e) != IV_OK)
        return cmd_fail("%s", e.msg);
    struct store *st = NULL;
    int rc = store_open(&st, cfg.db_url, 1, true, &e);
    if (rc == IV_OK)
        rc = store_tenant_create(st, id, slug, NULL, &e);
    store_close(st);
    if (rc != IV_OK) {
        config_release(&cfg);
        return cmd_fail("tenant create: %s", e.msg);
    }
    json_t *j = json_pack("{s:s, s:s}", "id", id, "slug", slug);
    if (cfg.jwt_secret) {
        char extra[96];
        snprintf(extra, sizeof extra, "{\"tenant_slug\":\"%s\"}", slug);
        char *tok = jwt_sign_hs256(cfg.jwt_secret, id, DEV_TOKEN_TTL_S, extra);
        if (tok)
            json_object_set_new(j, "token", json_string(tok));
        free(tok);
    }
    char *out = json_dumps_compact(j);
    printf("%s\n", out);
    free(out);
    json_decref(j);
    config_release(&cfg);
    return 0;
}
