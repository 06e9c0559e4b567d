#pragma once
// The trainer's data-parallel plumbing (`specopt train --nproc N`, or N copies of `specopt
// train` started by an external launcher with RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT):
// kept here so that the training loop reads the same with one process or many.
//
// What a rank does differently from a one-process run (docs/training.md, "Multi-process
// training"):
//   * it takes slice RANK of the global batch (BatchSlice); its loss is the mean over its
//     slice, and since the slices are equal the optimizer's gradient AVERAGE over ranks is the
//     gradient of the global mean, i.e. the one-process gradient;
//   * the logged loss is the average of the ranks' slice losses (the global batch's mean);
//   * gradient clipping runs after the averaging (DistributedOptimizer::set_after_average);
//   * evaluation is split: each rank evaluates its share of the validation batches (or of the
//     test-image chunks) and the sums are added up over ranks, so every rank gets the same
//     validation loss (and all stop alike on a non-finite one);
//   * only rank 0 writes config.json, metrics.jsonl, summary.json and the progress output.
#include <cstdint>
#include <memory>
#include <string>

#include <specopt/dist/communicator.h>

#include "lab/train/task.h"

namespace specopt {
namespace lab {

// The communicator of this process: the process group when WORLD_SIZE > 1 (blocks until every
// rank has joined, or throws after the rendezvous timeout), nullptr otherwise. `device` is
// where the model lives ("cpu", "cuda[:N]"): backend "auto" (the default) picks NCCL for CUDA.
std::shared_ptr<dist::Communicator> data_parallel_from_env(const std::string& device = "cpu");

// Throws std::invalid_argument naming train.batch_size and the world size when the global
// batch does not split into world_size equal slices.
void check_batch_splits(int64_t batch_size, int world_size);

// This rank's slice of every global batch (the whole batch without a communicator).
BatchSlice rank_slice(const dist::Communicator* comm);

// The mean over ranks of a per-rank value (the value itself without a communicator).
double mean_over_ranks(dist::Communicator* comm, double value);

// The validation loss (and accuracy) of the whole validation set, each rank evaluating its
// part; the same on every rank. Without a communicator: task.evaluate().
EvalResult evaluate_over_ranks(Task& task, dist::Communicator* comm);


// Test hook: when SPECOPT_TEST_DIE_AT_STEP=k is set, rank 1 of a world of 2 or more kills
// itself with SIGKILL as it starts step k (a worker lost mid-run).
void maybe_die_for_test(const dist::Communicator* comm, int64_t step);

}  // namespace lab
}  // namespace specopt
