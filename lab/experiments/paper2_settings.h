#pragma once
// Knob handling the factorization and icl experiments share: the race settings from --set
// values, checked up front so a bad value is refused before anything runs.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "lab/experiment.h"
#include "lab/experiments/race.h"

namespace specopt {
namespace lab {

// The knobs both experiments declare (quick, full defaults differ per experiment).
inline RaceSettings race_settings(const Params& P) {
  RaceSettings s;
  s.tol = P.positive("tol");
  s.msign_lr = P.positive("msign_lr");
  s.msign_decay = P.positive("msign_decay");
  s.muon_lr = P.positive("muon_lr");
  s.muon_decay = P.positive("muon_decay");
  s.muon_momentum = P.real("muon_momentum");
  s.gd_lrs = P.reals("gd_lrs");
  s.adam_lrs = P.reals("adam_lrs");
  s.methods = P.texts("methods");
  for (const char* key : {"msign_decay", "muon_decay"})
    if (P.real(key) > 1)
      throw std::invalid_argument(std::string("--set ") + key + "=" + P.text(key) +
                                  ": a step decay must be in (0, 1]");
  if (s.muon_momentum < 0 || s.muon_momentum >= 1)
    throw std::invalid_argument("--set muon_momentum=" + P.text("muon_momentum") +
                                ": must be in [0, 1)");
  for (const char* key : {"gd_lrs", "adam_lrs"})
    for (double v : P.reals(key))
      if (!(v > 0))
        throw std::invalid_argument(std::string("--set ") + key + "=" + P.text(key) +
                                    ": every step must be > 0");
  const auto known = race_method_names();
  for (const auto& m : s.methods)
    if (std::find(known.begin(), known.end(), m) == known.end())
      throw std::invalid_argument("--set methods=" + P.text("methods") + ": unknown method '" +
                                  m + "' (known: msign, muon, gd, adam)");
  for (double k : P.reals("kappas"))
    if (!(k >= 1))
      throw std::invalid_argument("--set kappas=" + P.text("kappas") +
                                  ": every condition number must be >= 1");
  return s;
}

// The knobs of race_settings, with each experiment's defaults.
struct RaceKnobDefaults {
  std::string msign_lr, muon_lr, gd_lrs, adam_lrs, lr_unit;
  std::string gd_lrs_full;  // empty: as quick
};
inline std::vector<KnobSpec> race_knobs(const RaceKnobDefaults& d) {
  return {
      {"methods", "msign,muon,gd,adam", "msign,muon,gd,adam",
       "optimizers: msign (simplified Muon), muon (with momentum), gd, adam"},
      {"tol", "1e-6", "1e-6", "stop at this relative error"},
      {"msign_lr", d.msign_lr, d.msign_lr, "simplified Muon η₀ " + d.lr_unit + " (η_t = η₀ρᵗ)"},
      {"msign_decay", "0.97", "0.97", "simplified Muon ρ"},
      {"muon_lr", d.muon_lr, d.muon_lr, "Muon η₀ " + d.lr_unit},
      {"muon_decay", "0.97", "0.97", "Muon ρ"},
      {"muon_momentum", "0.9", "0.9", "Muon momentum μ (Nesterov)"},
      {"gd_lrs", d.gd_lrs, d.gd_lrs_full.empty() ? d.gd_lrs : d.gd_lrs_full,
       "GD step grid (the best is reported)"},
      {"adam_lrs", d.adam_lrs, d.adam_lrs, "Adam lr grid (β = 0.9, 0.999; the best is reported)"},
  };
}

}  // namespace lab
}  // namespace specopt
