#include "lab/train/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace specopt {
namespace lab {

namespace fs = std::filesystem;

namespace {

bool is_companion(const std::string& name, const std::string& base) {
  return name == base || name.rfind(base + ".", 0) == 0;
}

// FNV-1a, 63 bits (a non-negative int64 in the checkpoint's integer map).
int64_t hash63(const std::string& s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char ch : s) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return static_cast<int64_t>(h >> 1);
}

bool identity_key(const std::string& key) {
  const auto& free = resume_free_keys();
  return std::find(free.begin(), free.end(), key) == free.end();
}

}  // namespace

RunDirLock::RunDirLock(const std::string& dir, int* took_over) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create the run directory '" + dir + "': " + ec.message());
  const std::string path = dir + "/.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw std::runtime_error("cannot open the lock file '" + path + "': " + std::strerror(errno));
  }
  char buf[32] = {0};
  const ssize_t n = ::pread(fd_, buf, sizeof(buf) - 1, 0);
  const int recorded = n > 0 ? std::atoi(buf) : 0;
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      throw std::runtime_error("the run directory '" + dir + "' is in use by another specopt run" +
                               (recorded > 0 ? " (pid " + std::to_string(recorded) + ")" : "") +
                               " holding '" + path + "': wait for it to finish or stop it");
    }
    throw std::runtime_error("cannot lock '" + path + "': " + std::strerror(err));
  }
  if (took_over != nullptr) *took_over = recorded;
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    // The pid is only for messages; the lock itself is held.
  }
}

RunDirLock::~RunDirLock() {
  if (fd_ < 0) return;
  (void)::ftruncate(fd_, 0);  // an empty lock file: released cleanly, not by a killed run
  ::close(fd_);               // releases the flock
}

std::vector<std::string> run_files_in(const std::string& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    if (name == "config.json" || name == "metrics.jsonl" || name == "summary.json" ||
        name == "partition.json" ||
        is_companion(name, "checkpoint.pt") || is_companion(name, "checkpoint.prev.pt")) {
      found.push_back(name);
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::string prepare_fresh_run_dir(const std::string& dir, bool force) {
  const auto files = run_files_in(dir);
  if (files.empty()) return "";
  if (!force) {
    std::string list;
    for (size_t i = 0; i < files.size() && i < 4; ++i) list += (i ? ", " : "") + files[i];
    if (files.size() > 4) list += ", ...";
    throw std::runtime_error("the run directory '" + dir + "' already holds a run (" + list +
                             "): continue it with --resume, or start over with --force (the old "
                             "run is then moved to '" + dir + "/replaced-<N>')");
  }
  std::string aside;
  for (int n = 1;; ++n) {
    aside = dir + "/replaced-" + std::to_string(n);
    if (!fs::exists(aside)) break;
  }
  fs::create_directories(aside);
  for (const auto& f : files) fs::rename(fs::path(dir) / f, fs::path(aside) / f);
  return aside;
}

const std::vector<std::string>& resume_free_keys() {
  static const std::vector<std::string> keys = {
      "train.steps",         "schedule.spec",        "train.out_dir",
      "schedule.warmup_steps", "schedule.decay_steps",
      "train.threads",       "train.log_interval",   "train.eval_interval",
      "train.checkpoint_interval"};
  return keys;
}

std::map<std::string, nlohmann::json> flatten_config(const nlohmann::json& config) {
  std::map<std::string, nlohmann::json> flat;
  for (const auto& section : config.items()) {
    if (!section.value().is_object()) {
      flat[section.key()] = section.value();
      continue;
    }
    for (const auto& kv : section.value().items()) flat[section.key() + "." + kv.key()] = kv.value();
  }
  return flat;
}

std::vector<std::string> config_differences(const nlohmann::json& saved, const nlohmann::json& now,
                                            bool identity_only) {
  const auto a = flatten_config(saved), b = flatten_config(now);
  std::vector<std::string> out;
  auto shown = [](const std::map<std::string, nlohmann::json>& m, const std::string& k) {
    const auto it = m.find(k);
    return it == m.end() ? std::string("(absent)") : it->second.dump();
  };
  std::map<std::string, bool> keys;
  for (const auto& kv : a) keys[kv.first] = true;
  for (const auto& kv : b) keys[kv.first] = true;
  for (const auto& k : keys) {
    if (identity_only && !identity_key(k.first)) continue;
    if (shown(a, k.first) != shown(b, k.first)) {
      out.push_back(k.first + ": " + shown(a, k.first) + " in the run, " + shown(b, k.first) + " now");
    }
  }
  return out;
}

std::map<std::string, int64_t> identity_entries(const nlohmann::json& config) {
  std::map<std::string, int64_t> out;
  std::string all;
  for (const auto& kv : flatten_config(config)) {
    if (!identity_key(kv.first)) continue;
    const std::string text = kv.second.dump();
    out["id." + kv.first] = hash63(text);
    all += kv.first + "=" + text + "\n";
  }
  out["id.config"] = hash63(all);
  return out;
}

std::vector<std::string> identity_mismatches(const std::map<std::string, int64_t>& entries,
                                             const nlohmann::json& config) {
  const auto expected = identity_entries(config);
  if (entries.count("id.config") == 0) return {"(no run identity recorded)"};
  if (entries.at("id.config") == expected.at("id.config")) return {};
  std::vector<std::string> keys;
  for (const auto& kv : expected) {
    if (kv.first == "id.config") continue;
    const auto it = entries.find(kv.first);
    if (it == entries.end() || it->second != kv.second) keys.push_back(kv.first.substr(3));
  }
  for (const auto& kv : entries) {
    if (kv.first.rfind("id.", 0) == 0 && expected.count(kv.first) == 0) keys.push_back(kv.first.substr(3));
  }
  if (keys.empty()) keys.push_back("(the set of identity keys)");
  return keys;
}

void keep_previous_checkpoint(const std::string& ckpt, const std::string& prev) {
  if (!fs::exists(ckpt)) return;
  const fs::path dir = fs::path(ckpt).parent_path().empty() ? fs::path(".") : fs::path(ckpt).parent_path();
  const std::string base = fs::path(ckpt).filename().string();
  remove_checkpoint_files(prev);
  auto keep = [&](const fs::path& from, const fs::path& to) {
    std::error_code ec;
    fs::create_hard_link(from, to, ec);
    if (ec) fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  };
  const std::string prev_base = fs::path(prev).filename().string();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    if (name != base && is_companion(name, base)) {
      keep(e.path(), dir / (prev_base + name.substr(base.size())));
    }
  }
  keep(ckpt, prev);  // last: a previous checkpoint exists only once its companions do
}

void remove_checkpoint_files(const std::string& ckpt) {
  const fs::path dir = fs::path(ckpt).parent_path().empty() ? fs::path(".") : fs::path(ckpt).parent_path();
  const std::string base = fs::path(ckpt).filename().string();
  std::error_code ec;
  fs::remove(ckpt, ec);
  std::vector<fs::path> doomed;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (is_companion(e.path().filename().string(), base)) doomed.push_back(e.path());
  }
  for (const auto& p : doomed) fs::remove(p, ec);
}

}  // namespace lab
}  // namespace specopt
