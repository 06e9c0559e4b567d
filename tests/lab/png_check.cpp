#include "png_check.h"

#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace specopt_test {

namespace {

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

int paeth(int a, int b, int c) {
  const int p = a + b - c;
  const int pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

}  // namespace

PngImage read_png(const std::string& path) {
  auto fail = [&](const std::string& what) -> std::runtime_error {
    return std::runtime_error("PNG '" + path + "': " + what);
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fail("cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  const auto* d = reinterpret_cast<const unsigned char*>(bytes.data());
  static const unsigned char kSig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
  if (bytes.size() < 8 || !std::equal(kSig, kSig + 8, d)) throw fail("not a PNG file");
  PngImage img;
  int depth = 0, colour = -1, interlace = 0;
  std::string idat;
  for (std::size_t pos = 8; pos + 8 <= bytes.size();) {
    const std::uint32_t len = be32(d + pos);
    const std::string type(bytes.data() + pos + 4, 4);
    if (pos + 12 + len > bytes.size()) throw fail("truncated chunk " + type);
    const unsigned char* body = d + pos + 8;
    if (type == "IHDR") {
      img.width = static_cast<int>(be32(body));
      img.height = static_cast<int>(be32(body + 4));
      depth = body[8];
      colour = body[9];
      interlace = body[12];
    } else if (type == "IDAT") {
      idat.append(reinterpret_cast<const char*>(body), len);
    } else if (type == "IEND") {
      break;
    }
    pos += 12 + len;
  }
  int channels = 0;
  switch (colour) {
    case 0: channels = 1; break;
    case 2: channels = 3; break;
    case 4: channels = 2; break;
    case 6: channels = 4; break;
    default: throw fail("unsupported colour type " + std::to_string(colour));
  }
  if (depth != 8 || interlace != 0) throw fail("only 8-bit non-interlaced images are supported");
  if (img.width <= 0 || img.height <= 0) throw fail("empty image");
  const std::size_t stride = static_cast<std::size_t>(img.width) * channels;
  std::vector<unsigned char> raw((stride + 1) * img.height);
  uLongf raw_len = raw.size();
  if (uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK ||
      raw_len != raw.size()) {
    throw fail("corrupt image data");
  }
  std::vector<unsigned char> prev(stride, 0), cur(stride);
  img.rgb.reserve(static_cast<std::size_t>(img.width) * img.height);
  for (int y = 0; y < img.height; ++y) {
    const unsigned char* row = raw.data() + y * (stride + 1);
    const int filter = row[0];
    for (std::size_t x = 0; x < stride; ++x) {
      const int a = x >= static_cast<std::size_t>(channels) ? cur[x - channels] : 0;
      const int b = prev[x];
      const int c = x >= static_cast<std::size_t>(channels) ? prev[x - channels] : 0;
      int v = row[1 + x];
      switch (filter) {
        case 0: break;
        case 1: v += a; break;
        case 2: v += b; break;
        case 3: v += (a + b) / 2; break;
        case 4: v += paeth(a, b, c); break;
        default: throw fail("bad filter type " + std::to_string(filter));
      }
      cur[x] = static_cast<unsigned char>(v);
    }
    for (int x = 0; x < img.width; ++x) {
      const unsigned char* px = cur.data() + x * channels;
      const std::uint32_t r = px[0], g = channels >= 3 ? px[1] : px[0], bl = channels >= 3 ? px[2] : px[0];
      img.rgb.push_back((r << 16) | (g << 8) | bl);
    }
    std::swap(prev, cur);
  }
  return img;
}

}  // namespace specopt_test
