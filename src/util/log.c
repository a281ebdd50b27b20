/*
 * log: structured logging, one JSON object per line on stderr.
 *
 * The level is checked in the macros before arguments are evaluated. The
 * message is JSON-escaped here so a hostile string cannot forge log fields.
 * Secrets must never reach this function; callers redact first.
 */
#include "util/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int iv_log_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level_from_env(void)
{
    const char *v = getenv("IVORY_LOG_LEVEL");
    if (!v)
        return;
    if (!strcasecmp(v, "error")) iv_log_level = LOG_ERROR;
    else if (!strcasecmp(v, "warn")) iv_log_level = LOG_WARN;
    else if (!strcasecmp(v, "info")) iv_log_level = LOG_INFO;
    else if (!strcasecmp(v, "debug")) iv_log_level = LOG_DEBUG;
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char ts[32];
    iso8601_format_ms(now_ms(), ts);
    json_t *j = json_pack("{s:s, s:s, s:s}", "ts", ts, "level", names[lvl], "msg", msg);
    char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
    pthread_mutex_lock(&log_lock);
    if (line)
        fprintf(stderr, "%s\n", line);
    else
        fprintf(stderr, "{\"level\":\"%s\",\"msg\":\"(unprintable)\"}\n", names[lvl]);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
    free(line);
    json_decref(j);
}
