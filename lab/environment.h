#pragma once
// What a result was produced with: versions, commit, CPU, threads. Recorded in every
// results.json and in the reproduce report, so a figure can be traced to its build and machine.
#include <nlohmann/json.hpp>

#include <string>

namespace specopt {
namespace lab {

std::string specopt_version();  // "0.1.0"
std::string git_commit();       // short hash at configure time, or "unknown"
std::string torch_version();    // "1.13.1"
std::string cpu_model();        // /proc/cpuinfo "model name", or "unknown"

// {"specopt_version", "git_commit", "torch_version", "cpu", "hardware_threads",
//  "torch_threads", "cuda_available"}
nlohmann::json environment_json();

}  // namespace lab
}  // namespace specopt
