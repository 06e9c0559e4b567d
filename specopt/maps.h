#pragma once
// Everything in specopt/maps/: the convex maps K of Lion-K, their registry and diagnostics.
#include <specopt/maps/convex_map.h>
#include <specopt/maps/half_sq_nuclear.h>
#include <specopt/maps/maps.h>
#include <specopt/maps/registry.h>
