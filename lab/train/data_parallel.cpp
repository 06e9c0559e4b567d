#include "lab/train/data_parallel.h"

#include <csignal>
#include <cstdlib>
#include <stdexcept>

namespace specopt {
namespace lab {

std::shared_ptr<dist::Communicator> data_parallel_from_env(const std::string& device) {
  if (!dist::env_is_distributed()) return nullptr;
  auto options = dist::rendezvous_from_env();
  options.device_type = at::Device(device).type();
  return dist::init_process_group(options);
}

void check_batch_splits(int64_t batch_size, int world_size) {
  if (world_size < 1 || batch_size % world_size != 0) {
    throw std::invalid_argument("train.batch_size = " + std::to_string(batch_size) +
                                " does not divide by the " + std::to_string(world_size) +
                                " processes (each takes an equal slice of the global batch)");
  }
}

BatchSlice rank_slice(const dist::Communicator* comm) {
  if (comm == nullptr) return {};
  return {comm->rank(), comm->size()};
}

double mean_over_ranks(dist::Communicator* comm, double value) {
  if (comm == nullptr || comm->size() == 1) return value;
  auto t = at::full({1}, value, at::kDouble);
  comm->all_reduce(t, dist::ReduceOp::sum);
  return t.item<double>() / comm->size();
}

EvalResult evaluate_over_ranks(Task& task, dist::Communicator* comm) {
  if (comm == nullptr || comm->size() == 1) return task.evaluate();
  auto sums = task.evaluate_sums(rank_slice(comm));
  auto t = at::tensor({sums.loss_sum, sums.weight, sums.correct}, at::kDouble);
  comm->all_reduce(t, dist::ReduceOp::sum);
  sums.loss_sum = t[0].item<double>();
  sums.weight = t[1].item<double>();
  sums.correct = t[2].item<double>();
  return sums.result();
}

void maybe_die_for_test(const dist::Communicator* comm, int64_t step) {
  static const char* at = std::getenv("SPECOPT_TEST_DIE_AT_STEP");
  if (at == nullptr || comm == nullptr || comm->size() < 2 || comm->rank() != 1) return;
  if (std::strtoll(at, nullptr, 10) == step) std::raise(SIGKILL);
}

}  // namespace lab
}  // namespace specopt
