#pragma once
// Runs the specopt binary (SPECOPT_CLI_PATH) through the shell; stdout and stderr captured.
#include <cstdio>
#include <string>

#include <sys/wait.h>

namespace specopt_test {

struct CliResult {
  int status = -1;
  std::string out;  // stdout then stderr (2>&1)
};

inline CliResult run_cli(const std::string& args) {
  CliResult r;
  const std::string cmd = std::string("'") + SPECOPT_CLI_PATH + "' " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  const int st = pclose(pipe);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace specopt_test
