#!/usr/bin/env bash
# Runs every unit test, and the openid-client end-to-end suites against a
# server, under valgrind (memcheck): no invalid access, no use of
# uninitialised memory, no definite or indirect leak. ASan covers the same
# ground faster in the main run; valgrind checks the plain build, where the
# sanitizers' own allocator cannot hide anything.
# The cases run side by side, one per core (valgrind runs a program's threads
# one at a time, so one case alone leaves the other cores idle); the longest,
# the end-to-end suites, start first.
# Usage: tests/valgrind/run.sh BUILD_DIR   (a dev build: cmake --preset dev)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vg=(valgrind -q --error-exitcode=9 --leak-check=full --show-leak-kinds=definite,indirect
	--errors-for-leak-kinds=definite,indirect)

# RSA keys made natively now, handed to the programs under valgrind in place
# of OpenSSL's prime search, which takes them 15 to 60 s a key there (every
# new store makes one): see rsa_pool.c. Each key is used once; when the pool
# runs dry, OpenSSL makes the rest, slowly.
pool_lib=$build/tests/librsa_pool.so
[ -f "$pool_lib" ] || { echo "not ok - no $pool_lib (cmake --build $build)" >&2; exit 1; }
pool_size=${CID_RSA_POOL_SIZE:-96}
export CID_RSA_POOL=$tmp/rsa_pool
mkdir "$CID_RSA_POOL"
command -v openssl >/dev/null || { echo "not ok - openssl is not installed (deploy/install-deps.sh test)" >&2; exit 1; }
seq "$pool_size" | xargs -P "$(nproc)" -I{} openssl genpkey -quiet -algorithm RSA \
	-pkeyopt rsa_keygen_bits:2048 -out "$CID_RSA_POOL/{}.pem.new"
for k in "$CID_RSA_POOL"/*.pem.new; do [ ! -e "$k" ] || mv "$k" "${k%.new}"; done
with_pool=(env "LD_PRELOAD=$pool_lib${LD_PRELOAD:+:$LD_PRELOAD}")

# the server under valgrind, driven by the real client suites; a suite fails
# when the server exits non-zero, which valgrind makes it do on any error
# (a library a test preloads comes after the pool's)
printf '#!/bin/sh\nexport LD_PRELOAD="%s${LD_PRELOAD:+:$LD_PRELOAD}"\nexec %s "%s/server/civicid" "$@"\n' \
	"$pool_lib" "${vg[*]}" "$build" >"$tmp/civicid"
chmod +x "$tmp/civicid"

# one case: a name, then the command; its output kept in $tmp/NAME.out, its
# verdict in $tmp/NAME.ok or $tmp/NAME.fail
run_case() {
	local name=$1
	shift
	local t0=$SECONDS
	mkdir -p "$tmp/$name.d"
	if CID_TEST_TMP=$tmp/$name.d "$@" >"$tmp/$name.out" 2>&1; then
		touch "$tmp/$name.ok"
	else
		touch "$tmp/$name.fail"
	fi
	echo "$((SECONDS - t0))" >"$tmp/$name.secs" # the budget of the stage is read off these
}

jobs_max=$(nproc)
running=0
start() {
	if [ "$running" -ge "$jobs_max" ]; then
		wait -n || true
		running=$((running - 1))
	fi
	run_case "$@" &
	running=$((running + 1))
}

names=()
ran=0
start_unit() { # start_unit PATH: a unit test binary under valgrind
	ran=$((ran + 1))
	names+=("$(basename "$1")")
	start "$(basename "$1")" "${with_pool[@]}" "${vg[@]}" "$1"
}
# The longest cases first (seconds under valgrind in CI's log, each case's
# time being printed below), the short ones last, so that neither core idles
# at the end while the other finishes a long one.
heavy=(test_audit_tlog test_oidc_token test_console test_jose test_cid)
for h in "${heavy[@]}"; do
	if [ -x "$build/tests/$h" ]; then start_unit "$build/tests/$h"; fi
done
for suite in tests/e2e/*.test.js; do
	name=e2e_$(basename "$suite" .test.js)
	names+=("$name")
	# (audit_powercut preloads the fault library into the server)
	start "$name" env CIVICID_BIN="$tmp/civicid" CID_FAULT_SYNC="$build/tests/e2e/libfault_sync.so" \
		bash tests/e2e/run.sh "./$(basename "$suite")"
done
for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	# test_store grows maps by hundreds of MiB across threads: tens of minutes
	# under valgrind for what ASan already checks in the main run
	[ "$(basename "$t")" = test_store ] && continue
	# test_alloc_fail reruns its bodies thousands of times (over a quarter of an
	# hour under valgrind): ASan runs all of it; its signing body runs below
	[ "$(basename "$t")" = test_alloc_fail ] && continue
	[[ " ${heavy[*]} " == *" $(basename "$t") "* ]] && continue # started above
	start_unit "$t"
done
# what ASan cannot see: bytes OpenSSL leaves unwritten when one of its
# allocations fails (it once reported an ECDSA signature it could not encode
# as made), with every OpenSSL allocation of the token body failing in turn
names+=(alloc_fail_token)
start alloc_fail_token env CID_TEST_FILTER=test_token_fails_cleanly CID_ALLOC_FAIL_OPENSSL_STRIDE=1 \
	"${vg[@]}" "$build/tests/test_alloc_fail"
wait
left=$(find "$CID_RSA_POOL" -name '*.pem' | wc -l)
echo "# rsa_pool: $((pool_size - left)) of $pool_size RSA keys used"

fails=0
for name in "${names[@]}"; do
	if [ -e "$tmp/$name.ok" ]; then
		case $name in
		e2e_*) echo "ok - valgrind $name ($(cat "$tmp/$name.secs") s; $(grep -E '^# pass' "$tmp/$name.out" | tail -n 1))" ;;
		*) echo "ok - valgrind $name ($(cat "$tmp/$name.secs") s)" ;;
		esac
	else
		echo "not ok - valgrind $name"
		case $name in
		# (the failed case with its error, then valgrind's own report)
		e2e_*) { grep -E -A14 '^not ok' "$tmp/$name.out"; grep -E '==[0-9]+==' "$tmp/$name.out"; } | head -60 ;;
		*) tail -40 "$tmp/$name.out" ;;
		esac
		fails=$((fails + 1))
	fi
done
# a build without its unit tests must not pass as "nothing failed"
[ "$ran" -ge 10 ] || { echo "not ok - only $ran unit test binaries under $build/tests"; fails=$((fails + 1)); }
[ "$fails" -eq 0 ]
