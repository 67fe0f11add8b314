#!/usr/bin/env bash
# End-to-end test of the HTTP skin's connection limits (server/http/guard.c)
# against the real server with its default configuration: 2,000 idle
# connections from as many loopback addresses must not stall a normal client,
# and connections that trickle their request a byte at a time must be closed
# by the request deadline (CID_REQUEST_DEADLINE in libauth/foundation/bounds.h). The
# attacks are tools/connections.py; this script starts and stops the server.
# Takes about 45 s. Needs curl and python3 (rp/common.sh).
# Usage: CIVICID_BIN=build/asan/server/civicid tests/e2e/connections.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=rp/common.sh
. "$here/rp/common.sh"

deadline=$(sed -n 's/^#define CID_REQUEST_DEADLINE[[:space:]]*\([0-9]*\).*/\1/p' \
	"$here/../../libauth/foundation/bounds.h")
[ -n "$deadline" ] || bail "libauth/foundation/bounds.h defines CID_REQUEST_DEADLINE"
"$bin" serve --help-config >"$tmp/config" || bail "civicid serve --help-config"
max_connections=$(sed -n 's/^max_connections = //p' "$tmp/config")
idle_timeout=$(sed -n 's/^connection_timeout = //p' "$tmp/config")
if [ -z "$max_connections" ] || [ -z "$idle_timeout" ]; then
	bail "the configuration reference gives max_connections and connection_timeout"
fi

# as under systemd (LimitNOFILE's soft default): the server must raise it to
# what max_connections needs (connections.py raises its own)
ulimit -Sn 1024 || bail "ulimit -Sn 1024"
civicid_start
ok "civicid serve listens on $ISSUER"

# its threads, named as top -H and perf show them, as many as configured
threads_named() { grep -cx "$1" /proc/"$CIVICID_PID"/task/*/comm 2>/dev/null | awk -F: '{n += $NF} END {print n + 0}'; }
eq "write_threads cid-write threads" "$(threads_named cid-write)" \
	"$(sed -n 's/^write_threads = //p' "$tmp/config")"
eq "login_threads cid-login threads" "$(threads_named cid-login)" \
	"$(sed -n 's/^login_threads = //p' "$tmp/config")"
eq "one cid-watchdog thread" "$(threads_named cid-watchdog)" 1

python3 "$here/tools/connections.py" "$CPORT" "$max_connections" "$idle_timeout" "$deadline" \
	>"$tmp/attack.tap"
rc=$?
# renumber the tool's TAP lines into this script's plan
while IFS= read -r line; do
	case "$line" in
	"ok "*) ok "${line#ok * - }" ;;
	"not ok "*) bad "${line#not ok * - }" ;;
	"1.."*) ;;
	*) echo "$line" ;;
	esac
done <"$tmp/attack.tap"
[ "$rc" -eq 0 ] || [ "$fails" -gt 0 ] || bad "connections.py exits 0 (exit $rc)"

get "$ISSUER/.well-known/openid-configuration"
eq "the server still answers after the attacks" "$status" 200
civicid_stop

# behind a proxy (trusted_proxies) every connection comes from its address:
# more of them than the cap per address must not shut the proxy out
per_ip=$(sed -n 's/^#define CID_MAX_CONN_PER_IP[[:space:]]*\([0-9]*\).*/\1/p' \
	"$here/../../libauth/foundation/bounds.h")
[ -n "$per_ip" ] || bail "libauth/foundation/bounds.h defines CID_MAX_CONN_PER_IP"
printf 'trusted_proxies = 127.0.0.1\n' >"$tmp/proxied.conf"
CIVICID_CONFIG=$tmp/proxied.conf civicid_start
python3 - "$CPORT" "$((per_ip + 20))" "$tmp/held" <<'PY' &
import socket, sys, time
port, n, done = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
open(done, "w").write(str(len(held)))
time.sleep(60)
PY
holder=$!
for ((i = 0; i < 300; i++)); do [ -s "$tmp/held" ] && break; sleep 0.1; done
[ -s "$tmp/held" ] || bad "the idle connections were opened"
sleep 1 # accepted by the server, in their order
get "$ISSUER/.well-known/openid-configuration"
eq "behind a trusted proxy, $((per_ip + 20)) idle connections of its address leave room for its next request" "$status" 200
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
civicid_stop
finish
