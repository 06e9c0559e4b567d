// specopt._C's partition: specopt::partition_parameters (specopt/optim/partition.h), the rule
// that splits a model's named parameters between a spectral optimizer and AdamW. Python's
// specopt.optim.hybrid_param_groups calls it, so the Python and C++ splits are one rule.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/extension.h>

#include "common.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <specopt/optim/hybrid.h>
#include <specopt/optim/partition.h>
#include <specopt/optim/registry.h>

namespace py = pybind11;

namespace {

// Options from keyword values; a None list keeps the built-in default list.
specopt::PartitionOptions partition_options(
    const std::vector<std::string>& adamw_patterns,
    const std::vector<std::string>& spectral_patterns,
    const c10::optional<std::vector<std::string>>& embedding_patterns,
    const c10::optional<std::vector<std::string>>& head_patterns,
    const c10::optional<std::vector<std::string>>& norm_patterns) {
  auto o = specopt::PartitionOptions()
               .adamw_patterns(adamw_patterns)
               .spectral_patterns(spectral_patterns);
  if (embedding_patterns) o.embedding_patterns(*embedding_patterns);
  if (head_patterns) o.head_patterns(*head_patterns);
  if (norm_patterns) o.norm_patterns(*norm_patterns);
  return o;
}

py::list side(const std::vector<specopt::NamedParameter>& nps) {
  py::list out;
  for (const auto& np : nps) out.append(py::make_tuple(np.name, np.reason, np.pattern));
  return out;
}

using specopt_python::checked;

}  // namespace

void bind_partition(py::module_& m) {
  m.def(
      "partition_parameters",
      [](const std::vector<std::pair<std::string, at::Tensor>>& named,
         const std::vector<std::string>& adamw_patterns,
         const std::vector<std::string>& spectral_patterns,
         const c10::optional<std::vector<std::string>>& embedding_patterns,
         const c10::optional<std::vector<std::string>>& head_patterns,
         const c10::optional<std::vector<std::string>>& norm_patterns,
         const c10::optional<std::function<bool(const std::string&, const at::Tensor&)>>& predicate,
         bool require_spectral, bool allow_spectral_vectors) {
        auto o = partition_options(adamw_patterns, spectral_patterns, embedding_patterns,
                                   head_patterns, norm_patterns)
                     .require_spectral(require_spectral)
                     .allow_spectral_vectors(allow_spectral_vectors);
        if (predicate) o.predicate(*predicate);
        const auto p = checked([&] { return specopt::partition_parameters(named, o); });
        py::dict out;
        out["spectral"] = side(p.spectral);
        out["adamw"] = side(p.adamw);
        out["unmatched_patterns"] = p.unmatched_patterns;
        out["summary"] = p.summary();
        return out;
      },
      py::arg("named"), py::kw_only(), py::arg("adamw_patterns") = std::vector<std::string>{},
      py::arg("spectral_patterns") = std::vector<std::string>{},
      py::arg("embedding_patterns") = py::none(), py::arg("head_patterns") = py::none(),
      py::arg("norm_patterns") = py::none(), py::arg("predicate") = py::none(),
      py::arg("require_spectral") = false, py::arg("allow_spectral_vectors") = false,
      "{'spectral'|'adamw': [(name, reason, pattern)], 'unmatched_patterns', 'summary'}");
  m.def(
      "default_is_spectral",
      [](const std::string& name, const at::Tensor& param,
         const std::vector<std::string>& adamw_patterns,
         const std::vector<std::string>& spectral_patterns,
         const c10::optional<std::vector<std::string>>& embedding_patterns,
         const c10::optional<std::vector<std::string>>& head_patterns,
         const c10::optional<std::vector<std::string>>& norm_patterns) {
        const auto o = partition_options(adamw_patterns, spectral_patterns, embedding_patterns,
                                         head_patterns, norm_patterns);
        std::string reason, pattern;
        const bool spectral = checked(
            [&] { return specopt::default_is_spectral(name, param, o, &reason, &pattern); });
        return py::make_tuple(spectral, reason, pattern);
      },
      py::arg("name"), py::arg("param"), py::kw_only(),
      py::arg("adamw_patterns") = std::vector<std::string>{},
      py::arg("spectral_patterns") = std::vector<std::string>{},
      py::arg("embedding_patterns") = py::none(), py::arg("head_patterns") = py::none(),
      py::arg("norm_patterns") = py::none(), "(spectral, reason, pattern) of the default rule");
  // The C++ HybridOptimizer over the default partition, for benchmarks against the Python step
  // of hybrid_param_groups (python/benchmarks/bench_step.py): what `specopt bench step` times.
  py::class_<specopt::HybridOptimizer>(m, "CxxHybridOptimizer")
      .def(py::init([](const std::vector<std::pair<std::string, at::Tensor>>& named,
                       const std::string& spectral, const std::string& adamw) {
             return checked([&] {
               auto part = specopt::partition_parameters(named);
               auto s = specopt::make_optimizer(spectral, part.spectral_params());
               auto a = specopt::make_optimizer(adamw, part.adamw_params());
               return std::make_unique<specopt::HybridOptimizer>(std::move(part), std::move(s),
                                                                 std::move(a));
             });
           }),
           py::arg("named"), py::arg("spectral"), py::arg("adamw") = "adamw")
      .def(
          "step",
          [](specopt::HybridOptimizer& o) {
            py::gil_scoped_release release;
            o.step();
          },
          "One step with the parameters' current .grad.");
  m.def("partition_defaults", [] {
    const specopt::PartitionOptions o;
    py::dict out;
    out["embedding_patterns"] = o.embedding_patterns();
    out["head_patterns"] = o.head_patterns();
    out["norm_patterns"] = o.norm_patterns();
    return out;
  });
}
