#!/usr/bin/env bash
# Benchmarks civicid on loopback beside node-oidc-provider (npm oidc-provider,
# pinned in tests/bench/package.json, set up by nodeop/server.mjs) and prints
# one table of both, measured in the same run: userinfo, introspection,
# client_credentials (ES256 at+jwt), discovery with wrk (2 threads, 32
# connections, the two servers taking turns row by row); full logins, 4 at
# once, through the login forms (login.mjs), against the argon2id ceiling of
# the machine's cores (argon2_ceiling.c); resident memory idle and after the
# runs (/proc/PID/status); start to first served discovery with the keys in
# place (first_discovery.mjs, median of 5 starts).
#   tests/bench/run.sh [SECONDS]   SECONDS per measure (default 10, at most 120)
#   tests/bench/run.sh --smoke     2 s per measure, for ctest: a check that the
#                                  benchmark works, not a measurement
# Builds the release preset, unless CIVICID_BIN (the civicid binary) and
# CID_ARGON2_CEILING (the argon2_ceiling binary) are given, as ctest does for
# the smoke run. civicid runs with CIVICID_BENCH_THREADS HTTP threads (default
# 8, the default of the threads setting). Exits non-zero if a row has no
# number, a request failed, civicid's RssAnon after the runs is over 16 MiB
# (not checked for a sanitized build), or the audit log does not verify afterwards.
# During civicid's userinfo row it reads the audit log's group-commit counters
# (durable commits per second, requests per commit, a histogram): civicid
# serve prints them on SIGUSR1 (since the last SIGUSR1) on stderr; run.sh
# signals before and after the row and prints them under the table. Around
# civicid's login row it reads, the same way, how many argon2id hashes ran
# at once on average against the places the server gives them (argon2_at_once),
# and how long a login waited for one: below the places, the cores were not
# kept hashing.
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=10
case "${1:-}" in
--smoke) secs=2 ;;
'') ;;
*[!0-9]* | 0) echo "usage: tests/bench/run.sh [SECONDS | --smoke]" >&2; exit 2 ;;
*) secs=$1 ;;
esac
# the citizen tokens are fetched per row and live 300 s (access_token_ttl)
[ "$secs" -le 120 ] || { echo "run.sh: at most 120 s per measure" >&2; exit 2; }
wrk_threads=2 wrk_conns=32 logins_at_once=4 starts=5
for tool in wrk curl node npm python3; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed (deploy/install-deps.sh test)" >&2; exit 2; }
done

if [ -n "${CIVICID_BIN:-}" ]; then
	bin=$CIVICID_BIN
	ceiling=${CID_ARGON2_CEILING:?run.sh: with CIVICID_BIN set, set CID_ARGON2_CEILING too}
else
	cmake --preset release >/dev/null && cmake --build --preset release -j "$(nproc)" \
		--target civicid argon2_ceiling >/dev/null
	bin=build/release/server/civicid
	ceiling=build/release/tests/bench/argon2_ceiling
fi
# node-oidc-provider at the pinned version, installed as the lock file says
want=$(node -p 'require("./tests/bench/package.json").dependencies["oidc-provider"]')
have=$(node -p 'try { require("./tests/bench/node_modules/oidc-provider/package.json").version } catch { "" }')
if [ "$have" != "$want" ]; then
	(cd tests/bench && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

load=$(cut -d' ' -f1-3 /proc/loadavg) # before the run: how quiet the machine was
tmp=$(mktemp -d)
pid='' npid=''
trap 'kill $pid $npid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
results=$tmp/results # lines SERVER.ROW.FIELD=VALUE, read by table.mjs
printf 'run.logins_at_once=%s\nrun.starts=%s\n' "$logins_at_once" "$starts" >"$results"
# issue 12's bound on civicid's heap and stacks after the runs; a sanitized build
# allocates through the sanitizer, not glibc, and is not held to it
# (ldd's list is read whole first: grep -q leaving a pipe early makes ldd die of
# SIGPIPE, which pipefail would count as "not sanitized")
libs=$(ldd "$bin" 2>/dev/null || true)
if ! grep -Eq 'lib(a|t)san' <<<"$libs"; then
	echo "run.rss_anon_bound_kib=$((16 * 1024))" >>"$results"
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port) nport=$(free_port)
iss=http://127.0.0.1:$port niss=http://127.0.0.1:$nport
store=$tmp/store
step() { echo "-- $*" >&2; }
fail() { echo "run.sh: $*" >&2; exit 1; }

# civicid: a citizen, a service with the authorization code grant, one with
# client credentials
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
# the threads setting's default (8) unless CIVICID_BENCH_THREADS says otherwise
: >"$tmp/civicid.conf"
[ -z "${CIVICID_BENCH_THREADS:-}" ] || printf "threads = %s\n" "$CIVICID_BENCH_THREADS" >"$tmp/civicid.conf"
serve=("$bin" serve --store "$store" --port "$port" --issuer "$iss" --policies "$tmp/policies" --config "$tmp/civicid.conf")
# node-oidc-provider: its client, account and resource server are in server.mjs
n_id=bench-rp n_secret=bench-rp-secret-0123456789abcdef
nserve=(node tests/bench/nodeop/server.mjs "$nport" "$tmp/nodeop-key.json")
export NODE_ENV=production

wait_listening() { # wait_listening LOG PID NAME
	for _ in $(seq 100); do grep -q listening "$1" && return; kill -0 "$2" 2>/dev/null || break; sleep 0.1; done
	cat "$1" >&2
	fail "$3 did not start"
}
"${serve[@]}" >"$tmp/civicid.log" 2>&1 &
pid=$!
"${nserve[@]}" >"$tmp/nodeop.log" 2>&1 &
npid=$!
wait_listening "$tmp/civicid.log" "$pid" "civicid serve"
wait_listening "$tmp/nodeop.log" "$npid" "node-oidc-provider"

rss() { # rss SERVER PID ROW: VmRSS, RssAnon, RssFile, RssShmem (kB) into the results
	awk -v k="$1.$3" '/^(VmRSS|RssAnon|RssFile|RssShmem):/ { sub(":", "", $1); print k "." $1 "=" $2 }' \
		"/proc/$2/status" >>"$results"
}
status_of() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(status_of "$iss/.well-known/openid-configuration")" = 200 ] || fail "civicid: discovery did not answer 200"
[ "$(status_of "$niss/.well-known/openid-configuration")" = 200 ] || fail "node-oidc-provider: discovery did not answer 200"
rss civicid "$pid" rss_idle
rss nodeop "$npid" rss_idle

# a citizen's access token through the real login form of each server
civicid_token() {
	local jar=$tmp/jar page req csrf loc authcode
	rm -f "$jar"
	page=$(curl -s -c "$jar" -b "$jar" "$iss/authorize?response_type=code&client_id=$rp_id&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=openid%20profile%20city")
	# the first: the header's language switch repeats req and csrf in its own form
	req=$(sed -n '/name="req"/{s/.*name="req" value="\([^"]*\)".*/\1/p;q}' <<<"$page")
	csrf=$(sed -n '/name="csrf"/{s/.*name="csrf" value="\([^"]*\)".*/\1/p;q}' <<<"$page")
	loc=$(curl -s -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" \
		--data-urlencode "req=$req" --data-urlencode "csrf=$csrf" \
		--data-urlencode username=bench --data-urlencode password=bench-password-1 "$iss/login")
	authcode=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$loc")
	[ -n "$authcode" ] || fail "civicid: the login form gave no code (redirect: $loc)"
	curl -s -u "$rp_id:$rp_secret" -d grant_type=authorization_code -d "code=$authcode" \
		--data-urlencode redirect_uri=http://127.0.0.1:9/cb "$iss/token" | jf access_token
}
nodeop_token() { node tests/bench/login.mjs nodeop "$niss" "$n_id" "$n_secret" once; }
basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }
# the checks around a row: the answer is the one measured, not an error page
check_userinfo() { # check_userinfo NAME URL TOKEN
	curl -sf -H "Authorization: Bearer $3" "$2" | grep -q '"resident_district"' ||
		fail "$1: userinfo does not release resident_district"
}
check_active() { # check_active NAME URL BASIC TOKEN
	curl -sf -H "Authorization: $3" --data-urlencode "token=$4" "$2" | grep -Eq '"active": ?true' ||
		fail "$1: introspection does not say the token is active"
}
check_at_jwt() { # check_at_jwt NAME URL BASIC BODY: an ES256 at+jwt access token
	curl -sf -H "Authorization: $3" -d "$4" "$2" | python3 -c '
import base64, json, sys
t = json.load(sys.stdin)["access_token"].split(".")[0]
h = json.loads(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)))
sys.exit(0 if h.get("alg") == "ES256" and h.get("typ", "").lower() == "at+jwt" else 1)' ||
		fail "$1: client_credentials did not answer with an ES256 at+jwt access token"
}

bench() { # bench SERVER ROW LUA URL [VAR=VALUE...]: one wrk run into the results
	local server=$1 row=$2 lua=$3 url=$4 out line
	shift 4
	step "$row, $server (${secs} s)"
	out=$(env "$@" wrk -t"$wrk_threads" -c"$wrk_conns" -d"${secs}s" --latency -s "tests/bench/$lua" "$url" 2>&1) || true
	line=$(grep '^wrk: ' <<<"$out") || { echo "$out" >&2; return 0; }
	grep -q 'failed=0 ' <<<"$line" || echo "$server $row: $line" >&2
	sed -E 's/^wrk: requests=([0-9]+) rps=([0-9.]+) p50_ms=([0-9.]+) p99_ms=([0-9.]+) failed=([0-9]+).*/\1 \2 \4 \5/' <<<"$line" |
		while read -r n rps p99 failed; do
			printf '%s.%s.%s=%s\n' "$server" "$row" requests "$n" "$server" "$row" rps "$rps" \
				"$server" "$row" p99_ms "$p99" "$server" "$row" failed "$failed" >>"$results"
		done
}

counters() { # counters TAG: the line civicid prints on SIGUSR1 after TAG, since the last one
	local tag=$1 seen
	seen=$(grep -c "^$tag" "$tmp/civicid.log" || true)
	kill -USR1 "$pid"
	for _ in $(seq 100); do
		[ "$(grep -c "^$tag" "$tmp/civicid.log" || true)" -gt "$seen" ] && break
		sleep 0.1
	done
	grep "^$tag" "$tmp/civicid.log" | tail -n +"$((seen + 1))" | head -1 | sed "s/^$tag//"
}
audit_counters() { counters 'civicid: audit group commit: '; } # the group commit's
hash_counters() { counters 'civicid: argon2id hashes: '; }	  # the argon2id gate's

token=$(civicid_token) ntoken=$(nodeop_token)
check_userinfo civicid "$iss/userinfo" "$token"
check_userinfo node-oidc-provider "$niss/me" "$ntoken"
audit_counters >/dev/null # count from the start of the row
bench civicid userinfo userinfo.lua "$iss/userinfo" CID_TOKEN="$token"
counters=$(audit_counters)
[ -n "$counters" ] || echo "run.sh: civicid printed no group-commit counters on SIGUSR1" >&2
tr ' ' '\n' <<<"$counters" | sed -n 's/^\([a-z_]*\)=/civicid.userinfo_audit.\1=/p' >>"$results"
bench nodeop userinfo userinfo.lua "$niss/me" CID_TOKEN="$ntoken"

token=$(civicid_token) ntoken=$(nodeop_token)
rp_basic=$(basic "$rp_id" "$rp_secret") n_basic=$(basic "$n_id" "$n_secret")
check_active civicid "$iss/introspect" "$rp_basic" "$token"
check_active node-oidc-provider "$niss/token/introspection" "$n_basic" "$ntoken"
bench civicid introspect introspect.lua "$iss/introspect" CID_BASIC="$rp_basic" CID_TOKEN="$token"
bench nodeop introspect introspect.lua "$niss/token/introspection" CID_BASIC="$n_basic" CID_TOKEN="$ntoken"
check_active civicid "$iss/introspect" "$rp_basic" "$token"
check_active node-oidc-provider "$niss/token/introspection" "$n_basic" "$ntoken"

cc_basic=$(basic "$cc_id" "$cc_secret")
cc_body="grant_type=client_credentials&scope=city"
n_cc_body="$cc_body&resource=urn%3Acivicid%3Abench%3Ars"
check_at_jwt civicid "$iss/token" "$cc_basic" "$cc_body"
check_at_jwt node-oidc-provider "$niss/token" "$n_basic" "$n_cc_body"
bench civicid cc token_cc.lua "$iss/token" CID_BASIC="$cc_basic" CID_CC_BODY="$cc_body"
bench nodeop cc token_cc.lua "$niss/token" CID_BASIC="$n_basic" CID_CC_BODY="$n_cc_body"

bench civicid discovery discovery.lua "$iss/.well-known/openid-configuration"
bench nodeop discovery discovery.lua "$niss/.well-known/openid-configuration"

logins() { # logins SERVER FLAVOUR ISSUER CLIENT-ID SECRET
	local out
	step "full logins, $logins_at_once at once, $1 (${secs} s)"
	out=$(node tests/bench/login.mjs "$2" "$3" "$4" "$5" "$secs" "$logins_at_once") || return 0
	tr ' ' '\n' <<<"$out" | sed "s/^/$1.login./" >>"$results"
}
hash_counters >/dev/null # count from the start of the row
logins civicid civicid "$iss" "$rp_id" "$rp_secret"
hashes=$(hash_counters)
logins nodeop nodeop "$niss" "$n_id" "$n_secret"
step "argon2id ceiling, $(nproc) threads (${secs} s)"
out=$("$ceiling" "$(nproc)" "$secs") && tr ' ' '\n' <<<"$out" | sed -n 's/^\(threads\|rate\|m_kib\|t\)=/ceiling.\1=/p' >>"$results"

rss civicid "$pid" rss_after
rss nodeop "$npid" rss_after
kill "$pid" "$npid"
wait "$pid" "$npid" || true
pid='' npid=''

step "audit log after the runs"
if verify=$($bin audit verify --store "$store" 2>&1); then
	echo "civicid.audit.verify=$(head -1 <<<"$verify")" >>"$results"
else
	echo "$verify" >&2
	echo "civicid.audit.verify=FAILED" >>"$results"
fi

starts() { # starts SERVER URL COMMAND...: start to first discovery, median of $starts
	local server=$1 url=$2 out
	shift 2
	step "start to first discovery, $server ($starts starts)"
	out=$(node tests/bench/first_discovery.mjs "$starts" "$url" "$@" 2>>"$tmp/$server.log") ||
		{ cat "$tmp/$server.log" >&2; return 0; }
	sed -n "s/^ms=\([0-9.]*\).*/$server.start.ms=\1/p" <<<"$out" >>"$results"
}
starts civicid "$iss/.well-known/openid-configuration" "${serve[@]}"
starts nodeop "$niss/.well-known/openid-configuration" "${nserve[@]}"

fs=$(findmnt -n -o FSTYPE -T "$tmp" 2>/dev/null || echo '?')
echo "== civicid $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($bin) beside node-oidc-provider $want (node $(node --version), NODE_ENV=production)"
echo "== $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), Linux $(uname -r), store on $fs; $(date -u '+%Y-%m-%d %H:%M UTC'), load average before the run $load"
echo "== wrk -t$wrk_threads -c$wrk_conns -d${secs}s on loopback, sharing the cores with the server; civicid with ${CIVICID_BENCH_THREADS:-8} HTTP threads"
echo "== civicid's argon2id hashes during its login row: ${hashes:-not printed}"
echo
node tests/bench/table.mjs "$results"
