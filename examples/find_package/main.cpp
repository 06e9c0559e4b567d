// Links an installed specopt and checks that the polar factor of a random 64x32 matrix has
// orthonormal columns: max |QᵀQ − I| < 1e-8.
#include <specopt/matfun/polar.h>
#include <specopt/version.h>

#include <cstdio>

int main() {
  at::manual_seed(0);
  const at::Tensor G = at::randn({64, 32}, at::kDouble);
  const at::Tensor Q = specopt::polar(G);
  const at::Tensor I = at::eye(32, at::kDouble);
  const double deviation = (Q.transpose(0, 1).matmul(Q) - I).abs().max().item<double>();
  const bool ok = deviation < 1e-8;
  std::printf("specopt %s (%s): polar of 64x32 float64, max |Q^T Q - I| = %.3e: %s\n",
              SPECOPT_VERSION, SPECOPT_GIT_COMMIT, deviation, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
