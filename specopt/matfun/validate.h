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

// True where the matrix (batch element) is entirely zero, shape (..., 1, 1).
at::Tensor is_zero_matrix(const at::Tensor& G);

// The dtype arithmetic runs in: float32/float64 as given, half types promoted to float32
// (LAPACK has no half-precision eigensolvers).
at::ScalarType lapack_dtype(at::ScalarType t);

}  // namespace detail
}  // namespace specopt
