// Checkpoints for every optimizer: bit-exact resume (2N steps == N + save + load into a
// FRESH optimizer + N), per-group options and LrScheduler position restored; refusals
// (other kind, other shapes/dtypes/counts, truncated/missing file, unknown version) change
// nothing; a failing save leaves no temporary file and the previous checkpoint intact.
#include <gtest/gtest.h>
#include <filesystem>

#include <specopt/util/checksum.h>

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cstring>
#include <dirent.h>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "specopt/maps/registry.h"
#include "specopt/optim/checkpoint.h"
#include "tests/optim/optim_test_util.h"

namespace {

using namespace specopt;
using specopt_optim_test::nonlinear_grad;
using specopt_optim_test::randn;
using torch::optim::OptimizerParamGroup;

// ---- A scratch directory per test. ----
struct TempDir {
  std::string path;
  TempDir() {
    char buf[] = "/tmp/specopt_ckpt_test_XXXXXX";
    const char* d = ::mkdtemp(buf);
    EXPECT_NE(d, nullptr);
    path = d ? d : "/tmp";
  }
  ~TempDir() {
    // Remove everything (flat directory) then the directory itself.
    for (const auto& f : list()) ::unlink((path + "/" + f).c_str());
    ::chmod(path.c_str(), 0755);
    for (const auto& f : list()) ::unlink((path + "/" + f).c_str());
    ::rmdir(path.c_str());
  }
  std::vector<std::string> list() const {
    std::vector<std::string> out;
    DIR* dir = ::opendir(path.c_str());
    if (!dir) return out;
    while (auto* e = ::readdir(dir)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(dir);
    return out;
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// ---- The cases: two groups with different options per optimizer. ----
struct MuonCase {
  using Opt = Muon;
  using Options = MuonOptions;
  static Options group(int g) {
    return g == 0 ? MuonOptions(0.02).weight_decay(0.1)
                  : MuonOptions(0.05).momentum(0.9).nesterov(false).shape_rule("match_rms_adamw");
  }
};
struct LionKCase {
  using Opt = LionK;
  using Options = LionKOptions;
  static Options group(int g) {
    return g == 0 ? LionKOptions(0.01).weight_decay(0.1)
                  : LionKOptions(0.03).map("schatten:q=3").beta_pol(0.9).beta_nes(0.8)
                        .implicit_weight_decay(true).weight_decay(0.05);
  }
};
struct SpectralAdamCase {
  using Opt = SpectralAdam;
  using Options = SpectralAdamOptions;
  static Options group(int g) {
    return g == 0 ? SpectralAdamOptions::adams(0.01).weight_decay(0.1)
                  : SpectralAdamOptions::adamz(0.02).beta2(0.99);
  }
};
struct SpectralSGDCase {
  using Opt = SpectralSGD;
  using Options = SpectralSGDOptions;
  static Options group(int g) {
    return g == 0 ? SpectralSGDOptions::msgdq(0.01).weight_decay(0.1)
                  : SpectralSGDOptions::msgd(0.02).momentum(0.8);
  }
};
struct AdamWCase {
  using Opt = AdamW;
  using Options = AdamWOptions;
  static Options group(int g) {
    return g == 0 ? AdamWOptions(0.01).weight_decay(0.1)
                  : AdamWOptions(0.03).beta1(0.8).beta2(0.99).weight_decay(0.0);
  }
};
struct LionCase {
  using Opt = Lion;
  using Options = LionOptions;
  static Options group(int g) {
    return g == 0 ? LionOptions(0.001).weight_decay(0.1)
                  : LionOptions(0.003).beta1(0.8).beta2(0.95);
  }
};

// The deterministic problem: group 0 {A 6×4, B 5×3}, group 1 {C 4×6, D 3×3 (never gets a
// gradient, so it has no state)}; float64.
struct Problem {
  std::vector<at::Tensor> params;  // A, B, C, D
  std::vector<specopt_optim_test::GradFn> grads;
  static std::vector<std::vector<int64_t>> shapes() { return {{6, 4}, {5, 3}, {4, 6}, {3, 3}}; }
  Problem() {
    const auto s = shapes();
    for (size_t i = 0; i < s.size(); ++i) {
      params.push_back(randn(s[i], 100 + i).requires_grad_(true));
      grads.push_back(nonlinear_grad(s[i], 200 + i));
    }
  }
  // Fresh leaf tensors holding a copy of `other`'s current values.
  explicit Problem(const Problem& other) : grads(other.grads) {
    for (const auto& p : other.params) params.push_back(p.detach().clone().requires_grad_(true));
  }
  std::vector<OptimizerParamGroup> groups() const {
    return {OptimizerParamGroup({params[0], params[1]}),
            OptimizerParamGroup({params[2], params[3]})};
  }
  template <class Case>
  std::vector<OptimizerParamGroup> groups_with_options() const {
    return {OptimizerParamGroup({params[0], params[1]},
                                std::make_unique<typename Case::Options>(Case::group(0))),
            OptimizerParamGroup({params[2], params[3]},
                                std::make_unique<typename Case::Options>(Case::group(1)))};
  }
  void run(torch::optim::Optimizer& opt, LrScheduler* sched, int steps) {
    for (int t = 0; t < steps; ++t) {
      for (size_t i = 0; i + 1 < params.size(); ++i) {
        params[i].mutable_grad() = grads[i](params[i].detach());
      }
      opt.step();
      if (sched) sched->step();
    }
  }
};

std::unique_ptr<Schedule> lr_schedule() { return make_schedule("warmup_cosine:warmup=3,total=20,min=0.1"); }

// Everything a checkpoint records, read back as (key → value): compares state, options,
// parameters, skipped_steps and scheduler positions of two optimizers in one go.
std::map<std::string, c10::IValue> snapshot(const SpecoptOptimizer& opt, LrScheduler* sched,
                                            const std::string& path) {
  CheckpointExtras ex;
  ex.save_parameters = true;
  if (sched) ex.lr_schedulers.push_back(sched);
  save_checkpoint(path, opt, ex);
  torch::serialize::InputArchive a;
  a.load_from(path);
  std::map<std::string, c10::IValue> out;
  for (const auto& k : a.keys()) {
    c10::IValue v;
    EXPECT_TRUE(a.try_read(k, v)) << k;
    out[k] = v;
  }
  return out;
}

void expect_same(const std::map<std::string, c10::IValue>& a,
                 const std::map<std::string, c10::IValue>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& kv : a) {
    auto it = b.find(kv.first);
    ASSERT_TRUE(it != b.end()) << what << ": missing " << kv.first;
    const auto& x = kv.second;
    const auto& y = it->second;
    if (x.isTensor()) {
      ASSERT_TRUE(y.isTensor()) << what << ": " << kv.first;
      EXPECT_TRUE(x.toTensor().scalar_type() == y.toTensor().scalar_type() &&
                  at::equal(x.toTensor(), y.toTensor()))
          << what << ": tensor " << kv.first << " differs";
    } else if (x.isDouble()) {
      ASSERT_TRUE(y.isDouble()) << what << ": " << kv.first;
      const double dx = x.toDouble(), dy = y.toDouble();
      EXPECT_EQ(0, std::memcmp(&dx, &dy, sizeof dx)) << what << ": " << kv.first << " " << dx
                                                     << " vs " << dy;
    } else if (x.isDoubleList()) {
      ASSERT_TRUE(y.isDoubleList()) << what << ": " << kv.first;
      const auto vx = x.toDoubleVector(), vy = y.toDoubleVector();
      ASSERT_EQ(vx.size(), vy.size()) << what << ": " << kv.first;
      EXPECT_TRUE(vx.empty() || std::memcmp(vx.data(), vy.data(), vx.size() * sizeof(double)) == 0)
          << what << ": " << kv.first;
    } else {
      std::ostringstream sx, sy;
      sx << x;
      sy << y;
      EXPECT_EQ(sx.str(), sy.str()) << what << ": " << kv.first;
    }
  }
}

template <class Case>
class CheckpointTest : public ::testing::Test {};

using Cases = ::testing::Types<MuonCase, LionKCase, SpectralAdamCase, SpectralSGDCase, AdamWCase,
                               LionCase>;
struct CaseNames {
  template <class T>
  static std::string GetName(int) {
    return T::Opt::kName;
  }
};
TYPED_TEST_SUITE(CheckpointTest, Cases, CaseNames);

constexpr int kN = 6;

TYPED_TEST(CheckpointTest, ResumeIsBitExactWithGroupOptionsAndSchedule) {
  using Case = TypeParam;
  using Opt = typename Case::Opt;
  TempDir dir;
  const std::string path = dir.file("opt.ckpt");

  // Reference: 2N uninterrupted steps.
  Problem ref;
  Opt opt_ref(ref.groups_with_options<Case>(), typename Case::Options(0.5));
  LrScheduler sched_ref(opt_ref, lr_schedule());
  ref.run(opt_ref, &sched_ref, 2 * kN);

  // N steps, save.
  Problem a;
  Opt opt_a(a.groups_with_options<Case>(), typename Case::Options(0.5));
  LrScheduler sched_a(opt_a, lr_schedule());
  a.run(opt_a, &sched_a, kN);
  CheckpointExtras ex;
  ex.lr_schedulers.push_back(&sched_a);
  ex.integers["epoch"] = 7;
  ex.doubles["best_loss"] = 0.125;
  save_checkpoint(path, opt_a, ex);

  // A FRESH optimizer on fresh tensors holding the parameters' values: other default lr, no
  // per-group options at all, a scheduler whose base lrs come from those wrong lrs.
  Problem b(a);
  Opt opt_b(b.groups(), typename Case::Options(0.777));
  LrScheduler sched_b(opt_b, lr_schedule());
  CheckpointExtras back;
  back.lr_schedulers.push_back(&sched_b);
  load_checkpoint(path, opt_b, back);
  EXPECT_EQ(sched_b.position(), kN);
  EXPECT_EQ(sched_b.base_lrs(), sched_a.base_lrs());
  EXPECT_EQ(back.integers.at("epoch"), 7);
  EXPECT_EQ(back.doubles.at("best_loss"), 0.125);
  for (size_t g = 0; g < 2; ++g) {
    EXPECT_EQ(opt_b.param_groups()[g].options().get_lr(),
              opt_a.param_groups()[g].options().get_lr());
  }
  // Everything the checkpoint records is identical after loading.
  expect_same(snapshot(opt_a, &sched_a, dir.file("s1")), snapshot(opt_b, &sched_b, dir.file("s2")),
              "after load");

  b.run(opt_b, &sched_b, kN);
  for (size_t i = 0; i < ref.params.size(); ++i) {
    EXPECT_TRUE(at::equal(ref.params[i], b.params[i])) << Opt::kName << " parameter " << i;
  }
  EXPECT_FALSE(at::equal(ref.params[0], a.params[0])) << "the trajectory must move after N";
  // Options per group survive the steps too (weight decay differs by group).
  const auto& o0 = static_cast<const typename Case::Options&>(opt_b.param_groups()[0].options());
  const auto& o1 = static_cast<const typename Case::Options&>(opt_b.param_groups()[1].options());
  EXPECT_EQ(o0.weight_decay(), Case::group(0).weight_decay());
  EXPECT_EQ(o1.weight_decay(), Case::group(1).weight_decay());
  expect_same(snapshot(opt_ref, &sched_ref, dir.file("s3")),
              snapshot(opt_b, &sched_b, dir.file("s4")), "after 2N");
}

TYPED_TEST(CheckpointTest, SaveParametersRestoresThem) {
  using Case = TypeParam;
  using Opt = typename Case::Opt;
  TempDir dir;
  Problem a;
  Opt opt_a(a.groups_with_options<Case>());
  a.run(opt_a, nullptr, 3);
  CheckpointExtras ex;
  ex.save_parameters = true;
  save_checkpoint(dir.file("p.ckpt"), opt_a, ex);
  Problem b;  // initial values, not a's
  Opt opt_b(b.groups());
  load_checkpoint(dir.file("p.ckpt"), opt_b);
  for (size_t i = 0; i < a.params.size(); ++i) {
    EXPECT_TRUE(at::equal(a.params[i], b.params[i])) << i;
  }
  a.run(opt_a, nullptr, 3);
  b.run(opt_b, nullptr, 3);
  for (size_t i = 0; i < a.params.size(); ++i) {
    EXPECT_TRUE(at::equal(a.params[i], b.params[i])) << i;
  }
}

// The target optimizer has taken steps (state, scheduler position); a refused load leaves
// every recorded value bit-identical.
template <class Case, class F>
void expect_refused(const std::string& ckpt, const std::string& fragment, F&& make_extras) {
  using Opt = typename Case::Opt;
  TempDir dir;
  Problem p;
  Opt opt(p.groups_with_options<Case>());
  LrScheduler sched(opt, lr_schedule());
  p.run(opt, &sched, 3);
  const auto before = snapshot(opt, &sched, dir.file("before"));
  const double lr0 = opt.param_groups()[0].options().get_lr();
  CheckpointExtras ex = make_extras(sched);
  try {
    load_checkpoint(ckpt, opt, ex);
    ADD_FAILURE() << "load_checkpoint accepted " << ckpt << " (expected: " << fragment << ")";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << fragment;
  }
  EXPECT_EQ(opt.param_groups()[0].options().get_lr(), lr0);
  EXPECT_EQ(sched.position(), 3);
  expect_same(before, snapshot(opt, &sched, dir.file("after")), "after a refused load");
}

template <class Case>
CheckpointExtras with_sched(LrScheduler& s) {
  CheckpointExtras ex;
  ex.lr_schedulers.push_back(&s);
  return ex;
}

TYPED_TEST(CheckpointTest, RefusesAnotherOptimizerKind) {
  using Case = TypeParam;
  TempDir dir;
  // The same parameter layout under another optimizer: AdamW (Lion for AdamW itself).
  Problem p;
  std::string other;
  if (std::string(Case::Opt::kName) == "AdamW") {
    Lion o(p.groups(), LionOptions(0.1));
    p.run(o, nullptr, 2);
    save_checkpoint(dir.file("other.ckpt"), o);
    other = "Lion";
  } else {
    AdamW o(p.groups(), AdamWOptions(0.1));
    p.run(o, nullptr, 2);
    save_checkpoint(dir.file("other.ckpt"), o);
    other = "AdamW";
  }
  expect_refused<Case>(dir.file("other.ckpt"),
                       "checkpoint is for " + other + ", optimizer is " + Case::Opt::kName,
                       [](LrScheduler&) { return CheckpointExtras{}; });
}

TYPED_TEST(CheckpointTest, RefusesOtherShapesCountsDtypesAndBadFiles) {
  using Case = TypeParam;
  using Opt = typename Case::Opt;
  TempDir dir;
  // A checkpoint of the right kind with one shape transposed.
  {
    Problem p;
    p.params[2] = randn({6, 4}, 5).requires_grad_(true);
    p.grads[2] = nonlinear_grad({6, 4}, 6);
    Opt o(p.groups_with_options<Case>());
    LrScheduler s(o, lr_schedule());
    p.run(o, &s, 2);
    CheckpointExtras ex;
    ex.lr_schedulers.push_back(&s);
    save_checkpoint(dir.file("shape.ckpt"), o, ex);
  }
  expect_refused<Case>(dir.file("shape.ckpt"),
                       "param group 1, parameter 0: shape [6, 4] in the checkpoint, [4, 6] in "
                       "the optimizer",
                       with_sched<Case>);
  // dtype.
  {
    Problem p;
    p.params[1] = p.params[1].detach().to(at::kFloat).requires_grad_(true);
    auto g = p.grads[1];
    p.grads[1] = [g](const at::Tensor& X) { return g(X.to(at::kDouble)).to(at::kFloat); };
    Opt o(p.groups_with_options<Case>());
    p.run(o, nullptr, 2);
    save_checkpoint(dir.file("dtype.ckpt"), o);
  }
  expect_refused<Case>(dir.file("dtype.ckpt"),
                       "param group 0, parameter 1: dtype Float in the checkpoint, Double in the "
                       "optimizer",
                       [](LrScheduler&) { return CheckpointExtras{}; });
  // Group / parameter counts.
  {
    Problem p;
    Opt o(std::vector<OptimizerParamGroup>{OptimizerParamGroup({p.params[0], p.params[1]}),
                                           OptimizerParamGroup({p.params[2]})});
    save_checkpoint(dir.file("count.ckpt"), o);
    Opt one(std::vector<at::Tensor>{p.params[0]});
    save_checkpoint(dir.file("groups.ckpt"), one);
  }
  expect_refused<Case>(dir.file("count.ckpt"),
                       "param group 1 has 1 parameters in the checkpoint, 2 in the optimizer",
                       [](LrScheduler&) { return CheckpointExtras{}; });
  expect_refused<Case>(dir.file("groups.ckpt"),
                       "the checkpoint has 1 param groups, the optimizer has 2",
                       [](LrScheduler&) { return CheckpointExtras{}; });
  // Truncated file; missing file; not a checkpoint; unknown version.
  {
    Problem p;
    Opt o(p.groups_with_options<Case>());
    p.run(o, nullptr, 2);
    save_checkpoint(dir.file("good.ckpt"), o);
    LrScheduler s(o, lr_schedule());
    CheckpointExtras ex;
    ex.lr_schedulers.push_back(&s);
    save_checkpoint(dir.file("sched.ckpt"), o, ex);
    const auto bytes = read_bytes(dir.file("good.ckpt"));
    std::ofstream(dir.file("trunc.ckpt"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    // With a valid checksum trailer (specopt/util/checksum.h), so that the loader's own checks
    // behind it are reached.
    std::ofstream(dir.file("garbage.ckpt"), std::ios::binary)
        << specopt::with_checksum_trailer("not a checkpoint");
    auto framed = [](torch::serialize::OutputArchive& a, const std::string& file) {
      std::ostringstream os;
      a.save_to(os);
      std::ofstream(file, std::ios::binary) << specopt::with_checksum_trailer(os.str());
    };
    torch::serialize::OutputArchive other;
    other.write("specopt_format_version", c10::IValue(int64_t(99)));
    framed(other, dir.file("v99.ckpt"));
    torch::serialize::OutputArchive plain;
    plain.write("x", c10::IValue(int64_t(1)));
    framed(plain, dir.file("plain.ckpt"));
  }
  // Scheduler list mismatch (the checkpoint has one, none given).
  expect_refused<Case>(dir.file("sched.ckpt"), "the checkpoint has 1 lr schedulers, 0 were given",
                       [](LrScheduler&) { return CheckpointExtras{}; });
  expect_refused<Case>(dir.file("trunc.ckpt"), dir.file("trunc.ckpt") + "': no checksum trailer",
                       [](LrScheduler&) { return CheckpointExtras{}; });
  expect_refused<Case>(dir.file("garbage.ckpt"), "is not a readable checkpoint",
                       [](LrScheduler&) { return CheckpointExtras{}; });
  expect_refused<Case>(dir.file("missing.ckpt"),
                       "cannot open '" + dir.file("missing.ckpt") + "'",
                       [](LrScheduler&) { return CheckpointExtras{}; });
  expect_refused<Case>(dir.file("v99.ckpt"), "checkpoint format version 99",
                       [](LrScheduler&) { return CheckpointExtras{}; });
  expect_refused<Case>(dir.file("plain.ckpt"), "is not a specopt optimizer checkpoint",
                       [](LrScheduler&) { return CheckpointExtras{}; });
}

// ---- Atomic writes. ----

TEST(CheckpointAtomic, FailedSaveLeavesNoTempAndOldFileIntact) {
  TempDir dir;
  Problem p;
  Muon opt(p.groups_with_options<MuonCase>());
  p.run(opt, nullptr, 2);
  const std::string path = dir.file("opt.ckpt");
  save_checkpoint(path, opt);
  const auto old_bytes = read_bytes(path);
  ASSERT_FALSE(old_bytes.empty());
  p.run(opt, nullptr, 2);  // the optimizer changes; the next save would differ

  // 1. A directory that cannot be written.
  if (::geteuid() != 0) {  // root ignores permission bits
    ASSERT_EQ(::chmod(dir.path.c_str(), 0555), 0);
    try {
      save_checkpoint(path, opt);
      ADD_FAILURE() << "save into a read-only directory succeeded";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    ::chmod(dir.path.c_str(), 0755);
  }
  // 2. The target path is a non-empty directory: refused before anything is written.
  const std::string blocked = dir.file("blocked");
  ASSERT_EQ(::mkdir(blocked.c_str(), 0755), 0);
  std::ofstream(blocked + "/keep") << "x";
  try {
    save_checkpoint(blocked, opt);
    ADD_FAILURE() << "save over a directory succeeded";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("it is a directory"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(blocked), std::string::npos) << e.what();
  }
  ::unlink((blocked + "/keep").c_str());
  ::rmdir(blocked.c_str());
  // 3. A path in a missing directory: the directory is created (a fresh run directory).
  EXPECT_NO_THROW(save_checkpoint(dir.file("no/such/dir/opt.ckpt"), opt));
  EXPECT_TRUE(std::filesystem::is_regular_file(dir.file("no/such/dir/opt.ckpt")));
  std::filesystem::remove_all(dir.file("no"));
  // No temporary files anywhere; the old checkpoint is byte-identical and still loads.
  const auto files = dir.list();
  EXPECT_EQ(files, std::vector<std::string>{"opt.ckpt"});
  EXPECT_EQ(read_bytes(path), old_bytes);
  Problem q;
  Muon fresh(q.groups());
  EXPECT_NO_THROW(load_checkpoint(path, fresh));

  // A successful save replaces the file and leaves no temporary behind either.
  save_checkpoint(path, opt);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"opt.ckpt"});
}

TEST(CheckpointOptions, EveryOptionFieldRoundTrips) {
  TempDir dir;
  Problem p;
  // Non-default values in every serialized field, including nested polar / power settings.
  auto polar = PolarOptions()
                   .method(PolarMethod::newton_schulz)
                   .schedule(NsSchedule::polar_express())
                   .steps(7)
                   .eps(1e-6)
                   .ridge(1e-3)
                   .tol(0.05)
                   .compute_dtype(at::kFloat);
  auto o = SpectralAdamOptions(0.0123)
               .p(0.25)
               .beta1(0.8)
               .beta2(0.97)
               .eps(1e-7)
               .weight_decay(0.3)
               .power(PowerOptions().method(PowerMethod::svd).iters(9).tol(0.02).polar(polar))
               .shape_rule("original")
               .split_qkv(false)
               .skip_nonfinite(true);
  SpectralAdam a(std::vector<at::Tensor>{p.params[0]}, o);
  save_checkpoint(dir.file("o.ckpt"), a);
  SpectralAdam b(std::vector<at::Tensor>{p.params[0]});
  load_checkpoint(dir.file("o.ckpt"), b);
  const auto& r = static_cast<const SpectralAdamOptions&>(b.param_groups()[0].options());
  EXPECT_EQ(r.lr(), 0.0123);
  EXPECT_EQ(r.p(), 0.25);
  EXPECT_EQ(r.beta1(), 0.8);
  EXPECT_EQ(r.beta2(), 0.97);
  EXPECT_EQ(r.eps(), 1e-7);
  EXPECT_EQ(r.weight_decay(), 0.3);
  EXPECT_EQ(r.shape_rule(), ShapeRule::original);
  EXPECT_TRUE(r.skip_nonfinite());
  EXPECT_EQ(r.power().method(), PowerMethod::svd);
  EXPECT_EQ(r.power().iters(), 9);
  EXPECT_EQ(r.power().tol(), 0.02);
  EXPECT_EQ(r.power().polar().method(), PolarMethod::newton_schulz);
  EXPECT_EQ(r.power().polar().steps(), 7);
  EXPECT_EQ(r.power().polar().eps(), 1e-6);
  EXPECT_EQ(r.power().polar().ridge(), 1e-3);
  EXPECT_EQ(r.power().polar().tol(), 0.05);
  ASSERT_TRUE(r.power().polar().compute_dtype().has_value());
  EXPECT_EQ(*r.power().polar().compute_dtype(), at::kFloat);
  const auto& s = r.power().polar().schedule();
  const auto want = NsSchedule::polar_express();
  EXPECT_EQ(s.name, want.name);
  EXPECT_EQ(s.coefficients, want.coefficients);
  EXPECT_EQ(s.norm_factor, want.norm_factor);
  EXPECT_EQ(s.tail.has_value(), want.tail.has_value());
  if (s.tail && want.tail) {
    EXPECT_EQ(*s.tail, *want.tail);
  }
  // Defaults are restored too.
  const auto& d = static_cast<const SpectralAdamOptions&>(b.defaults());
  EXPECT_EQ(d.lr(), 0.0123);

  // LionK's map is rebuilt from its registry spelling.
  LionK k(std::vector<at::Tensor>{p.params[0]}, LionKOptions(0.01).map("ky_fan:k=2"));
  save_checkpoint(dir.file("k.ckpt"), k);
  LionK k2(std::vector<at::Tensor>{p.params[0]});
  load_checkpoint(dir.file("k.ckpt"), k2);
  const auto& ko = static_cast<const LionKOptions&>(k2.param_groups()[0].options());
  EXPECT_EQ(ko.map()->name(), make_convex_map("ky_fan:k=2")->name());
}

TEST(CheckpointExtrasTest, SkippedStepsAndMomentumSchedulerRestored) {
  TempDir dir;
  Problem p;
  Muon opt(p.groups(), MuonOptions(0.02).skip_nonfinite(true));
  MomentumScheduler ms(opt, MomentumWarmup(0.85, 0.95, 10), momentum_setter<MuonOptions>());
  p.run(opt, nullptr, 2);
  ms.step();
  ms.step();
  p.params[0].mutable_grad() = at::full({6, 4}, std::nan(""), at::kDouble);
  opt.step();
  ASSERT_EQ(opt.skipped_steps(), 1);
  CheckpointExtras ex;
  ex.momentum_schedulers.push_back(&ms);
  save_checkpoint(dir.file("m.ckpt"), opt, ex);

  Problem q(p);
  Muon fresh(q.groups(), MuonOptions(0.02).skip_nonfinite(true));
  MomentumScheduler ms2(fresh, MomentumWarmup(0.85, 0.95, 10), momentum_setter<MuonOptions>());
  CheckpointExtras back;
  back.momentum_schedulers.push_back(&ms2);
  load_checkpoint(dir.file("m.ckpt"), fresh, back);
  EXPECT_EQ(fresh.skipped_steps(), 1);
  EXPECT_EQ(ms2.position(), 2);
  EXPECT_EQ(static_cast<const MuonOptions&>(fresh.param_groups()[1].options()).momentum(),
            MomentumWarmup(0.85, 0.95, 10).value(2));
}

}  // namespace
