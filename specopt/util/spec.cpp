#include "specopt/util/spec.h"

#include <c10/util/Exception.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace specopt {

namespace {
std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}
}  // namespace

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out;
}

Spec split_spec(const std::string& spec, const char* kind, const std::vector<std::string>& known) {
  const auto colon = spec.find(':');
  Spec s{trim(spec.substr(0, colon)),
         colon == std::string::npos ? std::string() : spec.substr(colon + 1)};
  TORCH_CHECK(!s.name.empty(), "Empty ", kind, " name in '", spec, "' (known: ", join_names(known),
              ")");
  TORCH_CHECK(colon == std::string::npos || !trim(s.params).empty(), s.name,
              ": nothing after ':' in '", spec, "'");
  return s;
}

SpecParams::SpecParams(std::string owner, const std::string& text, std::vector<std::string> known,
                       std::string noun)
    : owner_(std::move(owner)), noun_(std::move(noun)) {
  if (trim(text).empty()) return;
  size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    const auto item =
        trim(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    TORCH_CHECK(!known.empty(), owner_, ": takes no ", noun_, "s, got '", item, "'");
    const auto eq = item.find('=');
    TORCH_CHECK(eq != std::string::npos && eq > 0, owner_, ": malformed ", noun_, " '", item,
                "' (expected key=value)");
    const auto key = trim(item.substr(0, eq));
    const auto value = trim(item.substr(eq + 1));
    bool ok = false;
    for (const auto& k : known) ok = ok || k == key;
    TORCH_CHECK(ok, owner_, ": unknown ", noun_, " '", key, "' (known: ", join_names(known), ")");
    TORCH_CHECK(!values_.count(key), owner_, ": ", noun_, " '", key, "' given twice");
    TORCH_CHECK(!value.empty(), owner_, ": empty value for ", noun_, " '", key, "'");
    values_[key] = value;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
}

const std::string& SpecParams::raw(const std::string& key, const char* example) const {
  auto it = values_.find(key);
  if (example) {
    TORCH_CHECK(it != values_.end(), owner_, ": missing required ", noun_, " '", key, "' (e.g. '",
                example, "')");
  } else {
    TORCH_CHECK(it != values_.end(), owner_, ": missing required ", noun_, " '", key, "'");
  }
  return it->second;
}

bool parse_finite_number(const std::string& s, double& out) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0' || errno == ERANGE || !std::isfinite(v)) return false;
  out = v;
  return true;
}

bool parse_integer(const std::string& s, int64_t& out) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (end == s.c_str() || *end != '\0' || errno == ERANGE) return false;
  out = static_cast<int64_t>(v);
  return true;
}

double SpecParams::number(const std::string& key, const char* example) const {
  const auto& s = raw(key, example);
  if (s == "inf" || s == "+inf" || s == "infinity") return INFINITY;
  double v = 0;
  TORCH_CHECK(parse_finite_number(s, v), owner_, ": malformed value for ", key, ": '", s,
              "' (expected a number)");
  return v;
}

double SpecParams::number_or(const std::string& key, double fallback) const {
  return has(key) ? number(key) : fallback;
}

int64_t SpecParams::integer(const std::string& key, const char* example) const {
  const auto& s = raw(key, example);
  int64_t v = 0;
  TORCH_CHECK(parse_integer(s, v), owner_, ": malformed value for ", key, ": '", s,
              "' (expected an integer)");
  return v;
}

int64_t SpecParams::integer_or(const std::string& key, int64_t fallback) const {
  return has(key) ? integer(key) : fallback;
}

}  // namespace specopt
