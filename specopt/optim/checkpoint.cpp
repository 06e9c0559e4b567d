#include <specopt/optim/checkpoint.h>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <utility>

#include <specopt/optim/fields.h>
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

std::string gkey(size_t gi) { return "g" + std::to_string(gi) + "."; }
std::string pkey(size_t gi, size_t pi) {
  return "g" + std::to_string(gi) + ".p" + std::to_string(pi) + ".";
}

// The declared facts of a group's options; every specopt rule has them.
const RuleOptions& rule_of(const torch::optim::OptimizerOptions& o, const std::string& who,
                           const std::string& what) {
  const auto* rule = dynamic_cast<const RuleOptions*>(&o);
  TORCH_CHECK(rule != nullptr, who, ": ", what,
              " has options that are not a specopt rule's (no declared fields)");
  return *rule;
}

void put(OutputArchive& a, const std::string& key, const c10::IValue& v) { a.write(ident(key), v); }

// Typed reads of the entries outside the declared fields; each failure names the entry.
class Entries {
 public:
  Entries(InputArchive& a, std::string who) : a_(a), who_(std::move(who)) {}
  const std::string& who() const { return who_; }

  c10::IValue get(const std::string& k) {
    c10::IValue v;
    TORCH_CHECK(a_.try_read(ident(k), v), who_, " lacks the entry '", k,
                "' (corrupt, or written by another specopt version)");
    return v;
  }
  int64_t integer(const std::string& k) { return as(k, get(k), &c10::IValue::isInt, "an integer").toInt(); }
  double real(const std::string& k) { return as(k, get(k), &c10::IValue::isDouble, "a double").toDouble(); }
  bool boolean(const std::string& k) { return as(k, get(k), &c10::IValue::isBool, "a bool").toBool(); }
  std::string string(const std::string& k) {
    return as(k, get(k), &c10::IValue::isString, "a string").toStringRef();
  }
  std::vector<int64_t> ints(const std::string& k) {
    return as(k, get(k), &c10::IValue::isIntList, "an int list").toIntVector();
  }
  std::vector<double> reals(const std::string& k) {
    return as(k, get(k), &c10::IValue::isDoubleList, "a list of doubles").toDoubleVector();
  }
  bool tensor(const std::string& k, at::Tensor& t) { return a_.try_read(ident(k), t, true); }
  InputArchive& archive() { return a_; }

 private:
  c10::IValue as(const std::string& k, c10::IValue v, bool (c10::IValue::*is)() const,
                 const char* want) {
    TORCH_CHECK((v.*is)(), who_, ": entry '", k, "' is not ", want);
    return v;
  }
  InputArchive& a_;
  std::string who_;
};

// ---- Save ----------------------------------------------------------------------------------

void write_groups(OutputArchive& a, const SpecoptOptimizer& optimizer, bool save_parameters) {
  const auto& groups = optimizer.param_groups();
  const auto& state = optimizer.state();
  const std::string who = "save_checkpoint: " + optimizer.name();
  put(a, "layout.groups", static_cast<int64_t>(groups.size()));
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const auto& params = groups[gi].params();
    const auto& rule = rule_of(groups[gi].options(), who, "param group " + std::to_string(gi));
    put(a, "layout." + gkey(gi) + "params", static_cast<int64_t>(params.size()));
    put(a, gkey(gi) + "kind", std::string(rule.kind()));
    write_fields(a, gkey(gi) + "opt.", rule);
    for (size_t pi = 0; pi < params.size(); ++pi) {
      const auto& p = params[pi];
      put(a, "layout." + pkey(gi, pi) + "shape", p.sizes().vec());
      put(a, "layout." + pkey(gi, pi) + "dtype", std::string(c10::toString(p.scalar_type())));
      put(a, "layout." + pkey(gi, pi) + "name", optimizer.param_name(gi, pi));
      auto it = state.find(SpecoptOptimizer::state_key(state, p));
      const bool has = it != state.end();
      put(a, pkey(gi, pi) + "has_state", has);
      if (has) {
        const auto* fields = dynamic_cast<const DeclaredFields*>(it->second.get());
        TORCH_CHECK(fields != nullptr, who, ": param group ", gi, ", parameter ", pi,
                    " has state without declared fields");
        write_fields(a, pkey(gi, pi) + "state.", *fields);
      }
      if (save_parameters) a.write(ident(pkey(gi, pi) + "param"), p.detach().cpu(), true);
    }
  }
  const auto* defaults = dynamic_cast<const RuleOptions*>(&optimizer.defaults());
  put(a, "defaults.kind", std::string(defaults ? defaults->kind() : ""));
  if (defaults) write_fields(a, "defaults.opt.", *defaults);
}

void write_extras(OutputArchive& a, const CheckpointExtras& extras) {
  put(a, "lr_sched.count", static_cast<int64_t>(extras.lr_schedulers.size()));
  for (size_t i = 0; i < extras.lr_schedulers.size(); ++i) {
    const LrScheduler* s = extras.lr_schedulers[i];
    TORCH_CHECK(s != nullptr, "save_checkpoint: lr_schedulers[", i, "] is null");
    const std::string k = "lr_sched." + std::to_string(i) + ".";
    put(a, k + "position", s->position());
    put(a, k + "base_lrs", s->base_lrs());
    put(a, k + "schedule", s->schedule().spec());
  }
  put(a, "mom_sched.count", static_cast<int64_t>(extras.momentum_schedulers.size()));
  for (size_t i = 0; i < extras.momentum_schedulers.size(); ++i) {
    const MomentumScheduler* s = extras.momentum_schedulers[i];
    TORCH_CHECK(s != nullptr, "save_checkpoint: momentum_schedulers[", i, "] is null");
    const std::string k = "mom_sched." + std::to_string(i) + ".";
    put(a, k + "position", s->position());
    put(a, k + "schedule", s->schedule().spec());
  }
  auto named = [&](const std::string& base, const auto& values) {
    put(a, base + "count", static_cast<int64_t>(values.size()));
    size_t i = 0;
    for (const auto& kv : values) {
      const std::string k = base + std::to_string(i++) + ".";
      put(a, k + "name", kv.first);
      put(a, k + "value", kv.second);
    }
  };
  named("extras.doubles.", extras.doubles);
  named("extras.integers.", extras.integers);
}

// ---- Load: read and validate everything into fresh objects (LoadPlan), then apply ----------

struct LoadPlan {
  int64_t skipped = 0;
  std::vector<std::unique_ptr<torch::optim::OptimizerOptions>> options;
  std::vector<std::vector<std::unique_ptr<torch::optim::OptimizerParamState>>> state;
  std::vector<std::vector<at::Tensor>> params;
  std::unique_ptr<torch::optim::OptimizerOptions> defaults;
  std::vector<std::pair<int64_t, std::vector<double>>> lr_schedulers;
  std::vector<int64_t> momentum_schedulers;
  std::map<std::string, double> doubles;
  std::map<std::string, int64_t> integers;
};

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << c10::IntArrayRef(s);
  return os.str();
}

void read_header(Entries& r, const SpecoptOptimizer& optimizer, LoadPlan& plan) {
  c10::IValue v;
  TORCH_CHECK(r.archive().try_read(ident("specopt.format_version"), v) && v.isInt(), r.who(),
              " is not a specopt optimizer checkpoint (no format version)");
  TORCH_CHECK(v.toInt() == kCheckpointFormatVersion, r.who(), " has checkpoint format version ",
              v.toInt(), "; this build reads version ", kCheckpointFormatVersion);
  const std::string kind = r.string("specopt.kind");
  TORCH_CHECK(kind == optimizer.name(), r.who(), ": checkpoint is for ", kind,
              ", optimizer is ", optimizer.name());
  plan.skipped = r.integer("specopt.skipped_steps");
  TORCH_CHECK(plan.skipped >= 0, r.who(), ": negative skipped_steps ", plan.skipped);
}

// The same groups, parameter counts, shapes and dtypes as the optimizer's.
void check_layout(Entries& r, const SpecoptOptimizer& optimizer) {
  const auto& groups = optimizer.param_groups();
  const int64_t ngroups = r.integer("layout.groups");
  TORCH_CHECK(ngroups == static_cast<int64_t>(groups.size()), r.who(), ": the checkpoint has ",
              ngroups, " param groups, the optimizer has ", groups.size());
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const auto& params = groups[gi].params();
    const int64_t np = r.integer("layout." + gkey(gi) + "params");
    TORCH_CHECK(np == static_cast<int64_t>(params.size()), r.who(), ": param group ", gi,
                " has ", np, " parameters in the checkpoint, ", params.size(),
                " in the optimizer");
    for (size_t pi = 0; pi < params.size(); ++pi) {
      const auto shape = r.ints("layout." + pkey(gi, pi) + "shape");
      const std::string dtype = r.string("layout." + pkey(gi, pi) + "dtype");
      const auto& p = params[pi];
      TORCH_CHECK(shape == p.sizes().vec(), r.who(), ": param group ", gi, ", parameter ", pi,
                  ": shape ", shape_str(shape), " in the checkpoint, ",
                  shape_str(p.sizes().vec()), " in the optimizer");
      const std::string pd = c10::toString(p.scalar_type());
      TORCH_CHECK(dtype == pd, r.who(), ": param group ", gi, ", parameter ", pi, ": dtype ",
                  dtype, " in the checkpoint, ", pd, " in the optimizer");
      // The model's parameter names where the optimizer knows them (a hybrid's partition).
      c10::IValue name;
      if (r.archive().try_read(ident("layout." + pkey(gi, pi) + "name"), name) &&
          name.isString()) {
        TORCH_CHECK(name.toStringRef() == optimizer.param_name(gi, pi), r.who(),
                    ": the checkpoint's parameter names differ from this optimizer's: ",
                    name.toStringRef(), " in the checkpoint, ", optimizer.param_name(gi, pi),
                    " in the optimizer");
      }
    }
  }
}

// A parameter's saved state: its rule's fields, tensors moved onto the parameter's device.
std::unique_ptr<torch::optim::OptimizerParamState> read_state(Entries& r, const RuleOptions& rule,
                                                             const at::Tensor& p, size_t gi,
                                                             size_t pi) {
  auto state = rule.make_state();
  auto& fields = dynamic_cast<DeclaredFields&>(*state);
  read_fields(r.archive(), pkey(gi, pi) + "state.", fields, r.who());
  for_each_tensor(fields, [&](const std::string& k, at::Tensor& t) {
    if (!t.defined()) return;
    const auto want = rule.state_shape(k, p);
    TORCH_CHECK(t.sizes() == c10::IntArrayRef(want), r.who(), ": param group ", gi,
                ", parameter ", pi, ": state tensor '", k, "' has shape ", t.sizes(), ", ",
                rule.kind(), " keeps ", c10::IntArrayRef(want), " for the parameter's ",
                p.sizes());
    TORCH_CHECK(t.scalar_type() == p.scalar_type(), r.who(), ": param group ", gi, ", parameter ",
                pi, ": state tensor '", k, "' has dtype ", t.scalar_type(), ", the parameter ",
                p.scalar_type());
    t = t.to(p.device());
  });
  return state;
}

void read_groups(Entries& r, const SpecoptOptimizer& optimizer, LoadPlan& plan) {
  const auto& groups = optimizer.param_groups();
  plan.options.resize(groups.size());
  plan.state.resize(groups.size());
  plan.params.resize(groups.size());
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const auto& have = rule_of(groups[gi].options(), r.who(), "param group " + std::to_string(gi));
    const std::string kind = r.string(gkey(gi) + "kind");
    TORCH_CHECK(kind == have.kind(), r.who(), ": param group ", gi, " is for ", kind,
                " in the checkpoint, ", have.kind(), " in the optimizer");
    plan.options[gi] = groups[gi].options().clone();
    auto& rule = dynamic_cast<RuleOptions&>(*plan.options[gi]);
    read_fields(r.archive(), gkey(gi) + "opt.", rule, r.who());
    try {
      rule.validate();
    } catch (const std::exception& e) {
      TORCH_CHECK(false, r.who(), ": param group ", gi, " has invalid options: ", e.what());
    }
    const auto& params = groups[gi].params();
    plan.state[gi].resize(params.size());
    plan.params[gi].resize(params.size());
    for (size_t pi = 0; pi < params.size(); ++pi) {
      const auto& p = params[pi];
      if (r.boolean(pkey(gi, pi) + "has_state")) plan.state[gi][pi] = read_state(r, rule, p, gi, pi);
      at::Tensor saved;
      if (r.tensor(pkey(gi, pi) + "param", saved)) {
        TORCH_CHECK(saved.sizes() == p.sizes() && saved.scalar_type() == p.scalar_type(), r.who(),
                    ": param group ", gi, ", parameter ", pi,
                    ": saved parameter values do not match its shape/dtype");
        plan.params[gi][pi] = saved;
      }
    }
  }
  // Defaults: restored only when of the same rule as saved (they matter to add_param_group).
  const auto* defaults = dynamic_cast<const RuleOptions*>(&optimizer.defaults());
  if (defaults != nullptr && r.string("defaults.kind") == defaults->kind()) {
    plan.defaults = optimizer.defaults().clone();
    read_fields(r.archive(), "defaults.opt.", dynamic_cast<RuleOptions&>(*plan.defaults), r.who());
  }
}

void read_extras(Entries& r, const SpecoptOptimizer& optimizer, const CheckpointExtras& extras,
                 LoadPlan& plan) {
  const size_t ngroups = optimizer.param_groups().size();
  const int64_t nlr = r.integer("lr_sched.count");
  TORCH_CHECK(nlr == static_cast<int64_t>(extras.lr_schedulers.size()), r.who(),
              ": the checkpoint has ", nlr, " lr schedulers, ", extras.lr_schedulers.size(),
              " were given to restore");
  for (int64_t i = 0; i < nlr; ++i) {
    const std::string k = "lr_sched." + std::to_string(i) + ".";
    TORCH_CHECK(extras.lr_schedulers[static_cast<size_t>(i)] != nullptr, r.who(),
                ": lr_schedulers[", i, "] is null");
    const int64_t pos = r.integer(k + "position");
    auto base = r.reals(k + "base_lrs");
    TORCH_CHECK(pos >= 0, r.who(), ": lr scheduler ", i, " has negative position ", pos);
    TORCH_CHECK(base.size() == ngroups, r.who(), ": lr scheduler ", i, " has ", base.size(),
                " base lrs, the optimizer has ", ngroups, " param groups");
    for (double b : base) {
      TORCH_CHECK(std::isfinite(b) && b >= 0, r.who(), ": lr scheduler ", i, " has base lr ", b);
    }
    plan.lr_schedulers.emplace_back(pos, std::move(base));
  }
  const int64_t nmom = r.integer("mom_sched.count");
  TORCH_CHECK(nmom == static_cast<int64_t>(extras.momentum_schedulers.size()), r.who(),
              ": the checkpoint has ", nmom, " momentum schedulers, ",
              extras.momentum_schedulers.size(), " were given to restore");
  for (int64_t i = 0; i < nmom; ++i) {
    TORCH_CHECK(extras.momentum_schedulers[static_cast<size_t>(i)] != nullptr, r.who(),
                ": momentum_schedulers[", i, "] is null");
    const int64_t pos = r.integer("mom_sched." + std::to_string(i) + ".position");
    TORCH_CHECK(pos >= 0, r.who(), ": momentum scheduler ", i, " has negative position ", pos);
    plan.momentum_schedulers.push_back(pos);
  }
  for (int64_t i = 0, n = r.integer("extras.doubles.count"); i < n; ++i) {
    const std::string k = "extras.doubles." + std::to_string(i) + ".";
    plan.doubles[r.string(k + "name")] = r.real(k + "value");
  }
  for (int64_t i = 0, n = r.integer("extras.integers.count"); i < n; ++i) {
    const std::string k = "extras.integers." + std::to_string(i) + ".";
    plan.integers[r.string(k + "name")] = r.integer(k + "value");
  }
}

// Nothing here is expected to throw: every check ran while the plan was read.
void apply(LoadPlan& plan, SpecoptOptimizer& optimizer, CheckpointExtras& extras) {
  auto& groups = optimizer.param_groups();
  auto& state = optimizer.state();
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    groups[gi].set_options(std::move(plan.options[gi]));
    auto& params = groups[gi].params();
    for (size_t pi = 0; pi < params.size(); ++pi) {
      auto key = SpecoptOptimizer::state_key(state, params[pi]);
      if (plan.state[gi][pi]) {
        state[key] = std::move(plan.state[gi][pi]);
      } else {
        state.erase(key);
      }
      if (plan.params[gi][pi].defined()) {
        c10::NoGradGuard no_grad;
        params[pi].copy_(plan.params[gi][pi]);
      }
    }
  }
  if (plan.defaults) {
    // defaults() is the optimizer's own object: copy the loaded options into it.
    dynamic_cast<RuleOptions&>(optimizer.defaults())
        .assign(dynamic_cast<const RuleOptions&>(*plan.defaults));
  }
  optimizer.set_skipped_steps(plan.skipped);
  for (size_t i = 0; i < plan.lr_schedulers.size(); ++i) {
    extras.lr_schedulers[i]->set_base_lrs(plan.lr_schedulers[i].second);
    extras.lr_schedulers[i]->set_position(plan.lr_schedulers[i].first);
  }
  for (size_t i = 0; i < plan.momentum_schedulers.size(); ++i) {
    extras.momentum_schedulers[i]->set_position(plan.momentum_schedulers[i]);
  }
  extras.doubles = std::move(plan.doubles);
  extras.integers = std::move(plan.integers);
}

}  // namespace

// ---- Public API ----------------------------------------------------------------------------

void write_checkpoint(OutputArchive& a, const SpecoptOptimizer& optimizer,
                      const CheckpointExtras& extras) {
  put(a, "specopt.format_version", kCheckpointFormatVersion);
  put(a, "specopt.kind", optimizer.name());
  put(a, "specopt.skipped_steps", optimizer.skipped_steps());
  write_groups(a, optimizer, extras.save_parameters);
  write_extras(a, extras);
}

void read_checkpoint(InputArchive& a, const std::string& source, SpecoptOptimizer& optimizer,
                     CheckpointExtras& extras) {
  const std::string who = "load_checkpoint: '" + source + "'";
  try {
    Entries r(a, who);
    LoadPlan plan;
    read_header(r, optimizer, plan);
    check_layout(r, optimizer);
    read_groups(r, optimizer, plan);
    read_extras(r, optimizer, extras, plan);
    apply(plan, optimizer, extras);
  } catch (const c10::Error&) {
    throw;
  } catch (const std::exception& e) {
    TORCH_CHECK(false, who, ": ", e.what(), "; the optimizer was not changed");
  }
}

std::string checkpoint_bytes(const SpecoptOptimizer& optimizer, const CheckpointExtras& extras) {
  OutputArchive a;
  write_checkpoint(a, optimizer, extras);
  std::ostringstream os;
  a.save_to(os);
  return os.str();
}

void load_checkpoint_bytes(const std::string& bytes, const std::string& source,
                           SpecoptOptimizer& optimizer, CheckpointExtras& extras) {
  InputArchive a;
  try {
    a.load_from(bytes.data(), bytes.size());
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "load_checkpoint: '", source,
                "' is not a readable checkpoint (truncated or corrupt?): ", e.what(),
                "; the optimizer was not changed");
  }
  read_checkpoint(a, source, optimizer, extras);
}

void write_file_atomic_bytes(const std::string& path, const std::string& bytes) {
  TORCH_CHECK(!path.empty(), "save_checkpoint: empty path");
  try {  // checksum trailer and safe atomic write: specopt/util/{checksum,atomic_write}.h
    write_file_atomic(path, with_checksum_trailer(bytes), /*create_parents=*/true);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "save_checkpoint: ", e.what(), "; '", path, "' was left as it was");
  }
}

std::string read_checkpoint_file(const std::string& path) {
  std::string bytes, error;  // the checksum is verified before anything is parsed
  TORCH_CHECK(read_checksummed_file(path, bytes, error), "load_checkpoint: ", error,
              "; the optimizer was not changed");
  return bytes;
}

void save_checkpoint(const std::string& path, const SpecoptOptimizer& optimizer,
                     const CheckpointExtras& extras) {
  write_file_atomic_bytes(path, checkpoint_bytes(optimizer, extras));
}

void load_checkpoint(const std::string& path, SpecoptOptimizer& optimizer,
                     CheckpointExtras& extras) {
  load_checkpoint_bytes(read_checkpoint_file(path), path, optimizer, extras);
}

void load_checkpoint(const std::string& path, SpecoptOptimizer& optimizer) {
  CheckpointExtras none;
  load_checkpoint(path, optimizer, none);
}

// torch::save(optimizer, path) / torch::load(optimizer, path): the same entries, no extras.
void SpecoptOptimizer::save(torch::serialize::OutputArchive& archive) const {
  write_checkpoint(archive, *this, {});
}

void SpecoptOptimizer::load(torch::serialize::InputArchive& archive) {
  CheckpointExtras none;
  read_checkpoint(archive, "torch::load", *this, none);
}

}  // namespace specopt
