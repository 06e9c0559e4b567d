// Hybrid use: the partition helper (default rule, custom predicate, errors) and
// HybridOptimizer (bitwise equal to stepping the two standalone optimizers, closure once,
// zero_grad, non-finite gradients, schedules on each member, checkpoints of both members).
#include <torch/optim/schedulers/step_lr.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "specopt/optim/checkpoint.h"
#include "specopt/optim/hybrid.h"
#include "specopt/optim/partition.h"
#include "specopt/optim/schedule.h"
#include "tests/optim/optim_test_util.h"

namespace {

using namespace specopt;
using Names = std::vector<std::string>;

// embedding + two bias-free hidden Linears + LayerNorm + head Linear with bias.
struct TinyNet : torch::nn::Module {
  TinyNet()
      : embed(register_module("embed", torch::nn::Embedding(11, 6))),
        fc1(register_module("fc1", torch::nn::Linear(torch::nn::LinearOptions(6, 8).bias(false)))),
        fc2(register_module("fc2", torch::nn::Linear(torch::nn::LinearOptions(8, 6).bias(false)))),
        norm(register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({6})))),
        head(register_module("head", torch::nn::Linear(6, 5))) {}

  at::Tensor forward(const at::Tensor& tokens) {
    const auto x = embed(tokens);
    const auto h = norm(x + fc2(at::tanh(fc1(x))));
    return head(h);
  }

  torch::nn::Embedding embed;
  torch::nn::Linear fc1, fc2;
  torch::nn::LayerNorm norm;
  torch::nn::Linear head;
};

std::shared_ptr<TinyNet> make_net(uint64_t seed) {
  auto net = std::make_shared<TinyNet>();
  net->to(at::kDouble);
  c10::NoGradGuard no_grad;
  uint64_t s = seed;
  for (auto& item : net->named_parameters()) {
    item.value().copy_(0.5 * specopt_optim_test::randn(item.value().sizes(), ++s));
  }
  return net;
}

at::Tensor tokens_for(int t) {
  return at::remainder(at::arange(7 * t, 7 * t + 12, at::kLong) * 5, 11).reshape({3, 4});
}

at::Tensor loss_of(TinyNet& net, int t) {
  const auto out = net.forward(tokens_for(t));
  return (out - 0.1 * t).pow(2).mean() + 0.01 * out.sin().sum();
}

void copy_params(TinyNet& from, TinyNet& to) {
  c10::NoGradGuard no_grad;
  auto src = from.named_parameters();
  for (auto& item : to.named_parameters()) item.value().copy_(src[item.key()]);
}

bool all_bitwise_equal(TinyNet& a, TinyNet& b) {
  auto pb = b.named_parameters();
  for (const auto& item : a.named_parameters()) {
    if (!at::equal(item.value(), pb[item.key()])) return false;
  }
  return true;
}

TEST(Partition, DefaultRuleSplitsTinyNet) {
  auto net = make_net(1);
  const auto part = partition_parameters(*net);
  EXPECT_EQ(part.spectral_names(), (Names{"fc1.weight", "fc2.weight"}));
  EXPECT_EQ(part.adamw_names(),
            (Names{"embed.weight", "norm.weight", "norm.bias", "head.weight", "head.bias"}));
  EXPECT_EQ(part.adamw[0].reason, "embedding");
  EXPECT_EQ(part.adamw[1].reason, "< 2-D");
  EXPECT_EQ(part.adamw[3].reason, "output head");
  EXPECT_EQ(part.spectral[0].reason, "hidden matrix");
  EXPECT_TRUE(part.spectral[0].param.is_same(net->fc1->weight));
  EXPECT_NE(part.summary().find("spectral  fc1.weight [8, 6]  (hidden matrix)"), std::string::npos)
      << part.summary();
}

TEST(Partition, DefaultRuleNamesAndConfigurableLists) {
  const auto m = at::zeros({4, 4}, at::kDouble);
  std::string why;
  EXPECT_FALSE(default_is_spectral("transformer.wte.weight", m, {}, &why));
  EXPECT_EQ(why, "embedding");
  EXPECT_FALSE(default_is_spectral("lm_head.weight", m, {}, &why));
  EXPECT_EQ(why, "output head");
  EXPECT_FALSE(default_is_spectral("h.0.ln_1.weight", m, {}, &why));
  EXPECT_EQ(why, "norm");
  EXPECT_FALSE(default_is_spectral("proj.bias", m, {}, &why));
  EXPECT_EQ(why, "bias");
  EXPECT_FALSE(default_is_spectral("Classifier.Weight", m, {}, &why)) << "case-insensitive";
  EXPECT_TRUE(default_is_spectral("h.0.mlp.c_fc.weight", m, {}, &why));
  EXPECT_TRUE(default_is_spectral("conv.weight", at::zeros({2, 3, 3, 3}), {}, &why));
  EXPECT_FALSE(default_is_spectral("h.0.mlp.c_fc.weight", at::zeros({4}), {}, &why));
  EXPECT_EQ(why, "< 2-D");
  // A model whose output layer is called "out_proj" but whose hidden blocks say "head":
  const auto opts = PartitionOptions().head_patterns({"out_proj"});
  EXPECT_TRUE(default_is_spectral("attn.heads.weight", m, opts));
  EXPECT_FALSE(default_is_spectral("out_proj.weight", m, opts));
}

TEST(Partition, CustomPredicateReplacesTheRule) {
  auto net = make_net(2);
  const auto part = partition_parameters(
      *net, PartitionOptions().predicate([](const std::string& name, const at::Tensor& p) {
        return p.dim() == 2 && name != "fc2.weight";  // embedding and head now spectral
      }));
  EXPECT_EQ(part.spectral_names(), (Names{"embed.weight", "fc1.weight", "head.weight"}));
  EXPECT_EQ(part.adamw_names(), (Names{"fc2.weight", "norm.weight", "norm.bias", "head.bias"}));
  EXPECT_EQ(part.spectral[0].reason, "predicate");
}

TEST(Partition, Errors) {
  auto net = make_net(3);
  // The same tensor twice (tied weights) and the same name twice.
  std::vector<std::pair<std::string, at::Tensor>> tied = {{"embed.weight", net->embed->weight},
                                                          {"fc1.weight", net->fc1->weight},
                                                          {"tied_head.weight", net->embed->weight}};
  EXPECT_THROW_MSG(partition_parameters(tied), "'tied_head.weight' is the same tensor as "
                                               "'embed.weight'");
  std::vector<std::pair<std::string, at::Tensor>> twice = {{"w", net->fc1->weight},
                                                           {"w", net->fc2->weight}};
  EXPECT_THROW_MSG(partition_parameters(twice), "the name 'w' appears twice");
  // A custom rule sending a 1-D parameter to the spectral side.
  const auto everything = PartitionOptions().predicate(
      [](const std::string&, const at::Tensor&) { return true; });
  EXPECT_THROW_MSG(partition_parameters(*net, everything),
                   "parameter 'norm.weight' (shape [6], 1-D)");
  EXPECT_THROW_MSG(partition_parameters(*net, everything), "spectral side by the custom predicate");
  EXPECT_NO_THROW(
      partition_parameters(*net, PartitionOptions(everything).allow_spectral_vectors(true)));
  // An empty spectral side: fine unless required.
  const auto none = PartitionOptions().predicate(
      [](const std::string&, const at::Tensor&) { return false; });
  EXPECT_EQ(partition_parameters(*net, none).adamw.size(), 7u);
  EXPECT_THROW_MSG(partition_parameters(*net, PartitionOptions(none).require_spectral(true)),
                   "no parameter went to the spectral side");
}

// A hybrid step equals a standalone Muon on the matrices plus a standalone AdamW on the rest,
// bitwise in float64, over several steps (state carried over).
TEST(HybridOptimizer, EqualsStandaloneMuonPlusAdamWBitwise) {
  auto a = make_net(4);
  auto b = make_net(99);
  copy_params(*a, *b);
  const auto muon_opts = MuonOptions(0.03).weight_decay(0.1);
  const auto adamw_opts = AdamWOptions(0.01).weight_decay(0.05);
  HybridOptimizer hybrid(*a, muon_opts, adamw_opts);
  Muon muon({b->fc1->weight, b->fc2->weight}, muon_opts);
  AdamW adamw({b->embed->weight, b->norm->weight, b->norm->bias, b->head->weight, b->head->bias},
              adamw_opts);
  EXPECT_EQ(hybrid.num_spectral_params(), 2u);
  EXPECT_EQ(hybrid.num_adamw_params(), 5u);
  EXPECT_STREQ(hybrid.rule(0).kind(), "Muon");
  EXPECT_STREQ(hybrid.rule(1).kind(), "AdamW");
  EXPECT_EQ(hybrid.num_spectral_groups(), 1u);
  ASSERT_EQ(hybrid.param_groups().size(), 2u);
  EXPECT_EQ(hybrid.param_groups()[0].params().size(), 2u);
  EXPECT_EQ(hybrid.param_groups()[1].params().size(), 5u);
  EXPECT_DOUBLE_EQ(hybrid.param_groups()[0].options().get_lr(), 0.03);
  EXPECT_DOUBLE_EQ(hybrid.param_groups()[1].options().get_lr(), 0.01);
  // It is a torch::optim::Optimizer: torch's own code can hold it as one.
  torch::optim::Optimizer& as_torch = hybrid;
  EXPECT_EQ(as_torch.param_groups().size(), 2u);
  for (int t = 1; t <= 5; ++t) {
    hybrid.zero_grad();
    loss_of(*a, t).backward();
    hybrid.step();
    muon.zero_grad();
    adamw.zero_grad();
    loss_of(*b, t).backward();
    muon.step();
    adamw.step();
    ASSERT_TRUE(all_bitwise_equal(*a, *b)) << "step " << t;
  }
  EXPECT_FALSE(at::equal(a->fc1->weight, make_net(4)->fc1->weight)) << "it moved";
}

TEST(HybridOptimizer, OtherSpectralMembersStep) {
  auto net = make_net(5);
  HybridOptimizer lionk(*net, LionKOptions(0.01).map("nuclear"));
  HybridOptimizer sadam(*net, SpectralAdamOptions::adams(0.01));
  HybridOptimizer ssgd(*net, SpectralSGDOptions::msgdz(0.01));
  EXPECT_STREQ(lionk.rule(0).kind(), "LionK");
  EXPECT_STREQ(sadam.rule(0).kind(), "SpectralAdam");
  EXPECT_STREQ(ssgd.rule(0).kind(), "SpectralSGD");
  for (auto* opt : {&lionk, &sadam, &ssgd}) {
    const auto before = net->fc1->weight.clone();
    opt->zero_grad();
    loss_of(*net, 1).backward();
    opt->step();
    EXPECT_FALSE(at::equal(before, net->fc1->weight)) << opt->rule(0).kind();
    EXPECT_TRUE(specopt_test::all_finite(net->head->weight));
  }
}

TEST(HybridOptimizer, ClosureRunsOnceAndLossReturned) {
  auto net = make_net(6);
  HybridOptimizer opt(*net, MuonOptions(0.02));
  int calls = 0;
  const auto loss = opt.step([&] {
    ++calls;
    EXPECT_TRUE(c10::GradMode::is_enabled());
    opt.zero_grad();
    auto l = loss_of(*net, 1);
    l.backward();
    return l;
  });
  EXPECT_EQ(calls, 1);
  ASSERT_TRUE(loss.defined());
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  EXPECT_FALSE(opt.step().defined()) << "no closure, no loss";
}

TEST(HybridOptimizer, ZeroGradClearsBothSides) {
  auto net = make_net(7);
  HybridOptimizer opt(*net, MuonOptions(0.02));
  loss_of(*net, 1).backward();
  for (const auto& p : net->parameters()) ASSERT_TRUE(p.grad().defined());
  opt.zero_grad();
  // LibTorch 1.13 zeroes the gradients, 2.x sets them to undefined: either is cleared.
  for (const auto& item : net->named_parameters()) {
    const auto& g = item.value().grad();
    EXPECT_TRUE(!g.defined() || at::equal(g, at::zeros_like(g))) << item.key();
  }
}

TEST(HybridOptimizer, NonFiniteGradThrowsNamingParamAndChangesNothing) {
  auto net = make_net(8);
  HybridOptimizer opt(*net, MuonOptions(0.02), AdamWOptions(0.01));
  opt.zero_grad();
  loss_of(*net, 1).backward();
  opt.step();
  auto snapshot = make_net(0);
  copy_params(*net, *snapshot);
  opt.zero_grad();
  loss_of(*net, 2).backward();
  net->head->bias.mutable_grad()[2] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW_MSG(opt.step(), "HybridOptimizer: non-finite (NaN or Inf) gradient in parameter "
                               "'head.bias' (shape [5])");
  EXPECT_TRUE(all_bitwise_equal(*net, *snapshot)) << "the spectral side did not step either";
  // With skip_nonfinite both sides skip and the step is counted.
  HybridOptimizer skipping(*net, MuonOptions(0.02), AdamWOptions(0.01),
                           HybridOptions().skip_nonfinite(true));
  net->fc1->weight.mutable_grad()[0][0] = std::numeric_limits<double>::infinity();
  EXPECT_NO_THROW(skipping.step());
  EXPECT_EQ(skipping.skipped_steps(), 1);
  EXPECT_TRUE(all_bitwise_equal(*net, *snapshot));
}

TEST(HybridOptimizer, UndefinedGradLeavesParamUntouched) {
  auto net = make_net(9);
  HybridOptimizer opt(*net, MuonOptions(0.02), AdamWOptions(0.01).weight_decay(0.5));
  net->fc1->weight.mutable_grad() = at::ones_like(net->fc1->weight);  // only fc1 has a gradient
  const auto head_before = net->head->weight.clone();
  const auto fc1_before = net->fc1->weight.clone();
  opt.step();
  EXPECT_TRUE(at::equal(net->head->weight, head_before)) << "no weight decay without a gradient";
  EXPECT_FALSE(at::equal(net->fc1->weight, fc1_before));
}

// One LrScheduler drives both sides, each group from its own base lr; the momentum schedule
// reaches the spectral group only.
TEST(HybridOptimizer, OneSchedulerForBothSides) {
  auto net = make_net(10);
  HybridOptimizer opt(*net, MuonOptions(0.02), AdamWOptions(0.004));
  LrScheduler lr(opt, WarmupCosineSchedule(2, 10));
  MomentumScheduler momentum(opt, MomentumWarmup(0.85, 0.95, 4),
                             momentum_setter<MuonOptions>(/*skip_other_types=*/true));
  EXPECT_DOUBLE_EQ(opt.param_groups()[0].options().get_lr(), 0.0);
  EXPECT_DOUBLE_EQ(opt.param_groups()[1].options().get_lr(), 0.0);
  for (int t = 1; t <= 2; ++t) {
    opt.zero_grad();
    loss_of(*net, t).backward();
    opt.step();
    lr.step();
    momentum.step();
  }
  EXPECT_DOUBLE_EQ(opt.param_groups()[0].options().get_lr(), 0.02);
  EXPECT_DOUBLE_EQ(opt.param_groups()[1].options().get_lr(), 0.004);
  EXPECT_DOUBLE_EQ(static_cast<const MuonOptions&>(opt.param_groups()[0].options()).momentum(),
                   0.90);
  EXPECT_DOUBLE_EQ(static_cast<const AdamWOptions&>(opt.param_groups()[1].options()).beta1(), 0.9);
}

// LibTorch's own schedulers work on it directly: StepLR halves every group's lr.
TEST(HybridOptimizer, LibTorchStepLR) {
  auto net = make_net(10);
  HybridOptimizer opt(*net, MuonOptions(0.02), AdamWOptions(0.004));
  torch::optim::StepLR step_lr(opt, /*step_size=*/2, /*gamma=*/0.5);
  for (int t = 1; t <= 3; ++t) {  // LibTorch's StepLR decays on its 2nd step() call
    opt.zero_grad();
    loss_of(*net, t).backward();
    opt.step();
    step_lr.step();
  }
  EXPECT_DOUBLE_EQ(opt.param_groups()[0].options().get_lr(), 0.01);
  EXPECT_DOUBLE_EQ(opt.param_groups()[1].options().get_lr(), 0.002);
}

TEST(HybridOptimizer, CustomMembersMustMatchThePartition) {
  auto net = make_net(11);
  auto part = partition_parameters(*net);
  auto spectral = std::make_unique<Muon>(part.spectral_params(), MuonOptions(0.02));
  auto wrong = std::make_unique<AdamW>(std::vector<at::Tensor>{net->head->weight}, AdamWOptions());
  EXPECT_THROW_MSG(HybridOptimizer(part, std::move(spectral), std::move(wrong)),
                   "the adamw member (AdamW) holds 1 parameter(s) but the partition's adamw "
                   "side has 5");
  // Two AdamW groups (decay / no decay) built by the caller are fine.
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<at::Tensor>{net->embed->weight},
                      std::make_unique<AdamWOptions>(AdamWOptions(0.01).weight_decay(0.1)));
  groups.emplace_back(std::vector<at::Tensor>{net->norm->weight, net->norm->bias,
                                              net->head->weight, net->head->bias},
                      std::make_unique<AdamWOptions>(AdamWOptions(0.01).weight_decay(0.0)));
  HybridOptimizer opt(part, std::make_unique<Muon>(part.spectral_params(), MuonOptions(0.02)),
                      std::make_unique<AdamW>(std::move(groups), AdamWOptions(0.01)));
  EXPECT_EQ(opt.param_groups().size(), 3u);
  EXPECT_EQ(opt.num_spectral_groups(), 1u);
  EXPECT_DOUBLE_EQ(static_cast<const AdamWOptions&>(opt.param_groups()[1].options()).weight_decay(), 0.1);
  EXPECT_DOUBLE_EQ(static_cast<const AdamWOptions&>(opt.param_groups()[2].options()).weight_decay(), 0.0);
  EXPECT_EQ(opt.param_name(2, 3), "parameter 'head.bias'");
  // A member holding the right number of parameters in another order is refused by name.
  auto swapped = std::make_unique<AdamW>(
      std::vector<at::Tensor>{net->norm->weight, net->embed->weight, net->norm->bias,
                              net->head->weight, net->head->bias},
      AdamWOptions());
  EXPECT_THROW_MSG(HybridOptimizer(part, std::make_unique<Muon>(part.spectral_params()),
                                   std::move(swapped)),
                   "is not the partition's 'embed.weight'");
}

TEST(HybridOptimizer, SpectralMemberRejectsVectorsFromAPermissivePartition) {
  auto net = make_net(12);
  const auto part = partition_parameters(
      *net, PartitionOptions()
                .predicate([](const std::string& n, const at::Tensor&) { return n == "norm.bias"; })
                .allow_spectral_vectors(true));
  EXPECT_THROW_MSG(HybridOptimizer(part, MuonOptions(0.02)), "AdamW");
  EXPECT_NO_THROW(HybridOptimizer(part, LionKOptions(0.01).map("l1")));
}

}  // namespace

namespace {

// A partition with an empty side still builds a working hybrid (the empty member never moves).
TEST(HybridOptimizer, EmptySpectralSideStepsAdamWOnly) {
  using namespace specopt;
  auto net = make_net(13);
  const auto none = PartitionOptions().predicate(
      [](const std::string&, const at::Tensor&) { return false; });
  HybridOptimizer opt(*net, MuonOptions(0.02), AdamWOptions(0.01),
                      HybridOptions().partition(none));
  EXPECT_EQ(opt.num_spectral_params(), 0u);
  EXPECT_EQ(opt.num_adamw_params(), 7u);
  const auto before = net->fc1->weight.clone();
  loss_of(*net, 1).backward();
  opt.step();
  EXPECT_FALSE(at::equal(before, net->fc1->weight)) << "fc1 went to AdamW";
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Checkpoints through the hybrid object: one file for both members.

namespace hybrid_ckpt {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("specopt_hybrid_" + name + "_" + std::to_string(::getpid()) + ".pt"))
      .string();
}

void train(HybridOptimizer& opt, TinyNet& net, int from, int to) {
  for (int t = from; t <= to; ++t) {
    opt.zero_grad();
    loss_of(net, t).backward();
    opt.step();
  }
}

}  // namespace hybrid_ckpt

// 2N steps == N steps + save + load into a fresh hybrid (other lrs on purpose) + N steps,
// bitwise, with the LrScheduler's position restored.
TEST(HybridCheckpoint, ResumeIsBitExact) {
  using namespace hybrid_ckpt;
  const int N = 4;
  auto a = make_net(7);
  HybridOptimizer full(*a, MuonOptions(0.03).weight_decay(0.1), AdamWOptions(0.01));
  LrScheduler sa(full, WarmupCosineSchedule(2, 10, 0.1, 1.0, 0.5));
  for (int t = 1; t <= 2 * N; ++t) {
    full.zero_grad();
    loss_of(*a, t).backward();
    full.step();
    sa.step();
  }

  auto b = make_net(7);
  HybridOptimizer first(*b, MuonOptions(0.03).weight_decay(0.1), AdamWOptions(0.01));
  LrScheduler sb(first, WarmupCosineSchedule(2, 10, 0.1, 1.0, 0.5));
  for (int t = 1; t <= N; ++t) {
    first.zero_grad();
    loss_of(*b, t).backward();
    first.step();
    sb.step();
  }
  const auto path = temp_path("resume");
  CheckpointExtras save_extras;
  save_extras.lr_schedulers = {&sb};
  save_checkpoint(path, first, save_extras);

  auto c = make_net(123);
  copy_params(*b, *c);
  HybridOptimizer resumed(*c, MuonOptions(0.5), AdamWOptions(0.5));  // lrs replaced by the load
  LrScheduler sc(resumed, WarmupCosineSchedule(2, 10, 0.1, 1.0, 0.5));
  CheckpointExtras load_extras;
  load_extras.lr_schedulers = {&sc};
  load_checkpoint(path, resumed, load_extras);
  EXPECT_EQ(sc.position(), N);
  EXPECT_DOUBLE_EQ(sc.base_lrs()[1], 0.01);
  for (int t = N + 1; t <= 2 * N; ++t) {
    resumed.zero_grad();
    loss_of(*c, t).backward();
    resumed.step();
    sc.step();
  }
  EXPECT_TRUE(all_bitwise_equal(*a, *c));
  std::remove(path.c_str());
}

// A checkpoint of another model (other parameter names) is refused; nothing changes.
TEST(HybridCheckpoint, OtherModelIsRefusedAndNothingChanges) {
  using namespace hybrid_ckpt;
  auto a = make_net(8);
  HybridOptimizer source(*a, MuonOptions(0.03), AdamWOptions(0.01));
  train(source, *a, 1, 2);
  const auto path = temp_path("other_model");
  save_checkpoint(path, source);

  auto b = make_net(9);
  PartitionOptions rule;
  rule.predicate([](const std::string& name, const at::Tensor& p) {
    return p.dim() >= 2 && name != "fc2.weight" && name.find("embed") == std::string::npos &&
           name.find("head") == std::string::npos;
  });
  HybridOptimizer other(partition_parameters(*b, rule), MuonOptions(0.03), AdamWOptions(0.01));
  train(other, *b, 1, 2);
  const auto before = checkpoint_bytes(other);
  EXPECT_THROW_MSG(load_checkpoint(path, other),
                   "param group 0 has 2 parameters in the checkpoint, 1 in the optimizer");
  EXPECT_EQ(checkpoint_bytes(other), before);
  EXPECT_THROW_MSG(load_checkpoint(temp_path("missing"), other), "cannot open");
  std::remove(path.c_str());
}

// The spectral groups would load, the AdamW side is refused (another rule): the refused load
// changes nothing at all, the spectral side included.
TEST(HybridCheckpoint, SecondSideRefusalChangesNothing) {
  using namespace hybrid_ckpt;
  auto a = make_net(10);
  HybridOptimizer source(*a, MuonOptions(0.03), AdamWOptions(0.01));
  train(source, *a, 1, 3);
  const auto path = temp_path("rollback");
  save_checkpoint(path, source);

  auto b = make_net(11);
  const auto part = partition_parameters(*b);
  HybridOptimizer target(part, std::make_unique<Muon>(part.spectral_params(), MuonOptions(0.07)),
                         std::make_unique<Lion>(part.adamw_params(), LionOptions(1e-3)));
  train(target, *b, 1, 1);
  const auto before = checkpoint_bytes(target);
  EXPECT_THROW_MSG(load_checkpoint(path, target),
                   "param group 1 is for AdamW in the checkpoint, Lion in the optimizer");
  EXPECT_EQ(checkpoint_bytes(target), before) << "a refused load changed the optimizer";
  EXPECT_DOUBLE_EQ(target.param_groups()[0].options().get_lr(), 0.07);
  std::remove(path.c_str());
}
