#pragma once
// specopt: spectral optimizers for LibTorch. One include for the library: the matrix functions
// (specopt/matfun), the convex maps of Lion-K (specopt/maps) and every optimizer with its
// schedules, partition and checkpoints (specopt/optim). Data-parallel execution is a separate
// target and header: <specopt/dist/dist.h> (CMake target specopt::dist).
#include <specopt/maps.h>
#include <specopt/matfun.h>
#include <specopt/optim/optim.h>
