#!/usr/bin/env bash
# The Swift bindings, tested on Linux against the host build of gridpatrol-ffi and a real server:
#   bash scripts/test-swift.sh
#
# Swift comes from Debian trixie (`swiftlang`), installed into a debootstrap chroot kept outside the
# repository and reused when present: ${GRIDPATROL_CACHE:-~/.cache/gridpatrol}/swift-chroot. The first
# run creates it (about 80 s and 2.6 GB). The library, the bindings generated from it and the tests
# are mounted into the chroot; the server runs on the host, on a loopback port the chroot shares.
# `swift test` (XCTest) runs the package in ios/ there. Needs root (or sudo) for debootstrap, mount
# and chroot.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

CACHE="${GRIDPATROL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gridpatrol}"
CHROOT="$CACHE/swift-chroot"
READY=.gridpatrol-swift-ready   # written last, inside the chroot
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CACHE" "$CARGO_TARGET_DIR"

# --- Swift in a trixie chroot -------------------------------------------------------------------------
# The Debian mirror apt already uses here (one-line or deb822 sources), else the default one.
debian_mirror() {
  local uri
  uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^[[:space:]]*deb[[:space:]]/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }
         /^[[:space:]]*URIs:/ { print $2 }' |
    grep -E '/debian/?$' | grep -v -- '-security' | head -n 1 || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

install_chroot() {
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap (apt-get)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq debootstrap >/dev/null
  fi
  local mirror staging
  mirror="$(debian_mirror)"
  staging="$CHROOT.partial"
  log "creating the Swift chroot in $CHROOT (Debian trixie from $mirror; first run only)"
  unmount_all "$staging"
  $SUDO rm -rf "$staging"
  $SUDO debootstrap --variant=minbase trixie "$staging" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
    { tail -n 30 "$CACHE/debootstrap.log" >&2; exit 1; }
  $SUDO mount -t proc proc "$staging/proc"
  $SUDO chroot "$staging" apt-get update -qq
  $SUDO chroot "$staging" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    swiftlang libswiftlang libc6-dev ca-certificates >/dev/null
  $SUDO chroot "$staging" apt-get clean
  $SUDO umount "$staging/proc"
  $SUDO touch "$staging/$READY"
  # Renamed only when complete: an interrupted install is never taken for a working one.
  unmount_all "$CHROOT"
  $SUDO rm -rf "$CHROOT"
  $SUDO mv "$staging" "$CHROOT"
}

# Unmounts whatever a run left mounted under a chroot (an earlier run that was killed).
unmount_all() {
  local root="$1" m
  [ -d "$root" ] || return 0
  for m in "$root/run/gridpatrol" "$root/proc"; do
    if mountpoint -q "$m" 2>/dev/null; then $SUDO umount -l "$m"; fi
  done
}

# Whatever happens, stop the server and unmount what this run mounted.
WORK=""
SERVER_PID=""
cleanup() {
  local code=$?
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  unmount_all "$CHROOT.partial"
  unmount_all "$CHROOT"
  if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
  exit "$code"
}
trap cleanup EXIT INT TERM

started=$(date +%s)
if [ ! -f "$CHROOT/$READY" ]; then
  install_chroot
  echo "Swift chroot ready in $(( $(date +%s) - started )) s"
fi
unmount_all "$CHROOT"

# --- the library, the server, the bindings -----------------------------------------------------------
log "cargo build -p gridpatrol-ffi -p gridpatrol-uniffi-bindgen -p gridpatrol-server"
cargo build --locked -q -p gridpatrol-ffi -p gridpatrol-uniffi-bindgen -p gridpatrol-server
cargo build --locked -q -p gridpatrol-tests --bin make_jpeg
LIB="$CARGO_TARGET_DIR/debug/libgridpatrol_ffi.so"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/gridpatrol-swift.XXXXXX")"
# The package as an app gets it, with the bindings generated from the exact library the tests load
# (another build would fail uniffi's checksum check at the first call).
PKG="$WORK/package"
mkdir -p "$PKG" "$WORK/lib"
cp -r ios/Package.swift ios/Sources ios/Tests "$PKG/"
"$CARGO_TARGET_DIR/debug/uniffi-bindgen" generate "$LIB" --language swift --no-format \
  --out-dir "$WORK/generated" >/dev/null
cp "$WORK/generated/GridPatrolCore.swift" "$PKG/Sources/GridPatrolCore/"
cp "$WORK/generated/GridPatrolCoreFFI.h" "$PKG/Sources/GridPatrolCoreFFI/"
cp "$LIB" "$WORK/lib/"
# The camera photo the tests attach, generated rather than committed.
mkdir -p "$WORK/fixtures"
"$CARGO_TARGET_DIR/debug/make_jpeg" "$WORK/fixtures/street.jpg" 480 360 7

# --- a real server on loopback -----------------------------------------------------------------------
log "starting gridpatrol-server demo on 127.0.0.1"
"$CARGO_TARGET_DIR/debug/gridpatrol-server" demo --data "$WORK/server" --listen 127.0.0.1:0 --json \
  >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
SERVER_URL=""
for _ in $(seq 1 300); do
  SERVER_URL="$(sed -n 's/^listening on \(.*\)$/http:\/\/\1/p' "$WORK/server.out" | head -n 1)"
  [ -n "$SERVER_URL" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "the server stopped" >&2; exit 1; }
  sleep 0.1
done
[ -n "$SERVER_URL" ] || { cat "$WORK/server.log" >&2; echo "the server did not start" >&2; exit 1; }
echo "server at $SERVER_URL"

# --- swift test in the chroot ------------------------------------------------------------------------
log "swift test (XCTest) in the chroot"
$SUDO mkdir -p "$CHROOT/run/gridpatrol"
$SUDO mount --bind "$WORK" "$CHROOT/run/gridpatrol"
$SUDO mount -t proc proc "$CHROOT/proc"
set +e
$SUDO chroot "$CHROOT" env -i PATH=/usr/bin:/bin HOME=/tmp LANG=C.UTF-8 \
  LD_LIBRARY_PATH=/run/gridpatrol/lib \
  GRIDPATROL_SERVER="$SERVER_URL" \
  GRIDPATROL_DEMO_TOKENS=/run/gridpatrol/server/demo-tokens.json \
  GRIDPATROL_TEST_JPEG=/run/gridpatrol/fixtures/street.jpg \
  swift test --package-path /run/gridpatrol/package --scratch-path /run/gridpatrol/build \
    --disable-swift-testing -Xlinker -L/run/gridpatrol/lib 2>&1 | tee "$WORK/swift-test.log"
status=${PIPESTATUS[0]}
set -e

# XCTest's last summary, as the plain line CI reads: "Executed 8 tests, with 0 failures ...".
summary="$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" "$WORK/swift-test.log" | tail -n 1 || true)"
total="$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<<"$summary")"
failures="$(sed -E 's/.*with ([0-9]+) failures?.*/\1/' <<<"$summary")"
if [ -z "$summary" ] || [ "$total" -eq 0 ]; then
  echo "no Swift test ran" >&2
  total=0 failures=0
  [ "$status" -eq 0 ] && status=1
fi
if [ "$status" -ne 0 ]; then
  echo "--- gridpatrol-server log (last 40 lines) ---" >&2
  tail -n 40 "$WORK/server.log" >&2 || true
fi
echo "swift: $((total - failures)) passed, $failures failed"
exit "$status"
