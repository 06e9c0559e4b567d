#pragma once
// The training loop behind `specopt train` and the experiments (one loop for all of them;
// with TrainHooks::comm of more than one rank it is one rank of a data-parallel run, see
// lab/train/data_parallel.h).
//
// A run, in order: open the run directory (lock, fresh or resumed) → build the task, the
// optimizer and the partition of the parameters (printed) → resume from the checkpoint, or
// evaluate the untrained model → the steps, each followed by the evaluation and checkpoint
// due → the final checkpoint and summary.
//
// Per step: batch(step) → forward → loss; a NaN/Inf loss or gradient norm stops the run
// (status "diverged", the last good checkpoint left as it was); backward → clip the global
// gradient norm to grad_clip → optimizer step → lr schedule step. Evaluation every
// eval_interval steps and at the end; checkpoints every checkpoint_interval steps and at the
// end. Batches depend only on (seed, step) (lab/train/task.h), and the checkpoint holds the
// parameters, the optimizer state and options, the schedule positions, the step and the best
// losses, so `resume` continues bit-exactly: same thread count, same device, same results.
//
// Files under config.out_dir (when TrainHooks::write_files):
//   .lock            held by the run (lab/train/run_dir.h); a second run is refused meanwhile
//   config.json      the resolved config (TrainConfig::to_json: no sentinels; a resume with a
//                    different config is refused, naming each differing key; train.steps may
//                    be raised to extend a run)
//   partition.json   which parameter each optimizer member updates and the rule that decided
//                    (lab/train/partition_report.h), also printed at the start
//   metrics.jsonl    {"step","loss","grad_norm","lr_scale","seconds"} every log_interval steps
//                    ("seconds": wall time of the whole run, counted on from the checkpoint's
//                    on resume), {"step","val_loss"[,"val_accuracy"]} at step 0 (before
//                    training) and at each evaluation; on resume the lines after the
//                    checkpoint's step are dropped first
//   checkpoint.pt    the last checkpoint (written atomically, checksummed, with the run's
//                    identity); multi-process: the sharded checkpoint's manifest, with
//                    checkpoint.pt.* beside it
//   checkpoint.prev.pt  the one before (hard links), used when the last one is refused
//   summary.json     written at the end (also after a divergence), atomically
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <specopt/dist/communicator.h>

#include "lab/train/config.h"

namespace specopt {
namespace lab {

struct TrainHooks {
  bool resume = false;
  // A fresh run into a directory that holds a run: refused unless force, which moves the old
  // run to "<out_dir>/replaced-<N>" first (lab/train/run_dir.h).
  bool force = false;
  // A resume whose config (or checkpoint) differs in identity keys: refused naming them unless
  // this is set; [model] and [optimizer] keys are refused even then.
  bool allow_config_change = false;
  bool write_files = true;  // false: nothing written (experiments run many configs)
  // Progress: bar on a terminal (auto), plain lines to `log` otherwise; quiet: nothing.
  bool quiet = false;
  bool force_plain = false;
  std::function<void(const std::string&)> log;
  // Stop after this many steps in total as if interrupted (tests of --resume); 0: never.
  int64_t stop_after = 0;
  // A process group of more than one rank: train data-parallel (each rank its slice of the
  // global batch, DistributedOptimizer, sharded checkpoints, only rank 0 writes logs and
  // summaries). Null or one rank: a one-process run.
  std::shared_ptr<dist::Communicator> comm;
};

struct TrainResult {
  std::string status;   // "completed" | "diverged" | "stopped" (stop_after)
  std::string message;  // why it stopped, for diverged runs
  int64_t steps_done = 0;
  int64_t parameters = 0;
  double initial_val_loss = 0;  // before the first step
  double final_train_loss = 0;  // loss of the last step's batch
  double final_val_loss = 0, best_val_loss = 0;
  double final_val_accuracy = -1, best_val_accuracy = -1;  // classification only
  std::vector<double> train_losses;  // this process's steps
  std::vector<std::pair<int64_t, double>> val_losses;  // (step, loss) of this process's evals
  double items_per_second = 0;
  std::string item_unit;
  double optimizer_fraction = 0;  // optimizer step time / whole step time
  double seconds = 0;
  double parameter_checksum = 0;  // Σ|θ| in float64, for exactness checks
  int world_size = 1;
  nlohmann::json summary;         // what summary.json holds
};

TrainResult train(const TrainConfig& config, const TrainHooks& hooks = {});

}  // namespace lab
}  // namespace specopt
