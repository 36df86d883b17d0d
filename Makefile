# pg_runbook -- PGXS build.  `make test` and `make demo` are the two commands
# of the README quick start; both do their own set-up (tools/*.sh).

EXTENSION  = pg_runbook
MODULE_big = pg_runbook
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" pg_runbook.control)

SRCS       = $(sort $(wildcard src/*.c))
OBJS       = $(SRCS:.c=.o)
RB_HEADERS = $(wildcard src/*.h)

# Versions.  sql/1.0/ is released and frozen: its fragments (one per
# concern, in name order) make pg_runbook--1.0.sql, installed so that
# `ALTER EXTENSION pg_runbook UPDATE` works from it.  Every change since is
# an upgrade step: the fragments of sql/1.1/ make the upgrade script
# pg_runbook--1.0--1.1.sql, and the fresh 1.1 install script is the 1.0
# script followed by the same steps (so an updated 1.0 and a fresh 1.1 are
# made by the same statements; sql_tests/t/010_upgrade.pl compares them).
RB_V10_SQL = $(sort $(wildcard sql/1.0/*.sql))
RB_V11_SQL = $(sort $(wildcard sql/1.1/*.sql))
DATA_built = pg_runbook--1.0.sql pg_runbook--1.0--1.1.sql pg_runbook--1.1.sql

PG_CPPFLAGS = -I$(srcdir)/src

# Test hooks (the setting pg_runbook.test_delay_before_signal) exist only in
# a test build: `make RB_TEST_HOOKS=1`, which tools/run-tests.sh uses.  A
# plain `make && make install` has none.  build/.flavor records the flavour
# of the objects, so that switching rebuilds them.
RB_TEST_HOOKS ?= 0
ifeq ($(RB_TEST_HOOKS),1)
PG_CPPFLAGS += -DRB_TEST_HOOKS
endif
RB_FLAVOR := $(shell mkdir -p build && f=build/.flavor && \
	{ [ "$$(cat $$f 2>/dev/null)" = "$(RB_TEST_HOOKS)" ] || echo "$(RB_TEST_HOOKS)" > $$f; } && echo $$f)
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-missing-field-initializers -Wno-sign-compare

# Test suites: file names under sql_tests/ are the lists (no list to keep).
REGRESS        = $(basename $(notdir $(wildcard sql_tests/*.sql)))
ISOLATION      = $(basename $(notdir $(wildcard sql_tests/specs/*.spec)))
TAP_TESTS      = 1
PROVE_TESTS    = $(sort $(wildcard sql_tests/t/*.pl))
EXTRA_CLEAN    = build $(DATA_built)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): $(RB_HEADERS) $(RB_FLAVOR)

pg_runbook--1.0.sql: $(RB_V10_SQL) sql/1.0
	cat $(RB_V10_SQL) > $@

pg_runbook--1.0--1.1.sql: $(RB_V11_SQL) sql/1.1
	cat $(RB_V11_SQL) > $@

pg_runbook--1.1.sql: $(RB_V10_SQL) $(RB_V11_SQL) sql/1.0 sql/1.1
	cat $(RB_V10_SQL) $(RB_V11_SQL) > $@

.PHONY: test demo bench deps tmp-install test-matrix test-cassert test-valgrind fuzz docs check-layers

# The C modules form layers without a circle, and only snapshot.c,
# lockshot.c and remedy.c touch what they own (ARCHITECTURE.md); read from
# the objects.  tools/run-tests.sh runs it after the build.
check-layers: $(OBJS)
	tools/check-layers.sh $(OBJS)

deps:
	tools/deps.sh

# Builds, installs into a private copy of the PostgreSQL installation
# (build/tmp_install) and runs regress, isolation and TAP suites there.
test: deps
	tools/run-tests.sh "$(REGRESS)" "$(ISOLATION)" "$(PROVE_TESTS)"

demo: deps
	tools/demo.sh

# Runs the examples of docs/*.md on private servers and writes their real
# outputs into the pages (docs/examples.md); the check without writing is
# `tools/doc-examples.sh` and, inside `make test`, sql_tests/t/800_doc_examples.pl.
docs: deps
	tools/doc-examples.sh --update

bench: deps
	tools/bench.sh

test-matrix:
	tools/test-matrix.sh

# The same suites on an assert-enabled PostgreSQL 15 built from Debian's
# source package (tools/cassert-build.sh; cached in
# /var/cache/pg_runbook-cassert, built on the first run).
test-cassert: deps
	tools/test-cassert.sh "$(REGRESS)" "$(ISOLATION)" "$(PROVE_TESTS)"

# Regress and isolation with every server process under valgrind (slow).
test-valgrind: deps
	tools/test-valgrind.sh "$(REGRESS)" "$(ISOLATION)"

# sqlsmith's random queries against the assert-enabled server
# (PG_RUNBOOK_FUZZ_QUERIES, default 5000).
fuzz: deps
	tools/fuzz.sh

# Debian package(s) with pg_buildext into build/deb/, then an install test
# in a clean Debian root (tools/deb.sh; needs root).
.PHONY: deb
deb:
	tools/deb.sh
