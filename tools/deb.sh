#!/usr/bin/env bash
# `make deb`: builds the Debian package(s) postgresql-NN-pg-runbook with
# postgresql-common's pg_buildext (debian/), one per version of
# debian/pgversions installed here, into build/deb/; then installs the
# package into a clean Debian root (a copy of a cached bookworm root that
# has postgresql-15 and nothing of pg_runbook), starts a server there with
# the library preloaded, and checks that CREATE EXTENSION works and a
# function answers.  Needs root (apt, chroot, mount).
#
#   DEB_SKIP_INSTALL_TEST=1 make deb     build only
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=$SRC/build/deb
die() { echo "deb: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (apt-get, chroot)"

need=(debhelper postgresql-server-dev-all dpkg-dev debootstrap)
missing=()
for p in "${need[@]}"; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get failed"
fi

extversion=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SRC/pg_runbook.control")
debversion=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
[ "$extversion" = "$debversion" ] || die "debian/changelog is at $debversion but pg_runbook.control at $extversion"
metaversion=$(sed -nE 's/^   "version": "([0-9.]+)",?$/\1/p' "$SRC/META.json" | head -1)
[ "$metaversion" = "$extversion.0" ] || die "META.json is at $metaversion but pg_runbook.control at $extversion"

# ---- build, in a clean copy of the tree ----------------------------------
rm -rf "$OUT"; mkdir -p "$OUT"
B=$OUT/pg-runbook-$debversion
mkdir -p "$B"
(cd "$SRC" && tar --exclude=./build --exclude=./.git --exclude='*.o' --exclude='*.so' \
	--exclude='./pg_runbook--*.sql' -cf - .) | (cd "$B" && tar -xf -)
echo "== building in $B"
t0=$EPOCHREALTIME
(cd "$B" && pg_buildext updatecontrol && dpkg-buildpackage -us -uc -b) >"$OUT/build.log" 2>&1 || {
	tail -40 "$OUT/build.log"; die "dpkg-buildpackage failed (log: $OUT/build.log)"; }
debs=("$OUT"/postgresql-*-pg-runbook_"$debversion"_*.deb)
[ -f "${debs[0]}" ] || die "no package was built"
for d in "${debs[@]}"; do
	echo "built $(basename "$d") in $(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{printf "%.0f", a-b}') s:"
	dpkg-deb -c "$d" | awk '{print "  " $6}' | grep -E 'pg_runbook(\.so|\.control|--)' | sort
done

[ "${DEB_SKIP_INSTALL_TEST:-0}" = 1 ] && exit 0

# ---- install test in a clean root ---------------------------------------
deb15=$(ls "$OUT"/postgresql-15-pg-runbook_*.deb 2>/dev/null | head -1)
[ -n "$deb15" ] || die "no postgresql-15 package to test"
CACHE=${PG_RUNBOOK_MATRIX_CACHE:-/var/cache/pg_runbook-matrix}
"$SRC/tools/matrix-root.sh" 15 "$CACHE/pg15" || die "could not make the bookworm root"
R=$(mktemp -d /var/tmp/pg_runbook-deb-root.XXXXXX)
cleanup() {
	local m
	for m in $(awk -v r="$R/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	# stop a server left running in the copy (its processes' root is $R)
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && kill -9 "${p#/proc/}" 2>/dev/null
	done
	rm -rf "$R"
}
trap cleanup EXIT
echo "== clean root: a copy of $CACHE/pg15 in $R"
cp -a "$CACHE/pg15/." "$R/" || die "copy failed"
[ ! -e "$R/usr/lib/postgresql/15/lib/pg_runbook.so" ] || die "the base root already has pg_runbook"
mount -t proc proc "$R/proc"
for d in /dev /dev/shm; do mount --bind "$d" "$R$d"; mount --make-private "$R$d"; done
inr() { chroot "$R" /usr/bin/env -i PATH=/usr/lib/postgresql/15/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp LC_ALL=C.UTF-8 "$@"; }
cp "$deb15" "$R/tmp/"
# As a user would: apt resolves the package's dependencies from Debian 12
# with its updates (the package requires the server it was built against,
# which may be newer than the root's).
cat >"$R/etc/apt/sources.list.d/updates.list" <<SRC
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SRC
cp -L /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null
{ inr env DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Check-Valid-Until=false update -qq &&
  inr env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "/tmp/$(basename "$deb15")"; } \
	>"$OUT/install.log" 2>&1 || { tail -30 "$OUT/install.log"; die "apt-get install of the package failed"; }
echo "installed $(basename "$deb15") into the clean root"
inr runuser -u postgres -- initdb -D /tmp/pgdata -A trust -E UTF8 >/dev/null || die "initdb failed"
echo "shared_preload_libraries = 'pg_runbook'" >>"$R/tmp/pgdata/postgresql.conf"
echo "unix_socket_directories = '/tmp'" >>"$R/tmp/pgdata/postgresql.conf"
echo "listen_addresses = ''" >>"$R/tmp/pgdata/postgresql.conf"
inr runuser -u postgres -- pg_ctl -D /tmp/pgdata -l /tmp/server.log -w start >/dev/null || { cat "$R/tmp/server.log"; die "the server did not start"; }
q() { inr runuser -u postgres -- psql -h /tmp -X -At -v ON_ERROR_STOP=1 -d postgres -c "$1"; }
rc=0
q 'CREATE EXTENSION pg_runbook' >/dev/null || rc=1
v=$(q "SELECT extversion FROM pg_extension WHERE extname = 'pg_runbook'")
n=$(q "SELECT count(*) FROM runbook.sessions WHERE pid = pg_backend_pid()")
w=$(q "SELECT running FROM runbook.worker_status()")
inr runuser -u postgres -- pg_ctl -D /tmp/pgdata -m fast -w stop >/dev/null
echo "package install test: extversion=$v, runbook.sessions sees the caller=$n, worker running=$w"
if [ $rc = 0 ] && [ "$v" = "$extversion" ] && [ "$n" = 1 ] && [ "$w" = t ]; then
	echo "deb: PASS ($(basename "$deb15") installs into a clean Debian 12 root; CREATE EXTENSION and runbook.sessions answer; the worker runs)"
else
	echo "deb: FAIL"; exit 1
fi
