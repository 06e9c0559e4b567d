#include "lab/step_bench.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include <specopt/optim/optim.h>

#include "lab/atomic_file.h"
#include "lab/timing.h"

namespace specopt {
namespace lab {

namespace {

struct Entry {
  std::string name;
  std::string description;
};

const std::vector<Entry>& entries() {
  static const std::vector<Entry> e = {
      {"adamw", "AdamW on every parameter (baseline)"},
      {"muon", "hybrid: Muon defaults (newton_schulz jordan x5, bf16 where native, split_qkv) + AdamW"},
      {"muon_f32", "hybrid: Muon (newton_schulz jordan x5 in float32, split_qkv) + AdamW"},
      {"muon_auto", "hybrid: Muon (polar auto, split_qkv) + AdamW"},
      {"normuon", "hybrid: NorMuon defaults (newton_schulz jordan x5, bf16 where native) + AdamW"},
      {"spectral_adam_q", "hybrid: SpectralAdam p=1/4 (adamq, split_qkv) + AdamW"},
      {"spectral_sgd_z", "hybrid: SpectralSGD p=0 (msgdz, split_qkv) + AdamW"},
      {"lion_k_nuclear", "hybrid: LionK nuclear (split_qkv) + AdamW"},
      {"lion", "Lion on every parameter"},
  };
  return e;
}

// A uniform interface over the standalone optimizers and HybridOptimizer.
struct Stepper {
  std::function<void()> step;
  int64_t spectral = 0;
  int64_t adamw = 0;
  std::shared_ptr<void> keep;  // owns the optimizer
};

int64_t numel_of(const std::vector<at::Tensor>& ts) {
  int64_t n = 0;
  for (const auto& t : ts) n += t.numel();
  return n;
}

Stepper make_stepper(const std::string& name, const Partition& part,
                     const std::vector<at::Tensor>& all) {
  Stepper s;
  auto made = std::make_shared<StepBenchOptimizer>(make_step_bench_optimizer(name, part, all));
  if (made->single) {
    s.step = [made] { made->single->step(); };
    s.adamw = numel_of(all);
  } else {
    s.step = [made] { made->hybrid->step(); };
    s.spectral = numel_of(part.spectral_params());
    s.adamw = numel_of(part.adamw_params());
  }
  s.keep = made;
  return s;
}

}  // namespace

StepBenchOptimizer::StepBenchOptimizer() = default;
StepBenchOptimizer::StepBenchOptimizer(StepBenchOptimizer&&) noexcept = default;
StepBenchOptimizer::~StepBenchOptimizer() = default;

StepBenchOptimizer make_step_bench_optimizer(const std::string& name, const Partition& part,
                                             const std::vector<at::Tensor>& all) {
  StepBenchOptimizer o;
  if (name == "adamw") {
    o.single = std::make_unique<AdamW>(all, AdamWOptions(3e-4));
    return o;
  }
  if (name == "lion") {
    o.single = std::make_unique<Lion>(all, LionOptions(1e-4));
    return o;
  }
  const auto adamw = AdamWOptions(3e-4);
  if (name == "muon") {
    o.hybrid = std::make_unique<HybridOptimizer>(part, MuonOptions(0.02).split_qkv(true), adamw);
  } else if (name == "muon_f32") {
    const auto muon = MuonOptions(0.02).split_qkv(true);
    o.hybrid = std::make_unique<HybridOptimizer>(
        part, MuonOptions(muon).polar(PolarOptions(muon.polar()).bf16_where_fast(false)), adamw);
  } else if (name == "muon_auto") {
    o.hybrid = std::make_unique<HybridOptimizer>(
        part,
        MuonOptions(0.02).split_qkv(true).polar(PolarOptions().method(PolarMethod::automatic)),
        adamw);
  } else if (name == "normuon") {
    o.hybrid = std::make_unique<HybridOptimizer>(part, NorMuonOptions(0.02), adamw);
  } else if (name == "spectral_adam_q") {
    o.hybrid = std::make_unique<HybridOptimizer>(
        part, SpectralAdamOptions::adamq(1e-3).split_qkv(true), adamw);
  } else if (name == "spectral_sgd_z") {
    o.hybrid = std::make_unique<HybridOptimizer>(
        part, SpectralSGDOptions::msgdz(1e-2).split_qkv(true), adamw);
  } else if (name == "lion_k_nuclear") {
    o.hybrid = std::make_unique<HybridOptimizer>(
        part, LionKOptions(1e-3).map("nuclear").split_qkv(true), adamw);
  } else {
    throw std::invalid_argument("bench step: unknown optimizer '" + name + "'");
  }
  return o;
}

void StepBenchConfig::validate() const {
  if (blocks < 0) throw std::invalid_argument("bench step: blocks must be >= 0");
  if (width < 1) throw std::invalid_argument("bench step: width must be >= 1");
  if (vocab < 1) throw std::invalid_argument("bench step: vocab must be >= 1");
  if (positions < 1) throw std::invalid_argument("bench step: positions must be >= 1");
  if (dtype != at::kFloat && dtype != at::kDouble) {
    throw std::invalid_argument("bench step: dtype must be float32 or float64");
  }
  if (repeats < 1) throw std::invalid_argument("bench step: repeats must be >= 1");
  if (warmup < 0) throw std::invalid_argument("bench step: warmup must be >= 0");
  if (threads < 0) throw std::invalid_argument("bench step: threads must be >= 0");
  if (device != "cpu" && device != "cuda") {
    throw std::invalid_argument("bench step: device must be cpu or cuda, got '" + device + "'");
  }
  if (device == "cuda" && !at::hasCUDA()) {
    throw std::invalid_argument(
        "bench step: device cuda requested, but this LibTorch build has no CUDA support or no "
        "GPU is visible");
  }
  const auto known = step_bench_optimizers();
  for (const auto& o : optimizers) {
    if (std::find(known.begin(), known.end(), o) == known.end()) {
      throw std::invalid_argument("bench step: unknown optimizer '" + o + "'");
    }
  }
}

std::vector<std::string> step_bench_optimizers() {
  std::vector<std::string> names;
  for (const auto& e : entries()) names.push_back(e.name);
  return names;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> step_bench_shapes(
    const StepBenchConfig& c) {
  const int64_t d = c.width;
  std::vector<std::pair<std::string, std::vector<int64_t>>> s;
  s.push_back({"wte.weight", {c.vocab, d}});
  s.push_back({"wpe.weight", {c.positions, d}});
  for (int i = 0; i < c.blocks; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    s.push_back({b + "ln_1.weight", {d}});
    s.push_back({b + "ln_1.bias", {d}});
    s.push_back({b + "attn.c_attn.weight", {3 * d, d}});
    s.push_back({b + "attn.c_proj.weight", {d, d}});
    s.push_back({b + "ln_2.weight", {d}});
    s.push_back({b + "ln_2.bias", {d}});
    s.push_back({b + "mlp.c_fc.weight", {4 * d, d}});
    s.push_back({b + "mlp.c_proj.weight", {d, 4 * d}});
  }
  s.push_back({"ln_f.weight", {d}});
  s.push_back({"ln_f.bias", {d}});
  return s;
}

std::vector<StepBenchRecord> run_step_bench(const StepBenchConfig& config) {
  config.validate();
  use_threads(config.threads);

  // Parameters and fixed random gradients, shared by every optimizer (each keeps its own state).
  at::manual_seed(static_cast<uint64_t>(config.seed));
  std::vector<std::pair<std::string, at::Tensor>> named;
  std::vector<at::Tensor> all;
  const at::Device device(config.device == "cuda" ? at::kCUDA : at::kCPU);
  for (const auto& [name, shape] : step_bench_shapes(config)) {
    // Drawn on the CPU so that every device steps the same values.
    auto p = at::randn(shape, at::TensorOptions().dtype(config.dtype)).mul_(0.02).to(device);
    p.set_requires_grad(true);
    p.mutable_grad() =
        at::randn(shape, at::TensorOptions().dtype(config.dtype)).mul_(1e-3).to(device);
    named.emplace_back(name, p);
    all.push_back(p);
  }
  const Partition part = partition_parameters(named);

  std::vector<std::string> wanted = config.optimizers;
  const bool report_adamw =
      wanted.empty() || std::find(wanted.begin(), wanted.end(), "adamw") != wanted.end();
  if (wanted.empty()) wanted = step_bench_optimizers();
  wanted.erase(std::remove(wanted.begin(), wanted.end(), "adamw"), wanted.end());
  wanted.insert(wanted.begin(), "adamw");

  std::vector<StepBenchRecord> records;
  double adamw_seconds = 0;
  for (const auto& name : wanted) {
    if (config.progress) config.progress(name);
    Stepper s = make_stepper(name, part, all);
    // On CUDA a scalar read-back after the step waits for every kernel it queued (one
    // stream), so the timings are of finished steps; CPU steps are already synchronous.
    const double med = median_seconds(
        [&] {
          s.step();
          if (device.is_cuda()) (void)all.front().sum().item<double>();
        },
        config.warmup, config.repeats);
    if (name == "adamw") adamw_seconds = med;
    StepBenchRecord r;
    r.optimizer = name;
    for (const auto& e : entries()) {
      if (e.name == name) r.description = e.description;
    }
    r.seconds = med;
    r.ratio_to_adamw = adamw_seconds > 0 ? med / adamw_seconds : 0;
    r.spectral_params = s.spectral;
    r.adamw_params = s.adamw;
    if (name != "adamw" || report_adamw) records.push_back(r);
  }
  return records;
}

std::string format_step_table(const std::vector<StepBenchRecord>& records) {
  std::string out = fmt::format("{:<16} {:>11} {:>9} {:>12} {:>12}  {}\n", "optimizer",
                                "seconds", "x_adamw", "spectral_n", "adamw_n", "description");
  for (const auto& r : records) {
    out += fmt::format("{:<16} {:>11.4f} {:>9.2f} {:>12} {:>12}  {}\n", r.optimizer, r.seconds,
                       r.ratio_to_adamw, r.spectral_params, r.adamw_params, r.description);
  }
  return out;
}

std::string step_bench_json(const std::vector<StepBenchRecord>& records, int indent) {
  auto list = nlohmann::ordered_json::array();
  for (const auto& r : records) {
    nlohmann::ordered_json j;
    j["optimizer"] = r.optimizer;
    j["seconds"] = r.seconds;
    j["ratio_to_adamw"] = r.ratio_to_adamw;
    j["spectral_params"] = r.spectral_params;
    j["adamw_params"] = r.adamw_params;
    j["description"] = r.description;
    list.push_back(std::move(j));
  }
  return list.dump(indent) + "\n";
}

void write_step_bench_json(const std::string& path, const std::vector<StepBenchRecord>& records) {
  write_file_atomic(path, step_bench_json(records));
}

}  // namespace lab
}  // namespace specopt
