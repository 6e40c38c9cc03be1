#!/usr/bin/env bash
# Fuzzes what a device sends the server: the sync envelope decoder, the change rules (preflight,
# automerge's decoder and the shape rules: fast, for volume) and the change validator (all of that, then
# the merge and the rules after it against a real case on the protocol: slow, for depth).
#   FUZZ_TARGETS="change_rules" bash scripts/fuzz.sh ...   # some targets only
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]        # default 20: the brief run the test command makes
#   bash scripts/fuzz.sh 0 RUNS                      # a fixed number of executions per target instead
# Needs cargo-fuzz (installed here if missing). libFuzzer's instrumentation needs unstable rustc flags:
# with a stable toolchain RUSTC_BOOTSTRAP=1 allows them (no sanitizer, so no nightly-only runtime).
# Corpora and crashes live outside the repository, beside the build cache.
set -euo pipefail
cd "$(dirname "$0")/../core/fuzz"
secs="${1:-20}"
runs="${2:-0}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gridpatrol/target-fuzz}"
corpus_root="${FUZZ_CORPUS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gridpatrol/fuzz-corpus}"
command -v cargo-fuzz >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo-fuzz" ] ||
  cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
# automerge panics on some hostile changes; the server catches those (`untrusted`) and refuses the change.
# A backtrace for each would bury the log, so the brief runs print the panic's message only.
export RUST_BACKTRACE="${FUZZ_BACKTRACE:-0}"
for target in ${FUZZ_TARGETS:-sync_decode change_rules change_validator}; do
  mkdir -p "$corpus_root/$target"
  args=(-max_len=65536 -rss_limit_mb=2048 -print_final_stats=1)
  if [ "$runs" -gt 0 ]; then
    args+=("-runs=$runs")
    echo "fuzz $target: $runs executions"
  else
    # The brief run of the test command uses a fixed seed, so a red CI is reproducible.
    args+=("-max_total_time=$secs" "-seed=${FUZZ_SEED:-1}")
    echo "fuzz $target: $secs s"
  fi
  cargo fuzz run --sanitizer none --release "$target" "$corpus_root/$target" -- "${args[@]}"
done
