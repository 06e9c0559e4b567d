#include <stdexcept>

#include "lab/experiments/experiments.h"

namespace specopt {
namespace lab {

const std::vector<Experiment>& experiments() {
  // Report order: paper 1, paper 2, paper 3, the variants comparison, then the
  // matrix-function study.
  static const std::vector<Experiment> all = {
      constraint_experiment(),
      lyapunov_experiment(),
      factorization_experiment(),
      icl_experiment(),
      spectral_power_experiment(),
      variants_experiment(),
      matfun_study_experiment(),  // last: the report's closing section
  };
  return all;
}

const Experiment& find_experiment(const std::string& name) {
  std::string known;
  for (const auto& e : experiments()) {
    if (e.name == name) return e;
    known += (known.empty() ? "" : ", ") + e.name;
  }
  throw std::invalid_argument("unknown experiment '" + name + "' (known: " + known + ")");
}

}  // namespace lab
}  // namespace specopt
