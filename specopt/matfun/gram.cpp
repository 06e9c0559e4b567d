#include "specopt/matfun/gram.h"

#include <c10/util/Exception.h>

#include <limits>

#ifdef SPECOPT_HAVE_BLAS
extern "C" {
// Fortran BLAS symmetric rank-k update: C := alpha·op(A)·op(A)ᵀ + beta·C (one triangle).
void ssyrk_(const char* uplo, const char* trans, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* beta, float* c, const int* ldc);
void dsyrk_(const char* uplo, const char* trans, const int* n, const int* k, const double* alpha,
            const double* a, const int* lda, const double* beta, double* c, const int* ldc);
}
#endif

namespace specopt {

at::Tensor gram_xxt_reference(const at::Tensor& X) { return at::matmul(X, X.transpose(-2, -1)); }

at::Tensor gram_xxt_add_reference(const at::Tensor& C, const at::Tensor& X, double beta,
                                  double alpha) {
  return beta * C + alpha * at::matmul(X, X.transpose(-2, -1));
}

bool gram_uses_syrk(const at::Tensor& X) {
#ifdef SPECOPT_HAVE_BLAS
  return X.device().is_cpu() && (X.scalar_type() == at::kFloat || X.scalar_type() == at::kDouble) &&
         X.size(-1) <= std::numeric_limits<int>::max() && X.size(-2) <= std::numeric_limits<int>::max();
#else
  (void)X;
  return false;
#endif
}

#ifdef SPECOPT_HAVE_BLAS
namespace {
template <typename T>
void syrk(const char* uplo, const char* trans, const int* n, const int* k, const T* alpha,
          const T* a, const int* lda, const T* beta, T* c, const int* ldc) {
  if constexpr (std::is_same_v<T, float>) {
    ssyrk_(uplo, trans, n, k, alpha, a, lda, beta, c, ldc);
  } else {
    dsyrk_(uplo, trans, n, k, alpha, a, lda, beta, c, ldc);
  }
}

// beta·C + alpha·X Xᵀ; C undefined means beta = 0.
template <typename T>
at::Tensor syrk_gram(const at::Tensor& X, const at::Tensor& C, T alpha, T beta) {
  // Row-major X (m × n) is column-major Xᵀ (n × m) with lda = n, so trans='T' gives
  // (Xᵀ)ᵀ Xᵀ = X Xᵀ. The result is symmetric, so its storage order does not matter.
  auto Xc = X.contiguous();
  const int m = static_cast<int>(X.size(-2)), n = static_cast<int>(X.size(-1));
  auto batch = Xc.reshape({-1, m, n});
  at::Tensor out = C.defined() ? C.to(X.scalar_type()).reshape({-1, m, m}).clone(at::MemoryFormat::Contiguous)
                               : at::empty({batch.size(0), m, m}, X.options());
  const char uplo = 'U', trans = 'T';
  for (int64_t b = 0; b < batch.size(0); ++b) {
    syrk<T>(&uplo, &trans, &m, &n, &alpha, batch[b].data_ptr<T>(), &n, &beta, out[b].data_ptr<T>(), &m);
  }
  // Column-major upper triangle = row-major lower triangle; mirror it.
  auto full = at::tril(out) + at::tril(out, -1).transpose(-2, -1);
  std::vector<int64_t> shape(X.sizes().begin(), X.sizes().end() - 2);
  shape.push_back(m);
  shape.push_back(m);
  return full.reshape(shape);
}

at::Tensor syrk_dispatch(const at::Tensor& X, const at::Tensor& C, double alpha, double beta) {
  if (X.scalar_type() == at::kFloat) {
    return syrk_gram<float>(X, C, static_cast<float>(alpha), static_cast<float>(beta));
  }
  return syrk_gram<double>(X, C, alpha, beta);
}
}  // namespace
#endif

at::Tensor gram_xxt(const at::Tensor& X) {
#ifdef SPECOPT_HAVE_BLAS
  if (gram_uses_syrk(X)) return syrk_dispatch(X, at::Tensor(), 1.0, 0.0);
#endif
  return gram_xxt_reference(X);
}

at::Tensor gram_xxt_add(const at::Tensor& C, const at::Tensor& X, double beta, double alpha) {
  TORCH_CHECK(C.dim() >= 2 && C.size(-1) == X.size(-2) && C.size(-2) == X.size(-2),
              "gram_xxt_add: C must be (..., m, m) for X of shape (..., m, n); got C ", C.sizes(),
              " and X ", X.sizes());
#ifdef SPECOPT_HAVE_BLAS
  const bool same_batch = C.sizes().slice(0, C.dim() - 2) == X.sizes().slice(0, X.dim() - 2);
  if (gram_uses_syrk(X) && same_batch) return syrk_dispatch(X, C, alpha, beta);
#endif
  return gram_xxt_add_reference(C, X, beta, alpha);
}

}  // namespace specopt
