#include "lab/matfun_bench.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include <specopt/matfun/coupled_newton.h>
#include <specopt/matfun/gram_newton_schulz.h>
#include <specopt/matfun/newton_schulz.h>
#include <specopt/matfun/polar.h>
#include <specopt/matfun/spectral_power.h>

#include "lab/atomic_file.h"
#include "lab/spectra.h"
#include "lab/timing.h"

namespace specopt {
namespace lab {

// ---------------------------------------------------------------------------------------
// Shapes

std::string MatrixShape::str() const {
  const std::string mn = std::to_string(m) + "x" + std::to_string(n);
  return batch > 0 ? std::to_string(batch) + "x" + mn : mn;
}

namespace {
bool parse_positive(const std::string& s, int64_t& out) {
  if (s.empty() || s.size() > 12) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v <= 0) return false;
  out = v;
  return true;
}
}  // namespace

MatrixShape parse_shape(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  const auto last = text.find_last_not_of(" \t");
  const std::string s = first == std::string::npos ? "" : text.substr(first, last - first + 1);
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto x = s.find_first_of("xX", start);
    parts.push_back(s.substr(start, x == std::string::npos ? std::string::npos : x - start));
    if (x == std::string::npos) break;
    start = x + 1;
  }
  MatrixShape shape;
  bool ok = parts.size() == 2 || parts.size() == 3;
  const std::size_t off = parts.size() == 3 ? 1 : 0;
  if (ok && off == 1) ok = parse_positive(parts[0], shape.batch);
  ok = ok && parse_positive(parts[off], shape.m) && parse_positive(parts[off + 1], shape.n);
  if (!ok) {
    throw std::invalid_argument("invalid shape '" + text +
                                "': expected MxN (or BxMxN for a batch) with positive integers, "
                                "e.g. 768x3072 or 64x128x128");
  }
  return shape;
}

std::vector<MatrixShape> parse_shapes(const std::string& csv) {
  std::vector<MatrixShape> out;
  std::size_t start = 0;
  while (true) {
    const auto comma = csv.find(',', start);
    out.push_back(parse_shape(csv.substr(start, comma == std::string::npos ? std::string::npos
                                                                           : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Config

std::vector<std::string> matfun_bench_methods(const std::string& op) {
  if (op == "polar") {
    // "+bf16" rows run only where bf16 products are native (see run_matfun_bench).
    return {"reference_ns5",      "reference_ns5+bf16",
            "newton_schulz:jordan", "newton_schulz:jordan+bf16",
            "newton_schulz:polar_express", "newton_schulz:polar_express+bf16",
            // Turbo-Muon's AOL start (arXiv 2512.04632): 4 steps instead of 5.
            "newton_schulz:turbo_muon+aol", "newton_schulz:turbo_muon+aol+bf16",
            "newton_schulz:jordan+aol", "newton_schulz:jordan+aol+bf16",
            "gram_newton_schulz:jordan", "gram_newton_schulz:polar_express",
            "gram_eigh",          "svd",
            "auto"};
  }
  if (op == "power") return {"coupled_newton", "gram_eigh", "svd", "auto"};
  throw std::invalid_argument("unknown op '" + op + "' (expected polar or power)");
}

void MatfunBenchConfig::validate() const {
  if (shapes.empty()) throw std::invalid_argument("bench matfun: no shapes given");
  for (const auto& s : shapes) {
    if (s.m <= 0 || s.n <= 0) throw std::invalid_argument("invalid shape '" + s.str() + "'");
  }
  if (dtype != at::kFloat && dtype != at::kDouble) {
    throw std::invalid_argument(std::string("bench matfun: dtype must be float32 or float64, got ") +
                                c10::toString(dtype));
  }
  if (device != "cpu" && device != "cuda") {
    throw std::invalid_argument("bench matfun: device must be cpu or cuda, got '" + device + "'");
  }
  if (repeats < 1) {
    throw std::invalid_argument("bench matfun: repeats must be >= 1, got " +
                                std::to_string(repeats));
  }
  if (warmup < 0) {
    throw std::invalid_argument("bench matfun: warmup must be >= 0, got " +
                                std::to_string(warmup));
  }
  if (!(kappa >= 1) || !std::isfinite(kappa)) {
    throw std::invalid_argument("bench matfun: kappa must be a finite number >= 1, got " +
                                fmt::format("{}", kappa));
  }
  for (double p : powers) {
    if (!(p > 0 && p < 1)) {
      throw std::invalid_argument("bench matfun: each power p must lie in (0, 1), got " +
                                  fmt::format("{}", p));
    }
  }
  if (threads < 0) {
    throw std::invalid_argument("bench matfun: threads must be >= 0, got " +
                                std::to_string(threads));
  }
  for (const auto& op : ops) matfun_bench_methods(op);  // throws on an unknown op
  for (const auto& m : methods) {
    bool known = false;
    for (const auto& op : ops) {
      const auto names = matfun_bench_methods(op);
      known = known || std::find(names.begin(), names.end(), m) != names.end();
    }
    if (!known) throw std::invalid_argument("bench matfun: unknown method '" + m + "'");
  }
}

// ---------------------------------------------------------------------------------------
// Measurement

namespace {

const char* dtype_name(at::ScalarType t) { return t == at::kDouble ? "float64" : "float32"; }

// Forces the result to exist: `.item()` of a reduction copies a scalar to the host, which on
// CUDA waits for every queued kernel. Done inside the timed region for every device (the
// reduction reads the output once — negligible next to the O(mn·min(m,n)) methods), so CPU
// and CUDA timings mean the same thing without linking any CUDA-specific API.
void synchronize(const at::Tensor& out) { (void)out.sum().item<double>(); }

struct Timing {
  double seconds = 0;
  at::Tensor last;
};

Timing time_median(const std::function<at::Tensor()>& fn, int warmup, int repeats) {
  Timing t;
  t.seconds = median_seconds(
      [&] {
        t.last = fn();
        synchronize(t.last);
      },
      warmup, repeats);
  return t;
}

// Nominal FLOPs of the Gram-eigendecomposition path on an m × n matrix (k = min, N = max):
// Gram matrix 2k²N, Q diag(w) Qᵀ 2k³, applying it to G 2k²N. The eigensolver's own FLOPs
// (LAPACK syevd, roughly 4k³–9k³ depending on the algorithm) are NOT counted, and neither is
// the block saving of the symmetric Gram product: this is "GEMM-equivalent work", comparable
// to the Newton–Schulz count, not a hardware FLOP rate.
double gram_eigh_flops(int64_t m, int64_t n) {
  const double k = static_cast<double>(std::min(m, n));
  const double N = static_cast<double>(std::max(m, n));
  return 2 * k * k * N + 2 * k * k * k + 2 * k * k * N;
}

bool wanted(const MatfunBenchConfig& c, const std::string& method) {
  return c.methods.empty() ||
         std::find(c.methods.begin(), c.methods.end(), method) != c.methods.end();
}

}  // namespace

std::vector<MatfunBenchRecord> run_matfun_bench(const MatfunBenchConfig& config) {
  config.validate();
  if (config.device == "cuda" && !at::hasCUDA()) {
    throw std::runtime_error(
        "bench matfun: device cuda requested, but this LibTorch build has no CUDA support or "
        "no GPU is visible");
  }
  use_threads(config.threads);

  const at::Device device(config.device == "cuda" ? at::kCUDA : at::kCPU);
  const std::string dtype = dtype_name(config.dtype);
  auto progress = [&](const std::string& line) {
    if (config.progress) config.progress(line);
  };

  std::vector<MatfunBenchRecord> records;
  for (const auto& shape : config.shapes) {
    const int64_t m = shape.m, n = shape.n;
    // FLOP counts below are per matrix; a batch does `batch` times the work in one call.
    const double B = shape.batch > 0 ? static_cast<double>(shape.batch) : 1.0;
    const auto sigma = geometric_spectrum(std::min(m, n), config.kappa);
    // The input in the benchmarked dtype; the exact references use exactly these values.
    const auto G_cpu =
        matrix_with_spectrum(m, n, sigma, config.seed, config.dtype,
                             shape.batch > 0 ? std::vector<int64_t>{shape.batch}
                                             : std::vector<int64_t>{});
    const auto G = G_cpu.to(device);

    // GEMM reference: X Xᵀ with X the wide orientation, as in a Newton–Schulz step.
    progress(fmt::format("{} gemm", shape.str()));
    const auto X = (m <= n ? G : G.transpose(-2, -1)).contiguous();
    const double gemm_flops = B * 2.0 * static_cast<double>(std::min(m, n)) *
                              static_cast<double>(std::min(m, n)) *
                              static_cast<double>(std::max(m, n));
    // The GEMM is cheap and runs first on a fresh matrix (cold caches, thread pool and BLAS
    // buffers): give it at least 3 warm-up calls and 10 timed ones so the baseline is stable.
    auto gemm_rate = [&](const at::Tensor& Y) {
      const double s = time_median([&] { return at::matmul(Y, Y.transpose(-2, -1)); },
                                   std::max(config.warmup, 3), std::max(config.repeats, 10))
                           .seconds;
      return gemm_flops / s / 1e9;
    };
    const double gemm_gflops = gemm_rate(X);
    // Where bf16 products are native (CUDA; some x86 CPUs), Newton–Schulz also runs in bf16
    // ("+bf16" rows, as the reference Muon does), and those rows are measured against the
    // bf16 GEMM of the same shape: like against like.
    const bool bf16_rows = config.dtype == at::kFloat && fast_bf16_matmul(device);
    const double gemm_bf16_gflops = bf16_rows ? gemm_rate(X.to(at::kBFloat16)) : 0.0;

    auto record = [&](const std::string& op, const std::string& method, double p,
                      const Timing& t, std::optional<double> flops, const at::Tensor& exact) {
      MatfunBenchRecord r;
      r.op = op;
      r.method = method;
      r.p = p;
      r.shape = shape.str();
      r.dtype = dtype;
      r.device = config.device;
      r.seconds = t.seconds;
      if (flops) r.gflops = *flops / t.seconds / 1e9;
      r.rel_err = rel_frobenius_error(t.last.to(at::kCPU), exact);
      r.gemm_gflops = gemm_gflops;
      return r;
    };

    if (std::find(config.ops.begin(), config.ops.end(), "polar") != config.ops.end()) {
      const auto exact = exact_spectral_power(G_cpu, 0.0);
      std::vector<MatfunBenchRecord> rows;
      auto polar_with = [&](const std::string& name, const PolarOptions& opts,
                            std::optional<double> flops) {
        if (!wanted(config, name)) return;
        progress(fmt::format("{} polar {}", shape.str(), name));
        auto t = time_median([&] { return polar(G, opts); }, config.warmup, config.repeats);
        rows.push_back(record("polar", name, 0.0, t, flops, exact));
      };

      if (wanted(config, "reference_ns5")) {
        progress(fmt::format("{} polar reference_ns5", shape.str()));
        auto t = time_median([&] { return reference_newton_schulz5(G); }, config.warmup,
                             config.repeats);
        rows.push_back(
            record("polar", "reference_ns5", 0.0, t, B * newton_schulz_flops(m, n, 5), exact));
      }
      if (bf16_rows && wanted(config, "reference_ns5+bf16")) {
        progress(fmt::format("{} polar reference_ns5+bf16", shape.str()));
        auto t = time_median(
            [&] { return reference_newton_schulz5(G.to(at::kBFloat16)).to(config.dtype); },
            config.warmup, config.repeats);
        rows.push_back(record("polar", "reference_ns5+bf16", 0.0, t,
                              B * newton_schulz_flops(m, n, 5), exact));
        rows.back().gemm_gflops = gemm_bf16_gflops;
      }
      struct NsRow {
        const char* name;
        NsSchedule schedule;
        int steps;
        bool aol;
      };
      const NsRow ns_rows[] = {
          {"newton_schulz:jordan", NsSchedule::jordan(), 5, false},
          {"newton_schulz:polar_express", NsSchedule::polar_express(), 5, false},
          {"newton_schulz:turbo_muon+aol", NsSchedule::turbo_muon(), 4, true},
          {"newton_schulz:jordan+aol", NsSchedule::jordan(), 4, true}};
      for (const auto& [name, sched, steps, aol] : ns_rows) {
        // The FLOPs this path needs: 3.5m²n + 1.5m³ per step where the symmetric products skip
        // a block (CPU, m ≥ 512), 4m²n + 2m³ elsewhere. So GFLOP/s compares honestly with GEMM.
        // (The AOL start adds O(m² + mn) element-wise work and no product: not counted.)
        const auto opts = PolarOptions()
                              .method(PolarMethod::newton_schulz)
                              .schedule(sched)
                              .steps(steps)
                              .aol(aol);
        polar_with(name, opts, newton_schulz_flops(G, steps));
        if (bf16_rows && wanted(config, std::string(name) + "+bf16")) {
          // bf16 takes plain products (gram_uses_blocks): general FLOP count.
          polar_with(std::string(name) + "+bf16",
                     PolarOptions(opts).compute_dtype(at::kBFloat16),
                     B * newton_schulz_flops(m, n, steps));
          rows.back().gemm_gflops = gemm_bf16_gflops;
        }
      }
      // Gram Newton–Schulz: the same polynomials, FLOPs of its own path (fewer; its bf16
      // arithmetic is the plain iteration, gram_newton_schulz.h, so it has no "+bf16" row).
      for (const auto& [name, sched, steps, aol] : ns_rows) {
        if (aol) continue;
        const std::string gram_name = "gram_" + std::string(name);
        const auto opts =
            PolarOptions().method(PolarMethod::gram_newton_schulz).schedule(sched).steps(5);
        polar_with(gram_name, opts, gram_newton_schulz_flops(G, 5, config.dtype));
      }
      polar_with("gram_eigh", PolarOptions().method(PolarMethod::gram_eigh),
                 B * gram_eigh_flops(m, n));
      // SVD: LAPACK/cuSOLVER FLOPs depend on the algorithm; no GFLOP/s is reported.
      polar_with("svd", PolarOptions().method(PolarMethod::svd), std::nullopt);
      if (wanted(config, "auto")) {
        const PolarOptions opts;  // defaults: method auto, tol 1e-3
        const PolarMethod picked = resolve_polar_method(G, opts);
        std::optional<double> flops;
        if (picked == PolarMethod::newton_schulz) flops = newton_schulz_flops(G, opts.steps());
        if (picked == PolarMethod::gram_eigh) flops = B * gram_eigh_flops(m, n);
        polar_with("auto", opts, flops);
        rows.back().resolved = to_string(picked);
      }

      // Speed-ups against the reference in the same arithmetic: "+bf16" rows against
      // reference_ns5+bf16, the others against reference_ns5.
      std::optional<double> ref_s, ref_bf16_s;
      const std::string bf16_suffix = "+bf16";
      auto is_bf16 = [&](const std::string& method) {
        return method.size() > bf16_suffix.size() &&
               method.compare(method.size() - bf16_suffix.size(), bf16_suffix.size(),
                              bf16_suffix) == 0;
      };
      for (const auto& r : rows) {
        if (r.method == "reference_ns5") ref_s = r.seconds;
        if (r.method == "reference_ns5+bf16") ref_bf16_s = r.seconds;
      }
      for (auto& r : rows) {
        const auto& ref = is_bf16(r.method) ? ref_bf16_s : ref_s;
        if (ref) r.speedup = *ref / r.seconds;
        records.push_back(std::move(r));
      }
    }

    if (std::find(config.ops.begin(), config.ops.end(), "power") != config.ops.end()) {
      for (double p : config.powers) {
        const auto exact = exact_spectral_power(G_cpu, p);
        std::vector<MatfunBenchRecord> rows;
        auto power_with = [&](const std::string& name, const PowerOptions& opts,
                              std::optional<double> flops) {
          if (!wanted(config, name)) return;
          progress(fmt::format("{} power p={} {}", shape.str(), p, name));
          auto t = time_median([&] { return spectral_power(G, p, opts); }, config.warmup,
                               config.repeats);
          rows.push_back(record("power", name, p, t, flops, exact));
        };

        const int halvings = halvings_of(p);
        const PowerOptions cn = PowerOptions().method(PowerMethod::coupled_newton);
        if (halvings >= 1) {
          power_with("coupled_newton", cn, B * coupled_newton_flops(m, n, halvings, cn.iters()));
        } else if (wanted(config, "coupled_newton")) {
          progress(fmt::format("{} power p={} coupled_newton skipped (p is not 2^-k)",
                               shape.str(), p));
        }
        power_with("gram_eigh", PowerOptions().method(PowerMethod::gram_eigh),
                   B * gram_eigh_flops(m, n));
        power_with("svd", PowerOptions().method(PowerMethod::svd), std::nullopt);
        if (wanted(config, "auto")) {
          const PowerOptions opts;
          const PowerMethod picked = resolve_power_method(G, p, opts);
          std::optional<double> flops;
          if (picked == PowerMethod::coupled_newton && halvings >= 1) {
            flops = B * coupled_newton_flops(m, n, halvings, opts.iters());
          }
          if (picked == PowerMethod::gram_eigh) flops = B * gram_eigh_flops(m, n);
          power_with("auto", opts, flops);
          rows.back().resolved = to_string(picked);
        }

        std::optional<double> cn_s;
        for (const auto& r : rows) {
          if (r.method == "coupled_newton") cn_s = r.seconds;
        }
        for (auto& r : rows) {
          if (cn_s) r.speedup = *cn_s / r.seconds;
          records.push_back(std::move(r));
        }
      }
    }
  }
  return records;
}

// ---------------------------------------------------------------------------------------
// Output

namespace {
std::string fmt_opt(const std::optional<double>& v, const char* spec) {
  return v ? fmt::format(fmt::runtime(spec), *v) : std::string("-");
}
}  // namespace

std::string format_matfun_table(const std::vector<MatfunBenchRecord>& records) {
  std::string out = fmt::format("{:<6} {:<34} {:>5} {:>11} {:>8} {:>5} {:>10} {:>9} {:>7} {:>10} {:>9} {:>8}\n",
                                "op", "method", "p", "shape", "dtype", "dev", "ms", "GFLOP/s",
                                "%GEMM", "rel_err", "GEMM GF/s", "speedup");
  for (const auto& r : records) {
    std::string method = r.method;
    if (!r.resolved.empty()) method += "->" + r.resolved;
    std::optional<double> pct;
    if (r.gflops && r.gemm_gflops > 0) pct = 100.0 * *r.gflops / r.gemm_gflops;
    out += fmt::format("{:<6} {:<34} {:>5} {:>11} {:>8} {:>5} {:>10.3f} {:>9} {:>7} {:>10.2e} {:>9.1f} {:>8}\n",
                       r.op, method, r.op == "polar" ? std::string("-") : fmt::format("{:g}", r.p),
                       r.shape, r.dtype, r.device, 1e3 * r.seconds, fmt_opt(r.gflops, "{:.1f}"),
                       fmt_opt(pct, "{:.0f}%"), r.rel_err, r.gemm_gflops,
                       fmt_opt(r.speedup, "{:.2f}x"));
  }
  return out;
}

std::string matfun_bench_json(const std::vector<MatfunBenchRecord>& records, int indent) {
  auto list = nlohmann::ordered_json::array();
  for (const auto& r : records) {
    nlohmann::ordered_json j;
    j["op"] = r.op;
    j["method"] = r.method;
    j["p"] = r.p;
    j["shape"] = r.shape;
    j["dtype"] = r.dtype;
    j["device"] = r.device;
    j["seconds"] = r.seconds;
    j["gflops"] = r.gflops ? nlohmann::ordered_json(*r.gflops) : nlohmann::ordered_json(nullptr);
    j["rel_err"] = std::isfinite(r.rel_err) ? nlohmann::ordered_json(r.rel_err)
                                            : nlohmann::ordered_json(nullptr);
    j["gemm_gflops"] = r.gemm_gflops;
    const char* key = r.op == "polar" ? "speedup_vs_reference" : "speedup_vs_coupled_newton";
    j[key] = r.speedup ? nlohmann::ordered_json(*r.speedup) : nlohmann::ordered_json(nullptr);
    list.push_back(std::move(j));
  }
  return list.dump(indent) + "\n";
}

void write_matfun_bench_json(const std::string& path,
                             const std::vector<MatfunBenchRecord>& records) {
  write_file_atomic(path, matfun_bench_json(records));
}

}  // namespace lab
}  // namespace specopt
