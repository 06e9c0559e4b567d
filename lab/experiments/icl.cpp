// `icl` (paper 2): in-context linear regression with one linear-attention layer
// ŷ = x_qᵀ Γ (1/N) Σᵢ yᵢxᵢ (arXiv 2601.13474; docs/algorithms.md, "Paper 2"), in two forms: the population loss
// L(Γ) = ½ tr((ΓΛ − I)ᵀ Λ (ΓΛ − I)) in closed form, and a finite-prompt model whose Γ is
// trained by autograd on sampled prompts. Iterations to relative loss 1e-6 against κ(Λ) for
// simplified Muon, Muon with momentum, GD and Adam: the spectral methods stay flat while GD
// needs ~κ³ iterations (every eigen-mode has curvature lᵢ³).
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "lab/experiments/experiments.h"
#include "lab/experiments/paper2_settings.h"
#include "lab/experiments/paper2_testbeds.h"
#include "lab/experiments/race_report.h"
#include "lab/experiments/verdicts.h"

namespace specopt {
namespace lab {
namespace {

std::vector<KappaRaces> at_least(const std::vector<KappaRaces>& table, double kappa_min) {
  std::vector<KappaRaces> out;
  for (const auto& row : table)
    if (row.kappa >= kappa_min) out.push_back(row);
  return out;
}

void run(RunContext& ctx) {
  const Params& P = ctx.params();
  const RaceSettings base_settings = race_settings(P);
  IclSpec base;
  base.d = P.count("d");
  base.rotate = P.flag("rotate");
  base.length = P.count("length");
  base.seed = ctx.seed();
  const int64_t prompts = P.count("prompts");
  if (prompts < base.d * base.d)
    throw std::invalid_argument("--set prompts=" + P.text("prompts") + ": need at least d² = " +
                                std::to_string(base.d * base.d) + " prompts");
  const double claim_from = P.positive("claim_min_kappa");
  const double prompt_decay = P.positive("prompt_decay");
  if (prompt_decay > 1)
    throw std::invalid_argument("--set prompt_decay=" + P.text("prompt_decay") +
                                ": a step decay must be in (0, 1]");
  const auto forms = P.texts("forms");
  for (const auto& form : forms)
    if (form != "population" && form != "prompts")
      throw std::invalid_argument("--set forms=" + P.text("forms") + ": unknown form '" + form +
                                  "' (known: population, prompts)");
  for (const auto& form : forms) {
    const bool population = form == "population";
    const auto kappas = P.reals(population ? "kappas" : "prompt_kappas");
    for (double k : kappas)
      if (!(k >= 1))
        throw std::invalid_argument("--set " + std::string(population ? "kappas" : "prompt_kappas") +
                                    ": every κ must be >= 1");
    const std::string what =
        population ? "ICL population loss (d=" + P.text("d") + ")"
                   : "ICL finite prompts (d=" + P.text("d") + ", B=" + P.text("prompts") +
                         ", N=" + P.text("length") + ")";
    const auto table = race_over_kappas(
        ctx, form, kappas,
        [&](double kappa) {
          IclSpec spec = base;
          spec.kappa = kappa;
          spec.prompts = population ? 0 : prompts;
          return icl_problem(spec);
        },
        [&](double kappa) {
          // Γ* = Λ⁻¹ has norm κ (l_max = 1): the spectral steps scale with it.
          RaceSettings s = base_settings;
          s.msign_lr *= kappa;
          s.muon_lr *= kappa;
          s.cap = P.count(population ? "cap" : "prompt_cap");
          if (!population) s.msign_decay = s.muon_decay = prompt_decay;
          return s;
        });
    write_races(ctx, form, what, table);
    const auto claimed = at_least(table, claim_from);
    if (claimed.size() < 2) {
      ctx.log(form + ": fewer than two κ ≥ " + fmt_num(claim_from) +
              ", no claims stated");
      continue;
    }
    const std::string over = what + ", κ ≥ " + fmt_num(claim_from);
    claim_flat(ctx, form + "_spectral_flat", over, claimed, {"msign", "muon"}, kFlatMaxSlope);
    if (population) {
      // Every eigen-mode has curvature lᵢ³: GD grows like κ³ (between κ^2.5 and κ^3.5).
      claim_growth(ctx, form + "_gd_cubic", over, claimed, "gd", "like κ³", kCubicMinExponent,
                   kCubicMaxExponent);
    } else {
      // Finite prompts: sampling noise blurs the modes; GD grows at least like κ².
      claim_growth(ctx, form + "_gd_growth", over, claimed, "gd", "at least like κ²",
                   kPromptsGrowthExponent);
    }
    claim_growth(ctx, form + "_adam_grows", over, claimed, "adam", "with κ", kAdamGrowthExponent);
  }
}

}  // namespace

Experiment icl_experiment() {
  Experiment e;
  e.name = "icl";
  e.paper = 2;
  e.summary =
      "in-context linear regression (linear attention): simplified Muon's iterations are flat "
      "in κ(Λ), GD's grow like κ³";
  e.full_runtime = "about 7 minutes (425 s measured on a loaded 2-core machine)";
  e.knobs = {
      {"forms", "population,prompts", "population,prompts",
       "population (closed-form loss) and/or prompts (sampled prompts, autograd)"},
      {"kappas", "1,3,10,30", "1,3,10,30,100", "κ(Λ) grid of the population form"},
      {"prompt_kappas", "1,3,10,30", "1,3,10,30,100", "κ(Λ) grid of the finite-prompt form"},
      {"claim_min_kappa", "3", "3",
       "claims use κ ≥ this (κ = 1 is Λ = I: one scalar mode, no conditioning to remove)"},
      {"d", "8", "8", "dimension of x"},
      {"rotate", "true", "true", "Λ in a random basis (false: diagonal, where Adam is exact)"},
      {"prompts", "1000", "1000", "B, prompts sampled once (finite form)"},
      {"length", "200", "200", "N, examples per prompt (finite form)"},
      {"cap", "200000", "3000000", "iteration cap, population form"},
      {"prompt_cap", "20000", "200000", "iteration cap, finite form"},
      {"prompt_decay", "0.99", "0.99",
       "ρ of both spectral methods in the finite form (msign_decay/muon_decay: population form); "
       "sampling noise tilts the gradient off Λ's eigenbasis and 0.97 stalls near 1e-3 at κ = 30"},
  };
  // Full mode: η = 1/l_max³ (the reference GD step of docs/algorithms.md) and 1.9/l_max³ only: at κ = 100 every GD run
  // takes millions of iterations.
  const auto race = race_knobs({"2", "2", "0.5,1,1.5,1.9", "0.01,0.03,0.1,0.3,1",
                                "in units of κ = ‖Γ*‖_op", "1,1.9"});
  e.knobs.insert(e.knobs.end(), race.begin(), race.end());
  e.run = run;
  return e;
}

}  // namespace lab
}  // namespace specopt
