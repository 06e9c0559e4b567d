// The partition rule's patterns (specopt/optim/partition.h): standard names land on the side
// they belong to, the user's adamw_patterns / spectral_patterns decide first and are reported
// with the pattern that matched, and ambiguous, invalid or unmatched patterns are caught.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include <specopt/optim/partition.h>

namespace {

using specopt::PartitionOptions;
using Named = std::vector<std::pair<std::string, at::Tensor>>;

Named matrices(const std::vector<std::string>& names) {
  Named out;
  for (const auto& n : names) out.emplace_back(n, at::zeros({4, 4}));
  return out;
}

std::string side_of(const specopt::Partition& p, const std::string& name) {
  for (const auto& np : p.spectral) if (np.name == name) return "spectral";
  for (const auto& np : p.adamw) if (np.name == name) return "adamw";
  return "missing";
}

const specopt::NamedParameter& entry(const specopt::Partition& p, const std::string& name) {
  for (const auto* side : {&p.spectral, &p.adamw}) {
    for (const auto& np : *side) if (np.name == name) return np;
  }
  throw std::runtime_error("no parameter " + name);
}

TEST(PartitionPatterns, StandardNamesLandWhereTheyBelong) {
  const auto p = specopt::partition_parameters(matrices(
      {"token_mixer.weight", "out.weight", "output.weight", "attn.out.weight",
       "layers.0.attention.output.weight", "tok_embeddings.weight", "tok_emb.weight"}));
  // A hidden token-mixing matrix is not an embedding ("tok" used to match it).
  EXPECT_EQ(side_of(p, "token_mixer.weight"), "spectral");
  EXPECT_EQ(entry(p, "token_mixer.weight").reason, "hidden matrix");
  // A top-level `out` / `output` module is the output head; nested ones are hidden.
  EXPECT_EQ(side_of(p, "out.weight"), "adamw");
  EXPECT_EQ(entry(p, "out.weight").reason, "output head");
  EXPECT_EQ(entry(p, "out.weight").pattern, "^out(put)?\\.");
  EXPECT_EQ(side_of(p, "output.weight"), "adamw");
  EXPECT_EQ(side_of(p, "attn.out.weight"), "spectral");
  EXPECT_EQ(side_of(p, "layers.0.attention.output.weight"), "spectral");
  // Token embeddings by their usual names still go to AdamW.
  EXPECT_EQ(side_of(p, "tok_embeddings.weight"), "adamw");
  EXPECT_EQ(entry(p, "tok_embeddings.weight").pattern, "embed");
  EXPECT_EQ(side_of(p, "tok_emb.weight"), "adamw");
  EXPECT_EQ(entry(p, "tok_emb.weight").pattern, "tok_emb");
  EXPECT_NE(p.summary().find("adamw     out.weight [4, 4]  (output head '^out(put)?\\.')"),
            std::string::npos) << p.summary();
}

TEST(PartitionPatterns, UserPatternsDecideFirstAndAreReported) {
  auto named = matrices({"wte.weight", "blocks.0.fc.weight", "blocks.1.fc.weight", "head.weight"});
  named.emplace_back("blocks.0.ln.weight", at::zeros({4}));
  const auto opts = PartitionOptions()
                        .adamw_patterns({"^blocks\\.0\\.fc\\."})
                        .spectral_patterns({"^WTE\\.", "ln"});  // case-insensitive
  const auto p = specopt::partition_parameters(named, opts);
  EXPECT_EQ(side_of(p, "blocks.0.fc.weight"), "adamw");
  EXPECT_EQ(entry(p, "blocks.0.fc.weight").reason, "adamw_patterns");
  EXPECT_EQ(entry(p, "blocks.0.fc.weight").pattern, "^blocks\\.0\\.fc\\.");
  EXPECT_EQ(side_of(p, "blocks.1.fc.weight"), "spectral");
  EXPECT_EQ(side_of(p, "wte.weight"), "spectral");
  EXPECT_EQ(entry(p, "wte.weight").reason, "spectral_patterns");
  EXPECT_EQ(entry(p, "wte.weight").pattern, "^WTE\\.");
  EXPECT_EQ(side_of(p, "head.weight"), "adamw");  // the built-in lists still apply
  // The dimension test comes first: a vector matched by a spectral pattern stays on AdamW.
  EXPECT_EQ(entry(p, "blocks.0.ln.weight").reason, "< 2-D");
  EXPECT_TRUE(p.unmatched_patterns.empty());
  std::string reason, pattern;
  EXPECT_FALSE(specopt::default_is_spectral("blocks.0.fc.weight", at::zeros({4, 4}), opts, &reason,
                                            &pattern));
  EXPECT_EQ(reason, "adamw_patterns");
  EXPECT_EQ(pattern, "^blocks\\.0\\.fc\\.");
}

TEST(PartitionPatterns, AmbiguousInvalidAndUnmatchedPatterns) {
  const auto named = matrices({"blocks.0.out.weight", "blocks.0.fc.weight"});
  auto message = [&](const PartitionOptions& o) {
    try {
      specopt::partition_parameters(named, o);
    } catch (const c10::Error& e) {
      return std::string(e.what_without_backtrace());
    }
    return std::string("(accepted)");
  };
  const auto both = message(PartitionOptions().adamw_patterns({"out"}).spectral_patterns({"blocks"}));
  EXPECT_NE(both.find("parameter 'blocks.0.out.weight' matches adamw_patterns 'out' and "
                      "spectral_patterns 'blocks'"), std::string::npos) << both;
  const auto bad = message(PartitionOptions().spectral_patterns({"fc("}));
  EXPECT_NE(bad.find("spectral_patterns: 'fc(' is not a valid regular expression"),
            std::string::npos) << bad;
  const auto with_predicate = message(
      PartitionOptions().adamw_patterns({"out"}).predicate([](const std::string&, const at::Tensor&) {
        return true;
      }));
  EXPECT_NE(with_predicate.find("cannot be combined with adamw_patterns"), std::string::npos)
      << with_predicate;
  EXPECT_NE(specopt::partition_pattern_error("fc("), "");
  EXPECT_EQ(specopt::partition_pattern_error("^fc\\.$"), "");
  // A pattern that matches no name at all is reported (a typo, most likely).
  const auto p = specopt::partition_parameters(
      named, PartitionOptions().adamw_patterns({"^out\\.weight$", "fc"}).spectral_patterns({"mixer"}));
  const std::vector<std::pair<std::string, std::string>> unmatched = {
      {"adamw_patterns", "^out\\.weight$"}, {"spectral_patterns", "mixer"}};
  EXPECT_EQ(p.unmatched_patterns, unmatched);
}

}  // namespace
