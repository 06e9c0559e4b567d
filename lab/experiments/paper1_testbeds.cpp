#include "lab/experiments/paper1_testbeds.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include <specopt/maps/maps.h>
#include <specopt/maps/registry.h>

#include "lab/spectra.h"

namespace specopt {
namespace lab {

std::vector<std::string> default_map_specs() {
  // Parameters for the maps that need one; the rest build from their bare name. A map added
  // to the registry later without a default here fails loudly in make_convex_map.
  static const std::map<std::string, std::string> with_params = {
      {"schatten", "schatten:q=3"},       {"ky_fan", "ky_fan:k=2"},
      {"power", "power:p=0.5"},           {"huber", "huber:delta=0.5"},
      {"relativistic", "relativistic:delta=1"}};
  std::vector<std::string> specs;
  for (const auto& name : convex_map_names()) {
    auto it = with_params.find(name);
    specs.push_back(it == with_params.end() ? name : it->second);
  }
  return specs;
}

std::vector<std::string> resolve_map_specs(const std::vector<std::string>& specs) {
  if (specs.size() == 1 && specs[0] == "all") return default_map_specs();
  for (const auto& s : specs) make_convex_map(s);  // throws naming a bad spec
  return specs;
}

c10::optional<at::Tensor> closed_form_minimiser(const ConvexMap& map, const at::Tensor& A,
                                                double lambda) {
  const std::string name = map.name();
  if (name == "nuclear") {
    auto svd = at::linalg_svd(A, /*full_matrices=*/false);
    const at::Tensor s = std::get<1>(svd).clamp_max(1.0 / lambda);
    return at::matmul(std::get<0>(svd) * s.unsqueeze(-2), std::get<2>(svd));
  }
  if (name == "l1") return A.clamp(-1.0 / lambda, 1.0 / lambda);
  if (name == "frobenius") {
    const double norm = A.norm().item<double>();
    return A * std::min(1.0, (1.0 / lambda) / norm);
  }
  if (name == "half_sq_frobenius") return A / (1.0 + lambda);
  return c10::nullopt;
}

c10::optional<double> constraint_ratio(const ConvexMap& map, const at::Tensor& X) {
  auto set = map.constraint();
  if (!set) return c10::nullopt;
  return set->norm(X).item<double>() / set->radius;
}

at::Tensor scaled_to_norm(const at::Tensor& X, const ConvexMap& map, double target) {
  auto set = map.constraint();
  const double norm = set ? set->norm(X).item<double>() : X.norm().item<double>();
  TORCH_CHECK(norm > 0, "scaled_to_norm: X is zero");
  return X * (target / norm);
}

double TwoLayerNet::loss(const at::Tensor& W) const {
  const at::Tensor pred = at::matmul(at::tanh(at::matmul(inputs, W.t())), v);
  return 0.5 * (pred - targets).pow(2).mean().item<double>();
}

double TwoLayerNet::loss_and_grad(const at::Tensor& W, at::Tensor& grad) const {
  c10::AutoGradMode enable(true);
  at::Tensor w = W.detach().clone().set_requires_grad(true);
  const at::Tensor pred = at::matmul(at::tanh(at::matmul(inputs, w.t())), v);
  const at::Tensor loss = 0.5 * (pred - targets).pow(2).mean();
  loss.backward();
  grad = w.grad().detach();
  return loss.item<double>();
}

TwoLayerNet make_two_layer_net(int64_t hidden, int64_t inputs, int64_t samples,
                               double teacher_norm, uint64_t seed) {
  if (hidden < 1 || inputs < 1 || samples < 1)
    throw std::invalid_argument("two-layer net: sizes must be >= 1, got hidden=" +
                                std::to_string(hidden) + ", inputs=" + std::to_string(inputs) +
                                ", samples=" + std::to_string(samples));
  auto gen = at::detail::createCPUGenerator(seed);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  TwoLayerNet net;
  net.inputs = at::randn({samples, inputs}, gen, f64);
  net.v = (at::randint(0, 2, {hidden}, gen, f64) * 2 - 1) / std::sqrt(double(hidden));
  at::Tensor teacher = at::randn({hidden, inputs}, gen, f64);
  teacher = teacher * (teacher_norm / at::linalg_matrix_norm(teacher, 2).item<double>());
  net.targets = at::matmul(at::tanh(at::matmul(net.inputs, teacher.t())), net.v);
  return net;
}

void lion_k_flow_rk4_step(const ConvexMap& K, const LionKFlow& c,
                          const std::function<at::Tensor(const at::Tensor&)>& grad_F,
                          at::Tensor& x, at::Tensor& m, double dt) {
  auto field = [&](const at::Tensor& xs, const at::Tensor& ms, at::Tensor& dx, at::Tensor& dm) {
    const at::Tensor g = c.alpha * grad_F(xs);
    dx = K.grad(ms - c.epsilon * (g + c.gamma * ms)) - c.lambda * xs;
    dm = -g - c.gamma * ms;
  };
  at::Tensor k1x, k1m, k2x, k2m, k3x, k3m, k4x, k4m;
  field(x, m, k1x, k1m);
  field(x + 0.5 * dt * k1x, m + 0.5 * dt * k1m, k2x, k2m);
  field(x + 0.5 * dt * k2x, m + 0.5 * dt * k2m, k3x, k3m);
  field(x + dt * k3x, m + dt * k3m, k4x, k4m);
  x = x + (dt / 6) * (k1x + 2 * k2x + 2 * k3x + k4x);
  m = m + (dt / 6) * (k1m + 2 * k2m + 2 * k3m + k4m);
}

double lion_k_lyapunov(const ConvexMap& K, const LionKFlow& c, double F_value,
                       const at::Tensor& x, const at::Tensor& m) {
  const double conj = K.conjugate(c.lambda * x).item<double>();
  const double coupling = (1 - c.epsilon * c.lambda) / (1 + c.epsilon * c.gamma);
  return c.alpha * F_value + (c.gamma / c.lambda) * conj +
         coupling * (conj + K.value(m).item<double>() -
                     c.lambda * frobenius_inner(m, x).item<double>());
}

}  // namespace lab
}  // namespace specopt
