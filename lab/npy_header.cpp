#include "lab/npy_header.h"

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace specopt {
namespace lab {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw std::runtime_error("npy file '" + path + "': " + problem);
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) s << ",";
  s << ")";
  return s.str();
}

// NumPy's name for a type string such as "<i8" (kind letter + byte count).
std::string numpy_dtype_name(const std::string& descr) {
  if (descr.size() < 3) return "'" + descr + "'";
  const char kind = descr[1];
  const std::string digits = descr.substr(2);
  if (digits.empty() || digits.size() > 2 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return "'" + descr + "'";
  }
  const int bytes = std::atoi(digits.c_str());
  switch (kind) {
    case 'f': return "float" + std::to_string(8 * bytes);
    case 'i': return "int" + std::to_string(8 * bytes);
    case 'u': return "uint" + std::to_string(8 * bytes);
    case 'c': return "complex" + std::to_string(8 * bytes);
    case 'b': return "bool";
    default: return "'" + descr + "'";
  }
}

void skip_blanks(const std::string& s, size_t& i) {
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
}

// The text right after "'key':" (blanks skipped), or npos.
size_t value_of(const std::string& header, const std::string& key) {
  for (const char* q : {"'", "\""}) {
    const std::string k = q + key + q;
    size_t at = header.find(k);
    if (at == std::string::npos) continue;
    at += k.size();
    skip_blanks(header, at);
    if (at >= header.size() || header[at] != ':') return std::string::npos;
    ++at;
    skip_blanks(header, at);
    return at;
  }
  return std::string::npos;
}

}  // namespace

NpyHeader parse_npy_header(const std::string& bytes, const std::string& path) {
  static const char kMagic[] = "\x93NUMPY";
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 6) != 0) {
    fail(path, "not a NumPy .npy file (missing \\x93NUMPY magic string; " +
                   std::to_string(bytes.size()) + " bytes)");
  }
  const auto major = static_cast<unsigned char>(bytes[6]), minor = static_cast<unsigned char>(bytes[7]);
  size_t len_bytes = 0;
  if (major == 1 && minor == 0) {
    len_bytes = 2;
  } else if ((major == 2 || major == 3) && minor == 0) {
    len_bytes = 4;
  } else {
    fail(path, "unsupported .npy format version " + std::to_string(major) + "." +
                   std::to_string(minor));
  }
  if (bytes.size() < 8 + len_bytes) fail(path, "truncated header");
  uint64_t header_len = 0;
  for (size_t i = len_bytes; i-- > 0;) {
    header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + i]);
  }
  NpyHeader h;
  h.data_offset = 8 + len_bytes + header_len;
  if (h.data_offset > bytes.size()) fail(path, "truncated header");
  const std::string header = bytes.substr(8 + len_bytes, header_len);

  // 'descr': a quoted type string.
  size_t at = value_of(header, "descr");
  if (at == std::string::npos || (header[at] != '\'' && header[at] != '"')) {
    fail(path, "malformed header (no 'descr' string)");
  }
  const char quote = header[at];
  const size_t end = header.find(quote, at + 1);
  if (end == std::string::npos) fail(path, "malformed header (unterminated 'descr')");
  h.descr = header.substr(at + 1, end - at - 1);

  at = value_of(header, "fortran_order");
  if (at == std::string::npos) fail(path, "malformed header (no 'fortran_order')");
  if (header.compare(at, 4, "True") == 0) {
    h.fortran_order = true;
  } else if (header.compare(at, 5, "False") != 0) {
    fail(path, "malformed header ('fortran_order' is not True or False)");
  }

  at = value_of(header, "shape");
  if (at == std::string::npos || header[at] != '(') fail(path, "malformed header (no 'shape' tuple)");
  const size_t close = header.find(')', at);
  if (close == std::string::npos) fail(path, "malformed header (unterminated 'shape')");
  const std::string tuple = header.substr(at + 1, close - at - 1);
  std::stringstream items(tuple);
  std::string item;
  while (std::getline(items, item, ',')) {
    size_t b = 0;
    skip_blanks(item, b);
    size_t e = item.size();
    while (e > b && std::isspace(static_cast<unsigned char>(item[e - 1]))) --e;
    item = item.substr(b, e - b);
    if (item.empty()) {
      if (items.eof()) break;  // the trailing comma of "(3,)"
      fail(path, "malformed header (empty entry in shape (" + tuple + "))");
    }
    if (item.find_first_not_of("0123456789") != std::string::npos) {
      fail(path, "shape (" + tuple + "): '" + item + "' is not a non-negative integer");
    }
    if (item.size() > 18) fail(path, "shape (" + tuple + "): dimension " + item + " is too large");
    h.shape.push_back(std::stoll(item));
  }

  if (h.descr.size() == 3 && (h.descr[0] == '<' || h.descr[0] == '|' || h.descr[0] == '=') &&
      h.descr[1] == 'f' && (h.descr[2] == '4' || h.descr[2] == '8')) {
    h.is_double = h.descr[2] == '8';
  } else if (h.descr.size() == 3 && h.descr[0] == '>' && h.descr[1] == 'f' &&
             (h.descr[2] == '4' || h.descr[2] == '8')) {
    fail(path, "byte order '" + h.descr + "' differs from this machine's; convert with "
               "numpy: a.astype(a.dtype.newbyteorder('='))");
  } else {
    fail(path, "unsupported dtype " + numpy_dtype_name(h.descr) + " ('" + h.descr +
                   "'); expected float32 or float64");
  }
  if (h.shape.size() < 2) {
    fail(path, "rank " + std::to_string(h.shape.size()) + " array of shape " + shape_text(h.shape) +
                   "; need a matrix or a batch of matrices (rank >= 2)");
  }
  const uint64_t word = h.is_double ? 8 : 4;
  uint64_t count = 1;
  for (auto d : h.shape) {
    const auto u = static_cast<uint64_t>(d);
    if (u != 0 && count > std::numeric_limits<uint64_t>::max() / 16 / u) {
      fail(path, "shape " + shape_text(h.shape) + " is too large");
    }
    count *= u;
  }
  h.data_bytes = count * word;
  if (bytes.size() - h.data_offset < h.data_bytes) {
    fail(path, "truncated: shape " + shape_text(h.shape) + " " + numpy_dtype_name(h.descr) +
                   " needs " + std::to_string(h.data_bytes) + " data bytes but only " +
                   std::to_string(bytes.size() - h.data_offset) + " follow the header");
  }
  return h;
}

}  // namespace lab
}  // namespace specopt
