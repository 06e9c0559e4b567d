#pragma once
// Decodes a non-interlaced 8-bit PNG (grey, grey+alpha, RGB, RGBA) with zlib, for checking
// that a browser screenshot shows something.
#include <cstdint>
#include <string>
#include <vector>

namespace specopt_test {

struct PngImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint32_t> rgb;  // 0xRRGGBB per pixel, alpha dropped
};

// Throws std::runtime_error naming the file and the problem.
PngImage read_png(const std::string& path);

}  // namespace specopt_test
