#pragma once
// Building convex maps from text: "name" or "name:key=value,key=value".
//
//   nuclear                 nuclear:method=newton_schulz   (method: a polar method, default svd;
//                           nuclear:method=newton_schulz,steps=3,schedule=polar_express,eps=1e-6,
//                           tol=1e-4: the polar options; name() spells every non-default one)
//   spectral   frobenius   half_sq_frobenius   half_sq_nuclear   l1   logcosh
//   schatten:q=3            (q >= 1; q=inf allowed)
//   ky_fan:k=4              (integer k >= 1)
//   power:p=0.5             power:p=0.5,method=gram_eigh   (0 < p <= 1; method: a power method,
//                                                           default svd)
//   huber:delta=0.5         relativistic:delta=1           (delta > 0)
//
// Every error names the offending text: unknown map names (listing the known ones), unknown
// or repeated parameter keys, missing required parameters, malformed or out-of-range values.
#include <memory>
#include <string>
#include <vector>

#include <specopt/maps/convex_map.h>

namespace specopt {

std::unique_ptr<ConvexMap> make_convex_map(const std::string& spec);

// The map names make_convex_map knows, in docs/algorithms.md's table order.
std::vector<std::string> convex_map_names();

}  // namespace specopt
