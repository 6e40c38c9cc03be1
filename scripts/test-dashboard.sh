#!/usr/bin/env bash
# The supervisor dashboard's suites on a fresh machine:
#   bash scripts/test-dashboard.sh
# Installs what it needs (Debian's chromium and CJK fonts, the npm packages from the lockfile), runs the
# unit tests (vitest), builds the dashboard and then the server that embeds it, and runs the browser suite:
# playwright-core driving chromium against a real `gridpatrol-server demo` on loopback and the device CLI.
# Screenshots and the server log land in dashboard/test-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# --- what the machine needs --------------------------------------------------------------------------
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need_apt+=(fonts-noto-cjk)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]} (apt-get)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' || {
  echo "Node.js 20.19 or newer is needed to build the dashboard (vite 7); found $(node --version)" >&2
  exit 1
}
if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gridpatrol/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

# --- the dashboard -----------------------------------------------------------------------------------
log "npm ci (dashboard/)"
(cd dashboard && npm ci --no-audit --no-fund)

log "unit tests (vitest: GCJ-02, CSV, countdown, forms, paging)"
(cd dashboard && npm test)

log "npm run build (type check + vite) → dashboard/dist"
(cd dashboard && npm run build)

# --- the binaries: the server embeds dashboard/dist, so it is built after it ------------------------------
log "cargo build -p gridpatrol-server -p gridpatrol-cli"
cargo build --locked -p gridpatrol-server -p gridpatrol-cli

# --- the browser suite -------------------------------------------------------------------------------
log "browser suite (playwright-core + chromium, real demo server, device CLI)"
(cd dashboard && GRIDPATROL_BIN_DIR="$CARGO_TARGET_DIR/debug" node --test tests/e2e.mjs)
