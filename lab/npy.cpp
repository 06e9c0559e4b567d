#include "lab/npy.h"

#include <xtensor/xadapt.hpp>
#include <xtensor/xnpy.hpp>

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "lab/atomic_file.h"

namespace specopt {
namespace lab {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw std::runtime_error("npy file '" + path + "': " + problem);
}

std::string shape_string(const std::vector<std::size_t>& shape) {
  std::ostringstream s;
  s << "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) s << ",";
  s << ")";
  return s.str();
}

// NumPy's name for a type string such as "<i8" (kind letter + byte count).
std::string numpy_dtype_name(const std::string& descr) {
  if (descr.size() < 3) return descr;
  const char kind = descr[1];
  const int bytes = std::atoi(descr.c_str() + 2);
  switch (kind) {
    case 'f': return "float" + std::to_string(8 * bytes);
    case 'i': return "int" + std::to_string(8 * bytes);
    case 'u': return "uint" + std::to_string(8 * bytes);
    case 'c': return "complex" + std::to_string(8 * bytes);
    case 'b': return "bool";
    default: return descr;
  }
}

bool host_little_endian() {
  const uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

template <class T>
at::Tensor to_tensor(xt::detail::npy_file&& file, at::ScalarType dtype) {
  // xtensor adapts the buffer with the file's layout (row- or column-major strides, in
  // elements); copy into a fresh C-contiguous tensor that owns its memory.
  auto arr = std::move(file).cast<T>(/*check_type=*/true);
  std::vector<int64_t> sizes(arr.shape().begin(), arr.shape().end());
  std::vector<int64_t> strides(arr.strides().begin(), arr.strides().end());
  auto out = at::empty(sizes, at::TensorOptions().dtype(dtype));
  if (out.numel() == 0) return out;
  auto view = at::from_blob(const_cast<T*>(arr.data()), sizes, strides,
                            at::TensorOptions().dtype(dtype));
  out.copy_(view);
  return out;
}

}  // namespace

at::Tensor read_npy(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    fail(path, errno == ENOENT ? std::string("no such file")
                               : std::string("cannot access: ") + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) fail(path, "is a directory, not an .npy file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0, std::ios::beg);

  unsigned char major = 0, minor = 0;
  try {
    xt::detail::read_magic(in, &major, &minor);
  } catch (const std::exception&) {
    fail(path, "not a NumPy .npy file (missing \\x93NUMPY magic string; " +
                   std::to_string(file_size) + " bytes)");
  }
  // Header length: 2 bytes little-endian for format 1.0, 4 bytes for 2.0 / 3.0. Read here
  // rather than by xtensor's read_header_1_0, which sign-extends bytes >= 0x80.
  int len_bytes = 0;
  if (major == 1 && minor == 0) {
    len_bytes = 2;
  } else if ((major == 2 || major == 3) && minor == 0) {
    len_bytes = 4;
  } else {
    fail(path, "unsupported .npy format version " + std::to_string(major) + "." +
                   std::to_string(minor));
  }
  unsigned char len_le[4] = {0, 0, 0, 0};
  in.read(reinterpret_cast<char*>(len_le), len_bytes);
  if (!in) fail(path, "truncated header");
  uint64_t header_len = 0;
  for (int i = len_bytes - 1; i >= 0; --i) header_len = (header_len << 8) | len_le[i];
  const uint64_t data_offset = 6 + 2 + static_cast<uint64_t>(len_bytes) + header_len;
  if (data_offset > file_size) fail(path, "truncated header");
  std::string header(header_len, '\0');
  in.read(&header[0], static_cast<std::streamsize>(header_len));
  if (!in) fail(path, "truncated header");

  std::string descr;
  bool fortran_order = false;
  std::vector<std::size_t> shape;
  try {
    xt::detail::parse_header(header, descr, &fortran_order, shape);
  } catch (const std::exception& e) {
    fail(path, std::string("malformed header (") + e.what() + ")");
  }

  at::ScalarType dtype;
  if (descr.size() >= 3 && descr[1] == 'f' && descr.substr(2) == "4") {
    dtype = at::kFloat;
  } else if (descr.size() >= 3 && descr[1] == 'f' && descr.substr(2) == "8") {
    dtype = at::kDouble;
  } else {
    fail(path, "unsupported dtype " + numpy_dtype_name(descr) + " ('" + descr +
                   "'); expected float32 or float64");
  }
  const bool file_little = descr[0] == '<' || descr[0] == '|';
  if (file_little != host_little_endian()) {
    fail(path, "byte order '" + descr + "' differs from this machine's; convert with "
               "numpy: a.astype(a.dtype.newbyteorder('='))");
  }
  if (shape.size() < 2) {
    fail(path, "rank " + std::to_string(shape.size()) + " array of shape " +
                   shape_string(shape) + "; need a matrix or a batch of matrices (rank >= 2)");
  }
  uint64_t count = 1;
  for (auto d : shape) {
    if (d != 0 && count > UINT64_MAX / 16 / d) fail(path, "shape " + shape_string(shape) +
                                                           " is too large");
    count *= d;
  }
  const uint64_t word = dtype == at::kFloat ? 4 : 8;
  const uint64_t need = count * word;
  if (file_size - data_offset < need) {
    fail(path, "truncated: shape " + shape_string(shape) + " " + numpy_dtype_name(descr) +
                   " needs " + std::to_string(need) + " data bytes but only " +
                   std::to_string(file_size - data_offset) + " follow the header");
  }

  xt::detail::npy_file file(shape, fortran_order, descr);
  in.read(file.ptr(), static_cast<std::streamsize>(need));
  if (!in && need > 0) fail(path, "read error while reading the data");

  try {
    return dtype == at::kFloat ? to_tensor<float>(std::move(file), dtype)
                               : to_tensor<double>(std::move(file), dtype);
  } catch (const c10::Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(path, e.what());
  }
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
