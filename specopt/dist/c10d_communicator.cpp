// The c10d implementation of specopt::dist::Communicator (Gloo). This is the only file that
// includes c10d headers (with specopt/util/torch_compat.h, where the LibTorch version
// differences are).
#include <torch/version.h>

#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <unistd.h>

#include <exception>
#include <sstream>
#include <string>
#include <utility>

#include "specopt/dist/communicator.h"
#include "specopt/util/torch_compat.h"

namespace specopt {
namespace dist {

namespace {

bool is_loopback(const std::string& addr) {
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

class C10dCommunicator final : public Communicator {
 public:
  explicit C10dCommunicator(const RendezvousOptions& o) : rank_(o.rank), size_(o.world_size) {
    try {
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
      pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store, o.rank, o.world_size, options);
    } catch (const std::exception& e) {
      const auto* ce = dynamic_cast<const c10::Error*>(&e);
      TORCH_CHECK(false, "specopt::dist: rendezvous failed for rank ", o.rank, " of ",
                  o.world_size, " (",
                  o.file_store.empty() ? "TCPStore " + o.master_addr + ":" +
                                             std::to_string(o.master_port)
                                       : "FileStore " + o.file_store,
                  ", timeout ", o.timeout.count(),
                  " ms): ", ce ? ce->what_without_backtrace() : e.what());
    }
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "gloo"; }

  void all_reduce(at::Tensor& t, ReduceOp op) override {
    guard("all_reduce", [&] {
      std::vector<at::Tensor> ts{t};
      c10d::AllreduceOptions ao;
      ao.reduceOp = to_c10d(op);
      pg_->allreduce(ts, ao)->wait();
    });
    if (op == ReduceOp::avg) t.div_(size_);
  }

  std::vector<at::Tensor> all_gather(const at::Tensor& t) override {
    std::vector<std::vector<at::Tensor>> out(1);
    for (int i = 0; i < size_; ++i) out[0].push_back(at::empty_like(t));
    guard("all_gather", [&] {
      std::vector<at::Tensor> in{t.contiguous()};
      pg_->allgather(out, in)->wait();
    });
    return out[0];
  }

  void broadcast(at::Tensor& t, int root) override {
    TORCH_CHECK(root >= 0 && root < size_, "specopt::dist: broadcast root ", root,
                " out of range [0, ", size_, ")");
    guard("broadcast", [&] {
      std::vector<at::Tensor> ts{t};
      c10d::BroadcastOptions bo;
      bo.rootRank = root;
      pg_->broadcast(ts, bo)->wait();
    });
  }

  at::Tensor reduce_scatter(const at::Tensor& input, ReduceOp op) override {
    TORCH_CHECK(input.dim() == 1 && input.numel() % size_ == 0,
                "specopt::dist: reduce_scatter input must be 1-D with a multiple of ", size_,
                " elements, got shape ", input.sizes());
    // Gloo in LibTorch 1.13 has no reduce_scatter: all-reduce, then keep this rank's chunk
    // (twice the traffic of a true reduce-scatter; NCCL would do it natively).
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

  int rank_;
  int size_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
};

}  // namespace

std::shared_ptr<Communicator> make_c10d_communicator(const RendezvousOptions& options) {
  return std::make_shared<C10dCommunicator>(options);
}

}  // namespace dist
}  // namespace specopt
