#pragma once
// The peers `specopt bench step` times beside specopt's optimizers, on the same parameters:
//   torch_adamw     LibTorch's own AdamW over every parameter: torch::optim::AdamW, or the
//                   fused kernel behind torch.optim.AdamW(fused=True) (aten::_fused_adamw_)
//                   where asked for and the linked LibTorch has it;
//   reference_muon  the plain Muon of KellerJordan/Muon on the hidden matrices (momentum 0.95
//                   with Nesterov, 5 quintic Newton–Schulz steps in bf16, scale
//                   sqrt(max(1, rows/cols))) + torch_adamw on the rest.
#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace specopt {
namespace lab {

// The AdamW hyper-parameters of every AdamW in the benchmark (specopt's and the peers').
struct BenchAdamW {
  double lr = 3e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};

struct PeerStepper {
  std::function<void()> step;
  std::string description;
  std::shared_ptr<void> keep;  // owns the optimizer
};

// True when the linked LibTorch registers aten::_fused_adamw_ with the signature used here.
bool fused_adamw_available();

// torch_adamw over `params` (each with its gradient set). fused: aten::_fused_adamw_ when
// fused_adamw_available() (on CUDA it is what torch.optim.AdamW(fused=True) runs), else
// torch::optim::AdamW; the description says which.
PeerStepper make_torch_adamw(const std::vector<at::Tensor>& params, const BenchAdamW& options,
                             bool fused);

// reference_muon: Muon (lr 0.02, momentum 0.95, Nesterov, no weight decay) on `hidden`, one
// matrix at a time, its orthogonalisation specopt::reference_newton_schulz5 (the reference's
// five quintic steps, three products each) on the matrix in `ns_dtype` (bf16, as the reference
// does on every device; tests also run it in float64), + torch_adamw on `rest`.
PeerStepper make_reference_muon(const std::vector<at::Tensor>& hidden,
                                const std::vector<at::Tensor>& rest, const BenchAdamW& adamw,
                                bool fused_adamw, double lr = 0.02, double momentum = 0.95,
                                at::ScalarType ns_dtype = at::kBFloat16);

}  // namespace lab
}  // namespace specopt
