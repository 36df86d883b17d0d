#!/usr/bin/env bash
# Builds, or finds in its cache, an assert-enabled PostgreSQL 15 for
# `make test-cassert`, `make test-valgrind` and `make fuzz`:
#
#   tools/cassert-build.sh          (needs root, or sudo, on the first run)
#
# prints the path of the build's pg_config on stdout (progress on stderr).
#
# - Source: Debian's source package of postgresql-15 (bookworm), fetched
#   with `apt-get source --download-only`; a deb-src entry for bookworm is
#   added under /etc/apt/sources.list.d/ when apt has none.  The newest
#   version apt-cache showsrc offers is tried first, then older ones (the
#   security suite's newest source may 404 on the mirror).
# - Built from the pristine upstream tarball (*.orig.tar.*), without Debian's
#   patches: debian/patches/50-per-version-dirs.patch hard-codes the
#   library and PGXS directories to the system's (/usr/lib/postgresql/15),
#   so a patched `make install` would overwrite the system server's modules
#   whatever --prefix says.  After the install the script checks that the
#   build's pg_config reports directories under its own prefix and that the
#   system's /usr/lib/postgresql/15 and /usr/share/postgresql/15 are
#   unchanged.
# - configure --enable-cassert --enable-debug --enable-tap-tests,
#   CFLAGS='-O1 -g -DUSE_VALGRIND' (one build for assertions and valgrind;
#   USE_VALGRIND only adds valgrind client requests, a few per cent when not
#   under valgrind), plus the contrib modules the suites use and what PGXS
#   and the TAP tests need (lib/pgxs with pg_regress, pg_isolation_regress,
#   isolationtester, src/test/perl).
# - Cache: $PG_RUNBOOK_CASSERT_CACHE (default /var/cache/pg_runbook-cassert),
#   one directory per source version: VERSION/install is the prefix,
#   VERSION/src the unpacked source (valgrind.supp is read from there),
#   VERSION/build.log the build's output.  VERSION/.complete is written at
#   the very end: a cache without it is rebuilt from scratch.  A complete
#   build is used as is, without calling apt (PG_RUNBOOK_CASSERT_VERSION
#   picks one version when several are cached).
# Nothing of the source version is ever mixed with the system's server
# (15.18 source vs 15.20 packages): the callers use only this prefix.
set -euo pipefail

CACHE=${PG_RUNBOOK_CASSERT_CACHE:-/var/cache/pg_runbook-cassert}
PKG=postgresql-15
# the contrib modules the suites use (test_decoding: TAP 510), and two more
# that help to look at pages when a test fails
CONTRIB=${PG_RUNBOOK_CASSERT_CONTRIB:-"pg_stat_statements pgstattuple amcheck test_decoding dblink pageinspect pg_buffercache"}
JOBS=${PG_RUNBOOK_CASSERT_JOBS:-2}
SRCLIST=/etc/apt/sources.list.d/pg_runbook-cassert-src.sources

T0=$EPOCHREALTIME
log() { printf '[cassert-build %6.1fs] %s\n' "$(awk -v a="$EPOCHREALTIME" -v b="$T0" 'BEGIN { printf "%.1f", a - b }')" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# A complete cached build (with every contrib module of the list): print its
# pg_config and stop.
complete() {
	local d=$1 m lib
	[ -f "$d/.complete" ] && [ -x "$d/install/bin/pg_config" ] || return 1
	lib=$("$d/install/bin/pg_config" --pkglibdir)
	for m in $CONTRIB; do
		[ -e "$lib/$m.so" ] || return 1
	done
}
cached() {
	local d
	if [ -n "${PG_RUNBOOK_CASSERT_VERSION:-}" ]; then
		d=$CACHE/$PG_RUNBOOK_CASSERT_VERSION
		complete "$d" && { echo "$d/install/bin/pg_config"; return 0; }
		return 1
	fi
	for d in $(ls -d "$CACHE"/*/ 2>/dev/null | sed 's:/$::' | sort -Vr); do
		complete "$d" && { echo "$d/install/bin/pg_config"; return 0; }
	done
	return 1
}
cached && exit 0

if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || die "the first build needs root (apt-get, $CACHE)"
	log "re-running with sudo (apt-get, $CACHE)"
	exec sudo -E "$0" "$@"
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -w 3600 9 || die "$CACHE/.lock is held by another build"
cached && exit 0                  # built by the run we waited for

# A complete build that lacks contrib modules added to the list since: build
# and install just those in its configured source tree.
for d in $(ls -d "$CACHE"/*/ 2>/dev/null | sed 's:/$::' | sort -Vr); do
	[ -f "$d/.complete" ] && [ -f "$d/src/config.status" ] || continue
	[ -z "${PG_RUNBOOK_CASSERT_VERSION:-}" ] || [ "$d" = "$CACHE/$PG_RUNBOOK_CASSERT_VERSION" ] || continue
	for m in $CONTRIB; do
		[ -e "$("$d/install/bin/pg_config" --pkglibdir)/$m.so" ] && continue
		log "adding contrib/$m to $d"
		{ make -C "$d/src/contrib/$m" && make -C "$d/src/contrib/$m" install; } >>"$d/build.log" 2>&1 ||
			die "contrib/$m failed (see $d/build.log)"
		# (a changed stamp makes the callers copy the installation again)
		echo "+contrib/$m $(date -u +%FT%TZ)" >>"$d/.complete"
	done
	chmod -R a+rX "$d/install"
	cached && exit 0
done

export DEBIAN_FRONTEND=noninteractive
# --- packages -------------------------------------------------------------
DEPS=(bison flex libreadline-dev zlib1g-dev libssl-dev libxml2-dev libicu-dev
      pkg-config perl libipc-run-perl dpkg-dev valgrind make gcc libc6-dev
      bzip2 xz-utils)
missing=()
for p in "${DEPS[@]}"; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
updated=
if [ ${#missing[@]} -gt 0 ]; then
	log "installing: ${missing[*]}"
	apt-get update -qq
	updated=1
	apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- deb-src --------------------------------------------------------------
has_src() { [ -n "$(apt-cache showsrc "$PKG" 2>/dev/null | sed -n 's/^Version: //p')" ]; }
if ! has_src && [ -z "$updated" ]; then
	apt-get update -qq
fi
if ! has_src; then
	log "adding $SRCLIST (deb-src bookworm)"
	cat >"$SRCLIST" <<-EOF
	# added by pg_runbook tools/cassert-build.sh: sources of postgresql-15
	Types: deb-src
	URIs: http://deb.debian.org/debian
	Suites: bookworm bookworm-updates
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	apt-get update -qq
	has_src || die "apt-cache showsrc $PKG finds no source (check the deb-src entries)"
fi

# --- source: newest version that downloads --------------------------------
DL=$CACHE/download
rm -rf "$DL"; mkdir -p "$DL"
VER=
for v in $(apt-cache showsrc "$PKG" | sed -n 's/^Version: //p' | sort -uVr); do
	log "apt-get source --download-only $PKG=$v"
	if (cd "$DL" && apt-get source -qq --download-only "$PKG=$v") >"$DL/apt-$v.log" 2>&1; then
		VER=$v; break
	fi
	log "  $v does not download: $(grep -E 'E: |Err' "$DL/apt-$v.log" | head -1)"
	rm -f "$DL"/*.tar.* "$DL"/*.dsc
done
[ -n "$VER" ] || die "no version of $PKG could be downloaded"
UPV=${VER%%-*}                    # 15.18-0+deb12u1 -> 15.18
DIR=$CACHE/$UPV
PREFIX=$DIR/install
LOG=$DIR/build.log
ORIG=$(ls "$DL"/${PKG}_"$UPV".orig.tar.* 2>/dev/null | head -1)
[ -n "$ORIG" ] || die "no upstream tarball in $DL"

log "building PostgreSQL $UPV (source package $VER) into $PREFIX; output in $LOG"
rm -rf "$DIR"; mkdir -p "$DIR"
mv "$DL"/* "$DIR"/ && rmdir "$DL"
mkdir -p "$DIR/src"
tar -xf "$DIR/$(basename "$ORIG")" -C "$DIR/src" --strip-components=1
# The pristine tarball has no debian/ directory and no patch applied.
[ ! -e "$DIR/src/debian" ] || die "unexpected debian/ in the upstream tarball"
grep -q "^pkglibdir = \$(libdir)" "$DIR/src/src/Makefile.global.in" ||
	die "src/Makefile.global.in is not upstream's (a Debian patch applied?)"

# What must not change: the system server's files.  dpkg --verify compares
# them with the packages' checksums (an overwritten module or PGXS file
# shows); files created during our install with names of files we install
# would be the patch's copies.
SYS_PKGS=$(dpkg-query -W -f='${Package} ${Status}\n' postgresql-15 postgresql-client-15 \
	postgresql-server-dev-15 2>/dev/null | awk '/install ok installed/ { print $1 }')
sys_verify() { [ -z "$SYS_PKGS" ] || dpkg --verify $SYS_PKGS; }
sys_verify >"$DIR/dpkg-verify.before" 2>&1 || true

cd "$DIR/src"
{
	set -x
	./configure --prefix="$PREFIX" --enable-cassert --enable-debug --enable-tap-tests \
		--with-openssl --with-libxml --with-icu --without-llvm \
		CFLAGS='-O1 -g -DUSE_VALGRIND'
	make -j"$JOBS"
	for m in $CONTRIB; do make -j"$JOBS" -C "contrib/$m"; done
	touch "$DIR/.install-start"
	make install
	for m in $CONTRIB; do make -C "contrib/$m" install; done
	set +x
} >"$LOG" 2>&1 || { tail -30 "$LOG" >&2; die "build failed (see $LOG)"; }

# --- checks ---------------------------------------------------------------
PGC=$PREFIX/bin/pg_config
for opt in --bindir --pkglibdir --sharedir --includedir-server --pgxs; do
	p=$("$PGC" $opt)
	case $p in "$PREFIX"/*) ;; *) die "pg_config $opt is $p, outside $PREFIX" ;; esac
done
sys_verify >"$DIR/dpkg-verify.after" 2>&1 || true
cmp -s "$DIR/dpkg-verify.before" "$DIR/dpkg-verify.after" ||
	{ cat "$DIR/dpkg-verify.after" >&2; die "files of the system's PostgreSQL packages changed during the build (dpkg --verify)"; }
new=$(find /usr/lib/postgresql/15 /usr/share/postgresql/15 -type f -newer "$DIR/.install-start" -printf '%f\n' 2>/dev/null | sort -u)
ours=$(find "$PREFIX" -type f -printf '%f\n' | sort -u)
clash=$(comm -12 <(echo "$new") <(echo "$ours") | grep -v '^$' || true)
[ -z "$clash" ] || die "files named like this build's appeared in the system's directories: $(echo $clash | head -c 300)"
"$PGC" --configure | grep -q -- --enable-cassert || die "not an --enable-cassert build"
PGXSD=$(dirname "$("$PGC" --pgxs)")/../..
for f in "$("$PGC" --pgxs)" "$PGXSD"/src/test/regress/pg_regress \
         "$PGXSD"/src/test/isolation/pg_isolation_regress \
         "$PGXSD"/src/test/isolation/isolationtester \
         "$PGXSD"/src/test/perl/PostgreSQL/Test/Cluster.pm; do
	[ -e "$f" ] || die "missing after install: $f"
done
# (test_decoding is an output plugin: a library without a control file)
for m in $CONTRIB; do
	[ -e "$("$PGC" --pkglibdir)/$m.so" ] || die "contrib $m not installed"
done
chmod -R a+rX "$DIR"
echo "$VER $(date -u +%FT%TZ) $(awk -v a="$EPOCHREALTIME" -v b="$T0" 'BEGIN { printf "%.0f", a - b }')s" >"$DIR/.complete"
log "done: $("$PGC" --version), pg_config $PGC"
echo "$PGC"
