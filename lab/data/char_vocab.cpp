#include "lab/data/char_vocab.h"

#include <algorithm>
#include <stdexcept>

namespace specopt {
namespace lab {

CharVocab::CharVocab(const std::string& text) {
  bool seen[256] = {};
  for (unsigned char c : text) seen[c] = true;
  std::fill(std::begin(index_), std::end(index_), int16_t{-1});
  for (int c = 0; c < 256; ++c) {
    if (!seen[c]) continue;
    index_[c] = static_cast<int16_t>(chars_.size());
    chars_.push_back(static_cast<char>(c));
  }
}

at::Tensor CharVocab::encode(const std::string& text) const {
  auto ids = at::empty({static_cast<int64_t>(text.size())}, at::kLong);
  auto* out = ids.data_ptr<int64_t>();
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (index_[c] < 0) {
      throw std::invalid_argument("character code " + std::to_string(c) + " at offset " +
                                  std::to_string(i) + " is not in the vocabulary");
    }
    out[i] = index_[c];
  }
  return ids;
}

std::string CharVocab::decode(const at::Tensor& ids) const {
  auto flat = ids.to(at::kLong).contiguous().view({-1});
  std::string out;
  const auto* p = flat.data_ptr<int64_t>();
  for (int64_t i = 0; i < flat.numel(); ++i) {
    if (p[i] < 0 || p[i] >= size()) {
      throw std::invalid_argument("token id " + std::to_string(p[i]) + " is outside [0, " +
                                  std::to_string(size()) + ")");
    }
    out.push_back(chars_[static_cast<std::size_t>(p[i])]);
  }
  return out;
}

}  // namespace lab
}  // namespace specopt
