#include "lab/data/idx.h"

#include <zlib.h>

#include <fstream>
#include <memory>
#include <stdexcept>
#include <vector>

namespace specopt {
namespace lab {

namespace {
struct GzCloser {
  void operator()(gzFile_s* f) const {
    if (f != nullptr) gzclose(f);
  }
};

void read_exact(gzFile f, void* buf, std::size_t n, const std::string& path, const char* what) {
  auto* p = static_cast<unsigned char*>(buf);
  while (n > 0) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n, 1u << 30));
    const int got = gzread(f, p, chunk);
    if (got <= 0) {
      throw std::runtime_error("IDX file '" + path + "' is truncated or corrupt (reading " +
                               what + ")");
    }
    p += got;
    n -= static_cast<std::size_t>(got);
  }
}
}  // namespace

at::Tensor read_idx_u8(const std::string& path, int64_t limit) {
  std::unique_ptr<gzFile_s, GzCloser> f(gzopen(path.c_str(), "rb"));
  if (!f) throw std::runtime_error("IDX file '" + path + "' cannot be opened (missing?)");
  unsigned char magic[4];
  read_exact(f.get(), magic, 4, path, "the header");
  if (magic[0] != 0 || magic[1] != 0) {
    throw std::runtime_error("IDX file '" + path + "' has a bad magic number (not an IDX file)");
  }
  if (magic[2] != 0x08) {
    throw std::runtime_error("IDX file '" + path + "' has element type 0x" +
                             std::to_string(magic[2]) + ", only unsigned bytes (0x08) are read");
  }
  const int dims = magic[3];
  if (dims < 1 || dims > 4) {
    throw std::runtime_error("IDX file '" + path + "' has " + std::to_string(dims) +
                             " dimensions (expected 1 to 4)");
  }
  std::vector<int64_t> shape(static_cast<std::size_t>(dims));
  for (auto& s : shape) {
    unsigned char b[4];
    read_exact(f.get(), b, 4, path, "the header");
    s = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | int64_t{b[3]};
  }
  if (limit > 0 && limit < shape[0]) shape[0] = limit;
  auto out = at::empty(shape, at::kByte);
  read_exact(f.get(), out.data_ptr<uint8_t>(), static_cast<std::size_t>(out.numel()), path,
             "the data");
  return out;
}

void write_idx_u8(const std::string& path, const at::Tensor& data) {
  auto t = data.to(at::kByte).contiguous();
  std::ofstream out(path, std::ios::binary);
  const unsigned char magic[4] = {0, 0, 0x08, static_cast<unsigned char>(t.dim())};
  out.write(reinterpret_cast<const char*>(magic), 4);
  for (auto s : t.sizes()) {
    const unsigned char b[4] = {static_cast<unsigned char>(s >> 24),
                                static_cast<unsigned char>(s >> 16),
                                static_cast<unsigned char>(s >> 8), static_cast<unsigned char>(s)};
    out.write(reinterpret_cast<const char*>(b), 4);
  }
  out.write(reinterpret_cast<const char*>(t.data_ptr<uint8_t>()), t.numel());
  if (!out) throw std::runtime_error("cannot write IDX file '" + path + "'");
}

}  // namespace lab
}  // namespace specopt
