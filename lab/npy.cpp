#include "lab/npy.h"

#include <xtensor/xadapt.hpp>
#include <xtensor/xnpy.hpp>

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "lab/atomic_file.h"
#include "lab/npy_header.h"

namespace specopt {
namespace lab {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw std::runtime_error("npy file '" + path + "': " + problem);
}

}  // namespace

at::Tensor read_npy(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    fail(path, errno == ENOENT ? std::string("no such file")
                               : std::string("cannot access: ") + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) fail(path, "is a directory, not an .npy file");
  // Read to the end rather than trusting a size: pipes and FIFOs (`--in /dev/stdin`) have none.
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail(path, "read error");
  const NpyHeader h = parse_npy_header(bytes, path);

  const auto dtype = h.is_double ? at::kDouble : at::kFloat;
  const char* data = bytes.data() + h.data_offset;
  if (!h.fortran_order) {
    auto out = at::empty(h.shape, at::TensorOptions().dtype(dtype));
    if (h.data_bytes > 0) std::memcpy(out.data_ptr(), data, h.data_bytes);
    return out;
  }
  // Fortran order: the bytes are the C-order array of the reversed shape, transposed.
  std::vector<int64_t> reversed(h.shape.rbegin(), h.shape.rend());
  auto t = at::empty(reversed, at::TensorOptions().dtype(dtype));
  if (h.data_bytes > 0) std::memcpy(t.data_ptr(), data, h.data_bytes);
  std::vector<int64_t> perm;
  for (int64_t d = static_cast<int64_t>(h.shape.size()) - 1; d >= 0; --d) perm.push_back(d);
  return t.permute(perm).contiguous();
}

namespace {
std::string torch_dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return c10::toString(t);
  }
}

template <class T>
std::string dump(const at::Tensor& t) {
  std::vector<std::size_t> shape(t.sizes().begin(), t.sizes().end());
  auto adapted = xt::adapt(const_cast<T*>(t.data_ptr<T>()), static_cast<std::size_t>(t.numel()),
                           xt::no_ownership(), shape);
  return xt::dump_npy(adapted);
}
}  // namespace

std::string npy_bytes(const at::Tensor& t) {
  if (!t.defined()) throw std::runtime_error("cannot write an undefined tensor to .npy");
  if (t.scalar_type() != at::kFloat && t.scalar_type() != at::kDouble) {
    throw std::runtime_error("cannot write dtype " + torch_dtype_name(t.scalar_type()) +
                             " to .npy; only float32 and float64 are supported");
  }
  auto c = t.to(at::kCPU).contiguous();
  return c.scalar_type() == at::kFloat ? dump<float>(c) : dump<double>(c);
}

void write_npy(const std::string& path, const at::Tensor& t) {
  std::string bytes;
  try {
    bytes = npy_bytes(t);
  } catch (const std::exception& e) {
    fail(path, e.what());
  }
  write_file_atomic(path, bytes);
}

}  // namespace lab
}  // namespace specopt
