#!/usr/bin/env bash
# Installs the Debian packages that build, test, demo and bench need, if any
# is missing.  Needs root (or sudo).  Never creates a default cluster.
set -euo pipefail
PGV=${PG_RUNBOOK_PGVERSION:-15}
pkgs=(make gcc libc6-dev perl libipc-run-perl
      "postgresql-$PGV" "postgresql-server-dev-$PGV" "postgresql-client-$PGV"
      check-postgres util-linux procps)
# The fleet tests (sql_tests/t/6xx) run the real Prometheus programs; on the
# host's Debian 12 only (the matrix roots skip those tests).
[ "$PGV" = 15 ] && pkgs+=(prometheus prometheus-postgres-exporter)
missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "== installing: ${missing[*]}"
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
	$SUDO mkdir -p /etc/postgresql-common
	echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
echo "== installed"
