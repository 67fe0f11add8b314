#!/usr/bin/env bash
# Runs every unit test, and the openid-client end-to-end suite against a
# server, under valgrind (memcheck): no invalid access, no use of
# uninitialised memory, no definite or indirect leak. ASan covers the same
# ground faster in the main run; valgrind checks the plain build, where the
# sanitizers' own allocator cannot hide anything.
# Usage: tests/valgrind/run.sh BUILD_DIR   (a dev build: cmake --preset dev)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vg=(valgrind -q --error-exitcode=9 --leak-check=full --show-leak-kinds=definite,indirect
	--errors-for-leak-kinds=definite,indirect)

fails=0
ran=0
for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	# test_store grows maps by hundreds of MiB across threads: tens of minutes
	# under valgrind for what ASan already checks in the main run
	[ "$(basename "$t")" = test_store ] && continue
	# test_alloc_fail reruns its bodies thousands of times (over a quarter of an
	# hour under valgrind): ASan runs all of it; its signing body runs below
	[ "$(basename "$t")" = test_alloc_fail ] && continue
	ran=$((ran + 1))
	if CID_TEST_TMP=$tmp "${vg[@]}" "$t" >"$tmp/out" 2>&1; then
		echo "ok - valgrind $(basename "$t")"
	else
		echo "not ok - valgrind $(basename "$t")"; tail -40 "$tmp/out"; fails=$((fails + 1))
	fi
done
# what ASan cannot see: bytes OpenSSL leaves unwritten when one of its
# allocations fails (it once reported an ECDSA signature it could not encode
# as made), with every OpenSSL allocation of the token body failing in turn
if CID_TEST_TMP=$tmp CID_TEST_FILTER=test_token_fails_cleanly CID_ALLOC_FAIL_OPENSSL_STRIDE=1 \
	"${vg[@]}" "$build/tests/test_alloc_fail" >"$tmp/out" 2>&1; then
	echo "ok - valgrind test_alloc_fail (token body, every OpenSSL allocation)"
else
	echo "not ok - valgrind test_alloc_fail (token body)"; tail -40 "$tmp/out"; fails=$((fails + 1))
fi
# a build without its unit tests must not pass as "nothing failed"
[ "$ran" -ge 10 ] || { echo "not ok - only $ran unit test binaries under $build/tests"; fails=$((fails + 1)); }

# the server under valgrind, driven by the real client suite; the suite fails
# when the server exits non-zero, which valgrind makes it do on any error
printf '#!/bin/sh\nexec %s "%s/server/civicid" "$@"\n' "${vg[*]}" "$build" >"$tmp/civicid"
chmod +x "$tmp/civicid"
if CIVICID_BIN=$tmp/civicid bash tests/e2e/run.sh >"$tmp/e2e" 2>&1; then
	echo "ok - valgrind e2e ($(grep -E '^# pass' "$tmp/e2e"))"
else
	echo "not ok - valgrind e2e"; grep -E '^not ok|==[0-9]+==' "$tmp/e2e" | head -40; fails=$((fails + 1))
fi
[ "$fails" -eq 0 ]
