#!/usr/bin/env bash
# The main job: the sync server with a demo district on embedded SQLite, and the supervisors' dashboard.
#   bash scripts/demo.sh [DATA_DIR] [LISTEN_ADDR]
# Builds the dashboard (npm) and the server (cargo, release), seeds DATA_DIR on first run (default
# /tmp/gridpatrol-demo), prints every token, and serves http://127.0.0.1:8080/ until ctrl-c.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-/tmp/gridpatrol-demo}"
listen="${2:-127.0.0.1:8080}"

if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: install Node.js 20 (apt-get install nodejs npm)" >&2
  exit 1
fi
if [ ! -f dashboard/dist/index.html ] || [ -n "$(find dashboard/src dashboard/index.html -newer dashboard/dist/index.html 2>/dev/null | head -1)" ]; then
  echo "==> building the dashboard (npm ci && npm run build)"
  (cd dashboard && npm ci --no-audit --no-fund && npm run build)
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gridpatrol/target}"
echo "==> building and starting gridpatrol-server demo (data in $data)"
exec cargo run --release -p gridpatrol-server -- demo --data "$data" --listen "$listen"
