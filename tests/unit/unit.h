/*
 * unit.h: the one include every C unit test starts with (cmocka + project).
 * Each tests/unit/test_<module>.c is its own executable, built and run under
 * AddressSanitizer and UBSan by `make unit`.
 */
#ifndef IVORY_UNIT_H
#define IVORY_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>

/* A private temp directory "/tmp/ivory-test-<name>-XXXXXX" into out (>= 64 bytes): 0, or -1
 * when it cannot be made. For cmocka group fixtures; remove with unit_tmpdir_remove. */
static inline int unit_tmpdir_make(char *out, size_t n, const char *name)
{
    snprintf(out, n, "/tmp/ivory-test-%s-XXXXXX", name);
    return mkdtemp(out) ? 0 : -1;
}

/* Removes dir and everything under it (rm -rf): 0 on success. */
static inline int unit_tmpdir_remove(const char *dir)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);
    int rc = system(cmd);
    free(cmd);
    return rc;
}

#endif
