#!/usr/bin/env bash
# The many-tenants benchmark (issue 14): N municipalities (default 1,741, the
# national worst case) in one store and one process. Prints:
#   add          how long `civicid tenant add` took for all N
#   first        start to first served discovery of a tenant (median of 5
#                starts, first_discovery.mjs); the tenant is opened by that
#                request, its keys made on the first start
#   idle         resident memory of the started server with N tenants and with
#                one, and the difference per idle tenant (nothing is opened
#                before its first request)
#   opened       resident memory after the first request of 60 tenants, per
#                opened tenant: anonymous (the heap) and mapped apart (the
#                stores' data pages and lock files); then of CID_BENCH_OPEN
#                tenants (default all N), the files the process holds, and the
#                CPU it spends idle in 10 s (the background work looping over
#                the opened tenants)
#   lookup       discovery requests per second (wrk, 1 thread, 8 connections;
#                the median of 3 runs) of one opened tenant with 2 tenants
#                open, with 60 and with CID_BENCH_OPEN
#   heap         tenant_heap (beside the binary, in the build's tests/bench;
#                CID_TENANT_HEAP names another) on the same store, the server
#                stopped: the tenants opened again in a process of one thread,
#                per tenant its resident heap, mapped pages and allocated bytes
# Not a test: it never fails on speed. Use the release build for figures:
#   cmake --preset release && cmake --build --preset release --target civicid tenant_heap
#   CIVICID_BIN=build/release/server/civicid bash tests/bench/tenants.sh [N]
set -euo pipefail

n=${1:-1741}
bin=${CIVICID_BIN:?set CIVICID_BIN to the civicid binary}
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
here=$(cd "$(dirname "$0")" && pwd)
secs=${CID_BENCH_SECONDS:-5}
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

name() { printf 't%04d' "$1"; }

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# makes store $1 with tenants 1..$2 (policies: empty directories)
make_store() {
	mkdir -p "$1/policies"
	for i in $(seq 1 "$2"); do
		mkdir -p "$1/policies/$(name "$i")"
		"$bin" tenant add "$(name "$i")" --store "$1/store" --name-en "Town $i" >/dev/null
	done
}

# starts the server on store $1 (port in $port), waits for its line; pid in $pid
start() {
	port=$(free_port)
	"$bin" serve --store "$1/store" --policies "$1/policies" --port "$port" \
		--issuer "http://127.0.0.1:$port" --web-dir "$here/../../web" >"$tmp/serve.out" 2>>"$tmp/serve.err" &
	pid=$!
	for _ in $(seq 1 200); do
		grep -q "listening" "$tmp/serve.out" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "tenants.sh: the server did not start" >&2
	cat "$tmp/serve.err" >&2
	exit 1
}

stop() {
	kill "$pid"
	wait "$pid" || true
	pid=
}

rss_kib() { sed -n 's/^VmRSS:\s*\([0-9]*\) kB/\1/p' "/proc/$pid/status"; }
anon_kib() { sed -n 's/^RssAnon:\s*\([0-9]*\) kB/\1/p' "/proc/$pid/status"; }
mapped_kib() { awk '/^Rss(File|Shmem):/ { k += $2 } END { print k }' "/proc/$pid/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

discover() { # tenant index
	if ! curl -fsS -o /dev/null "http://127.0.0.1:$port/t/$(name "$1")/.well-known/openid-configuration"; then
		echo "tenants.sh: tenant $1 not served; the server said:" >&2
		tail -20 "$tmp/serve.err" >&2
		exit 1
	fi
}

lookup_rps() { # tenant index; the median of 3 runs
	for _ in 1 2 3; do
		wrk -t1 -c8 -d"${secs}s" "http://127.0.0.1:$port/t/$(name "$1")/.well-known/openid-configuration" |
			sed -n 's/^Requests\/sec:\s*\([0-9.]*\)/\1/p'
	done | sort -n | sed -n 2p
}

t0=$(date +%s.%N)
make_store "$tmp/many" "$n"
t1=$(date +%s.%N)
make_store "$tmp/one" 2
echo "add: $n tenants in $(echo "$t1 - $t0" | bc) s"

mid=$(((n + 1) / 2))
port=$(free_port)
first=$(node "$here/first_discovery.mjs" 5 \
	"http://127.0.0.1:$port/t/$(name "$mid")/.well-known/openid-configuration" \
	"$bin" serve --store "$tmp/many/store" --policies "$tmp/many/policies" --port "$port" \
	--issuer "http://127.0.0.1:$port" --web-dir "$here/../../web" 2>>"$tmp/first.err")
echo "first: start to first served discovery of tenant $mid of $n: $first"

start "$tmp/one"
sleep 0.5
rss_one=$(rss_kib)
discover 1
discover 2
rps_two=$(lookup_rps 1)
stop

start "$tmp/many"
sleep 0.5
rss_many=$(rss_kib)
echo "idle: RSS at start with $n tenants ${rss_many} KiB, with 2 ${rss_one} KiB:" \
	"$(echo "scale=2; ($rss_many - $rss_one) * 1024 / ($n - 2)" | bc) bytes per idle tenant"
anon_many=$(anon_kib)
mapped_many=$(mapped_kib)
some=$((n < 60 ? n : 60))
for i in $(seq 1 "$some"); do discover "$i"; done
rss_60=$(rss_kib)
anon_60=$(anon_kib)
mapped_60=$(mapped_kib)
echo "opened: $some tenants: RSS ${rss_60} KiB, $(echo "($rss_60 - $rss_many) / $some" | bc) KiB per opened" \
	"tenant: anonymous $(echo "($anon_60 - $anon_many) / $some" | bc) KiB, mapped $(echo "($mapped_60 - $mapped_many) / $some" | bc) KiB"
rps_60=$(lookup_rps 1)
open=${CID_BENCH_OPEN:-$n}
for i in $(seq $((some + 1)) "$open"); do discover "$i"; done
rss_all=$(rss_kib)
anon_all=$(anon_kib)
mapped_all=$(mapped_kib)
c0=$(cpu_ticks)
sleep 10
c1=$(cpu_ticks)
echo "opened: $open of $n: RSS ${rss_all} KiB, $(echo "($rss_all - $rss_many) / $open" | bc) KiB per opened tenant:" \
	"anonymous $(echo "($anon_all - $anon_many) / $open" | bc) KiB, mapped $(echo "($mapped_all - $mapped_many) / $open" | bc) KiB;" \
	"$(ls "/proc/$pid/fd" | wc -l) open files; idle CPU $(echo "scale=1; ($c1 - $c0) * 100 / $(getconf CLK_TCK) / 10" | bc) % of a core"
rps_many=$(lookup_rps 1)
echo "lookup: discovery of one tenant, wrk 1 thread 8 connections ${secs} s, median of 3: ${rps_two} req/s with 2 tenants open," \
	"${rps_60} with $some open, ${rps_many} with $open open"
stop

heap=${CID_TENANT_HEAP:-$(dirname "$bin")/../tests/bench/tenant_heap}
if [ -x "$heap" ]; then
	"$heap" "$tmp/many" "$open"
else
	echo "heap: no tenant_heap at $heap (build its target, or set CID_TENANT_HEAP)"
fi
