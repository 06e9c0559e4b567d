#include "lab/step_bench_peers.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/optim/adamw.h>

#include <specopt/matfun/newton_schulz.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <tuple>

namespace specopt {
namespace lab {

namespace {

// aten::_fused_adamw_ (LibTorch >= 2.0; CPU kernels from 2.4). Looked up in the dispatcher
// rather than called as at::_fused_adamw_, so that the same source builds against LibTorch
// 1.13, which lacks it; typed() checks the signature against the registered one.
using FusedAdamWFn = void(at::TensorList, at::TensorList, at::TensorList, at::TensorList,
                          at::TensorList, at::TensorList, double, double, double, double, double,
                          bool, bool, const c10::optional<at::Tensor>&,
                          const c10::optional<at::Tensor>&);

c10::optional<c10::TypedOperatorHandle<FusedAdamWFn>> fused_adamw_op() {
  auto handle = c10::Dispatcher::singleton().findSchema({"aten::_fused_adamw_", ""});
  if (!handle) return c10::nullopt;
  try {
    return handle->typed<FusedAdamWFn>();
  } catch (const c10::Error&) {
    return c10::nullopt;
  }
}

// The state torch.optim.AdamW(fused=True) keeps: both moments and a float32 step count per
// parameter on its device, the count advanced before the kernel (as torch/optim/adamw.py does).
struct FusedAdamW {
  c10::TypedOperatorHandle<FusedAdamWFn> op;
  BenchAdamW o;
  std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
  void step() {
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) grads[i] = params[i].grad();  // may be replaced
    for (auto& s : steps) s.add_(1);
    op.call(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps, o.lr, o.beta1,
            o.beta2, o.weight_decay, o.eps, /*amsgrad=*/false, /*maximize=*/false, c10::nullopt,
            c10::nullopt);
  }
};

struct ReferenceMuon {
  std::vector<at::Tensor> params, buffers;
  double lr = 0.02, momentum = 0.95;
  at::ScalarType ns_dtype = at::kBFloat16;
  void step() {
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) {
      auto& p = params[i];
      const auto& g = p.grad();
      buffers[i].lerp_(g, 1 - momentum);
      const auto u = g.lerp(buffers[i], momentum);  // Nesterov (the gradient itself is kept)
      const auto o = reference_newton_schulz5(u.to(ns_dtype));
      const double scale =
          std::sqrt(std::max(1.0, static_cast<double>(p.size(-2)) / p.size(-1)));
      p.add_(o.to(p.scalar_type()), -lr * scale);
    }
  }
};

}  // namespace

bool fused_adamw_available() {
  static const bool available = fused_adamw_op().has_value();
  return available;
}

PeerStepper make_torch_adamw(const std::vector<at::Tensor>& params, const BenchAdamW& o,
                             bool fused) {
  PeerStepper s;
  if (fused && fused_adamw_available()) {
    auto f = std::make_shared<FusedAdamW>(FusedAdamW{*fused_adamw_op(), o, {}, {}, {}, {}, {}});
    for (const auto& p : params) {
      f->params.push_back(p);
      f->grads.push_back(p.grad());
      f->exp_avgs.push_back(at::zeros_like(p));
      f->exp_avg_sqs.push_back(at::zeros_like(p));
      f->steps.push_back(at::zeros({}, p.options().dtype(at::kFloat)));
    }
    s.step = [f] { f->step(); };
    s.keep = f;
    s.description = "LibTorch fused AdamW (aten::_fused_adamw_), every parameter";
    return s;
  }
  auto opt = std::make_shared<torch::optim::AdamW>(
      params, torch::optim::AdamWOptions(o.lr)
                  .betas(std::make_tuple(o.beta1, o.beta2))
                  .eps(o.eps)
                  .weight_decay(o.weight_decay));
  s.step = [opt] { opt->step(); };
  s.keep = opt;
  s.description = "torch::optim::AdamW (LibTorch), every parameter";
  return s;
}

PeerStepper make_reference_muon(const std::vector<at::Tensor>& hidden,
                                const std::vector<at::Tensor>& rest, const BenchAdamW& adamw,
                                bool fused_adamw, double lr, double momentum,
                                at::ScalarType ns_dtype) {
  auto muon = std::make_shared<ReferenceMuon>();
  muon->ns_dtype = ns_dtype;
  muon->params = hidden;
  muon->lr = lr;
  muon->momentum = momentum;
  for (const auto& p : hidden) muon->buffers.push_back(at::zeros_like(p));
  PeerStepper other = make_torch_adamw(rest, adamw, fused_adamw);
  PeerStepper s;
  auto other_step = other.step;
  s.step = [muon, other_step] {
    muon->step();
    other_step();
  };
  s.keep = std::make_shared<std::pair<std::shared_ptr<ReferenceMuon>, std::shared_ptr<void>>>(
      muon, other.keep);
  s.description = "reference Muon (KellerJordan/Muon: bf16 quintic x5, Nesterov) + " +
                  other.description.substr(0, other.description.find(','));
  return s;
}

}  // namespace lab
}  // namespace specopt
