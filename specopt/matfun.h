#pragma once
// Everything in specopt/matfun/: polar factor (Newton–Schulz, Gram Newton–Schulz, eigh, SVD),
// spectral powers and maps, top singular triplets, norms.
#include <specopt/matfun/aol.h>
#include <specopt/matfun/coupled_newton.h>
#include <specopt/matfun/gram.h>
#include <specopt/matfun/gram_eigh.h>
#include <specopt/matfun/gram_newton_schulz.h>
#include <specopt/matfun/newton_schulz.h>
#include <specopt/matfun/norms.h>
#include <specopt/matfun/polar.h>
#include <specopt/matfun/spectral_map.h>
#include <specopt/matfun/spectral_power.h>
#include <specopt/matfun/top_singular.h>
