#pragma once
// Experiments: what `specopt run NAME` and `specopt reproduce` run.
//
// An experiment declares its knobs (each with a quick and a full default), runs with a
// RunContext, and reports claims with verdicts plus the numbers behind them. The runner owns
// everything around it: --set parsing and validation, the output directory, results.json
// (atomic), CSV series and gnuplot figures (SVG + PNG), timing and progress lines.
//
//   Experiment e;
//   e.name = "factorization"; e.paper = 2; e.summary = "...";
//   e.knobs = {{"kappas", "10,100", "10,100,1000,10000", "condition numbers of the target"}};
//   e.run = [](RunContext& ctx) {
//     auto kappas = ctx.params().reals("kappas");
//     ...
//     ctx.write_csv("iterations", {"kappa", "muon", "gd"}, rows);
//     ctx.plot({.name = "iterations", .csv = "iterations", .x = "kappa", .ys = {"muon", "gd"},
//               .xlabel = "condition number κ", .ylabel = "iterations", .logx = true, .logy = true});
//     const double needed = std::pow(kappas.back() / kappas.front(), 0.8);  // follows the knob
//     ctx.claim("gd_grows", "GD's iterations grow ≥ (κ_max/κ_min)^0.8",
//               growth >= needed ? Verdict::reproduced : Verdict::not_reproduced,
//               {{"growth", growth}, {"threshold", needed}});
//   };
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace specopt {
namespace lab {

enum class Verdict { reproduced, not_reproduced, partial };
const char* verdict_name(Verdict v);  // "reproduced" | "not_reproduced" | "partial"

// One knob: its name, the value used in quick and in full mode (text, as given to --set), and
// what it means (shown by `specopt run NAME --help-knobs` and in docs).
struct KnobSpec {
  std::string name;
  std::string quick;
  std::string full;
  std::string help;
};

// The knob values of one run, after --set. Typed getters parse on use and throw
// std::invalid_argument naming the knob and the bad value ("--set kappas=1,x: 'x' is not a
// number"); asking for an undeclared knob is a programming error (std::logic_error).
class Params {
 public:
  Params() = default;
  explicit Params(std::map<std::string, std::string> values) : values_(std::move(values)) {}

  const std::string& text(const std::string& key) const;
  double real(const std::string& key) const;
  double positive(const std::string& key) const;  // > 0
  std::int64_t integer(const std::string& key) const;
  std::int64_t count(const std::string& key) const;  // ≥ 1
  bool flag(const std::string& key) const;            // true/false/1/0/yes/no/on/off
  std::vector<double> reals(const std::string& key) const;           // "1,3,10"
  std::vector<std::int64_t> integers(const std::string& key) const;  // "1,2,3"
  std::vector<std::string> texts(const std::string& key) const;      // "adam,muon"

  const std::map<std::string, std::string>& values() const { return values_; }
  nlohmann::json to_json() const;

 private:
  std::map<std::string, std::string> values_;
};

struct Claim {
  std::string id;
  std::string statement;
  Verdict verdict = Verdict::not_reproduced;
  nlohmann::json numbers = nlohmann::json::object();
};

// A figure drawn by gnuplot from a CSV written with write_csv in the same run. Each y column
// becomes one line; columns absent from a row (empty cells) are skipped by gnuplot.
struct PlotSpec {
  std::string name;     // file stem: NAME.svg, NAME.png, NAME.gp
  std::string csv;      // stem of the CSV (from write_csv)
  std::string x;        // x column name
  std::vector<std::string> ys;  // y column names (legend entries)
  std::string title;
  std::string xlabel;
  std::string ylabel;
  bool logx = false;
  bool logy = false;
  bool points = false;  // lines with points (for sparse series such as per-κ counts)
};

// The gnuplot style of the i-th series of a figure ("lc rgb '#0072B2' dt 1", plus
// " pt 7 ps 0.9" with points): a distinct colour + dash + marker combination for every i < 32,
// so figures with more than gnuplot's 8 default colours stay readable (they are drawn with
// points).
std::string series_style(std::size_t i, bool with_points);

class RunContext {
 public:
  RunContext(std::string out_dir, Params params, std::uint64_t seed, bool quick,
             std::function<void(const std::string&)> progress = {});

  const Params& params() const { return params_; }
  std::uint64_t seed() const { return seed_; }
  bool quick() const { return quick_; }
  const std::string& out_dir() const { return out_dir_; }

  // A progress line ("[factorization] κ=100: muon 12 iterations").
  void log(const std::string& line) const;

  // Writes OUT/NAME.csv atomically; cells are numbers (NaN → empty cell) or text.
  using Cell = nlohmann::json;
  void write_csv(const std::string& name, const std::vector<std::string>& columns,
                 const std::vector<std::vector<Cell>>& rows);
  // Draws OUT/NAME.svg and OUT/NAME.png with gnuplot (script kept as OUT/NAME.gp).
  // Throws std::runtime_error with gnuplot's message if it fails or is missing.
  void plot(const PlotSpec& spec);

  void claim(std::string id, std::string statement, Verdict verdict,
             nlohmann::json numbers = nlohmann::json::object());
  // Extra numbers recorded under "results" in results.json (tables, per-run figures).
  nlohmann::json& results() { return results_; }

  const std::vector<Claim>& claims() const { return claims_; }
  const std::vector<std::string>& files() const { return files_; }  // written, relative to OUT

 private:
  std::string out_dir_;
  Params params_;
  std::uint64_t seed_;
  bool quick_;
  std::function<void(const std::string&)> progress_;
  std::vector<Claim> claims_;
  std::vector<std::string> files_;
  nlohmann::json results_ = nlohmann::json::object();
};

struct Experiment {
  std::string name;     // `specopt run NAME`
  int paper = 0;        // 1, 2, 3 (0: none)
  std::string summary;  // one line
  std::string full_runtime;  // expected full-mode runtime on 2 cores, e.g. "about 40 minutes"
  std::vector<KnobSpec> knobs;
  std::function<void(RunContext&)> run;
};

// Every experiment, in report order (lab/experiments/registry.cpp).
const std::vector<Experiment>& experiments();
const Experiment& find_experiment(const std::string& name);  // throws naming known ones

struct RunOptions {
  bool quick = true;
  std::string out_dir;  // created if missing
  std::uint64_t seed = 0;
  std::vector<std::string> sets;  // "key=value"
  std::function<void(const std::string&)> progress;  // default: lines to stderr
};

// Resolves the knobs (quick/full defaults, then --set; unknown keys or bad syntax are refused
// with the key's name before anything runs), runs the experiment, and writes
// OUT/results.json atomically:
//   {"experiment", "paper", "summary", "mode", "seed", "config": {knob: value},
//    "claims": [{"id", "statement", "verdict", "numbers"}], "results": {...},
//    "files": [...], "seconds", "specopt_version", "git_commit", "torch_version"}
// and returns that JSON. Exceptions from the experiment propagate (nothing half-written
// under results.json).
nlohmann::json run_experiment(const Experiment& e, const RunOptions& options);

// The resolved knobs of a run, without running it (for reuse checks in `reproduce`).
Params resolve_params(const Experiment& e, bool quick, const std::vector<std::string>& sets);

}  // namespace lab
}  // namespace specopt
