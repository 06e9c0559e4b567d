#include "lab/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace specopt {
namespace lab {

namespace {

std::string sys_error(const std::string& what, const std::string& path, int err) {
  return what + " '" + path + "': " + std::strerror(err);
}

std::string dirname_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string basename_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Creates a fresh temporary file next to `path` (O_EXCL, mode 0666 minus umask, so the final
// file gets the same permissions an ordinary open() would give it). Returns the fd.
int create_temp(const std::string& path, std::string& tmp_path) {
  static std::atomic<unsigned> counter{0};
  const std::string dir = dirname_of(path);
  const std::string base = basename_of(path);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const auto ticks = static_cast<unsigned long long>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    std::ostringstream name;
    name << dir << "/." << base << ".tmp." << ::getpid() << "." << counter++ << "."
         << (ticks % 1000003);
    tmp_path = name.str();
    const int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return fd;
    if (errno != EEXIST) {
      throw std::runtime_error(sys_error("cannot create temporary file for", path, errno) +
                               " (in directory '" + dir + "')");
    }
  }
  throw std::runtime_error("cannot create a unique temporary file for '" + path + "'");
}

void write_all(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(sys_error("write failed for", path, errno));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes) {
  if (path.empty()) throw std::runtime_error("write_file_atomic: empty output path");
  std::string tmp;
  int fd = create_temp(path, tmp);
  try {
    write_all(fd, bytes.data(), bytes.size(), path);
    if (::fsync(fd) != 0) throw std::runtime_error(sys_error("fsync failed for", path, errno));
    const int rc = ::close(fd);
    fd = -1;  // closed (even on error, the descriptor is released)
    if (rc != 0) throw std::runtime_error(sys_error("close failed for", path, errno));
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      throw std::runtime_error(sys_error("cannot rename temporary file onto", path, errno));
    }
  } catch (...) {
    if (fd >= 0) ::close(fd);
    std::remove(tmp.c_str());
    throw;
  }
  // Best effort: make the rename itself durable. Failure here does not undo the write.
  const int dfd = ::open(dirname_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path,
                       const std::function<void(std::ostream&)>& writer) {
  std::ostringstream os(std::ios::out | std::ios::binary);
  writer(os);  // an exception here leaves nothing on disk
  if (!os) throw std::runtime_error("failed to serialise data for '" + path + "'");
  write_file_atomic(path, os.str());
}

}  // namespace lab
}  // namespace specopt
