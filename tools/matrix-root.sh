#!/usr/bin/env bash
# Creates, or completes, a cached Debian root (chroot) in which pg_runbook is
# built and tested against another PostgreSQL major version (used by
# tools/test-matrix.sh; can be run alone):
#
#   tools/matrix-root.sh VERSION [ROOTDIR]     (needs root)
#
#   15 -> Debian bookworm, 17 -> Debian trixie, 18 -> Debian forky.
#   ROOTDIR defaults to $PG_RUNBOOK_MATRIX_CACHE/pgVERSION, the cache being
#   /var/cache/pg_runbook-matrix unless set (outside the clone, so that
#   every clone on the machine, CI's included, shares the roots).
#
# Every package tools/deps.sh checks for is installed here, so that `make
# test` inside the root finds nothing missing and never calls apt.
# Idempotent and cheap on a re-run: an existing root is kept and only the
# packages it lacks are installed (a complete root costs well under a second).
# No PostgreSQL cluster is created and no service is started in the root.
# /proc, /dev, /dev/pts and /dev/shm are mounted into the root only while
# packages are installed, and always unmounted on exit, also on failure.
# debootstrap's and apt's output goes to ROOTDIR.log.
set -euo pipefail

usage() { echo "usage: $0 VERSION [ROOTDIR]   (VERSION: 15, 17 or 18)" >&2; exit 2; }
[ $# -eq 1 ] || [ $# -eq 2 ] || usage
PGV=$1
CACHE=${PG_RUNBOOK_MATRIX_CACHE:-/var/cache/pg_runbook-matrix}
set -- "$1" "${2:-$CACHE/pg$PGV}"
case $PGV in
	15) SUITE=bookworm; DBS_SCRIPT=/usr/share/debootstrap/scripts/bookworm ;;
	17) SUITE=trixie; DBS_SCRIPT=/usr/share/debootstrap/scripts/trixie ;;
	# Debian 12's debootstrap has no forky script; sid's fits any testing suite.
	18) SUITE=forky;  DBS_SCRIPT=/usr/share/debootstrap/scripts/sid ;;
	*) usage ;;
esac
MIRROR=${MATRIX_MIRROR:-http://deb.debian.org/debian}
# (the same list as tools/deps.sh)
PKGS=(make gcc libc6-dev perl libipc-run-perl
      "postgresql-$PGV" "postgresql-server-dev-$PGV" "postgresql-client-$PGV"
      check-postgres util-linux procps)
# MATRIX_EXTRA_PKGS: more packages, space-separated (e.g. for a test suite).
read -r -a EXTRA <<<"${MATRIX_EXTRA_PKGS:-}"
PKGS+=(${EXTRA[@]+"${EXTRA[@]}"})

T0=$EPOCHREALTIME
log() { printf '[matrix-root pg%s %6.1fs] %s\n' "$PGV" "$(bc_sub "$EPOCHREALTIME" "$T0")" "$*"; }
bc_sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
die() { log "ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount)"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
[ -r "$DBS_SCRIPT" ] || die "no debootstrap script $DBS_SCRIPT"

case $2 in "" | *[[:space:]]*) die "ROOTDIR must be non-empty and without blanks" ;; esac
mkdir -p "$(dirname "$2")"
ROOT=$(realpath -m "$2")
[ "$ROOT" != / ] || die "ROOTDIR must not be /"
LOG=$ROOT.log
MARKER=$ROOT/etc/pg_runbook-matrix-root

# One run per root at a time.
exec 9>"$ROOT.lock"
flock -w 1800 9 || die "$ROOT.lock is held by another run"

# --- mounts ---------------------------------------------------------------
# Mount points under ROOT, deepest first (also stale ones of a killed run).
mounts_under_root() {
	awk -v r="$ROOT/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}
unmount_all() {
	local m
	for m in $(mounts_under_root); do
		umount "$m" 2>/dev/null || umount -l "$m" || true
	done
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	[ -n "$(mounts_under_root)" ] && { unmount_all; log "unmounted /proc and /dev from the root"; }
	[ "$rc" = 0 ] || log "FAILED (exit $rc); details in $LOG" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mount_all() {
	mount -t proc proc "$ROOT/proc"
	local d
	for d in /dev /dev/pts /dev/shm; do
		mkdir -p "$ROOT$d"
		mount --bind "$d" "$ROOT$d"
		mount --make-private "$ROOT$d"
	done
}

# A command inside the root, with a clean environment.
in_root() {
	chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
		UCF_FORCE_CONFFOLD=1 "$@"
}

# --- 0. leftovers of an interrupted run ----------------------------------
if [ -n "$(mounts_under_root)" ]; then
	log "unmounting stale mounts of an earlier run"
	unmount_all
fi
if [ -d "$ROOT/debootstrap" ]; then
	# debootstrap removes this directory when it succeeds.
	log "removing an unfinished debootstrap in $ROOT"
	rm -rf --one-file-system "$ROOT"
fi
if [ -e "$MARKER" ] && ! grep -qx "suite=$SUITE pg=$PGV" "$MARKER"; then
	die "$ROOT was made for another version: $(cat "$MARKER")"
fi

# --- 1. debootstrap ---------------------------------------------------------
if [ ! -e "$ROOT/etc/debian_version" ]; then
	if [ -d "$ROOT" ] && [ -n "$(ls -A "$ROOT")" ]; then
		die "$ROOT exists, is not empty, and is not a Debian root"
	fi
	log "debootstrap --variant=minbase $SUITE into $ROOT (a few minutes)"
	t=$EPOCHREALTIME
	off=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
	if ! debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" "$DBS_SCRIPT" >>"$LOG" 2>&1; then
		tail -c +$((off + 1)) "$LOG" | tail -n 20 >&2
		die "debootstrap failed"
	fi
	log "debootstrap done in $(bc_sub "$EPOCHREALTIME" "$t")s"
fi

# --- 2. configuration (cheap, every run) -----------------------------------
echo "suite=$SUITE pg=$PGV" >"$MARKER"
# No service may start inside the root.
printf '#!/bin/sh\n# pg_runbook matrix root: never start services\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
# No default cluster: must be in place before postgresql-common is configured.
CC=$ROOT/etc/postgresql-common/createcluster.conf
mkdir -p "$(dirname "$CC")"
if [ ! -e "$CC" ]; then
	echo "create_main_cluster = false" >"$CC"
elif ! grep -qE '^[[:space:]]*create_main_cluster[[:space:]]*=[[:space:]]*false' "$CC"; then
	sed -i -E '/^[[:space:]]*#?[[:space:]]*create_main_cluster[[:space:]]*=/d' "$CC"
	echo "create_main_cluster = false" >>"$CC"
fi
# forky's Release file is older than apt accepts by default.
cat >"$ROOT/etc/apt/apt.conf.d/99pg-runbook-matrix" <<'EOF'
Acquire::Check-Valid-Until "false";
Acquire::Languages "none";
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
# Keep the root small: no documentation or message catalogs.
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/01-pg-runbook-matrix-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
# The host's name server may change between sessions.
rm -f "$ROOT/etc/resolv.conf"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"

# --- 3. packages --------------------------------------------------------------
missing=()
for p in "${PKGS[@]}"; do
	# shellcheck disable=SC2016
	st=$(in_root dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[ "${st:0:2}" = ii ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing: ${missing[*]}"
	t=$EPOCHREALTIME
	mount_all
	off=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
	# A subshell, not { }: a trap that runs meanwhile must not write into the log.
	(
		# (finishes what an interrupted earlier run left half-configured)
		in_root dpkg --configure -a &&
		in_root apt-get -o Acquire::Check-Valid-Until=false update &&
		in_root apt-get install -y --no-install-recommends \
			-o Acquire::Check-Valid-Until=false \
			-o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef \
			"${missing[@]}" &&
		in_root apt-get clean
	) >>"$LOG" 2>&1 || {
		tail -c +$((off + 1)) "$LOG" | tail -n 20 >&2
		rm -rf "$ROOT"/var/lib/apt/lists/*
		die "apt-get failed"
	}
	rm -rf "$ROOT"/var/lib/apt/lists/*
	unmount_all
	log "packages installed in $(bc_sub "$EPOCHREALTIME" "$t")s"
fi

# --- 4. the postgres OS user (initdb refuses root) -------------------------
if ! in_root getent passwd postgres >/dev/null; then
	log "creating the postgres user"
	in_root useradd --system --user-group --home-dir /var/lib/postgresql \
		--shell /bin/bash postgres
fi
mkdir -p "$ROOT/var/lib/postgresql"
in_root chown postgres:postgres /var/lib/postgresql
chmod 1777 "$ROOT/tmp"

# --- 5. check -------------------------------------------------------------
BIN=/usr/lib/postgresql/$PGV/bin
for f in postgres pg_config initdb pg_ctl psql; do
	[ -x "$ROOT$BIN/$f" ] || die "missing $BIN/$f in $ROOT"
done
if [ -n "$(ls -A "$ROOT/etc/postgresql/$PGV" 2>/dev/null)" ]; then
	log "WARNING: a cluster exists in $ROOT/etc/postgresql/$PGV (not made by this script?)"
fi
log "ready: $ROOT ($(in_root "$BIN/postgres" --version)); pg_config: $BIN/pg_config"
