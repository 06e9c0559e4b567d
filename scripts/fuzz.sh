#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (-fsanitize=fuzzer,address,undefined) and
# runs each for a bounded time from its seed corpus in fuzz/corpus/<target>/, printing the
# executions and coverage libFuzzer reports. Crashes are saved under build-fuzz/crashes/.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s; all targets)
#
# Targets (none links LibTorch, so they build in seconds):
#   npy_header   lab/npy_header.cpp         the .npy header reader
#   config       lab/train/config.cpp       the TOML training-config loader
#   set          lab/train/config.cpp       `--set section.key=value` overrides
#   checksum     specopt/util/checksum.cpp  the checkpoint integrity trailer every checkpoint
#                                           read verifies before parsing anything
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(npy_header config set checksum)
CXX=${CXX_FUZZ:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz.sh: $CXX not found (apt-get install clang)" >&2; exit 1; }
OUT=build-fuzz
mkdir -p "$OUT/crashes"
FLAGS=(-std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I. -DTOML_HEADER_ONLY=1)

sources() {
  case "$1" in
    npy_header) echo "fuzz/npy_header_fuzz.cpp lab/npy_header.cpp" ;;
    config) echo "fuzz/config_fuzz.cpp lab/train/config.cpp lab/train/config_json.cpp lab/data/paths.cpp fuzz/config_maps_fuzz.cpp" ;;
    set) echo "fuzz/set_fuzz.cpp lab/train/config.cpp lab/train/config_json.cpp lab/data/paths.cpp fuzz/config_maps_fuzz.cpp" ;;
    checksum) echo "fuzz/checksum_fuzz.cpp specopt/util/checksum.cpp" ;;
    *) echo "fuzz.sh: unknown target '$1'" >&2; exit 2 ;;
  esac
}
corpus_dir() {
  case "$1" in
    npy_header) echo fuzz/corpus/npy ;;
    *) echo "fuzz/corpus/$1" ;;
  esac
}

for t in "${TARGETS[@]}"; do
  bin="$OUT/${t}_fuzz"
  # shellcheck disable=SC2046
  "$CXX" "${FLAGS[@]}" $(sources "$t") -o "$bin"
  work="$OUT/corpus-$t"          # grows while fuzzing; the seeds in the repo stay as they are
  mkdir -p "$work"
  echo "== $t: ${SECONDS_PER_TARGET} s"
  "$bin" "$work" "$(corpus_dir "$t")" -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 \
    -artifact_prefix="$OUT/crashes/$t-" -print_final_stats=1 2>"$OUT/$t.log" || {
    tail -40 "$OUT/$t.log"; echo "fuzz.sh: $t FAILED (artifact in $OUT/crashes/)" >&2; exit 1; }
  grep -E "^#[0-9]+.*(DONE|pulse)" "$OUT/$t.log" | tail -1
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$OUT/$t.log"
done
