/*
 * fuzz_cron.c: libFuzzer target for cron expressions (src/sched): any bytes are parsed; a
 * parsed expression must give a next fire time strictly after the reference time that
 * itself matches the expression (the next of next-1 is itself), or -1. Any crash, hang,
 * sanitizer report or wrong answer is a bug.
 */
#include "sched/sched.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256)
        return 0;
    char text[257];
    memcpy(text, data, size);
    text[size] = '\0';
    struct cron_expr c;
    struct iv_err e = {0};
    if (cron_parse(text, &c, &e) != IV_OK) {
        if (!e.msg[0])
            abort();   /* every refusal says why */
        return 0;
    }
    const int64_t after = 1800000000;   /* 2027-01-15 */
    int64_t next = cron_next(&c, after);
    if (next == -1)
        return 0;
    if (next <= after || next % 60 != 0)
        abort();
    if (cron_next(&c, next - 1) != next)
        abort();
    return 0;
}
