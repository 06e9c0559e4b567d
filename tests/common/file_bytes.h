#pragma once
// A file's bytes in and out, for tests that write odd or damaged files.
#include <fstream>
#include <sstream>
#include <string>

namespace specopt_test {

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

}  // namespace specopt_test
