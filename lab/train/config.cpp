#include "lab/train/config.h"

#include <toml++/toml.h>

#include "lab/train/config_registry.h"
#include "specopt/optim/optimizer_key.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace specopt {
namespace lab {

namespace {

[[noreturn]] void bad(const std::string& key, const std::string& why) {
  throw std::invalid_argument("config key '" + key + "': " + why);
}

std::string describe(const toml::node& n) {
  std::ostringstream os;
  if (n.is_string()) {
    os << '\'' << *n.value<std::string>() << '\'';
  } else if (n.is_table()) {
    os << "a table";
  } else if (n.is_array()) {
    os << "an array";
  } else {
    n.visit([&](auto&& v) { os << v; });
  }
  return os.str();
}

// One handler per known key of a section: reads the node into the config, naming the key.
using Handler = std::function<void(const toml::node&, const std::string& key)>;

Handler integer(int64_t& out, int64_t min) {
  return [&out, min](const toml::node& n, const std::string& key) {
    if (!n.is_integer()) bad(key, "expected an integer, got " + describe(n));
    const auto v = *n.value<int64_t>();
    if (v < min) bad(key, std::to_string(v) + " must be >= " + std::to_string(min));
    out = v;
  };
}

Handler real(double& out, double min, bool allow_equal_min) {
  return [&out, min, allow_equal_min](const toml::node& n, const std::string& key) {
    if (!n.is_number()) bad(key, "expected a number, got " + describe(n));
    const double v = *n.value<double>();
    if (!std::isfinite(v)) bad(key, describe(n) + " is not finite");
    if (allow_equal_min ? v < min : v <= min) {
      std::ostringstream os;
      os << v << " must be " << (allow_equal_min ? ">= " : "> ") << min;
      bad(key, os.str());
    }
    out = v;
  };
}

Handler boolean(bool& out) {
  return [&out](const toml::node& n, const std::string& key) {
    if (!n.is_boolean()) bad(key, "expected true or false, got " + describe(n));
    out = *n.value<bool>();
  };
}

Handler text(std::string& out, std::vector<std::string> choices = {}) {
  return [&out, choices](const toml::node& n, const std::string& key) {
    if (!n.is_string()) bad(key, "expected a string, got " + describe(n));
    const auto v = *n.value<std::string>();
    if (!choices.empty()) {
      std::string known;
      for (const auto& c : choices) {
        if (c == v) {
          out = v;
          return;
        }
        known += (known.empty() ? "" : ", ") + c;
      }
      bad(key, "'" + v + "' is not one of: " + known);
    }
    out = v;
  };
}

// optimizer.name: the names `specopt list` shows are accepted too, ignoring case and '_'
// ("Muon", "AdamS", "LionK", "SpectralAdam", "mSGDZ"; "Hybrid" is the default Muon hybrid);
// stored as optimizer_names() spells it: lower case without '_' ("adams", "spectraladam").
Handler optimizer_name(std::string& out) {
  return [&out](const toml::node& n, const std::string& key) {
    if (!n.is_string()) bad(key, "expected a string, got " + describe(n));
    const auto v = *n.value<std::string>();
    if (optimizer_key(v) == "hybrid") {
      out = "muon";
      return;
    }
    std::string known;
    for (const auto& c : optimizer_names()) {
      if (c == optimizer_key(v)) {
        out = c;
        return;
      }
      known += (known.empty() ? "" : ", ") + c;
    }
    bad(key, "'" + v + "' is not one of: " + known + " (any case; 'hybrid' = muon)");
  };
}

// schedule.warmup / schedule.decay: a whole number of steps, or a fraction of train.steps in
// [0, 1) (what a run of any length can keep).
Handler steps_or_fraction(double& out) {
  return [&out](const toml::node& n, const std::string& key) {
    if (n.is_integer()) {
      const auto v = *n.value<int64_t>();
      if (v < 0) bad(key, std::to_string(v) + " must be >= 0");
      out = static_cast<double>(v);
      return;
    }
    if (!n.is_floating_point()) bad(key, "expected a number, got " + describe(n));
    const double v = *n.value<double>();
    if (!(v >= 0 && v < 1)) {
      bad(key, describe(n) + " is neither a whole number of steps (e.g. 100) nor a fraction of "
                             "train.steps in [0, 1) (e.g. 0.05)");
    }
    out = v;
  };
}

// An array of partition patterns (specopt/optim/partition.h): ECMAScript regular expressions,
// searched in parameter names ignoring case.
Handler patterns(std::vector<std::string>& out) {
  return [&out](const toml::node& n, const std::string& key) {
    const auto* a = n.as_array();
    if (a == nullptr) bad(key, "expected an array of strings, got " + describe(n));
    std::vector<std::string> v;
    for (const auto& e : *a) {
      if (!e.is_string()) bad(key, "expected an array of strings, got an element " + describe(e));
      const auto p = *e.value<std::string>();
      if (p.empty()) bad(key, "an empty pattern would match every parameter name");
      try {
        std::regex re(p, std::regex::ECMAScript | std::regex::icase);
      } catch (const std::regex_error& err) {
        bad(key, "'" + p + "' is not a valid regular expression (" + err.what() + ")");
      }
      v.push_back(p);
    }
    out = v;
  };
}

// toml++ 3.3 aborts (an assertion, also in release builds of the library) on a table header
// whose first character is not a key character ("[=]", "[\x01]") and on '}' where an array
// expects a value ("x = [}"), and reaches undefined behaviour on some non-ASCII characters
// outside strings (all found by fuzz/config_fuzz.cpp and fuzz/set_fuzz.cpp): such text is
// refused here first, naming the line. Strings and comments are tracked so that their
// contents are not mistaken for code.
void check_toml_text(const std::string& text, const std::string& source) {
  enum { code, basic, literal, basic_ml, literal_ml, comment } state = code;
  bool line_start = true;
  int line = 1;
  char last = 0;  // the last character of code (not blank, not in a comment)
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (ch == '\n') {
      ++line;
      line_start = true;
      if (state == comment || state == basic || state == literal) state = code;
      continue;
    }
    switch (state) {
      case code:
        if (line_start && (ch == ' ' || ch == '\t')) continue;
        if (line_start && ch == '[') {
          size_t j = i + 1;
          if (j < text.size() && text[j] == '[') ++j;
          while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) ++j;
          const unsigned char k = j < text.size() ? static_cast<unsigned char>(text[j]) : 0;
          if (!(std::isalnum(k) || k == '_' || k == '-' || k == '"' || k == '\'')) {
            throw std::invalid_argument(source + ":" + std::to_string(line) +
                                        ": invalid TOML: a table header must start with a key");
          }
        }
        line_start = false;
        // Outside strings and comments only ASCII is valid for a config (keys are ASCII);
        // toml++ 3.3 reaches undefined behaviour classifying some other characters there.
        if (static_cast<unsigned char>(ch) >= 0x7f ||
            (static_cast<unsigned char>(ch) < 0x20 && ch != '\t' && ch != '\r')) {
          throw std::invalid_argument(source + ":" + std::to_string(line) +
                                      ": invalid TOML: unexpected character (byte " +
                                      std::to_string(static_cast<unsigned char>(ch)) +
                                      ") outside a string or comment");
        }
        // toml++ also aborts on '}' where an array expects a value: "[}", "[1, }".
        if (ch == '}' && (last == '[' || last == ',')) {
          throw std::invalid_argument(source + ":" + std::to_string(line) +
                                      ": invalid TOML: '}' where a value is expected");
        }
        if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '#') last = ch;
        if (ch == '#') {
          state = comment;
        } else if (text.compare(i, 3, "\"\"\"") == 0) {
          state = basic_ml;
          i += 2;
        } else if (text.compare(i, 3, "'''") == 0) {
          state = literal_ml;
          i += 2;
        } else if (ch == '"') {
          state = basic;
        } else if (ch == '\'') {
          state = literal;
        }
        break;
      case basic:
      case basic_ml:
        if (ch == '\\') {
          ++i;
        } else if (state == basic_ml && text.compare(i, 3, "\"\"\"") == 0) {
          state = code;
          i += 2;
        } else if (state == basic && ch == '"') {
          state = code;
        }
        break;
      case literal:
        if (ch == '\'') state = code;
        break;
      case literal_ml:
        if (text.compare(i, 3, "'''") == 0) {
          state = code;
          i += 2;
        }
        break;
      case comment:
        break;
    }
  }
}

// "section.key=value" → table[section][key] = value parsed as TOML (a bare word is a string).
void apply_set(toml::table& root, const std::string& set) {
  for (const char ch : set) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      throw std::invalid_argument("--set '" + set + "': control character (a newline?) in it");
    }
  }
  const auto eq = set.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw std::invalid_argument("--set '" + set + "': expected section.key=value");
  }
  const std::string key = set.substr(0, eq), value = set.substr(eq + 1);
  const auto dot = key.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == key.size() ||
      key.find('.', dot + 1) != std::string::npos) {
    throw std::invalid_argument("--set '" + set + "': key '" + key +
                                "' must be section.key (e.g. optimizer.lr)");
  }
  const std::string section = key.substr(0, dot), name = key.substr(dot + 1);
  toml::table parsed;
  try {
    check_toml_text("v = " + value, "--set");  // what toml++ must not see (above)
    parsed = toml::parse("v = " + value);
  } catch (const std::exception&) {
    parsed = toml::table{{"v", value}};  // a bare word: a string
  }
  if (!root.contains(section)) root.insert(section, toml::table{});
  auto* t = root[section].as_table();
  if (t == nullptr) throw std::invalid_argument("--set '" + set + "': '" + section + "' is not a section");
  t->insert_or_assign(name, *parsed["v"].node());
}

}  // namespace


namespace {
int64_t in_steps(double value, int64_t total) {
  return value < 1 ? std::llround(value * static_cast<double>(total)) : static_cast<int64_t>(value);
}
}  // namespace

int64_t TrainConfig::warmup_steps() const { return in_steps(schedule.warmup, steps); }
int64_t TrainConfig::decay_steps() const { return in_steps(schedule.decay, steps); }

std::string TrainConfig::schedule_spec() const {
  std::ostringstream os;
  os.precision(17);
  if (schedule.name == "constant") return "constant";
  if (schedule.name == "warmup_cosine") {
    os << "warmup_cosine:warmup=" << warmup_steps() << ",total=" << steps << ",min=" << schedule.min;
  } else {
    os << "wsd:warmup=" << warmup_steps() << ",total=" << steps << ",decay=" << decay_steps()
       << ",min=" << schedule.min;
  }
  return os.str();
}

namespace {

// Warmup (+ the wsd decay) must fit in the run; the message says which key to change.
void check_schedule_length(const TrainConfig& c) {
  const auto& s = c.schedule;
  const int64_t warmup = c.warmup_steps(), decay = s.name == "wsd" ? c.decay_steps() : 0;
  if (warmup + decay <= c.steps) return;
  auto as_written = [&](const char* key, double v, int64_t steps) {
    std::ostringstream os;
    os << "schedule." << key << " = " << v;
    if (v < 1) os << " (" << steps << " steps)";
    return os.str();
  };
  std::string what = as_written("warmup", s.warmup, warmup);
  if (s.name == "wsd") what += " + " + as_written("decay", s.decay, decay);
  bad(warmup > c.steps || s.name != "wsd" ? "schedule.warmup" : "schedule.decay",
      what + " exceeds train.steps = " + std::to_string(c.steps) + ": lower " +
          (s.name == "wsd" ? "them" : "it") + ", or give " + (s.name == "wsd" ? "them" : "it") +
          " as a fraction of the run (e.g. warmup = 0.05" + (s.name == "wsd" ? ", decay = 0.2" : "") +
          "), which follows train.steps");
}

}  // namespace

TrainConfig parse_train_config(const std::string& toml_text, const std::vector<std::string>& sets,
                               const std::string& source) {
  toml::table root;
  check_toml_text(toml_text, source);
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source << ":" << e.source().begin.line << ":" << e.source().begin.column
       << ": invalid TOML: " << e.description();
    throw std::invalid_argument(os.str());
  }
  for (const auto& s : sets) apply_set(root, s);

  TrainConfig c;
  auto& m = c.model;
  auto& d = c.data;
  auto& o = c.optimizer;
  auto& s = c.schedule;
  std::map<std::string, std::map<std::string, Handler>> sections = {
      {"model",
       {{"kind", text(m.kind, {"gpt", "mlp", "cnn"})},
        {"n_layer", integer(m.n_layer, 1)},
        {"n_head", integer(m.n_head, 1)},
        {"d_model", integer(m.d_model, 1)},
        {"context", integer(m.context, 2)},
        {"hidden", integer(m.hidden, 1)},
        {"depth", integer(m.depth, 1)},
        {"channels", integer(m.channels, 1)}}},
      {"data",
       {{"dataset", text(d.dataset, {"brown", "fashion_mnist"})},
        {"dir", text(d.dir)},
        {"train_limit", integer(d.train_limit, 0)},
        {"val_limit", integer(d.val_limit, 0)},
        {"eval_batches", integer(d.eval_batches, 1)}}},
      {"optimizer",
       {{"name", optimizer_name(o.name)},
        {"lr", real(o.lr, 0, false)},
        {"vector_lr", real(o.vector_lr, 0, true)},
        {"momentum", real(o.momentum, 0, true)},
        {"nesterov", boolean(o.nesterov)},
        {"beta1", real(o.beta1, 0, true)},
        {"beta2", real(o.beta2, 0, true)},
        {"eps", real(o.eps, 0, false)},
        {"weight_decay", real(o.weight_decay, 0, true)},
        {"vector_weight_decay", real(o.vector_weight_decay, 0, true)},
        {"cautious_weight_decay", boolean(o.cautious_weight_decay)},
        {"p", real(o.p, 0, true)},
        {"shape_rule", text(o.shape_rule, {"original", "match_rms_adamw", "none", "spectral_norm"})},
        {"split_qkv", boolean(o.split_qkv)},
        {"map", text(o.map)},
        {"slice_min_numel", integer(o.slice_min_numel, 0)},
        {"adamw_patterns", patterns(o.adamw_patterns)},
        {"spectral_patterns", patterns(o.spectral_patterns)},
        {"qk_clip_tau", real(o.qk_clip_tau, 0, true)}}},
      {"schedule",
       {{"name", text(s.name, {"constant", "warmup_cosine", "wsd"})},
        {"warmup", steps_or_fraction(s.warmup)},
        {"decay", steps_or_fraction(s.decay)},
        {"min", real(s.min, 0, true)}}},
      {"train",
       {{"steps", integer(c.steps, 1)},
        {"batch_size", integer(c.batch_size, 1)},
        {"grad_clip", real(c.grad_clip, 0, true)},
        {"eval_interval", integer(c.eval_interval, 1)},
        {"checkpoint_interval", integer(c.checkpoint_interval, 0)},
        {"log_interval", integer(c.log_interval, 1)},
        {"seed", [&c](const toml::node& n, const std::string& key) {
           int64_t v = 0;
           integer(v, 0)(n, key);
           c.seed = static_cast<uint64_t>(v);
         }},
        {"device", text(c.device)},
        {"threads", integer(c.threads, 0)},
        {"out_dir", text(c.out_dir)}}},
  };

  for (auto&& [sname, snode] : root) {
    const std::string section(sname.str());
    auto sit = sections.find(section);
    if (sit == sections.end()) {
      bad(section, "unknown section (known: data, model, optimizer, schedule, train)");
    }
    const auto* table = snode.as_table();
    if (table == nullptr) bad(section, "expected a [" + section + "] table, got " + describe(snode));
    for (auto&& [kname, knode] : *table) {
      const std::string key = section + "." + std::string(kname.str());
      auto kit = sit->second.find(std::string(kname.str()));
      if (kit == sit->second.end()) {
        std::string known;
        for (const auto& k : sit->second) known += (known.empty() ? "" : ", ") + k.first;
        bad(key, "unknown key (known in [" + section + "]: " + known + ")");
      }
      kit->second(knode, key);
    }
  }

  // Cross-field checks.
  if (o.beta1 >= 1) bad("optimizer.beta1", std::to_string(o.beta1) + " must be < 1");
  if (o.beta2 >= 1) bad("optimizer.beta2", std::to_string(o.beta2) + " must be < 1");
  if (o.momentum >= 1) bad("optimizer.momentum", std::to_string(o.momentum) + " must be < 1");
  if ((o.name == "spectraladam" || o.name == "spectralsgd") && o.p < 0) {
    bad("optimizer.p", "required for optimizer '" + o.name + "' (a power in [0, 1])");
  }
  if (o.p > 1) bad("optimizer.p", std::to_string(o.p) + " must be in [0, 1]");
  if (m.kind == "gpt" && d.dataset != "brown") {
    bad("model.kind", "'gpt' needs data.dataset = 'brown', got '" + d.dataset + "'");
  }
  if (m.kind != "gpt" && d.dataset != "fashion_mnist") {
    bad("model.kind", "'" + m.kind + "' needs data.dataset = 'fashion_mnist', got '" + d.dataset + "'");
  }
  if (o.qk_clip_tau > 0 && m.kind != "gpt") {
    bad("optimizer.qk_clip_tau", "QK-clip rescales attention weights: model.kind = '" + m.kind +
                                     "' has none (use gpt, or 0 to turn it off)");
  }
  if (m.kind == "gpt" && m.d_model % m.n_head != 0) {
    bad("model.d_model", std::to_string(m.d_model) + " is not divisible by model.n_head = " +
                             std::to_string(m.n_head));
  }
  if (s.min > 1) bad("schedule.min", std::to_string(s.min) + " must be in [0, 1]");
  if (s.name == "wsd" && s.decay == 0) {
    bad("schedule.decay", "required for 'wsd' (steps >= 1, or a fraction of train.steps, e.g. 0.2)");
  }
  check_schedule_length(c);
  if (c.out_dir.empty()) bad("train.out_dir", "must not be empty (the run directory)");
  for (const char* key : {"adamw_patterns", "spectral_patterns"}) {
    const auto& list = std::string(key) == "adamw_patterns" ? o.adamw_patterns : o.spectral_patterns;
    if (!list.empty() && (o.name == "adamw" || o.name == "lion")) {  // stored as optimizer_key
      bad(std::string("optimizer.") + key, "optimizer '" + o.name + "' updates every parameter "
          "alike, there is no partition to configure (the patterns apply to the hybrids: muon, "
          "adams, ...)");
    }
  }
  if (o.name == "lionk") {
    const std::string why = convex_map_spec_error(o.map);
    if (!why.empty()) bad("optimizer.map", "'" + o.map + "': " + why);
  }
  // More intra-op threads than the machine has only oversubscribes it (100000 stalls it).
  const int64_t hardware = std::max<int64_t>(1, std::thread::hardware_concurrency());
  if (c.threads > hardware) {
    bad("train.threads", std::to_string(c.threads) + " exceeds the " + std::to_string(hardware) +
                             " hardware threads of this machine (0 leaves LibTorch's default)");
  }
  if (c.device != "cpu" && c.device.rfind("cuda", 0) != 0) {
    bad("train.device", "'" + c.device + "' is not 'cpu' or 'cuda[:N]'");
  }
  return c;
}

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& sets) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("config file '" + path + "' cannot be read");
  std::ostringstream buf;
  buf << in.rdbuf();
  return parse_train_config(buf.str(), sets, path);
}

}  // namespace lab
}  // namespace specopt
