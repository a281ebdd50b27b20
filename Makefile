# Ivory build. Plain make over pkg-config; every .c under src/ is part of the
# library that the binary and the unit tests link, except src/main.c.
#
#   make            build ./ivory (release flags, -Werror)
#   make unit       build and run tests/unit under AddressSanitizer + UBSan
#   make e2e        run tests/e2e (node --test) against ./ivory, except the valgrind gate
#   make e2e-pg     the same suites with the store on PostgreSQL (IVORY_TEST_PG_URL: a database
#                   the tests may create schemas in; ./dev.sh test starts a throwaway one)
#   make valgrind   the valgrind gate: target-iceberg and one runner sync under memcheck
#   make test       unit + e2e + valgrind
#   make fuzz       bounded libFuzzer runs (clang)
#   make expr-diff-random   the transform language against CPython on 200,000 random cases
#   make deb        the Debian package (dpkg-buildpackage -us -uc -b; lands in ../)
#
# CPPFLAGS / CFLAGS / LDFLAGS (empty by default) are added to the release build: debian/rules
# passes Debian's hardening flags through them.

CC      ?= cc
PKGS    := libmicrohttpd jansson libjwt sqlite3 libpq openssl libcurl libzstd
CSTD    := -std=c11 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wformat=2 -Wvla
INCS    := -Isrc $(shell pkg-config --cflags $(PKGS))
LIBS    := $(shell pkg-config --libs $(PKGS)) -lsnappy -lz -lgmp -lunistring -lpthread -lm
OPT     ?= -O2 -g

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GITREV  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DEFS    := -DIVORY_VERSION=\"$(VERSION)\" -DIVORY_GITREV=\"$(GITREV)\"

SRCS    := $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
# The web console (console/) is embedded into the binary as a generated C table.
CONSOLE := $(sort $(wildcard console/*.html console/*.js console/*.css))
OBJS    := $(SRCS:src/%.c=build/obj/%.o) build/obj/gen/console_assets.o
AOBJS   := $(SRCS:src/%.c=build/asan/%.o) build/asan/gen/console_assets.o
UNITS   := $(basename $(notdir $(wildcard tests/unit/test_*.c)))
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

.PHONY: all unit e2e e2e-pg valgrind test clean fuzz bench demo expr-diff-random deb

all: ivory

ivory: build/obj/main.o build/libivory.a
	$(CC) $(OPT) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

build/libivory.a: $(OBJS)
	@rm -f $@
	ar rcs $@ $^

build/obj/%.o: src/%.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) $(CPPFLAGS) $(CFLAGS) $(WARN) $(DEFS) $(INCS) -MMD -MP -c -o $@ $<

build/asan/%.o: src/%.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g $(SAN) $(WARN) $(DEFS) $(INCS) -c -o $@ $<

build/gen/console_assets.c: console/embed.sh $(CONSOLE)
	@mkdir -p $(dir $@)
	sh console/embed.sh $@ $(CONSOLE)

build/obj/gen/console_assets.o: build/gen/console_assets.c src/api/api_int.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(OPT) $(CPPFLAGS) $(CFLAGS) $(WARN) $(INCS) -c -o $@ $<

build/asan/gen/console_assets.o: build/gen/console_assets.c src/api/api_int.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g $(SAN) $(WARN) $(INCS) -c -o $@ $<

build/libivory-asan.a: $(AOBJS)
	@rm -f $@
	ar rcs $@ $^

build/unit/%: tests/unit/%.c build/libivory-asan.a $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) -O1 -g $(SAN) $(WARN) $(DEFS) $(INCS) -Itests/unit -o $@ $< build/libivory-asan.a $(LIBS) -lcmocka

unit: $(UNITS:%=build/unit/%)
	@set -e; for t in $(UNITS); do echo "== $$t"; ASAN_OPTIONS=detect_leaks=1 ./build/unit/$$t; done

E2E_TESTS := $(filter-out tests/e2e/valgrind.test.mjs,$(wildcard tests/e2e/*.test.mjs))

e2e: ivory
	node --test --test-concurrency=2 $(E2E_TESTS)

e2e-pg: ivory
	@test -n "$$IVORY_TEST_PG_URL" || { echo "make e2e-pg: set IVORY_TEST_PG_URL" >&2; exit 2; }
	IVORY_E2E_BACKEND=postgres node --test --test-concurrency=2 $(E2E_TESTS)

# tests/e2e/valgrind.test.mjs skips (and says so) when valgrind is not installed.
valgrind: ivory
	node --test tests/e2e/valgrind.test.mjs

test: unit e2e valgrind

fuzz:
	$(MAKE) -C tests/fuzz

# CI runs tests/expr/difftest.py with a fixed seed (tests/e2e/expr.test.mjs); this runs a
# larger corpus with a random seed (printed, so a mismatch can be replayed with --seed).
EXPR_DIFF_COUNT ?= 200000
expr-diff-random: ivory
	/usr/bin/python3 tests/expr/difftest.py --ivory ./ivory --count $(EXPR_DIFF_COUNT) \
	    --seed $$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')

clean:
	rm -rf build ivory

-include $(OBJS:.o=.d) build/obj/main.d

# The README walk-through: serve + tap-csv + two syncs + rows read back (examples/demo.sh).
demo: ivory
	examples/demo.sh

deb:
	dpkg-buildpackage -us -uc -b
