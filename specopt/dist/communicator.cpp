#include "specopt/dist/communicator.h"

#include <c10/util/Exception.h>

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <exception>
#include <utility>

namespace specopt {
namespace dist {

namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "single"; }
  void all_reduce(at::Tensor&, ReduceOp) override {}
  std::vector<at::Tensor> all_gather(const at::Tensor& t) override { return {t.clone()}; }
  void broadcast(at::Tensor&, int root) override {
    TORCH_CHECK(root == 0, "specopt::dist: broadcast root ", root, " out of range [0, 1)");
  }
  at::Tensor reduce_scatter(const at::Tensor& input, ReduceOp) override { return input.clone(); }
  void barrier() override {}
};

bool parse_int(const std::string& s, long& out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  out = std::strtol(s.c_str(), &end, 10);
  return errno == 0 && end != nullptr && *end == '\0';
}

int env_int(const char* name, int fallback, long lo, long hi) {
  const char* v = std::getenv(name);
  if (v == nullptr) return fallback;
  long x = 0;
  TORCH_CHECK(parse_int(v, x) && x >= lo && x <= hi, "specopt::dist: environment variable ",
              name, "='", v, "' is not an integer in [", lo, ", ", hi, "]");
  return static_cast<int>(x);
}

}  // namespace

std::shared_ptr<Communicator> make_single_process_communicator() {
  return std::make_shared<SingleProcess>();
}

void RendezvousOptions::validate() const {
  TORCH_CHECK(world_size >= 1, "specopt::dist: invalid world_size ", world_size,
              " (must be >= 1)");
  TORCH_CHECK(rank >= 0 && rank < world_size, "specopt::dist: invalid rank ", rank,
              " (must be in [0, ", world_size, "))");
  TORCH_CHECK(local_rank >= 0, "specopt::dist: invalid local_rank ", local_rank);
  TORCH_CHECK(master_port >= 1 && master_port <= 65535, "specopt::dist: invalid master_port ",
              master_port, " (must be in [1, 65535])");
  TORCH_CHECK(!master_addr.empty() || !file_store.empty(),
              "specopt::dist: master_addr is empty and no file_store is given");
  TORCH_CHECK(backend == "auto" || backend == "gloo" || backend == "nccl",
              "specopt::dist: unknown backend '", backend, "' (expected auto, gloo or nccl)");
  TORCH_CHECK(device_type == at::kCPU || device_type == at::kCUDA,
              "specopt::dist: invalid device_type ", device_type, " (expected cpu or cuda)");
  TORCH_CHECK(timeout.count() > 0, "specopt::dist: invalid timeout ", timeout.count(),
              " ms (must be > 0)");
}

bool env_is_distributed() { return env_int("WORLD_SIZE", 1, 1, INT_MAX) > 1; }

RendezvousOptions rendezvous_from_env() {
  RendezvousOptions o;
  o.world_size = env_int("WORLD_SIZE", 1, 1, INT_MAX);
  o.rank = env_int("RANK", 0, 0, INT_MAX);
  o.local_rank = env_int("LOCAL_RANK", 0, 0, INT_MAX);
  o.master_port = env_int("MASTER_PORT", o.master_port, 1, 65535);
  if (const char* a = std::getenv("MASTER_ADDR")) o.master_addr = a;
  if (const char* f = std::getenv("SPECOPT_DIST_FILE_STORE")) o.file_store = f;
  if (const char* b = std::getenv("SPECOPT_DIST_IFACE_ADDR")) o.bind_addr = b;
  if (const char* b = std::getenv("SPECOPT_DIST_BACKEND")) o.backend = b;
  o.timeout = std::chrono::seconds(env_int("SPECOPT_DIST_TIMEOUT_S", 60, 1, 86400));
  o.validate();
  return o;
}

// Defined in c10d_communicator.cpp (the only translation unit that includes c10d headers).
std::shared_ptr<Communicator> make_c10d_communicator(const RendezvousOptions& options,
                                                     const std::string& backend);

std::string resolve_backend(const RendezvousOptions& options) {
  if (options.backend != "auto") return options.backend;
  return options.device_type == at::kCUDA && nccl_compiled() ? "nccl" : "gloo";
}

std::shared_ptr<Communicator> init_process_group(const RendezvousOptions& options) {
  options.validate();
  // One process needs no group, except when NCCL is asked for by name (a real NCCL
  // communicator of one rank: how a one-GPU machine tests the NCCL path).
  if (options.world_size == 1 && options.backend != "nccl") {
    return make_single_process_communicator();
  }
  return make_c10d_communicator(options, resolve_backend(options));
}

std::shared_ptr<Communicator> init_from_env() { return init_process_group(rendezvous_from_env()); }

}  // namespace dist
}  // namespace specopt
