#include "specopt/matfun/spectral_map.h"

#include <c10/util/Exception.h>

#include <limits>

#include "specopt/matfun/gram_eigh.h"
#include "specopt/matfun/validate.h"

namespace specopt {

namespace {
at::Tensor checked(const SingularValueMap& f, const at::Tensor& sigma) {
  auto y = f(sigma);
  TORCH_CHECK(y.defined() && y.sizes() == sigma.sizes(),
              "spectral_map: f must return a tensor shaped like its input ", sigma.sizes(), ", got ",
              y.defined() ? y.sizes() : at::IntArrayRef{});
  return y.to(sigma.scalar_type());
}
}  // namespace

at::Tensor spectral_map(const at::Tensor& G, const SingularValueMap& f, SpectralMapMethod method) {
  detail::check_matrix(G, "spectral_map");
  TORCH_CHECK(static_cast<bool>(f), "spectral_map: f is empty");
  const auto out_dtype = G.scalar_type();
  // f sees the true singular values, so the scale taken out for range safety goes back in.
  at::Tensor R;
  if (method == SpectralMapMethod::svd) {
    const auto compute = at::kDouble;
    auto scale = detail::safe_scale(G).to(compute);
    auto svd = at::linalg_svd(detail::to_scaled(G, scale, compute), /*full_matrices=*/false);
    auto S = std::get<1>(svd);
    auto smax = std::get<0>(S.max(-1, /*keepdim=*/true));
    auto keep = S > smax * detail::rank_rcond(G, compute);
    auto fs = checked(f, S * scale.squeeze(-1));
    fs = at::where(keep, fs, at::zeros_like(fs));
    R = at::matmul(std::get<0>(svd) * fs.unsqueeze(-2), std::get<2>(svd));
  } else {
    const auto compute = detail::lapack_dtype(out_dtype);
    auto e = gram_eig(G, compute);
    auto sigma = at::sqrt(e.lambda);
    auto fs = checked(f, sigma * e.scale.squeeze(-1).to(compute));

    // Weights in the scaled matrix's units: f(s·σ)/σ.
    auto w = at::where(e.rank_mask, fs / sigma.clamp_min(std::numeric_limits<float>::min()),
                       at::zeros_like(fs));
    R = gram_apply(e, w);
  }
  TORCH_CHECK(at::isfinite(R).all().item<bool>(),
              "spectral_map: f produced non-finite values on the singular values of the input");
  return R.to(out_dtype).contiguous();
}

}  // namespace specopt
