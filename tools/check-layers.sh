#!/usr/bin/env bash
# `make check-layers` (tools/run-tests.sh runs it after the build): the
# dependency graph of the C modules, read from the objects, must have no
# circle; and the module rules of ARCHITECTURE.md hold.
#   tools/check-layers.sh [-v] [src/*.o ...]     (default: src/*.o)
#
# A module (src/x.c -> src/x.o) depends on another when it uses a symbol
# (function or global variable) the other defines: `nm -u` of the one,
# `nm --defined-only` of the other.  Layer 0 is the modules that use
# nothing of ours; a module's layer is one above the highest layer it uses.
# A module that is in, or depends on, a circle gets no layer: the script
# prints one circle with the symbols of each step and fails.  -v prints
# every edge with its symbols.
#
# Rules, checked on the symbols each object uses from PostgreSQL:
#   only snapshot.o and lockshot.o read PGPROC      (ProcGlobal, BackendPidGetProc, ...)
#   only lockshot.o reads the lock manager          (GetLockStatusData, ...)
#   only remedy.o signals                           (kill, SendProcSignal, ...)
set -u
cd "$(dirname "$0")/.."
VERBOSE=0
[ "${1:-}" = -v ] && { VERBOSE=1; shift; }
if [ $# -gt 0 ]; then OBJS=("$@"); else OBJS=(src/*.o); fi
[ -e "${OBJS[0]}" ] || { echo "check-layers: no objects (run make first)" >&2; exit 2; }

TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
for o in "${OBJS[@]}"; do
	m=$(basename "$o" .o)
	nm -g --defined-only "$o" | awk -v m="$m" 'NF >= 3 {print $3, m}'
done | sort -k1,1 > "$TMP/defs"
for o in "${OBJS[@]}"; do
	m=$(basename "$o" .o)
	nm -u "$o" | awk -v m="$m" '{print $NF, m}'
done | sort -k1,1 > "$TMP/uses"
printf '%s\n' "${OBJS[@]}" | xargs -n1 basename | sed 's/\.o$//' | sort > "$TMP/mods"

# edges: "user definer symbol"
join "$TMP/uses" "$TMP/defs" | awk '$2 != $3 {print $2, $3, $1}' | sort > "$TMP/edges"

rc=0
awk -v verbose=$VERBOSE '
FILENAME == ARGV[1] { mods[$1] = 1; nmods++; next }
{
	k = $1 SUBSEP $2
	if (!(k in syms)) { deps[$1] = deps[$1] " " $2; syms[k] = $3 }
	else if (length(syms[k]) < 60) syms[k] = syms[k] " " $3
	else if (syms[k] !~ /\.\.\.$/) syms[k] = syms[k] " ..."
}
END {
	# layers: repeat until nothing changes
	do {
		changed = 0
		for (m in mods) {
			if (m in layer) continue
			n = split(deps[m], d, " "); top = -1; ok = 1
			for (i = 1; i <= n; i++) {
				if (!(d[i] in layer)) { ok = 0; break }
				if (layer[d[i]] > top) top = layer[d[i]]
			}
			if (ok) { layer[m] = top + 1; changed = 1; if (top + 1 > maxl) maxl = top + 1 }
		}
	} while (changed)

	for (l = 0; l <= maxl; l++) {
		line = ""
		# modules of the layer, sorted
		cnt = 0
		for (m in mods) if ((m in layer) && layer[m] == l) list[++cnt] = m
		for (i = 2; i <= cnt; i++) { x = list[i]; for (j = i - 1; j >= 1 && list[j] > x; j--) list[j + 1] = list[j]; list[j + 1] = x }
		printf "layer %d:", l
		for (i = 1; i <= cnt; i++) {
			n = split(deps[list[i]], d, " ")
			for (a = 2; a <= n; a++) { x = d[a]; for (b = a - 1; b >= 1 && d[b] > x; b--) d[b + 1] = d[b]; d[b + 1] = x }
			s = ""
			for (a = 1; a <= n; a++) s = s (a > 1 ? " " : "") d[a]
			printf " %s%s", list[i], (n ? "(" s ")" : "")
		}
		printf "\n"
	}
	if (verbose)
		for (k in syms) { split(k, p, SUBSEP); print "  " p[1] " -> " p[2] ": " syms[k] | "sort" }
	close("sort")

	# circles: walk from a module without a layer along deps without a layer
	bad = 0
	for (m in mods) if (!(m in layer)) bad++
	if (bad == 0) { printf "check-layers: %d modules in %d layers, no circle\n", nmods, maxl + 1; exit 0 }
	for (m in mods) if (!(m in layer)) { start = m; break }
	cur = start; steps = 0
	while (!(cur in seen)) {
		seen[cur] = ++steps; path[steps] = cur
		n = split(deps[cur], d, " "); nxt = ""
		for (i = 1; i <= n; i++) if (!(d[i] in layer)) { nxt = d[i]; break }
		cur = nxt
	}
	printf "check-layers: FAILED: %d module(s) in or above a circle; one circle:\n", bad
	for (i = seen[cur]; i <= steps; i++) {
		nx = (i < steps) ? path[i + 1] : cur
		printf "  %s -> %s: %s\n", path[i], nx, syms[path[i] SUBSEP nx]
	}
	exit 1
}' "$TMP/mods" "$TMP/edges" || rc=1

# rules: PostgreSQL symbols only some modules may use
rule() {	# rule "<allowed modules>" "<what>" sym...
	local allowed=" $1 " what=$2; shift 2
	local s users
	for s in "$@"; do
		users=$(awk -v s="$s" '$1 == s {print $2}' "$TMP/uses" | sort -u)
		for u in $users; do
			case "$allowed" in *" $u "*) ;; *)
				echo "check-layers: FAILED: $u uses $s: only$allowed$what"; rc=1 ;;
			esac
		done
	done
}
rule "snapshot lockshot" "read PGPROC" \
	ProcGlobal BackendPidGetProc AuxiliaryPidGetProc BackendPidGetProcWithLock \
	ProcNumberGetProc
rule "snapshot" "read backend status" \
	pgstat_get_beentry pgstat_fetch_stat_beentry pgstat_fetch_stat_local_beentry \
	pgstat_get_local_beentry_by_index pgstat_fetch_stat_numbackends \
	pgstat_clip_activity
rule "lockshot" "read the lock manager" \
	GetLockStatusData GetBlockerStatusData GetLockConflicts LockTagHashCode \
	SHMQueueNext
rule "remedy" "signal" \
	kill SendProcSignal pg_signal_backend pg_terminate_backend pg_cancel_backend
[ $rc -eq 0 ] && echo "check-layers: rules hold (PGPROC: snapshot lockshot; backend status: snapshot; lock manager: lockshot; signals: remedy)"
exit $rc
