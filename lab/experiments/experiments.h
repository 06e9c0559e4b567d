#pragma once
// The experiments of `specopt run` / `specopt reproduce`, one factory per file in this folder.
// registry.cpp lists them in report order.
#include "lab/experiment.h"

namespace specopt {
namespace lab {

// Paper 1 (issue: Laboratory I)
Experiment constraint_experiment();     // constraint.cpp
Experiment lyapunov_experiment();       // lyapunov.cpp
// Paper 2
Experiment factorization_experiment();  // factorization.cpp
Experiment icl_experiment();            // icl.cpp
// Paper 3 (issue: Laboratory II)
Experiment spectral_power_experiment(); // spectral_power.cpp
// Matrix-function study (issue: reproduce)
Experiment matfun_study_experiment();   // matfun_study.cpp

}  // namespace lab
}  // namespace specopt
