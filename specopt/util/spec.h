#pragma once
// Text specs of the form "name:key=value,key=value" (convex maps "schatten:q=3", schedules
// "warmup_cosine:warmup=100,total=1000"): one parser, so every registry reports errors alike.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace specopt {

struct Spec {
  std::string name;    // before the first ':', trimmed
  std::string params;  // after it ("" when there is no ':')
};

// Splits a spec. Throws "Empty <kind> name in '<spec>' (known: ...)" for an empty name and
// "<name>: nothing after ':'" for a dangling colon.
Spec split_spec(const std::string& spec, const char* kind, const std::vector<std::string>& known);

// "a, b, c".
std::string join_names(const std::vector<std::string>& names);

// The whole of `s` as a finite number / a 64-bit integer (leading blanks allowed, nothing
// after): true and `out` set, or false and `out` untouched. The one strict number reader of
// specs, `--set` knobs and CLI options.
bool parse_finite_number(const std::string& s, double& out);
bool parse_integer(const std::string& s, int64_t& out);

// The key=value pairs of one spec, checked against the keys its owner accepts. `noun` names
// a key in messages ("parameter", "option"): "schatten: unknown parameter 'r' (known: q)".
class SpecParams {
 public:
  SpecParams(std::string owner, const std::string& text, std::vector<std::string> known,
             std::string noun = "parameter");

  bool has(const std::string& key) const { return values_.count(key) > 0; }
  // The raw text; throws "<owner>: missing required <noun> '<key>' (e.g. '<example>')".
  const std::string& raw(const std::string& key, const char* example = nullptr) const;
  // A number ("inf" accepted: owners validate ranges); required, or `fallback` when absent.
  double number(const std::string& key, const char* example = nullptr) const;
  double number_or(const std::string& key, double fallback) const;
  int64_t integer(const std::string& key, const char* example = nullptr) const;
  int64_t integer_or(const std::string& key, int64_t fallback) const;

 private:
  std::string owner_, noun_;
  std::map<std::string, std::string> values_;
};

}  // namespace specopt
