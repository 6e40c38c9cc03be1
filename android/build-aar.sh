#!/usr/bin/env bash
# Builds the Android library, gridpatrol-android-release.aar:
#   bash android/build-aar.sh            # then: android/gridpatrol-android/build/outputs/aar/
#   bash android/build-aar.sh publish    # also into ~/.m2 (org.gridpatrol:gridpatrol-android)
#
# Needs the Android NDK (ANDROID_NDK_HOME), cargo-ndk (`cargo install cargo-ndk`), the Android SDK
# (ANDROID_HOME, platform 35) and Gradle 8.9 or newer. None of these is on the project's CI machine, so
# the AAR is not built there; the same Kotlin bindings are tested on the JVM by scripts/test-kotlin.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

ABIS=(arm64-v8a armeabi-v7a x86_64)
MIN_SDK=26
MODULE=android/gridpatrol-android
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gridpatrol/target}"

: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the Android NDK (r26 or newer)}"
command -v cargo-ndk >/dev/null 2>&1 || { echo "cargo-ndk missing: cargo install cargo-ndk" >&2; exit 1; }
command -v gradle >/dev/null 2>&1 || { echo "gradle missing: install Gradle 8.9+ (or open android/ in Android Studio)" >&2; exit 1; }

rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android

# The native library for each ABI, built with the `mobile` profile (Cargo.toml: LTO, one codegen unit,
# optimized for size, stripped; JNA finds the exports in .dynsym).
rm -rf "$MODULE/src/main/jniLibs"
targets=()
for abi in "${ABIS[@]}"; do targets+=(-t "$abi"); done
cargo ndk "${targets[@]}" --platform "$MIN_SDK" -o "$MODULE/src/main/jniLibs" \
  build --locked --profile mobile -p gridpatrol-ffi

# The Kotlin bindings (android = true, from ffi/uniffi.toml), generated from a library packed above.
rm -rf "$MODULE/src/main/kotlin"
cargo run --locked -q -p gridpatrol-uniffi-bindgen -- generate \
  "$MODULE/src/main/jniLibs/arm64-v8a/libgridpatrol_ffi.so" \
  --language kotlin --no-format --out-dir "$MODULE/src/main/kotlin"

cd android
gradle --no-daemon :gridpatrol-android:assembleRelease
if [ "${1:-}" = "publish" ]; then
  gradle --no-daemon :gridpatrol-android:publishToMavenLocal
fi
ls -l gridpatrol-android/build/outputs/aar/
