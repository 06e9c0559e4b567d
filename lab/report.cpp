#include "lab/report.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "lab/atomic_file.h"
#include "lab/environment.h"
#include "specopt/util/spec.h"

namespace specopt {
namespace lab {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A shell word: left alone when it has only safe characters, single-quoted otherwise.
std::string shell_word(const std::string& s) {
  bool safe = !s.empty();
  for (char c : s) {
    safe = safe && (std::isalnum(static_cast<unsigned char>(c)) || std::string("-_./=,:+@%").find(c) != std::string::npos);
  }
  if (safe) return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Splits "EXPERIMENT.key=value" into the experiment name and "key=value".
std::pair<std::string, std::string> split_set(const std::string& s) {
  const auto eq = s.find('=');
  const auto dot = s.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq || dot == 0 || dot + 1 == eq) {
    throw std::invalid_argument("--set '" + s +
                                "': expected EXPERIMENT.key=value (e.g. matfun-study.repeats=1)");
  }
  return {s.substr(0, dot), s.substr(dot + 1)};
}

std::string names_of(const std::vector<Experiment>& list) {
  std::vector<std::string> names;
  for (const auto& e : list) names.push_back(e.name);
  return join_names(names);
}

// The previous results of an experiment when they can stand for this run, else null.
nlohmann::json reusable(const fs::path& dir, const std::string& mode, std::uint64_t seed,
                        const nlohmann::json& config) {
  const fs::path file = dir / "results.json";
  if (!fs::exists(file)) return nullptr;
  nlohmann::json r;
  try {
    std::ifstream in(file);
    r = nlohmann::json::parse(in);
  } catch (const std::exception&) {
    return nullptr;  // unreadable: rerun
  }
  const auto env = environment_json();
  const bool same = r.is_object() && r.value("mode", "") == mode &&
                    r.contains("seed") && r["seed"] == seed && r.value("config", nlohmann::json()) == config &&
                    r.value("specopt_version", "") == env["specopt_version"].get<std::string>() &&
                    r.value("git_commit", "") == env["git_commit"].get<std::string>() &&
                    r.contains("claims") && r["claims"].is_array();
  if (!same) return nullptr;
  for (const auto& f : r.value("files", nlohmann::json::array())) {
    if (!f.is_string() || !fs::exists(dir / f.get<std::string>())) return nullptr;
  }
  return r;
}

std::string claim_tally(const nlohmann::json& claims) {
  std::map<std::string, int> n;
  for (const auto& c : claims) ++n[c.value("verdict", "")];
  std::string out;
  for (const char* v : {"reproduced", "partial", "not_reproduced"}) {
    if (n[v]) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n[v], v);
  }
  return out.empty() ? "no claims" : out;
}

}  // namespace

std::string rerun_command(const std::string& name, bool quick, std::uint64_t seed,
                          const std::string& out_dir, const std::vector<std::string>& sets) {
  std::string cmd = "specopt run " + shell_word(name) + (quick ? " --quick" : " --full") +
                    " --seed " + std::to_string(seed) + " --out " + shell_word(out_dir);
  for (const auto& s : sets) cmd += " --set " + shell_word(s);
  return cmd;
}

std::string paper_title(int paper) {
  switch (paper) {
    case 1: return "Chen, Li, Liu: Muon Optimizes Under Spectral Norm Constraints (arXiv 2506.15054)";
    case 2: return "Ma, Huang, Chi, Chen: Preconditioning Benefits of Spectral Orthogonalization in Muon (arXiv 2601.13474)";
    case 3: return "Qi, Chen, Ye, He, Xiao: Delving into Muon and Beyond (arXiv 2602.04669)";
    default: return "";
  }
}

nlohmann::json reproduce(const std::vector<Experiment>& list, const ReproduceOptions& options) {
  if (options.out_dir.empty()) throw std::invalid_argument("reproduce: empty output directory");
  auto progress = options.progress;
  if (!progress) progress = [](const std::string& line) { std::cerr << line << std::endl; };

  // Validate everything before running anything.
  std::map<std::string, const Experiment*> by_name;
  for (const auto& e : list) by_name[e.name] = &e;
  for (const auto& name : options.only) {
    if (!by_name.count(name)) {
      throw std::invalid_argument("--only " + name + ": unknown experiment (known: " +
                                  names_of(list) + ")");
    }
  }
  std::map<std::string, std::vector<std::string>> sets;
  for (const auto& s : options.sets) {
    auto [name, kv] = split_set(s);
    if (!by_name.count(name)) {
      throw std::invalid_argument("--set " + s + ": unknown experiment '" + name + "' (known: " +
                                  names_of(list) + ")");
    }
    sets[name].push_back(kv);
  }
  std::vector<const Experiment*> selected;
  for (const auto& e : list) {
    if (!options.only.empty() &&
        std::find(options.only.begin(), options.only.end(), e.name) == options.only.end()) {
      continue;
    }
    selected.push_back(&e);
  }
  // Unknown knobs and bad syntax are refused here, naming the experiment and the knob.
  for (const auto& [name, kv] : sets) resolve_params(*by_name[name], options.quick, kv);

  fs::create_directories(options.out_dir);
  const std::string mode = options.quick ? "quick" : "full";
  const auto start = Clock::now();
  nlohmann::json entries = nlohmann::json::array();
  std::map<std::string, int> counts = {
      {"reproduced", 0}, {"not_reproduced", 0}, {"partial", 0}, {"error", 0}};
  const std::size_t total = selected.size();
  for (std::size_t i = 0; i < total; ++i) {
    const Experiment& e = *selected[i];
    const auto& kv = sets[e.name];
    const fs::path dir = fs::path(options.out_dir) / e.name;
    const std::string tag = fmt::format("[{}/{}] {}", i + 1, total, e.name);
    nlohmann::json entry = {{"name", e.name},
                            {"paper", e.paper},
                            {"summary", e.summary},
                            {"command", rerun_command(e.name, options.quick, options.seed,
                                                      dir.string(), kv)}};
    nlohmann::json config;
    try {
      config = resolve_params(e, options.quick, kv).to_json();
    } catch (const std::exception&) {
      config = nullptr;  // validated above; unreachable in practice
    }
    entry["config"] = config;

    nlohmann::json result = options.force ? nlohmann::json() : reusable(dir, mode, options.seed, config);
    if (!result.is_null()) {
      entry["status"] = "reused";
      entry["seconds"] = result.value("seconds", 0.0);
      progress(fmt::format("{}: reused {} (same configuration and code; --force reruns)", tag,
                           (dir / "results.json").string()));
    } else {
      progress(fmt::format("{}: running ({} mode, {:.0f} s elapsed)", tag, mode, since(start)));
      std::error_code ec;
      fs::remove(dir / "results.json", ec);  // a failed rerun must not leave stale results
      RunOptions ro;
      ro.quick = options.quick;
      ro.out_dir = dir.string();
      ro.seed = options.seed;
      ro.sets = kv;
      ro.progress = [&progress, name = e.name](const std::string& line) {
        progress("    [" + name + "] " + line);
      };
      const auto t0 = Clock::now();
      try {
        result = run_experiment(e, ro);
        entry["status"] = "ok";
      } catch (const std::exception& err) {
        entry["status"] = "error";
        entry["error"] = err.what();
      } catch (...) {
        entry["status"] = "error";
        entry["error"] = "unknown exception";
      }
      entry["seconds"] = since(t0);
    }

    nlohmann::json files = nlohmann::json::array();
    nlohmann::json figures = nlohmann::json::array();
    nlohmann::json claims = nlohmann::json::array();
    if (entry["status"] != "error") {
      claims = result["claims"];
      for (const auto& f : result.value("files", nlohmann::json::array())) {
        const std::string rel = e.name + "/" + f.get<std::string>();
        files.push_back(rel);
        if (fs::path(rel).extension() == ".png") figures.push_back(rel);
      }
      files.push_back(e.name + "/results.json");
      for (const auto& c : claims) ++counts[c.value("verdict", "not_reproduced")];
    } else {
      ++counts["error"];
    }
    entry["claims"] = claims;
    entry["files"] = files;
    entry["figures"] = figures;
    const std::string status = entry["status"];
    progress(status == "error"
                 ? fmt::format("{}: ERROR after {:.1f} s: {}", tag, entry["seconds"].get<double>(),
                               entry["error"].get<std::string>())
                 : fmt::format("{}: {} in {:.1f} s: {} ({:.0f} s elapsed)", tag, status,
                               entry["seconds"].get<double>(), claim_tally(claims), since(start)));
    entries.push_back(entry);
  }

  nlohmann::json summary = {
      {"report_version", 1},
      {"mode", mode},
      {"seed", options.seed},
      {"out_dir", options.out_dir},
      {"command", std::string("specopt reproduce") + (options.quick ? " --quick" : " --full") +
                      " --out " + shell_word(options.out_dir)},
      {"environment", environment_json()},
      {"seconds", since(start)},
      {"counts", {{"reproduced", counts["reproduced"]},
                  {"not_reproduced", counts["not_reproduced"]},
                  {"partial", counts["partial"]},
                  {"error", counts["error"]},
                  {"experiments", entries.size()}}},
      {"experiments", entries}};
  for (const auto& s : options.sets) summary["command"] = summary["command"].get<std::string>() + " --set " + shell_word(s);
  if (!options.only.empty()) {
    summary["command"] = summary["command"].get<std::string>() + " --only " + shell_word(join_names(options.only));
  }
  const fs::path out(options.out_dir);
  write_file_atomic((out / "summary.json").string(), summary.dump(2) + "\n");
  write_file_atomic((out / "index.html").string(), report_html(summary));
  return summary;
}

// ---------------------------------------------------------------------------------------------
// HTML

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

std::string number_text(const nlohmann::json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  if (v.is_number()) {
    const double d = v.get<double>();
    if (!std::isfinite(d)) return "n/a";
    return fmt::format("{:.4g}", d);
  }
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_null()) return "n/a";
  if (v.is_object()) {
    std::string out;
    for (const auto& [k, x] : v.items()) out += (out.empty() ? "" : ", ") + k + " = " + number_text(x);
    return out;
  }
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ", ") + number_text(x);
  return "[" + out + "]";
}

const char* kCss = R"(
body { font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px; color: #1d1d1f; line-height: 1.4; padding: 0 1em; }
h1 { border-bottom: 3px solid #2b5797; padding-bottom: .3em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; padding-bottom: .2em; }
h3 { margin-top: 1.5em; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #eef2f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table table { margin: 0; font-size: .95em; }
table.records th:first-child { background: #f6f6f6; }
ol.list { margin: 0; padding-left: 1.4em; }
.badge { display: inline-block; padding: .1em .55em; border-radius: .8em; font-size: .85em; font-weight: bold; color: #fff; }
.reproduced { background: #2e7d32; }
.partial { background: #e08a00; }
.not_reproduced { background: #c62828; }
.error { background: #6a1b9a; }
.ok, .reused { background: #546e7a; }
.claim { border-left: 4px solid #ccc; margin: 1em 0; padding: .2em 1em; background: #fafafa; }
.claim .id { color: #777; font-size: .85em; }
.figure { display: inline-block; margin: .5em 1em .5em 0; text-align: center; font-size: .85em; }
.figure img { max-width: 520px; border: 1px solid #ddd; }
code { background: #f1f1f1; padding: .1em .3em; border-radius: 3px; font-size: .9em; word-break: break-all; }
pre.errortext { background: #fbeaea; border: 1px solid #e0b4b4; padding: .6em; white-space: pre-wrap; }
.meta { color: #555; }
)";

// Shown as one line of text: a number, string, a list of them, or a small flat object
// ("10 = 405, 100 = 409").
bool is_scalar(const nlohmann::json& v) {
  if (!v.is_object() && !v.is_array()) return true;
  if (v.is_object() && v.size() > 6) return false;
  return std::none_of(v.begin(), v.end(), [](const nlohmann::json& x) { return x.is_object() || x.is_array(); });
}

// An object whose values are all objects of scalars (a record per key, e.g. per map or per
// variant): one table, a row per key and a column per field.
bool is_record_table(const nlohmann::json& v) {
  if (!v.is_object() || v.size() < 2) return false;
  int records = 0;
  for (const auto& [k, x] : v.items()) {
    if (!x.is_object()) continue;
    ++records;
    for (const auto& [k2, y] : x.items())
      if (y.is_object() || !is_scalar(y)) return false;  // a record of records nests instead
  }
  return records >= 2;
}

// Numbers of a claim, nested as results.json has them: scalars as text, records as tables,
// deeper objects as key/value tables inside their cell.
void write_value(std::ostringstream& h, const nlohmann::json& v, bool top = false) {
  if (is_scalar(v) && !(top && v.is_object())) {
    h << html_escape(number_text(v));
    return;
  }
  if (v.is_array()) {
    h << "<ol class=\"list\">";
    for (const auto& x : v) {
      h << "<li>";
      write_value(h, x);
      h << "</li>";
    }
    h << "</ol>";
    return;
  }
  if (is_record_table(v)) {
    std::vector<std::string> columns;
    for (const auto& [k, x] : v.items()) {
      if (!x.is_object()) continue;
      for (const auto& [k2, y] : x.items())
        if (std::find(columns.begin(), columns.end(), k2) == columns.end()) columns.push_back(k2);
    }
    h << "<table class=\"records\">\n<tr><th></th>";
    for (const auto& c : columns) h << "<th>" << html_escape(c) << "</th>";
    h << "</tr>\n";
    std::vector<std::pair<std::string, nlohmann::json>> scalars;
    for (const auto& [k, x] : v.items()) {
      if (!x.is_object()) {
        scalars.emplace_back(k, x);
        continue;
      }
      h << "<tr><th>" << html_escape(k) << "</th>";
      for (const auto& c : columns)
        h << "<td class=\"num\">" << (x.contains(c) ? html_escape(number_text(x[c])) : "") << "</td>";
      h << "</tr>\n";
    }
    h << "</table>\n";
    for (const auto& [k, x] : scalars) {  // e.g. the claim's threshold beside per-map records
      h << "<div class=\"meta\">" << html_escape(k) << ": ";
      write_value(h, x);
      h << "</div>\n";
    }
    return;
  }
  h << "<table class=\"numbers\">\n";
  for (const auto& [k, x] : v.items()) {
    h << "<tr><th>" << html_escape(k) << "</th><td" << (is_scalar(x) ? " class=\"num\"" : "") << ">";
    write_value(h, x);
    h << "</td></tr>\n";
  }
  h << "</table>\n";
}

void write_claim(std::ostringstream& h, const nlohmann::json& c) {
  const std::string verdict = c.value("verdict", "not_reproduced");
  h << "<div class=\"claim\">\n<p><span class=\"badge " << html_escape(verdict) << "\">"
    << html_escape(verdict) << "</span> " << html_escape(c.value("statement", "")) << " <span class=\"id\">("
    << html_escape(c.value("id", "")) << ")</span></p>\n";
  const auto numbers = c.value("numbers", nlohmann::json::object());
  if (numbers.is_object() && !numbers.empty()) write_value(h, numbers, /*top=*/true);
  h << "</div>\n";
}

void write_experiment(std::ostringstream& h, const nlohmann::json& e) {
  const std::string name = e.value("name", "");
  const std::string status = e.value("status", "error");
  h << "<div class=\"experiment\" id=\"exp-" << html_escape(name) << "\">\n<h3>" << html_escape(name)
    << "</h3>\n<p>" << html_escape(e.value("summary", "")) << "</p>\n<p><span class=\"badge "
    << html_escape(status) << "\">" << html_escape(status) << "</span> "
    << html_escape(fmt::format("{:.1f} s", e.value("seconds", 0.0)))
    << (status == "reused" ? " (time of the reused run)" : "") << "</p>\n";
  if (status == "error") {
    h << "<p>The experiment failed; its claims could not be checked:</p>\n<pre class=\"errortext\">"
      << html_escape(e.value("error", "")) << "</pre>\n";
  }
  for (const auto& c : e.value("claims", nlohmann::json::array())) write_claim(h, c);
  for (const auto& f : e.value("figures", nlohmann::json::array())) {
    const std::string png = f.get<std::string>();
    const std::string stem = fs::path(png).stem().string();
    const std::string svg = fs::path(png).replace_extension(".svg").string();
    h << "<div class=\"figure\"><img src=\"" << html_escape(png) << "\" alt=\""
      << html_escape(name + ": figure " + stem) << "\"><br>" << html_escape(stem);
    bool has_svg = false;
    for (const auto& x : e.value("files", nlohmann::json::array())) has_svg = has_svg || x == svg;
    if (has_svg) h << " (<a href=\"" << html_escape(svg) << "\">SVG</a>)";
    h << "</div>\n";
  }
  h << "<p>Rerun: <code>" << html_escape(e.value("command", "")) << "</code></p>\n</div>\n";
}

}  // namespace

std::string report_html(const nlohmann::json& s) {
  std::ostringstream h;
  const auto& env = s.at("environment");
  const auto& counts = s.at("counts");
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    << "<title>specopt: reproduction report</title>\n<style>" << kCss << "</style>\n</head>\n<body>\n"
    << "<h1>specopt: reproduction report</h1>\n"
    << "<p class=\"meta\">" << html_escape(s.value("mode", "")) << " mode, seed "
    << html_escape(number_text(s.value("seed", nlohmann::json(0)))) << ", "
    << html_escape(fmt::format("{:.1f} s in all", s.value("seconds", 0.0)))
    << ". Made by <code>" << html_escape(s.value("command", "")) << "</code></p>\n";

  // Summary: verdict counts, then one row per experiment.
  h << "<h2 id=\"summary\">Summary</h2>\n<table class=\"counts\">\n<tr>";
  for (const char* k : {"reproduced", "partial", "not_reproduced", "error"}) {
    h << "<th><span class=\"badge " << k << "\">" << k << "</span></th>";
  }
  h << "</tr>\n<tr>";
  for (const char* k : {"reproduced", "partial", "not_reproduced", "error"}) {
    h << "<td class=\"num\">" << counts.value(k, 0) << "</td>";
  }
  h << "</tr>\n</table>\n<p class=\"meta\">Claims by verdict; \"error\" counts experiments that "
       "failed.</p>\n";
  h << "<table class=\"experiments\">\n<tr><th>experiment</th><th>paper</th><th>status</th>"
       "<th>time</th><th>claims</th></tr>\n";
  for (const auto& e : s.at("experiments")) {
    const std::string name = e.value("name", "");
    const int paper = e.value("paper", 0);
    const std::string status = e.value("status", "error");
    h << "<tr><td><a href=\"#exp-" << html_escape(name) << "\">" << html_escape(name) << "</a></td><td>"
      << (paper ? std::to_string(paper) : "study") << "</td><td><span class=\"badge "
      << html_escape(status) << "\">" << html_escape(status) << "</span></td><td class=\"num\">"
      << html_escape(fmt::format("{:.1f} s", e.value("seconds", 0.0))) << "</td><td>"
      << html_escape(status == "error" ? "error: " + e.value("error", "")
                                       : claim_tally(e.value("claims", nlohmann::json::array())))
      << "</td></tr>\n";
  }
  h << "</table>\n";

  h << "<h2 id=\"environment\">Environment</h2>\n<table>\n";
  const std::pair<const char*, const char*> rows[] = {
      {"CPU", "cpu"}, {"hardware threads", "hardware_threads"}, {"LibTorch threads", "torch_threads"},
      {"LibTorch", "torch_version"}, {"specopt", "specopt_version"}, {"git commit", "git_commit"},
      {"CUDA available", "cuda_available"}};
  for (const auto& [label, key] : rows) {
    h << "<tr><th>" << label << "</th><td>"
      << html_escape(env.contains(key) ? number_text(env[key]) : std::string("unknown")) << "</td></tr>\n";
  }
  h << "</table>\n";

  // One section per paper, then one per study that belongs to no paper.
  for (int paper = 1; paper <= 3; ++paper) {
    h << "<h2 id=\"paper-" << paper << "\">Paper " << paper << ": " << html_escape(paper_title(paper))
      << "</h2>\n";
    bool any = false;
    for (const auto& e : s.at("experiments")) {
      if (e.value("paper", 0) != paper) continue;
      any = true;
      write_experiment(h, e);
    }
    if (!any) {
      h << "<p class=\"meta\">No experiment of this paper ran in this report (none registered in "
           "this build, or left out with --only).</p>\n";
    }
  }
  for (const auto& e : s.at("experiments")) {
    const int paper = e.value("paper", 0);
    if (paper >= 1 && paper <= 3) continue;
    h << "<h2 id=\"study-" << html_escape(e.value("name", "")) << "\">Study: "
      << html_escape(e.value("name", "")) << "</h2>\n";
    write_experiment(h, e);
  }
  h << "</body>\n</html>\n";
  return h.str();
}

}  // namespace lab
}  // namespace specopt
