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

#endif
