#pragma once
// Fashion-MNIST (Debian's dataset-fashion-mnist): 60 000 training and 10 000 test images of
// 28×28 grey levels, 10 classes, as IDX files (train-images-idx3-ubyte.gz, ...).
#include <ATen/ATen.h>

#include <string>

namespace specopt {
namespace lab {

struct ImageSet {
  at::Tensor images;  // float32 [N, 1, 28, 28], standardised with the training set's mean/std
  at::Tensor labels;  // int64 [N], in 0 ... 9
};

// Split "train" (60 000) or "test" (10 000) from `dir` (fashion_mnist_dir() when empty),
// reading only the first `limit` examples (all when limit <= 0). A missing or corrupt file is
// an error naming it and the command that installs the data set; labels outside 0 ... 9, or
// image and label counts that differ, are refused.
ImageSet load_fashion_mnist(const std::string& split, int64_t limit = 0,
                            const std::string& dir = "");

}  // namespace lab
}  // namespace specopt
