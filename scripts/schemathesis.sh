#!/usr/bin/env bash
# Fuzzes the admin API against its own OpenAPI document with schemathesis (every check), on a
# `dalal run` of the default configuration in a scratch directory.
#
#   bash scripts/schemathesis.sh [--max-examples N] [other schemathesis options]
#
# Needs a built binary (target/release/dalal, else target/debug/dalal); installs schemathesis
# into a venv (SCHEMATHESIS_VENV, default /tmp/dalal-schemathesis) on first use. The run signs
# in with an API key, not a token (the fuzzer calls logout, which would end a token's sign-in),
# and leaves out the WebSocket route (not plain HTTP) and API-key revocation (it would revoke
# the key the run uses). Requests are paced under the per-user rate limit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/target/release/dalal
[ -x "$bin" ] || bin=$root/target/debug/dalal
[ -x "$bin" ] || { echo "build dalal first (cargo build --release)" >&2; exit 2; }
venv=${SCHEMATHESIS_VENV:-/tmp/dalal-schemathesis}
[ -x "$venv/bin/schemathesis" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q schemathesis; }
port=${PORT:-18080}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
pw=schemathesis-admin-pw
(cd "$work" && DALAL_ADMIN_PASSWORD=$pw DALAL_ADMIN_LISTEN=127.0.0.1:$port \
    exec "$bin" run --config "$root/config/default.toml" --duration 3600s >"$work/run.log" 2>&1) &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
json() { python3 -c "import sys, json; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
token=$(curl -sf -X POST -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$pw\"}" "http://127.0.0.1:$port/api/auth/login" | json access_token)
key=$(curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"current_password\":\"$pw\"}" "http://127.0.0.1:$port/api/users/admin/api-keys" | json api_key)
# From the scratch directory: schemathesis keeps its state in ./.schemathesis.
cd "$work"
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/api/openapi.json" --checks all \
    -H "Authorization: Bearer $key" --workers 1 --rate-limit=900/m \
    --exclude-path /api/ws --exclude-name "DELETE /api/users/{name}/api-keys/{id}" "$@"
