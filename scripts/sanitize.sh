#!/usr/bin/env bash
# Builds the test suite with AddressSanitizer + UndefinedBehaviorSanitizer (CMake option
# SPECOPT_SANITIZE) in build-asan/ and runs it under ctest.
#
#   scripts/sanitize.sh [CTEST_REGEX]             everything built, the tests matching run by ctest
#       scripts/sanitize.sh 'Reliability|Npy|Config'
#   scripts/sanitize.sh --only TEST_BINARY...     only these GoogleTest binaries built, and each
#                                                 run directly (all its tests in one process:
#                                                 much faster than ctest's process per test)
#       scripts/sanitize.sh --only specopt_optim_tests specopt_matfun_tests specopt_maps_tests
#
# Environment: SANITIZE_CXX (default clang++ where installed, else c++), JOBS (default 2).
# Compiled at -O1 with line tables only (-g1): what ASan recommends, and it keeps the build of
# the LibTorch-heavy translation units affordable. LibTorch itself is not instrumented (a
# prebuilt library); leak detection is off because LibTorch keeps global allocations until
# exit. The same options are exported before the build, because gtest_discover_tests runs
# every instrumented test binary at build time.
set -euo pipefail
cd "$(dirname "$0")/.."
REGEX=.
TARGETS=()
if [ "${1:-}" = "--only" ]; then
  shift
  TARGETS=("$@")
  [ ${#TARGETS[@]} -gt 0 ] || { echo "sanitize.sh: --only needs test binaries" >&2; exit 2; }
else
  REGEX=${1:-.}
fi
export CCACHE_DIR=${CCACHE_DIR:-/work/.ccache}
CXX_SAN=${SANITIZE_CXX:-$(command -v clang++ || echo c++)}
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}
cmake -S . -B build-asan -DSPECOPT_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$CXX_SAN" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DSPECOPT_BUILD_BENCH=OFF -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
if [ ${#TARGETS[@]} -gt 0 ]; then
  cmake --build build-asan -j"${JOBS:-2}" --target "${TARGETS[@]}"
  status=0
  for t in "${TARGETS[@]}"; do
    echo "== $t"
    start=$(date +%s)
    rc=0
    (cd build-asan/tests && "./$t") || rc=$?
    [ $rc -eq 0 ] || status=1
    echo "== $t: exit $rc after $(( $(date +%s) - start )) s"
  done
  exit $status
fi
cmake --build build-asan -j"${JOBS:-2}"
# install_example is left out: it installs this build's libspecopt.a, instrumented, and links
# examples/find_package against it without the sanitizer runtime (undefined __asan_* symbols),
# which says nothing about the code.
ctest --test-dir build-asan --output-on-failure -j"${JOBS:-2}" -R "$REGEX" -E '^install_example$'
