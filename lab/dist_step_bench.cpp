#include "lab/dist_step_bench.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include <specopt/optim/optim.h>
#include <specopt/dist/distributed.h>

#include "lab/timing.h"

namespace specopt {
namespace lab {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

std::vector<DistStepRecord> run_dist_step_bench(const StepBenchConfig& config,
                                                dist::Communicator& comm,
                                                std::shared_ptr<dist::Communicator> owner) {
  config.validate();
  const int threads = use_threads(config.threads);
  // The same parameters and gradients on every rank (same seed), as after a real backward.
  at::manual_seed(static_cast<uint64_t>(config.seed));
  std::vector<std::pair<std::string, at::Tensor>> named;
  std::vector<at::Tensor> all;
  for (const auto& [name, shape] : step_bench_shapes(config)) {
    auto p = at::randn(shape, at::TensorOptions().dtype(config.dtype)).mul_(0.02);
    p.set_requires_grad(true);
    p.mutable_grad() = at::randn(shape, at::TensorOptions().dtype(config.dtype)).mul_(1e-3);
    named.emplace_back(name, p);
    all.push_back(p);
  }
  const Partition part = partition_parameters(named);
  std::vector<std::string> names = config.optimizers;
  if (names.empty()) names = {"muon"};

  std::vector<DistStepRecord> out;
  for (const auto& name : names) {
    if (config.progress && comm.rank() == 0) config.progress(name);
    auto made = make_step_bench_optimizer(name, part, all);
    std::unique_ptr<DistributedOptimizer> opt;
    if (made.single) {
      opt = std::make_unique<DistributedOptimizer>(std::move(made.single), owner);
    } else {
      opt = std::make_unique<DistributedOptimizer>(std::move(made.hybrid), owner);
    }
    std::vector<double> total, reduce, compute, sync;
    for (int i = 0; i < config.warmup + config.repeats; ++i) {
      comm.barrier();  // every rank starts the step together; the wait is not timed
      const auto t0 = std::chrono::steady_clock::now();
      opt->step();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (i < config.warmup) continue;
      total.push_back(s);
      reduce.push_back(opt->last_step_times().reduce);
      compute.push_back(opt->last_step_times().compute);
      sync.push_back(opt->last_step_times().sync);
    }
    const auto load = opt->load_per_rank();
    double sum = 0;
    for (double l : load) sum += l;
    // Every rank's figures to every rank: one all-gather of 7 doubles.
    auto mine = at::tensor(std::vector<double>{median(total), median(reduce), median(compute),
                                               median(sync),
                                               static_cast<double>(opt->state_bytes()),
                                               sum > 0 ? load[comm.rank()] / sum : 0.0,
                                               static_cast<double>(threads)},
                           at::kDouble);
    const auto every = comm.all_gather(mine);
    for (int r = 0; r < comm.size(); ++r) {
      const auto v = every[static_cast<size_t>(r)];
      const double* d = v.data_ptr<double>();
      DistStepRecord rec;
      rec.optimizer = name;
      rec.world_size = comm.size();
      rec.rank = r;
      rec.seconds = d[0];
      rec.reduce_seconds = d[1];
      rec.compute_seconds = d[2];
      rec.sync_seconds = d[3];
      rec.state_bytes = static_cast<int64_t>(d[4]);
      rec.owned_cost_fraction = d[5];
      rec.threads = static_cast<int>(d[6]);
      out.push_back(rec);
    }
  }
  return out;
}

std::string format_dist_step_table(const std::vector<DistStepRecord>& records) {
  std::string out = fmt::format("{:<16} {:>5} {:>4} {:>7} {:>9} {:>9} {:>9} {:>9} {:>12} {:>6}\n",
                                "optimizer", "world", "rank", "threads", "seconds", "reduce",
                                "compute", "sync", "state_MiB", "cost%");
  for (const auto& r : records) {
    out += fmt::format("{:<16} {:>5} {:>4} {:>7} {:>9.4f} {:>9.4f} {:>9.4f} {:>9.4f} {:>12.1f} {:>6.1f}\n",
                       r.optimizer, r.world_size, r.rank, r.threads, r.seconds, r.reduce_seconds,
                       r.compute_seconds, r.sync_seconds,
                       static_cast<double>(r.state_bytes) / (1 << 20),
                       100.0 * r.owned_cost_fraction);
  }
  return out;
}

std::string dist_step_json(const std::vector<DistStepRecord>& records, int indent) {
  auto list = nlohmann::ordered_json::array();
  for (const auto& r : records) {
    nlohmann::ordered_json j;
    j["optimizer"] = r.optimizer;
    j["world_size"] = r.world_size;
    j["rank"] = r.rank;
    j["threads"] = r.threads;
    j["seconds"] = r.seconds;
    j["reduce_seconds"] = r.reduce_seconds;
    j["compute_seconds"] = r.compute_seconds;
    j["sync_seconds"] = r.sync_seconds;
    j["state_bytes"] = r.state_bytes;
    j["owned_cost_fraction"] = r.owned_cost_fraction;
    list.push_back(std::move(j));
  }
  return list.dump(indent) + "\n";
}

std::vector<DistStepRecord> dist_step_records_from_json(const std::string& text,
                                                        const std::string& source) {
  std::vector<DistStepRecord> out;
  try {
    const auto list = nlohmann::json::parse(text);
    for (const auto& j : list) {
      DistStepRecord r;
      r.optimizer = j.at("optimizer").get<std::string>();
      r.world_size = j.at("world_size").get<int>();
      r.rank = j.at("rank").get<int>();
      r.threads = j.at("threads").get<int>();
      r.seconds = j.at("seconds").get<double>();
      r.reduce_seconds = j.at("reduce_seconds").get<double>();
      r.compute_seconds = j.at("compute_seconds").get<double>();
      r.sync_seconds = j.at("sync_seconds").get<double>();
      r.state_bytes = j.at("state_bytes").get<int64_t>();
      r.owned_cost_fraction = j.at("owned_cost_fraction").get<double>();
      out.push_back(r);
    }
  } catch (const std::exception& e) {
    throw std::runtime_error("bench step: bad worker records in " + source + ": " + e.what());
  }
  return out;
}

}  // namespace lab
}  // namespace specopt
