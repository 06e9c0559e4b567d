#include "specopt/maps/registry.h"

#include <c10/util/Exception.h>

#include <cmath>

#include "specopt/maps/half_sq_nuclear.h"
#include "specopt/maps/maps.h"
#include "specopt/util/spec.h"

namespace specopt {

namespace {

// Re-raises a parse error of an enum option (e.g. an unknown polar method) with the map's name.
template <class F>
auto with_context(const std::string& map, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, map, ": ", e.what_without_backtrace());
  }
}

}  // namespace

std::vector<std::string> convex_map_names() {
  return {"nuclear", "spectral",     "frobenius",    "half_sq_frobenius",
          "half_sq_nuclear", "l1", "schatten", "ky_fan", "power", "huber", "relativistic",
          "logcosh"};
}

std::unique_ptr<ConvexMap> make_convex_map(const std::string& spec) {
  const auto parts = split_spec(spec, "convex map", convex_map_names());
  const auto& name = parts.name;
  const auto& rest = parts.params;

  if (name == "nuclear") {
    SpecParams p(name, rest, {"method", "steps", "schedule", "eps", "tol"});
    PolarOptions o = PolarOptions().method(PolarMethod::svd);
    if (p.has("method")) {
      o.method(with_context(name, [&] { return parse_polar_method(p.raw("method", "")); }));
    }
    if (p.has("schedule")) {
      o.schedule(with_context(name, [&] { return NsSchedule::from_name(p.raw("schedule", "")); }));
    }
    o.steps(static_cast<int>(p.integer_or("steps", o.steps())));
    o.eps(p.number_or("eps", o.eps()));
    o.tol(p.number_or("tol", o.tol()));
    return std::make_unique<NuclearMap>(o);
  }
  if (name == "spectral" || name == "frobenius" || name == "half_sq_frobenius" ||
      name == "half_sq_nuclear" || name == "l1" || name == "logcosh") {
    SpecParams check(name, rest, {});  // throws on any parameter
    if (name == "spectral") return std::make_unique<SpectralNormMap>();
    if (name == "frobenius") return std::make_unique<FrobeniusMap>();
    if (name == "half_sq_frobenius") return std::make_unique<HalfSqFrobeniusMap>();
    if (name == "half_sq_nuclear") return std::make_unique<HalfSqNuclearMap>();
    if (name == "l1") return std::make_unique<L1Map>();
    return std::make_unique<LogCoshMap>();
  }
  if (name == "schatten") {
    SpecParams p(name, rest, {"q"});
    return std::make_unique<SchattenMap>(p.number("q", "schatten:q=3"));
  }
  if (name == "ky_fan") {
    SpecParams p(name, rest, {"k"});
    return std::make_unique<KyFanMap>(p.integer("k", "ky_fan:k=4"));
  }
  if (name == "power") {
    SpecParams p(name, rest, {"p", "method"});
    const double pv = p.number("p", "power:p=0.5");
    PowerOptions o = PowerOptions().method(PowerMethod::svd);
    if (p.has("method")) {
      o.method(with_context(name, [&] { return parse_power_method(p.raw("method", "")); }));
    }
    return std::make_unique<PowerMap>(pv, o);
  }
  if (name == "huber") {
    SpecParams p(name, rest, {"delta"});
    return std::make_unique<HuberMap>(p.number("delta", "huber:delta=0.5"));
  }
  if (name == "relativistic") {
    SpecParams p(name, rest, {"delta"});
    return std::make_unique<RelativisticMap>(p.number("delta", "relativistic:delta=1"));
  }
  TORCH_CHECK(false, "Unknown convex map '", name, "' (known: ", join_names(convex_map_names()), ")");
}

}  // namespace specopt
