// The optimizer registry: spec strings → options of the right rule, any declared option by
// key, case- and '_'-insensitive names, errors naming the bad text; every registered name
// builds an optimizer that steps.
#include <sstream>

#include "specopt/maps/registry.h"
#include "tests/optim/optim_test_util.h"

namespace {

using namespace specopt;

std::string printed(const RuleOptions& o) {
  std::ostringstream os;
  os << o;
  return os.str();
}

TEST(OptimizerRegistry, NamesGiveTheirRulesDefaults) {
  EXPECT_EQ(printed(*make_optimizer_options("muon")), printed(MuonOptions()));
  EXPECT_EQ(printed(*make_optimizer_options("NorMuon")), printed(NorMuonOptions()));
  EXPECT_EQ(printed(*make_optimizer_options("adamuon")), printed(AdaMuonOptions()));
  EXPECT_EQ(printed(*make_optimizer_options("Polar_Grad")), printed(PolarGradOptions()));
  EXPECT_EQ(printed(*make_optimizer_options("DION2")), printed(Dion2Options()));
  EXPECT_EQ(printed(*make_optimizer_options("adamq")), printed(SpectralAdamOptions::adamq(1e-3)));
  EXPECT_EQ(printed(*make_optimizer_options("mSGDZ")), printed(SpectralSGDOptions::msgdz(1e-2)));
  EXPECT_EQ(printed(*make_optimizer_options("spectral_adam")), printed(SpectralAdamOptions()));
  EXPECT_EQ(make_optimizer_options("LION_K")->kind(), std::string("LionK"));
}

// The one spelling of a name that train and bench step store: lower case without '_'; every
// registered name builds from it.
TEST(OptimizerRegistry, OptimizerKeyIsTheFoldedName) {
  EXPECT_EQ(optimizer_key("Lion_K"), "lionk");
  EXPECT_EQ(optimizer_key("SpectralAdam"), "spectraladam");
  EXPECT_EQ(optimizer_key("mSGDZ"), "msgdz");
  for (const auto& r : registered_optimizers()) {
    EXPECT_EQ(make_optimizer_options(optimizer_key(r.name))->kind(),
              make_optimizer_options(r.name)->kind()) << r.name;
  }
}

TEST(OptimizerRegistry, DeclaredOptionsByKey) {
  const auto m = make_optimizer_options("MUON:lr=0.01,polar.steps=3,nesterov=false,nonfinite=skip");
  const auto& mo = dynamic_cast<const MuonOptions&>(*m);
  EXPECT_EQ(mo.lr(), 0.01);
  EXPECT_EQ(mo.ns_steps(), 3);
  EXPECT_EQ(mo.polar().method(), PolarMethod::newton_schulz);
  EXPECT_FALSE(mo.nesterov());
  EXPECT_EQ(mo.nonfinite(), NonFinite::skip);

  const auto k = make_optimizer_options("lion_k:map=schatten:q=3");
  EXPECT_EQ(dynamic_cast<const LionKOptions&>(*k).map()->name(), "schatten:q=3");
  const auto k2 = make_optimizer_options("lion_k:beta_pol=0.9,map=power:p=0.5,method=gram_eigh");
  const auto& ko = dynamic_cast<const LionKOptions&>(*k2);
  EXPECT_EQ(ko.beta_pol(), 0.9);
  EXPECT_EQ(ko.map()->name(), make_convex_map("power:p=0.5,method=gram_eigh")->name());
}

TEST(OptimizerRegistry, ErrorsNameTheBadText) {
  EXPECT_THROW_MSG(make_optimizer_options("sgdx"), "Unknown optimizer 'sgdx'");
  EXPECT_THROW_MSG(make_optimizer_options("muon:lr=abc"), "'abc' is not a finite number");
  EXPECT_THROW_MSG(make_optimizer_options("muon:bogus=1"), "bogus");
  EXPECT_THROW_MSG(make_optimizer_options("muon:lr=-1"), "Invalid MuonOptions.lr");
  EXPECT_THROW_MSG(make_optimizer_options("muon:shape_rule=sqrt"), "sqrt");
  EXPECT_THROW_MSG(make_optimizer_options("lionk:map=nope"), "nope");
}

TEST(OptimizerRegistry, EveryNameBuildsAnOptimizerThatSteps) {
  for (const auto& r : registered_optimizers()) {
    auto W = specopt_optim_test::randn({6, 4}, 1).requires_grad_();
    const auto W0 = W.detach().clone();
    auto opt = make_optimizer(r.name, {W});
    EXPECT_EQ(dynamic_cast<const RuleOptions&>(opt->param_groups()[0].options()).kind(),
              std::string(make_optimizer_options(r.name)->kind()))
        << r.name;
    W.mutable_grad() = specopt_optim_test::randn({6, 4}, 2);
    opt->step();
    EXPECT_FALSE(at::equal(W.detach(), W0)) << r.name;
    EXPECT_FALSE(r.summary.empty()) << r.name;
  }
}

}  // namespace
