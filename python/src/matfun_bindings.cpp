// specopt._C's tensor functions: specopt/matfun (polar, spectral_power, spectral_map,
// top_singular, norms) and specopt/maps (convex maps by registry name and their diagnostics).
// Option names are the C++ options' (PolarOptions, PowerOptions, TopSingularOptions); methods
// and schedules are taken by name. Every check of the C++ side (unknown names, out-of-range
// values, non-finite input) reaches Python as a ValueError with the C++ message.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/csrc/Dtype.h>
#include <torch/extension.h>

#include "common.h"

#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <specopt/maps.h>
#include <specopt/matfun.h>

namespace py = pybind11;

namespace specopt_python {

specopt::NsSchedule schedule_of(const py::handle& o) {
  if (py::isinstance<py::str>(o)) return specopt::NsSchedule::from_name(o.cast<std::string>());
  std::vector<std::array<double, 3>> table;
  try {
    table = o.cast<std::vector<std::array<double, 3>>>();
  } catch (const py::cast_error&) {
    throw py::value_error("schedule must be a name (" +
                          py::str(py::cast(specopt::NsSchedule::names())).cast<std::string>() +
                          ") or a sequence of (a, b, c) triples, got " +
                          py::repr(o).cast<std::string>());
  }
  return specopt::NsSchedule::custom(std::move(table));
}

}  // namespace specopt_python

namespace {

using specopt_python::checked;
using specopt_python::schedule_of;

c10::optional<at::ScalarType> dtype_of(const py::object& o, const char* what) {
  if (o.is_none()) return c10::nullopt;
  if (!THPDtype_Check(o.ptr())) {
    throw py::value_error(std::string(what) + " must be a torch.dtype or None, got " +
                          py::repr(o).cast<std::string>());
  }
  return reinterpret_cast<THPDtype*>(o.ptr())->scalar_type;
}

specopt::PolarOptions polar_options(const std::string& method, const py::object& schedule,
                                    int steps, double eps, double ridge, double tol,
                                    const py::object& compute_dtype, bool bf16_where_fast) {
  auto o = specopt::PolarOptions()
               .method(specopt::parse_polar_method(method))
               .schedule(schedule_of(schedule))
               .steps(steps)
               .eps(eps)
               .ridge(ridge)
               .tol(tol)
               .compute_dtype(dtype_of(compute_dtype, "compute_dtype"))
               .bf16_where_fast(bf16_where_fast);
  o.validate();
  return o;
}

// A convex map from a ConvexMap object or its registry spec ("schatten:q=3").
std::shared_ptr<specopt::ConvexMap> map_of(const py::object& o) {
  if (py::isinstance<py::str>(o)) {
    return checked([&] { return std::shared_ptr<specopt::ConvexMap>(
                             specopt::make_convex_map(o.cast<std::string>())); });
  }
  try {
    return o.cast<std::shared_ptr<specopt::ConvexMap>>();
  } catch (const py::cast_error&) {
    throw py::value_error("map must be a ConvexMap or a registry name such as 'schatten:q=3', got " +
                          py::repr(o).cast<std::string>());
  }
}

// Releases the GIL around a computation that calls no Python.
template <typename F>
at::Tensor nogil(F&& f) {
  return checked([&] {
    py::gil_scoped_release release;
    return f();
  });
}

}  // namespace

void bind_matfun(py::module_& m) {
  using specopt::ConvexMap;
  m.def(
      "polar",
      [](const at::Tensor& G, const std::string& method, const py::object& schedule, int steps,
         double eps, double ridge, double tol, const py::object& compute_dtype,
         bool bf16_where_fast) {
        const auto o = checked([&] {
          return polar_options(method, schedule, steps, eps, ridge, tol, compute_dtype,
                               bf16_where_fast);
        });
        return nogil([&] { return specopt::polar(G, o); });
      },
      py::arg("G"), py::arg("method") = "auto", py::kw_only(), py::arg("schedule") = "jordan",
      py::arg("steps") = 5, py::arg("eps") = 1e-7, py::arg("ridge") = 0.0, py::arg("tol") = 1e-3,
      py::arg("compute_dtype") = py::none(), py::arg("bf16_where_fast") = false);
  m.def("polar_methods", &specopt::polar_method_names);
  m.def("ns_schedules", &specopt::NsSchedule::names);

  m.def(
      "spectral_power",
      [](const at::Tensor& G, double p, const std::string& method, int iters, double tol,
         const py::object& compute_dtype) {
        const auto o = checked([&] {
          // p = 0 is the polar factor, by the power method's counterpart (spectral_power.h).
          auto options = specopt::PowerOptions()
                             .method(specopt::parse_power_method(method))
                             .iters(iters)
                             .tol(tol)
                             .compute_dtype(dtype_of(compute_dtype, "compute_dtype"));
          options.validate();
          return options;
        });
        return nogil([&] { return specopt::spectral_power(G, p, o); });
      },
      py::arg("G"), py::arg("p"), py::arg("method") = "auto", py::kw_only(),
      py::arg("iters") = 15, py::arg("tol") = 1e-3, py::arg("compute_dtype") = py::none());
  m.def("power_methods", &specopt::power_method_names);

  m.def(
      "spectral_map",
      [](const at::Tensor& G, const std::function<at::Tensor(const at::Tensor&)>& f,
         const std::string& method) {
        specopt::SpectralMapMethod mm;
        if (method == "svd") {
          mm = specopt::SpectralMapMethod::svd;
        } else if (method == "gram_eigh") {
          mm = specopt::SpectralMapMethod::gram_eigh;
        } else {
          throw py::value_error("Unknown spectral_map method '" + method +
                                "' (expected one of: svd, gram_eigh)");
        }
        // f is Python: the GIL stays held.
        return checked([&] { return specopt::spectral_map(G, f, mm); });
      },
      py::arg("G"), py::arg("f"), py::arg("method") = "svd");

  py::class_<specopt::TopSingular>(m, "TopSingular")
      .def_readonly("U", &specopt::TopSingular::U)
      .def_readonly("S", &specopt::TopSingular::S)
      .def_readonly("V", &specopt::TopSingular::V)
      .def_readonly("iterations", &specopt::TopSingular::iterations)
      .def_readonly("converged", &specopt::TopSingular::converged)
      .def_readonly("residual", &specopt::TopSingular::residual)
      .def("__iter__", [](const specopt::TopSingular& t) {
        return py::iter(py::make_tuple(t.U, t.S, t.V));
      })
      .def("__repr__", [](const specopt::TopSingular& t) {
        return "TopSingular(k=" + std::to_string(t.S.size(-1)) + ", iterations=" +
               std::to_string(t.iterations) + ", converged=" + (t.converged ? "True" : "False") +
               ", residual=" + std::to_string(t.residual) + ")";
      });
  m.def(
      "top_singular",
      [](const at::Tensor& G, int64_t k, int max_iters, double tol, int64_t oversample,
         uint64_t seed) {
        return checked([&] {
          auto o = specopt::TopSingularOptions().max_iters(max_iters).tol(tol).oversample(
              oversample).seed(seed);
          o.validate();
          py::gil_scoped_release release;
          return specopt::top_singular(G, k, o);
        });
      },
      py::arg("G"), py::arg("k"), py::kw_only(), py::arg("max_iters") = 300, py::arg("tol") = 1e-6,
      py::arg("oversample") = 4, py::arg("seed") = 0);

  m.def("op_norm", [](const at::Tensor& G) { return nogil([&] { return specopt::op_norm(G); }); },
        py::arg("G"));
  m.def("nuclear_norm",
        [](const at::Tensor& G) { return nogil([&] { return specopt::nuclear_norm(G); }); },
        py::arg("G"));
  m.def("frobenius_norm",
        [](const at::Tensor& G) { return nogil([&] { return specopt::frobenius_norm(G); }); },
        py::arg("G"));
  m.def("schatten_norm",
        [](const at::Tensor& G, double q) {
          return nogil([&] { return specopt::schatten_norm(G, q); });
        },
        py::arg("G"), py::arg("q"));
  m.def("ky_fan_norm",
        [](const at::Tensor& G, int64_t k) {
          return nogil([&] { return specopt::ky_fan_norm(G, k); });
        },
        py::arg("G"), py::arg("k"));
  m.def("singular_values",
        [](const at::Tensor& G) { return nogil([&] { return specopt::singular_values(G); }); },
        py::arg("G"));

  // Convex maps (specopt/maps/convex_map.h). Methods take X or Y of shape (..., m, n).
  py::class_<ConvexMap, std::shared_ptr<ConvexMap>>(m, "ConvexMap")
      .def(py::init([](const std::string& spec) { return map_of(py::str(spec)); }), py::arg("spec"))
      .def_property_readonly("name", &ConvexMap::name)
      .def_property_readonly("smooth", &ConvexMap::smooth)
      .def("describe", &ConvexMap::describe)
      .def("value", [](const ConvexMap& k, const at::Tensor& X) {
        return nogil([&] { return k.value(X); });
      }, py::arg("X"))
      .def("grad", [](const ConvexMap& k, const at::Tensor& X) {
        return nogil([&] { return k.grad(X); });
      }, py::arg("X"))
      .def("conjugate", [](const ConvexMap& k, const at::Tensor& Y) {
        return nogil([&] { return k.conjugate(Y); });
      }, py::arg("Y"))
      .def("dual_norm", [](const ConvexMap& k, const at::Tensor& G) {
        return nogil([&] { return k.dual_norm(G); });
      }, py::arg("G"))
      .def("constraint", [](const ConvexMap& k) -> py::object {
        const auto c = k.constraint();
        if (!c) return py::none();
        py::dict d;
        d["norm"] = c->norm_name;
        d["radius"] = c->radius;
        d["indicator"] = c->indicator;
        return std::move(d);
      }, "The set {X: norm(X) <= radius} on which K* is finite, as a dict, or None.")
      .def("constraint_norm", [](const ConvexMap& k, const at::Tensor& X) {
        const auto c = k.constraint();
        if (!c) throw py::value_error("map '" + k.name() + "' has no constraint set");
        return nogil([&] { return c->norm(X); });
      }, py::arg("X"))
      .def("__repr__", [](const ConvexMap& k) { return "ConvexMap('" + k.name() + "')"; });
  m.def("convex_map", [](const std::string& spec) { return map_of(py::str(spec)); },
        py::arg("spec"));
  m.def("convex_map_names", &specopt::convex_map_names);
  m.def("dual_norm", [](const py::object& map, const at::Tensor& G) {
    const auto k = map_of(map);
    return nogil([&] { return k->dual_norm(G); });
  }, py::arg("map"), py::arg("G"));
  m.def("stationarity_gap",
        [](const py::object& map, const at::Tensor& grad_F, const at::Tensor& X, double lambd) {
          const auto k = map_of(map);
          return nogil([&] { return specopt::stationarity_gap(*k, grad_F, X, lambd); });
        },
        py::arg("map"), py::arg("grad_F"), py::arg("X"), py::arg("lambd"));
  m.def("constraint_violation",
        [](const py::object& map, const at::Tensor& X, double lambd) {
          const auto k = map_of(map);
          return nogil([&] { return specopt::constraint_violation(*k, X, lambd); });
        },
        py::arg("map"), py::arg("X"), py::arg("lambd"));
  m.def("lion_k_objective",
        [](const py::object& map, const at::Tensor& F_value, const at::Tensor& X, double lambd) {
          const auto k = map_of(map);
          return nogil([&] { return specopt::lion_k_objective(*k, F_value, X, lambd); });
        },
        py::arg("map"), py::arg("F_value"), py::arg("X"), py::arg("lambd"));
  m.def("frobenius_inner", [](const at::Tensor& A, const at::Tensor& B) {
    return nogil([&] { return specopt::frobenius_inner(A, B); });
  }, py::arg("A"), py::arg("B"));
}
