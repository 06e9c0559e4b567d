#include <specopt/optim/checkpoint.h>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <type_traits>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <specopt/maps/registry.h>
#include <specopt/optim/adamw.h>
#include <specopt/optim/lion_k.h>
#include <specopt/optim/muon.h>
#include <specopt/optim/spectral_adam.h>
#include <specopt/util/atomic_write.h>
#include <specopt/util/checksum.h>

namespace specopt {
namespace {

using torch::serialize::InputArchive;
using torch::serialize::OutputArchive;

// Archive entries are attributes of a TorchScript module, whose names must be identifiers:
// the dotted keys documented in checkpoint.h are stored with '.' spelled '_'.
std::string ident(std::string key) {
  for (auto& c : key) {
    if (c == '.') c = '_';
  }
  return key;
}
void awrite(OutputArchive& a, const std::string& key, const c10::IValue& v) {
  a.write(ident(key), v);
}
void awrite(OutputArchive& a, const std::string& key, const at::Tensor& t, bool is_buffer) {
  a.write(ident(key), t, is_buffer);
}
bool aread(InputArchive& a, const std::string& key, c10::IValue& v) {
  return a.try_read(ident(key), v);
}
bool aread(InputArchive& a, const std::string& key, at::Tensor& t, bool is_buffer) {
  return a.try_read(ident(key), t, is_buffer);
}

// ---------------------------------------------------------------------------------------
// Field visitors: one description of each options / state type, used both ways.

struct Writer {
  OutputArchive& a;
  std::string prefix;

  void put(const std::string& k, c10::IValue v) { awrite(a, prefix + k, v); }
  void operator()(const std::string& k, double& x) { put(k, x); }
  void operator()(const std::string& k, bool& x) { put(k, x); }
  void operator()(const std::string& k, int& x) { put(k, static_cast<int64_t>(x)); }
  void operator()(const std::string& k, int64_t& x) { put(k, x); }
  void operator()(const std::string& k, std::string& x) { put(k, x); }
  void operator()(const std::string& k, ShapeRule& x) { put(k, to_string(x)); }
  void operator()(const std::string& k, PolarMethod& x) { put(k, to_string(x)); }
  void operator()(const std::string& k, PowerMethod& x) { put(k, to_string(x)); }
  void operator()(const std::string& k, c10::optional<at::ScalarType>& x) {
    put(k, x.has_value() ? static_cast<int64_t>(*x) : int64_t(-1));
  }
  void operator()(const std::string& k, std::shared_ptr<const ConvexMap>& x) {
    put(k, x ? x->name() : std::string());
  }
  void operator()(const std::string& k, std::vector<double>& x) { put(k, x); }
  void tensor(const std::string& k, at::Tensor& t) {
    if (t.defined()) awrite(a, prefix + k, t.detach().cpu(), /*is_buffer=*/true);
  }
};

// Reads into the fields it visits; every failure throws naming the key.
struct Reader {
  InputArchive& a;
  std::string prefix;
  std::string path;

  c10::IValue get(const std::string& k) {
    c10::IValue v;
    TORCH_CHECK(aread(a, prefix + k, v), "load_checkpoint: '", path, "' lacks the entry '",
                prefix + k, "' (corrupt, or written by another specopt version)");
    return v;
  }
  [[noreturn]] void bad(const std::string& k, const char* want) {
    TORCH_CHECK(false, "load_checkpoint: '", path, "': entry '", prefix + k, "' is not ", want);
  }
  void operator()(const std::string& k, double& x) {
    auto v = get(k);
    if (!v.isDouble()) bad(k, "a double");
    x = v.toDouble();
  }
  void operator()(const std::string& k, bool& x) {
    auto v = get(k);
    if (!v.isBool()) bad(k, "a bool");
    x = v.toBool();
  }
  void operator()(const std::string& k, int64_t& x) {
    auto v = get(k);
    if (!v.isInt()) bad(k, "an integer");
    x = v.toInt();
  }
  void operator()(const std::string& k, int& x) {
    int64_t y = 0;
    (*this)(k, y);
    x = static_cast<int>(y);
  }
  void operator()(const std::string& k, std::string& x) {
    auto v = get(k);
    if (!v.isString()) bad(k, "a string");
    x = v.toStringRef();
  }
  void operator()(const std::string& k, ShapeRule& x) {
    std::string s;
    (*this)(k, s);
    x = transforms::parse_shape_rule(s);
  }
  void operator()(const std::string& k, PolarMethod& x) {
    std::string s;
    (*this)(k, s);
    x = parse_polar_method(s);
  }
  void operator()(const std::string& k, PowerMethod& x) {
    std::string s;
    (*this)(k, s);
    x = parse_power_method(s);
  }
  void operator()(const std::string& k, c10::optional<at::ScalarType>& x) {
    int64_t y = 0;
    (*this)(k, y);
    if (y < 0) {
      x = c10::nullopt;
    } else {
      TORCH_CHECK(y < static_cast<int64_t>(at::ScalarType::NumOptions), "load_checkpoint: '",
                  path, "': entry '", prefix + k, "' is not a dtype (", y, ")");
      x = static_cast<at::ScalarType>(y);
    }
  }
  void operator()(const std::string& k, std::shared_ptr<const ConvexMap>& x) {
    std::string s;
    (*this)(k, s);
    if (s.empty()) {
      x = nullptr;
      return;
    }
    try {
      x = std::shared_ptr<const ConvexMap>(make_convex_map(s));
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "load_checkpoint: '", path, "': cannot rebuild the convex map '", s,
                  "' (entry '", prefix + k, "') with make_convex_map: ", e.what());
    }
  }
  void operator()(const std::string& k, std::vector<double>& x) {
    auto v = get(k);
    if (!v.isDoubleList()) bad(k, "a list of doubles");
    x = v.toDoubleVector();
  }
  void tensor(const std::string& k, at::Tensor& t) {
    at::Tensor r;
    if (aread(a, prefix + k, r, /*is_buffer=*/true)) {
      t = r;
    } else {
      t = at::Tensor();
    }
  }
};

template <class V>
void visit(V& v, const std::string& pre, NsSchedule& s) {
  v(pre + "name", s.name);
  std::vector<double> flat;
  for (const auto& c : s.coefficients) flat.insert(flat.end(), c.begin(), c.end());
  v(pre + "coefficients", flat);
  TORCH_CHECK(flat.size() % 3 == 0, "load_checkpoint: Newton-Schulz table '", pre,
              "coefficients' has ", flat.size(), " entries (not a multiple of 3)");
  s.coefficients.clear();
  for (size_t i = 0; i < flat.size(); i += 3) s.coefficients.push_back({flat[i], flat[i + 1], flat[i + 2]});
  v(pre + "norm_factor", s.norm_factor);
  bool has_tail = s.tail.has_value();
  std::vector<double> tail = has_tail ? std::vector<double>(s.tail->begin(), s.tail->end())
                                      : std::vector<double>{};
  v(pre + "has_tail", has_tail);
  v(pre + "tail", tail);
  if (has_tail) {
    TORCH_CHECK(tail.size() == 3, "load_checkpoint: Newton-Schulz tail '", pre, "tail' has ",
                tail.size(), " entries (expected 3)");
    s.tail = std::array<double, 3>{tail[0], tail[1], tail[2]};
  } else {
    s.tail = c10::nullopt;
  }
}

template <class V>
void visit(V& v, const std::string& pre, PolarOptions& o) {
  v(pre + "method", o.method());
  visit(v, pre + "schedule.", o.schedule());
  v(pre + "steps", o.steps());
  v(pre + "eps", o.eps());
  v(pre + "ridge", o.ridge());
  v(pre + "tol", o.tol());
  v(pre + "compute_dtype", o.compute_dtype());
  v(pre + "bf16_where_fast", o.bf16_where_fast());
}

template <class V>
void visit(V& v, const std::string& pre, PowerOptions& o) {
  v(pre + "method", o.method());
  v(pre + "iters", o.iters());
  v(pre + "tol", o.tol());
  v(pre + "compute_dtype", o.compute_dtype());
  visit(v, pre + "polar.", o.polar());
}

template <class V>
void visit(V& v, MuonOptions& o) {
  v("lr", o.lr());
  v("momentum", o.momentum());
  v("nesterov", o.nesterov());
  visit(v, "polar.", o.polar());
  v("shape_rule", o.shape_rule());
  v("weight_decay", o.weight_decay());
  v("split_qkv", o.split_qkv());
  v("skip_nonfinite", o.skip_nonfinite());
}
template <class V>
void visit(V& v, LionKOptions& o) {
  v("lr", o.lr());
  v("map", o.map());
  v("beta_pol", o.beta_pol());
  v("beta_nes", o.beta_nes());
  v("weight_decay", o.weight_decay());
  v("implicit_weight_decay", o.implicit_weight_decay());
  v("split_qkv", o.split_qkv());
  v("skip_nonfinite", o.skip_nonfinite());
}
template <class V>
void visit(V& v, SpectralAdamOptions& o) {
  v("lr", o.lr());
  v("p", o.p());
  v("beta1", o.beta1());
  v("beta2", o.beta2());
  v("eps", o.eps());
  v("weight_decay", o.weight_decay());
  visit(v, "power.", o.power());
  v("shape_rule", o.shape_rule());
  v("split_qkv", o.split_qkv());
  v("skip_nonfinite", o.skip_nonfinite());
}
template <class V>
void visit(V& v, SpectralSGDOptions& o) {
  v("lr", o.lr());
  v("p", o.p());
  v("momentum", o.momentum());
  v("weight_decay", o.weight_decay());
  visit(v, "power.", o.power());
  v("shape_rule", o.shape_rule());
  v("split_qkv", o.split_qkv());
  v("skip_nonfinite", o.skip_nonfinite());
}
template <class V>
void visit(V& v, AdamWOptions& o) {
  v("lr", o.lr());
  v("beta1", o.beta1());
  v("beta2", o.beta2());
  v("eps", o.eps());
  v("weight_decay", o.weight_decay());
  v("skip_nonfinite", o.skip_nonfinite());
}
template <class V>
void visit(V& v, LionOptions& o) {
  v("lr", o.lr());
  v("beta1", o.beta1());
  v("beta2", o.beta2());
  v("weight_decay", o.weight_decay());
  v("skip_nonfinite", o.skip_nonfinite());
}

template <class V>
void visit(V& v, MuonParamState& s) {
  v.tensor("momentum_buffer", s.momentum_buffer());
  v("step", s.step());
}
template <class V>
void visit(V& v, LionKParamState& s) {
  v.tensor("momentum", s.momentum());
  v("step", s.step());
}
template <class V>
void visit(V& v, SpectralAdamParamState& s) {
  v("step", s.step());
  v.tensor("exp_avg", s.exp_avg());
  v.tensor("exp_avg_sq", s.exp_avg_sq());
}
template <class V>
void visit(V& v, SpectralSGDParamState& s) {
  v("step", s.step());
  v.tensor("momentum_buffer", s.momentum_buffer());
}
template <class V>
void visit(V& v, AdamWParamState& s) {
  v("step", s.step());
  v.tensor("exp_avg", s.exp_avg());
  v.tensor("exp_avg_sq", s.exp_avg_sq());
}
template <class V>
void visit(V& v, LionParamState& s) {
  v("step", s.step());
  v.tensor("exp_avg", s.exp_avg());
}

// ---------------------------------------------------------------------------------------
// The known (kind, options, state) triples; dispatch on a group's options type or kind name.

template <class Opt, class Opts, class St>
struct Kind {
  using Optimizer = Opt;
  using Options = Opts;
  using State = St;
  static const char* name() { return Opt::kName; }
};

template <class F>
bool for_each_kind(F&& f) {
  return f(Kind<Muon, MuonOptions, MuonParamState>{}) ||
         f(Kind<LionK, LionKOptions, LionKParamState>{}) ||
         f(Kind<SpectralAdam, SpectralAdamOptions, SpectralAdamParamState>{}) ||
         f(Kind<SpectralSGD, SpectralSGDOptions, SpectralSGDParamState>{}) ||
         f(Kind<AdamW, AdamWOptions, AdamWParamState>{}) ||
         f(Kind<Lion, LionOptions, LionParamState>{});
}

std::string kind_of(const torch::optim::OptimizerOptions& o) {
  std::string out;
  for_each_kind([&](auto k) {
    using K = decltype(k);
    if (dynamic_cast<const typename K::Options*>(&o) == nullptr) return false;
    out = K::name();
    return true;
  });
  return out;
}


// Moves a loaded state's tensors onto the parameter's device, checking their shapes.
struct StateMover {
  const at::Tensor& p;
  const std::string& who;
  size_t gi, pi;
  template <class T>
  void operator()(const std::string&, T&) {}
  void tensor(const std::string& k, at::Tensor& t) {
    if (!t.defined()) return;
    TORCH_CHECK(t.sizes() == p.sizes(), who, ": param group ", gi, ", parameter ", pi,
                ": state tensor '", k, "' has shape ", t.sizes(), ", the parameter ",
                p.sizes());
    t = t.to(p.device());
  }
};

std::string gkey(size_t gi) { return "g" + std::to_string(gi) + "."; }
std::string pkey(size_t gi, size_t pi) {
  return "g" + std::to_string(gi) + ".p" + std::to_string(pi) + ".";
}
std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << c10::IntArrayRef(s);
  return os.str();
}

}  // namespace

void write_file_atomic_bytes(const std::string& path, const std::string& bytes) {
  TORCH_CHECK(!path.empty(), "save_checkpoint: empty path");
  try {  // checksum trailer and safe atomic write: specopt/util/{checksum,atomic_write}.h
    write_file_atomic(path, with_checksum_trailer(bytes), /*create_parents=*/true);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "save_checkpoint: ", e.what(), "; '", path, "' was left as it was");
  }
}

// ---------------------------------------------------------------------------------------
// Save.

void save_checkpoint(const std::string& path, const SpecoptOptimizer& optimizer,
                     const CheckpointExtras& extras) {
  write_file_atomic_bytes(path, checkpoint_bytes(optimizer, extras));
}

std::string checkpoint_bytes(const SpecoptOptimizer& optimizer, const CheckpointExtras& extras) {
  OutputArchive a;
  awrite(a, "specopt.format_version", c10::IValue(kCheckpointFormatVersion));
  awrite(a, "specopt.kind", c10::IValue(optimizer.name()));
  awrite(a, "specopt.skipped_steps", c10::IValue(optimizer.skipped_steps()));

  const auto& groups = optimizer.param_groups();
  const auto& state = optimizer.state();
  awrite(a, "layout.groups", c10::IValue(static_cast<int64_t>(groups.size())));
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const auto& params = groups[gi].params();
    awrite(a, "layout." + gkey(gi) + "params", c10::IValue(static_cast<int64_t>(params.size())));
    const auto& gopts = groups[gi].options();
    const std::string kind = kind_of(gopts);
    TORCH_CHECK(!kind.empty(), "save_checkpoint: ", optimizer.name(), ": param group ", gi,
                " has options of a type save_checkpoint does not know");
    awrite(a, gkey(gi) + "kind", c10::IValue(kind));
    for_each_kind([&](auto k) {
      using K = decltype(k);
      const auto* typed = dynamic_cast<const typename K::Options*>(&gopts);
      if (typed == nullptr) return false;
      typename K::Options copy = *typed;
      Writer w{a, gkey(gi) + "opt."};
      visit(w, copy);
      for (size_t pi = 0; pi < params.size(); ++pi) {
        const auto& p = params[pi];
        const std::string lk = "layout." + pkey(gi, pi);
        awrite(a, lk + "shape", c10::IValue(p.sizes().vec()));
        awrite(a, lk + "dtype", c10::IValue(std::string(c10::toString(p.scalar_type()))));
        auto it = state.find(SpecoptOptimizer::state_key(state, p));
        const bool has = it != state.end();
        awrite(a, pkey(gi, pi) + "has_state", c10::IValue(has));
        if (has) {
          const auto* st = dynamic_cast<const typename K::State*>(it->second.get());
          TORCH_CHECK(st != nullptr, "save_checkpoint: ", optimizer.name(), ": param group ", gi,
                      ", parameter ", pi, " has state of another optimizer type");
          typename K::State scopy = *st;
          Writer sw{a, pkey(gi, pi) + "state."};
          visit(sw, scopy);
        }
        if (extras.save_parameters) {
          awrite(a, pkey(gi, pi) + "param", p.detach().cpu(), /*is_buffer=*/true);
        }
      }
      return true;
    });
  }
  // Defaults (only when of a known kind).
  const std::string dkind = kind_of(optimizer.defaults());
  awrite(a, "defaults.kind", c10::IValue(dkind));
  if (!dkind.empty()) {
    for_each_kind([&](auto k) {
      using K = decltype(k);
      const auto* typed = dynamic_cast<const typename K::Options*>(&optimizer.defaults());
      if (typed == nullptr) return false;
      typename K::Options copy = *typed;
      Writer w{a, "defaults.opt."};
      visit(w, copy);
      return true;
    });
  }

  awrite(a, "lr_sched.count", c10::IValue(static_cast<int64_t>(extras.lr_schedulers.size())));
  for (size_t i = 0; i < extras.lr_schedulers.size(); ++i) {
    const LrScheduler* s = extras.lr_schedulers[i];
    TORCH_CHECK(s != nullptr, "save_checkpoint: lr_schedulers[", i, "] is null");
    const std::string k = "lr_sched." + std::to_string(i) + ".";
    awrite(a, k + "position", c10::IValue(s->position()));
    awrite(a, k + "base_lrs", c10::IValue(s->base_lrs()));
    awrite(a, k + "schedule", c10::IValue(s->schedule().spec()));
  }
  awrite(a, "mom_sched.count",
          c10::IValue(static_cast<int64_t>(extras.momentum_schedulers.size())));
  for (size_t i = 0; i < extras.momentum_schedulers.size(); ++i) {
    const MomentumScheduler* s = extras.momentum_schedulers[i];
    TORCH_CHECK(s != nullptr, "save_checkpoint: momentum_schedulers[", i, "] is null");
    const std::string k = "mom_sched." + std::to_string(i) + ".";
    awrite(a, k + "position", c10::IValue(s->position()));
    awrite(a, k + "schedule", c10::IValue(s->schedule().spec()));
  }
  awrite(a, "extras.doubles.count", c10::IValue(static_cast<int64_t>(extras.doubles.size())));
  size_t i = 0;
  for (const auto& kv : extras.doubles) {
    const std::string k = "extras.doubles." + std::to_string(i++) + ".";
    awrite(a, k + "name", c10::IValue(kv.first));
    awrite(a, k + "value", c10::IValue(kv.second));
  }
  awrite(a, "extras.integers.count", c10::IValue(static_cast<int64_t>(extras.integers.size())));
  i = 0;
  for (const auto& kv : extras.integers) {
    const std::string k = "extras.integers." + std::to_string(i++) + ".";
    awrite(a, k + "name", c10::IValue(kv.first));
    awrite(a, k + "value", c10::IValue(kv.second));
  }

  std::ostringstream os;
  a.save_to(os);
  return os.str();
}

// ---------------------------------------------------------------------------------------
// Load: phase 1 reads and validates everything into fresh objects; phase 2 applies.

std::string read_checkpoint_file(const std::string& path) {
  std::string bytes, error;  // the checksum is verified before anything is parsed
  TORCH_CHECK(read_checksummed_file(path, bytes, error), "load_checkpoint: ", error,
              "; the optimizer was not changed");
  return bytes;
}

void load_checkpoint(const std::string& path, SpecoptOptimizer& optimizer,
                     CheckpointExtras& extras) {
  load_checkpoint_bytes(read_checkpoint_file(path), path, optimizer, extras);
}

void load_checkpoint_bytes(const std::string& bytes, const std::string& path,
                           SpecoptOptimizer& optimizer, CheckpointExtras& extras) {
  const std::string who = "load_checkpoint: '" + path + "'";
  InputArchive a;
  try {
    a.load_from(bytes.data(), bytes.size());
  } catch (const std::exception& e) {
    TORCH_CHECK(false, who, " is not a readable checkpoint (truncated or corrupt?): ",
                e.what(), "; the optimizer was not changed");
  }

  try {
    Reader r{a, "", path};
    int64_t version = 0;
    {
      c10::IValue v;
      TORCH_CHECK(aread(a, "specopt.format_version", v) && v.isInt(), who,
                  " is not a specopt optimizer checkpoint (no format version)");
      version = v.toInt();
    }
    TORCH_CHECK(version == kCheckpointFormatVersion, who, " has checkpoint format version ",
                version, "; this build reads version ", kCheckpointFormatVersion);
    std::string kind;
    r("specopt.kind", kind);
    TORCH_CHECK(kind == optimizer.name(), who, ": checkpoint is for ", kind, ", optimizer is ",
                optimizer.name());
    int64_t skipped = 0;
    r("specopt.skipped_steps", skipped);
    TORCH_CHECK(skipped >= 0, who, ": negative skipped_steps ", skipped);

    // Layout fingerprint.
    auto& groups = optimizer.param_groups();
    int64_t ngroups = 0;
    r("layout.groups", ngroups);
    TORCH_CHECK(ngroups == static_cast<int64_t>(groups.size()), who, ": the checkpoint has ",
                ngroups, " param groups, the optimizer has ", groups.size());
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      const auto& params = groups[gi].params();
      int64_t np = 0;
      r("layout." + gkey(gi) + "params", np);
      TORCH_CHECK(np == static_cast<int64_t>(params.size()), who, ": param group ", gi,
                  " has ", np, " parameters in the checkpoint, ", params.size(),
                  " in the optimizer");
      for (size_t pi = 0; pi < params.size(); ++pi) {
        const std::string lk = "layout." + pkey(gi, pi);
        const c10::IValue sv = r.get(lk + "shape");
        TORCH_CHECK(sv.isIntList(), who, ": entry '", lk, "shape' is not an int list");
        const auto shape = sv.toIntVector();
        std::string dtype;
        r(lk + "dtype", dtype);
        const auto& p = params[pi];
        TORCH_CHECK(shape == p.sizes().vec(), who, ": param group ", gi, ", parameter ", pi,
                    ": shape ", shape_str(shape), " in the checkpoint, ",
                    shape_str(p.sizes().vec()), " in the optimizer");
        const std::string pd = c10::toString(p.scalar_type());
        TORCH_CHECK(dtype == pd, who, ": param group ", gi, ", parameter ", pi, ": dtype ",
                    dtype, " in the checkpoint, ", pd, " in the optimizer");
      }
    }

    // Options and state, read into fresh objects.
    std::vector<std::unique_ptr<torch::optim::OptimizerOptions>> new_options(groups.size());
    std::vector<std::vector<std::unique_ptr<torch::optim::OptimizerParamState>>> new_state(
        groups.size());
    std::vector<std::vector<at::Tensor>> new_params(groups.size());
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      std::string gkind;
      r(gkey(gi) + "kind", gkind);
      const std::string have = kind_of(groups[gi].options());
      TORCH_CHECK(gkind == have, who, ": param group ", gi, " is for ", gkind,
                  " in the checkpoint, ", have.empty() ? std::string("unknown") : have,
                  " in the optimizer");
      const auto& params = groups[gi].params();
      new_state[gi].resize(params.size());
      new_params[gi].resize(params.size());
      for_each_kind([&](auto k) {
        using K = decltype(k);
        const auto* typed = dynamic_cast<const typename K::Options*>(&groups[gi].options());
        if (typed == nullptr) return false;
        auto opts = std::make_unique<typename K::Options>(*typed);
        Reader gr{a, gkey(gi) + "opt.", path};
        visit(gr, *opts);
        try {
          opts->validate();
        } catch (const std::exception& e) {
          TORCH_CHECK(false, who, ": param group ", gi, " has invalid options: ", e.what());
        }
        new_options[gi] = std::move(opts);
        for (size_t pi = 0; pi < params.size(); ++pi) {
          const auto& p = params[pi];
          bool has = false;
          r(pkey(gi, pi) + "has_state", has);
          if (has) {
            auto st = std::make_unique<typename K::State>();
            Reader sr{a, pkey(gi, pi) + "state.", path};
            visit(sr, *st);
            // Tensors back onto the parameter's device; shapes checked against it.
            StateMover mover{p, who, gi, pi};
            visit(mover, *st);
            new_state[gi][pi] = std::move(st);
          }
          at::Tensor saved;
          if (aread(a, pkey(gi, pi) + "param", saved, /*is_buffer=*/true)) {
            TORCH_CHECK(saved.sizes() == p.sizes() && saved.scalar_type() == p.scalar_type(),
                        who, ": param group ", gi, ", parameter ", pi,
                        ": saved parameter values do not match its shape/dtype");
            new_params[gi][pi] = saved;
          }
        }
        return true;
      });
      TORCH_CHECK(new_options[gi] != nullptr, who, ": param group ", gi,
                  " has options of a type load_checkpoint does not know");
    }

    std::unique_ptr<torch::optim::OptimizerOptions> new_defaults;
    {
      std::string dkind;
      r("defaults.kind", dkind);
      if (!dkind.empty() && dkind == kind_of(optimizer.defaults())) {
        for_each_kind([&](auto k) {
          using K = decltype(k);
          const auto* typed = dynamic_cast<const typename K::Options*>(&optimizer.defaults());
          if (typed == nullptr) return false;
          auto opts = std::make_unique<typename K::Options>(*typed);
          Reader dr{a, "defaults.opt.", path};
          visit(dr, *opts);
          new_defaults = std::move(opts);
          return true;
        });
      }
    }

    // Schedulers and extras.
    int64_t nlr = 0, nmom = 0;
    r("lr_sched.count", nlr);
    TORCH_CHECK(nlr == static_cast<int64_t>(extras.lr_schedulers.size()), who, ": the checkpoint has ",
                nlr, " lr schedulers, ", extras.lr_schedulers.size(), " were given to restore");
    std::vector<std::pair<int64_t, std::vector<double>>> lr_data;
    for (int64_t i = 0; i < nlr; ++i) {
      const std::string k = "lr_sched." + std::to_string(i) + ".";
      TORCH_CHECK(extras.lr_schedulers[static_cast<size_t>(i)] != nullptr, who,
                  ": lr_schedulers[", i, "] is null");
      int64_t pos = 0;
      std::vector<double> base;
      r(k + "position", pos);
      r(k + "base_lrs", base);
      TORCH_CHECK(pos >= 0, who, ": lr scheduler ", i, " has negative position ", pos);
      TORCH_CHECK(base.size() == groups.size(), who, ": lr scheduler ", i, " has ", base.size(),
                  " base lrs, the optimizer has ", groups.size(), " param groups");
      for (double b : base) {
        TORCH_CHECK(std::isfinite(b) && b >= 0, who, ": lr scheduler ", i, " has base lr ", b);
      }
      lr_data.emplace_back(pos, std::move(base));
    }
    r("mom_sched.count", nmom);
    TORCH_CHECK(nmom == static_cast<int64_t>(extras.momentum_schedulers.size()), who,
                ": the checkpoint has ", nmom, " momentum schedulers, ",
                extras.momentum_schedulers.size(), " were given to restore");
    std::vector<int64_t> mom_pos;
    for (int64_t i = 0; i < nmom; ++i) {
      TORCH_CHECK(extras.momentum_schedulers[static_cast<size_t>(i)] != nullptr, who,
                  ": momentum_schedulers[", i, "] is null");
      int64_t pos = 0;
      r("mom_sched." + std::to_string(i) + ".position", pos);
      TORCH_CHECK(pos >= 0, who, ": momentum scheduler ", i, " has negative position ", pos);
      mom_pos.push_back(pos);
    }
    std::map<std::string, double> doubles;
    std::map<std::string, int64_t> integers;
    int64_t nd = 0, ni = 0;
    r("extras.doubles.count", nd);
    for (int64_t i = 0; i < nd; ++i) {
      const std::string k = "extras.doubles." + std::to_string(i) + ".";
      std::string name;
      double value = 0;
      r(k + "name", name);
      r(k + "value", value);
      doubles[name] = value;
    }
    r("extras.integers.count", ni);
    for (int64_t i = 0; i < ni; ++i) {
      const std::string k = "extras.integers." + std::to_string(i) + ".";
      std::string name;
      int64_t value = 0;
      r(k + "name", name);
      r(k + "value", value);
      integers[name] = value;
    }

    // ---- Phase 2: apply (nothing below is expected to throw). ----
    auto& state = optimizer.state();
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      groups[gi].set_options(std::move(new_options[gi]));
      auto& params = groups[gi].params();
      for (size_t pi = 0; pi < params.size(); ++pi) {
        auto key = SpecoptOptimizer::state_key(state, params[pi]);
        if (new_state[gi][pi]) {
          state[key] = std::move(new_state[gi][pi]);
        } else {
          state.erase(key);
        }
        if (new_params[gi][pi].defined()) {
          c10::NoGradGuard no_grad;
          params[pi].copy_(new_params[gi][pi]);
        }
      }
    }
    if (new_defaults) {
      for_each_kind([&](auto k) {
        using K = decltype(k);
        auto* typed = dynamic_cast<typename K::Options*>(&optimizer.defaults());
        if (typed == nullptr) return false;
        *typed = static_cast<const typename K::Options&>(*new_defaults);
        return true;
      });
    }
    optimizer.set_skipped_steps(skipped);
    for (size_t i = 0; i < lr_data.size(); ++i) {
      extras.lr_schedulers[i]->set_base_lrs(lr_data[i].second);
      extras.lr_schedulers[i]->set_position(lr_data[i].first);
    }
    for (size_t i = 0; i < mom_pos.size(); ++i) {
      extras.momentum_schedulers[i]->set_position(mom_pos[i]);
    }
    extras.doubles = std::move(doubles);
    extras.integers = std::move(integers);
  } catch (const c10::Error&) {
    throw;
  } catch (const std::exception& e) {
    TORCH_CHECK(false, who, ": ", e.what(), "; the optimizer was not changed");
  }
}

void load_checkpoint(const std::string& path, SpecoptOptimizer& optimizer) {
  CheckpointExtras none;
  load_checkpoint(path, optimizer, none);
}

}  // namespace specopt
