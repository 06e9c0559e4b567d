#pragma once
// Whole-file reads for the lab and report tests.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace specopt_test {

// The bytes of `p` ("" when it cannot be opened; callers check existence themselves).
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace specopt_test
