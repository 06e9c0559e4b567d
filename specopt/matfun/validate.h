#pragma once
// Input checks and scaling shared by every matrix function.
#include <ATen/ATen.h>

#include <c10/util/Exception.h>

#include <initializer_list>
#include <string>

namespace specopt {
namespace detail {

// Throws (c10::Error) unless `G` is a floating tensor of shape (..., m, n) with finite entries.
// `fn` names the calling function in the message.
void check_matrix(const at::Tensor& G, const char* fn);

// Throws unless every entry is finite; names the function and the first bad value. Costs a
// device→host read, so it is skipped inside an InputsCheckedScope.
void check_finite(const at::Tensor& G, const char* fn);

// While one is alive on this thread, check_finite does nothing: the caller (an optimizer step)
// has decided about NaN/Inf for all of its inputs at once, in one fused reduction, or has been
// told not to check. Public matrix functions called outside a step check their input as usual.
class InputsCheckedScope {
 public:
  InputsCheckedScope();
  ~InputsCheckedScope();
  InputsCheckedScope(const InputsCheckedScope&) = delete;
  InputsCheckedScope& operator=(const InputsCheckedScope&) = delete;

 private:
  bool previous_;
};

// Per-matrix max |G_ij| with shape (..., 1, 1); matrices that are all zero get 1 so the
// division G / scale is always safe. Scaling by it first keeps Gram matrices of entries
// near 1e±30 inside float32's range.
at::Tensor safe_scale(const at::Tensor& G);

// G / scale in `compute_dtype`, rounding once: the division happens in whichever of G's
// dtype and compute_dtype is wider (casting float32 G to float64 after dividing would carry
// float32 rounding into a float64 computation).
at::Tensor to_scaled(const at::Tensor& G, const at::Tensor& scale, at::ScalarType compute_dtype);

// Unit roundoff of a floating dtype (float64 2.2e-16, float32 1.2e-7, bfloat16 3.9e-3, ...).
double unit_roundoff(at::ScalarType t);

// Relative size below which a singular value of G is treated as zero:
// max(√N·eps_data, N·eps_compute), N = max(m, n). The second term is LAPACK's convention for
// what the arithmetic resolves; the first is the rounding noise already in the data (float32
// data computed in float64 turns exact zeros into ≈ eps_data·σ₁·(√m+√n)/√(mn)·√r, below
// eps_data·σ₁), so a genuine float32 singular value of 1e-4·σ₁ survives at N = 3072 while
// float32 rounding of a zero singular value does not.
double rank_rcond(const at::Tensor& G, at::ScalarType compute_dtype);

// The enumerator of `all` whose to_string(e) is `name`; otherwise throws "Unknown <what>
// '<name>' (expected one of: ...)". to_string is found by argument-dependent lookup.
template <typename E>
E parse_choice(const std::string& name, const char* what, std::initializer_list<E> all) {
  std::string known;
  for (E e : all) {
    if (to_string(e) == name) return e;
    known += (known.empty() ? "" : ", ") + to_string(e);
  }
  TORCH_CHECK(false, "Unknown ", what, " '", name, "' (expected one of: ", known, ")");
}

// True where the matrix (batch element) is entirely zero, shape (..., 1, 1).
at::Tensor is_zero_matrix(const at::Tensor& G);

// The dtype arithmetic runs in: float32/float64 as given, half types promoted to float32
// (LAPACK has no half-precision eigensolvers).
at::ScalarType lapack_dtype(at::ScalarType t);

}  // namespace detail
}  // namespace specopt
