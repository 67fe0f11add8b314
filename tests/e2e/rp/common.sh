# shellcheck shell=bash
# shellcheck disable=SC2034,SC2001  # CLIENT_ID, CPORT... are read by the sourcing script
# Shared by the relying-party interoperability tests (apache.sh, liboauth2.sh):
# TAP output, a fresh temporary store, `civicid serve` on a free loopback port,
# a cookie-keeping curl "browser", and cleanup that always stops every server
# the test started. Source it; do not run it.
#
# Needs: bash, curl, python3 (URL, HTML form and JSON parsing).

bin=${CIVICID_BIN:?set CIVICID_BIN to the civicid binary (e.g. build/asan/server/civicid)}
case "$bin" in
/*) ;;
*) bin="$PWD/$bin" ;;
esac
if [ ! -x "$bin" ]; then
	echo "Bail out! CIVICID_BIN=$bin is not an executable"
	exit 2
fi
for tool in curl python3; do
	command -v "$tool" >/dev/null || { echo "Bail out! $tool is required"; exit 2; }
done

# sanitizer options for every civicid process, unless the caller set them
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
SANITIZER_RE='ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|AddressSanitizer|runtime error:'

tmp=$(mktemp -d "${TMPDIR:-/tmp}/civicid-rp-XXXXXX")
store=$tmp/store
# the release policies the server loads (empty: every attribute is withheld)
policies=$tmp/policies
mkdir -p "$policies"
n=0
fails=0
CIVICID_PID=
CLEANUP_HOOKS=()

ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() {
	n=$((n + 1))
	fails=$((fails + 1))
	echo "not ok $n - $1"
	if [ -n "${2:-}" ]; then sed 's/^/#   /' <<<"$2" | head -c 6000; echo; fi
	return 0
}
diag() { sed 's/^/# /' <<<"$*"; }
# check DESCRIPTION COMMAND...: ok when COMMAND succeeds
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else bad "$desc"; fi
}
# eq DESCRIPTION GOT WANT
eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got:  $2
want: $3"; fi
}
# has DESCRIPTION HAYSTACK NEEDLE (fixed string)
has() {
	if grep -qF -- "$3" <<<"$2"; then ok "$1"; else bad "$1" "no \"$3\" in:
$2"; fi
}
hasnt() {
	if grep -qF -- "$3" <<<"$2"; then bad "$1" "unexpected \"$3\" in:
$2"; else ok "$1"; fi
}
# Ends the test: a fatal failure stops here (cleanup runs from the EXIT trap).
bail() {
	bad "$1" "${2:-}"
	echo "Bail out! $1"
	exit 1
}
finish() {
	echo "1..$n"
	if [ "$fails" -gt 0 ]; then
		echo "# $fails of $n checks failed"
		exit 1
	fi
	echo "# all $n checks passed"
	exit 0
}

cleanup() {
	local rc=$?
	local h
	for h in "${CLEANUP_HOOKS[@]}"; do "$h" || true; done
	if [ -n "$CIVICID_PID" ]; then
		if kill -0 "$CIVICID_PID" 2>/dev/null; then
			kill -KILL "$CIVICID_PID" 2>/dev/null
			wait "$CIVICID_PID" 2>/dev/null
		else
			# it died under the test: say how, where the output shows it
			wait "$CIVICID_PID"
			echo "# civicid serve died during the test (exit status $?); its stderr:"
			sed 's/^/#   /' "$tmp/civicid.err" | tail -n 80
			[ "$rc" -ne 0 ] || rc=1
		fi
	fi
	if [ "$rc" -ne 0 ] && [ -s "$tmp/civicid.err" ] &&
		grep -qE "$SANITIZER_RE" "$tmp/civicid.err"; then
		echo "# civicid's stderr has a sanitizer report:"
		sed 's/^/#   /' "$tmp/civicid.err" | tail -n 80
	fi
	if [ -n "${CIVICID_E2E_KEEP:-}" ]; then
		echo "# kept $tmp"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# JSON field of stdin: json EXPR (python, d is the document)
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# A TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Query parameter NAME of URL (empty when absent): qparam URL NAME
qparam() {
	python3 - "$1" "$2" <<'EOF'
import sys, urllib.parse
q = urllib.parse.parse_qs(urllib.parse.urlsplit(sys.argv[1]).query, keep_blank_values=True)
print(q.get(sys.argv[2], [""])[0])
EOF
}
# scheme://host:port/path of URL (no query)
url_base() {
	python3 - "$1" <<'EOF'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(f"{u.scheme}://{u.netloc}{u.path}")
EOF
}
urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

# The value of the hidden input NAME in the first form posting to ACTION_RE:
# form_field FILE ACTION_RE NAME (empty when there is no such form or field)
form_field() {
	python3 - "$1" "$2" "$3" <<'EOF'
import html, re, sys
page = open(sys.argv[1], encoding="utf-8", errors="replace").read()
for m in re.finditer(r"<form\b([^>]*)>(.*?)</form>", page, re.S | re.I):
    action = re.search(r'action\s*=\s*"([^"]*)"', m.group(1))
    if not action or not re.search(sys.argv[2], html.unescape(action.group(1))):
        continue
    for tag in re.findall(r"<input\b[^>]*>", m.group(2), re.I):
        name = re.search(r'name\s*=\s*"([^"]*)"', tag)
        if name and name.group(1) == sys.argv[3]:
            value = re.search(r'value\s*=\s*"([^"]*)"', tag)
            print(html.unescape(value.group(1)) if value else "")
            sys.exit(0)
    sys.exit(0)
EOF
}

# ---------------------------------------------------------------------------
# the citizen's browser: curl with one cookie jar, redirects not followed
# ---------------------------------------------------------------------------
JAR=$tmp/cookies.txt
BODY=$tmp/body
HEADERS=$tmp/headers
status=
location=
# browse METHOD URL [curl args...]: sets status, location (absolute), body in $BODY
browse() {
	local method=$1 url=$2
	shift 2
	local out
	out=$(curl -sS -X "$method" -o "$BODY" -D "$HEADERS" -b "$JAR" -c "$JAR" \
		-H 'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' \
		-H 'Accept-Language: en' \
		--max-time 60 -w '%{http_code} %{redirect_url}' "$@" "$url" 2>"$tmp/curl.err")
	local rc=$?
	if [ $rc -ne 0 ]; then
		status=000
		location=
		echo "curl $method $url failed ($rc): $(cat "$tmp/curl.err")" >"$BODY"
		return 0
	fi
	status=${out%% *}
	location=${out#* }
}
get() { browse GET "$@"; }
post() { # post URL field=value... (form-encoded; values may contain anything)
	local url=$1
	shift
	local args=() kv
	for kv in "$@"; do args+=(--data-urlencode "$kv"); done
	browse POST "$url" "${args[@]}"
}
body() { cat "$BODY"; }
# "STATUS Location" plus the start of the body, for failure messages
last() { echo "HTTP $status location=$location"; head -c 1500 "$BODY"; }

# ---------------------------------------------------------------------------
# civicid
# ---------------------------------------------------------------------------

cli() { "$bin" "$@"; }

# add_user NAME PASSWORD CLAIM...
add_user() {
	local user=$1 pw=$2
	shift 2
	local args=() c
	for c in "$@"; do args+=(--claim "$c"); done
	printf '%s' "$pw" | "$bin" user add "$user" --store "$store" --password-stdin "${args[@]}" \
		>"$tmp/cli.out" 2>&1 || bail "civicid user add $user" "$(cat "$tmp/cli.out")"
}

# add_statute_policy SERVICE ATTRIBUTE...: a release policy under which SERVICE
# receives the attributes without the citizen's consent (a statute basis), so
# a relying party can be tested without driving the consent screen
add_statute_policy() {
	local service=$1 a
	shift
	{
		printf 'service %s\nname.ja %s\nname.en %s\n' "$service" "$service" "$service"
		printf 'purpose e2e\n\ttext.ja 試験のため\n\ttext.en For the test\n'
		printf '\tbasis statute e2e test act, art. 1\n\tretention 1d\n'
		for a in "$@"; do printf '\tpermit %s\n' "$a"; done
	} >"$policies/$service.policy"
	"$bin" policy check "$policies" >"$tmp/cli.out" 2>&1 ||
		bail "the policy of $service checks" "$(cat "$tmp/cli.out")"
}

# add_client ARGS... (after `client add --store S --json`): sets CLIENT_ID and
# CLIENT_SECRET (empty for a public client) from its JSON output
add_client() {
	if ! "$bin" client add --store "$store" --json "$@" >"$tmp/cli.out" 2>"$tmp/cli.err"; then
		bail "civicid client add $*" "$(cat "$tmp/cli.err" "$tmp/cli.out")"
	fi
	CLIENT_ID=$(json "d['client_id']" <"$tmp/cli.out") ||
		bail "client add --json printed no client_id" "$(cat "$tmp/cli.out")"
	CLIENT_SECRET=$(json "d.get('client_secret', '')" <"$tmp/cli.out")
}

# code_login_token CLIENT_ID SECRET USER PASSWORD [SCOPE]: a citizen logs in
# through the real login form for the client (redirect URI
# http://127.0.0.1:9/cb, scope SCOPE or "openid profile", consent already
# given or not needed) and the code is redeemed; sets AT to the access token
# and RT to the refresh token ("" when the client gets none)
code_login_token() {
	local cb=http://127.0.0.1:9/cb req csrf code resp
	get "$ISSUER/authorize?response_type=code&client_id=$1&redirect_uri=$(urlencode "$cb")&scope=$(urlencode "${5:-openid profile}")&state=s1&nonce=n1"
	req=$(form_field "$BODY" '/login$' req)
	csrf=$(form_field "$BODY" '/login$' csrf)
	[ -n "$req" ] && [ -n "$csrf" ] || bail "the login form" "$(last)"
	post "$ISSUER/login" "req=$req" "csrf=$csrf" "username=$3" "password=$4"
	code=$(qparam "$location" code)
	[ -n "$code" ] || bail "the login returns a code (no consent screen)" "$(last)"
	resp=$(curl -sS --max-time 30 -u "$1:$2" -d grant_type=authorization_code \
		--data-urlencode "code=$code" --data-urlencode "redirect_uri=$cb" "$ISSUER/token")
	AT=$(json "d.get('access_token', '')" <<<"$resp" 2>/dev/null)
	[ -n "$AT" ] || bail "the code is redeemed" "$resp"
	RT=$(json "d.get('refresh_token', '')" <<<"$resp" 2>/dev/null)
}

# Starts `civicid serve` on a free loopback port with the issuer
# http://127.0.0.1:PORT and waits for its "listening" line. Sets CPORT, ISSUER,
# CIVICID_PID. Retries with another port when the one picked was taken; never
# picks a port of RESERVED_PORT (space-separated). CIVICID_CONFIG, if set, is
# passed as --config (the flags here override it); CIVICID_PUBLIC_ISSUER, if
# set, is the issuer instead (a proxy's URL in front of civicid).
civicid_start() {
	local attempt port want i issuer
	for attempt in 1 2 3; do
		: "attempt $attempt"
		port=$(free_port)
		# not a port reserved for another server of the test (not bound yet)
		while [[ " ${RESERVED_PORT:-} " == *" $port "* ]]; do port=$(free_port); done
		want="civicid: listening on 127.0.0.1 port $port"
		issuer=${CIVICID_PUBLIC_ISSUER:-http://127.0.0.1:$port}
		: >"$tmp/civicid.out"
		: >"$tmp/civicid.err"
		"$bin" serve ${CIVICID_CONFIG:+--config "$CIVICID_CONFIG"} --store "$store" \
			--port "$port" --issuer "$issuer" \
			--policies "$policies" >"$tmp/civicid.out" 2>"$tmp/civicid.err" </dev/null &
		CIVICID_PID=$!
		for ((i = 0; i < 600; i++)); do
			if grep -qxF "$want" "$tmp/civicid.out"; then
				CPORT=$port
				ISSUER=$issuer
				return 0
			fi
			kill -0 "$CIVICID_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$CIVICID_PID" 2>/dev/null; then
			kill -KILL "$CIVICID_PID"
			wait "$CIVICID_PID" 2>/dev/null
			CIVICID_PID=
			bail "civicid serve did not print \"$want\" within 60 s" \
				"$(cat "$tmp/civicid.out" "$tmp/civicid.err")"
		fi
		wait "$CIVICID_PID" 2>/dev/null
		CIVICID_PID=
		grep -qiE 'cannot listen|address already in use' "$tmp/civicid.err" || break
	done
	bail "civicid serve exited early" "$(cat "$tmp/civicid.out" "$tmp/civicid.err")"
}

# term_wait PID: sends SIGTERM and waits up to 30 s; false if PID still runs.
term_wait() {
	local i
	kill -TERM "$1" 2>/dev/null
	for ((i = 0; i < 300; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	! kill -0 "$1" 2>/dev/null
}

# later DAYS CMD...: CMD as if DAYS days from now, under faketime (ASan is not
# the first library under faketime's preload: let it be)
later() {
	local days=$1
	shift
	ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0" faketime "+$days days" "$@"
}

# civicid_start_later DAYS: civicid_start with the server's clock DAYS days
# ahead (faketime's library preloaded by hand: the faketime command would
# stand between the server and the SIGTERM that stops it)
civicid_start_later() {
	local lib wrapper=$tmp/civicid-later real=$bin
	lib=$(dpkg -L libfaketime 2>/dev/null | grep -m1 '/libfaketimeMT\.so') ||
		bail "libfaketime's libfaketimeMT.so is required (package faketime)"
	# shellcheck disable=SC2016 # $ASAN_OPTIONS and $@ are the wrapper's
	printf '#!/bin/sh\nASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0" LD_PRELOAD="%s" FAKETIME="+%sd" exec "%s" "$@"\n' \
		"$lib" "$1" "$bin" >"$wrapper"
	chmod +x "$wrapper"
	bin=$wrapper
	civicid_start
	bin=$real
}

# Stops civicid with SIGTERM and checks it exits 0 with no sanitizer report.
civicid_stop() {
	[ -n "$CIVICID_PID" ] || return 0
	local pid=$CIVICID_PID rc
	if ! term_wait "$pid"; then
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null
		CIVICID_PID=
		bad "civicid serve stops within 30 s of SIGTERM" "$(tail -n 50 "$tmp/civicid.err")"
		return 0
	fi
	wait "$pid"
	rc=$?
	CIVICID_PID=
	eq "civicid serve exits 0 on SIGTERM" "$rc" 0
	civicid_sanitizer_check
}

civicid_sanitizer_check() {
	if grep -qE "$SANITIZER_RE" "$tmp/civicid.err"; then
		bad "no sanitizer report in civicid's stderr" "$(cat "$tmp/civicid.err")"
	else
		ok "no sanitizer report in civicid's stderr"
	fi
}
