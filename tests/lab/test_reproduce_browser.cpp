// End to end: a reduced `specopt reproduce` (the real matrix-function study with tiny knobs)
// into a temporary directory, then the report is checked as a reader would meet it: every
// claim has a verdict, every figure exists, the HTML is well-formed, and headless Chromium
// renders a non-blank page with no missing image.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <unistd.h>

#include "tests/common/run_cli.h"
#include "html_check.h"
#include "png_check.h"
#include "read_file.h"

namespace fs = std::filesystem;

namespace {

using specopt_test::slurp;

std::string html_escaped(const std::string& s) {
  std::string out;
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

class ReproduceReport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("specopt_reproduce_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    // Tiny knobs: two small shapes, three κ (including the papers' 1e4), one timed call.
    run_ = specopt_test::run_cli(
        "reproduce --quick --threads 1 --only matfun-study --out '" + dir_.string() + "'" +
        " --set matfun-study.shapes=64x32,128x64 --set matfun-study.kappas=10,100,10000"
        " --set matfun-study.repeats=1");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static fs::path dir_;
  static specopt_test::CliResult run_;
};

fs::path ReproduceReport::dir_;
specopt_test::CliResult ReproduceReport::run_;

TEST_F(ReproduceReport, EveryClaimHasAVerdictAndEveryFigureExists) {
  ASSERT_EQ(run_.code, 0) << run_.output;
  // Progress per experiment, and the last line says where the report is.
  EXPECT_NE(run_.output.find("[1/1] matfun-study: running"), std::string::npos) << run_.output;
  std::string last = run_.output.substr(0, run_.output.find_last_not_of('\n') + 1);
  last = last.substr(last.find_last_of('\n') + 1);
  EXPECT_EQ(last, "report: " + fs::absolute(dir_ / "index.html").lexically_normal().string());

  const auto s = nlohmann::json::parse(slurp(dir_ / "summary.json"));
  ASSERT_EQ(s["experiments"].size(), 1u);
  const auto& e = s["experiments"][0];
  EXPECT_EQ(e["name"], "matfun-study");
  EXPECT_EQ(e["status"], "ok") << e.value("error", "");
  std::set<std::string> ids;
  const std::set<std::string> verdicts = {"reproduced", "not_reproduced", "partial"};
  for (const auto& c : e["claims"]) {
    ids.insert(c["id"].get<std::string>());
    EXPECT_TRUE(verdicts.count(c["verdict"].get<std::string>())) << c.dump();
    EXPECT_FALSE(c["numbers"].empty()) << c.dump();
  }
  EXPECT_EQ(ids, (std::set<std::string>{"coupled_newton_error", "gram_eigh_accurate_and_fast",
                                        "jordan_band", "polar_express_closer",
                                        "auto_meets_tolerance"}));
  // The study's figures: error vs κ (polar, each power) and time per shape.
  EXPECT_EQ(e["figures"], nlohmann::json::array({"matfun-study/error_polar.png",
                                                 "matfun-study/error_power_p50.png",
                                                 "matfun-study/error_power_p25.png",
                                                 "matfun-study/time.png"}));
  for (const auto& f : e["files"]) {
    EXPECT_GT(fs::file_size(dir_ / f.get<std::string>()), 0u) << f;
  }
  EXPECT_NE(e["command"].get<std::string>().find("specopt run matfun-study --quick --seed 0 --out "),
            std::string::npos);

  const std::string html = slurp(dir_ / "index.html");
  EXPECT_EQ(specopt_test::html_problems(html), "");
  const auto srcs = specopt_test::img_sources(html);
  EXPECT_EQ(srcs.size(), e["figures"].size());
  for (const auto& src : srcs) {
    ASSERT_TRUE(fs::exists(dir_ / src)) << src;
    EXPECT_GT(fs::file_size(dir_ / src), 0u) << src;
  }
  for (const auto& c : e["claims"]) {
    EXPECT_NE(html.find(html_escaped(c["statement"].get<std::string>())), std::string::npos)
        << c["id"];
    EXPECT_NE(html.find("<span class=\"badge " + c["verdict"].get<std::string>() + "\">"),
              std::string::npos);
  }
  EXPECT_NE(html.find("<code>" + html_escaped(e["command"].get<std::string>()) + "</code>"),
            std::string::npos);
  for (const char* env : {"LibTorch", "git commit", "CPU", "LibTorch threads"}) {
    EXPECT_NE(html.find(std::string("<th>") + env + "</th>"), std::string::npos) << env;
  }
}

TEST_F(ReproduceReport, RendersInChromiumWithNoMissingImage) {
  ASSERT_EQ(run_.code, 0) << run_.output;
  if (std::system("command -v chromium >/dev/null 2>&1") != 0) {
    FAIL() << "chromium not found: run scripts/bootstrap.sh (as root) to install Debian's "
              "chromium, which this test uses to render the report";
  }
  const fs::path profile = dir_ / ".chromium-profile";
  const std::string base = "timeout 60 chromium --headless --no-sandbox --disable-gpu "
                           "--hide-scrollbars --user-data-dir='" + profile.string() + "' ";

  // Screenshot: decode the PNG and ask for real content, not a blank page.
  const fs::path shot = dir_ / "screenshot.png";
  const std::string cmd1 = base + "--window-size=1200,2000 --screenshot='" + shot.string() + "' 'file://" +
                           (dir_ / "index.html").string() + "' >'" + (dir_ / "chromium1.log").string() +
                           "' 2>&1";
  ASSERT_EQ(std::system(cmd1.c_str()), 0) << slurp(dir_ / "chromium1.log");
  const auto img = specopt_test::read_png(shot.string());
  EXPECT_EQ(img.width, 1200);
  EXPECT_EQ(img.height, 2000);
  std::set<std::uint32_t> colours(img.rgb.begin(), img.rgb.end());
  std::size_t non_white = 0;
  for (auto px : img.rgb) non_white += px != 0xffffffu;
  EXPECT_GE(colours.size(), 32u) << "too few colours: the page looks blank";
  EXPECT_GT(static_cast<double>(non_white) / img.rgb.size(), 0.02) << "the page is nearly all white";

  // Missing images: a copy of the page with a check-only script that, once everything has
  // loaded, records how many <img> failed to decode; --dump-dom prints the resulting DOM.
  std::string page = slurp(dir_ / "index.html");
  const auto body_end = page.rfind("</body>");
  ASSERT_NE(body_end, std::string::npos);
  page.insert(body_end,
              "<script>window.addEventListener('load', function () { var b = 0, n = 0;"
              " document.querySelectorAll('img').forEach(function (i) { n++;"
              " if (!i.complete || i.naturalWidth === 0) b++; });"
              " document.body.setAttribute('data-broken', b);"
              " document.body.setAttribute('data-images', n); });</script>\n");
  const fs::path check = dir_ / "check.html";
  std::ofstream(check) << page;
  const fs::path dom = dir_ / "dom.html";
  const std::string cmd2 = base + "--virtual-time-budget=5000 --dump-dom 'file://" + check.string() +
                           "' >'" + dom.string() + "' 2>'" + (dir_ / "chromium2.log").string() + "'";
  ASSERT_EQ(std::system(cmd2.c_str()), 0) << slurp(dir_ / "chromium2.log");
  const std::string out = slurp(dom);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("data-broken=\"(\\d+)\" data-images=\"(\\d+)\"")))
      << "the check script did not run:\n" << out.substr(0, 2000);
  EXPECT_EQ(m[1].str(), "0") << "images that failed to load";
  EXPECT_EQ(m[2].str(), std::to_string(specopt_test::img_sources(page).size()));
  EXPECT_GE(std::stoi(m[2].str()), 4);
}

}  // namespace
