// `specopt matfun polar|power`: apply a matrix function to an .npy file.
#include <ATen/ATen.h>

#include <iostream>
#include <memory>
#include <string>

#include <specopt/matfun/newton_schulz.h>
#include <specopt/matfun/polar.h>
#include <specopt/matfun/spectral_power.h>

#include "commands.h"
#include "lab/npy.h"

namespace specopt {
namespace cli {

namespace {

struct PolarArgs {
  std::string in, out;
  std::string method = "auto";
  int steps = 5;
  std::string schedule = "jordan";
  double eps = 1e-7;
  double tol = 1e-3;
  bool verbose = false;
};

struct PowerArgs {
  std::string in, out;
  double p = 0.5;
  std::string method = "auto";
  int iters = 15;
  double tol = 1e-3;
  bool verbose = false;
};

void report(bool verbose, const std::string& what, const at::Tensor& G, const std::string& out) {
  if (!verbose) return;
  std::string shape;
  for (auto s : G.sizes()) shape += (shape.empty() ? "" : "x") + std::to_string(s);
  std::cerr << "specopt: " << what << " of " << shape << (G.scalar_type() == at::kDouble ? " float64" : " float32") << " -> "
            << out << std::endl;
}

int run_polar(const PolarArgs& a) {
  const at::Tensor G = lab::read_npy(a.in);
  const auto options = PolarOptions()
                           .method(parse_polar_method(a.method))
                           .schedule(NsSchedule::from_name(a.schedule))
                           .steps(a.steps)
                           .eps(a.eps)
                           .tol(a.tol);
  options.validate();
  const at::Tensor R = polar(G, options).to(G.scalar_type());
  lab::write_npy(a.out, R);
  report(a.verbose, "polar (" + to_string(resolve_polar_method(G, options)) + ")", G, a.out);
  return 0;
}

int run_power(const PowerArgs& a) {
  const at::Tensor G = lab::read_npy(a.in);
  const auto options =
      PowerOptions().method(parse_power_method(a.method)).iters(a.iters).tol(a.tol);
  options.validate();
  const at::Tensor R = spectral_power(G, a.p, options).to(G.scalar_type());
  lab::write_npy(a.out, R);
  report(a.verbose, "spectral power p=" + std::to_string(a.p), G, a.out);
  return 0;
}

}  // namespace

void register_matfun(CLI::App& app, Runners& runners) {
  CLI::App* matfun = app.add_subcommand("matfun", "Apply a matrix function to a .npy file");
  matfun->footer("The input is float32 or float64 of shape (..., m, n) (C or Fortran order); "
                 "the output has the same dtype and shape and is written atomically.");

  // polar
  auto pa = std::make_shared<PolarArgs>();
  CLI::App* polar_cmd =
      matfun->add_subcommand("polar", "Polar factor U Vᵀ of G = U Σ Vᵀ (the 'msign' of Muon)");
  polar_cmd->add_option("--in", pa->in, "Input .npy file (float32/float64, rank >= 2)")
      ->required();
  polar_cmd->add_option("--out", pa->out, "Output .npy file")->required();
  polar_cmd->add_option("--method", pa->method, "Algorithm")
      ->check(CLI::IsMember(polar_method_names()))
      ->capture_default_str();
  polar_cmd->add_option("--steps", pa->steps, "Newton–Schulz steps")
      ->check(positive_int())
      ->capture_default_str();
  polar_cmd->add_option("--schedule", pa->schedule, "Newton–Schulz coefficient schedule")
      ->check(CLI::IsMember(NsSchedule::names()))
      ->capture_default_str();
  polar_cmd->add_option("--eps", pa->eps, "Newton–Schulz normalisation epsilon")
      ->check(non_negative_real())
      ->capture_default_str();
  polar_cmd->add_option("--tol", pa->tol, "auto: target relative Frobenius error")
      ->check(positive_real())
      ->capture_default_str();
  polar_cmd->add_flag("-v,--verbose", pa->verbose, "Say what was done on stderr");
  runners.emplace_back(polar_cmd, [pa] { return run_polar(*pa); });

  // power
  auto pw = std::make_shared<PowerArgs>();
  CLI::App* power_cmd =
      matfun->add_subcommand("power", "Spectral power U Σ^p Vᵀ for p in [0, 1]");
  power_cmd->add_option("--in", pw->in, "Input .npy file (float32/float64, rank >= 2)")
      ->required();
  power_cmd->add_option("--out", pw->out, "Output .npy file")->required();
  power_cmd->add_option("--p", pw->p, "Exponent p in [0, 1] (0: polar factor, 1: copy)")
      ->required()
      ->check(real_in(0.0, 1.0, false));
  power_cmd->add_option("--method", pw->method, "Algorithm (coupled_newton needs p = 2^-k)")
      ->check(CLI::IsMember(power_method_names()))
      ->capture_default_str();
  power_cmd->add_option("--iters", pw->iters, "coupled_newton iterations per square root")
      ->check(positive_int())
      ->capture_default_str();
  power_cmd->add_option("--tol", pw->tol, "auto: target relative Frobenius error")
      ->check(positive_real())
      ->capture_default_str();
  power_cmd->add_flag("-v,--verbose", pw->verbose, "Say what was done on stderr");
  runners.emplace_back(power_cmd, [pw] { return run_power(*pw); });
}

}  // namespace cli
}  // namespace specopt
