#pragma once
// Small data sets written by the tests, so the trainer tests need no installed package:
//   * a Brown-style folder of tagged documents (ca01 ...), text with a learnable pattern;
//   * Fashion-MNIST-shaped IDX files whose class is written into the image (a bright 4×4 block
//     at a class-dependent place, plus noise), so a classifier can learn it in a few steps.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lab/data/idx.h"
#include "tests/common/temp_dir.h"

namespace specopt_train_test {

using TempDir = specopt_test::TempDirTest;

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// `docs` tagged documents "ca01", "ca02", ... in `dir`; document i repeats simple sentences.
inline void write_brown_fixture(const std::string& dir, int docs) {
  std::filesystem::create_directories(dir);
  const char* words[] = {"the/at", "cat/nn", "sat/vbd", "on/in", "a/at", "mat/nn", "and/cc",
                         "dog/nn", "ran/vbd", "home/nr"};
  for (int d = 1; d <= docs; ++d) {
    char name[8];
    std::snprintf(name, sizeof name, "ca%02d", d);
    std::string text = "\n\n";
    for (int s = 0; s < 60; ++s) {
      text += "\t";
      for (int w = 0; w < 6; ++w) text += std::string(words[(s + w * d) % 10]) + " ";
      text += "./.\n\n";
    }
    write_text(dir + "/" + name, text);
  }
}

// train-*/t10k-* IDX files (uncompressed) with n_train / n_test images in `dir`.
inline void write_fmnist_fixture(const std::string& dir, int64_t n_train, int64_t n_test) {
  std::filesystem::create_directories(dir);
  auto make = [](int64_t n, uint64_t seed, const std::string& images, const std::string& labels) {
    auto gen = at::detail::createCPUGenerator(seed);
    auto y = at::randint(10, {n}, gen, at::kLong);
    auto x = at::randint(0, 60, {n, 28, 28}, gen, at::kLong);
    auto acc = y.accessor<int64_t, 1>();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = (acc[i] / 5) * 12 + 4, c = (acc[i] % 5) * 5 + 2;
      x[i].narrow(0, r, 4).narrow(1, c, 4).fill_(250);
    }
    specopt::lab::write_idx_u8(images, x);
    specopt::lab::write_idx_u8(labels, y);
  };
  make(n_train, 1, dir + "/train-images-idx3-ubyte", dir + "/train-labels-idx1-ubyte");
  make(n_test, 2, dir + "/t10k-images-idx3-ubyte", dir + "/t10k-labels-idx1-ubyte");
}

// A 1-layer GPT on the Brown fixture in `brown_dir`: 24 steps, hybrid Muon + AdamW, a
// warmup-cosine schedule, one thread; `extra` lines are appended to [train].
inline std::string tiny_gpt_toml(const std::string& brown_dir, const std::string& out_dir,
                                 const std::string& extra = "") {
  return "[model]\nkind='gpt'\nn_layer=1\nn_head=2\nd_model=16\ncontext=16\n"
         "[data]\ndataset='brown'\ndir='" + brown_dir + "'\neval_batches=2\n"
         "[optimizer]\nname='muon'\nlr=0.02\nvector_lr=0.01\n"
         "[schedule]\nname='warmup_cosine'\nwarmup=2\nmin=0.1\n"
         "[train]\nsteps=24\nbatch_size=8\neval_interval=8\nlog_interval=4\nthreads=1\n"
         "out_dir='" + out_dir + "'\n" + extra;
}

// Real data present, or the test fails naming the fix (skipped only with
// SPECOPT_ALLOW_MISSING_DATA=1).
inline bool allow_missing_data() {
  const char* v = std::getenv("SPECOPT_ALLOW_MISSING_DATA");
  return v != nullptr && std::string(v) == "1";
}

}  // namespace specopt_train_test
