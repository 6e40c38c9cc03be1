#!/usr/bin/env bash
# The HTTP API against its own OpenAPI document, on a real `gridpatrol-server demo` on loopback:
#   bash scripts/test-api.sh
# schemathesis (from PyPI, in a virtualenv kept under ~/.cache/gridpatrol) generates requests from the
# document, for a desk token and for a device token, and checks every answer: never a server error, only
# documented status codes, content types and headers, bodies that match the documented schemas. A fixed
# seed keeps the run the same from one time to the next. Business-rule refusals (a deadline in the past,
# an offset past the total) are 400s by design, so the checks that expect every schema-valid request to
# succeed are not run.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

SCHEMATHESIS_VERSION=4.32.5
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/gridpatrol"
VENV="$CACHE/schemathesis-$SCHEMATHESIS_VERSION"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"

if [ ! -x "$VENV/bin/st" ]; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV (PyPI)"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv
    rm -rf "$VENV"
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

log "cargo build -p gridpatrol-server"
cargo build -q --locked -p gridpatrol-server

tmp=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

"$CARGO_TARGET_DIR/debug/gridpatrol-server" demo --data "$tmp/data" --listen 127.0.0.1:0 \
  >"$tmp/server.out" 2>"$tmp/server.log" &
server_pid=$!
for _ in $(seq 1 300); do
  grep -q '^listening on ' "$tmp/server.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
  sleep 0.1
done
addr=$(sed -n 's/^listening on //p' "$tmp/server.out")
[ -n "$addr" ] || { echo "the demo server did not start" >&2; cat "$tmp/server.log" >&2; exit 1; }

token_of() {
  python3 -c 'import json,sys; print(next(t["token"] for t in json.load(open(sys.argv[1])) if t["id"] == sys.argv[2]))' \
    "$tmp/data/demo-tokens.json" "$1"
}

status=0
for who in d-supervisor w-001; do
  log "schemathesis as $who against http://$addr/api/v1/openapi.json"
  # From the temporary directory: schemathesis keeps its example database in the working directory.
  (cd "$tmp" && "$VENV/bin/st" run "http://$addr/api/v1/openapi.json" \
    -H "Authorization: Bearer $(token_of "$who")" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --max-examples 50 --seed 20261202 --no-color) || status=1
done
if [ "$status" -ne 0 ]; then
  echo "--- server log ---" >&2
  tail -n 50 "$tmp/server.log" >&2
fi
exit "$status"
