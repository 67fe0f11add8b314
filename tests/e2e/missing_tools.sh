#!/usr/bin/env bash
# A test that cannot run fails; it never passes by skipping, nor vanishes from
# the run. This runs the e2e and lint scripts with a PATH stripped of a tool
# each needs (or pointed at one that is not there) and checks that each fails
# and names what is missing; run.sh fails a node test that skips or is todo,
# and a test file without tests; test_policy fails without the demo policies;
# and a configure without node still registers e2e/oidc, which then fails
# under ctest. CI is unset (but for that last ctest, run as CI would): the
# rule does not depend on CI=true.
# Usage: CIVICID_BIN=... TEST_POLICY=build/asan/tests/test_policy \
#        CID_BUILD_DIR=build/asan tests/e2e/missing_tools.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${CIVICID_BIN:?set CIVICID_BIN to the civicid binary}
build=${CID_BUILD_DIR:?set CID_BUILD_DIR to the build directory}
test_policy=${TEST_POLICY:?set TEST_POLICY to the test_policy binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tap.sh
. "$here/tap.sh"
unset CI

# path_without NAME PATTERN...: $tmp/NAME, a directory of links to every
# program on PATH except those whose name matches a PATTERN (a shell glob),
# to use as PATH
path_without() {
	local dir=$tmp/$1 d f name x
	shift
	mkdir "$dir" || return 1
	IFS=: read -ra dirs <<<"$PATH"
	for d in "${dirs[@]}"; do
		[ -d "$d" ] || continue
		for f in "$d"/*; do
			name=${f##*/}
			{ [ -x "$f" ] && [ ! -d "$f" ] && [ ! -e "$dir/$name" ]; } || continue
			for x in "$@"; do
				# shellcheck disable=SC2254  # x is a pattern
				case $name in $x) continue 2 ;; esac
			done
			ln -s "$f" "$dir/$name"
		done
	done
	echo "$dir"
}

# fails DESCRIPTION NEEDLE COMMAND...: COMMAND exits non-zero and says NEEDLE
fails() {
	local desc=$1 needle=$2 got
	shift 2
	out=$("$@" 2>&1)
	got=$?
	if [ "$got" -eq 0 ]; then
		bad "$desc: exits 0" "$(tail -n 20 <<<"$out")"
	elif ! grep -qF -- "$needle" <<<"$out"; then
		bad "$desc: exit $got without \"$needle\"" "$(tail -n 20 <<<"$out")"
	else
		ok "$desc (exit $got)"
	fi
}

no_node=$(path_without no-node node 'nodejs*' npm npx)
no_npm=$(path_without no-npm npm npx)
no_curl=$(path_without no-curl curl)
no_python=$(path_without no-python 'python3*')
no_format=$(path_without no-format 'clang-format*')
no_tidy=$(path_without no-tidy 'clang-tidy*' 'run-clang-tidy*')
no_cppcheck=$(path_without no-cppcheck cppcheck)
no_lmdb=$(path_without no-lmdb 'mdb_*')
no_faketime=$(path_without no-faketime faketime)
for p in "$no_node" "$no_npm" "$no_curl" "$no_python" "$no_format" "$no_tidy" "$no_cppcheck" \
	"$no_lmdb" "$no_faketime"; do
	[ -d "$p" ] || { echo "Bail out! cannot make the stripped PATH directories"; exit 1; }
done

# node and the openid-client suite
fails "run.sh without node" "node (>= 20) is required" \
	env PATH="$no_node" CIVICID_BIN="$bin" bash "$here/run.sh"
fails "run.sh without npm" "npm is required" \
	env PATH="$no_npm" CIVICID_BIN="$bin" bash "$here/run.sh"
mkdir "$tmp/js"
cat >"$tmp/js/skip.test.js" <<'EOF'
import test from 'node:test';
test('runs', () => {});
test('needs a tool that is not here', (t) => t.skip('no such tool'));
EOF
cat >"$tmp/js/todo.test.js" <<'EOF'
import test from 'node:test';
test('runs', () => {});
test('not written yet', { todo: true }, () => {});
EOF
printf '%s\n' "import 'node:test';" >"$tmp/js/empty.test.js"
fails "a node test that skips fails run.sh" "1 test(s) skipped" \
	env CIVICID_BIN="$bin" bash "$here/run.sh" "$tmp/js/skip.test.js"
fails "a node test marked todo fails run.sh" "1 marked todo" \
	env CIVICID_BIN="$bin" bash "$here/run.sh" "$tmp/js/todo.test.js"
fails "a node test file with no test fails run.sh" "no test ran" \
	env CIVICID_BIN="$bin" bash "$here/run.sh" "$tmp/js/empty.test.js"
fails "the console suite without chromium" "is installed" \
	env CIVICID_BIN="$bin" CIVICID_CHROMIUM="$tmp/no/chromium" bash "$here/run.sh" \
	"$here/console.test.js"

# the shell e2e scripts
fails "http.sh without curl" "curl is required" \
	env PATH="$no_curl" CIVICID_BIN="$bin" bash "$here/http.sh"
fails "http.sh without python3" "python3 is required" \
	env PATH="$no_python" CIVICID_BIN="$bin" bash "$here/http.sh"
fails "connections.sh without python3" "python3 is required" \
	env PATH="$no_python" CIVICID_BIN="$bin" bash "$here/connections.sh"
fails "witness.sh without curl" "curl is required" \
	env PATH="$no_curl" CIVICID_BIN="$bin" TLOG_TOOL=/bin/false bash "$here/witness.sh"
for s in cli consent_cli audit_cli; do
	fails "$s.sh without python3" "python3 is required" \
		env PATH="$no_python" CIVICID_BIN="$bin" AUDIT_TAMPER=/bin/false TLOG_TOOL=/bin/false \
		    CID_FAULT_SYNC=/bin/false bash "$here/$s.sh"
done
fails "consent_sweep.sh without faketime" "faketime is required" \
	env PATH="$no_faketime" CIVICID_BIN="$bin" bash "$here/consent_sweep.sh"
fails "retention.sh without faketime" "faketime is required" \
	env PATH="$no_faketime" CIVICID_BIN="$bin" bash "$here/retention.sh"
fails "cli.sh without the LMDB tools" "mdb_dump and mdb_load are required" \
	env PATH="$no_lmdb" CIVICID_BIN="$bin" bash "$here/cli.sh"
fails "apache.sh without apache2" "Apache httpd is installed" \
	env CIVICID_BIN="$bin" APACHE2="$tmp/no/apache2" bash "$here/rp/apache.sh"
mkdir "$tmp/no-modules"
fails "apache.sh without mod_auth_openidc" "is installed in $tmp/no-modules" \
	env CIVICID_BIN="$bin" APACHE_MODULES="$tmp/no-modules" bash "$here/rp/apache.sh"
fails "browser.sh without apache2" "Apache httpd is installed" \
	env CIVICID_BIN="$bin" APACHE2="$tmp/no/apache2" bash "$here/rp/browser.sh"
fails "browser.sh without chromium" "Chromium is installed" \
	env CIVICID_BIN="$bin" CIVICID_CHROMIUM="$tmp/no/chromium" bash "$here/rp/browser.sh"
fails "browser.sh without node" "node is installed" \
	env PATH="$no_node" CIVICID_BIN="$bin" bash "$here/rp/browser.sh"
fails "liboauth2.sh without liboauth2 (no verifier built)" "the liboauth2 verifier is built" \
	env -u LIBOAUTH2_VERIFY CIVICID_BIN="$bin" bash "$here/rp/liboauth2.sh"

# lint
fails "format-check without clang-format" "clang-format is not installed" \
	env PATH="$no_format" bash "$root/tests/lint/format-check.sh" "$root"
fails "clang-tidy.sh without clang-tidy" "clang-tidy: not installed" \
	env PATH="$no_tidy" bash "$root/tests/lint/clang-tidy.sh" "$build" "$root"
fails "cppcheck.sh without cppcheck" "cppcheck: not installed" \
	env PATH="$no_cppcheck" bash "$root/tests/lint/cppcheck.sh" "$root"

# the demo policies' unit test
fails "test_policy without the demo policies" "the demo policies are not at $tmp/none" \
	env CID_POLICIES_DIR="$tmp/none" "$test_policy"

# a configure without node still registers e2e/oidc, and ctest fails it (in a
# build directory of its own: this one's logs belong to the ctest running us).
# CMake looks for programs in /usr/bin whatever PATH says: only PATH here.
if env PATH="$no_node" cmake -S "$root" -B "$tmp/build" -DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF \
	>"$tmp/cmake.out" 2>&1; then
	out=$(ctest --test-dir "$tmp/build" -N -R '^e2e/oidc$' 2>&1)
	has "a configure without node registers e2e/oidc" "$out" "Total Tests: 1"
	fails "ctest without node, CI=true: e2e/oidc fails" "node (>= 20) is required" \
		env PATH="$no_node" CI=true ctest --test-dir "$tmp/build" -R '^e2e/oidc$' \
		--no-tests=error --output-on-failure
else
	bad "cmake configures without node" "$(tail -n 20 "$tmp/cmake.out")"
fi

echo "1..$n"
[ "$fails" -eq 0 ]
