#pragma once
// The run directory of `specopt train` (config.out_dir): who may use it, what a new run does
// to an old one, which checkpoint a resume trusts.
//
//   lock        RunDirLock holds flock(2) on "<dir>/.lock" (with the holder's pid in it) for
//               the whole run: a second run or resume of the same directory is refused while
//               it is held. The kernel drops the lock when its holder dies, so the lock file a
//               killed run leaves behind is stale by construction and simply taken over.
//   fresh run   refused when the directory already holds a run (config.json, metrics.jsonl,
//               summary.json, partition.json or checkpoint.pt*), unless forced: then that run's files move to
//               "<dir>/replaced-<N>/" first. Temporary files of a killed writer are removed.
//   identity    every checkpoint records a hash of each identity key of the resolved config
//               (every key except the bookkeeping ones in kResumeFreeKeys); a resume compares
//               them with config.json and the current config and names each differing key.
//   two kept    before each checkpoint, the previous one is kept as "checkpoint.prev.pt*"
//               (hard links, so sharded checkpoints keep their shards); a resume whose last
//               checkpoint is refused (checksum, truncation, ...) falls back to it.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace specopt {
namespace lab {

// Set by `specopt train --nproc` for its workers: the launcher holds the directory's lock.
constexpr const char* kRunDirLockedEnv = "SPECOPT_RUN_DIR_LOCKED";

class RunDirLock {
 public:
  // Creates `dir` if needed and takes its lock, or throws std::runtime_error naming the
  // directory and the pid holding it. `took_over` (when given) is set to the pid recorded
  // by a stale lock file (0 when there was none).
  explicit RunDirLock(const std::string& dir, int* took_over = nullptr);
  ~RunDirLock();
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

 private:
  int fd_ = -1;
};

// The run files present in `dir` ("config.json", "checkpoint.pt", ...); empty: no run there.
std::vector<std::string> run_files_in(const std::string& dir);

// Prepares `dir` for a fresh run: refuses an existing run unless `force`, which moves it to
// "<dir>/replaced-<N>" and returns that path (empty when nothing was moved).
std::string prepare_fresh_run_dir(const std::string& dir, bool force);

// Keys that may differ on resume without changing the run's identity (a finished run is
// extended by raising train.steps, which also moves the schedule's spec and, for warmup and
// decay given as fractions, their step counts; intervals, threads and the directory are
// bookkeeping).
const std::vector<std::string>& resume_free_keys();

// "section.key" → value, of a config's to_json().
std::map<std::string, nlohmann::json> flatten_config(const nlohmann::json& config);

// "optimizer.momentum: 0.95 in the run, 0.5 now" for each key that differs (all keys, or
// only identity keys when `identity_only`).
std::vector<std::string> config_differences(const nlohmann::json& saved, const nlohmann::json& now,
                                            bool identity_only);

// The checkpoint's identity entries: "id.<key>" → 63-bit hash of each identity key's value,
// and "id.config" → the hash of all of them.
std::map<std::string, int64_t> identity_entries(const nlohmann::json& config);

// The identity keys whose hashes in `entries` (a checkpoint's integers) differ from
// `config`'s; {"(no run identity recorded)"} when the checkpoint has none.
std::vector<std::string> identity_mismatches(const std::map<std::string, int64_t>& entries,
                                             const nlohmann::json& config);

// Keeps the checkpoint at `ckpt` (and its "<ckpt>.*" companions) as "<prev>" (and "<prev>.*")
// by hard links (copies where links fail), replacing the older one. No-op when `ckpt` does
// not exist.
void keep_previous_checkpoint(const std::string& ckpt, const std::string& prev);

// Removes `ckpt` and its "<ckpt>.*" companions.
void remove_checkpoint_files(const std::string& ckpt);

}  // namespace lab
}  // namespace specopt
