#include <specopt/optim/registry.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <cctype>
#include <functional>

#include <specopt/optim/adamuon.h>
#include <specopt/optim/adamw.h>
#include <specopt/optim/dion2.h>
#include <specopt/optim/lion_k.h>
#include <specopt/optim/muon.h>
#include <specopt/optim/normuon.h>
#include <specopt/optim/polargrad.h>
#include <specopt/optim/spectral_adam.h>
#include <specopt/util/spec.h>

namespace specopt {

namespace {

struct Entry {
  RegisteredOptimizer info;
  std::function<std::unique_ptr<RuleOptions>()> options;
  std::function<std::unique_ptr<SpecoptOptimizer>(const std::vector<at::Tensor>&,
                                                  const RuleOptions&)>
      build;
};

template <class Opt, class Options>
Entry entry(const char* name, const char* summary, std::function<Options()> options) {
  return {{name, summary},
          [options] { return std::unique_ptr<RuleOptions>(new Options(options())); },
          [](const std::vector<at::Tensor>& params, const RuleOptions& o) {
            return std::unique_ptr<SpecoptOptimizer>(
                new Opt(params, dynamic_cast<const Options&>(o)));
          }};
}

const std::vector<Entry>& entries() {
  using SA = SpectralAdamOptions;
  using SS = SpectralSGDOptions;
  static const std::vector<Entry> all = {
      entry<Muon, MuonOptions>("Muon", "momentum + Newton–Schulz polar factor (arXiv 2506.15054: Lion-K with the nuclear norm)",
                               [] { return MuonOptions(); }),
      entry<NorMuon, NorMuonOptions>("NorMuon", "Muon + per-row second moment, update norm kept (arXiv 2510.05491)",
                                     [] { return NorMuonOptions(); }),
      entry<AdaMuon, AdaMuonOptions>("AdaMuon", "Muon on sign(momentum) + element-wise second moment, Adam's RMS (arXiv 2507.11005)",
                                     [] { return AdaMuonOptions(); }),
      entry<PolarGrad, PolarGradOptions>("PolarGrad", "polar factor of the momentum times its nuclear norm (arXiv 2505.21799: Lion-K with ½‖X‖²_*)",
                                         [] { return PolarGradOptions(); }),
      entry<Dion2, Dion2Options>("Dion2", "Muon on the α-fraction of rows/columns of largest norm, error feedback for the rest (arXiv 2512.16928)",
                                 [] { return Dion2Options(); }),
      entry<LionK, LionKOptions>("LionK", "Lion-K with any convex map K (see convex maps)",
                                 [] { return LionKOptions(); }),
      entry<SpectralAdam, SA>("SpectralAdam", "RMS-normalised update followed by U Σ^p Vᵀ (arXiv 2602.04669)",
                              [] { return SA(); }),
      entry<SpectralSGD, SS>("SpectralSGD", "momentum followed by U Σ^p Vᵀ (arXiv 2602.04669)",
                             [] { return SS(); }),
      entry<SpectralAdam, SA>("Adam", "SpectralAdam preset p = 1 (AdamW)", [] { return SA::adam(1e-3); }),
      entry<SpectralAdam, SA>("AdamS", "SpectralAdam preset p = 1/2", [] { return SA::adams(1e-3); }),
      entry<SpectralAdam, SA>("AdamQ", "SpectralAdam preset p = 1/4", [] { return SA::adamq(1e-3); }),
      entry<SpectralAdam, SA>("AdamZ", "SpectralAdam preset p = 0", [] { return SA::adamz(1e-3); }),
      entry<SpectralSGD, SS>("mSGD", "SpectralSGD preset p = 1 (heavy-ball SGD)", [] { return SS::msgd(1e-2); }),
      entry<SpectralSGD, SS>("mSGDS", "SpectralSGD preset p = 1/2", [] { return SS::msgds(1e-2); }),
      entry<SpectralSGD, SS>("mSGDQ", "SpectralSGD preset p = 1/4", [] { return SS::msgdq(1e-2); }),
      entry<SpectralSGD, SS>("mSGDZ", "SpectralSGD preset p = 0 (Muon-like)", [] { return SS::msgdz(1e-2); }),
      entry<AdamW, AdamWOptions>("AdamW", "decoupled weight decay Adam", [] { return AdamWOptions(); }),
      entry<Lion, LionOptions>("Lion", "sign-momentum optimizer", [] { return LionOptions(); }),
  };
  return all;
}

// Lower case without '_': "Lion_K" and "lionk" name the same optimizer.
std::string folded(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c != '_') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::vector<std::string> names() {
  std::vector<std::string> out;
  for (const auto& e : entries()) out.push_back(e.info.name);
  return out;
}

const Entry& find(const std::string& name) {
  for (const auto& e : entries()) {
    if (folded(e.info.name) == folded(name)) return e;
  }
  TORCH_CHECK(false, "Unknown optimizer '", name, "' (known: ", join_names(names()), ")");
}

// The settable keys of a rule (numbers, bools, names), in declaration order. A Newton–Schulz
// table is not settable piecewise (its name and coefficients belong together).
std::vector<std::string> keys_of(const RuleOptions& options) {
  auto& o = const_cast<RuleOptions&>(options);  // the visitor only reads
  struct Keys : FieldVisitor {
    std::vector<std::string> keys;
    void add(const std::string& k) {
      if (k.find("schedule.") == std::string::npos) keys.push_back(k);
    }
    void visit(const std::string& k, double&, Range) override { add(k); }
    void visit(const std::string& k, int64_t&, Range) override { add(k); }
    void visit(const std::string& k, bool&) override { add(k); }
    void visit(const std::string& k, std::string&) override { add(k); }
  } keys;
  o.fields(keys);
  return keys.keys;
}

// Puts `value` into the declared field `target` (a settable key).
struct Setter : FieldVisitor {
  const std::string& target;
  const std::string& value;
  const char* rule;
  Setter(const std::string& target, const std::string& value, const char* rule)
      : target(target), value(value), rule(rule) {}
  void visit(const std::string& k, double& x, Range) override {
    if (k != target) return;
    TORCH_CHECK(parse_finite_number(value, x), rule, ": option '", target, "' = '", value,
                "' is not a finite number");
  }
  void visit(const std::string& k, int64_t& x, Range) override {
    if (k != target) return;
    TORCH_CHECK(parse_integer(value, x), rule, ": option '", target, "' = '", value,
                "' is not an integer");
  }
  void visit(const std::string& k, bool& x) override {
    if (k != target) return;
    TORCH_CHECK(value == "true" || value == "false", rule, ": option '", target, "' = '", value,
                "' is not true or false");
    x = value == "true";
  }
  void visit(const std::string& k, std::string& x) override {
    if (k != target) return;
    x = value;
  }
};

}  // namespace

const std::vector<RegisteredOptimizer>& registered_optimizers() {
  static const std::vector<RegisteredOptimizer> all = [] {
    std::vector<RegisteredOptimizer> out;
    for (const auto& e : entries()) out.push_back(e.info);
    return out;
  }();
  return all;
}

std::vector<std::string> option_keys(const RuleOptions& options) { return keys_of(options); }

void set_option(RuleOptions& options, const std::string& key, const std::string& value) {
  const auto keys = keys_of(options);
  TORCH_CHECK(std::find(keys.begin(), keys.end(), key) != keys.end(), options.kind(),
              ": unknown option '", key, "' (known: ", join_names(keys), ")");
  Setter setter(key, value, options.kind());
  try {
    options.fields(setter);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, options.kind(), ": option '", key, "' = '", value, "': ",
                e.what_without_backtrace());
  }
}

std::unique_ptr<RuleOptions> make_optimizer_options(const std::string& spec) {
  const auto parts = split_spec(spec, "optimizer", names());
  auto options = find(parts.name).options();
  std::string rest = parts.params;
  // A map spec may contain ',' itself: it takes the rest of the string.
  std::string map;
  const auto at = rest.find("map=");
  if (at != std::string::npos && (at == 0 || rest[at - 1] == ',')) {
    map = rest.substr(at + 4);
    rest = rest.substr(0, at == 0 ? 0 : at - 1);
  }
  const SpecParams params(options->kind(), rest, keys_of(*options), "option");
  for (const auto& key : keys_of(*options)) {
    if (params.has(key)) set_option(*options, key, params.raw(key));
  }
  if (!map.empty()) set_option(*options, "map", map);
  options->validate();
  return options;
}

std::unique_ptr<SpecoptOptimizer> make_optimizer(const std::string& spec,
                                                 const std::vector<at::Tensor>& params) {
  const auto options = make_optimizer_options(spec);
  return find(split_spec(spec, "optimizer", names()).name).build(params, *options);
}

}  // namespace specopt
