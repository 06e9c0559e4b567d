// Nothing lost, nothing trusted blindly: checkpoint checksums and the fallback to the previous
// checkpoint, the run's identity in its checkpoint, the run directory's rules (lock, existing
// runs, stale temporaries, finished runs), safe outputs and bounded thread counts. Every test
// here fails on a trainer without the corresponding guard.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include <specopt/optim/checkpoint.h>
#include <specopt/optim/muon.h>
#include <specopt/util/atomic_write.h>
#include <specopt/util/checksum.h>

#include "fixtures.h"
#include "lab/atomic_file.h"
#include "lab/train/config.h"
#include "lab/train/run_dir.h"
#include "lab/train/trainer.h"
#include "tests/common/file_bytes.h"

namespace {

using specopt_train_test::TempDir;
namespace L = specopt::lab;
namespace fs = std::filesystem;

using specopt_test::slurp;
using specopt_test::spit;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

class Reliability : public TempDir {
 protected:
  L::TrainConfig gpt(const std::string& out = "run", const std::string& extra = "") {
    specopt_train_test::write_brown_fixture(path("brown"), 10);
    return L::parse_train_config(
        specopt_train_test::tiny_gpt_toml(path("brown"), path(out), "checkpoint_interval=8\n" + extra),
        {}, "test");
  }
  L::TrainHooks hooks(bool resume = false, int64_t stop_after = 0) {
    L::TrainHooks h;
    h.quiet = false;
    h.log = [this](const std::string& l) { log += l + "\n"; };
    h.force_plain = true;
    h.resume = resume;
    h.stop_after = stop_after;
    return h;
  }
  std::string log;
};

// ---------------------------------------------------------------------------------------
// Checksums.

TEST(Checksum, Crc32OfTheStandardCheckString) {
  EXPECT_EQ(specopt::crc32("123456789", 9), 0xCBF43926u);  // the CRC-32 check value
}

TEST(Checksum, TrailerRoundTripAndEveryKindOfDamageRefused) {
  const std::string content = "some checkpoint bytes \x01\x02\x03";
  const auto framed = specopt::with_checksum_trailer(content);
  ASSERT_EQ(framed.size(), content.size() + specopt::kChecksumTrailerSize);
  std::string back, error;
  ASSERT_TRUE(specopt::strip_checksum_trailer(framed, back, error)) << error;
  EXPECT_EQ(back, content);
  // Every single-byte change anywhere (content or trailer) is refused.
  for (size_t i = 0; i < framed.size(); ++i) {
    auto bad = framed;
    bad[i] = static_cast<char>(bad[i] ^ 0x5A);
    EXPECT_FALSE(specopt::strip_checksum_trailer(bad, back, error)) << "byte " << i;
  }
  EXPECT_FALSE(specopt::strip_checksum_trailer(framed.substr(0, framed.size() - 1), back, error));
  EXPECT_FALSE(specopt::strip_checksum_trailer(content, back, error));  // no trailer at all
  EXPECT_NE(error.find("no checksum trailer"), std::string::npos) << error;
}

// A real optimizer checkpoint: a flipped byte anywhere is refused with the path and
// "CRC-32 mismatch" (LibTorch's reader alone loads most such files without complaint), and
// the optimizer is left as it was.
TEST_F(Reliability, CorruptCheckpointFileIsRefusedNamingThePath) {
  auto w = at::randn({6, 4});
  w.set_requires_grad(true);
  specopt::Muon opt(std::vector<at::Tensor>{w}, specopt::MuonOptions(0.02));
  w.mutable_grad() = at::randn({6, 4});
  opt.step();
  const std::string file = path("opt.pt");
  specopt::save_checkpoint(file, opt);
  const std::string good = slurp(file);
  int refused = 0, tried = 0;
  for (size_t i = 0; i < good.size(); i += std::max<size_t>(1, good.size() / 40)) {
    auto bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    spit(file, bad);
    ++tried;
    const auto e = error_of([&] { specopt::load_checkpoint(file, opt); });
    if (e.find(file) != std::string::npos &&
        (e.find("CRC-32 mismatch") != std::string::npos || e.find("checksum") != std::string::npos)) {
      ++refused;
    } else {
      ADD_FAILURE() << "byte " << i << ": " << e;
    }
  }
  EXPECT_EQ(refused, tried);
  spit(file, good);
  EXPECT_EQ(error_of([&] { specopt::load_checkpoint(file, opt); }), "(no exception)");
  // A directory in place of a checkpoint: the path, not "basic_filebuf::underflow".
  fs::create_directories(path("dir.pt"));
  const auto e = error_of([&] { specopt::load_checkpoint(path("dir.pt"), opt); });
  EXPECT_NE(e.find(path("dir.pt") + "' is not a regular file"), std::string::npos) << e;
}

// save_checkpoint into a directory that does not exist yet creates it (no abort()).
TEST_F(Reliability, SaveCheckpointIntoAFreshDirectory) {
  auto w = at::randn({3, 3});
  w.set_requires_grad(true);
  specopt::Muon opt(std::vector<at::Tensor>{w}, specopt::MuonOptions(0.02));
  const std::string file = path("fresh/sub/opt.pt");
  EXPECT_EQ(error_of([&] { specopt::save_checkpoint(file, opt); }), "(no exception)");
  EXPECT_TRUE(fs::is_regular_file(file));
  EXPECT_EQ(error_of([&] { specopt::load_checkpoint(file, opt); }), "(no exception)");
}

// The trainer keeps the last two checkpoints; when the last is corrupt, a resume falls back to
// the one before and still ends exactly where the uninterrupted run ends.
TEST_F(Reliability, ResumeFallsBackToThePreviousCheckpoint) {
  const auto full = L::train(gpt("full"), hooks());
  ASSERT_EQ(full.status, "completed") << full.message;

  auto c = gpt();
  ASSERT_EQ(L::train(c, hooks(false, 16)).status, "stopped");
  ASSERT_TRUE(fs::exists(path("run/checkpoint.pt")));
  ASSERT_TRUE(fs::exists(path("run/checkpoint.prev.pt")));  // step 8 kept beside step 16
  auto bytes = slurp(path("run/checkpoint.pt"));
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x10);
  spit(path("run/checkpoint.pt"), bytes);

  log.clear();
  const auto r = L::train(c, hooks(true));
  ASSERT_EQ(r.status, "completed") << r.message;
  EXPECT_NE(log.find("CRC-32 mismatch"), std::string::npos) << log;
  EXPECT_NE(log.find("falling back to the previous one"), std::string::npos) << log;
  EXPECT_NE(log.find("at step 8"), std::string::npos) << log;
  EXPECT_EQ(r.train_losses.size(), 16u);  // steps 9..24
  EXPECT_EQ(r.final_val_loss, full.final_val_loss);
  EXPECT_EQ(r.parameter_checksum, full.parameter_checksum);
  EXPECT_TRUE(fs::exists(path("run/checkpoint.refused.pt")));
}

TEST_F(Reliability, BothCheckpointsCorruptIsRefusedNamingBoth) {
  auto c = gpt();
  ASSERT_EQ(L::train(c, hooks(false, 16)).status, "stopped");
  for (const char* f : {"run/checkpoint.pt", "run/checkpoint.prev.pt"}) {
    auto bytes = slurp(path(f));
    bytes.resize(bytes.size() - 100);  // truncated
    fs::remove(path(f));               // (a hard link: replace, do not write through)
    spit(path(f), bytes);
  }
  const auto e = error_of([&] { L::train(c, hooks(true)); });
  EXPECT_NE(e.find("the last checkpoint was refused"), std::string::npos) << e;
  EXPECT_NE(e.find("so was the previous one"), std::string::npos) << e;
}

// ---------------------------------------------------------------------------------------
// Run identity.

// A checkpoint from another run with the same shapes (other momentum, no Nesterov, other
// seed) is refused naming the differing keys; --allow-config-change does not accept optimizer
// keys (the checkpoint would silently replace them), but does accept e.g. the seed.
TEST_F(Reliability, CheckpointOfAnotherRunIsRefusedNamingTheKeys) {
  auto a = gpt("a", "seed=7\n");
  a.optimizer.momentum = 0.5;
  a.optimizer.nesterov = false;
  ASSERT_EQ(L::train(a, hooks(false, 8)).status, "stopped");
  auto b = gpt("b");
  ASSERT_EQ(L::train(b, hooks(false, 8)).status, "stopped");
  fs::remove(path("b/checkpoint.pt"));
  fs::copy_file(path("a/checkpoint.pt"), path("b/checkpoint.pt"));
  const auto e = error_of([&] { L::train(b, hooks(true)); });
  EXPECT_NE(e.find("belongs to another run"), std::string::npos) << e;
  for (const char* key : {"optimizer.momentum", "optimizer.nesterov", "train.seed"}) {
    EXPECT_NE(e.find(key), std::string::npos) << key << ": " << e;
  }
  auto h = hooks(true);
  h.allow_config_change = true;
  const auto e2 = error_of([&] { L::train(b, h); });
  EXPECT_NE(e2.find("need a new run"), std::string::npos) << e2;

  // Only the seed differs: accepted with the override, refused without.
  auto c = gpt("c", "seed=7\n");
  ASSERT_EQ(L::train(c, hooks(false, 8)).status, "stopped");
  fs::remove(path("b/checkpoint.pt"));
  fs::remove(path("b/checkpoint.prev.pt"));
  fs::copy_file(path("c/checkpoint.pt"), path("b/checkpoint.pt"));
  EXPECT_NE(error_of([&] { L::train(b, hooks(true)); }).find("train.seed"), std::string::npos);
  log.clear();
  EXPECT_EQ(L::train(b, h).status, "completed");
  EXPECT_NE(log.find("other values of train.seed"), std::string::npos) << log;
}

// A resume with another config names every differing key, and says what a missing
// config.json is.
TEST_F(Reliability, ResumeWithAnotherConfigNamesEveryKey) {
  auto c = gpt();
  ASSERT_EQ(L::train(c, hooks(false, 8)).status, "stopped");
  auto other = c;
  other.optimizer.lr = 0.03;
  other.batch_size = 4;
  const auto e = error_of([&] { L::train(other, hooks(true)); });
  EXPECT_NE(e.find("2 key(s)"), std::string::npos) << e;
  EXPECT_NE(e.find("optimizer.lr: 0.02 in the run, 0.03 now"), std::string::npos) << e;
  EXPECT_NE(e.find("train.batch_size: 8 in the run, 4 now"), std::string::npos) << e;
  fs::remove(path("run/config.json"));
  const auto e2 = error_of([&] { L::train(c, hooks(true)); });
  EXPECT_NE(e2.find("config.json' is missing"), std::string::npos) << e2;
}

// ---------------------------------------------------------------------------------------
// The run directory.

TEST_F(Reliability, ExistingRunIsRefusedUnlessForcedWhichKeepsItAside) {
  auto c = gpt();
  c.steps = 8;
  ASSERT_EQ(L::train(c, hooks()).status, "completed");
  const auto old_summary = slurp(path("run/summary.json"));
  const auto e = error_of([&] { L::train(c, hooks()); });
  EXPECT_NE(e.find("already holds a run"), std::string::npos) << e;
  EXPECT_NE(e.find("--resume"), std::string::npos) << e;
  EXPECT_NE(e.find("--force"), std::string::npos) << e;
  EXPECT_EQ(slurp(path("run/summary.json")), old_summary);  // untouched
  auto h = hooks();
  h.force = true;
  ASSERT_EQ(L::train(c, h).status, "completed");
  EXPECT_EQ(slurp(path("run/replaced-1/summary.json")), old_summary);
  EXPECT_TRUE(fs::exists(path("run/replaced-1/checkpoint.pt")));
  EXPECT_TRUE(fs::exists(path("run/summary.json")));
}

// --resume on a finished run leaves summary.json as it was; raising train.steps extends it.
TEST_F(Reliability, FinishedRunIsKeptAndCanBeExtended) {
  auto c = gpt();
  ASSERT_EQ(L::train(c, hooks()).status, "completed");
  const auto summary = slurp(path("run/summary.json"));
  log.clear();
  const auto again = L::train(c, hooks(true));
  EXPECT_EQ(again.status, "completed");
  EXPECT_EQ(again.steps_done, 24);
  EXPECT_EQ(slurp(path("run/summary.json")), summary);
  EXPECT_EQ(again.summary.dump(), nlohmann::json::parse(summary).dump());
  EXPECT_NE(log.find("already finished at step 24"), std::string::npos) << log;

  auto longer = c;
  longer.steps = 32;
  const auto r = L::train(longer, hooks(true));
  ASSERT_EQ(r.status, "completed") << r.message;
  EXPECT_EQ(r.steps_done, 32);
  EXPECT_EQ(r.train_losses.size(), 8u);
  std::ifstream s(path("run/summary.json"));
  EXPECT_EQ(nlohmann::json::parse(s).at("steps"), 32);
  std::ifstream cfg(path("run/config.json"));
  EXPECT_EQ(nlohmann::json::parse(cfg).at("train").at("steps"), 32);
}

TEST_F(Reliability, LockedRunDirectoryIsRefusedAndAStaleLockTakenOver) {
  auto c = gpt();
  c.steps = 4;
  {
    L::RunDirLock held(path("run"));
    const auto e = error_of([&] { L::train(c, hooks()); });
    EXPECT_NE(e.find("is in use by another specopt run (pid " + std::to_string(::getpid()) + ")"),
              std::string::npos) << e;
  }
  // A lock file left by a killed run (a pid, no flock held) is taken over.
  spit(path("run/.lock"), "999999\n");
  log.clear();
  ASSERT_EQ(L::train(c, hooks()).status, "completed");
  EXPECT_NE(log.find("took over the lock"), std::string::npos) << log;
  EXPECT_NE(log.find("999999"), std::string::npos) << log;
}

TEST_F(Reliability, StaleTemporariesAreRemovedOnTheNextStart) {
  auto c = gpt();
  ASSERT_EQ(L::train(c, hooks(false, 8)).status, "stopped");
  spit(path("run/.checkpoint.pt.tmp.4242.0.17"), "partial");
  spit(path("run/.metrics.jsonl.tmp.4242.1.99"), "partial");
  spit(path("run/keep.tmp.txt"), "not ours");
  log.clear();
  ASSERT_EQ(L::train(c, hooks(true)).status, "completed");
  EXPECT_FALSE(fs::exists(path("run/.checkpoint.pt.tmp.4242.0.17")));
  EXPECT_FALSE(fs::exists(path("run/.metrics.jsonl.tmp.4242.1.99")));
  EXPECT_TRUE(fs::exists(path("run/keep.tmp.txt")));
  EXPECT_NE(log.find("removed 2 temporary file(s)"), std::string::npos) << log;
}

TEST_F(Reliability, ThreadsAreBoundedByTheHardware) {
  const auto e2 = error_of([&] {
    L::parse_train_config("[train]\nthreads=100000\nout_dir='x'\n[model]\nkind='gpt'\n", {}, "t");
  });
  EXPECT_NE(e2.find("config key 'train.threads': 100000 exceeds the"), std::string::npos) << e2;
  EXPECT_NE(e2.find("hardware threads"), std::string::npos) << e2;
}

TEST_F(Reliability, ConfigMessagesNameTheirKey) {
  const auto e = error_of([&] { L::parse_train_config("[train]\nout_dir=''\n", {}, "t"); });
  EXPECT_NE(e.find("'train.out_dir'"), std::string::npos) << e;
  const auto e2 = error_of([&] {
    L::parse_train_config("[optimizer]\nname='lionk'\nmap='nosuchmap'\n", {}, "t");
  });
  EXPECT_NE(e2.find("'optimizer.map'"), std::string::npos) << e2;
  EXPECT_NE(e2.find("nosuchmap"), std::string::npos) << e2;
}

// Found by fuzz/config_fuzz.cpp and fuzz/set_fuzz.cpp: toml++ aborts on "[=]" and "[}" and
// reaches undefined behaviour on some non-ASCII characters outside strings; all refused first.
TEST_F(Reliability, MalformedTomlIsRefusedNotAborted) {
  for (const char* text : {"[=]\n", "[model]\n[ #]\n", "[[.]]\n", "[model]\nkind× = 'gpt'\n",
                           "[model]\nkind = [}\n", "[model]\nkind = [1,\n }\n"}) {
    const auto e = error_of([&] { L::parse_train_config(text, {}, "cfg.toml"); });
    EXPECT_NE(e.find("cfg.toml:"), std::string::npos) << text << ": " << e;
    EXPECT_NE(e.find("invalid TOML"), std::string::npos) << text << ": " << e;
  }
  // The same characters inside strings and comments are fine.
  EXPECT_EQ(error_of([&] {
              L::parse_train_config("# [=] × \n[train]\nout_dir = 'runs/[=]×'\n", {}, "cfg.toml");
            }),
            "(no exception)");
  const auto e = error_of([&] { L::parse_train_config("", {"train.out_dir=x\n[=]"}, "cfg"); });
  EXPECT_NE(e.find("control character"), std::string::npos) << e;
  // A non-ASCII --set value is a string, as a bare word is.
  EXPECT_EQ(L::parse_train_config("", {"train.out_dir=runs/é"}, "cfg").out_dir, "runs/é");
}

// ---------------------------------------------------------------------------------------
// Safe outputs (specopt/util/atomic_write.h), used by every writer.

TEST_F(Reliability, OutputsWriteThroughSymlinksKeepModesAndRefuseSpecialFiles) {
  spit(path("target.txt"), "old");
  ::chmod(path("target.txt").c_str(), 0600);
  fs::create_symlink("target.txt", path("link.txt"));
  L::write_file_atomic(path("link.txt"), std::string("new"));
  EXPECT_TRUE(fs::is_symlink(path("link.txt")));
  EXPECT_EQ(slurp(path("target.txt")), "new");
  struct stat st {};
  ASSERT_EQ(::stat(path("target.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0644), 0);
  const auto e = error_of([&] { L::write_file_atomic(path("fifo"), std::string("x")); });
  EXPECT_NE(e.find("refusing to replace '" + path("fifo") + "': it is a FIFO"), std::string::npos) << e;
  EXPECT_TRUE(fs::is_fifo(path("fifo")));
  fs::create_directories(path("adir"));
  EXPECT_NE(error_of([&] { L::write_file_atomic(path("adir"), std::string("x")); }).find("a directory"),
            std::string::npos);
  for (const char* p : {"/dev/null", "/proc/self/comm", "/sys/kernel/notes"}) {
    const auto e2 = error_of([&] { L::write_file_atomic(p, std::string("x")); });
    EXPECT_NE(e2.find("refusing"), std::string::npos) << p << ": " << e2;
  }
  fs::create_symlink("/dev/null", path("null"));
  EXPECT_NE(error_of([&] { L::write_file_atomic(path("null"), std::string("x")); }).find("refusing"),
            std::string::npos);
  EXPECT_TRUE(fs::is_symlink(path("null")));
  // Checkpoints go through the same writer.
  auto w = at::randn({2, 2});
  w.set_requires_grad(true);
  specopt::Muon opt(std::vector<at::Tensor>{w}, specopt::MuonOptions(0.02));
  EXPECT_NE(error_of([&] { specopt::save_checkpoint(path("fifo"), opt); }).find("a FIFO"),
            std::string::npos);
}

}  // namespace
