// The c10d implementation of specopt::dist::Communicator: Gloo where LibTorch ships its
// headers, NCCL where LibTorch was built with CUDA and NCCL (SPECOPT_WITH_NCCL, set by
// specopt/CMakeLists.txt). This is the only file that includes c10d headers (with
// specopt/util/torch_compat.h, where the LibTorch version differences are).
#include <torch/version.h>

#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
// A PyTorch wheel's LibTorch has Gloo inside but ships none of Gloo's headers: there, only NCCL.
#if __has_include(<gloo/algorithm.h>)
#define SPECOPT_WITH_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef SPECOPT_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <unistd.h>

#include <exception>
#include <sstream>
#include <string>
#include <utility>

#include "specopt/dist/communicator.h"
#define SPECOPT_COMPAT_C10D
#include "specopt/util/torch_compat.h"

namespace specopt {
namespace dist {

namespace {

[[maybe_unused]] bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

c10d::ReduceOp to_c10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::max:
      return c10d::ReduceOp::MAX;
    case ReduceOp::min:
      return c10d::ReduceOp::MIN;
    default:
      // avg = sum, then a division here: Gloo has no AVG.
      return c10d::ReduceOp::SUM;
  }
}

c10::intrusive_ptr<c10d::Store> make_store(const RendezvousOptions& o) {
  c10::intrusive_ptr<c10d::Store> store;
  if (!o.file_store.empty()) {
    store = c10::make_intrusive<c10d::FileStore>(o.file_store, o.world_size);
  } else {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(o.master_port);
    so.isServer = o.rank == 0;
    so.numWorkers = static_cast<std::size_t>(o.world_size);
    so.waitWorkers = true;
    so.timeout = o.timeout;
    store = compat::make_tcp_store(o.master_addr, so);
  }
  store->setTimeout(o.timeout);
  return store;
}

#ifdef SPECOPT_WITH_GLOO
c10::intrusive_ptr<c10d::ProcessGroupGloo> make_gloo(const c10::intrusive_ptr<c10d::Store>& store,
                                                     const RendezvousOptions& o) {
  auto options = c10d::ProcessGroupGloo::Options::create(o.timeout);
  std::string iface = o.bind_addr;
  if (iface.empty()) {
    if (is_loopback(o.master_addr) || !o.file_store.empty()) {
      iface = o.file_store.empty() ? o.master_addr : "127.0.0.1";
    } else {
      char host[256] = {0};
      ::gethostname(host, sizeof(host) - 1);
      iface = host;
    }
  }
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(iface));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, o.rank, o.world_size, options);
}
#endif

#ifdef SPECOPT_WITH_NCCL
// One GPU per rank: LOCAL_RANK picks it, as torchrun does.
c10::intrusive_ptr<c10d::ProcessGroupNCCL> make_nccl(const c10::intrusive_ptr<c10d::Store>& store,
                                                     const RendezvousOptions& o) {
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(o.local_rank));
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = o.timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, o.rank, o.world_size, options);
}
#endif

std::string describe_rendezvous(const RendezvousOptions& o) {
  return o.file_store.empty()
             ? "TCPStore " + o.master_addr + ":" + std::to_string(o.master_port)
             : "FileStore " + o.file_store;
}

// PG: c10d::ProcessGroupGloo or c10d::ProcessGroupNCCL (the same collective calls; their
// common base differs between LibTorch 1.13 and 2.x, so it is not named here).
template <class PG>
class C10dCommunicator final : public Communicator {
 public:
  C10dCommunicator(const RendezvousOptions& o, std::string name,
                   c10::intrusive_ptr<PG> (*make)(const c10::intrusive_ptr<c10d::Store>&,
                                                  const RendezvousOptions&))
      : rank_(o.rank), size_(o.world_size), name_(std::move(name)) {
    try {
      pg_ = make(make_store(o), o);
      if (name_ == "nccl") device_ = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(o.local_rank));
    } catch (const std::exception& e) {
      const auto* ce = dynamic_cast<const c10::Error*>(&e);
      TORCH_CHECK(false, "specopt::dist: ", name_, " rendezvous failed for rank ", o.rank,
                  " of ", o.world_size, " (", describe_rendezvous(o), ", timeout ",
                  o.timeout.count(), " ms): ", ce ? ce->what_without_backtrace() : e.what());
    }
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return name_; }

  void all_reduce(at::Tensor& t, ReduceOp op) override {
    guard("all_reduce", [&] {
      at::Tensor x = on_device(t);
      std::vector<at::Tensor> ts{x};
      c10d::AllreduceOptions ao;
      ao.reduceOp = to_c10d(op);
      pg_->allreduce(ts, ao)->wait();
      if (!x.is_same(t)) t.copy_(x);
    });
    if (op == ReduceOp::avg) t.div_(size_);
  }

  std::vector<at::Tensor> all_gather(const at::Tensor& t) override {
    const at::Tensor x = on_device(t.contiguous());
    std::vector<std::vector<at::Tensor>> out(1);
    for (int i = 0; i < size_; ++i) out[0].push_back(at::empty_like(x));
    guard("all_gather", [&] {
      std::vector<at::Tensor> in{x};
      pg_->allgather(out, in)->wait();
    });
    if (x.device() != t.device()) {
      for (auto& o : out[0]) o = o.to(t.device());
    }
    return out[0];
  }

  void broadcast(at::Tensor& t, int root) override {
    TORCH_CHECK(root >= 0 && root < size_, "specopt::dist: broadcast root ", root,
                " out of range [0, ", size_, ")");
    guard("broadcast", [&] {
      at::Tensor x = on_device(t);
      std::vector<at::Tensor> ts{x};
      c10d::BroadcastOptions bo;
      bo.rootRank = root;
      pg_->broadcast(ts, bo)->wait();
      if (!x.is_same(t)) t.copy_(x);
    });
  }

  at::Tensor reduce_scatter(const at::Tensor& input, ReduceOp op) override {
    TORCH_CHECK(input.dim() == 1 && input.numel() % size_ == 0,
                "specopt::dist: reduce_scatter input must be 1-D with a multiple of ", size_,
                " elements, got shape ", input.sizes());
    // Gloo in LibTorch 1.13 has no reduce_scatter: all-reduce, then keep this rank's chunk
    // (twice the traffic of a true reduce-scatter), on either backend: one code path.
    at::Tensor all = input.clone();
    all_reduce(all, op);
    const int64_t k = input.numel() / size_;
    return all.narrow(0, rank_ * k, k).clone();
  }

  void barrier() override {
    guard("barrier", [&] { pg_->barrier()->wait(); });
  }

 private:
  template <typename F>
  void guard(const char* what, F&& f) {
    try {
      f();
    } catch (const c10::Error& e) {
      TORCH_CHECK(false, "specopt::dist: ", what, " failed on rank ", rank_, " of ", size_,
                  " (another rank probably exited, or the timeout passed): ",
                  e.what_without_backtrace());
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "specopt::dist: ", what, " failed on rank ", rank_, " of ", size_,
                  " (another rank probably exited, or the timeout passed): ", e.what());
    }
  }

  // NCCL reduces CUDA tensors only: a CPU tensor (a flag, a loss) goes through this rank's
  // GPU and back. Gloo takes tensors where they are.
  at::Tensor on_device(const at::Tensor& t) const {
    if (!device_ || t.device() == *device_) return t;
    return t.to(*device_);
  }

  int rank_;
  int size_;
  std::string name_;
  c10::optional<at::Device> device_;
  c10::intrusive_ptr<PG> pg_;
};

}  // namespace

bool nccl_compiled() {
#ifdef SPECOPT_WITH_NCCL
  return true;
#else
  return false;
#endif
}

std::shared_ptr<Communicator> make_c10d_communicator(const RendezvousOptions& options,
                                                     const std::string& backend) {
  if (backend == "nccl") {
#ifdef SPECOPT_WITH_NCCL
    return std::make_shared<C10dCommunicator<c10d::ProcessGroupNCCL>>(options, "nccl", &make_nccl);
#else
    TORCH_CHECK(false,
                "specopt::dist: backend 'nccl' is not in this build of specopt (it needs a "
                "LibTorch built with CUDA and NCCL, and NCCL's headers at configure time: "
                "docs/gpu.md); use gloo");
#endif
  }
#ifdef SPECOPT_WITH_GLOO
  return std::make_shared<C10dCommunicator<c10d::ProcessGroupGloo>>(options, "gloo", &make_gloo);
#else
  TORCH_CHECK(false,
              "specopt::dist: backend 'gloo' is not in this build of specopt (its LibTorch ships "
              "without Gloo's headers, as a PyTorch wheel does: docs/gpu.md); use nccl");
#endif
}

}  // namespace dist
}  // namespace specopt
