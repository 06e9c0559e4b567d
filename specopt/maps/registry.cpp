#include "specopt/maps/registry.h"

#include <c10/util/Exception.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>

#include "specopt/maps/maps.h"

namespace specopt {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out;
}

// The key=value pairs of one spec, checked against the keys the map accepts.
class Params {
 public:
  Params(std::string map, const std::string& text, const std::vector<std::string>& known)
      : map_(std::move(map)) {
    if (trim(text).empty()) return;
    size_t start = 0;
    while (true) {
      const auto comma = text.find(',', start);
      const auto item = trim(text.substr(start, comma == std::string::npos ? std::string::npos
                                                                             : comma - start));
      const auto eq = item.find('=');
      TORCH_CHECK(eq != std::string::npos && eq > 0, map_, ": malformed parameter '", item,
                  "' (expected key=value)");
      const auto key = trim(item.substr(0, eq));
      const auto value = trim(item.substr(eq + 1));
      bool ok = false;
      for (const auto& k : known) ok = ok || k == key;
      if (known.empty()) {
        TORCH_CHECK(false, map_, ": takes no parameters, got '", item, "'");
      }
      TORCH_CHECK(ok, map_, ": unknown parameter '", key, "' (known: ", join(known), ")");
      TORCH_CHECK(!values_.count(key), map_, ": parameter '", key, "' given twice");
      TORCH_CHECK(!value.empty(), map_, ": empty value for parameter '", key, "'");
      values_[key] = value;
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }

  bool has(const std::string& key) const { return values_.count(key) > 0; }

  const std::string& raw(const std::string& key, const char* example) const {
    auto it = values_.find(key);
    TORCH_CHECK(it != values_.end(), map_, ": missing required parameter '", key, "' (e.g. '",
                example, "')");
    return it->second;
  }

  double number(const std::string& key, const char* example) const {
    const auto& s = raw(key, example);
    if (s == "inf" || s == "+inf" || s == "infinity") return INFINITY;
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(s.c_str(), &end);
    TORCH_CHECK(end != s.c_str() && *end == '\0' && errno != ERANGE && !std::isnan(v), map_,
                ": malformed value for ", key, ": '", s, "' (expected a number)");
    return v;
  }

  int64_t integer(const std::string& key, const char* example) const {
    const auto& s = raw(key, example);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    TORCH_CHECK(end != s.c_str() && *end == '\0' && errno != ERANGE, map_,
                ": malformed value for ", key, ": '", s, "' (expected an integer)");
    return static_cast<int64_t>(v);
  }

 private:
  std::string map_;
  std::map<std::string, std::string> values_;
};

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
  return {"nuclear", "spectral", "frobenius", "half_sq_frobenius", "l1", "schatten",
          "ky_fan",  "power",    "huber",     "relativistic",      "logcosh"};
}

std::unique_ptr<ConvexMap> make_convex_map(const std::string& spec) {
  const auto colon = spec.find(':');
  const auto name = trim(spec.substr(0, colon));
  const auto rest = colon == std::string::npos ? std::string() : spec.substr(colon + 1);
  TORCH_CHECK(!name.empty(), "Empty convex map name in '", spec, "' (known: ",
              join(convex_map_names()), ")");
  TORCH_CHECK(colon == std::string::npos || !trim(rest).empty(), name,
              ": nothing after ':' in '", spec, "'");

  if (name == "nuclear") {
    Params p(name, rest, {"method"});
    PolarOptions o = PolarOptions().method(PolarMethod::svd);
    if (p.has("method")) {
      o.method(with_context(name, [&] { return parse_polar_method(p.raw("method", "")); }));
    }
    return std::make_unique<NuclearMap>(o);
  }
  if (name == "spectral" || name == "frobenius" || name == "half_sq_frobenius" || name == "l1" ||
      name == "logcosh") {
    Params check(name, rest, {});  // throws on any parameter
    if (name == "spectral") return std::make_unique<SpectralNormMap>();
    if (name == "frobenius") return std::make_unique<FrobeniusMap>();
    if (name == "half_sq_frobenius") return std::make_unique<HalfSqFrobeniusMap>();
    if (name == "l1") return std::make_unique<L1Map>();
    return std::make_unique<LogCoshMap>();
  }
  if (name == "schatten") {
    Params p(name, rest, {"q"});
    return std::make_unique<SchattenMap>(p.number("q", "schatten:q=3"));
  }
  if (name == "ky_fan") {
    Params p(name, rest, {"k"});
    return std::make_unique<KyFanMap>(p.integer("k", "ky_fan:k=4"));
  }
  if (name == "power") {
    Params p(name, rest, {"p", "method"});
    const double pv = p.number("p", "power:p=0.5");
    PowerOptions o = PowerOptions().method(PowerMethod::svd);
    if (p.has("method")) {
      o.method(with_context(name, [&] { return parse_power_method(p.raw("method", "")); }));
    }
    return std::make_unique<PowerMap>(pv, o);
  }
  if (name == "huber") {
    Params p(name, rest, {"delta"});
    return std::make_unique<HuberMap>(p.number("delta", "huber:delta=0.5"));
  }
  if (name == "relativistic") {
    Params p(name, rest, {"delta"});
    return std::make_unique<RelativisticMap>(p.number("delta", "relativistic:delta=1"));
  }
  TORCH_CHECK(false, "Unknown convex map '", name, "' (known: ", join(convex_map_names()), ")");
}

}  // namespace specopt
