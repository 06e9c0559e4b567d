#include "lab/launch.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <thread>

namespace specopt {
namespace lab {

namespace {

using Clock = std::chrono::steady_clock;

struct Worker {
  pid_t pid = -1;
  int fd = -1;          // read end of its merged stdout/stderr
  std::string pending;  // partial line
  bool running = true;
  WorkerExit exit;
};

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) throw std::runtime_error("launch: cannot resolve /proc/self/exe");
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

void LaunchOptions::validate() const {
  if (nproc < 1) {
    throw std::invalid_argument("launch: nproc must be >= 1, got " + std::to_string(nproc));
  }
  if (master_port < 0 || master_port > 65535) {
    throw std::invalid_argument("launch: master_port must be in [0, 65535], got " +
                                std::to_string(master_port));
  }
  if (master_addr.empty()) throw std::invalid_argument("launch: master_addr is empty");
  if (nnodes < 1) {
    throw std::invalid_argument("launch: nnodes must be >= 1, got " + std::to_string(nnodes));
  }
  if (node_rank < 0 || node_rank >= nnodes) {
    throw std::invalid_argument("launch: node_rank must be in [0, " + std::to_string(nnodes) +
                                "), got " + std::to_string(node_rank));
  }
  if (nnodes > 1 && master_port == 0) {
    throw std::invalid_argument("launch: master_port must be given when nnodes > 1");
  }
}

std::string LaunchResult::describe_failures() const {
  std::string out;
  for (const auto& w : workers) {
    if (w.signal != 0) {
      out += "rank " + std::to_string(w.rank) + " killed by signal " + std::to_string(w.signal) +
             (w.killed_by_launcher ? " (by the launcher, after another rank failed)" : "") +
             "\n";
    } else if (w.exit_code != 0) {
      out += "rank " + std::to_string(w.rank) + " exited with code " +
             std::to_string(w.exit_code) + "\n";
    }
  }
  return out;
}

int find_free_port(const std::string& addr) {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) throw std::runtime_error(std::string("launch: socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  if (::inet_pton(AF_INET, addr == "localhost" ? "127.0.0.1" : addr.c_str(), &a.sin_addr) != 1) {
    ::close(s);
    throw std::invalid_argument("launch: master_addr '" + addr + "' is not an IPv4 address");
  }
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    const std::string e = std::strerror(errno);
    ::close(s);
    throw std::runtime_error("launch: cannot bind " + addr + ": " + e);
  }
  socklen_t len = sizeof(a);
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

LaunchResult launch_local(const LaunchOptions& o) {
  o.validate();
  const std::string program = o.program.empty() ? self_exe() : o.program;
  const int port = o.master_port > 0 ? o.master_port : find_free_port(o.master_addr);
  auto emit = o.on_line ? o.on_line : [](const std::string& l) { std::cerr << l << std::endl; };

  std::vector<Worker> workers(static_cast<size_t>(o.nproc));
  const auto start = Clock::now();
  for (int r = 0; r < o.nproc; ++r) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("launch: pipe failed");
    std::cout.flush();
    std::cerr.flush();
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("launch: fork: ") + std::strerror(errno));
    if (pid == 0) {
      // The worker dies with its launcher, however the launcher ends (SIGKILL included): no
      // orphaned rank keeps training and writing checkpoints. If the launcher is already gone
      // (it died between fork and prctl), exit at once.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(128 + SIGKILL);
      ::close(fds[0]);
      ::dup2(fds[1], STDOUT_FILENO);
      ::dup2(fds[1], STDERR_FILENO);
      ::close(fds[1]);
      ::setenv("RANK", std::to_string(o.node_rank * o.nproc + r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(o.nnodes * o.nproc).c_str(), 1);
      ::setenv("NODE_RANK", std::to_string(o.node_rank).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", o.master_addr.c_str(), 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      for (const auto& kv : o.env) ::setenv(kv.first.c_str(), kv.second.c_str(), 1);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(program.c_str()));
      for (const auto& a : o.args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(program.c_str(), argv.data());
      const std::string msg = "launch: exec " + program + ": " + std::strerror(errno) + "\n";
      (void)!::write(STDERR_FILENO, msg.data(), msg.size());
      ::_exit(127);
    }
    ::close(fds[1]);
    ::fcntl(fds[0], F_SETFL, ::fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    auto& w = workers[static_cast<size_t>(r)];
    w.pid = pid;
    w.fd = fds[0];
    w.exit.rank = o.node_rank * o.nproc + r;  // global rank (prefix and results)
  }

  LaunchResult result;
  result.master_port = port;
  const std::string tag_prefix = "[rank ";
  auto flush_lines = [&](Worker& w, bool final) {
    size_t pos;
    while ((pos = w.pending.find('\n')) != std::string::npos) {
      const std::string line = w.pending.substr(0, pos);
      w.pending.erase(0, pos + 1);
      emit(o.prefix_output ? tag_prefix + std::to_string(w.exit.rank) + "] " + line : line);
    }
    if (final && !w.pending.empty()) {
      emit(o.prefix_output ? tag_prefix + std::to_string(w.exit.rank) + "] " + w.pending
                           : w.pending);
      w.pending.clear();
    }
  };
  auto drain = [&](Worker& w) {
    char buf[4096];
    while (w.fd >= 0) {
      const ssize_t n = ::read(w.fd, buf, sizeof(buf));
      if (n > 0) {
        w.pending.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) {
        ::close(w.fd);
        w.fd = -1;
      }
      break;
    }
    flush_lines(w, w.fd < 0);
  };

  bool killing = false;
  Clock::time_point term_sent;
  for (;;) {
    std::vector<pollfd> pfds;
    for (auto& w : workers) {
      if (w.fd >= 0) pfds.push_back({w.fd, POLLIN, 0});
    }
    if (!pfds.empty()) ::poll(pfds.data(), pfds.size(), 50);
    for (auto& w : workers) drain(w);

    bool any_running = false;
    for (auto& w : workers) {
      if (!w.running) continue;
      int status = 0;
      const pid_t got = ::waitpid(w.pid, &status, WNOHANG);
      if (got == w.pid) {
        w.running = false;
        w.exit.seconds = std::chrono::duration<double>(Clock::now() - start).count();
        if (WIFSIGNALED(status)) w.exit.signal = WTERMSIG(status);
        if (WIFEXITED(status)) w.exit.exit_code = WEXITSTATUS(status);
        const bool failed = w.exit.signal != 0 || w.exit.exit_code != 0;
        if (failed && result.first_failed_rank < 0 && !w.exit.killed_by_launcher) {
          result.first_failed_rank = w.exit.rank;
        }
        if (failed && o.fail_fast && !killing) {
          killing = true;
          term_sent = Clock::now();
          for (auto& other : workers) {
            if (other.running) {
              other.exit.killed_by_launcher = true;
              ::kill(other.pid, SIGTERM);
            }
          }
        }
      } else {
        any_running = true;
      }
    }
    if (killing && any_running && Clock::now() - term_sent > o.kill_grace) {
      for (auto& w : workers) {
        if (w.running) ::kill(w.pid, SIGKILL);
      }
    }
    if (!any_running) break;
  }
  for (auto& w : workers) {
    // Grandchildren may still hold the pipe open: read what is there, do not wait for EOF.
    if (w.fd >= 0) {
      drain(w);
      flush_lines(w, true);
      if (w.fd >= 0) ::close(w.fd);
    }
    result.workers.push_back(w.exit);
  }
  return result;
}

}  // namespace lab
}  // namespace specopt
