#!/usr/bin/env bash
# Fails if a libauth static library (one per layer) defines writable data. libauth keeps no
# mutable globals: state lives in struct cid_ctx passed explicitly, and config
# and policy snapshots are immutable, so the library is reentrant and a reload
# can never be seen half-applied (HOUSE-STYLE rule 20).
#
# Writable data is what nm classes as B/b (.bss, .tbss: zero-initialised),
# D/d (.data: initialised) or C (common). Lowercase classes are file-local, so
# `static` variables, function-local ones included, are caught too. One
# exception: a const table of pointers (static const char *const names[]) is
# class d under PIE, the Debian default, because the dynamic loader must
# relocate it; it lives in .data.rel.ro, which is read-only once loaded (RELRO)
# and so passes. nm's sysv format gives the section that tells the two apart.
# Plain const data is R/r and passes. Names reserved to the implementation
# (starting with __ or _ and a capital, which C code may not define) are the
# compiler's own instrumentation, such as clang's __sancov_* counters and
# __unnamed_* descriptors under the fuzz and sanitizer presets, and pass too.
# Usage: [NM=nm] no-globals.sh LIB.a...   (every layer's libcivicid_LAYER.a)
set -euo pipefail
[ "$#" -gt 0 ] || { echo "usage: no-globals.sh LIB.a..." >&2; exit 2; }
for lib in "$@"; do
	if [ ! -f "$lib" ]; then
		echo "no-globals: $lib not found (build civicid_auth first)" >&2
		exit 1
	fi
done

# sysv lines: "archive:member:name |value| class |type|size|line|section"
hits=$("${NM:-nm}" -A --format=sysv "$@" | awk -F'|' '
	NF >= 7 {
		class = $3; gsub(/[[:space:]]/, "", class)
		section = $7; gsub(/[[:space:]]/, "", section)
		name = $1; sub(/[[:space:]]+$/, "", name)
		symbol = name; sub(/.*:/, "", symbol)
		if (class ~ /^[BbDdC]$/ && section !~ /^\.data\.rel\.ro/ && symbol !~ /^_[_A-Z]/)
			printf "%s (%s, %s)\n", name, class, section
	}')
if [ -n "$hits" ]; then
	printf '%s\n' "$hits"
	echo "no-globals: writable data in libauth: make it const, or move it into" \
		"struct cid_ctx" >&2
	exit 1
fi
echo "no-globals: no writable data in $# libauth libraries"
