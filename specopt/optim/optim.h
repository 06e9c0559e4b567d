#pragma once
// Every specopt optimizer (Muon, NorMuon, AdaMuon, PolarGrad, Dion2, LionK, SpectralAdam,
// SpectralSGD, AdamW, Lion, HybridOptimizer), the registry that builds them by name,
// schedules, the partition of a model, checkpoints and the shared transforms the rules are
// built from.
#include <specopt/optim/adamuon.h>
#include <specopt/optim/adamw.h>
#include <specopt/optim/base.h>
#include <specopt/optim/checkpoint.h>
#include <specopt/optim/dion2.h>
#include <specopt/optim/hybrid.h>
#include <specopt/optim/lion_k.h>
#include <specopt/optim/muon.h>
#include <specopt/optim/normuon.h>
#include <specopt/optim/partition.h>
#include <specopt/optim/polargrad.h>
#include <specopt/optim/registry.h>
#include <specopt/optim/schedule.h>
#include <specopt/optim/spectral_adam.h>
#include <specopt/optim/transforms.h>
