#!/usr/bin/env bash
# The one command that runs every GridPatrol test suite on a fresh machine:
#   bash scripts/test.sh
# It installs what the machine lacks, keeps cargo's build cache outside the repository (so a second run
# is fast), and fails on the first suite that fails.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# --- what the machine needs --------------------------------------------------------------------------
need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]} (apt-get)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# Build output lives outside the clone, shared by every checkout on this machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gridpatrol/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

# --- Rust: format, lints, every test ------------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy --all-targets (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "cargo test --workspace (unit, property, CLI, kill tests)"
cargo test --workspace --locked

# --- fuzzing, briefly: the sync decoder and the change validator (a long run is a benchmark: BENCHMARKS.md) ---
log "cargo fuzz: sync_decode, change_rules and change_validator, 20 s each"
bash scripts/fuzz.sh 20

# --- the HTTP API against its OpenAPI document (schemathesis, from PyPI) -------------------------------
log "HTTP API against its OpenAPI document (schemathesis) on a real demo server"
bash scripts/test-api.sh

# --- the bindings: Kotlin on the JVM, Swift compiled by real Swift in a Debian trixie chroot -------------
# (the first Swift run installs a 2.6 GB chroot under ~/.cache/gridpatrol, about 80 s; later runs reuse it)
log "Kotlin bindings on the JVM (Maven, JUnit 5, JNA) against a real server"
bash scripts/test-kotlin.sh

log "Swift bindings (swiftlang in a chroot, XCTest) against a real server"
bash scripts/test-swift.sh

# --- the supervisors' dashboard in a real browser (builds the dashboard, then the server embedding it) ---
bash scripts/test-dashboard.sh

log "all suites passed"
