#pragma once
// `specopt bench step --nproc N`: the GPT-small optimizer step under DistributedOptimizer, per
// rank, at world size 1 and N (data parallel, each matrix's transform done by its owner).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <specopt/dist/communicator.h>

#include "lab/step_bench.h"

namespace specopt {
namespace lab {

struct DistStepRecord {
  std::string optimizer;
  int world_size = 1;
  int rank = 0;
  int threads = 1;           // intra-op threads of this rank
  double seconds = 0;        // median wall time of one DistributedOptimizer::step()
  double reduce_seconds = 0;   // median of its gradient all-reduce phase
  double compute_seconds = 0;  // median of its local optimizer phase (owned parameters)
  double sync_seconds = 0;     // median of its parameter broadcast phase
  int64_t state_bytes = 0;     // optimizer state this rank holds
  double owned_cost_fraction = 0;  // share of the total update cost assigned to this rank
};

// A collective over `comm`: times config.optimizers (empty: {"muon"}) on every rank with the
// same parameters and gradients; returns every rank's records (on every rank), rank order.
std::vector<DistStepRecord> run_dist_step_bench(const StepBenchConfig& config,
                                                dist::Communicator& comm,
                                                std::shared_ptr<dist::Communicator> owner);

std::string format_dist_step_table(const std::vector<DistStepRecord>& records);
std::string dist_step_json(const std::vector<DistStepRecord>& records, int indent = 2);
// Parses dist_step_json's output; throws std::runtime_error naming `source` on a bad document.
std::vector<DistStepRecord> dist_step_records_from_json(const std::string& text,
                                                        const std::string& source);

}  // namespace lab
}  // namespace specopt
