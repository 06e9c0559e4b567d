#pragma once
// The orthogonalisation the Muon family uses unless told otherwise: the reference Muon's
// (KellerJordan/Muon) quintic Newton–Schulz, 5 steps with (3.4445, −4.7750, 2.0315), eps 1e-7,
// bf16 arithmetic for float32 weights where bf16 is native (CUDA, AVX512-BF16/AMX CPUs).
#include <specopt/matfun/polar.h>

namespace specopt {

inline PolarOptions reference_muon_polar() {
  return PolarOptions()
      .method(PolarMethod::newton_schulz)
      .schedule(NsSchedule::jordan())
      .steps(5)
      .eps(1e-7)
      .bf16_where_fast(true);
}

}  // namespace specopt
