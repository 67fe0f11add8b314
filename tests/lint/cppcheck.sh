#!/usr/bin/env bash
# Runs cppcheck over libauth/ and server/ (warnings, performance, portability)
# and fails on any finding. A deliberate exception is suppressed where it lives
# with a `// cppcheck-suppress ID` comment saying why.
# Usage: cppcheck.sh [SOURCE_ROOT]   (default: the repository root)
set -euo pipefail
root=${1:-"$(cd "$(dirname "$0")/../.." && pwd)"}
cd "$root"

if ! command -v cppcheck >/dev/null 2>&1; then
	echo "cppcheck: not installed" >&2
	exit 1
fi
# cppcheck does not search system headers, so jansson's iteration macros
# (json_array_foreach, json_object_foreach) would read as unknown syntax: give
# it jansson.h itself.
jansson_dir=$(pkg-config --variable=includedir jansson 2>/dev/null || echo /usr/include)
exec cppcheck --enable=warning,performance,portability --error-exitcode=1 --inline-suppr -q \
	--include="$jansson_dir/jansson.h" $(printf -- '-I %s ' libauth/*/) libauth server
