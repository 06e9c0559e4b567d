#include <specopt/optim/hybrid.h>

#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>

#include <sstream>

#include <torch/serialize/archive.h>

namespace specopt {

namespace {

std::vector<at::Tensor> member_params(const torch::optim::Optimizer& opt) {
  std::vector<at::Tensor> out;
  for (const auto& group : opt.param_groups()) {
    for (const auto& p : group.params()) out.push_back(p);
  }
  return out;
}

template <typename Opt, typename Options>
std::unique_ptr<SpecoptOptimizer> make_member(const std::vector<at::Tensor>& params,
                                              const Options& options) {
  return std::make_unique<Opt>(params, options);
}

}  // namespace

HybridOptimizer::HybridOptimizer(Partition partition, const MuonOptions& spectral,
                                 const AdamWOptions& adamw, const HybridOptions& options)
    : HybridOptimizer(partition,
                      make_member<Muon>(partition.spectral_params(), spectral),
                      make_member<AdamW>(partition.adamw_params(), adamw), options) {}

HybridOptimizer::HybridOptimizer(Partition partition, const LionKOptions& spectral,
                                 const AdamWOptions& adamw, const HybridOptions& options)
    : HybridOptimizer(partition,
                      make_member<LionK>(partition.spectral_params(), spectral),
                      make_member<AdamW>(partition.adamw_params(), adamw), options) {}

HybridOptimizer::HybridOptimizer(Partition partition, const SpectralAdamOptions& spectral,
                                 const AdamWOptions& adamw, const HybridOptions& options)
    : HybridOptimizer(partition,
                      make_member<SpectralAdam>(partition.spectral_params(), spectral),
                      make_member<AdamW>(partition.adamw_params(), adamw), options) {}

HybridOptimizer::HybridOptimizer(Partition partition, const SpectralSGDOptions& spectral,
                                 const AdamWOptions& adamw, const HybridOptions& options)
    : HybridOptimizer(partition,
                      make_member<SpectralSGD>(partition.spectral_params(), spectral),
                      make_member<AdamW>(partition.adamw_params(), adamw), options) {}

HybridOptimizer::HybridOptimizer(Partition partition, std::unique_ptr<SpecoptOptimizer> spectral,
                                 std::unique_ptr<SpecoptOptimizer> adamw,
                                 const HybridOptions& options)
    : partition_(std::move(partition)),
      options_(options),
      spectral_(std::move(spectral)),
      adamw_(std::move(adamw)) {
  TORCH_CHECK(spectral_ != nullptr && adamw_ != nullptr,
              "HybridOptimizer: both member optimizers must be given");
  check_members();
}

void HybridOptimizer::check_members() const {
  const struct {
    const char* side;
    const std::vector<NamedParameter>& expected;
    const SpecoptOptimizer& opt;
  } sides[] = {{"spectral", partition_.spectral, *spectral_}, {"adamw", partition_.adamw, *adamw_}};
  for (const auto& s : sides) {
    const auto actual = member_params(s.opt);
    TORCH_CHECK(actual.size() == s.expected.size(), "HybridOptimizer: the ", s.side, " member (",
                s.opt.name(), ") holds ", actual.size(), " parameter(s) but the partition's ",
                s.side, " side has ", s.expected.size());
    for (size_t i = 0; i < actual.size(); ++i) {
      TORCH_CHECK(actual[i].unsafeGetTensorImpl() == s.expected[i].param.unsafeGetTensorImpl(),
                  "HybridOptimizer: parameter ", i, " of the ", s.side, " member (", s.opt.name(),
                  ") is not the partition's '", s.expected[i].name,
                  "' (members must hold the partition's parameters in order)");
    }
  }
}

at::Tensor HybridOptimizer::step(const LossClosure& closure) {
  at::Tensor loss;
  if (closure) {
    c10::AutoGradMode enable_grad(true);
    loss = closure();
  }
  c10::NoGradGuard no_grad;

  // One device→host read for every gradient of both sides; names only on failure.
  if (options_.nonfinite() != NonFinite::ignore) {
    std::vector<at::Tensor> grads;
    std::vector<std::pair<const NamedParameter*, const char*>> owners;
    for (const auto* side : {&partition_.spectral, &partition_.adamw}) {
      for (const auto& np : *side) {
        if (!np.param.grad().defined()) continue;
        grads.push_back(np.param.grad());
        owners.emplace_back(&np, side == &partition_.spectral ? "spectral" : "adamw");
      }
    }
    const int64_t bad = detail::first_nonfinite(grads);
    if (bad >= 0) {
      if (options_.nonfinite() == NonFinite::skip) {
        ++skipped_steps_;
        return loss;
      }
      const auto& owner = owners[static_cast<size_t>(bad)];
      const auto& member = owner.second[0] == 's' ? *spectral_ : *adamw_;
      TORCH_CHECK(false, "HybridOptimizer: non-finite (NaN or Inf) gradient in parameter '",
                  owner.first->name, "' (shape ", owner.first->param.sizes(), ", ", owner.second,
                  " side, ", member.name(), "); no parameter or state of either side was "
                  "modified. Set HybridOptions().skip_nonfinite(true) to skip such steps instead.");
    }
  }
  spectral_->update_all();
  adamw_->update_all();
  return loss;
}

void HybridOptimizer::zero_grad() {
  spectral_->zero_grad();
  adamw_->zero_grad();
}

std::vector<torch::optim::OptimizerParamGroup*> HybridOptimizer::param_groups() {
  std::vector<torch::optim::OptimizerParamGroup*> out;
  for (auto* opt : {spectral_.get(), adamw_.get()}) {
    for (auto& group : opt->param_groups()) out.push_back(&group);
  }
  return out;
}

std::vector<std::pair<std::string, SpecoptOptimizer*>> HybridOptimizer::members() {
  return {{"spectral", spectral_.get()}, {"adamw", adamw_.get()}};
}

void HybridOptimizer::set_skipped_steps(int64_t n) {
  TORCH_CHECK(n >= 0, "HybridOptimizer::set_skipped_steps: must be >= 0, got ", n);
  skipped_steps_ = n;
}

namespace {
constexpr int64_t kHybridFormatVersion = 1;

std::string joined_names(const std::vector<NamedParameter>& side) {
  std::string out;
  for (const auto& p : side) out += p.name + "\n";
  return out;
}

// Reads a string entry of the hybrid archive or fails naming the file.
std::string read_string(torch::serialize::InputArchive& a, const std::string& key,
                        const std::string& who) {
  c10::IValue v;
  TORCH_CHECK(a.try_read(key, v) && v.isString(), who,
              " is not a specopt hybrid checkpoint (no '", key, "'); the optimizer was not changed");
  return v.toStringRef();
}
}  // namespace

void save_checkpoint(const std::string& path, const HybridOptimizer& optimizer,
                     const CheckpointExtras& spectral_extras,
                     const CheckpointExtras& adamw_extras) {
  torch::serialize::OutputArchive a;
  a.write("hybrid.format_version", c10::IValue(kHybridFormatVersion));
  a.write("hybrid.skipped_steps", c10::IValue(optimizer.skipped_steps()));
  a.write("hybrid.spectral_names", c10::IValue(joined_names(optimizer.partition().spectral)));
  a.write("hybrid.adamw_names", c10::IValue(joined_names(optimizer.partition().adamw)));
  a.write("hybrid.spectral", c10::IValue(checkpoint_bytes(optimizer.spectral(), spectral_extras)));
  a.write("hybrid.adamw", c10::IValue(checkpoint_bytes(optimizer.adamw(), adamw_extras)));
  std::ostringstream os;
  a.save_to(os);
  write_file_atomic_bytes(path, os.str());
}

void load_checkpoint(const std::string& path, HybridOptimizer& optimizer,
                     CheckpointExtras& spectral_extras, CheckpointExtras& adamw_extras) {
  const std::string who = "load_checkpoint: '" + path + "'";
  const std::string bytes = read_checkpoint_file(path);
  torch::serialize::InputArchive a;
  try {
    a.load_from(bytes.data(), bytes.size());
  } catch (const std::exception& e) {
    TORCH_CHECK(false, who, " is not a readable checkpoint (truncated or corrupt?): ", e.what(),
                "; the optimizer was not changed");
  }
  c10::IValue version, skipped;
  TORCH_CHECK(a.try_read("hybrid.format_version", version) && version.isInt(), who,
              " is not a specopt hybrid checkpoint; the optimizer was not changed");
  TORCH_CHECK(version.toInt() == kHybridFormatVersion, who, " has hybrid format version ",
              version.toInt(), "; this build reads version ", kHybridFormatVersion);
  TORCH_CHECK(a.try_read("hybrid.skipped_steps", skipped) && skipped.isInt() &&
                  skipped.toInt() >= 0,
              who, ": bad skipped_steps; the optimizer was not changed");
  // The same model: the same parameter names on each side, in order.
  TORCH_CHECK(read_string(a, "hybrid.spectral_names", who) ==
                      joined_names(optimizer.partition().spectral) &&
                  read_string(a, "hybrid.adamw_names", who) ==
                      joined_names(optimizer.partition().adamw),
              who, ": the checkpoint's parameter names differ from this model's partition; the "
                   "optimizer was not changed");
  const std::string spectral = read_string(a, "hybrid.spectral", who);
  const std::string adamw = read_string(a, "hybrid.adamw", who);

  // Each member's load changes nothing when it refuses. If the second refuses, put the first
  // back from a snapshot taken before, extras (scheduler positions) included.
  const std::string snapshot = checkpoint_bytes(optimizer.spectral(), spectral_extras);
  load_checkpoint_bytes(spectral, path + " (spectral member)", optimizer.spectral(),
                        spectral_extras);
  try {
    load_checkpoint_bytes(adamw, path + " (adamw member)", optimizer.adamw(), adamw_extras);
  } catch (...) {
    load_checkpoint_bytes(snapshot, "in-memory snapshot", optimizer.spectral(), spectral_extras);
    throw;
  }
  optimizer.set_skipped_steps(skipped.toInt());
}

void load_checkpoint(const std::string& path, HybridOptimizer& optimizer) {
  CheckpointExtras spectral_extras, adamw_extras;
  load_checkpoint(path, optimizer, spectral_extras, adamw_extras);
}

}  // namespace specopt
