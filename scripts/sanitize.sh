#!/usr/bin/env bash
# Builds the test suite with AddressSanitizer + UndefinedBehaviorSanitizer (CMake option
# SPECOPT_SANITIZE) in build-asan/ and runs it under ctest.
#
#   scripts/sanitize.sh [CTEST_REGEX]      e.g. scripts/sanitize.sh 'Reliability|Npy|Config'
#
# LibTorch itself is not instrumented (a prebuilt library); leak detection is off because
# LibTorch keeps global allocations until exit. A full build takes about as long as a normal
# one plus ~2x; the instrumented suite runs ~2-3x slower than the plain one.
set -euo pipefail
cd "$(dirname "$0")/.."
REGEX=${1:-.}
export CCACHE_DIR=${CCACHE_DIR:-/work/.ccache}
cmake -S . -B build-asan -DSPECOPT_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSPECOPT_BUILD_BENCH=OFF -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
cmake --build build-asan -j"${JOBS:-2}"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:${ASAN_OPTIONS:-}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}
ctest --test-dir build-asan --output-on-failure -j"${JOBS:-2}" -R "$REGEX"
