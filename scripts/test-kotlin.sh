#!/usr/bin/env bash
# The Kotlin bindings, tested on a desktop JVM against the host build of gridpatrol-ffi and a real server:
#   bash scripts/test-kotlin.sh
#
# Runs `mvn test` in android/jvm-tests, which builds the library and the server with cargo, generates the
# Kotlin bindings from that library (android = false) and runs the JUnit 5 tests through JNA. Installs a
# JDK and Maven with apt-get when missing; Maven takes its dependencies from Maven Central into ~/.m2.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

need_apt=()
command -v javac >/dev/null 2>&1 || need_apt+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]} (apt-get)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gridpatrol/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

log "mvn test (android/jvm-tests: cargo build, Kotlin bindings, JUnit 5 through JNA, gridpatrol-server demo)"
reports=android/jvm-tests/target/surefire-reports
rm -rf "$reports"
# (Maven 3.8's console library writes colour resets even in batch mode: strip them.)
set +e
mvn -B -q -Dstyle.color=never -f android/jvm-tests/pom.xml test 2>&1 | sed 's/\x1b\[[0-9;]*m//g'
status=${PIPESTATUS[0]}
set -e

# mvn -q prints nothing on success: say what ran, from surefire's reports.
attr() { sed -n "s/.*<testsuite [^>]* $1=\"\([0-9]*\)\".*/\1/p" "$2" | head -n 1; }
passed=0 failed=0
for xml in "$reports"/TEST-*.xml; do
  [ -f "$xml" ] || continue
  tests=$(attr tests "$xml") failures=$(attr failures "$xml") errors=$(attr errors "$xml") skipped=$(attr skipped "$xml")
  passed=$((passed + tests - failures - errors - skipped))
  failed=$((failed + failures + errors))
done
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then
  echo "no Kotlin test ran" >&2
  status=1
fi
echo "kotlin: $passed passed, $failed failed"
exit "$status"
