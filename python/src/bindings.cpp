// specopt._C: the C++ functional core (RuleOptions::update) for the Python optimizers of
// python/specopt/optim.py (docs/python.md).
//
// A Rule is one param group's options, built once from a registry spec ("muon", "adamq",
// "lion_k:map=schatten:q=3") and the group's option values, and cached by the Python optimizer
// until the group's options change. Rule.step(lr, params, grads, states) steps the group:
// each state dict becomes the rule's state object (tensor fields share storage with the dict's
// tensors, so in-place updates reach Python's state), RuleOptions::update runs once over the
// group, and fields the update created or changed (lazily created buffers, step counts) are
// written back into the dicts.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/extension.h>

#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <specopt/matfun/validate.h>
#include <specopt/optim/base.h>
#include <specopt/optim/fields.h>
#include <specopt/optim/muon.h>
#include <specopt/optim/registry.h>

#include "common.h"

namespace py = pybind11;

namespace {

using specopt::FieldVisitor;
using specopt::Range;
using specopt::RuleOptions;

// The text set_option parses, for a Python value; throws naming the key on another type.
std::string option_text(const RuleOptions& o, const std::string& key, const py::handle& v) {
  if (py::isinstance<py::bool_>(v)) return v.cast<bool>() ? "true" : "false";
  if (py::isinstance<py::int_>(v)) return py::str(v).cast<std::string>();
  if (py::isinstance<py::float_>(v)) {
    // repr() round-trips a double exactly.
    return py::repr(v).cast<std::string>();
  }
  if (py::isinstance<py::str>(v)) return v.cast<std::string>();
  if (THPVariable_Check(v.ptr())) {
    const auto t = THPVariable_Unpack(v.ptr());
    TORCH_CHECK(t.numel() == 1, o.kind(), ": option '", key,
                "' is a tensor with ", t.numel(), " elements (must be 1-element)");
    std::ostringstream os;
    os.precision(17);
    os << t.item<double>();
    return os.str();
  }
  TORCH_CHECK(false, o.kind(), ": option '", key, "' = ", py::repr(v).cast<std::string>(),
              " is not a number, bool or string");
}

// Declared options as Python values (numbers, bools, names), keyed as option_keys.
struct ValueReader : FieldVisitor {
  py::dict out;
  std::vector<std::string> keys;
  bool wanted(const std::string& k) const {
    for (const auto& x : keys) {
      if (x == k) return true;
    }
    return false;
  }
  void visit(const std::string& k, double& x, Range) override {
    if (wanted(k)) out[py::str(k)] = x;
  }
  void visit(const std::string& k, int64_t& x, Range) override {
    if (wanted(k)) out[py::str(k)] = x;
  }
  void visit(const std::string& k, bool& x) override {
    if (wanted(k)) out[py::str(k)] = x;
  }
  void visit(const std::string& k, std::string& x) override {
    if (wanted(k)) out[py::str(k)] = x;
  }
};

// Dict → state object: tensors shared, numbers converted. Keys absent from the dict keep the
// fresh state's value (an undefined tensor, step 0).
struct StateReader : FieldVisitor {
  PyObject* dict = nullptr;
  PyObject* get(const std::string& k) const { return PyDict_GetItemString(dict, k.c_str()); }
  void visit(const std::string& k, at::Tensor& t) override {
    PyObject* v = get(k);
    if (v == nullptr || v == Py_None) return;
    TORCH_CHECK(THPVariable_Check(v), "optimizer state '", k, "' is not a tensor");
    t = THPVariable_Unpack(v);
  }
  void visit(const std::string& k, int64_t& x, Range) override {
    PyObject* v = get(k);
    if (v == nullptr) return;
    if (THPVariable_Check(v)) {  // torch keeps `step` as a tensor; accept it
      x = static_cast<int64_t>(THPVariable_Unpack(v).item<double>());
      return;
    }
    x = py::handle(v).cast<int64_t>();
  }
  void visit(const std::string& k, double& x, Range) override {
    PyObject* v = get(k);
    if (v == nullptr) return;
    if (THPVariable_Check(v)) {
      x = THPVariable_Unpack(v).item<double>();
      return;
    }
    x = py::handle(v).cast<double>();
  }
};

// State object → dict: new or replaced tensors, and every number.
struct StateWriter : FieldVisitor {
  PyObject* dict = nullptr;
  void put(const std::string& k, const py::object& v) {
    TORCH_CHECK(PyDict_SetItemString(dict, k.c_str(), v.ptr()) == 0, "cannot set state '", k,
                "'");
  }
  void visit(const std::string& k, at::Tensor& t) override {
    if (!t.defined()) return;
    PyObject* old = PyDict_GetItemString(dict, k.c_str());
    if (old != nullptr && THPVariable_Check(old) &&
        THPVariable_Unpack(old).unsafeGetTensorImpl() == t.unsafeGetTensorImpl()) {
      return;  // updated in place: the dict already holds it
    }
    put(k, py::reinterpret_steal<py::object>(THPVariable_Wrap(t)));
  }
  void visit(const std::string& k, int64_t& x, Range) override { put(k, py::int_(x)); }
  void visit(const std::string& k, double& x, Range) override { put(k, py::float_(x)); }
};

class Rule {
 public:
  Rule(const std::string& spec, const py::dict& options)
      : options_(specopt::make_optimizer_options(spec)) {
    base_ = dynamic_cast<torch::optim::OptimizerOptions*>(options_.get());
    TORCH_CHECK(base_ != nullptr, "specopt: rule '", spec, "' has no learning rate");
    for (const auto& kv : options) set(kv.first.cast<std::string>(), kv.second, false);
    options_->validate();
  }

  // One option by its key (option_keys), or "ns_coefficients" for Muon's (a, b, c).
  void set(const std::string& key, const py::handle& value, bool validate = true) {
    if (key == "schedule") {  // Muon: a schedule by name or table (replaces ns_coefficients)
      auto* muon = dynamic_cast<specopt::MuonOptions*>(options_.get());
      TORCH_CHECK(muon != nullptr, options_->kind(), ": unknown option 'schedule'");
      auto polar = muon->polar();
      muon->polar(polar.schedule(specopt_python::schedule_of(value)));
    } else if (key == "ns_coefficients") {
      auto* muon = dynamic_cast<specopt::MuonOptions*>(options_.get());
      TORCH_CHECK(muon != nullptr, options_->kind(), ": unknown option 'ns_coefficients'");
      const auto abc = value.cast<std::vector<double>>();
      TORCH_CHECK(abc.size() == 3, "Coefficients must be a tuple of exactly 3 values, got ",
                  abc.size());
      muon->ns_coefficients(std::make_tuple(abc[0], abc[1], abc[2]));
    } else {
      specopt::set_option(*options_, key, option_text(*options_, key, value));
    }
    if (validate) options_->validate();
  }

  py::dict values() const {
    ValueReader r;
    r.keys = specopt::option_keys(*options_);
    options_->fields(r);
    if (auto* muon = dynamic_cast<specopt::MuonOptions*>(options_.get())) {
      const auto abc = muon->ns_coefficients();
      r.out["ns_coefficients"] =
          py::make_tuple(std::get<0>(abc), std::get<1>(abc), std::get<2>(abc));
    }
    return r.out;
  }

  std::vector<std::string> keys() const { return specopt::option_keys(*options_); }
  std::vector<std::string> state_keys() const {
    auto state = options_->make_state();
    std::vector<std::string> out;
    struct Keys : FieldVisitor {
      std::vector<std::string>* out;
      void visit(const std::string& k, double&, Range) override { out->push_back(k); }
      void visit(const std::string& k, int64_t&, Range) override { out->push_back(k); }
      void visit(const std::string& k, at::Tensor&) override { out->push_back(k); }
    } v;
    v.out = &out;
    dynamic_cast<specopt::DeclaredFields&>(*state).fields(v);
    return out;
  }
  std::string kind() const { return options_->kind(); }
  std::string describe() const {
    std::ostringstream os;
    os << *options_;
    return os.str();
  }
  double lr() const { return base_->get_lr(); }
  void check_param(const at::Tensor& p, const std::string& where) const {
    options_->check_param(p, where);
  }
  bool elementwise() const { return options_->elementwise(); }
  std::string nonfinite() const { return specopt::to_string(options_->nonfinite()); }

  // Steps one group with learning rate `lr` (the group's current lr, which schedulers change
  // every step; every other option is this rule's). states[i] is params[i]'s state dict.
  void step(double lr, const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
            const py::list& states) {
    const size_t n = params.size();
    TORCH_CHECK(grads.size() == n && static_cast<size_t>(py::len(states)) == n,
                "specopt: step got ", n, " params, ", grads.size(), " grads and ",
                py::len(states), " states");
    if (n == 0) return;
    TORCH_CHECK(std::isfinite(lr) && lr >= 0, options_->kind(), ": lr = ", lr,
                " (must be finite and >= 0)");
    base_->set_lr(lr);
    state_objects_.resize(n);
    items_.resize(n);
    StateReader reader;
    for (size_t i = 0; i < n; ++i) {
      PyObject* d = PyList_GET_ITEM(states.ptr(), static_cast<Py_ssize_t>(i));
      TORCH_CHECK(PyDict_Check(d), "specopt: state ", i, " is not a dict");
      state_objects_[i] = options_->make_state();
      reader.dict = d;
      fields_of(*state_objects_[i]).fields(reader);
      items_[i] = {state_objects_[i].get(), params[i], grads[i]};
    }
    {
      py::gil_scoped_release release;
      c10::NoGradGuard no_grad;
      specopt::detail::InputsCheckedScope inputs_checked;
      options_->update(items_);
    }
    StateWriter writer;
    for (size_t i = 0; i < n; ++i) {
      writer.dict = PyList_GET_ITEM(states.ptr(), static_cast<Py_ssize_t>(i));
      fields_of(*state_objects_[i]).fields(writer);
    }
    items_.clear();
    state_objects_.clear();
  }

 private:
  static specopt::DeclaredFields& fields_of(torch::optim::OptimizerParamState& s) {
    return dynamic_cast<specopt::DeclaredFields&>(s);
  }
  std::unique_ptr<RuleOptions> options_;
  torch::optim::OptimizerOptions* base_ = nullptr;
  std::vector<std::unique_ptr<torch::optim::OptimizerParamState>> state_objects_;
  std::vector<specopt::RuleItem> items_;
};

}  // namespace

void bind_matfun(py::module_& m);     // matfun_bindings.cpp
void bind_partition(py::module_& m);  // partition_bindings.cpp

PYBIND11_MODULE(_C, m) {
  m.doc() = "specopt's C++ core (see docs/python.md)";
  bind_matfun(m);
  bind_partition(m);
  py::class_<Rule>(m, "Rule")
      .def(py::init<const std::string&, const py::dict&>(), py::arg("spec"),
           py::arg("options") = py::dict())
      .def("set", &Rule::set, py::arg("key"), py::arg("value"), py::arg("validate") = true)
      .def("values", &Rule::values)
      .def("keys", &Rule::keys)
      .def("state_keys", &Rule::state_keys)
      .def_property_readonly("kind", &Rule::kind)
      .def_property_readonly("lr", &Rule::lr)
      .def_property_readonly("nonfinite", &Rule::nonfinite)
      .def_property_readonly("elementwise", &Rule::elementwise)
      .def("check_param", &Rule::check_param, py::arg("param"), py::arg("where"))
      .def("step", &Rule::step, py::arg("lr"), py::arg("params"), py::arg("grads"),
           py::arg("states"))
      .def("__repr__", &Rule::describe);
  m.def(
      "first_nonfinite",
      [](const std::vector<at::Tensor>& grads) {
        py::gil_scoped_release release;
        return specopt::detail::first_nonfinite(grads);
      },
      py::arg("grads"),
      "Index of the first gradient with a NaN/Inf entry, or -1 (one device-to-host read).");
  // The C++ optimizer itself (make_optimizer), for benchmarks against the Python step.
  py::class_<specopt::SpecoptOptimizer>(m, "CxxOptimizer")
      .def(py::init([](const std::string& spec, const std::vector<at::Tensor>& params) {
             return specopt::make_optimizer(spec, params);
           }),
           py::arg("spec"), py::arg("params"))
      .def(
          "step",
          [](specopt::SpecoptOptimizer& o) {
            py::gil_scoped_release release;
            o.step();
          },
          "One step with the parameters' current .grad.");
  m.def("optimizer_host_reads", &specopt::optimizer_host_reads);
  m.def("registered_optimizers", [] {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& r : specopt::registered_optimizers()) out.emplace_back(r.name, r.summary);
    return out;
  });
}
