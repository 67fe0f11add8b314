#!/usr/bin/env bash
# Benchmarks civicid on loopback with wrk: client_credentials issuance,
# userinfo, discovery. Builds the release preset, starts a fresh server with
# its own store, obtains a citizen's access token through the real login
# form (curl), and prints wrk's figures. Usage: tests/bench/run.sh [seconds]
# The server runs with CIVICID_BENCH_THREADS HTTP threads (default 64, the
# default of the threads setting); audited userinfo runs with group commit and
# then with one commit per request.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cmake --preset release >/dev/null && cmake --build --preset release -j "$(nproc)" >/dev/null
bin=build/release/server/civicid
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
iss=http://127.0.0.1:$port
store=$tmp/store

printf 'bench-password-1' | $bin user add bench --store "$store" --password-stdin \
	--claim given_name=Hanako --claim resident_district=Aoi >/dev/null
cc=$($bin client add --store "$store" --json --name bench-cc --grant-types client_credentials --scope city)
code=$($bin client add --store "$store" --json --client-id bench-rp --name bench-rp --redirect-uri http://127.0.0.1:9/cb --scope "openid profile city")
# the release policy userinfo decides by: both attributes on a statute basis, so
# each request evaluates them (no consent screen in the way of the curl login)
mkdir -p "$tmp/policies"
printf '%s\n' 'service bench-rp' 'name.ja bench' 'name.en bench' 'purpose bench' \
	'text.ja ベンチマーク' 'text.en benchmark' 'basis statute bench act, art. 1' 'retention 1d' \
	'permit given_name' 'permit resident_district' >"$tmp/policies/bench-rp.policy"
jf() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
cc_id=$(jf client_id <<<"$cc"); cc_secret=$(jf client_secret <<<"$cc")
rp_id=$(jf client_id <<<"$code"); rp_secret=$(jf client_secret <<<"$code")

start() { # start [CONFIG-FILE]
	: >"$tmp/log"
	$bin serve --store "$store" --port "$port" --issuer "$iss" --policies "$tmp/policies" \
		${1:+--config "$1"} >"$tmp/log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do grep -q listening "$tmp/log" && break; sleep 0.1; done
	grep -q listening "$tmp/log" || { echo "civicid serve did not start:" >&2; cat "$tmp/log" >&2; exit 1; }
}
printf "threads = %s\n" "${CIVICID_BENCH_THREADS:-64}" >"$tmp/group.conf"
start "$tmp/group.conf"

# a citizen's token through the real login form
jar=$tmp/jar
page=$(curl -s -c "$jar" -b "$jar" "$iss/authorize?response_type=code&client_id=$rp_id&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=openid%20profile%20city")
req=$(sed -n 's/.*name="req" value="\([^"]*\)".*/\1/p' <<<"$page")
csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' <<<"$page")
loc=$(curl -s -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" \
	--data-urlencode "req=$req" --data-urlencode "csrf=$csrf" \
	--data-urlencode username=bench --data-urlencode password=bench-password-1 "$iss/login")
authcode=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$loc")
token=$(curl -s -u "$rp_id:$rp_secret" -d grant_type=authorization_code -d "code=$authcode" \
	--data-urlencode redirect_uri=http://127.0.0.1:9/cb "$iss/token" | jf access_token)

export CID_BASIC="Basic $(printf '%s:%s' "$cc_id" "$cc_secret" | base64 -w0)" CID_TOKEN=$token
echo "== civicid $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, wrk -t2 -c64 -d${secs}s, loopback"
echo "-- client_credentials issuance (POST /token, ES256 at+jwt)"
wrk -t2 -c64 -d"${secs}s" --latency -s tests/bench/token_cc.lua "$iss/token" | grep -E 'Requests/sec|Latency|99%|Non-2xx'
echo "-- userinfo (GET /userinfo, JWT verify, LMDB reads, two release decisions,"
echo "   the audit entry committed durably before the answer: group commit)"
wrk -t2 -c64 -d"${secs}s" --latency -s tests/bench/userinfo.lua "$iss/userinfo" | grep -E 'Requests/sec|Latency|99%|Non-2xx'
echo "-- discovery (GET /.well-known/openid-configuration)"
wrk -t2 -c64 -d"${secs}s" --latency "$iss/.well-known/openid-configuration" | grep -E 'Requests/sec|Latency|99%|Non-2xx'
kill "$pid"
wait "$pid" || true
printf 'threads = %s\naudit_group_commit = 0\n' "${CIVICID_BENCH_THREADS:-64}" >"$tmp/single.conf"
start "$tmp/single.conf"
echo "-- userinfo with one audit commit per request (audit_group_commit = 0)"
wrk -t2 -c64 -d"${secs}s" --latency -s tests/bench/userinfo.lua "$iss/userinfo" | grep -E 'Requests/sec|Latency|99%|Non-2xx'
kill "$pid"
wait "$pid" || true
echo "-- audit log after the runs"
$bin audit verify --store "$store"
