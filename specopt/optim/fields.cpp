#include <specopt/optim/fields.h>

#include <c10/util/Exception.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cmath>
#include <ostream>
#include <sstream>

#include <specopt/maps/registry.h>
#include <specopt/matfun/validate.h>

namespace specopt {

// ---- Composite fields in terms of the primitive ones ------------------------------------
// Each converts to a primitive, lets the visitor see (and possibly replace) it, converts back:
// writers and printers see the value, readers replace it. Values are assigned only when they
// changed, so the read-only visitors never write to the object they are shown.

namespace {
template <class T, class U>
void assign(T& field, U&& value) {
  if (!(field == value)) field = std::forward<U>(value);
}
}  // namespace

void FieldVisitor::operator()(const std::string& name, int& x, Range range) {
  int64_t y = x;
  visit(key(name), y, range);
  if (y != x) x = static_cast<int>(y);
}

void FieldVisitor::operator()(const std::string& name, ShapeRule& x) {
  std::string s = to_string(x);
  visit(key(name), s);
  assign(x, transforms::parse_shape_rule(s));
}

void FieldVisitor::operator()(const std::string& name, PolarMethod& x) {
  std::string s = to_string(x);
  visit(key(name), s);
  assign(x, parse_polar_method(s));
}

void FieldVisitor::operator()(const std::string& name, PowerMethod& x) {
  std::string s = to_string(x);
  visit(key(name), s);
  assign(x, parse_power_method(s));
}

std::string to_string(NonFinite n) {
  switch (n) {
    case NonFinite::error:
      return "error";
    case NonFinite::skip:
      return "skip";
    case NonFinite::ignore:
      return "ignore";
  }
  return "error";
}

NonFinite parse_nonfinite(const std::string& name) {
  return detail::parse_choice(name, "nonfinite",
                              {NonFinite::error, NonFinite::skip, NonFinite::ignore});
}

void FieldVisitor::operator()(const std::string& name, NonFinite& x) {
  std::string s = to_string(x);
  visit(key(name), s);
  assign(x, parse_nonfinite(s));
}

void FieldVisitor::operator()(const std::string& name, c10::optional<at::ScalarType>& x) {
  int64_t code = x.has_value() ? static_cast<int64_t>(*x) : -1;
  visit(key(name), code, Range::any);
  TORCH_CHECK(code < static_cast<int64_t>(at::ScalarType::NumOptions), "'", key(name),
              "' is not a dtype code (", code, ")");
  assign(x, code < 0 ? c10::nullopt
                    : c10::optional<at::ScalarType>(static_cast<at::ScalarType>(code)));
}

void FieldVisitor::operator()(const std::string& name, std::shared_ptr<const ConvexMap>& x) {
  const std::string before = x ? x->name() : std::string();
  std::string spec = before;
  visit(key(name), spec);
  if (spec == before) return;
  if (spec.empty()) {
    x = nullptr;
    return;
  }
  try {
    x = std::shared_ptr<const ConvexMap>(make_convex_map(spec));
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "cannot rebuild the convex map '", spec, "' ('", key(name),
                "') with make_convex_map: ", e.what());
  }
}

void FieldVisitor::operator()(const std::string& name, NsSchedule& s) {
  nested(name, [&] {
    (*this)("name", s.name);
    std::vector<double> flat;
    for (const auto& c : s.coefficients) flat.insert(flat.end(), c.begin(), c.end());
    visit(key("coefficients"), flat);
    TORCH_CHECK(flat.size() % 3 == 0, "Newton-Schulz table '", key("coefficients"), "' has ",
                flat.size(), " entries (not a multiple of 3)");
    std::vector<std::array<double, 3>> table;
    for (size_t i = 0; i < flat.size(); i += 3) table.push_back({flat[i], flat[i + 1], flat[i + 2]});
    assign(s.coefficients, table);
    (*this)("norm_factor", s.norm_factor);
    bool has_tail = s.tail.has_value();
    std::vector<double> tail =
        has_tail ? std::vector<double>(s.tail->begin(), s.tail->end()) : std::vector<double>{};
    (*this)("has_tail", has_tail);
    visit(key("tail"), tail);
    TORCH_CHECK(!has_tail || tail.size() == 3, "Newton-Schulz tail '", key("tail"), "' has ",
                tail.size(), " entries (expected 3)");
    assign(s.tail, has_tail ? c10::optional<std::array<double, 3>>(
                                  std::array<double, 3>{tail[0], tail[1], tail[2]})
                            : c10::nullopt);
  });
}

void FieldVisitor::operator()(const std::string& name, PolarOptions& o) {
  nested(name, [&] {
    (*this)("method", o.method());
    (*this)("schedule", o.schedule());
    (*this)("steps", o.steps());
    (*this)("eps", o.eps());
    (*this)("ridge", o.ridge());
    (*this)("tol", o.tol());
    (*this)("compute_dtype", o.compute_dtype());
    (*this)("bf16_where_fast", o.bf16_where_fast());
    (*this)("aol", o.aol());
  });
}

void FieldVisitor::operator()(const std::string& name, PowerOptions& o) {
  nested(name, [&] {
    (*this)("method", o.method());
    (*this)("iters", o.iters());
    (*this)("tol", o.tol());
    (*this)("compute_dtype", o.compute_dtype());
    (*this)("polar", o.polar());
  });
}

namespace {

using torch::serialize::InputArchive;
using torch::serialize::OutputArchive;

DeclaredFields& mutable_fields(const DeclaredFields& x) { return const_cast<DeclaredFields&>(x); }

// Archive entries are attributes of a TorchScript module, whose names must be identifiers.
std::string ident(std::string key) {
  for (auto& c : key) {
    if (c == '.') c = '_';
  }
  return key;
}

class ArchiveWriter : public FieldVisitor {
 public:
  ArchiveWriter(OutputArchive& a, std::string prefix) : a_(a), prefix_(std::move(prefix)) {}
  void visit(const std::string& k, double& x, Range) override { put(k, x); }
  void visit(const std::string& k, int64_t& x, Range) override { put(k, x); }
  void visit(const std::string& k, bool& x) override { put(k, x); }
  void visit(const std::string& k, std::string& x) override { put(k, x); }
  void visit(const std::string& k, std::vector<double>& x) override { put(k, x); }
  void visit(const std::string& k, at::Tensor& t) override {
    if (t.defined()) a_.write(ident(prefix_ + k), t.detach().cpu(), /*is_buffer=*/true);
  }

 private:
  void put(const std::string& k, c10::IValue v) { a_.write(ident(prefix_ + k), v); }
  OutputArchive& a_;
  std::string prefix_;
};

class ArchiveReader : public FieldVisitor {
 public:
  ArchiveReader(InputArchive& a, std::string prefix, std::string source)
      : a_(a), prefix_(std::move(prefix)), source_(std::move(source)) {}
  void visit(const std::string& k, double& x, Range) override {
    auto v = get(k);
    if (!v.isDouble()) bad(k, "a double");
    x = v.toDouble();
  }
  void visit(const std::string& k, int64_t& x, Range) override {
    auto v = get(k);
    if (!v.isInt()) bad(k, "an integer");
    x = v.toInt();
  }
  void visit(const std::string& k, bool& x) override {
    auto v = get(k);
    if (!v.isBool()) bad(k, "a bool");
    x = v.toBool();
  }
  void visit(const std::string& k, std::string& x) override {
    auto v = get(k);
    if (!v.isString()) bad(k, "a string");
    x = v.toStringRef();
  }
  void visit(const std::string& k, std::vector<double>& x) override {
    auto v = get(k);
    if (!v.isDoubleList()) bad(k, "a list of doubles");
    x = v.toDoubleVector();
  }
  void visit(const std::string& k, at::Tensor& t) override {
    at::Tensor r;
    t = a_.try_read(ident(prefix_ + k), r, /*is_buffer=*/true) ? r : at::Tensor();
  }

 private:
  c10::IValue get(const std::string& k) {
    c10::IValue v;
    TORCH_CHECK(a_.try_read(ident(prefix_ + k), v), source_, " lacks the entry '", prefix_ + k,
                "' (corrupt, or written by another specopt version)");
    return v;
  }
  [[noreturn]] void bad(const std::string& k, const char* want) {
    TORCH_CHECK(false, source_, ": entry '", prefix_ + k, "' is not ", want);
  }
  InputArchive& a_;
  std::string prefix_;
  std::string source_;
};

class FieldValidator : public FieldVisitor {
 public:
  explicit FieldValidator(const char* options) : options_(options) {}
  void visit(const std::string& k, double& x, Range r) override { check(k, x, r); }
  void visit(const std::string& k, int64_t& x, Range r) override {
    check(k, static_cast<double>(x), r);
  }

 private:
  void check(const std::string& k, double x, Range r) const {
    switch (r) {
      case Range::any:
        return;
      case Range::nonneg:
        TORCH_CHECK(std::isfinite(x) && x >= 0, "Invalid ", options_, ".", k, ": ", x,
                    " (must be finite and >= 0)");
        return;
      case Range::unit:
        TORCH_CHECK(x >= 0 && x <= 1, "Invalid ", options_, ".", k, ": ", x,
                    " (must be in [0, 1])");
        return;
      case Range::positive:
        TORCH_CHECK(std::isfinite(x) && x > 0, "Invalid ", options_, ".", k, ": ", x,
                    " (must be finite and > 0)");
        return;
    }
  }
  const char* options_;
};

class FieldPrinter : public FieldVisitor {
 public:
  void visit(const std::string& k, double& x, Range) override { put(k) << x; }
  void visit(const std::string& k, int64_t& x, Range) override { put(k) << x; }
  void visit(const std::string& k, bool& x) override { put(k) << (x ? "true" : "false"); }
  void visit(const std::string& k, std::string& x) override { put(k) << x; }
  void visit(const std::string& k, std::vector<double>& x) override {
    auto& os = put(k);
    os << "[";
    for (size_t i = 0; i < x.size(); ++i) os << (i ? ", " : "") << x[i];
    os << "]";
  }
  void visit(const std::string& k, at::Tensor& t) override {
    if (t.defined()) {
      put(k) << "tensor" << t.sizes();
    } else {
      put(k) << "undefined";
    }
  }
  std::string str() const { return os_.str(); }

 private:
  std::ostream& put(const std::string& k) {
    if (!first_) os_ << ", ";
    first_ = false;
    os_ << k << "=";
    return os_;
  }
  std::ostringstream os_;
  bool first_ = true;
};

}  // namespace

void write_fields(OutputArchive& archive, const std::string& prefix, const DeclaredFields& x) {
  ArchiveWriter w(archive, prefix);
  mutable_fields(x).fields(w);
}

void read_fields(InputArchive& archive, const std::string& prefix, DeclaredFields& x,
                 const std::string& source) {
  ArchiveReader r(archive, prefix, source);
  x.fields(r);
}

void validate_fields(const DeclaredFields& x, const char* options) {
  FieldValidator v(options);
  mutable_fields(x).fields(v);
}

std::string describe_fields(const DeclaredFields& x) {
  FieldPrinter p;
  mutable_fields(x).fields(p);
  return p.str();
}

void for_each_tensor(DeclaredFields& x,
                     const std::function<void(const std::string& key, at::Tensor& t)>& f) {
  struct Tensors : FieldVisitor {
    const std::function<void(const std::string&, at::Tensor&)>& f;
    explicit Tensors(const std::function<void(const std::string&, at::Tensor&)>& f) : f(f) {}
    void visit(const std::string& k, at::Tensor& t) override { f(k, t); }
  } tensors(f);
  x.fields(tensors);
}

std::ostream& operator<<(std::ostream& os, const RuleOptions& options) {
  return os << options.kind() << "Options(" << describe_fields(options) << ")";
}

double RuleOptions::update_flops(const at::Tensor& p) const {
  return transforms::elementwise_update_flops(p);
}

}  // namespace specopt
