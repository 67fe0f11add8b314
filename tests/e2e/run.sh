#!/usr/bin/env bash
# Runs the end-to-end tests: the real `civicid serve` on a loopback port with
# a fresh LMDB store, driven by openid-client (npm).
#   CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh [node --test args...]
# CIVICID_E2E_KEEP=1 keeps the temporary stores for inspection.
# Fails (exit non-zero) when node or npm is missing, and when a test skips.
set -euo pipefail

# the tools first: a missing one is what a reader of the failure must learn
command -v node >/dev/null || { echo "run.sh: node (>= 20) is required" >&2; exit 2; }
command -v npm >/dev/null || { echo "run.sh: npm is required" >&2; exit 2; }
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
	echo "run.sh: node >= 20 is required (found $(node --version))" >&2
	exit 2
fi

if [ -z "${CIVICID_BIN:-}" ]; then
	echo "run.sh: set CIVICID_BIN to the civicid binary (e.g. build/asan/server/civicid)" >&2
	exit 2
fi
# an absolute path, since we change directory below
case "$CIVICID_BIN" in
/*) ;;
*) CIVICID_BIN="$PWD/$CIVICID_BIN" ;;
esac
if [ ! -x "$CIVICID_BIN" ]; then
	echo "run.sh: $CIVICID_BIN is not an executable" >&2
	exit 2
fi
export CIVICID_BIN

cd "$(dirname "$0")"
# (re)install when any pinned package is missing or at another version, e.g. a
# clean clone or a checkout that added one (playwright-core); under a lock,
# since ctest -j runs several suites through this script at once and two
# `npm ci` in one directory break each other
exec 9>.npm-install.lock
flock 9
if ! node -e '
	const fs = require("node:fs");
	const deps = require("./package.json").devDependencies;
	for (const [name, want] of Object.entries(deps)) {
		const f = `node_modules/${name}/package.json`;
		if (!fs.existsSync(f) || JSON.parse(fs.readFileSync(f, "utf8")).version !== want)
			process.exit(1);
	}'; then
	npm ci --no-audit --no-fund --loglevel=error
fi
exec 9>&-

if [ "$#" -eq 0 ]; then
	set -- ./*.test.js
fi
# node's runner passes a run whose tests skip (t.skip(), { skip: ... }) or are
# marked todo, and a test file that defines no test (it reports the file as
# one passing test): here each of those fails, so a test cannot vanish
# quietly. The TAP copy in $report is what is read.
report=$(mktemp)
trap 'rm -f "$report"' EXIT
shown=tap
if [ -t 1 ]; then shown=spec; fi
rc=0
node --test --test-concurrency=1 --test-reporter="$shown" --test-reporter-destination=stdout \
	--test-reporter=tap --test-reporter-destination="$report" "$@" || rc=$?
count() { sed -n "s/^# $1 \([0-9]*\)\$/\1/p" "$report" | tail -n 1; }
tests=$(count tests) skipped=$(count skipped) todo=$(count todo)
empty=$(grep -E '^ok [0-9]+ - .*\.test\.js$' "$report" || true)
if [ "${tests:-0}" -eq 0 ] || [ -n "$empty" ]; then
	echo "run.sh: no test ran${empty:+ from a test file:}" >&2
	[ -z "$empty" ] || echo "$empty" >&2
	exit 1
fi
if [ "${skipped:-0}" -gt 0 ] || [ "${todo:-0}" -gt 0 ]; then
	echo "run.sh: $skipped test(s) skipped and $todo marked todo; a test that cannot run fails:" >&2
	grep -E '# (SKIP|TODO)' "$report" >&2 || true
	exit 1
fi
exit "$rc"
