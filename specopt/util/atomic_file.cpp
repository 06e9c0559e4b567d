#include <specopt/util/atomic_file.h>

#include <c10/util/Exception.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace specopt {

namespace {
std::string errno_text(int err) { return std::strerror(err); }
}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes, const char* who) {
  TORCH_CHECK(!path.empty(), who, ": empty path");
  const auto slash = path.find_last_of('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string tmpl = path + ".tmp-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  const int fd = ::mkstemp(buf.data());
  if (fd < 0) {
    const int err = errno;
    TORCH_CHECK(false, who, ": cannot create a temporary file beside '", path,
                "' (in directory '", dir, "'): ", errno_text(err), "; nothing was written");
  }
  const std::string tmp(buf.data());
  auto fail = [&](const char* what, int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    TORCH_CHECK(false, who, ": ", what, " '", tmp, "' for '", path, "' failed: ",
                errno_text(err), "; '", path, "' was left as it was");
  };
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("writing", errno);
    }
    off += static_cast<size_t>(n);
  }
  if (::fchmod(fd, 0644) != 0) fail("chmod of", errno);
  if (::fsync(fd) != 0) fail("fsync of", errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    TORCH_CHECK(false, who, ": closing '", tmp, "' failed: ", errno_text(err), "; '", path,
                "' was left as it was");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    TORCH_CHECK(false, who, ": renaming '", tmp, "' to '", path, "' failed: ", errno_text(err),
                "; '", path, "' was left as it was");
  }
  // Make the rename itself durable (best effort: some filesystems refuse fsync on a dir).
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace specopt
