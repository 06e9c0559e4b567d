#pragma once
// Every specopt optimizer (Muon, NorMuon, AdaMuon, PolarGrad, Dion2, LionK, SpectralAdam,
// SpectralSGD, AdamW, Lion, HybridOptimizer), the registry that builds them by name,
// schedules, the partition of a model, checkpoints and the shared transforms the rules are
// built from: every header of this folder, listed by the build (specopt/CMakeLists.txt
// generates all_headers.h), so a new optimizer's header is here without a line of its own.
#include <specopt/optim/all_headers.h>
