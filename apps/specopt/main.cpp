// specopt: command-line front end (matrix functions on .npy files, benchmarks).
#include <c10/util/Exception.h>

#include <cmath>
#include <iostream>
#include <sstream>
#include <string>

#if __has_include(<torch/version.h>)
#include <torch/version.h>  // LibTorch 1.13 and 2.x: torch/csrc/api/include/torch/version.h
#endif
#include <specopt/util/spec.h>
#include <specopt/version.h>

#include "commands.h"

namespace specopt {
namespace cli {

namespace {
CLI::Validator number_check(bool integer, bool allow_zero) {
  const std::string what = std::string(allow_zero ? "non-negative" : "positive") +
                           (integer ? " integer" : " number");
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        double v = 0;
        int64_t i = 0;
        const bool parsed = integer ? parse_integer(s, i) : parse_finite_number(s, v);
        if (integer) v = static_cast<double>(i);
        if (parsed && integer && v > 2147483647.0) {
          return "'" + s + "' is too large (at most 2147483647)";
        }
        const bool ok = parsed && (allow_zero ? v >= 0 : v > 0);
        return ok ? std::string() : "'" + s + "' is not a " + what;
      },
      "");
}
}  // namespace

CLI::Validator positive_int() { return number_check(true, false); }
CLI::Validator non_negative_int() { return number_check(true, true); }
CLI::Validator positive_real() { return number_check(false, false); }
CLI::Validator non_negative_real() { return number_check(false, true); }

CLI::Validator real_in(double lo, double hi, bool open) {
  std::ostringstream range;  // an infinite bound is never included: "[1, inf)"
  range << (open ? "(" : "[") << lo << ", " << hi << (open || std::isinf(hi) ? ")" : "]");
  const std::string r = range.str();
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        double v = 0;
        if (!parse_finite_number(s, v)) return "'" + s + "' is not a finite number (expected one in " + r + ")";
        const bool ok = open ? (v > lo && v < hi) : (v >= lo && v <= hi);
        return ok ? std::string() : "'" + s + "' is not in " + r;
      },
      "NUM in " + r);
}

}  // namespace cli
}  // namespace specopt

namespace {

#ifndef TORCH_VERSION
#define SPECOPT_STR2(x) #x
#define SPECOPT_STR(x) SPECOPT_STR2(x)
#if defined(TORCH_VERSION_MAJOR)
#define TORCH_VERSION \
  SPECOPT_STR(TORCH_VERSION_MAJOR) "." SPECOPT_STR(TORCH_VERSION_MINOR) "." SPECOPT_STR(TORCH_VERSION_PATCH)
#else
#define TORCH_VERSION "unknown"
#endif
#endif

std::string first_line(const std::string& s) {
  const auto nl = s.find('\n');
  std::string line = nl == std::string::npos ? s : s.substr(0, nl);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

std::string one_line(std::string s) {
  for (auto& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// The deepest subcommand that was (at least partly) parsed, and its command path.
const CLI::App* deepest(const CLI::App& app, std::string& path) {
  path = app.get_name();
  const CLI::App* cur = &app;
  while (true) {
    auto subs = cur->get_subcommands();  // the parsed ones
    if (subs.empty()) return cur;
    cur = subs.front();
    path += " " + cur->get_name();
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"specopt: spectral matrix functions (polar factor, U Σ^p Vᵀ) and benchmarks",
               "specopt"};
  app.set_version_flag("--version", std::string("specopt ") + SPECOPT_VERSION + " (" +
                                        SPECOPT_GIT_COMMIT + "), LibTorch " + TORCH_VERSION);
  app.footer("Run 'specopt <command> --help' for a command's options.");

  specopt::cli::Runners runners;
  specopt::cli::register_matfun(app, runners);
  specopt::cli::register_bench(app, runners);
  specopt::cli::register_run(app, runners);
  specopt::cli::register_reproduce(app, runners);
  specopt::cli::register_list(app, runners);
  specopt::cli::register_train(app, runners);

  std::string path;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    deepest(app, path);
    std::cerr << "specopt: error: " << one_line(e.what()) << " (see '" << path << " --help')"
              << std::endl;
    return 2;
  }

  try {
    for (auto& [sub, run] : runners) {
      if (sub->parsed()) return run();
    }
  } catch (const c10::Error& e) {
    std::cerr << "specopt: error: " << first_line(e.what_without_backtrace()) << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "specopt: error: " << first_line(e.what()) << std::endl;
    return 1;
  }

  // No runnable subcommand: show the help of the deepest command given, exit 2.
  const CLI::App* where = deepest(app, path);
  std::cerr << where->help();
  std::cerr << "specopt: error: '" << path << "' needs a subcommand" << std::endl;
  return 2;
}
