#!/usr/bin/env bash
# The last row of issue 12's table: one store holding many citizens, consent
# records and audit entries, and what the big store costs.
#   tests/bench/scale.sh [CITIZENS RECORDS ENTRIES [SECONDS]]
# Builds the store through the library (audit_bench populate and fill: no
# HTTP), then measures, and prints one table:
#   - the build: time and disk of each part;
#   - audit verify: entries/s by the clock and per CPU second (the cores may
#     be shared: the CPU figure is what one core does);
#   - a citizen's slice (limit 50), in a fresh process and then of other
#     citizens (a server's case: the trees' upper levels mapped), a service +
#     day range (limit 100) and a service's whole day: median and p99 of 200
#     queries each (audit_bench query);
#   - userinfo on a server over that store: wrk (2 threads, 32 connections,
#     SECONDS, default 10) as fast as it goes, requests/s and p99; then at
#     issue 12's rate, CID_SCALE_RATE requests/s (default 10000), paced by
#     userinfo_rate.lua (wrk2, which corrects for a server that falls behind,
#     is not in Debian: the row says the rate reached);
#   - start to first served discovery with the big store (median of 5 starts).
# Defaults 10000 citizens, 100000 records, 1000000 entries: minutes. Issue
# 12's size (1000000 10000000 100000000) takes hours and hundreds of GB (the
# README's scale paragraph has the figures); the store is written under
# CID_SCALE_DIR (default a temporary directory, removed at the end unless
# CID_SCALE_KEEP=1). Not in CI. Builds the release preset.
# The build steps run with nosync.c preloaded (their syncs return at once:
# a store built to be measured needs none, and with them 1,000,000 citizens
# take hours on this disk); CID_SCALE_SYNC=1 builds with every sync.
# Nothing measured runs with it.
set -euo pipefail
cd "$(dirname "$0")/../.."

citizens=${1:-10000} records=${2:-100000} entries=${3:-1000000} secs=${4:-10}
for n in "$citizens" "$records" "$entries" "$secs"; do
	case $n in *[!0-9]* | '' | 0) echo "usage: tests/bench/scale.sh [CITIZENS RECORDS ENTRIES [SECONDS]] (positive numbers)" >&2; exit 2 ;; esac
done
for tool in wrk curl node python3; do
	command -v "$tool" >/dev/null || { echo "scale.sh: $tool is not installed (deploy/install-deps.sh test)" >&2; exit 2; }
done
cmake --preset release >/dev/null && cmake --build --preset release -j "$(nproc)" \
	--target civicid audit_bench bench_nosync >/dev/null
bin=build/release/server/civicid bench=build/release/tests/bench/audit_bench
build_env=(env) syncs=''
[ "${CID_SCALE_SYNC:-0}" = 1 ] ||
	{ build_env=(env LD_PRELOAD="$PWD/build/release/tests/bench/libbench_nosync.so"); syncs=', no syncs'; }
rate=${CID_SCALE_RATE:-10000}

load=$(cut -d' ' -f1-3 /proc/loadavg)
tmp=$(mktemp -d)
store=${CID_SCALE_DIR:-$tmp/store}
pid=''
cleanup() {
	[ -z "$pid" ] || kill "$pid" 2>/dev/null || true
	wait 2>/dev/null || true
	[ "${CID_SCALE_KEEP:-0}" = 1 ] || rm -rf "$store"
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$store"
[ -z "$(ls -A "$store")" ] || { echo "scale.sh: $store is not empty" >&2; exit 2; }
step() { echo "-- $*" >&2; }
fail() { echo "scale.sh: $*" >&2; exit 1; }
row() { printf '| %-44s | %s |\n' "$1" "$2" >>"$tmp/table"; }
disk() { du -sh "$store" | cut -f1; }
secs_since() { python3 -c "import time,sys; print(f'{time.time()-float(sys.argv[1]):.0f} s')" "$1"; }
now() { python3 -c 'import time; print(time.time())'; }

step "populate: $citizens citizens, $records consent records"
t=$(now)
"${build_env[@]}" "$bench" populate "$store" "$citizens" "$records" >&2
row "build: citizens and consent records$syncs" "$(secs_since "$t"), store $(disk)"
step "fill: $entries audit entries"
t=$(now)
"${build_env[@]}" "$bench" fill "$store" "$entries" "$citizens" >&2
row "build: audit entries$syncs" "$(secs_since "$t"), store $(disk)"

step "audit verify"
out=$("$bench" verify "$store") || fail "the store does not verify: $out"
echo "$out" >&2
row "audit verify (entries/s; per CPU second)" \
	"$(sed -E 's/.*: ([0-9]+) entries\/s \(([0-9.]+) s of CPU: ([0-9]+) entries per CPU second\)/\1; \3/' <<<"$out")"

step "queries"
out=$("$bench" query "$store" "$citizens")
echo "$out" >&2
p99() { sed -n "s/^$1: median \([0-9.]*\) ms, p99 \([0-9.]*\) ms (.*, \([0-9.]*\) rows each)/median \1 ms, p99 \2 ms (\3 rows)/p" <<<"$out"; }
row "citizen slice, limit 50, a fresh process" "$(p99 'citizen slice, a fresh process (limit 50)')"
row "citizen slice, limit 50, other citizens next" "$(p99 'citizen slice (limit 50)')"
row "service + one-day range, limit 100" "$(p99 'service + one-day range (limit 100)')"
row "a service's whole day" "$(p99 "a service's whole day (no limit)")"

# a server over the big store: a citizen, a service, the release policy run.sh uses
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
iss=http://127.0.0.1:$port
printf 'bench-password-1' | $bin user add bench --store "$store" --password-stdin \
	--claim given_name=Hanako --claim resident_district=Aoi >/dev/null
code=$($bin client add --store "$store" --json --client-id bench-rp --name bench-rp --redirect-uri http://127.0.0.1:9/cb --scope "openid profile city")
mkdir -p "$tmp/policies"
printf '%s\n' 'service bench-rp' 'name.ja bench' 'name.en bench' 'purpose bench' \
	'text.ja ベンチマーク' 'text.en benchmark' 'basis statute bench act, art. 1' 'retention 1d' \
	'permit given_name' 'permit resident_district' >"$tmp/policies/bench-rp.policy"
jf() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
rp_id=$(jf client_id <<<"$code") rp_secret=$(jf client_secret <<<"$code")
serve=("$bin" serve --store "$store" --port "$port" --issuer "$iss" --policies "$tmp/policies")

step "start to first discovery (5 starts)"
out=$(node tests/bench/first_discovery.mjs 5 "$iss/.well-known/openid-configuration" "${serve[@]}" 2>"$tmp/starts.log") ||
	{ cat "$tmp/starts.log" >&2; fail "the server did not start"; }
row "start to first discovery (median of 5)" "$(sed -n 's/^ms=\([0-9.]*\).*/\1 ms/p' <<<"$out")"

"${serve[@]}" >"$tmp/civicid.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q listening "$tmp/civicid.log" && break; sleep 0.1; done
grep -q listening "$tmp/civicid.log" || { cat "$tmp/civicid.log" >&2; fail "civicid serve did not start"; }
jar=$tmp/jar
page=$(curl -s -c "$jar" -b "$jar" "$iss/authorize?response_type=code&client_id=$rp_id&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=openid%20profile%20city")
req=$(sed -n '/name="req"/{s/.*name="req" value="\([^"]*\)".*/\1/p;q}' <<<"$page")
csrf=$(sed -n '/name="csrf"/{s/.*name="csrf" value="\([^"]*\)".*/\1/p;q}' <<<"$page")
loc=$(curl -s -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" \
	--data-urlencode "req=$req" --data-urlencode "csrf=$csrf" \
	--data-urlencode username=bench --data-urlencode password=bench-password-1 "$iss/login")
authcode=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$loc")
[ -n "$authcode" ] || fail "the login form gave no code (redirect: $loc)"
token=$(curl -s -u "$rp_id:$rp_secret" -d grant_type=authorization_code -d "code=$authcode" \
	--data-urlencode redirect_uri=http://127.0.0.1:9/cb "$iss/token" | jf access_token)
curl -sf -H "Authorization: Bearer $token" "$iss/userinfo" | grep -q resident_district ||
	fail "userinfo does not release resident_district"
userinfo_row() { # userinfo_row ROW LUA [VAR=VALUE...]: one wrk run of userinfo into the table
	local label=$1 lua=$2 out line
	shift 2
	step "$label, wrk ${secs} s"
	out=$(env CID_TOKEN="$token" "$@" wrk -t2 -c32 -d"${secs}s" --latency -s "tests/bench/$lua" "$iss/userinfo" 2>&1) || true
	line=$(grep '^wrk: ' <<<"$out") || { echo "$out" >&2; fail "wrk printed no result"; }
	row "$label" \
		"$(sed -E 's/^wrk: requests=[0-9]+ rps=([0-9.]+) p50_ms=[0-9.]+ p99_ms=([0-9.]+) failed=([0-9]+).*/\1\/s, p99 \2 ms, \3 failed/' <<<"$line")"
}
userinfo_row "userinfo, wrk -t2 -c32 (requests/s, p99)" userinfo.lua
userinfo_row "userinfo at $rate/s asked (reached, p99)" userinfo_rate.lua CID_RATE="$rate" CID_THREADS=2
kill "$pid"
wait "$pid" || true
pid=''
row "store on disk at the end" "$(disk)"

echo "== scale: $citizens citizens, $records consent records, $entries audit entries; civicid $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "== $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), Linux $(uname -r), store on $(findmnt -n -o FSTYPE -T "$store" 2>/dev/null || echo '?'); $(date -u '+%Y-%m-%d %H:%M UTC'), load average before the run $load"
echo
printf '| %-44s | %s |\n|%s|%s|\n' measure value "$(printf -- '-%.0s' $(seq 46))" "---" 
cat "$tmp/table"
