#pragma once
// Exact, resumable optimizer checkpoints. torch::save(optimizer, path) / torch::load(optimizer,
// path) write and read the same entries without extras (SpecoptOptimizer::save / load).
//
//   specopt::CheckpointExtras extras;
//   extras.lr_schedulers = {&lr_sched};              // position + base lrs
//   extras.momentum_schedulers = {&mom_sched};       // position
//   extras.integers["epoch"] = 3;                    // anything else the caller wants back
//   specopt::save_checkpoint("run/opt.ckpt", opt, extras);
//   ...
//   Muon fresh(params, MuonOptions(1.0));            // any default lr: it is overwritten
//   LrScheduler fresh_sched(fresh, WarmupCosineSchedule(10, 100));
//   specopt::CheckpointExtras back;
//   back.lr_schedulers = {&fresh_sched};
//   specopt::load_checkpoint("run/opt.ckpt", fresh, back);   // back.integers["epoch"] == 3
//
// Format: a torch::serialize::OutputArchive (LibTorch's zip container) with flat keys, every
// per-parameter entry keyed by (group index, parameter index) — never by the state map's key,
// which is a TensorImpl address and whose C++ type changed between LibTorch 1.13 and 2.x:
//
//   specopt.format_version   int (kCheckpointFormatVersion)
//   specopt.kind             the optimizer's name() ("Muon", "LionK", ...)
//   specopt.skipped_steps    int
//   layout.groups            int;   layout.g<i>.params  int
//   layout.g<i>.p<j>.shape   int list;   layout.g<i>.p<j>.dtype  string ("Float", "Double")
//   layout.g<i>.p<j>.name    SpecoptOptimizer::param_name (a hybrid's: the model's parameter
//                            name); checked on load when present, so another model is refused
//   g<i>.kind                the group's options kind ("Muon", ...; hybrid optimizers mix them)
//   g<i>.opt.<field>         every option the group's options type declares in its fields()
//                            (specopt/optim/fields.h): lr, betas, weight decay, p, shape rule,
//                            polar / power settings, Newton–Schulz table, a map's full spec, ...
//   defaults.kind, defaults.opt.<field>   the optimizer's default options, same fields
//   g<i>.p<j>.has_state      bool;  g<i>.p<j>.state.<field>  the state's declared fields
//   g<i>.p<j>.param          the parameter's values (only with save_parameters)
//   lr_sched.*, mom_sched.*, extras.*   see CheckpointExtras
//
// What is NOT serialized:
//   * LionK's convex map as an object: its registry spec ConvexMap::name() (which includes
//     every non-default setting, e.g. "nuclear:method=newton_schulz,steps=3") is stored and the
//     map is rebuilt with make_convex_map() on load (a user-written ConvexMap subclass must
//     make make_convex_map(name()) rebuild it, or loading refuses naming the spec).
//   * Schedulers' Schedule objects (the caller constructs the same schedules; only positions
//     and base lrs are stored), MomentumScheduler setters, loss closures, gradients.
//   * Parameters, unless save_parameters is set (normally the model is saved by torch::save).
//   * The optimizer's defaults() are restored only when they are of the same kind as saved
//     (always so for a single-rule optimizer); they matter only to add_param_group.
//   * Options types that are not a specopt rule's (no declared fields): save refuses naming
//     the group.
//
// Saving is atomic and checksummed: the archive plus an integrity trailer (length and CRC-32
// of the whole content, specopt/util/checksum.h) is written by specopt/util/atomic_write.h
// (temporary file, fsync, rename; missing parent directories created; symlinks written
// through, non-regular targets refused); on any failure <path> (if it existed) is untouched
// and a c10::Error names the path. Loading verifies the trailer before parsing anything.
//
// Loading validates everything first — file readable and a specopt checkpoint, format version
// known, optimizer kind, number of groups, parameters per group, each parameter's shape and
// dtype, every option and state field present and of the right type, options valid, the
// scheduler lists matching — and only then changes the optimizer, its schedulers and the
// extras maps. A refusal throws c10::Error with a message naming the path and what differs
// (e.g. "checkpoint is for Muon, optimizer is AdamW"; "param group 1, parameter 0: shape
// [4, 3] in the checkpoint, [3, 4] in the optimizer") and changes nothing.
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <specopt/optim/base.h>
#include <specopt/optim/schedule.h>

namespace torch {
namespace serialize {
class InputArchive;
class OutputArchive;
}  // namespace serialize
}  // namespace torch

namespace specopt {

constexpr int64_t kCheckpointFormatVersion = 1;

struct CheckpointExtras {
  // Saved: each scheduler's position (and base lrs); loaded: restored into the schedulers
  // given here, which must be as many, in the same order, as at save time.
  std::vector<LrScheduler*> lr_schedulers;
  std::vector<MomentumScheduler*> momentum_schedulers;
  // Free-form values the caller wants back (epoch, data-loader position, best loss, ...).
  // Saved as given; on load replaced by the checkpoint's contents.
  std::map<std::string, double> doubles;
  std::map<std::string, int64_t> integers;
  // Save the parameters' values too (restored by load_checkpoint when present in the file).
  bool save_parameters = false;
};

// Writes `optimizer` (and `extras`) to `path` atomically. Throws c10::Error naming the path.
void save_checkpoint(const std::string& path, const SpecoptOptimizer& optimizer,
                     const CheckpointExtras& extras = {});

// Restores `optimizer` (state, per-group options, defaults, skipped_steps), the schedulers in
// `extras` and its doubles/integers maps from `path`; refuses (throws, changing nothing) on
// any mismatch. See the top of this file.
void load_checkpoint(const std::string& path, SpecoptOptimizer& optimizer,
                     CheckpointExtras& extras);
void load_checkpoint(const std::string& path, SpecoptOptimizer& optimizer);

// The checkpoint's entries into / from an archive (what the byte and file functions use);
// `source` names the archive in messages.
void write_checkpoint(torch::serialize::OutputArchive& archive, const SpecoptOptimizer& optimizer,
                      const CheckpointExtras& extras = {});
void read_checkpoint(torch::serialize::InputArchive& archive, const std::string& source,
                     SpecoptOptimizer& optimizer, CheckpointExtras& extras);

// The only function that writes a checkpoint file: `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
// Throws c10::Error naming the path; on failure no temporary file is left behind.
void write_file_atomic_bytes(const std::string& path, const std::string& bytes);

// The same checkpoint as bytes in memory (save_checkpoint writes exactly these), and loading
// from them; `source` names them in messages (the sharded checkpoints of specopt/dist keep them
// in their rank files).
std::string checkpoint_bytes(const SpecoptOptimizer& optimizer, const CheckpointExtras& extras = {});
void load_checkpoint_bytes(const std::string& bytes, const std::string& source,
                           SpecoptOptimizer& optimizer, CheckpointExtras& extras);
// The only function that reads a checkpoint file: the whole file, or an error naming it
// ("the optimizer was not changed").
std::string read_checkpoint_file(const std::string& path);

}  // namespace specopt
