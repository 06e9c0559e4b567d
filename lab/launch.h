#pragma once
// Local multi-process launcher (torchrun's job on one host): starts N copies of a program
// with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set, forwards each line they
// print (stdout and stderr) prefixed with "[rank R] ", and waits for all of them.
//
//   specopt::lab::LaunchOptions o;
//   o.nproc = 2;
//   o.args = {"bench", "step", "--quick"};        // argv[1..] of every worker
//   auto r = specopt::lab::launch_local(o);        // r.ok() when every worker exited 0
//
// Workers die with the launcher (PR_SET_PDEATHSIG = SIGKILL): killing the launcher, by any
// signal, ends the whole job.
//
// Fail fast (default): as soon as one worker exits non-zero or by a signal, the others get
// SIGTERM, then SIGKILL after kill_grace; the result says which rank failed first and how.
// Without fail fast the launcher just waits (the workers' own collective timeouts bound it),
// which is what the fault tests use to watch a survivor detect a dead peer by itself.
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace specopt {
namespace lab {

struct LaunchOptions {
  int nproc = 1;                   // workers on this host
  // Several hosts: this host's index and the host count; RANK = node_rank·nproc + LOCAL_RANK,
  // WORLD_SIZE = nnodes·nproc. With nnodes > 1 master_port must be given (all hosts agree on
  // it) and master_addr must be node 0's address reachable from every host.
  int nnodes = 1;
  int node_rank = 0;
  std::string program;             // empty: this executable (/proc/self/exe)
  std::vector<std::string> args;   // argv[1..]
  std::string master_addr = "127.0.0.1";
  int master_port = 0;             // 0: a free port on master_addr picked by the launcher
  std::map<std::string, std::string> env;  // extra variables for every worker
  bool fail_fast = true;
  std::chrono::milliseconds kill_grace{std::chrono::seconds(5)};
  // Every forwarded line, with its prefix; default: written to stderr.
  std::function<void(const std::string&)> on_line;
  bool prefix_output = true;

  void validate() const;  // throws std::invalid_argument naming the bad field and value
};

struct WorkerExit {
  int rank = 0;
  int exit_code = 0;   // when it exited normally
  int signal = 0;      // when a signal ended it (0 otherwise)
  double seconds = 0;  // from launch to exit
  bool killed_by_launcher = false;
};

struct LaunchResult {
  std::vector<WorkerExit> workers;  // this host's workers, by local rank
  int first_failed_rank = -1;       // -1 when every worker exited 0
  int master_port = 0;
  bool ok() const { return first_failed_rank < 0; }
  // One line per failed worker: "rank 1 exited with code 3", "rank 0 killed by signal 9".
  std::string describe_failures() const;
};

LaunchResult launch_local(const LaunchOptions& options);

// A TCP port on `addr` that was free a moment ago (bind to port 0, read it, close).
int find_free_port(const std::string& addr = "127.0.0.1");

}  // namespace lab
}  // namespace specopt
