# pg_runbook -- PGXS build.  `make test` and `make demo` are the two commands
# of the README quick start; both do their own set-up (tools/*.sh).

EXTENSION  = pg_runbook
MODULE_big = pg_runbook
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" pg_runbook.control)

SRCS       = $(sort $(wildcard src/*.c))
OBJS       = $(SRCS:.c=.o)
RB_HEADERS = $(wildcard src/*.h)

# The install script of the current version is assembled from numbered
# fragments in sql/$(EXTVERSION)/ (one per concern); released upgrade steps
# (sql/pg_runbook--A--B.sql) are installed as they are.
DATA_built = pg_runbook--$(EXTVERSION).sql
DATA       = $(wildcard sql/pg_runbook--*--*.sql)

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-missing-field-initializers -Wno-sign-compare

# Test suites: file names under sql_tests/ are the lists (no list to keep).
REGRESS        = $(basename $(notdir $(wildcard sql_tests/*.sql)))
ISOLATION      = $(basename $(notdir $(wildcard sql_tests/specs/*.spec)))
TAP_TESTS      = 1
PROVE_TESTS    = $(sort $(wildcard sql_tests/t/*.pl))
EXTRA_CLEAN    = build pg_runbook--$(EXTVERSION).sql

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): $(RB_HEADERS)

pg_runbook--$(EXTVERSION).sql: $(sort $(wildcard sql/$(EXTVERSION)/*.sql)) pg_runbook.control
	cat $(sort $(wildcard sql/$(EXTVERSION)/*.sql)) > $@

.PHONY: test demo bench deps tmp-install test-matrix

deps:
	tools/deps.sh

# Builds, installs into a private copy of the PostgreSQL installation
# (build/tmp_install) and runs regress, isolation and TAP suites there.
test: deps
	tools/run-tests.sh "$(REGRESS)" "$(ISOLATION)" "$(PROVE_TESTS)"

demo: deps
	tools/demo.sh

bench: deps
	tools/bench.sh

test-matrix:
	tools/test-matrix.sh
