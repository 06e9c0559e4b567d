#pragma once
// specopt::dist::Communicator: the collectives the distributed optimizer needs (rank, size,
// all-reduce, all-gather, broadcast, reduce-scatter, barrier), behind an interface of the
// project's own so that no c10d type appears in a header users include. That keeps the
// public headers the same for LibTorch 1.13 (ProcessGroupGloo is a ProcessGroup) and 2.x
// (backends sit behind a dispatching ProcessGroup).
//
//   auto comm = specopt::dist::init_from_env();   // single process when WORLD_SIZE is unset/1
//   comm->all_reduce(t);                            // sum, in place
//
// Two implementations:
// * single process (make_single_process_communicator): rank 0 of 1; every collective is the
//   identity (all_gather copies), no process group, no threads, no sockets;
// * c10d (init_process_group): Gloo over TCP, or NCCL between GPUs (one per rank, LOCAL_RANK)
//   where LibTorch was built with CUDA and NCCL (nccl_compiled()); rendezvous through a
//   TCPStore on MASTER_ADDR:MASTER_PORT (rank 0 hosts it) or through a FileStore path shared
//   by all ranks. Every collective blocks until done; a failure (a peer exited, the network
//   broke, the timeout passed) throws c10::Error naming the collective, this rank and the
//   world size. NCCL reduces CUDA tensors: a CPU tensor given to it goes through the rank's
//   GPU and back.
#include <ATen/ATen.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace specopt {
namespace dist {

enum class ReduceOp { sum, avg, max, min };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "single", "gloo", "nccl".
  virtual std::string backend() const = 0;

  // In place on every rank: t ← op over ranks of t. Same shape/dtype on every rank.
  virtual void all_reduce(at::Tensor& t, ReduceOp op = ReduceOp::sum) = 0;
  // Returns size() tensors, the i-th being rank i's `t` (same shape on every rank).
  virtual std::vector<at::Tensor> all_gather(const at::Tensor& t) = 0;
  // In place: t ← root's t.
  virtual void broadcast(at::Tensor& t, int root) = 0;
  // `input` has size()·k elements on every rank (1-D, contiguous); returns the k elements of
  // chunk rank() of the reduction (op over ranks) of `input`.
  virtual at::Tensor reduce_scatter(const at::Tensor& input, ReduceOp op = ReduceOp::sum) = 0;
  virtual void barrier() = 0;
};

std::shared_ptr<Communicator> make_single_process_communicator();

// How to reach the other ranks. torchrun's variables map onto the first five fields.
struct RendezvousOptions {
  int rank = 0;            // RANK
  int world_size = 1;      // WORLD_SIZE
  int local_rank = 0;      // LOCAL_RANK (informational on CPU; the CUDA device on GPU)
  std::string master_addr = "127.0.0.1";  // MASTER_ADDR
  int master_port = 29500;                // MASTER_PORT
  // Non-empty: rendezvous through a FileStore at this path (shared file system) instead of
  // the TCPStore; the file must not hold a previous run's keys.
  std::string file_store;
  // Interface address Gloo binds to: empty = MASTER_ADDR when it is a loopback address,
  // otherwise this host's name (SPECOPT_DIST_IFACE_ADDR overrides).
  std::string bind_addr;
  // "auto" (NCCL when device_type is CUDA and nccl_compiled(), else Gloo), "gloo" or "nccl".
  // "nccl" makes a real NCCL group even at world_size 1 (the others give the single-process
  // communicator there).
  std::string backend = "auto";
  // Where the tensors to reduce live (at::kCPU or at::kCUDA): what "auto" decides on.
  at::DeviceType device_type = at::kCPU;
  // Rendezvous and every collective give up after this long (the fault bound).
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};

  void validate() const;  // throws c10::Error naming the first bad field and its value
};

// From the environment: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT,
// SPECOPT_DIST_FILE_STORE, SPECOPT_DIST_TIMEOUT_S, SPECOPT_DIST_IFACE_ADDR. Unset variables
// keep the defaults above; a malformed one throws naming the variable and its value.
RendezvousOptions rendezvous_from_env();

// Whether this build has the NCCL backend (LibTorch with CUDA and NCCL at configure time).
bool nccl_compiled();

// The backend init_process_group uses for these options ("gloo" or "nccl").
std::string resolve_backend(const RendezvousOptions& options);

// True when WORLD_SIZE is set to more than 1.
bool env_is_distributed();

// Creates the process group (blocks until all world_size ranks have joined or the timeout
// passes). world_size 1 gives the single-process communicator.
std::shared_ptr<Communicator> init_process_group(const RendezvousOptions& options);

// init_process_group(rendezvous_from_env()).
std::shared_ptr<Communicator> init_from_env();

}  // namespace dist
}  // namespace specopt
