// `specopt list`: what the tool and the library offer — experiments, optimizers, convex maps,
// matrix-function methods — as text or JSON.
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <specopt/maps/registry.h>
#include <specopt/matfun/newton_schulz.h>
#include <specopt/matfun/polar.h>
#include <specopt/matfun/spectral_power.h>
#include <specopt/optim/registry.h>

#include "commands.h"
#include "lab/experiment.h"
#include "lab/report.h"

namespace specopt {
namespace cli {

namespace {

// The optimizers of specopt/optim (the library's registry, specopt/optim/registry.h), and the
// hybrid setup built from them.
std::vector<std::pair<std::string, std::string>> optimizers() {
  std::vector<std::pair<std::string, std::string>> all;
  for (const auto& r : registered_optimizers()) all.emplace_back(r.name, r.summary);
  all.emplace_back("Hybrid", "spectral optimizer for hidden matrices + AdamW for the rest");
  return all;
}

nlohmann::json listing() {
  nlohmann::json j;
  j["experiments"] = nlohmann::json::array();
  for (const auto& e : lab::experiments()) {
    j["experiments"].push_back({{"name", e.name}, {"paper", e.paper}, {"summary", e.summary},
                                {"paper_title", lab::paper_title(e.paper)}});
  }
  j["optimizers"] = nlohmann::json::array();
  for (const auto& [name, what] : optimizers()) {
    j["optimizers"].push_back({{"name", name}, {"summary", what}});
  }
  j["convex_maps"] = convex_map_names();
  std::vector<std::string> schedules = NsSchedule::names();
  schedules.push_back("custom");
  j["matfun"] = {{"polar", polar_method_names()},
                 {"newton_schulz_schedules", schedules},
                 {"spectral_power", power_method_names()}};
  return j;
}

std::string joined(const nlohmann::json& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : " ") + n.get<std::string>();
  return out;
}

int list(bool json) {
  const auto j = listing();
  if (json) {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "experiments (specopt run NAME; specopt reproduce runs them all):\n";
  for (const auto& e : j["experiments"]) {
    const int paper = e["paper"].get<int>();
    std::cout << fmt::format("  {:<16} {:<8} {}\n", e["name"].get<std::string>(),
                             paper ? "paper " + std::to_string(paper) : std::string("study"),
                             e["summary"].get<std::string>());
  }
  if (j["experiments"].empty()) std::cout << "  (none registered)\n";
  std::cout << "optimizers:\n";
  for (const auto& o : j["optimizers"]) {
    std::cout << fmt::format("  {:<16} {}\n", o["name"].get<std::string>(),
                             o["summary"].get<std::string>());
  }
  std::cout << "convex maps (LionK):\n  " << joined(j["convex_maps"]) << "\n";
  std::cout << "matrix-function methods:\n"
            << "  polar:                   " << joined(j["matfun"]["polar"]) << "\n"
            << "  newton_schulz schedules: " << joined(j["matfun"]["newton_schulz_schedules"]) << "\n"
            << "  spectral power:          " << joined(j["matfun"]["spectral_power"]) << "\n";
  return 0;
}

}  // namespace

void register_list(CLI::App& app, Runners& runners) {
  auto json = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand(
      "list", "List experiments, optimizers, convex maps and matrix-function methods");
  sub->add_flag("--json", *json, "Print JSON instead of text");
  runners.emplace_back(sub, [json] { return list(*json); });
}

}  // namespace cli
}  // namespace specopt
