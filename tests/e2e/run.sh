#!/usr/bin/env bash
# Runs the end-to-end tests: the real `civicid serve` on a loopback port with
# a fresh LMDB store, driven by openid-client (npm).
#   CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh [node --test args...]
# CIVICID_E2E_KEEP=1 keeps the temporary stores for inspection.
set -euo pipefail

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

command -v node >/dev/null || { echo "run.sh: node (>= 20) is required" >&2; exit 2; }
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
	echo "run.sh: node >= 20 is required (found $(node --version))" >&2
	exit 2
fi

cd "$(dirname "$0")"
# (re)install when any pinned package is missing or at another version, e.g. a
# clean clone or a checkout that added one (playwright-core)
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

if [ "$#" -gt 0 ]; then
	exec node --test --test-concurrency=1 "$@"
fi
exec node --test --test-concurrency=1 ./*.test.js
