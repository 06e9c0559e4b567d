#pragma once
// Temporary directories for the tests: a fresh one under the system's temp directory, removed
// with everything in it at the end (of the scope, or of the test for the fixture).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace specopt_test {

class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "specopt_test_XXXXXX").string();
    if (::mkdtemp(&tmpl[0]) == nullptr) throw std::runtime_error("mkdtemp(" + tmpl + ") failed");
    path = tmpl;
  }
  ~ScopedTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  std::filesystem::path path;
};

// A fixture: each test gets its own directory; path("name") is a file in it.
class TempDirTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return (dir_.path / name).string(); }
  // Names of the entries in the directory, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path)) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  ScopedTempDir dir_;
};

}  // namespace specopt_test
