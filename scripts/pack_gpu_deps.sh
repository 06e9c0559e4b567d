#!/usr/bin/env bash
# Packs what scripts/gpu_check.sh needs on a machine that has no package registry (a GPU
# machine with only CUDA, PyTorch and a compiler) into one ignored folder of the checkout:
#   DIR/include/    the header-only dependencies (CLI11, toml++, nlohmann-json, fmt, xtensor, xtl)
#                   and zlib.h, copied from this machine's Debian packages
#   DIR/src/googletest   GoogleTest's sources (Debian's googletest package)
#   DIR/data/brown       the prepared Brown corpus (scripts/prepare_data.sh), for `specopt train`
# cmake/offline/*Config.cmake turn these into the targets the build expects.
#
#   scripts/pack_gpu_deps.sh [DIR]        # default DIR: .device-carry (ignored by git)
#
# Run it here (after scripts/bootstrap.sh), then let DIR travel with the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'pack_gpu_deps: error: %s\n' "$*" >&2; exit 1; }
case "${1:-}" in
  -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
out=${1:-.device-carry}

need() { [[ -e $1 ]] || die "$1 is missing; run scripts/bootstrap.sh first ($2)"; }
need /usr/include/CLI/CLI.hpp libcli11-dev
need /usr/include/toml++/toml.h libtomlplusplus-dev
need /usr/include/nlohmann/json.hpp nlohmann-json3-dev
need /usr/include/fmt/format.h libfmt-dev
need /usr/include/xtensor/xarray.hpp libxtensor-dev
need /usr/include/xtl/xtl_config.hpp xtl-dev
need /usr/include/zlib.h zlib1g-dev
need /usr/src/googletest/CMakeLists.txt googletest

data_root=$(scripts/prepare_data.sh --print)
brown="$data_root/brown"
[[ -d $brown ]] || die "the Brown corpus is not prepared in $brown; run scripts/prepare_data.sh"

tmp="$out.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/include/zlib" "$tmp/src" "$tmp/data"
for d in CLI toml++ nlohmann fmt xtensor xtl; do cp -r "/usr/include/$d" "$tmp/include/"; done
cp /usr/include/zlib.h /usr/include/zconf.h "$tmp/include/zlib/"
# x86_64 Debian keeps zconf.h in the multiarch folder in some versions.
[[ -e /usr/include/x86_64-linux-gnu/zconf.h ]] && cp /usr/include/x86_64-linux-gnu/zconf.h "$tmp/include/zlib/"
cp -r /usr/src/googletest "$tmp/src/googletest"
cp -r "$brown" "$tmp/data/brown"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
printf 'pack_gpu_deps: packed %s (%s)\n' "$out" "$(du -sh "$out" | cut -f1)"
