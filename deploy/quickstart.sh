#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running civicid with a demo
# city: installs what is missing, builds (release preset), creates the demo
# store under ./var/civicid (once), and serves http://127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh run
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target civicid
bin=build/release/server/civicid
store=${CIVICID_STORE:-var/civicid}

if [ ! -e "$store/data.mdb" ]; then
	deploy/demo-city.sh "$bin" "$store"
fi
echo
echo "civicid issuer:  http://127.0.0.1:8080"
echo "discovery:       http://127.0.0.1:8080/.well-known/openid-configuration"
echo "demo login:      hanako / hanako-demo-2026   (see var/civicid-demo.txt for the services"
echo "                 and hanako's TOTP secret)"
echo "your account:    http://127.0.0.1:8080/account  (after a login: consents, receipts, who got what)"
echo "privacy officer: http://127.0.0.1:8080/officer/login  privacy / privacy-officer-demo-2026"
echo "                 + the TOTP code of the secret in var/civicid-demo.txt"
echo "policies:        policies/*.policy  (edit, \`civicid policy check policies\`, then"
echo "                 \`civicid policy reload --store $store\` or SIGHUP)"
echo
exec "$bin" serve --store "$store" --issuer http://127.0.0.1:8080 --port 8080 --policies policies \
	--config deploy/demo-city.conf
