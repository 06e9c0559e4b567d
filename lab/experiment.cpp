#include "lab/experiment.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include <sys/wait.h>

#include "lab/atomic_file.h"
#include "lab/environment.h"
#include "specopt/util/spec.h"

namespace specopt {
namespace lab {

namespace fs = std::filesystem;

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::reproduced: return "reproduced";
    case Verdict::not_reproduced: return "not_reproduced";
    case Verdict::partial: return "partial";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Params

namespace {

[[noreturn]] void bad_value(const std::string& key, const std::string& value,
                            const std::string& what) {
  throw std::invalid_argument("--set " + key + "=" + value + ": " + what);
}

double parse_real(const std::string& key, const std::string& all, const std::string& s) {
  double v = 0;
  if (!specopt::parse_finite_number(s, v)) bad_value(key, all, "'" + s + "' is not a finite number");
  return v;
}

std::int64_t parse_integer(const std::string& key, const std::string& all, const std::string& s) {
  std::int64_t v = 0;
  if (!specopt::parse_integer(s, v)) bad_value(key, all, "'" + s + "' is not an integer");
  return v;
}

std::vector<std::string> split_list(const std::string& key, const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + ",") {
    if (c == ',') {
      const auto b = cur.find_first_not_of(' ');
      const auto e = cur.find_last_not_of(' ');
      if (b == std::string::npos) bad_value(key, s, "empty list element");
      out.push_back(cur.substr(b, e - b + 1));
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

}  // namespace

const std::string& Params::text(const std::string& key) const {
  const auto it = values_.find(key);
  if (it == values_.end()) throw std::logic_error("experiment reads undeclared knob '" + key + "'");
  return it->second;
}

double Params::real(const std::string& key) const {
  const auto& s = text(key);
  return parse_real(key, s, s);
}

double Params::positive(const std::string& key) const {
  const double v = real(key);
  if (!(v > 0)) bad_value(key, text(key), "must be > 0");
  return v;
}

std::int64_t Params::integer(const std::string& key) const {
  const auto& s = text(key);
  return parse_integer(key, s, s);
}

std::int64_t Params::count(const std::string& key) const {
  const auto v = integer(key);
  if (v < 1) bad_value(key, text(key), "must be ≥ 1");
  return v;
}

bool Params::flag(const std::string& key) const {
  const auto& s = text(key);
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  bad_value(key, s, "expected true or false");
}

std::vector<double> Params::reals(const std::string& key) const {
  const auto& s = text(key);
  std::vector<double> out;
  for (const auto& item : split_list(key, s)) out.push_back(parse_real(key, s, item));
  return out;
}

std::vector<std::int64_t> Params::integers(const std::string& key) const {
  const auto& s = text(key);
  std::vector<std::int64_t> out;
  for (const auto& item : split_list(key, s)) out.push_back(parse_integer(key, s, item));
  return out;
}

std::vector<std::string> Params::texts(const std::string& key) const {
  return split_list(key, text(key));
}

nlohmann::json Params::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : values_) j[k] = v;
  return j;
}

// ---------------------------------------------------------------------------------------------
// RunContext

RunContext::RunContext(std::string out_dir, Params params, std::uint64_t seed, bool quick,
                       std::function<void(const std::string&)> progress)
    : out_dir_(std::move(out_dir)),
      params_(std::move(params)),
      seed_(seed),
      quick_(quick),
      progress_(std::move(progress)) {}

void RunContext::log(const std::string& line) const {
  if (progress_) progress_(line);
}

namespace {

std::string csv_cell(const nlohmann::json& cell) {
  if (cell.is_null()) return "";
  if (cell.is_number()) {
    const double v = cell.get<double>();
    if (!std::isfinite(v)) return "";  // gnuplot skips empty cells; NaN marks "no value"
    if (cell.is_number_integer()) return std::to_string(cell.get<long long>());
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return buf;
  }
  if (cell.is_boolean()) return cell.get<bool>() ? "1" : "0";
  std::string s = cell.is_string() ? cell.get<std::string>() : cell.dump();
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// gnuplot string literal (single quotes; a quote is doubled).
std::string gp_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q + "'";
}

void check_stem(const std::string& what, const std::string& stem) {
  if (stem.empty() || stem.find_first_of("/\\") != std::string::npos || stem[0] == '.') {
    throw std::invalid_argument(what + " name '" + stem + "' must be a plain file stem");
  }
}

}  // namespace

void RunContext::write_csv(const std::string& name, const std::vector<std::string>& columns,
                           const std::vector<std::vector<Cell>>& rows) {
  check_stem("CSV", name);
  std::ostringstream out;
  for (std::size_t i = 0; i < columns.size(); ++i) out << (i ? "," : "") << csv_cell(columns[i]);
  out << "\n";
  for (const auto& row : rows) {
    if (row.size() != columns.size()) {
      throw std::invalid_argument("CSV '" + name + "': a row has " + std::to_string(row.size()) +
                                  " cells for " + std::to_string(columns.size()) + " columns");
    }
    for (std::size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << csv_cell(row[i]);
    out << "\n";
  }
  const std::string file = name + ".csv";
  write_file_atomic((fs::path(out_dir_) / file).string(), out.str());
  files_.push_back(file);
}

std::string series_style(std::size_t i, bool with_points) {
  // Okabe–Ito's colour-blind-safe palette (grey for its yellow); dashes change every 8 series and markers
  // every series, so (colour, dash) is unique up to 32 series and the marker tells neighbours
  // apart.
  static const char* colours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                  "#E69F00", "#56B4E9", "#000000", "#999999"};
  static const int dashes[] = {1, 2, 4, 5};
  static const int markers[] = {7, 5, 9, 11, 13, 1, 2, 3, 6, 4, 8, 10};
  std::ostringstream os;
  os << "lc rgb '" << colours[i % 8] << "' dt " << dashes[(i / 8) % 4];
  if (with_points) os << " pt " << markers[i % 12] << " ps 0.9";
  return os.str();
}

void RunContext::plot(const PlotSpec& spec) {
  check_stem("figure", spec.name);
  check_stem("CSV", spec.csv);
  if (spec.ys.empty()) throw std::invalid_argument("figure '" + spec.name + "' has no y columns");
  const std::string csv = spec.csv + ".csv";
  if (!fs::exists(fs::path(out_dir_) / csv)) {
    throw std::invalid_argument("figure '" + spec.name + "': write_csv('" + spec.csv +
                                "') must come first");
  }
  // One script draws both formats; each goes to a temporary name renamed on success so a
  // failed gnuplot never leaves a half-written figure under the final name.
  std::ostringstream gp;
  gp << "# Generated by specopt; rerun with: gnuplot " << spec.name << ".gp\n"
     << "set datafile separator ','\n"
     << "set key autotitle columnhead\n"
     << "set key outside right top\n"
     << "set grid\n";
  if (!spec.title.empty()) gp << "set title " << gp_quote(spec.title) << " noenhanced\n";
  gp << "set xlabel " << gp_quote(spec.xlabel.empty() ? spec.x : spec.xlabel) << " noenhanced\n"
     << "set ylabel " << gp_quote(spec.ylabel) << " noenhanced\n";
  if (spec.logx) gp << "set logscale x\nset format x '10^{%T}'\n";
  if (spec.logy) gp << "set logscale y\nset format y '10^{%T}'\n";
  // More than 8 series: gnuplot's 8 default colours would repeat, so every series gets its own
  // colour + dash + marker (series_style), with markers spaced along dense curves.
  const bool many = spec.ys.size() > 8;
  std::int64_t rows = 0;
  {
    std::ifstream in(fs::path(out_dir_) / csv);
    for (std::string line; std::getline(in, line);) ++rows;
  }
  const std::int64_t every = spec.points ? 1 : std::max<std::int64_t>(1, rows / 12);
  std::ostringstream plot;
  plot << "plot ";
  for (std::size_t i = 0; i < spec.ys.size(); ++i) {
    const bool points = spec.points || many;
    plot << (i ? ", \\\n     " : "") << gp_quote(csv) << " using " << gp_quote(spec.x) << ":"
         << gp_quote(spec.ys[i]) << " with " << (points ? "linespoints" : "lines") << " lw 2 "
         << series_style(i, points) << (points ? " pi " + std::to_string(every) : "")
         << " title " << gp_quote(spec.ys[i]) << " noenhanced";
  }
  plot << "\n";
  gp << "set terminal svg size 900,540 dynamic font 'Helvetica,13'\n"
     << "set output " << gp_quote(spec.name + ".svg.tmp") << "\n"
     << plot.str() << "set output\n"
     << "set terminal pngcairo size 900,540 font 'Helvetica,11'\n"
     << "set output " << gp_quote(spec.name + ".png.tmp") << "\n"
     << plot.str() << "set output\n";
  const fs::path dir(out_dir_);
  write_file_atomic((dir / (spec.name + ".gp")).string(), gp.str());

  const std::string cmd = "cd " + gp_quote(out_dir_) + " && gnuplot " + gp_quote(spec.name + ".gp") +
                          " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("figure '" + spec.name + "': cannot start gnuplot");
  std::string messages;
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe)) messages += buf;
  const int status = pclose(pipe);
  const bool ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  for (const char* ext : {".svg", ".png"}) {
    const fs::path tmp = dir / (spec.name + ext + ".tmp");
    if (!ok) {
      std::error_code ec;
      fs::remove(tmp, ec);
      continue;
    }
    fs::rename(tmp, dir / (spec.name + ext));
  }
  if (!ok) {
    const bool missing = WIFEXITED(status) && WEXITSTATUS(status) == 127;
    throw std::runtime_error("figure '" + spec.name + "': " +
                             (missing ? std::string("gnuplot not found (run scripts/bootstrap.sh)")
                                      : "gnuplot failed: " + messages));
  }
  files_.push_back(spec.name + ".svg");
  files_.push_back(spec.name + ".png");
  files_.push_back(spec.name + ".gp");
}

void RunContext::claim(std::string id, std::string statement, Verdict verdict,
                       nlohmann::json numbers) {
  for (const auto& c : claims_) {
    if (c.id == id) throw std::logic_error("claim '" + id + "' reported twice");
  }
  claims_.push_back({std::move(id), std::move(statement), verdict, std::move(numbers)});
}

// ---------------------------------------------------------------------------------------------
// Running

namespace {

bool is_flag_word(const std::string& s) {
  for (const char* w : {"true", "false", "1", "0", "yes", "no", "on", "off"}) {
    if (s == w) return true;
  }
  return false;
}

bool all_numbers(const std::string& list) {
  if (list.empty()) return false;
  std::stringstream in(list);
  std::string item;
  double v = 0;
  while (std::getline(in, item, ',')) {
    if (!parse_finite_number(item, v)) return false;
  }
  return list.back() != ',';
}

// A --set value checked against the kind of value its knob's defaults are (numbers, a list of
// numbers, or a flag), so `n=abc` is refused before anything runs rather than when the
// experiment first reads the knob. Knobs with text defaults are checked by the experiment.
void check_knob_value(const Experiment& e, const KnobSpec& k, const std::string& value) {
  auto refuse = [&](const std::string& why) {
    throw std::invalid_argument("--set " + e.name + "." + k.name + "=" + value + ": " + why +
                                " (quick default '" + k.quick + "', full '" + k.full + "')");
  };
  if (value.empty()) refuse("empty value");
  if (k.quick != "1" && k.quick != "0" && is_flag_word(k.quick) && is_flag_word(k.full)) {
    if (!is_flag_word(value)) refuse("expected true or false");
  } else if (all_numbers(k.quick) && all_numbers(k.full) && !all_numbers(value)) {
    refuse("expected a finite number or a comma-separated list of them");
  }
}

}  // namespace

Params resolve_params(const Experiment& e, bool quick, const std::vector<std::string>& sets) {
  std::map<std::string, std::string> values;
  for (const auto& k : e.knobs) values[k.name] = quick ? k.quick : k.full;
  for (const auto& s : sets) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw std::invalid_argument("--set '" + s + "': expected key=value");
    }
    const std::string key = s.substr(0, eq);
    if (!values.count(key)) {
      std::vector<std::string> names;
      for (const auto& k : e.knobs) names.push_back(k.name);
      throw std::invalid_argument("--set " + key + ": unknown knob for experiment '" + e.name +
                                  "' (knobs: " + join_names(names) + ")");
    }
    for (const auto& k : e.knobs) {
      if (k.name == key) check_knob_value(e, k, s.substr(eq + 1));
    }
    values[key] = s.substr(eq + 1);
  }
  return Params(std::move(values));
}

nlohmann::json run_experiment(const Experiment& e, const RunOptions& options) {
  if (options.out_dir.empty()) throw std::invalid_argument("run_experiment: empty output directory");
  Params params = resolve_params(e, options.quick, options.sets);
  fs::create_directories(options.out_dir);

  auto progress = options.progress;
  if (!progress) {
    progress = [name = e.name](const std::string& line) {
      std::cerr << "[" << name << "] " << line << std::endl;
    };
  }
  RunContext ctx(options.out_dir, params, options.seed, options.quick, progress);
  const auto start = std::chrono::steady_clock::now();
  e.run(ctx);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  nlohmann::json claims = nlohmann::json::array();
  for (const auto& c : ctx.claims()) {
    claims.push_back({{"id", c.id},
                      {"statement", c.statement},
                      {"verdict", verdict_name(c.verdict)},
                      {"numbers", c.numbers}});
  }
  const auto env = environment_json();
  nlohmann::json result = {{"experiment", e.name},
                           {"paper", e.paper},
                           {"summary", e.summary},
                           {"mode", options.quick ? "quick" : "full"},
                           {"seed", options.seed},
                           {"config", params.to_json()},
                           {"claims", claims},
                           {"results", ctx.results()},
                           {"files", ctx.files()},
                           {"seconds", seconds},
                           {"specopt_version", env["specopt_version"]},
                           {"git_commit", env["git_commit"]},
                           {"torch_version", env["torch_version"]},
                           {"environment", env}};
  write_file_atomic((fs::path(options.out_dir) / "results.json").string(), result.dump(2) + "\n");
  return result;
}

}  // namespace lab
}  // namespace specopt
