#include "specopt/util/atomic_write.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace specopt {

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

const char* kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

bool under_pseudo_fs(const std::string& real) {
  for (const char* root : {"/dev", "/proc", "/sys"}) {
    const size_t n = std::strlen(root);
    if (real.compare(0, n, root) == 0 && (real.size() == n || real[n] == '/')) return true;
  }
  return false;
}

void make_parents(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) throw std::runtime_error("'" + dir + "' is not a directory");
    return;
  }
  if (errno != ENOENT) throw std::runtime_error(sys_error("cannot access directory", dir, errno));
  const std::string parent = dirname_of(dir);
  if (parent != dir) make_parents(parent);
  if (::mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST) {
    throw std::runtime_error(sys_error("cannot create directory", dir, errno));
  }
}

int create_temp(const std::string& path, std::string& tmp_path) {
  static std::atomic<unsigned> counter{0};
  const std::string dir = dirname_of(path);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const auto ticks = static_cast<unsigned long long>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    std::ostringstream name;
    name << dir << "/." << basename_of(path) << ".tmp." << ::getpid() << "." << counter++ << "."
         << (ticks % 1000003);
    tmp_path = name.str();
    const int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return fd;
    if (errno != EEXIST) {
      throw std::runtime_error(sys_error("cannot create a temporary file for", path, errno) +
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

std::string resolve_output_path(const std::string& path) {
  std::string p = path;
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    char buf[PATH_MAX];
    const ssize_t n = ::readlink(p.c_str(), buf, sizeof(buf) - 1);
    if (n < 0) throw std::runtime_error(sys_error("cannot read the symlink", p, errno));
    const std::string target(buf, static_cast<size_t>(n));
    p = target[0] == '/' ? target : dirname_of(p) + "/" + target;
  }
  throw std::runtime_error("'" + path + "': too many levels of symbolic links");
}

void write_file_atomic(const std::string& path, const std::string& bytes, bool create_parents) {
  if (path.empty()) throw std::runtime_error("empty output path");
  const std::string dest = resolve_output_path(path);
  const std::string shown = dest == path ? "'" + path + "'" : "'" + path + "' (-> '" + dest + "')";
  const std::string dir = dirname_of(dest);
  // Where the parent really is, links resolved, before anything is created there.
  std::string probe = dir;
  while (::access(probe.c_str(), F_OK) != 0 && dirname_of(probe) != probe) probe = dirname_of(probe);
  char real[PATH_MAX];
  if (::realpath(probe.c_str(), real) != nullptr && under_pseudo_fs(real)) {
    throw std::runtime_error("refusing to write " + shown + ": it is under " + real +
                             " (a system pseudo-filesystem, not a place for output files)");
  }
  struct stat st {};
  const bool exists = ::stat(dest.c_str(), &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) {
    throw std::runtime_error("refusing to replace " + shown + ": it is " + kind_of(st.st_mode) +
                             ", not a regular file");
  }
  if (create_parents) make_parents(dir);
  std::string tmp;
  int fd = create_temp(dest, tmp);
  try {
    write_all(fd, bytes.data(), bytes.size(), dest);
    if (exists && ::fchmod(fd, st.st_mode & 07777) != 0) {
      throw std::runtime_error(sys_error("cannot keep the permissions of", dest, errno));
    }
    if (::fsync(fd) != 0) throw std::runtime_error(sys_error("fsync failed for", dest, errno));
    const int rc = ::close(fd);
    fd = -1;  // released even when close reports an error
    if (rc != 0) throw std::runtime_error(sys_error("close failed for", dest, errno));
    if (::rename(tmp.c_str(), dest.c_str()) != 0) {
      throw std::runtime_error(sys_error("cannot rename the temporary file onto", dest, errno));
    }
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  // Best effort: make the rename itself durable (some filesystems refuse fsync on a dir).
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

int remove_stale_temporaries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  int removed = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    const bool ours = (name.size() > 1 && name[0] == '.' && name.find(".tmp.") != std::string::npos) ||
                      name.find(".tmp-") != std::string::npos;
    if (!ours) continue;
    const std::string p = dir + "/" + name;
    struct stat st {};
    if (::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::unlink(p.c_str()) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

}  // namespace specopt
