#!/usr/bin/env bash
# Builds GridPatrolCoreFFI.xcframework and the Swift bindings for the GridPatrolCore package (macOS with
# Xcode only):
#   bash ios/build-xcframework.sh
# then add the package in ios/ to the app (Xcode: File > Add Package Dependencies > Add Local...).
#
# Slices: iOS devices (arm64), the iOS simulator (arm64 + x86_64, joined with lipo) and macOS (arm64 +
# x86_64, so that `swift build` and `swift test` work on a Mac). The Swift file is generated from the
# same build, so its checksums match the library the app links.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(uname -s)" = "Darwin" ] || { echo "the XCFramework needs macOS with Xcode (xcodebuild, lipo)" >&2; exit 1; }
command -v xcodebuild >/dev/null 2>&1 || { echo "xcodebuild missing: install Xcode" >&2; exit 1; }

LIB=libgridpatrol_ffi.a
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gridpatrol/target}"
OUT="$CARGO_TARGET_DIR/xcframework"
TARGETS=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
export IPHONEOS_DEPLOYMENT_TARGET=15.0 MACOSX_DEPLOYMENT_TARGET=12.0

rustup target add "${TARGETS[@]}"
for target in "${TARGETS[@]}"; do
  cargo build --locked --profile mobile -p gridpatrol-ffi --target "$target"
done

rm -rf "$OUT"
mkdir -p "$OUT/ios-simulator" "$OUT/macos" "$OUT/headers" "$OUT/swift"
lipo -create \
  "$CARGO_TARGET_DIR/aarch64-apple-ios-sim/mobile/$LIB" \
  "$CARGO_TARGET_DIR/x86_64-apple-ios/mobile/$LIB" \
  -output "$OUT/ios-simulator/$LIB"
lipo -create \
  "$CARGO_TARGET_DIR/aarch64-apple-darwin/mobile/$LIB" \
  "$CARGO_TARGET_DIR/x86_64-apple-darwin/mobile/$LIB" \
  -output "$OUT/macos/$LIB"

# Bindings: GridPatrolCore.swift, GridPatrolCoreFFI.h and its module map (names from ffi/uniffi.toml).
cargo run --locked -q -p gridpatrol-uniffi-bindgen -- generate \
  "$CARGO_TARGET_DIR/aarch64-apple-ios/mobile/$LIB" --language swift --out-dir "$OUT/swift"
cp "$OUT/swift/GridPatrolCoreFFI.h" "$OUT/headers/"
cp "$OUT/swift/GridPatrolCoreFFI.modulemap" "$OUT/headers/module.modulemap"

rm -rf ios/GridPatrolCoreFFI.xcframework
xcodebuild -create-xcframework \
  -library "$CARGO_TARGET_DIR/aarch64-apple-ios/mobile/$LIB" -headers "$OUT/headers" \
  -library "$OUT/ios-simulator/$LIB" -headers "$OUT/headers" \
  -library "$OUT/macos/$LIB" -headers "$OUT/headers" \
  -output ios/GridPatrolCoreFFI.xcframework
cp "$OUT/swift/GridPatrolCore.swift" ios/Sources/GridPatrolCore/

echo "built ios/GridPatrolCoreFFI.xcframework and ios/Sources/GridPatrolCore/GridPatrolCore.swift"
