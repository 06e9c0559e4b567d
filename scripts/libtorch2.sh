#!/usr/bin/env bash
# Builds this checkout against LibTorch 2.6 (Debian 13 "trixie") and runs the whole test suite.
#
#   scripts/libtorch2.sh [options] [-- extra ctest arguments]
#
# Steps (each one is skipped when its result is already there):
#   1. a Debian 13 root made by `debootstrap --variant=minbase` in a cache folder, from the same
#      Debian mirror this machine's apt sources use;
#   2. LibTorch 2.6 (libtorch-dev, python3-torch) and the packages the build and the tests need,
#      installed in that root; a marker file, written last, records the package list, so a root
#      that is incomplete (interrupted run) or has another list is finished or updated;
#   3. /proc, /sys, /dev, the checkout (at its own path) and the data cache mounted into the root;
#      they are unmounted on exit, whatever the exit;
#   4. a lean build (no benchmarks) of the checkout in the root's own build folder, then `ctest`.
# The exit status is ctest's (0: every test passed). Needs root (debootstrap, mount, chroot).
#
# Environment:
#   SPECOPT_TRIXIE_ROOT     the root's folder (default /var/cache/specopt/trixie)
#   SPECOPT_DEBIAN_MIRROR   Debian mirror URL (default: the one in /etc/apt/sources.list*)
#   SPECOPT_DATA            data cache mounted into the root (default ~/.cache/specopt)
#   CCACHE_DIR              when set, mounted into the root and used by the build (ccache)
set -euo pipefail

readonly SUITE=trixie
readonly MARKER=.specopt-libtorch2-ready
readonly DEBOOTSTRAP_MARKER=.specopt-debootstrap-done
packages=(
  libtorch-dev python3-torch libgloo-dev
  # Debian's libtorch links the generic libblas.so.3: OpenBLAS, not the reference BLAS.
  libopenblas0-openmp
  cmake g++ make git ccache
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libfmt-dev
  libxtensor-dev xtl-dev zlib1g-dev
  gnuplot-nox
  # the report test renders index.html in headless Chromium (with a font).
  chromium fonts-dejavu-core
  dataset-fashion-mnist
  # the Python package (python/), built against the root's python3-torch 2.6 and tested
  # (torch.utils.cpp_extension imports setuptools)
  pybind11-dev python3-dev python3-pytest python3-setuptools
)

say() { printf 'libtorch2: %s\n' "$*"; }
die() { printf 'libtorch2: error: %s\n' "$*" >&2; exit 2; }

usage() {
  cat <<'EOF'
Usage: scripts/libtorch2.sh [options] [-- extra ctest arguments]

Builds this checkout against LibTorch 2.6 in a Debian 13 root (made with debootstrap and kept
in a cache folder for the next run) and runs the whole test suite there with ctest.
The exit status is ctest's: 0 when every test passed; 2 on a set-up error.

Options:
  --root DIR      the Debian 13 root (default $SPECOPT_TRIXIE_ROOT or /var/cache/specopt/trixie)
  --mirror URL    Debian mirror (default $SPECOPT_DEBIAN_MIRROR or this machine's apt source)
  --jobs N        parallel compile and test jobs (default 2)
  --target NAME   build only this CMake target (repeatable; default: everything); pair it with
                  a ctest filter, e.g. --target specopt_maps_tests -- -R '^Maps\.'
  --fresh-build   delete the root's build folder first (the root itself is kept)
  --setup-only    make and fill the root, then stop (no build, no tests)
  -h, --help      this text

Environment: SPECOPT_TRIXIE_ROOT, SPECOPT_DEBIAN_MIRROR, SPECOPT_DATA (data cache, default
~/.cache/specopt), CCACHE_DIR (when set, the build uses ccache with that folder).
Example: scripts/libtorch2.sh -- -R 'Maps|dist'
EOF
}

root_dir=${SPECOPT_TRIXIE_ROOT:-/var/cache/specopt/trixie}
mirror=${SPECOPT_DEBIAN_MIRROR:-}
jobs=2
fresh_build=0
setup_only=0
targets=()
ctest_args=()
while (($#)); do
  case $1 in
    --root) [[ $# -ge 2 ]] || die "--root needs a folder"; root_dir=$2; shift 2 ;;
    --mirror) [[ $# -ge 2 ]] || die "--mirror needs a URL"; mirror=$2; shift 2 ;;
    --jobs)
      [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a positive integer, got '${2:-}'"
      jobs=$2; shift 2 ;;
    --target) [[ $# -ge 2 && -n $2 ]] || die "--target needs a target name"; targets+=(--target "$2"); shift 2 ;;
    --fresh-build) fresh_build=1; shift ;;
    --setup-only) setup_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; ctest_args=("$@"); break ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, mount, chroot); run: sudo $0"
for tool in debootstrap chroot mount umount mountpoint; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "'$tool' not found; on Debian: apt-get install debootstrap"
done
[[ $root_dir == /* && $root_dir != / ]] || die "the root folder must be an absolute path other than /, got '$root_dir'"

src=$(cd "$(dirname "$0")/.." && pwd -P)
data=${SPECOPT_DATA:-${HOME:-/root}/.cache/specopt}

# The Debian mirror of this machine's apt sources: the URI of the entry for its own release
# (one-line *.list files and deb822 *.sources files).
host_mirror() {
  local codename f
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [[ -n $codename ]] || return 1
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    awk -v c="$codename" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++;
      if ($2 ~ /^\[/) i++; if ($(i + 1) == c) { print $i; exit } }' "$f"
  done | head -n 1 | grep . && return 0
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    # stanzas are separated by blank lines; keep a deb stanza whose Suites has the codename.
    awk -v c="$codename" 'BEGIN { RS = ""; FS = "\n" } {
      types = ""; uri = ""; suites = "";
      for (k = 1; k <= NF; k++) {
        if ($k ~ /^Types:/) types = $k; else if ($k ~ /^URIs:/) uri = $k; else if ($k ~ /^Suites:/) suites = $k
      }
      if (types ~ /(^|[ \t])deb([ \t]|$)/ && (" " suites " ") ~ ("[ \t]" c "[ \t]")) {
        sub(/^URIs:[ \t]*/, "", uri); split(uri, u, /[ \t]+/); print u[1]; exit
      }
    }' "$f"
  done | head -n 1 | grep .
}
if [[ -z $mirror ]]; then
  mirror=$(host_mirror) ||
    die "found no Debian mirror in /etc/apt/sources.list*; pass --mirror URL (e.g. http://deb.debian.org/debian)"
fi

# ---- mounts, undone on every exit ---------------------------------------------------------------
mounted=()  # mount points, in mounting order
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount -R "${mounted[i]}" 2>/dev/null || umount -R -l "${mounted[i]}" 2>/dev/null ||
      printf 'libtorch2: warning: could not unmount %s\n' "${mounted[i]}" >&2
  done
  mounted=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# mount_into <how: proc|sys|dev|bind> <host path> <path in the root>
mount_into() {
  local how=$1 from=$2 to=$root_dir$3
  mkdir -p "$to"
  mountpoint -q "$to" && die "$to is already a mount point (another run in progress? else: umount -R $to)"
  case $how in
    proc) mount -t proc proc "$to" ;;
    sys) mount --rbind /sys "$to" && mount --make-rslave "$to" ;;
    dev) mount --rbind /dev "$to" && mount --make-rslave "$to" ;;
    bind) mount --bind "$from" "$to" ;;
  esac || die "could not mount $from on $to"
  mounted+=("$to")
}

in_root() {
  chroot "$root_dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# ---- 1. the root --------------------------------------------------------------------------------
wanted="$SUITE ${packages[*]}"
if [[ -f $root_dir/$MARKER && $(cat "$root_dir/$MARKER") == "$wanted" ]]; then
  say "reusing the Debian 13 root $root_dir"
else
  if [[ ! -f $root_dir/$DEBOOTSTRAP_MARKER ]]; then
    if [[ -e $root_dir ]]; then
      # An interrupted debootstrap: start over (nothing may still be mounted below it).
      grep -q " $root_dir/" /proc/mounts && die "something is mounted below $root_dir; unmount it first"
      say "removing the incomplete root $root_dir"
      rm -rf --one-file-system "$root_dir"
    fi
    mkdir -p "$(dirname "$root_dir")"
    say "debootstrap --variant=minbase $SUITE $root_dir $mirror (about 1-2 minutes)"
    t0=$SECONDS
    debootstrap --variant=minbase "$SUITE" "$root_dir" "$mirror" >"$root_dir.debootstrap.log" 2>&1 || {
      tail -n 20 "$root_dir.debootstrap.log" >&2
      die "debootstrap failed; full log: $root_dir.debootstrap.log"
    }
    touch "$root_dir/$DEBOOTSTRAP_MARKER"
    rm -f "$root_dir.debootstrap.log"
    say "root made in $((SECONDS - t0)) s"
  fi
  echo "deb $mirror $SUITE main" >"$root_dir/etc/apt/sources.list"
  cp -L /etc/resolv.conf "$root_dir/etc/resolv.conf" 2>/dev/null || true
  mount_into proc proc /proc
  mount_into sys /sys /sys
  mount_into dev /dev /dev
  say "installing LibTorch 2.6 and the build dependencies in the root (a few minutes)"
  t0=$SECONDS
  log=$root_dir/var/log/specopt-apt.log
  if ! in_root sh -c 'export DEBIAN_FRONTEND=noninteractive; apt-get update &&
        apt-get install -y --no-install-recommends -o Dpkg::Use-Pty=0 "$@" && apt-get clean' \
        apt "${packages[@]}" </dev/null >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "apt-get install in the root failed; full log: $log"
  fi
  for so in libblas.so.3 liblapack.so.3; do
    in_root update-alternatives --quiet --set "$so-x86_64-linux-gnu" \
      "/usr/lib/x86_64-linux-gnu/openblas-openmp/$so" || die "could not point $so at OpenBLAS in the root"
  done
  cleanup
  echo "$wanted" >"$root_dir/$MARKER"  # last: the root is complete
  say "packages installed in $((SECONDS - t0)) s"
fi
((setup_only)) && { say "root ready: $root_dir"; exit 0; }

# ---- 2. mounts ----------------------------------------------------------------------------------
# /proc also matters to the tests: without it UCX (loaded with LibTorch 2.6's MPI backend) writes
# "failed to get boot id" errors to stderr, which breaks the tests of one-line error messages.
mount_into proc proc /proc
mount_into sys /sys /sys
mount_into dev /dev /dev
mount_into bind "$src" "$src"
# A git worktree keeps its repository elsewhere: mount that too, so the build records the commit.
git_common=$(git -C "$src" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
if [[ -n $git_common && -d $git_common && $git_common != "$src"/* ]]; then
  mount_into bind "$git_common" "$git_common"
fi
if [[ -d $data ]]; then
  mount_into bind "$data" /root/.cache/specopt
else
  say "warning: no data cache at $data (run scripts/prepare_data.sh); data-dependent tests will fail"
fi
env_in=(CCACHE_DISABLE=1)
if [[ -n ${CCACHE_DIR:-} ]]; then
  mkdir -p "$CCACHE_DIR"
  mount_into bind "$CCACHE_DIR" /var/cache/ccache
  env_in=(CCACHE_DIR=/var/cache/ccache CCACHE_BASEDIR="$src" CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-20G}")
fi

# ---- 3. build and test --------------------------------------------------------------------------
# One build folder per checkout path, inside the root (it survives for the next run).
build=/var/tmp/specopt-build/$(printf '%s' "$src" | tr -c 'A-Za-z0-9._-' '_')
((fresh_build)) && rm -rf --one-file-system "${root_dir:?}$build"
say "building $src against LibTorch $(in_root dpkg-query -W -f='${Version}' libtorch-dev) in $build"
t0=$SECONDS
# safe.directory: the checkout's owner may differ from root.
in_root env "${env_in[@]}" GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0='*' \
  cmake -S "$src" -B "$build" -DSPECOPT_BUILD_BENCH=OFF -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
  >/dev/null || die "cmake configure failed in the root"
in_root env "${env_in[@]}" cmake --build "$build" -j"$jobs" "${targets[@]}" || die "build failed in the root"
say "built in $((SECONDS - t0)) s; running the tests"
t0=$SECONDS
rc=0
in_root ctest --test-dir "$build" --output-on-failure -j"$jobs" "${ctest_args[@]}" || rc=$?
say "tests finished in $((SECONDS - t0)) s with status $rc (LibTorch 2.6)"
exit "$rc"
