#pragma once
// The one spelling of an optimizer's name that the registry matches and that `specopt train`
// and `bench step` store: lower case without '_' ("Lion_K", "lionk" → "lionk"; "SpectralAdam" →
// "spectraladam"). Header-only and free of LibTorch, so the training-config parser (built
// without LibTorch for the fuzz targets) folds names exactly as the registry does.
#include <cctype>
#include <string>

namespace specopt {

inline std::string optimizer_key(const std::string& name) {
  std::string out;
  for (unsigned char c : name) {
    if (c != '_') out += static_cast<char>(std::tolower(c));
  }
  return out;
}

}  // namespace specopt
