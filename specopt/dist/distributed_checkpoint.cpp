// Sharded checkpoints of DistributedOptimizer (see distributed.h): per-rank files in specopt's
// ordinary checkpoint format plus a manifest, loadable at any world size.
#include "specopt/dist/distributed.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include <specopt/dist/elementwise_slices.h>
#include <specopt/util/checksum.h>

namespace specopt {

namespace {

constexpr const char* kManifestMagic = "specopt-distributed-checkpoint";
// 1: every parameter owned whole; 2: sliced parameters (owner -1), slice files, hybrid count.
constexpr int kManifestVersion = 2;
constexpr int kSliced = DistributedOptimizer::kSliced;

std::string shard_path(const std::string& path, const std::string& tag, int world, int rank,
                       int64_t gen) {
  return path + "." + tag + ".w" + std::to_string(world) + ".r" + std::to_string(rank) + "." +
         std::to_string(gen);
}
std::string slices_tag(const std::string& member_tag) { return member_tag + "-slices"; }

using SlotKey = std::tuple<size_t, size_t, size_t>;  // (member, group, index)

struct Manifest {
  int64_t generation = 0;
  int world_size = 0;
  std::vector<std::string> members;
  std::map<SlotKey, int> owner;  // kSliced for a parameter sliced across the ranks
  int64_t hybrid_skipped_steps = -1;  // written by builds whose hybrid kept its own count;
                                      // the count now travels in the member file
};

bool read_manifest(const std::string& path, Manifest& m, std::string& error) {
  std::string text;  // checksum verified first: specopt/util/checksum.h
  if (!read_checksummed_file(path, text, error)) return false;
  std::istringstream in(text);
  std::string magic;
  int version = 0;
  in >> magic >> version;
  if (magic != kManifestMagic || version < 1 || version > kManifestVersion) {
    error = "not a specopt distributed checkpoint manifest (versions 1 to " +
            std::to_string(kManifestVersion) + ")";
    return false;
  }
  std::string key;
  size_t nmembers = 0;
  in >> key >> m.generation;
  if (key != "generation") return error = "missing 'generation'", false;
  in >> key >> m.world_size;
  if (key != "world_size" || m.world_size < 1) return error = "bad 'world_size'", false;
  in >> key >> nmembers;
  if (key != "members") return error = "missing 'members'", false;
  for (size_t i = 0; i < nmembers; ++i) {
    std::string tag;
    in >> tag;
    m.members.push_back(tag);
  }
  size_t nslots = 0;
  in >> key >> nslots;
  if (key != "slots") return error = "missing 'slots'", false;
  const int lowest = version >= 2 ? kSliced : 0;
  for (size_t i = 0; i < nslots; ++i) {
    size_t mem = 0, g = 0, p = 0;
    int owner = -2;
    in >> mem >> g >> p >> owner;
    if (!in || owner < lowest || owner >= m.world_size || mem >= nmembers) {
      return error = "bad slot line " + std::to_string(i), false;
    }
    m.owner[{mem, g, p}] = owner;
  }
  if (in >> key) {
    if (key != "hybrid_skipped_steps" || !(in >> m.hybrid_skipped_steps) ||
        m.hybrid_skipped_steps < 0) {
      return error = "bad line after the slots ('" + key + "')", false;
    }
  }
  return true;
}

bool member_has_slices(const Manifest& man, size_t m) {
  for (const auto& kv : man.owner) {
    if (std::get<0>(kv.first) == m && kv.second == kSliced) return true;
  }
  return false;
}

template <typename Map>
const torch::optim::OptimizerParamState* find_state(const Map& state, const at::Tensor& p) {
  auto it = state.find(SpecoptOptimizer::state_key(state, p));
  return it == state.end() ? nullptr : it->second.get();
}

// The slices one saved rank held: an optimizer of the member's type over placeholder slices of
// that rank's sizes, into which its slice file loads (its layout is checked against them).
struct SavedSlices {
  std::unique_ptr<SpecoptOptimizer> opt;
  std::map<size_t, at::Tensor> slice;  // slot index → placeholder
};

SavedSlices load_saved_slices(DistributedOptimizer& optimizer, size_t m, const Manifest& man,
                              int rank, const std::string& file) {
  auto& member = *optimizer.members()[m].second;
  const auto& slots = optimizer.slots();
  SavedSlices out;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (size_t g = 0; g < member.param_groups().size(); ++g) {
    std::vector<at::Tensor> params;
    for (size_t i = 0; i < slots.size(); ++i) {
      const auto& s = slots[i];
      if (s.member != m || s.group != g || man.owner.at({m, g, s.index}) != kSliced) continue;
      const auto& p = member.param_groups()[g].params()[s.index];
      const auto b = DistributedOptimizer::slice_bounds(p.numel(), man.world_size, rank);
      params.push_back(at::empty({b.second - b.first}, p.options()));
      out.slice[i] = params.back();
    }
    groups.emplace_back(std::move(params), member.param_groups()[g].options().clone());
  }
  out.opt = slices::make_like(member, std::move(groups));
  CheckpointExtras none;
  load_checkpoint_bytes(read_checkpoint_file(file), file, *out.opt, none);
  return out;
}

// The body of load_checkpoint, which wraps it in an all-or-nothing collective.
void load_sharded(const std::string& path, DistributedOptimizer& optimizer,
                  CheckpointExtras& extras) {
  Manifest man;
  std::string err;
  TORCH_CHECK(read_manifest(path, man, err), "load_checkpoint(", path, "): ", err);
  const auto& members = optimizer.members();
  TORCH_CHECK(man.members.size() == members.size(), "load_checkpoint(", path, "): ",
              man.members.size(), " members in the checkpoint, ", members.size(),
              " in the optimizer");
  for (size_t m = 0; m < members.size(); ++m) {
    TORCH_CHECK(man.members[m] == members[m].first, "load_checkpoint(", path, "): member ", m,
                " is '", man.members[m], "' in the checkpoint, '", members[m].first,
                "' in the optimizer");
  }
  const auto& slots = optimizer.slots();
  TORCH_CHECK(man.owner.size() == slots.size(), "load_checkpoint(", path, "): ",
              man.owner.size(), " parameters in the checkpoint, ", slots.size(),
              " in the optimizer");
  for (const auto& s : slots) {
    TORCH_CHECK(man.owner.count({s.member, s.group, s.index}) == 1, "load_checkpoint(", path,
                "): no owner recorded for ", members[s.member].first, " param group ", s.group,
                ", parameter ", s.index);
  }
  const int me = optimizer.rank(), world = optimizer.world_size(), saved_world = man.world_size;
  for (size_t m = 0; m < members.size(); ++m) {
    auto& opt = *members[m].second;
    auto& groups = opt.param_groups();
    auto* shadow = optimizer.shadow(m);
    const std::string tag = members[m].first;
    bool elementwise = false;
    for (size_t g = 0; g < groups.size(); ++g) elementwise = elementwise || opt.rule(g).elementwise();
    TORCH_CHECK(!member_has_slices(man, m) || elementwise, "load_checkpoint(",
                path, "): member '", tag, "' has sliced parameters in the checkpoint but is ",
                opt.name(), ", not an element-wise optimizer");
    // What this rank needs: for each parameter it owns whole, all its elements; for each
    // sliced one, its slice. Where they are: a saved owner's member file, or the slice files of
    // the saved ranks whose slices overlap.
    struct Need {
      size_t slot;
      int64_t begin, end;
      int saved_owner;
    };
    std::vector<Need> needs;
    std::set<int> member_files, slice_files;
    for (size_t i = 0; i < slots.size(); ++i) {
      const auto& s = slots[i];
      if (s.member != m || (s.owner != me && s.owner != kSliced)) continue;
      const int64_t numel = groups[s.group].params()[s.index].numel();
      const auto range = s.owner == kSliced
                             ? DistributedOptimizer::slice_bounds(numel, world, me)
                             : std::pair<int64_t, int64_t>{0, numel};
      const int saved = man.owner.at({m, s.group, s.index});
      needs.push_back({i, range.first, range.second, saved});
      if (saved != kSliced) {
        member_files.insert(saved);
        continue;
      }
      for (int r = 0; r < saved_world; ++r) {
        const auto b = DistributedOptimizer::slice_bounds(numel, saved_world, r);
        if (b.first < range.second && range.first < b.second) slice_files.insert(r);
      }
    }
    if (member_files.empty()) member_files.insert(0);  // options, counters and extras still come back

    std::map<size_t, std::unique_ptr<torch::optim::OptimizerParamState>> whole;  // saved whole
    for (int r : member_files) {
      const std::string file = shard_path(path, tag, saved_world, r, man.generation);
      CheckpointExtras none;
      load_checkpoint_bytes(read_checkpoint_file(file), file, opt, m == 0 ? extras : none);
      for (const auto& n : needs) {
        if (n.saved_owner != r) continue;
        const auto& s = slots[n.slot];
        if (const auto* st = find_state(opt.state(), groups[s.group].params()[s.index])) {
          whole[n.slot] = st->clone();
        }
      }
    }
    std::map<int, SavedSlices> saved_slices;
    for (int r : slice_files) {
      saved_slices[r] = load_saved_slices(optimizer, m, man, r,
                                          shard_path(path, slices_tag(tag), saved_world, r,
                                                     man.generation));
    }

    // Every piece found: install the new state (whole parameters in the member, slices in the
    // shadow), nothing else.
    std::vector<std::pair<at::Tensor, std::unique_ptr<torch::optim::OptimizerParamState>>> member_state, shadow_state;
    for (const auto& n : needs) {
      const auto& s = slots[n.slot];
      const auto& p = groups[s.group].params()[s.index];
      std::ostringstream what;
      what << "load_checkpoint(" << path << "): " << tag << " param group " << s.group
           << ", parameter " << s.index;
      std::vector<slices::Piece> pieces;
      size_t missing = 0, found = 0;
      if (n.saved_owner != kSliced) {
        auto it = whole.find(n.slot);
        if (it == whole.end()) {
          ++missing;
        } else {
          ++found;
          pieces.push_back({it->second.get(), n.begin, n.end - n.begin});
        }
      } else {
        for (auto& kv : saved_slices) {
          const auto b = DistributedOptimizer::slice_bounds(p.numel(), saved_world, kv.first);
          const int64_t lo = std::max(b.first, n.begin), hi = std::min(b.second, n.end);
          if (lo >= hi) continue;
          const auto* st = find_state(kv.second.opt->state(), kv.second.slice.at(n.slot));
          if (st == nullptr) {
            ++missing;
          } else {
            ++found;
            pieces.push_back({st, lo - b.first, hi - lo});
          }
        }
      }
      TORCH_CHECK(missing == 0 || found == 0, what.str(),
                  ": some saved slices have state and others none (a damaged checkpoint?)");
      if (found == 0) continue;  // no state saved (never stepped): none restored
      const bool sliced_now = s.owner == kSliced;
      std::unique_ptr<torch::optim::OptimizerParamState> st;
      if (!sliced_now && n.saved_owner != kSliced) {
        st = std::move(whole[n.slot]);  // unchanged: any state type
      } else {
        st = slices::join(pieces, sliced_now ? at::IntArrayRef{n.end - n.begin} : p.sizes(),
                          what.str());
      }
      if (sliced_now) {
        shadow_state.emplace_back(optimizer.slice_param(n.slot), std::move(st));
      } else {
        member_state.emplace_back(p, std::move(st));
      }
    }
    opt.state().clear();
    for (auto& kv : member_state) {
      opt.state()[SpecoptOptimizer::state_key(opt.state(), kv.first)] = std::move(kv.second);
    }
    if (shadow != nullptr) {
      shadow->state().clear();
      for (auto& kv : shadow_state) {
        shadow->state()[SpecoptOptimizer::state_key(shadow->state(), kv.first)] = std::move(kv.second);
      }
    }
  }
}

}  // namespace

void save_checkpoint(const std::string& path, DistributedOptimizer& optimizer,
                     const CheckpointExtras& extras) {
  auto& comm = optimizer.comm();
  // Generation: one more than the manifest's, decided by rank 0 for everyone.
  auto gen = at::zeros({1}, at::kLong);
  if (comm.rank() == 0) {
    Manifest old;
    std::string err;
    if (read_manifest(path, old, err)) gen.fill_(old.generation + 1);
  }
  comm.broadcast(gen, 0);
  const int64_t g = gen.item<int64_t>();
  const int world = comm.size();
  const auto& members = optimizer.members();
  for (size_t m = 0; m < members.size(); ++m) {
    const CheckpointExtras none;
    write_file_atomic_bytes(shard_path(path, members[m].first, world, comm.rank(), g),
                            checkpoint_bytes(*members[m].second, m == 0 ? extras : none));
    if (auto* shadow = optimizer.shadow(m)) {
      write_file_atomic_bytes(shard_path(path, slices_tag(members[m].first), world, comm.rank(), g),
                              checkpoint_bytes(*shadow));
    }
  }
  comm.barrier();  // every shard is on disk before the manifest names them
  if (comm.rank() == 0) {
    std::ostringstream os;
    os << kManifestMagic << " " << kManifestVersion << "\ngeneration " << g << "\nworld_size "
       << world << "\nmembers " << members.size();
    for (const auto& m : members) os << " " << m.first;
    os << "\nslots " << optimizer.slots().size() << "\n";
    for (const auto& s : optimizer.slots()) {
      os << s.member << " " << s.group << " " << s.index << " " << s.owner << "\n";
    }
    Manifest old;
    std::string err;
    const bool had_old = read_manifest(path, old, err);
    write_file_atomic_bytes(path, os.str());
    if (had_old && old.generation != g) {
      for (int r = 0; r < old.world_size; ++r) {
        for (const auto& tag : old.members) {
          std::remove(shard_path(path, tag, old.world_size, r, old.generation).c_str());
          std::remove(shard_path(path, slices_tag(tag), old.world_size, r, old.generation).c_str());
        }
      }
    }
  }
  comm.barrier();
}

void load_checkpoint(const std::string& path, DistributedOptimizer& optimizer,
                     CheckpointExtras& extras) {
  // Snapshot of everything a load may change, so that a refusal — here or on another rank —
  // leaves every rank as it was. Parameters too: a file saved with save_parameters restores
  // them.
  const auto& members = optimizer.members();
  CheckpointExtras snap_extras = extras;
  snap_extras.save_parameters = true;
  std::vector<std::string> member_snaps, shadow_snaps(members.size());
  for (size_t m = 0; m < members.size(); ++m) {
    const CheckpointExtras params_only = [] {
      CheckpointExtras e;
      e.save_parameters = true;
      return e;
    }();
    member_snaps.push_back(checkpoint_bytes(*members[m].second, m == 0 ? snap_extras : params_only));
    if (auto* shadow = optimizer.shadow(m)) shadow_snaps[m] = checkpoint_bytes(*shadow);
  }

  std::string error;
  try {
    load_sharded(path, optimizer, extras);
  } catch (const c10::Error& e) {
    error = e.what_without_backtrace();
  } catch (const std::exception& e) {
    error = e.what();
  }
  // Highest failing rank + 1 (0: every rank loaded).
  auto failed = at::full({1}, error.empty() ? 0.f : static_cast<float>(optimizer.rank() + 1));
  optimizer.comm().all_reduce(failed, dist::ReduceOp::max);
  const int failed_rank = static_cast<int>(failed.item<float>()) - 1;
  if (failed_rank < 0) return;
  for (size_t m = 0; m < members.size(); ++m) {
    CheckpointExtras none;
    load_checkpoint_bytes(member_snaps[m], "in-memory snapshot", *members[m].second,
                          m == 0 ? extras : none);
    if (auto* shadow = optimizer.shadow(m)) {
      load_checkpoint_bytes(shadow_snaps[m], "in-memory snapshot", *shadow, none);
    }
  }
  if (!error.empty()) TORCH_CHECK(false, error, "; the optimizer was not changed");
  TORCH_CHECK(false, "load_checkpoint(", path, "): refused on rank ", failed_rank,
              " (see its error); the optimizer was not changed");
}

void load_checkpoint(const std::string& path, DistributedOptimizer& optimizer) {
  CheckpointExtras extras;
  load_checkpoint(path, optimizer, extras);
}

bool is_sharded_checkpoint(const std::string& path) {
  // The first bytes only: a one-process checkpoint is a binary (zip) file.
  const std::string magic = kManifestMagic;
  std::string head(magic.size(), '\0');
  std::ifstream in(path, std::ios::binary);
  in.read(&head[0], static_cast<std::streamsize>(head.size()));
  return in.gcount() == static_cast<std::streamsize>(head.size()) && head == magic;
}

}  // namespace specopt
