#include "lab/step_bench.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include <specopt/matfun/polar.h>
#include <specopt/optim/optim.h>
#include <specopt/optim/registry.h>

#include "lab/atomic_file.h"
#include "lab/step_bench_bounds.h"
#include "lab/step_bench_peers.h"
#include "lab/timing.h"

namespace specopt {
namespace lab {

namespace {

// One row of the benchmark. `spec` is a registry spec (specopt/optim/registry.h): the
// optimizer over every parameter for element-wise rows, the spectral side for hybrids (with
// AdamW on the rest); empty for the peers (lab/step_bench_peers.h).
enum class Kind { elementwise, hybrid, peer };

// The one AdamW configuration of the benchmark, for specopt's rows and the peers alike.
const BenchAdamW kAdamW{};
std::string adamw_spec() {
  return fmt::format("adamw:lr={},beta1={},beta2={},eps={},weight_decay={}", kAdamW.lr,
                     kAdamW.beta1, kAdamW.beta2, kAdamW.eps, kAdamW.weight_decay);
}
struct Entry {
  std::string name;
  Kind kind;
  std::string spec;
  std::string description;
};

const std::vector<Entry>& entries() {
  static const std::vector<Entry> e = {
      {"adamw", Kind::elementwise, adamw_spec(), "specopt AdamW on every parameter (baseline)"},
      {"torch_adamw", Kind::peer, "", ""},
      {"muon", Kind::hybrid, "muon:lr=0.02,split_qkv=true",
       "hybrid: Muon defaults (newton_schulz jordan x5, bf16 where native, split_qkv) + AdamW"},
      {"reference_muon", Kind::peer, "", ""},
      {"muon_f32", Kind::hybrid, "muon:lr=0.02,split_qkv=true,polar.bf16_where_fast=false",
       "hybrid: Muon (newton_schulz jordan x5 in float32, split_qkv) + AdamW"},
      // Turbo-Muon's AOL start with one step fewer (the time does not depend on the
      // coefficients; a text spec cannot name the turbo_muon table, so this row keeps jordan's).
      {"muon_aol", Kind::hybrid, "muon:lr=0.02,split_qkv=true,polar.aol=true,polar.steps=4",
       "hybrid: Muon with the AOL start (newton_schulz jordan x4, bf16 where native, split_qkv) + "
       "AdamW"},
      {"muon_auto", Kind::hybrid, "muon:lr=0.02,split_qkv=true,polar.method=auto",
       "hybrid: Muon (polar auto, split_qkv) + AdamW"},
      {"normuon", Kind::hybrid, "normuon:lr=0.02",
       "hybrid: NorMuon defaults (newton_schulz jordan x5, bf16 where native) + AdamW"},
      {"dion2", Kind::hybrid, "dion2:lr=0.01,split_qkv=true",
       "hybrid: Dion2 defaults (fraction 0.25, polar_express x5, bf16 where native, split_qkv) + "
       "AdamW"},
      {"adamuon", Kind::hybrid, "adamuon:lr=0.02,split_qkv=true",
       "hybrid: AdaMuon defaults (sign, newton_schulz jordan x5, second moment, split_qkv) + AdamW"},
      {"polargrad", Kind::hybrid, "polargrad:lr=3e-4,split_qkv=true",
       "hybrid: PolarGrad defaults (newton_schulz jordan x5 times the nuclear norm, split_qkv) + "
       "AdamW"},
      {"spectral_adam_q", Kind::hybrid, "adamq:lr=1e-3,split_qkv=true",
       "hybrid: SpectralAdam p=1/4 (adamq, split_qkv) + AdamW"},
      {"spectral_sgd_z", Kind::hybrid, "msgdz:lr=1e-2,split_qkv=true",
       "hybrid: SpectralSGD p=0 (msgdz, split_qkv) + AdamW"},
      {"lion_k_nuclear", Kind::hybrid, "lionk:lr=1e-3,split_qkv=true,map=nuclear",
       "hybrid: LionK nuclear (split_qkv) + AdamW"},
      {"lion", Kind::elementwise, "lion:lr=1e-4", "specopt Lion on every parameter"},
  };
  return e;
}

// Every optimizer of the registry is also a row by its optimizer_key (registry.h), when no row
// above has that name: its defaults (split_qkv where it has the option), over every parameter
// for element-wise rules, else as the spectral side of a hybrid. Such rows are not in the default list; they
// let a newly registered rule be timed (`--optimizers NAME`) without a line here.
std::vector<Entry> registry_entries() {
  std::vector<Entry> out;
  const auto& curated = entries();
  for (const auto& r : registered_optimizers()) {
    const std::string name = optimizer_key(r.name);
    const bool listed = std::any_of(curated.begin(), curated.end(),
                                    [&](const Entry& e) { return e.name == name; });
    if (listed) continue;
    const auto options = make_optimizer_options(name);
    const auto keys = option_keys(*options);
    const bool qkv = std::find(keys.begin(), keys.end(), "split_qkv") != keys.end();
    const bool elementwise = options->elementwise();
    out.push_back({name, elementwise ? Kind::elementwise : Kind::hybrid,
                   name + (qkv ? ":split_qkv=true" : ""),
                   std::string(elementwise ? "" : "hybrid: ") + r.name + " defaults" +
                       (qkv ? " (split_qkv)" : "") + (elementwise ? " on every parameter" : " + AdamW")});
  }
  return out;
}

Entry entry(const std::string& name) {
  for (const auto& e : entries()) {
    if (e.name == name) return e;
  }
  for (const auto& e : registry_entries()) {
    if (e.name == name) return e;
  }
  throw std::invalid_argument("bench step: unknown optimizer '" + name + "'");
}

int64_t numel_of(const std::vector<at::Tensor>& ts) {
  int64_t n = 0;
  for (const auto& t : ts) n += t.numel();
  return n;
}

double bytes_of(const std::string& rule, const std::vector<at::Tensor>& ts) {
  double b = 0;
  for (const auto& t : ts) b += rule_step_bytes(rule, t.sizes().vec(), t.element_size());
  return b;
}

}  // namespace

StepBenchOptimizer::StepBenchOptimizer() = default;
StepBenchOptimizer::StepBenchOptimizer(StepBenchOptimizer&&) noexcept = default;
StepBenchOptimizer::~StepBenchOptimizer() = default;

StepBenchOptimizer make_step_bench_optimizer(const std::string& name, const Partition& part,
                                             const std::vector<at::Tensor>& all) {
  const Entry e = entry(name);
  StepBenchOptimizer o;
  if (e.kind == Kind::peer) {
    throw std::invalid_argument("bench step: '" + name +
                                "' is a peer, not a specopt optimizer (one process only)");
  }
  if (e.kind == Kind::elementwise) {
    o.single = make_optimizer(e.spec, all);
    return o;
  }
  const auto spectral = make_optimizer_options(e.spec);
  const auto adamw = make_optimizer_options(adamw_spec());
  o.hybrid = std::make_unique<HybridOptimizer>(part, *spectral,
                                               dynamic_cast<const AdamWOptions&>(*adamw));
  return o;
}

StepBenchStepper make_step_bench_stepper(const std::string& name, const Partition& part,
                                         const std::vector<at::Tensor>& all) {
  const Entry e = entry(name);
  StepBenchStepper s;
  s.description = e.description;
  const auto hidden = part.spectral_params();
  const auto rest = part.adamw_params();
  // LibTorch's fused AdamW where torch.optim.AdamW(fused=True) would use it: on CUDA.
  const bool fused = !all.empty() && all.front().is_cuda();
  if (e.kind == Kind::peer) {
    PeerStepper p = name == "torch_adamw" ? make_torch_adamw(all, kAdamW, fused)
                                          : make_reference_muon(hidden, rest, kAdamW, fused);
    s.step = p.step;
    s.keep = p.keep;
    s.description = p.description;
    if (name == "torch_adamw") {
      s.adamw_params = numel_of(all);
      s.bytes_moved = bytes_of("AdamW", all);
    } else {
      s.spectral = true;
      s.spectral_params = numel_of(hidden);
      s.adamw_params = numel_of(rest);
      s.bytes_moved = bytes_of("Muon", hidden) + bytes_of("AdamW", rest);
    }
    return s;
  }
  auto made = std::make_shared<StepBenchOptimizer>(make_step_bench_optimizer(name, part, all));
  s.keep = made;
  if (made->single) {
    s.step = [made] { made->single->step(); };
    s.adamw_params = numel_of(all);
    s.bytes_moved = bytes_of(made->single->rule(0).kind(), all);
  } else {
    s.step = [made] { made->hybrid->step(); };
    s.spectral = true;
    s.spectral_params = numel_of(hidden);
    s.adamw_params = numel_of(rest);
    s.bytes_moved = bytes_of(make_optimizer_options(e.spec)->kind(), hidden) +
                    bytes_of("AdamW", rest);
  }
  return s;
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
  const auto known = step_bench_known_optimizers();
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

std::vector<std::string> step_bench_known_optimizers() {
  auto names = step_bench_optimizers();
  for (const auto& e : registry_entries()) names.push_back(e.name);
  return names;
}

bool is_step_bench_peer(const std::string& name) { return entry(name).kind == Kind::peer; }

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

namespace {

// The largest spectral matrix (by its Newton–Schulz work) as (small side, large side): the
// shape of the run's GEMM rate measurement.
std::pair<int64_t, int64_t> gemm_shape_of(const std::vector<at::Tensor>& hidden) {
  std::pair<int64_t, int64_t> best{0, 0};
  double most = -1;
  for (const auto& p : hidden) {
    if (p.dim() != 2) continue;
    const double f = reference_ns_flops(p.size(0), p.size(1));
    if (f > most) {
      most = f;
      best = {std::min(p.size(0), p.size(1)), std::max(p.size(0), p.size(1))};
    }
  }
  return best;
}

}  // namespace

std::vector<StepBenchRecord> run_step_bench(const StepBenchConfig& config) {
  config.validate();
  use_threads(config.threads);
  const at::Device device(config.device == "cuda" ? at::kCUDA : at::kCPU);
  // Counts CPU allocations from here on, so that every block a step frees is known.
  AllocationCounter allocations(device);

  // Parameters and fixed random gradients, shared by every optimizer (each keeps its own state).
  at::manual_seed(static_cast<uint64_t>(config.seed));
  std::vector<std::pair<std::string, at::Tensor>> named;
  std::vector<at::Tensor> all;
  int64_t largest = 0;
  for (const auto& [name, shape] : step_bench_shapes(config)) {
    // Drawn on the CPU so that every device steps the same values.
    auto p = at::randn(shape, at::TensorOptions().dtype(config.dtype)).mul_(0.02).to(device);
    p.set_requires_grad(true);
    p.mutable_grad() =
        at::randn(shape, at::TensorOptions().dtype(config.dtype)).mul_(1e-3).to(device);
    named.emplace_back(name, p);
    all.push_back(p);
    largest = std::max(largest, p.numel());
  }
  const Partition part = partition_parameters(named);

  // The floors' rates, measured once in this run: a copy at least as large as the largest
  // parameter (and large enough to leave the caches), the GEMM of the largest spectral matrix.
  const int rate_repeats = std::max(3, config.repeats);
  const int64_t copy_elements =
      std::max<int64_t>(largest, (device.is_cuda() ? int64_t{1} << 28 : int64_t{1} << 27) /
                                     at::elementSize(config.dtype));
  const double copy_rate = measure_copy_rate(device, config.dtype, copy_elements, rate_repeats);
  const auto hidden = part.spectral_params();
  const auto gemm_shape = gemm_shape_of(hidden);
  const at::ScalarType gemm_dtype =
      config.dtype == at::kFloat && fast_bf16_matmul(device) ? at::kBFloat16 : config.dtype;
  const double gemm_rate =
      gemm_shape.first > 0
          ? measure_gemm_rate(device, gemm_dtype, gemm_shape.first, gemm_shape.second,
                              rate_repeats)
          : 0.0;
  double ns_flops = 0;
  for (const auto& p : hidden) {
    if (p.dim() == 2) ns_flops += reference_ns_flops(p.size(0), p.size(1));
  }

  std::vector<std::string> wanted = config.optimizers;
  auto listed = [&](const char* n) {
    return config.optimizers.empty() ||
           std::find(wanted.begin(), wanted.end(), n) != wanted.end();
  };
  const bool report_adamw = listed("adamw"), report_torch_adamw = listed("torch_adamw");
  if (wanted.empty()) wanted = step_bench_optimizers();
  for (const char* baseline : {"torch_adamw", "adamw"}) {
    wanted.erase(std::remove(wanted.begin(), wanted.end(), baseline), wanted.end());
    wanted.insert(wanted.begin(), baseline);
  }

  std::vector<StepBenchRecord> records;
  double adamw_seconds = 0, torch_adamw_seconds = 0;
  for (const auto& name : wanted) {
    if (config.progress) config.progress(name);
    StepBenchStepper s = make_step_bench_stepper(name, part, all);
    // On CUDA a scalar read-back after the step waits for every kernel it queued (one
    // stream), so the timings are of finished steps; CPU steps are already synchronous.
    const auto step = [&] {
      s.step();
      if (device.is_cuda()) (void)all.front().sum().item<double>();
    };
    const double med = median_seconds(step, config.warmup, config.repeats);
    // One more step, after the state exists, for its allocations.
    const int64_t peak = allocations.peak_extra_bytes(step);
    if (name == "adamw") adamw_seconds = med;
    if (name == "torch_adamw") torch_adamw_seconds = med;
    StepBenchRecord r;
    r.optimizer = name;
    r.description = s.description;
    r.seconds = med;
    r.spectral_params = s.spectral_params;
    r.adamw_params = s.adamw_params;
    r.bytes_moved = s.bytes_moved;
    r.bandwidth_bound_seconds = copy_rate > 0 ? s.bytes_moved / copy_rate : 0.0;
    if (s.spectral && gemm_rate > 0) {
      r.gemm_bound_seconds = ns_flops / gemm_rate;
      r.reference_ns_flops = ns_flops;
    }
    if (peak >= 0) r.peak_extra_bytes = peak;
    r.copy_bytes_per_second = copy_rate;
    r.gemm_flops_per_second = gemm_rate;
    r.gemm_dtype = gemm_dtype == at::kBFloat16 ? "bfloat16"
                   : gemm_dtype == at::kDouble  ? "float64"
                                                : "float32";
    r.gemm_shape = fmt::format("{}x{}", gemm_shape.first, gemm_shape.second);
    const bool baseline_unlisted = (name == "adamw" && !report_adamw) ||
                                   (name == "torch_adamw" && !report_torch_adamw);
    if (!baseline_unlisted) records.push_back(r);
  }
  for (auto& r : records) {
    r.ratio_to_adamw = adamw_seconds > 0 ? r.seconds / adamw_seconds : 0;
    r.ratio_to_torch_adamw = torch_adamw_seconds > 0 ? r.seconds / torch_adamw_seconds : 0;
  }
  return records;
}

namespace {

std::string seconds_or_dash(const std::optional<double>& s) {
  return s ? fmt::format("{:.4f}", *s) : std::string("-");
}

}  // namespace

std::string format_step_table(const std::vector<StepBenchRecord>& records) {
  std::string out;
  if (!records.empty()) {
    const auto& r = records.front();
    out += fmt::format(
        "# floors: copy {:.1f} GB/s (at::copy_, read + write); GEMM {:.1f} GFLOP/s ({} X Xt, "
        "{}); reference Newton-Schulz {:.3g} GFLOP per step\n",
        r.copy_bytes_per_second / 1e9, r.gemm_flops_per_second / 1e9, r.gemm_dtype,
        r.gemm_shape, [&] {
          for (const auto& x : records) {
            if (x.reference_ns_flops > 0) return x.reference_ns_flops / 1e9;
          }
          return 0.0;
        }());
  }
  out += fmt::format("{:<16} {:>10} {:>8} {:>8} {:>10} {:>10} {:>10} {:>12} {:>12}  {}\n",
                     "optimizer", "seconds", "x_adamw", "x_torch", "bw_bound", "gemm_bound",
                     "peak_MB", "spectral_n", "adamw_n", "description");
  for (const auto& r : records) {
    out += fmt::format(
        "{:<16} {:>10.4f} {:>8.2f} {:>8.2f} {:>10.4f} {:>10} {:>10} {:>12} {:>12}  {}\n",
        r.optimizer, r.seconds, r.ratio_to_adamw, r.ratio_to_torch_adamw,
        r.bandwidth_bound_seconds, seconds_or_dash(r.gemm_bound_seconds),
        r.peak_extra_bytes ? fmt::format("{:.1f}", *r.peak_extra_bytes / 1e6) : "-",
        r.spectral_params, r.adamw_params, r.description);
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
    j["ratio_to_torch_adamw"] = r.ratio_to_torch_adamw;
    j["bandwidth_bound_seconds"] = r.bandwidth_bound_seconds;
    j["gemm_bound_seconds"] =
        r.gemm_bound_seconds ? nlohmann::ordered_json(*r.gemm_bound_seconds) : nullptr;
    j["peak_extra_bytes"] =
        r.peak_extra_bytes ? nlohmann::ordered_json(*r.peak_extra_bytes) : nullptr;
    j["bytes_moved"] = r.bytes_moved;
    j["reference_ns_flops"] = r.reference_ns_flops;
    j["copy_gb_per_s"] = r.copy_bytes_per_second / 1e9;
    j["gemm_gflops"] = r.gemm_flops_per_second / 1e9;
    j["gemm_dtype"] = r.gemm_dtype;
    j["gemm_shape"] = r.gemm_shape;
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
