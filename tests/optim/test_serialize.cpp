// torch::save / torch::load of every specopt optimizer, HybridOptimizer and LionK with a
// custom map: 2N steps equal N steps + save + load into an optimizer constructed with OTHER
// options + N steps, bit for bit (state, group options and defaults all come from the file).
// Also: options print every declared field.
#include <torch/serialize.h>

#include <functional>
#include <memory>
#include <sstream>

#include "specopt/maps/maps.h"
#include "specopt/maps/registry.h"
#include "specopt/optim/checkpoint.h"
#include "specopt/optim/hybrid.h"
#include "tests/common/temp_dir.h"
#include "tests/optim/optim_test_util.h"

namespace {

using namespace specopt;
namespace ot = specopt_optim_test;

// Two param groups (a 6×4 and a 5×3 matrix) with their own options; `other` builds the
// optimizer that receives the load, with different options everywhere.
using Make = std::function<std::unique_ptr<SpecoptOptimizer>(const std::vector<at::Tensor>&, bool other)>;

template <class Opt, class Options>
Make make(std::function<Options(double lr)> options, std::function<Options(double lr)> other) {
  return [options, other](const std::vector<at::Tensor>& params, bool use_other) {
    const auto& o = use_other ? other : options;
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(std::vector<at::Tensor>{params[0]}, std::make_unique<Options>(o(0.02)));
    groups.emplace_back(std::vector<at::Tensor>{params[1]}, std::make_unique<Options>(o(0.005)));
    return std::unique_ptr<SpecoptOptimizer>(new Opt(std::move(groups), o(0.01)));
  };
}

struct Case {
  std::string name;
  Make make;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::shared_ptr<const ConvexMap> custom_nuclear() {
  return std::make_shared<NuclearMap>(PolarOptions()
                                          .method(PolarMethod::newton_schulz)
                                          .steps(3)
                                          .schedule(NsSchedule::polar_express())
                                          .eps(1e-6));
}

// Every registered rule with its registry options (weight decay 0.1), loaded into one at 3× the
// lr without decay; a new rule joins by its registry line.
Make registered(const std::string& name) {
  return [name](const std::vector<at::Tensor>& params, bool use_other) {
    const double scale = use_other ? 3.0 : 1.0, wd = use_other ? 0.0 : 0.1;
    return ot::registry_optimizer(name, {{params[0]}, {params[1]}}, {0.02 * scale, 0.005 * scale},
                                  wd);
  };
}

std::vector<Case> cases() {
  std::vector<Case> all;
  for (const auto& r : registered_optimizers()) {
    all.push_back({"registry_" + r.name, registered(r.name)});
  }
  const std::vector<Case> hand = {
      {"Muon", make<Muon, MuonOptions>(
                   [](double lr) { return MuonOptions(lr).weight_decay(0.1); },
                   [](double lr) { return MuonOptions(3 * lr).momentum(0.5).nesterov(false); })},
      {"NorMuon", make<NorMuon, NorMuonOptions>(
                      [](double lr) { return NorMuonOptions(lr).weight_decay(0.1); },
                      [](double lr) { return NorMuonOptions(2 * lr).beta2(0.5); })},
      {"AdaMuon", make<AdaMuon, AdaMuonOptions>(
                      [](double lr) { return AdaMuonOptions(lr).weight_decay(0.1); },
                      [](double lr) { return AdaMuonOptions(2 * lr).beta2(0.5).sign_momentum(false); })},
      {"PolarGrad", make<PolarGrad, PolarGradOptions>(
                        [](double lr) { return PolarGradOptions(lr).weight_decay(0.1); },
                        [](double lr) { return PolarGradOptions(2 * lr).momentum(0.5).nesterov(true); })},
      {"Dion2", make<Dion2, Dion2Options>(
                    [](double lr) { return Dion2Options(lr).weight_decay(0.1).fraction(0.5); },
                    [](double lr) { return Dion2Options(2 * lr).momentum(0.5).selection("l2"); })},
      {"LionK", make<LionK, LionKOptions>(
                    [](double lr) { return LionKOptions(lr).map("schatten:q=3").weight_decay(0.1); },
                    [](double lr) { return LionKOptions(lr / 2).beta_pol(0.5); })},
      {"LionK_custom_map",
       make<LionK, LionKOptions>(
           [](double lr) { return LionKOptions(lr).map(custom_nuclear()).weight_decay(0.05); },
           [](double lr) { return LionKOptions(lr); })},
      {"SpectralAdam", make<SpectralAdam, SpectralAdamOptions>(
                           [](double lr) { return SpectralAdamOptions::adamq(lr).weight_decay(0.1); },
                           [](double lr) { return SpectralAdamOptions::adam(lr).beta1(0.5); })},
      {"SpectralSGD", make<SpectralSGD, SpectralSGDOptions>(
                          [](double lr) { return SpectralSGDOptions::msgdz(lr); },
                          [](double lr) { return SpectralSGDOptions::msgd(lr).momentum(0.1); })},
      {"AdamW", make<AdamW, AdamWOptions>(
                    [](double lr) { return AdamWOptions(lr).weight_decay(0.2); },
                    [](double lr) { return AdamWOptions(lr * 9).beta2(0.9); })},
      {"Lion", make<Lion, LionOptions>(
                   [](double lr) { return LionOptions(lr).weight_decay(0.1); },
                   [](double lr) { return LionOptions(lr * 2).beta1(0.1); })},
  };
  all.insert(all.end(), hand.begin(), hand.end());
  return all;
}

class SerializeTest : public ::testing::TestWithParam<Case> {};

std::vector<at::Tensor> fresh_params() {
  return {ot::randn({6, 4}, 1).requires_grad_(), ot::randn({5, 3}, 2).requires_grad_()};
}

void steps(torch::optim::Optimizer& opt, const std::vector<at::Tensor>& params, int from, int n) {
  const auto g0 = ot::nonlinear_grad({6, 4}, 11);
  const auto g1 = ot::nonlinear_grad({5, 3}, 12);
  for (int t = from; t < from + n; ++t) {
    params[0].mutable_grad() = g0(params[0].detach()) * (1.0 + 0.1 * t);
    params[1].mutable_grad() = g1(params[1].detach());
    opt.step();
  }
}

TEST_P(SerializeTest, TorchSaveLoadResumesBitExactly) {
  const int N = 4;
  auto a = fresh_params();
  auto opt_a = GetParam().make(a, false);
  steps(*opt_a, a, 0, 2 * N);

  auto b = fresh_params();
  auto opt_b = GetParam().make(b, false);
  steps(*opt_b, b, 0, N);
  specopt_test::ScopedTempDir dir;
  const std::string path = (dir.path / "opt.pt").string();
  torch::save(*opt_b, path);

  // Continue from the file in a new optimizer built with other options.
  auto c = std::vector<at::Tensor>{b[0].detach().clone().requires_grad_(),
                                   b[1].detach().clone().requires_grad_()};
  auto opt_c = GetParam().make(c, true);
  torch::load(*opt_c, path);
  steps(*opt_c, c, N, N);

  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(at::equal(a[i], c[i])) << GetParam().name << " param " << i << " differs by "
                                       << (a[i] - c[i]).abs().max().item<double>();
  }
  EXPECT_FALSE(at::equal(a[0], fresh_params()[0])) << "the trajectory did not move";
  // The group options came from the file: they print the same.
  for (size_t g = 0; g < 2; ++g) {
    std::ostringstream want, got;
    want << dynamic_cast<const RuleOptions&>(opt_b->param_groups()[g].options());
    got << dynamic_cast<const RuleOptions&>(opt_c->param_groups()[g].options());
    EXPECT_EQ(want.str(), got.str());
  }
  std::ostringstream want_d, got_d;
  want_d << dynamic_cast<const RuleOptions&>(opt_b->defaults());
  got_d << dynamic_cast<const RuleOptions&>(opt_c->defaults());
  EXPECT_EQ(want_d.str(), got_d.str());
}

TEST_P(SerializeTest, TorchLoadRefusesAnotherLayoutAndChangesNothing) {
  auto a = fresh_params();
  auto opt_a = GetParam().make(a, false);
  steps(*opt_a, a, 0, 2);
  specopt_test::ScopedTempDir dir;
  const std::string path = (dir.path / "opt.pt").string();
  torch::save(*opt_a, path);
  // Swapped shapes: the file's parameter 0 is 6×4, this optimizer's is 5×3.
  auto b = std::vector<at::Tensor>{ot::randn({5, 3}, 3).requires_grad_(),
                                   ot::randn({6, 4}, 4).requires_grad_()};
  auto opt_b = GetParam().make(b, true);
  std::ostringstream before;
  before << dynamic_cast<const RuleOptions&>(opt_b->param_groups()[0].options());
  try {
    torch::load(*opt_b, path);
    ADD_FAILURE() << "torch::load accepted another layout";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("shape"), std::string::npos) << e.what();
  }
  std::ostringstream after;
  after << dynamic_cast<const RuleOptions&>(opt_b->param_groups()[0].options());
  EXPECT_EQ(before.str(), after.str());
  EXPECT_TRUE(opt_b->state().empty());
}

INSTANTIATE_TEST_SUITE_P(EveryOptimizer, SerializeTest, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(SerializeMap, CustomNuclearMapSavesItsFullSpec) {
  const auto map = custom_nuclear();
  EXPECT_EQ(map->name(), "nuclear:method=newton_schulz,steps=3,schedule=polar_express,eps=1e-06");
  const auto back = make_convex_map(map->name());
  const auto& polar = dynamic_cast<const NuclearMap&>(*back).polar_options();
  EXPECT_EQ(polar.method(), PolarMethod::newton_schulz);
  EXPECT_EQ(polar.steps(), 3);
  EXPECT_EQ(polar.schedule().name, "polar_express");
  EXPECT_EQ(polar.eps(), 1e-6);
  EXPECT_EQ(back->name(), map->name());
}

TEST(SerializeOptions, OptionsPrintEveryDeclaredField) {
  std::ostringstream os;
  os << MuonOptions(0.03).weight_decay(0.25);
  const std::string s = os.str();
  for (const char* want : {"MuonOptions(", "lr=0.03", "momentum=0.95", "nesterov=true",
                           "polar.method=newton_schulz", "polar.steps=5", "weight_decay=0.25",
                           "shape_rule=original"}) {
    EXPECT_NE(s.find(want), std::string::npos) << want << " not in " << s;
  }
}

// The hybrid's file (both members, partition names): 2N == N + save + load (other options) + N.
TEST(SerializeHybrid, CheckpointResumesBitExactly) {
  auto named = [](uint64_t seed) {
    return std::vector<std::pair<std::string, at::Tensor>>{
        {"fc.weight", ot::randn({6, 4}, seed).requires_grad_()},
        {"fc.bias", ot::randn({6}, seed + 1).requires_grad_()}};
  };
  auto run = [](HybridOptimizer& opt, const std::vector<at::Tensor>& p, int from, int n) {
    const auto g0 = ot::nonlinear_grad({6, 4}, 21);
    const auto g1 = ot::nonlinear_grad({6}, 22);
    for (int t = from; t < from + n; ++t) {
      p[0].mutable_grad() = g0(p[0].detach()) * (1.0 + 0.1 * t);
      p[1].mutable_grad() = g1(p[1].detach());
      opt.step();
    }
  };
  const int N = 3;
  auto na = named(5);
  HybridOptimizer a(partition_parameters(na), MuonOptions(0.02).weight_decay(0.1),
                    AdamWOptions(0.01));
  run(a, {na[0].second, na[1].second}, 0, 2 * N);

  auto nb = named(5);
  HybridOptimizer b(partition_parameters(nb), MuonOptions(0.02).weight_decay(0.1),
                    AdamWOptions(0.01));
  run(b, {nb[0].second, nb[1].second}, 0, N);
  specopt_test::ScopedTempDir dir;
  const std::string path = (dir.path / "hybrid.ckpt").string();
  save_checkpoint(path, b);
  HybridOptimizer c(partition_parameters(nb), MuonOptions(0.5).nesterov(false),
                    AdamWOptions(0.3).beta1(0.1));
  load_checkpoint(path, c);
  run(c, {nb[0].second, nb[1].second}, N, N);
  EXPECT_TRUE(at::equal(na[0].second, nb[0].second));
  EXPECT_TRUE(at::equal(na[1].second, nb[1].second));

  // The same through torch::save / torch::load: the hybrid is a torch::optim::Optimizer.
  auto nd = named(5);
  HybridOptimizer d(partition_parameters(nd), MuonOptions(0.02).weight_decay(0.1),
                    AdamWOptions(0.01));
  run(d, {nd[0].second, nd[1].second}, 0, N);
  const std::string torch_path = (dir.path / "hybrid_torch.pt").string();
  torch::save(d, torch_path);
  HybridOptimizer e(partition_parameters(nd), MuonOptions(0.5).nesterov(false),
                    AdamWOptions(0.3).beta1(0.1));
  torch::load(e, torch_path);
  EXPECT_DOUBLE_EQ(e.param_groups()[0].options().get_lr(), 0.02);
  EXPECT_DOUBLE_EQ(e.param_groups()[1].options().get_lr(), 0.01);
  run(e, {nd[0].second, nd[1].second}, N, N);
  EXPECT_TRUE(at::equal(na[0].second, nd[0].second));
  EXPECT_TRUE(at::equal(na[1].second, nd[1].second));
}

// Same shapes, other parameter names (another model): refused by name, nothing changes.
TEST(SerializeHybrid, OtherParameterNamesAreRefused) {
  auto mine = std::vector<std::pair<std::string, at::Tensor>>{
      {"fc.weight", ot::randn({6, 4}, 1).requires_grad_()},
      {"fc.bias", ot::randn({6}, 2).requires_grad_()}};
  auto theirs = std::vector<std::pair<std::string, at::Tensor>>{
      {"proj.weight", ot::randn({6, 4}, 1).requires_grad_()},
      {"proj.bias", ot::randn({6}, 2).requires_grad_()}};
  HybridOptimizer a(partition_parameters(mine), MuonOptions(0.02), AdamWOptions(0.01));
  mine[0].second.mutable_grad() = ot::randn({6, 4}, 3);
  mine[1].second.mutable_grad() = ot::randn({6}, 4);
  a.step();
  specopt_test::ScopedTempDir dir;
  const std::string path = (dir.path / "a.ckpt").string();
  save_checkpoint(path, a);
  HybridOptimizer b(partition_parameters(theirs), MuonOptions(0.02), AdamWOptions(0.01));
  const auto before = checkpoint_bytes(b);
  EXPECT_THROW_MSG(load_checkpoint(path, b),
                   "parameter names differ from this optimizer's: parameter 'fc.weight' in the "
                   "checkpoint, parameter 'proj.weight' in the optimizer");
  EXPECT_EQ(checkpoint_bytes(b), before);
}

}  // namespace
