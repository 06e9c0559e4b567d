#pragma once
// A character-level vocabulary: the distinct bytes of a text, sorted, mapped to 0 ... V-1.
// Built from the training split AND the validation split together (the corpus is fixed), so
// encoding either never meets an unknown byte.
#include <ATen/ATen.h>

#include <algorithm>
#include <iterator>
#include <string>

namespace specopt {
namespace lab {

class CharVocab {
 public:
  CharVocab() { std::fill(std::begin(index_), std::end(index_), int16_t{-1}); }
  explicit CharVocab(const std::string& text);

  int64_t size() const { return static_cast<int64_t>(chars_.size()); }
  const std::string& chars() const { return chars_; }
  // int64 tensor of ids; throws std::invalid_argument naming the first byte not in the vocab.
  at::Tensor encode(const std::string& text) const;
  std::string decode(const at::Tensor& ids) const;

 private:
  std::string chars_;
  int16_t index_[256];
};

}  // namespace lab
}  // namespace specopt
