#pragma once
// Input checks and scaling shared by every matrix function.
#include <ATen/ATen.h>

#include <string>

namespace specopt {
namespace detail {

// Throws (c10::Error) unless `G` is a floating tensor of shape (..., m, n) with finite entries.
// `fn` names the calling function in the message.
void check_matrix(const at::Tensor& G, const char* fn);

// Throws unless every entry is finite; names the function and the first bad value.
void check_finite(const at::Tensor& G, const char* fn);

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

// Relative size below which a singular value of G is treated as zero: max(m, n) times the
// unit roundoff of the coarser of G's dtype and the compute dtype. Data rounded to float32
// turns exact zeros into ≈1e-8·σ₁, so float64 arithmetic must not resolve below that.
double rank_rcond(const at::Tensor& G, at::ScalarType compute_dtype);

// True where the matrix (batch element) is entirely zero, shape (..., 1, 1).
at::Tensor is_zero_matrix(const at::Tensor& G);

// The dtype arithmetic runs in: float32/float64 as given, half types promoted to float32
// (LAPACK has no half-precision eigensolvers).
at::ScalarType lapack_dtype(at::ScalarType t);

}  // namespace detail
}  // namespace specopt
