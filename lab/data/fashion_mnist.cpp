#include "lab/data/fashion_mnist.h"

#include <filesystem>
#include <stdexcept>

#include "lab/data/idx.h"
#include "lab/data/paths.h"

namespace specopt {
namespace lab {

namespace {
// Mean and standard deviation of the training images' grey levels in [0, 1].
constexpr double kMean = 0.2860;
constexpr double kStd = 0.3530;

std::string find_file(const std::string& dir, const std::string& stem) {
  for (const char* ext : {".gz", ""}) {
    const auto p = dir + "/" + stem + ext;
    if (std::filesystem::is_regular_file(p)) return p;
  }
  throw std::runtime_error("Fashion-MNIST file '" + dir + "/" + stem +
                           ".gz' not found; install it with scripts/bootstrap.sh (Debian "
                           "package dataset-fashion-mnist: apt-get install dataset-fashion-mnist)");
}
}  // namespace

ImageSet load_fashion_mnist(const std::string& split, int64_t limit, const std::string& dir) {
  if (split != "train" && split != "test") {
    throw std::invalid_argument("Fashion-MNIST split '" + split + "' is not 'train' or 'test'");
  }
  const std::string d = dir.empty() ? fashion_mnist_dir() : dir;
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string fix = "; reinstall it with apt-get install --reinstall dataset-fashion-mnist";
  at::Tensor images, labels;
  const auto image_file = find_file(d, prefix + "-images-idx3-ubyte");
  const auto label_file = find_file(d, prefix + "-labels-idx1-ubyte");
  try {
    images = read_idx_u8(image_file, limit);
    labels = read_idx_u8(label_file, limit);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(e.what() + fix);
  }
  if (images.dim() != 3 || images.size(1) != 28 || images.size(2) != 28) {
    throw std::runtime_error("Fashion-MNIST images '" + image_file + "' have shape " +
                             c10::str(images.sizes()) + ", expected [N, 28, 28]" + fix);
  }
  if (labels.dim() != 1 || labels.size(0) != images.size(0)) {
    throw std::runtime_error("Fashion-MNIST labels '" + label_file + "' hold " +
                             std::to_string(labels.numel()) + " entries for " +
                             std::to_string(images.size(0)) + " images" + fix);
  }
  if (labels.numel() > 0 && labels.max().item<int64_t>() > 9) {
    throw std::runtime_error("Fashion-MNIST labels '" + label_file +
                             "' contain a class above 9" + fix);
  }
  ImageSet out;
  out.images = ((images.to(at::kFloat) / 255.0 - kMean) / kStd).unsqueeze(1);
  out.labels = labels.to(at::kLong);
  return out;
}

}  // namespace lab
}  // namespace specopt
