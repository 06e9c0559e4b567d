#include "lab/environment.h"

#include <ATen/Parallel.h>
#include <ATen/Context.h>

#include <fstream>
#include <thread>

#if __has_include(<torch/version.h>)
#include <torch/version.h>
#endif
#include <specopt/version.h>

namespace specopt {
namespace lab {

std::string specopt_version() { return SPECOPT_VERSION; }
std::string git_commit() { return SPECOPT_GIT_COMMIT; }

std::string torch_version() {
#if defined(TORCH_VERSION)
  return TORCH_VERSION;
#elif defined(TORCH_VERSION_MAJOR)
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
#else
  return "unknown";
#endif
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto s = line.substr(colon + 1);
        const auto first = s.find_first_not_of(' ');
        return first == std::string::npos ? s : s.substr(first);
      }
    }
  }
  return "unknown";
}

nlohmann::json environment_json() {
  return {{"specopt_version", specopt_version()},
          {"git_commit", git_commit()},
          {"torch_version", torch_version()},
          {"cpu", cpu_model()},
          {"hardware_threads", std::thread::hardware_concurrency()},
          {"torch_threads", at::get_num_threads()},
          {"cuda_available", at::hasCUDA()}};
}

}  // namespace lab
}  // namespace specopt
