#pragma once
// Runs the specopt binary (SPECOPT_CLI_PATH, defined by tests/CMakeLists.txt) through the shell
// and captures what it prints; shared by the CLI, lab and trainer tests.
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>

#ifndef SPECOPT_CLI_PATH
#error "SPECOPT_CLI_PATH must name the specopt executable"
#endif

namespace specopt_test {

struct CliResult {
  int code = -1;        // exit status (-1: killed by a signal, or popen failed)
  std::string output;   // stdout and stderr together (2>&1)
  double seconds = 0;   // wall time, start to exit
};

// `s` as one single-quoted shell word.
inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// `env` is prepended to the command line ("NAME=value ..."); `args` is passed as written.
inline CliResult run_cli(const std::string& args, const std::string& env = "") {
  const std::string cmd = env + " " + shell_quote(SPECOPT_CLI_PATH) + " " + args + " 2>&1";
  CliResult r;
  const auto t0 = std::chrono::steady_clock::now();
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace specopt_test
