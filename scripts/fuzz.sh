#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (-fsanitize=fuzzer,address,undefined) and
# runs each for a bounded time from its seed corpus in fuzz/corpus/<target>/, printing the
# executions and coverage libFuzzer reports. Crashes are saved under build-fuzz/crashes/.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s; all targets)
#
# Targets that link no LibTorch (compiled here directly, in seconds):
#   npy_header   lab/npy_header.cpp         the .npy header reader
#   config       lab/train/config.cpp       the TOML training-config loader
#   set          lab/train/config.cpp       `--set section.key=value` overrides
#   checksum     specopt/util/checksum.cpp  the checkpoint integrity trailer every checkpoint
#                                           read verifies before parsing anything
# and one that does (CMake, -DSPECOPT_FUZZ=ON, in build-fuzz/cmake; the first build compiles
# the library, ~10 min on 2 cores):
#   checkpoint   specopt/optim/checkpoint.cpp + LibTorch's archive reader: the checkpoint
#                loader, fed the fuzzed bytes behind a valid trailer (fuzz/checkpoint_fuzz.cpp)
#
# The checkpoint seeds are written by `build-fuzz/cmake/fuzz/checkpoint_seeds
# fuzz/corpus/checkpoint` (real checkpoints of the target's optimizers).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(npy_header config set checksum checkpoint)
CXX=${CXX_FUZZ:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz.sh: $CXX not found (apt-get install clang)" >&2; exit 1; }
OUT=build-fuzz
mkdir -p "$OUT/crashes"
FLAGS=(-std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I. -DTOML_HEADER_ONLY=1)

sources() {
  case "$1" in
    npy_header) echo "fuzz/npy_header_fuzz.cpp lab/npy_header.cpp" ;;
    config) echo "fuzz/config_fuzz.cpp lab/train/config.cpp lab/train/config_json.cpp lab/data/paths.cpp fuzz/config_registry_fuzz.cpp" ;;
    set) echo "fuzz/set_fuzz.cpp lab/train/config.cpp lab/train/config_json.cpp lab/data/paths.cpp fuzz/config_registry_fuzz.cpp" ;;
    checksum) echo "fuzz/checksum_fuzz.cpp specopt/util/checksum.cpp" ;;
    checkpoint) echo "(cmake)" ;;
    *) echo "fuzz.sh: unknown target '$1'" >&2; exit 2 ;;
  esac
}
corpus_dir() {
  case "$1" in
    npy_header) echo fuzz/corpus/npy ;;
    *) echo "fuzz/corpus/$1" ;;
  esac
}

# The LibTorch-linked target: the whole library instrumented, by CMake (ccache where present).
build_cmake_target() {
  local launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S . -B "$OUT/cmake" -DSPECOPT_FUZZ=ON -DCMAKE_CXX_COMPILER="$(command -v "$CXX")" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
    -DSPECOPT_BUILD_APPS=OFF -DSPECOPT_BUILD_TESTS=OFF -DSPECOPT_BUILD_BENCH=OFF \
    "${launcher[@]}" >"$OUT/cmake-configure.log"
  cmake --build "$OUT/cmake" -j"${JOBS:-2}" --target "$1" "${1%_fuzz}_seeds"
}

for t in "${TARGETS[@]}"; do
  bin="$OUT/${t}_fuzz"
  extra=(-max_len=4096)
  asan=""
  if [ "$(sources "$t")" = "(cmake)" ]; then
    build_cmake_target "${t}_fuzz"
    bin="$OUT/cmake/fuzz/${t}_fuzz"
    # Inputs as long as the largest seed (libFuzzer's default); LibTorch keeps global
    # allocations until exit, so no leak check. LibTorch 1.13's unpickler allocates and
    # zero-fills a string of whatever length a pickle opcode claims (up to 4 GiB) before it
    # finds the data missing and throws (docs/reliability.md): a known defect outside specopt
    # that mutations reach every few hundred inputs. So this target runs in fork mode, where an
    # out-of-memory child (an allocation over 1 GiB) is counted and fuzzing goes on; a crash,
    # an ASan/UBSan report or a violated invariant still stops the run.
    extra=(-detect_leaks=0 -timeout=60 -malloc_limit_mb=1024 -rss_limit_mb=4096 -fork=1
           -ignore_ooms=1 -ignore_timeouts=1 -ignore_crashes=0)
    asan=detect_leaks=0    # the at-exit leak check of the fork-mode children, too
  else
    # shellcheck disable=SC2046
    "$CXX" "${FLAGS[@]}" $(sources "$t") -o "$bin"
  fi
  work="$OUT/corpus-$t"          # grows while fuzzing; the seeds in the repo stay as they are
  mkdir -p "$work"
  echo "== $t: ${SECONDS_PER_TARGET} s"
  rc=0
  ASAN_OPTIONS=$asan${ASAN_OPTIONS:+:$ASAN_OPTIONS} "$bin" "$work" "$(corpus_dir "$t")" \
    -max_total_time="$SECONDS_PER_TARGET" "${extra[@]}" \
    -artifact_prefix="$OUT/crashes/$t-" -print_final_stats=1 2>"$OUT/$t.log" || rc=$?
  # In fork mode the run ends with the exit status of the job it cut short at the time limit
  # (70 when that counts as a timeout): what decides is the crash count of the last report.
  if [ $rc -ne 0 ] && [[ " ${extra[*]} " == *" -fork=1 "* ]] &&
     grep -E "^#[0-9]+: cov:" "$OUT/$t.log" | tail -1 | grep -qE "oom/timeout/crash: [0-9]+/[0-9]+/0 " &&
     ! grep -qE "ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer|libFuzzer: deadly)|runtime error:|invariant violated|log from the inner process" "$OUT/$t.log"; then
    rc=0
  fi
  [ $rc -eq 0 ] || {
    tail -40 "$OUT/$t.log"; echo "fuzz.sh: $t FAILED (artifact in $OUT/crashes/)" >&2; exit 1; }
  # Executions and coverage: the final line (single process), or the last job's (fork mode,
  # which also counts the out-of-memory/timeout inputs it went past).
  grep -E "^#[0-9]+.*(DONE|pulse)|^#[0-9]+: cov:" "$OUT/$t.log" | tail -1
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$OUT/$t.log" || true
done
