// End-to-end checks of the `specopt` binary (path in SPECOPT_CLI_PATH): exit codes,
// one-line errors, .npy round trips through `matfun`, and the JSON of `bench matfun`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xnpy.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "lab/npy.h"
#include "lab/spectra.h"
#include "lab/step_bench.h"
#include <specopt/matfun.h>
#include "tests/common/temp_dir.h"
#include "tests/common/run_cli.h"

namespace {

using TempDir = specopt_test::TempDirTest;

using specopt_test::run_cli;
using specopt_test::shell_quote;

size_t line_count(const std::string& s) {
  size_t lines = std::count(s.begin(), s.end(), '\n');
  if (!s.empty() && s.back() != '\n') ++lines;
  return lines;
}

// Expects a failure with exit code `code` and exactly one line "specopt: error: ..." that
// contains `needle`.
void expect_one_line_error(const std::string& args, int code, const std::string& needle) {
  const auto r = run_cli(args);
  EXPECT_EQ(r.code, code) << args << "\n" << r.output;
  EXPECT_EQ(line_count(r.output), 1u) << args << "\n" << r.output;
  EXPECT_EQ(r.output.rfind("specopt: error: ", 0), 0u) << args << "\n" << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << args << "\n" << r.output;
}

TEST(Cli, Version) {
  const auto r = run_cli("--version");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("specopt ", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("LibTorch "), std::string::npos) << r.output;
}

TEST(Cli, Help) {
  const auto r = run_cli("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("matfun"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bench"), std::string::npos) << r.output;
}

TEST(Cli, MissingSubcommandPrintsHelpAndFails) {
  for (const char* args : {"", "matfun", "bench"}) {
    const auto r = run_cli(args);
    EXPECT_EQ(r.code, 2) << args;
    EXPECT_NE(r.output.find("Usage:"), std::string::npos) << r.output;
  }
}

TEST(Cli, OneLineErrors) {
  expect_one_line_error("--bogus", 2, "--bogus");
  expect_one_line_error("bench matfun --shapes 12y4", 2, "12y4");
  expect_one_line_error("bench matfun --shapes 64x64,0x5", 2, "0x5");
  expect_one_line_error("bench matfun --shapes 2x3x4x5", 2, "2x3x4x5");
  expect_one_line_error("bench step --nproc 2 --device cuda", 2, "--device");
  expect_one_line_error("bench step --nproc 1 --optimizers muon,torch_adamw", 1,
                        "'torch_adamw' is a peer");
  expect_one_line_error("bench matfun --dtype float16", 2, "float16");
  expect_one_line_error("bench matfun --repeats zero", 2, "--repeats");
  expect_one_line_error("matfun polar --in a.npy", 2, "--out");
  expect_one_line_error("matfun polar --in a.npy --out b.npy --method qr", 2, "qr");
  expect_one_line_error("matfun power --in a.npy --out b.npy --p 1.5", 2, "1.5");
  expect_one_line_error("matfun polar --in /nonexistent/G.npy --out /tmp/R.npy", 1,
                        "/nonexistent/G.npy");
}

using CliFiles = TempDir;

TEST_F(CliFiles, PolarRoundTripIsOrthogonal) {
  for (auto [m, n] : {std::pair<int64_t, int64_t>{48, 80}, {80, 48}}) {
    const auto G = specopt::lab::matrix_with_spectrum(
        m, n, specopt::lab::geometric_spectrum(std::min(m, n), 100.0), 7, at::kFloat);
    specopt::lab::write_npy(path("G.npy"), G);
    const auto r = run_cli("matfun polar --method svd --in " + shell_quote(path("G.npy")) + " --out " +
                           shell_quote(path("R.npy")));
    ASSERT_EQ(r.code, 0) << r.output;
    const auto R = specopt::lab::read_npy(path("R.npy"));
    EXPECT_EQ(R.scalar_type(), at::kFloat);
    EXPECT_EQ(R.sizes(), G.sizes());
    const auto gram = m <= n ? at::mm(R, R.t()) : at::mm(R.t(), R);
    const auto eye = at::eye(std::min(m, n), at::kFloat);
    EXPECT_LT((gram - eye).abs().max().item<double>(), 1e-5) << m << "x" << n;
    EXPECT_EQ(entries(), (std::vector<std::string>{"G.npy", "R.npy"}));
  }
}

TEST_F(CliFiles, PolarDefaultMethodOnBatchKeepsShapeAndDtype) {
  const auto G = at::randn({2, 16, 24}, at::kDouble);
  specopt::lab::write_npy(path("G.npy"), G);
  const auto r =
      run_cli("matfun polar --in " + shell_quote(path("G.npy")) + " --out " + shell_quote(path("R.npy")));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto R = specopt::lab::read_npy(path("R.npy"));
  EXPECT_EQ(R.scalar_type(), at::kDouble);
  EXPECT_EQ(R.sizes(), G.sizes());
  EXPECT_LT(specopt::lab::rel_frobenius_error(R, specopt::lab::exact_spectral_power(G, 0)), 1e-3);
}

TEST_F(CliFiles, PowerRoundTripMatchesExact) {
  const auto G = specopt::lab::matrix_with_spectrum(
      32, 64, specopt::lab::geometric_spectrum(32, 10.0), 3, at::kDouble);
  specopt::lab::write_npy(path("G.npy"), G);
  const auto r = run_cli("matfun power --p 0.5 --method svd --in " + shell_quote(path("G.npy")) +
                         " --out " + shell_quote(path("P.npy")));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto P = specopt::lab::read_npy(path("P.npy"));
  EXPECT_LT(specopt::lab::rel_frobenius_error(P, specopt::lab::exact_spectral_power(G, 0.5)),
            1e-10);
}

TEST_F(CliFiles, Int64InputIsAOneLineError) {
  xt::xarray<int64_t> a = {{1, 2}, {3, 4}};
  xt::dump_npy(path("i.npy"), a);
  const auto r =
      run_cli("matfun polar --in " + shell_quote(path("i.npy")) + " --out " + shell_quote(path("o.npy")));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_EQ(line_count(r.output), 1u) << r.output;
  EXPECT_NE(r.output.find("int64"), std::string::npos) << r.output;
  EXPECT_EQ(entries(), std::vector<std::string>{"i.npy"});
}

TEST_F(CliFiles, LibraryErrorIsOneLine) {
  // coupled_newton needs p = 2^-k: the library's c10::Error must come out as one line.
  specopt::lab::write_npy(path("G.npy"), at::randn({8, 12}, at::kFloat));
  const auto r = run_cli("matfun power --p 0.3 --method coupled_newton --in " +
                         shell_quote(path("G.npy")) + " --out " + shell_quote(path("P.npy")));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_EQ(line_count(r.output), 1u) << r.output;
  EXPECT_EQ(r.output.rfind("specopt: error: ", 0), 0u) << r.output;
}

TEST_F(CliFiles, BenchWritesJsonList) {
  const auto json_path = path("bench.json");
  const auto r = run_cli("bench matfun --shapes 64x128 --repeats 1 --threads 1 --json " +
                         shell_quote(json_path));
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(json_path);
  const auto j = nlohmann::json::parse(in);
  ASSERT_TRUE(j.is_array());
  // 10 polar methods (2 of them from the AOL start) + 4 power methods for each of p = 0.5,
  // 0.25; where bf16 products are native, 5 more polar rows in bf16.
  const bool bf16 = specopt::fast_bf16_matmul(at::Device(at::kCPU));
  EXPECT_EQ(j.size(), bf16 ? 23u : 18u) << j.dump(1);
  const std::set<std::string> required = {"op",     "method",  "p",       "shape",  "dtype",
                                          "device", "seconds", "gflops",  "rel_err",
                                          "gemm_gflops"};
  std::set<std::string> methods;
  for (const auto& rec : j) {
    std::set<std::string> keys;
    for (const auto& kv : rec.items()) keys.insert(kv.key());
    for (const auto& k : required) EXPECT_TRUE(keys.count(k)) << k << " missing in " << rec;
    for (const auto& k : keys) {
      EXPECT_TRUE(required.count(k) || k == "speedup_vs_reference" ||
                  k == "speedup_vs_coupled_newton")
          << "unexpected key " << k;
    }
    EXPECT_EQ(rec["shape"], "64x128");
    EXPECT_EQ(rec["dtype"], "float32");
    EXPECT_EQ(rec["device"], "cpu");
    EXPECT_GT(rec["seconds"].get<double>(), 0);
    EXPECT_GT(rec["gemm_gflops"].get<double>(), 0);
    methods.insert(rec["op"].get<std::string>() + "/" + rec["method"].get<std::string>());
    if (rec["method"] == "svd") {
      EXPECT_TRUE(rec["gflops"].is_null());
      EXPECT_LT(rec["rel_err"].get<double>(), 1e-4) << rec;
    }
  }
  EXPECT_TRUE(methods.count("polar/reference_ns5"));
  EXPECT_TRUE(methods.count("polar/newton_schulz:jordan"));
  EXPECT_TRUE(methods.count("polar/newton_schulz:polar_express"));
  EXPECT_TRUE(methods.count("polar/gram_newton_schulz:jordan"));
  EXPECT_TRUE(methods.count("power/coupled_newton"));
  EXPECT_TRUE(methods.count("power/auto"));
}

TEST_F(CliFiles, BenchBatchedShapeTimesTheWholeBatch) {
  const auto json_path = path("batch.json");
  const auto r = run_cli("bench matfun --shapes 3x16x24 --ops polar --methods svd,reference_ns5 "
                         "--repeats 1 --threads 1 --json " + shell_quote(json_path));
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(json_path);
  const auto j = nlohmann::json::parse(in);
  ASSERT_EQ(j.size(), 2u) << j.dump(1);
  for (const auto& rec : j) {
    EXPECT_EQ(rec["shape"], "3x16x24");
    // Every matrix of the batch is compared with its own exact polar factor.
    if (rec["method"] == "svd") EXPECT_LT(rec["rel_err"].get<double>(), 1e-5) << rec;
    if (rec["method"] == "reference_ns5") EXPECT_LT(rec["rel_err"].get<double>(), 0.5) << rec;
  }
}

}  // namespace

namespace {

TEST_F(CliFiles, BenchStepWritesJsonList) {
  const auto json_path = path("step.json");
  const auto r = run_cli("bench step --blocks 1 --width 32 --vocab 100 --repeats 1 --threads 1 "
                         "--json " + shell_quote(json_path));
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(json_path);
  const auto j = nlohmann::json::parse(in);
  ASSERT_TRUE(j.is_array());
  EXPECT_EQ(j.size(), specopt::lab::step_bench_optimizers().size()) << j.dump(1);
  std::set<std::string> names;
  for (const auto& rec : j) {
    for (const char* key : {"optimizer", "seconds", "ratio_to_adamw", "ratio_to_torch_adamw",
                            "bandwidth_bound_seconds", "gemm_bound_seconds", "peak_extra_bytes",
                            "bytes_moved", "gemm_dtype", "spectral_params", "adamw_params"}) {
      ASSERT_TRUE(rec.contains(key)) << key << " " << rec;
    }
    EXPECT_GT(rec["seconds"].get<double>(), 0) << rec;
    EXPECT_GT(rec["ratio_to_adamw"].get<double>(), 0) << rec;
    EXPECT_GT(rec["ratio_to_torch_adamw"].get<double>(), 0) << rec;
    EXPECT_GT(rec["bandwidth_bound_seconds"].get<double>(), 0) << rec;
    // Counted on the CPU: a number, never null.
    EXPECT_GE(rec["peak_extra_bytes"].get<int64_t>(), 0) << rec;
    const auto name = rec["optimizer"].get<std::string>();
    names.insert(name);
    if (name == "adamw") EXPECT_DOUBLE_EQ(rec["ratio_to_adamw"].get<double>(), 1.0);
    if (name == "torch_adamw") EXPECT_DOUBLE_EQ(rec["ratio_to_torch_adamw"].get<double>(), 1.0);
    // A GEMM floor for the rows with a spectral side, none for the element-wise ones.
    const bool spectral = rec["spectral_params"].get<int64_t>() > 0;
    EXPECT_EQ(rec["gemm_bound_seconds"].is_null(), !spectral) << rec;
    if (spectral) EXPECT_GT(rec["gemm_bound_seconds"].get<double>(), 0) << rec;
  }
  for (const char* n : {"adamw", "torch_adamw", "muon", "reference_muon", "muon_f32",
                        "muon_aol", "muon_auto", "normuon", "dion2", "adamuon", "polargrad",
                        "spectral_adam_q", "spectral_sgd_z", "lion_k_nuclear", "lion"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
  EXPECT_NE(r.output.find("muon_auto"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("gemm_bound"), std::string::npos) << r.output;
}

// The baselines run even when not listed, and are reported only when listed.
TEST_F(CliFiles, BenchStepReportsListedRowsOnly) {
  const auto json_path = path("step.json");
  const auto r = run_cli("bench step --blocks 1 --width 16 --vocab 50 --repeats 1 --warmup 0 "
                         "--threads 1 --optimizers reference_muon --json " +
                         shell_quote(json_path));
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(json_path);
  const auto j = nlohmann::json::parse(in);
  ASSERT_EQ(j.size(), 1u) << j.dump(1);
  EXPECT_EQ(j[0]["optimizer"], "reference_muon");
  EXPECT_GT(j[0]["ratio_to_adamw"].get<double>(), 0);
  EXPECT_GT(j[0]["ratio_to_torch_adamw"].get<double>(), 0);
}

// Option messages say what is wrong with the value.
TEST(Cli, RangeMessagesSayWhatIsWrong) {
  expect_one_line_error("matfun polar --in a.npy --out b.npy --steps 99999999999", 2,
                        "'99999999999' is too large");
  expect_one_line_error("bench matfun --kappa inf", 2, "'inf' is not a finite number");
  expect_one_line_error("bench matfun --kappa 0.5", 2, "'0.5' is not in [1, inf)");
}

// Outputs: a FIFO or a device is refused (and left as it is), a symlink is written through,
// the existing file's mode is kept.
TEST_F(CliFiles, MatfunOutputIsSafe) {
  const auto G = at::randn({8, 6}, at::kDouble);
  specopt::lab::write_npy(path("G.npy"), G);
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0644), 0);
  expect_one_line_error("matfun polar --in " + path("G.npy") + " --out " + path("fifo"), 1,
                        "it is a FIFO, not a regular file");
  expect_one_line_error("matfun polar --in " + path("G.npy") + " --out /dev/null", 1,
                        "refusing");
  std::ofstream(path("target.npy")) << "old";
  ::chmod(path("target.npy").c_str(), 0600);
  std::filesystem::create_symlink(path("target.npy"), path("link.npy"));
  const auto r = run_cli("matfun polar --in " + path("G.npy") + " --out " + path("link.npy"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::is_symlink(path("link.npy")));
  EXPECT_EQ(specopt::lab::read_npy(path("target.npy")).sizes(), G.sizes());
  struct stat st {};
  ASSERT_EQ(::stat(path("target.npy").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

// `reproduce --set` is checked before anything runs: a bad value, and a knob of an
// experiment that --only leaves out.
TEST_F(CliFiles, ReproduceSetIsValidatedUpFront) {
  expect_one_line_error("reproduce --out " + path("r") + " --only lyapunov --set lyapunov.n=abc", 1,
                        "lyapunov.n=abc");
  EXPECT_FALSE(std::filesystem::exists(path("r")));
  expect_one_line_error("reproduce --out " + path("r") + " --only lyapunov --set factorization.kappas=10", 1,
                        "not selected by --only");
  EXPECT_FALSE(std::filesystem::exists(path("r")));
  expect_one_line_error("run lyapunov --out " + path("r") + " --set n=abc", 1, "n=abc");
}

// An experiment that fails (n = 0 passes the up-front check, the experiment refuses it) makes
// `reproduce` exit non-zero, after writing the report that shows the error.
TEST_F(CliFiles, ReproduceExitsNonZeroWhenAnExperimentFails) {
  const auto r = run_cli("reproduce --out " + path("r") + " --only lyapunov --set lyapunov.n=0");
  EXPECT_EQ(r.code, 4) << r.output;
  EXPECT_NE(r.output.find("1 experiment(s) failed"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::exists(path("r/summary.json")));
}

}  // namespace
