#!/usr/bin/env bash
# Installs the Debian 12 packages civicid needs to build, run and test, if any
# is missing. Usage: deploy/install-deps.sh [run|test]
#   run  (default) what building and running the server needs
#   test also the test tools: clang + libFuzzer runtime, valgrind, wrk, node/npm,
#        Apache with mod_auth_openidc, nginx (e2e/proxy), chromium with a Japanese
#        font (the browser test's screenshots), and the linters
#        (clang-format, clang-tidy, cppcheck), and the openssl tool (valgrind/run.sh
#        makes RSA keys with it)
set -euo pipefail

mode=${1:-run}
pkgs=(build-essential cmake pkg-config libssl-dev liblmdb-dev lmdb-utils libjansson-dev
      libargon2-dev libmicrohttpd-dev libjwt-dev liboauth2-dev libcjose-dev libcmocka-dev
      libcurl4-openssl-dev libqrencode-dev ca-certificates curl tzdata)
if [ "$mode" = test ]; then
	pkgs+=(clang libclang-rt-14-dev valgrind wrk nodejs npm clang-format clang-tidy cppcheck apache2 libapache2-mod-auth-openidc python3 nginx
	      chromium fonts-noto-cjk faketime openssl)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# node may come from elsewhere than Debian's package; only ask for it when absent
if [ "$mode" = test ] && command -v node >/dev/null && command -v npm >/dev/null; then
	missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
	read -r -a missing <<<"${missing[*]}"
fi
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "civicid: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
