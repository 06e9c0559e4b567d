#pragma once
// Differences between the LibTorch versions specopt builds against (Debian 12's 1.13, Debian
// 13's 2.6, PyTorch wheels' 2.x) live here and only here; the rest of the tree calls these
// functions and has no version tests of its own.
#include <c10/util/Exception.h>
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
