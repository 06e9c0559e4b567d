// `specopt bench matfun`: time the polar / spectral-power methods against GEMM.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#if __has_include(<torch/version.h>)
#include <torch/version.h>
#endif

#include "commands.h"
#include <specopt/dist/communicator.h>

#include "lab/atomic_file.h"
#include "lab/dist_step_bench.h"
#include "lab/launch.h"
#include "lab/matfun_bench.h"
#include "lab/step_bench.h"

namespace specopt {
namespace cli {

namespace {

int hardware_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

struct BenchArgs {
  std::vector<std::string> shapes = {"1024x1024", "768x3072"};
  std::string dtype = "float32";
  std::string device = "cpu";
  int repeats = 5;
  int warmup = 1;
  double kappa = 100;
  std::vector<double> powers = {0.5, 0.25};
  std::vector<std::string> ops = {"polar", "power"};
  std::vector<std::string> methods;
  int threads = 0;
  unsigned long long seed = 1234;
  std::string json;
  bool quiet = false;
};

int run_bench(const BenchArgs& a) {
  lab::MatfunBenchConfig c;
  c.shapes.clear();
  for (const auto& s : a.shapes) c.shapes.push_back(lab::parse_shape(s));
  c.dtype = a.dtype == "float64" ? at::kDouble : at::kFloat;
  c.device = a.device;
  c.repeats = a.repeats;
  c.warmup = a.warmup;
  c.kappa = a.kappa;
  c.powers = a.powers;
  c.ops = a.ops;
  c.methods = a.methods;
  c.threads = a.threads > 0 ? a.threads : hardware_threads();
  c.seed = a.seed;
  if (!a.quiet && ::isatty(STDERR_FILENO)) {
    c.progress = [](const std::string& line) { std::cerr << "  ... " << line << std::endl; };
  }

  const auto records = lab::run_matfun_bench(c);
  std::cout << "# specopt bench matfun: threads=" << at::get_num_threads()
            << " repeats=" << c.repeats << " warmup=" << c.warmup << " kappa=" << c.kappa
            << " seed=" << c.seed
#ifdef TORCH_VERSION
            << " libtorch=" << TORCH_VERSION
#endif
            << "\n# seconds: median wall time per call, synchronised by a scalar read-back;"
               " GFLOP/s: nominal matmul FLOPs (eigensolver/SVD work not counted)\n";
  std::cout << lab::format_matfun_table(records) << std::flush;
  if (!a.json.empty()) {
    lab::write_matfun_bench_json(a.json, records);
    std::cerr << "specopt: wrote " << records.size() << " records to " << a.json << std::endl;
  }
  return 0;
}

struct StepArgs {
  int blocks = 12;
  int width = 768;
  int vocab = 50257;
  std::string dtype = "float32";
  std::string device = "cpu";
  int repeats = 3;
  int warmup = 1;
  int threads = 0;
  std::vector<std::string> optimizers = lab::step_bench_optimizers();
  unsigned long long seed = 1234;
  std::string json;
  bool quiet = false;
  int nproc = 0;              // > 0: DistributedOptimizer at world sizes 1 and nproc
  bool optimizers_given = false;
  std::string worker_out;     // set by the launcher: this process is one rank of a world
};

// The GPT-small parameter set and the timing settings of `bench step`, with or without --nproc;
// the machine's cores shared among `world` ranks unless --threads says otherwise.
lab::StepBenchConfig step_config(const StepArgs& a, int world) {
  lab::StepBenchConfig c;
  c.blocks = a.blocks;
  c.width = a.width;
  c.vocab = a.vocab;
  c.dtype = a.dtype == "float64" ? at::kDouble : at::kFloat;
  c.device = a.device;
  c.repeats = a.repeats;
  c.warmup = a.warmup;
  c.threads = a.threads > 0 ? a.threads : std::max(1, hardware_threads() / world);
  c.optimizers = a.optimizers;
  c.seed = a.seed;
  return c;
}

// With --nproc the default optimizer list is Muon alone (each entry runs at two world sizes).
lab::StepBenchConfig dist_config(const StepArgs& a, int world) {
  auto c = step_config(a, world);
  if (!a.optimizers_given) c.optimizers = {"muon"};
  return c;
}

// One rank of `bench step --nproc N` (started by the launcher with RANK, WORLD_SIZE, ...).
int run_step_worker(const StepArgs& a) {
  auto comm = dist::init_from_env();
  const auto records = lab::run_dist_step_bench(dist_config(a, comm->size()), *comm, comm);
  if (comm->rank() == 0) lab::write_file_atomic(a.worker_out, lab::dist_step_json(records));
  return 0;
}

int run_step_dist(const StepArgs& a) {
  for (const auto& o : a.optimizers) {
    if (a.optimizers_given && lab::is_step_bench_peer(o)) {
      throw std::invalid_argument("bench step --nproc: '" + o +
                                  "' is a peer, not a specopt optimizer (one process only)");
    }
  }
  std::vector<int> worlds = {1};
  if (a.nproc > 1) worlds.push_back(a.nproc);
  std::vector<lab::DistStepRecord> records;
  for (int world : worlds) {
    if (!a.quiet) std::cerr << "  ... world size " << world << std::endl;
    if (world == 1) {
      auto single = dist::make_single_process_communicator();
      auto r = lab::run_dist_step_bench(dist_config(a, 1), *single, single);
      records.insert(records.end(), r.begin(), r.end());
      continue;
    }
    char tmpl[] = "/tmp/specopt_bench_step_XXXXXX";
    const int fd = ::mkstemp(tmpl);
    if (fd < 0) throw std::runtime_error("bench step: cannot create a temporary file");
    ::close(fd);
    const std::string tmp = tmpl;
    lab::LaunchOptions lo;
    lo.nproc = world;
    lo.args = {"bench", "step", "--worker-out", tmp, "--blocks", std::to_string(a.blocks),
               "--width", std::to_string(a.width), "--vocab", std::to_string(a.vocab),
               "--dtype", a.dtype, "--repeats", std::to_string(a.repeats), "--warmup",
               std::to_string(a.warmup), "--threads", std::to_string(a.threads), "--seed",
               std::to_string(a.seed), "--quiet"};
    if (a.optimizers_given) {
      std::string joined;
      for (const auto& o : a.optimizers) joined += (joined.empty() ? "" : ",") + o;
      lo.args.push_back("--optimizers");
      lo.args.push_back(joined);
    }
    const auto result = lab::launch_local(lo);
    std::string text;
    {
      std::ifstream in(tmp);
      text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    std::remove(tmp.c_str());
    if (!result.ok()) {
      throw std::runtime_error("bench step: the world of " + std::to_string(world) +
                               " workers failed: " + result.describe_failures());
    }
    auto r = lab::dist_step_records_from_json(text, tmp);
    records.insert(records.end(), r.begin(), r.end());
  }
  std::cout << "# specopt bench step --nproc " << a.nproc << ": blocks=" << a.blocks
            << " width=" << a.width << " vocab=" << a.vocab << " dtype=" << a.dtype
            << " repeats=" << a.repeats << " warmup=" << a.warmup << " seed=" << a.seed
#ifdef TORCH_VERSION
            << " libtorch=" << TORCH_VERSION
#endif
            << "\n# seconds: median wall time of one DistributedOptimizer::step() per rank"
               " (gradients fixed; Gloo on loopback); reduce/compute/sync: its phases;"
               " cost%: share of the update FLOPs this rank owns\n";
  std::cout << lab::format_dist_step_table(records) << std::flush;
  if (!a.json.empty()) {
    lab::write_file_atomic(a.json, lab::dist_step_json(records));
    std::cerr << "specopt: wrote " << records.size() << " records to " << a.json << std::endl;
  }
  return 0;
}

int run_step(const StepArgs& a) {
  if (!a.worker_out.empty()) return run_step_worker(a);
  if (a.nproc > 0) return run_step_dist(a);
  lab::StepBenchConfig c = step_config(a, 1);
  if (!a.quiet && ::isatty(STDERR_FILENO)) {
    c.progress = [](const std::string& line) { std::cerr << "  ... " << line << std::endl; };
  }
  const auto records = lab::run_step_bench(c);
  std::cout << "# specopt bench step: blocks=" << c.blocks << " width=" << c.width
            << " vocab=" << c.vocab << " positions=" << c.positions << " dtype=" << a.dtype
            << " device=" << c.device
            << " threads=" << at::get_num_threads() << " repeats=" << c.repeats
            << " warmup=" << c.warmup << " seed=" << c.seed
#ifdef TORCH_VERSION
            << " libtorch=" << TORCH_VERSION
#endif
            << "\n# seconds: median wall time of one step() (gradients fixed); x_adamw / x_torch:"
               " ratio to specopt's / LibTorch's AdamW over all parameters in this run;"
               "\n# bw_bound: bytes the rule must move / copy rate; gemm_bound: the reference"
               " Muon's Newton-Schulz FLOPs / GEMM rate; peak_MB: allocated during one step"
               " beyond parameters, gradients and state\n";
  std::cout << lab::format_step_table(records) << std::flush;
  if (!a.json.empty()) {
    lab::write_step_bench_json(a.json, records);
    std::cerr << "specopt: wrote " << records.size() << " records to " << a.json << std::endl;
  }
  return 0;
}

}  // namespace

void register_bench(CLI::App& app, Runners& runners) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks");
  auto a = std::make_shared<BenchArgs>();
  CLI::App* mf = bench->add_subcommand(
      "matfun", "Time polar / spectral-power methods on matrices with singular values "
                "geometric from 1 to 1/kappa, next to a GEMM of the same shape");

  const CLI::Validator shape_check(
      [](std::string& s) -> std::string {
        try {
          lab::parse_shape(s);
        } catch (const std::exception& e) {
          return e.what();
        }
        return {};
      },
      "MxN");
  mf->add_option("--shapes", a->shapes, "Comma-separated MxN shapes")
      ->delimiter(',')
      ->check(shape_check)
      ->capture_default_str();
  mf->add_option("--dtype", a->dtype, "Element type")
      ->check(CLI::IsMember({"float32", "float64"}))
      ->capture_default_str();
  mf->add_option("--device", a->device, "Device")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  mf->add_option("--repeats", a->repeats, "Timed calls per method (median reported)")
      ->check(positive_int())
      ->capture_default_str();
  mf->add_option("--warmup", a->warmup, "Untimed calls before timing")
      ->check(non_negative_int())
      ->capture_default_str();
  mf->add_option("--kappa", a->kappa, "Condition number of the test matrices (>= 1)")
      ->check(real_in(1.0, std::numeric_limits<double>::infinity(), false))
      ->capture_default_str();
  mf->add_option("--powers", a->powers, "Comma-separated exponents p for op power")
      ->delimiter(',')
      ->check(real_in(0.0, 1.0, true))
      ->capture_default_str();
  mf->add_option("--ops", a->ops, "Comma-separated ops to run")
      ->delimiter(',')
      ->check(CLI::IsMember({"polar", "power"}))
      ->capture_default_str();
  std::vector<std::string> all_methods = lab::matfun_bench_methods("polar");
  for (const auto& m : lab::matfun_bench_methods("power")) {
    if (std::find(all_methods.begin(), all_methods.end(), m) == all_methods.end()) {
      all_methods.push_back(m);
    }
  }
  mf->add_option("--methods", a->methods, "Comma-separated methods to run (default: all)")
      ->delimiter(',')
      ->check(CLI::IsMember(all_methods));
  mf->add_option("--threads", a->threads, "Intra-op threads (0: all hardware threads)")
      ->check(non_negative_int())
      ->capture_default_str();
  mf->add_option("--seed", a->seed, "Seed of the random singular vectors")->capture_default_str();
  mf->add_option("--json", a->json, "Also write the records as a JSON list to FILE");
  mf->add_flag("-q,--quiet", a->quiet, "No progress lines on stderr");
  runners.emplace_back(mf, [a] { return run_bench(*a); });

  auto s = std::make_shared<StepArgs>();
  CLI::App* st = bench->add_subcommand(
      "step", "Time one optimizer step on a GPT-small-shaped parameter set: every specopt "
              "optimizer and the peers torch_adamw (LibTorch's AdamW) and reference_muon "
              "(KellerJordan's Muon + LibTorch's AdamW), as ratios to both AdamWs, beside the "
              "run's bandwidth and GEMM floors (spectral optimizers as hybrids: spectral on "
              "block matrices, AdamW on embeddings and norms)");
  st->add_option("--blocks", s->blocks, "Transformer blocks")
      ->check(non_negative_int())
      ->capture_default_str();
  st->add_option("--width", s->width, "Model width d")->check(positive_int())->capture_default_str();
  st->add_option("--vocab", s->vocab, "Vocabulary size (wte rows; tied head)")
      ->check(positive_int())
      ->capture_default_str();
  st->add_option("--dtype", s->dtype, "Element type")
      ->check(CLI::IsMember({"float32", "float64"}))
      ->capture_default_str();
  CLI::Option* device_opt =
      st->add_option("--device", s->device, "Device of the parameters (one process only)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  st->add_option("--repeats", s->repeats, "Timed steps per optimizer (median reported)")
      ->check(positive_int())
      ->capture_default_str();
  st->add_option("--warmup", s->warmup, "Untimed steps before timing")
      ->check(non_negative_int())
      ->capture_default_str();
  st->add_option("--threads", s->threads, "Intra-op threads (0: all hardware threads)")
      ->check(non_negative_int())
      ->capture_default_str();
  CLI::Option* opt_list = st->add_option("--optimizers", s->optimizers,
                 "Comma-separated optimizers; besides the default rows, any optimizer of `specopt "
                 "list` by its name in lower case without '_' (its defaults) (adamw and "
                 "torch_adamw always run as the baselines)")
      ->delimiter(',')
      ->check(CLI::IsMember(lab::step_bench_known_optimizers()))
      ->capture_default_str();
  st->add_option("--seed", s->seed, "Seed of the weights and gradients")->capture_default_str();
  st->add_option("--json", s->json, "Also write the records as a JSON list to FILE");
  st->add_flag("-q,--quiet", s->quiet, "No progress lines on stderr");
  st->add_option("--nproc", s->nproc,
                 "Time DistributedOptimizer per rank at world sizes 1 and N (N local worker "
                 "processes over Gloo; default optimizer muon)")
      ->check(positive_int())
      ->excludes(device_opt);
  // Internal: set by the launcher on each worker of --nproc.
  st->add_option("--worker-out", s->worker_out)->group("");
  runners.emplace_back(st, [s, opt_list] {
    s->optimizers_given = opt_list->count() > 0;
    return run_step(*s);
  });
}

}  // namespace cli
}  // namespace specopt
