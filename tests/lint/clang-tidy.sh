#!/usr/bin/env bash
# Runs clang-tidy with the root .clang-tidy over the .c files of libauth/,
# server/ and tests/ that the build compiles (the unit tests and their
# support, the benchmarks, the fuzz targets, the e2e tools), and, through its
# HeaderFilterRegex, the headers they include, with the compile commands of a
# build directory, and fails on any finding. tests/.clang-tidy inherits the
# root config and turns off only what does not fit test code, saying why. A
# genuine false positive is silenced where it lives with
# `// NOLINT(check): reason`.
# Fails when clang-tidy is not installed: a check that cannot run fails.
# Usage: clang-tidy.sh BUILD_DIR [SOURCE_ROOT]   (default: the repository root)
#   BUILD_DIR holds compile_commands.json (CMAKE_EXPORT_COMPILE_COMMANDS, set by
#   every preset). CID_TIDY_JOBS: parallel clang-tidy runs (default: all CPUs).
set -euo pipefail
if [ $# -lt 1 ]; then
	echo "usage: $0 BUILD_DIR [SOURCE_ROOT]" >&2
	exit 2
fi
build=$(cd "$1" && pwd)
root=$(cd "${2:-"$(dirname "$0")/../.."}" && pwd)
cd "$root"

tidy=
for c in clang-tidy-14 clang-tidy; do
	if command -v "$c" >/dev/null 2>&1; then
		tidy=$c
		break
	fi
done
if [ -z "$tidy" ]; then
	echo "clang-tidy: not installed (deploy/install-deps.sh test)" >&2
	exit 1
fi
runner=
for c in run-clang-tidy-14 run-clang-tidy; do
	if command -v "$c" >/dev/null 2>&1; then
		runner=$c
		break
	fi
done
if [ -z "$runner" ]; then
	echo "clang-tidy: $tidy is installed but run-clang-tidy is not" >&2
	exit 1
fi

db="$build/compile_commands.json"
if [ ! -f "$db" ]; then
	echo "clang-tidy: no $db (configure with CMAKE_EXPORT_COMPILE_COMMANDS=ON)" >&2
	exit 1
fi
# run-clang-tidy takes regexes matched against the absolute paths in the
# database: anchor them at the source root, so nothing in the build directory
# (which may lie inside it) is picked up.
root_re=$(printf '%s' "$root" | sed 's/[][\.*^$+?(){}|/]/\\&/g')
files_re="^$root_re/(libauth|server|tests)/.*\\.c\$"
n=$(grep -oE '"file": *"[^"]*"' "$db" | sed -E 's/^"file": *"(.*)"$/\1/' |
	grep -cE "$files_re" || true)
if [ "$n" -eq 0 ]; then
	echo "clang-tidy: $db lists no libauth/, server/ or tests/ source" >&2
	exit 1
fi

jobs=${CID_TIDY_JOBS:-$(nproc 2>/dev/null || echo 2)}
status=0
out=$("$runner" -clang-tidy-binary "$(command -v "$tidy")" -p "$build" -j "$jobs" -quiet \
	"$files_re" 2>&1) || status=$?
# no colour codes, so that the findings can be counted
out=$(printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g')
findings=$(printf '%s\n' "$out" | grep -cE '^[^ :]+:[0-9]+:[0-9]+: (warning|error): ' || true)
if [ "$status" -ne 0 ] || [ "$findings" -ne 0 ]; then
	printf '%s\n' "$out" >&2
	echo "clang-tidy: $findings findings in $n files (exit status $status)" >&2
	exit 1
fi
echo "clang-tidy: $n files clean"
