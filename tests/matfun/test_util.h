#pragma once
// Shared helpers for the matrix-function suite: test matrices with a prescribed spectrum,
// the shape grid, error-message checks.
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "lab/spectra.h"
#include "specopt/matfun.h"

// Readable names for parameterised tests' failure messages (found by ADL).
namespace specopt {
inline void PrintTo(PolarMethod m, std::ostream* os) { *os << to_string(m); }
inline void PrintTo(PowerMethod m, std::ostream* os) { *os << to_string(m); }
}  // namespace specopt

namespace specopt_test {

namespace lab = specopt::lab;

// G = U diag(geometric spectrum from 1 to 1/kappa) Vᵀ, built in float64 and cast to dtype.
inline at::Tensor make_matrix(int64_t m, int64_t n, double kappa, uint64_t seed,
                              at::ScalarType dtype, std::vector<int64_t> batch = {}) {
  return lab::matrix_with_spectrum(m, n, lab::geometric_spectrum(std::min(m, n), kappa), seed,
                                   dtype, std::move(batch));
}

inline double rel_err(const at::Tensor& A, const at::Tensor& B) {
  return lab::rel_frobenius_error(A, B);
}

struct Shape {
  const char* name;
  int64_t m, n;
  std::vector<int64_t> batch;
};

// The shape grid of the issue: square, 4:1 both ways, 3:1, a single row/column, a batch.
inline std::vector<Shape> shape_grid() {
  return {{"square_64x64", 64, 64, {}},  {"wide_32x128", 32, 128, {}}, {"tall_128x32", 128, 32, {}},
          {"tall_96x32", 96, 32, {}},    {"row_1x50", 1, 50, {}},      {"col_50x1", 50, 1, {}},
          {"batch_3x2x16x48", 16, 48, {3, 2}}};
}

inline std::string describe(const Shape& s, double kappa, at::ScalarType dt) {
  std::ostringstream os;
  os << s.name << " kappa=" << kappa << " dtype=" << dt;
  return os.str();
}

inline const char* dtype_name(at::ScalarType t) { return t == at::kFloat ? "f32" : "f64"; }

// Every entry finite.
inline bool all_finite(const at::Tensor& T) { return at::isfinite(T).all().item<bool>(); }

// Largest |entry| of A − B (in float64).
inline double max_abs_diff(const at::Tensor& A, const at::Tensor& B) {
  return (A.to(at::kDouble) - B.to(at::kDouble)).abs().max().item<double>();
}

}  // namespace specopt_test

// Expects `stmt` to throw c10::Error whose message contains `needle` (e.g. the bad value or
// the option's name). Any other exception type escapes and fails the test.
#define EXPECT_THROW_MSG(stmt, needle)                                                         \
  do {                                                                                         \
    bool thrown_ = false;                                                                      \
    try {                                                                                      \
      (void)(stmt);                                                                            \
    } catch (const c10::Error& e_) {                                                           \
      thrown_ = true;                                                                          \
      const std::string what_ = e_.what();                                                     \
      EXPECT_NE(what_.find(needle), std::string::npos)                                         \
          << "message of " #stmt " does not contain \"" << (needle) << "\":\n"                 \
          << e_.what_without_backtrace();                                                      \
    }                                                                                          \
    EXPECT_TRUE(thrown_) << #stmt " did not throw c10::Error";                                 \
  } while (0)
