#pragma once
// Differences between the LibTorch versions specopt builds against (Debian 12's 1.13, Debian
// 13's 2.6, PyTorch wheels' 2.x) live here and only here; the rest of the tree calls these
// functions and has no version tests of its own.
//
// Two sections: tensor operations (any file), and c10d (only where SPECOPT_COMPAT_C10D is
// defined before the include: the specopt::dist sources, the only ones that use c10d).
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include <vector>

// ---- tensor operations ----------------------------------------------------------------------

// LibTorch's fused AdamW kernel (what torch.optim.AdamW(fused=True) runs): CUDA from 2.0, CPU
// from 2.4; 1.x has none.
#if __has_include(<ATen/ops/_fused_adamw.h>)
#include <ATen/ops/_fused_adamw.h>
#define SPECOPT_TORCH_HAS_FUSED_ADAMW 1
#else
#define SPECOPT_TORCH_HAS_FUSED_ADAMW 0
#endif

namespace specopt {
namespace compat {

inline bool has_fused_adamw(const at::Device& device) {
#if SPECOPT_TORCH_HAS_FUSED_ADAMW
  if (device.is_cuda()) return true;
  if (device.is_cpu()) return TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 4;
#endif
  (void)device;
  return false;
}

// One call of LibTorch's fused AdamW over tensors of one device and dtype, contiguous, at the
// given (already counted) steps. Refused where has_fused_adamw(device) is false.
inline void fused_adamw_(at::TensorList W, at::TensorList g, at::TensorList m, at::TensorList v,
                         at::IntArrayRef steps, double lr, double beta1, double beta2,
                         double weight_decay, double eps) {
  TORCH_CHECK(!W.empty() && has_fused_adamw(W[0].device()), "LibTorch ", TORCH_VERSION,
              " has no fused AdamW kernel for ", W.empty() ? std::string("no tensors")
                                                         : W[0].device().str());
#if SPECOPT_TORCH_HAS_FUSED_ADAMW
  std::vector<at::Tensor> state_steps;
  for (const int64_t t : steps) {
    state_steps.push_back(at::full({}, static_cast<double>(t),
                                   at::TensorOptions().dtype(at::kFloat).device(W[0].device())));
  }
  at::_fused_adamw_(W, g, m, v, /*max_exp_avg_sqs=*/{}, state_steps, lr, beta1, beta2,
                    weight_decay, eps, /*amsgrad=*/false, /*maximize=*/false);
#else
  (void)g, (void)m, (void)v, (void)steps, (void)lr, (void)beta1, (void)beta2;
  (void)weight_decay, (void)eps;
#endif
}

}  // namespace compat
}  // namespace specopt

// ---- c10d ---------------------------------------------------------------------------------

#ifdef SPECOPT_COMPAT_C10D
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <atomic>
#include <string>

// LibTorch 2.x has two TCPStore server backends: the libuv one (its default) and the original
// one. A LibTorch built without libuv (Debian's 2.6) still defaults to libuv and then refuses
// every rendezvous ("use_libuv was requested but PyTorch was build without libuv support").
// 1.x has only the original backend, and no option to choose.
#if __has_include(<torch/csrc/distributed/c10d/TCPStoreBackend.hpp>)
#define SPECOPT_TORCH_HAS_TCPSTORE_BACKENDS 1
#else
#define SPECOPT_TORCH_HAS_TCPSTORE_BACKENDS 0
#endif

namespace specopt {
namespace compat {

// A TCPStore with the server backend the linked LibTorch supports: libuv where LibTorch was
// built with it, the original backend otherwise. LibTorch does not export its own test
// (c10d::detail::is_libuv_tcpstore_backend_available), but the TCPStore constructor runs it
// first, before opening any socket, so one refused construction answers it; the answer is
// kept for the process.
inline c10::intrusive_ptr<c10d::TCPStore> make_tcp_store(const std::string& host,
                                                         c10d::TCPStoreOptions options) {
#if SPECOPT_TORCH_HAS_TCPSTORE_BACKENDS
  static std::atomic<bool> libuv_refused{false};
  if (!libuv_refused.load()) {
    options.useLibUV = true;
    try {
      return c10::make_intrusive<c10d::TCPStore>(host, options);
    } catch (const c10::Error& e) {
      if (std::string(e.what_without_backtrace()).find("without libuv support") ==
          std::string::npos) {
        throw;
      }
      libuv_refused.store(true);
    }
  }
  options.useLibUV = false;
#endif
  return c10::make_intrusive<c10d::TCPStore>(host, options);
}

}  // namespace compat
}  // namespace specopt

#endif  // SPECOPT_COMPAT_C10D
