#pragma once
// The experiments of `specopt run` / `specopt reproduce`, one factory per file in this folder.
// registry.cpp lists them in report order.
#include "lab/experiment.h"

namespace specopt {
namespace lab {

// Paper 1 (arXiv 2506.15054)
Experiment constraint_experiment();     // constraint.cpp
Experiment lyapunov_experiment();       // lyapunov.cpp
// Paper 2 (arXiv 2601.13474)
Experiment factorization_experiment();  // factorization.cpp
Experiment icl_experiment();            // icl.cpp
// Paper 3 (arXiv 2602.04669)
Experiment spectral_power_experiment(); // spectral_power.cpp
// The Muon variants side by side (variants.h)
Experiment variants_experiment();       // variants.cpp
// Matrix-function study (docs/algorithms.md, "Matrix functions")
Experiment matfun_study_experiment();   // matfun_study.cpp

}  // namespace lab
}  // namespace specopt
