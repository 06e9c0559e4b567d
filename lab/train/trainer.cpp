#include "lab/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "lab/atomic_file.h"
#include "lab/train/data_parallel.h"
#include "lab/train/optimizer_factory.h"
#include "lab/train/progress.h"
#include "lab/train/run_dir.h"
#include "lab/train/task.h"
#include "specopt/util/atomic_write.h"

namespace specopt {
namespace lab {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Global gradient norm, then (clip > 0) PyTorch's clip_grad_norm_ rule: scale every gradient
// by clip / (norm + 1e-6) when norm > clip. Returns the norm before clipping.
double clip_gradients(torch::nn::Module& model, double clip) {
  std::vector<at::Tensor> norms;
  std::vector<at::Tensor> grads;
  for (auto& p : model.parameters()) {
    if (!p.grad().defined()) continue;
    grads.push_back(p.grad());
    norms.push_back(p.grad().norm(2));
  }
  if (norms.empty()) return 0;
  const double total = at::stack(norms).norm(2).item<double>();
  if (clip > 0 && std::isfinite(total) && total > clip) {
    const double coef = clip / (total + 1e-6);
    for (auto& g : grads) g.mul_(coef);
  }
  return total;
}

double checksum(torch::nn::Module& model) {
  double s = 0;
  for (const auto& p : model.parameters()) s += p.detach().to(at::kDouble).abs().sum().item<double>();
  return s;
}

std::string fmt(double v) {
  // A NaN's sign bit depends on the kernel that made it (it differs between LibTorch
  // versions) and carries no meaning, so every NaN prints as "nan".
  if (std::isnan(v)) return "nan";
  std::ostringstream os;
  os.precision(6);
  os << v;
  return os.str();
}

// Keeps the metrics lines up to `step` (resume) and reopens the log for appending.
void truncate_metrics(const std::string& path, int64_t step) {
  std::ifstream in(path);
  std::string kept, line;
  while (std::getline(in, line)) {
    try {
      if (nlohmann::json::parse(line).at("step").get<int64_t>() <= step) kept += line + "\n";
    } catch (const std::exception&) {
      // a torn last line from an interrupted write: dropped
    }
  }
  write_file_atomic(path, kept);
}

// An exception's message without LibTorch's backtrace.
std::string error_text(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

std::string joined(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

// The resume rules on config changes (lab/train/run_dir.h): identity keys may differ only with
// allow_change, and [model] / [optimizer] keys never (the checkpoint restores those).
void check_resume_changes(const std::vector<std::string>& diffs, bool allow_change,
                          const std::string& what) {
  if (diffs.empty()) return;
  std::vector<std::string> fixed;
  for (const auto& d : diffs) {
    if (d.rfind("model.", 0) == 0 || d.rfind("optimizer.", 0) == 0) fixed.push_back(d);
  }
  if (!allow_change) {
    throw std::runtime_error("cannot resume: " + what + " in " + std::to_string(diffs.size()) +
                             " key(s): " + joined(diffs, "; ") +
                             " (a resumed run keeps its config; train.steps may be raised to "
                             "extend it; --allow-config-change accepts other changes except "
                             "[model] and [optimizer] keys)");
  }
  if (!fixed.empty()) {
    throw std::runtime_error("cannot resume: " + what + " in " + joined(fixed, "; ") +
                             ": a checkpoint restores the model and the optimizer's options and "
                             "state, so these need a new run (--force), even with "
                             "--allow-config-change");
  }
}

}  // namespace

TrainResult train(const TrainConfig& c, const TrainHooks& hooks) {
  if (c.threads > 0) at::set_num_threads(static_cast<int>(c.threads));
  // Data parallel when the hooks carry a world of several ranks; only rank 0 ("lead") writes
  // the shared files and the progress, every rank takes part in checkpoints.
  dist::Communicator* comm = hooks.comm && hooks.comm->size() > 1 ? hooks.comm.get() : nullptr;
  const bool lead = comm == nullptr || comm->rank() == 0;
  const bool quiet = hooks.quiet || !lead;
  const bool write_shared = hooks.write_files && lead;
  auto log = hooks.log ? hooks.log : [](const std::string& l) { std::cerr << l << std::endl; };
  if (quiet) log = [](const std::string&) {};
  const auto t_start = Clock::now();

  // The run directory (lab/train/run_dir.h): locked for the whole run, an existing run kept
  // unless --resume / --force, a killed writer's temporaries removed. `specopt train --nproc`
  // does this in the launcher, which holds the lock for its workers.
  std::unique_ptr<RunDirLock> dir_lock;
  if (hooks.write_files && lead) {
    if (comm == nullptr || std::getenv(kRunDirLockedEnv) == nullptr) {
      int stale = 0;
      dir_lock = std::make_unique<RunDirLock>(c.out_dir, &stale);
      if (stale > 0) {
        log("took over the lock of '" + c.out_dir + "' left by process " + std::to_string(stale) +
            " (no longer running)");
      }
    }
    if (const int n = remove_stale_temporaries(c.out_dir)) {
      log("removed " + std::to_string(n) + " temporary file(s) left in '" + c.out_dir +
          "' by an interrupted run");
    }
    if (!hooks.resume) {
      const auto aside = prepare_fresh_run_dir(c.out_dir, hooks.force);
      if (!aside.empty()) log("the previous run in '" + c.out_dir + "' was moved to '" + aside + "'");
    }
  }
  if (comm) check_batch_splits(c.batch_size, comm->size());

  auto task = make_task(c);
  auto& model = task->model();
  auto opt = make_train_optimizer(c.optimizer, c.schedule_spec(), model);
  if (comm) {
    opt->distribute(hooks.comm,
                    DistributedOptions().slice_min_numel(c.optimizer.slice_min_numel));
  }
  const BatchSlice slice = rank_slice(comm);

  TrainResult r;
  r.world_size = comm ? comm->size() : 1;
  r.item_unit = task->item_unit();
  for (const auto& p : model.parameters()) r.parameters += p.numel();

  namespace fs = std::filesystem;
  const std::string dir = c.out_dir;
  const std::string ckpt = dir + "/checkpoint.pt", metrics_path = dir + "/metrics.jsonl";
  const std::string prev_ckpt = dir + "/checkpoint.prev.pt";
  const std::string config_text = c.to_json().dump(2);
  const auto identity = identity_entries(c.to_json());
  int64_t start = 0;
  std::string ckpt_used = ckpt;
  std::map<std::string, int64_t> ints;
  std::map<std::string, double> doubles;
  r.best_val_loss = std::numeric_limits<double>::infinity();

  if (hooks.resume) {
    if (!hooks.write_files) throw std::invalid_argument("resume needs an output directory");
    if (!fs::exists(ckpt) && !fs::exists(prev_ckpt)) {
      throw std::runtime_error("cannot resume: no checkpoint '" + ckpt +
                               "' (start the run without --resume)");
    }
    const std::string saved_path = dir + "/config.json";
    std::ifstream in(saved_path);
    if (!in) {
      throw std::runtime_error("cannot resume: '" + saved_path + "' is missing or unreadable, so "
                               "the run's config cannot be checked (an incomplete run directory)");
    }
    nlohmann::json saved;
    try {
      saved = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
      throw std::runtime_error("cannot resume: '" + saved_path + "' is not valid JSON: " + e.what());
    }
    const auto now = c.to_json();
    check_resume_changes(config_differences(saved, now, true), hooks.allow_config_change,
                         "the config differs from the run's '" + saved_path + "'");
    // The last checkpoint, or the one before it when the last is refused (checksum, ...).
    std::string used = ckpt;
    try {
      if (!fs::exists(ckpt)) throw std::runtime_error("'" + ckpt + "' does not exist");
      opt->load(ckpt, ints, doubles);
    } catch (const std::exception& e) {
      const std::string why = error_text(e);
      if (!fs::exists(prev_ckpt)) {
        throw std::runtime_error("cannot resume: " + why + " (and no previous checkpoint '" +
                                 prev_ckpt + "' to fall back to)");
      }
      log("the last checkpoint was refused: " + why + "; falling back to the previous one '" +
          prev_ckpt + "'");
      try {
        opt->load(prev_ckpt, ints, doubles);
      } catch (const std::exception& e2) {
        throw std::runtime_error("cannot resume: the last checkpoint was refused (" + why +
                                 ") and so was the previous one (" + error_text(e2) + ")");
      }
      used = prev_ckpt;
    }
    if (comm) comm->barrier();  // every rank has read the files before any is moved
    if (used == prev_ckpt && lead && fs::exists(ckpt)) {
      // Kept for inspection, out of the way of the next checkpoint's rotation.
      std::error_code ec;
      fs::rename(ckpt, dir + "/checkpoint.refused.pt", ec);
    }
    const auto foreign = identity_mismatches(ints, saved);
    if (!foreign.empty()) {
      check_resume_changes(foreign, hooks.allow_config_change,
                           "the checkpoint '" + used + "' belongs to another run: it differs from '" +
                               saved_path + "'");
      log("resuming a checkpoint written with other values of " + joined(foreign, ", ") +
          " (--allow-config-change)");
    }
    start = ints.at("step");
    if (start > c.steps) {
      throw std::runtime_error("cannot resume: the checkpoint is at step " + std::to_string(start) +
                               ", beyond train.steps = " + std::to_string(c.steps));
    }
    if (start == c.steps && fs::exists(dir + "/summary.json")) {
      // A finished run: nothing to do, and its summary stays as it is.
      std::ifstream sin(dir + "/summary.json");
      try {
        r.summary = nlohmann::json::parse(sin);
      } catch (const std::exception&) {
        r.summary = nlohmann::json::object();
      }
      r.status = r.summary.value("status", std::string("completed"));
      r.steps_done = start;
      log("the run in '" + dir + "' already finished at step " + std::to_string(start) +
          "; raise train.steps to extend it");
      if (comm) comm->barrier();
      return r;
    }
    const auto changes = config_differences(saved, now, false);
    if (!changes.empty()) {
      log("config changes on resume: " + joined(changes, "; "));
      if (write_shared) write_file_atomic(saved_path, config_text);
    }
    r.initial_val_loss = doubles.at("initial_val_loss");
    r.best_val_loss = doubles.at("best_val_loss");
    r.best_val_accuracy = doubles.at("best_val_accuracy");
    r.final_val_loss = doubles.at("final_val_loss");
    r.final_val_accuracy = doubles.at("final_val_accuracy");
    if (lead) truncate_metrics(metrics_path, start);
    ckpt_used = used;
    log("resumed from " + ckpt_used + " at step " + std::to_string(start));
  } else {
    r.initial_val_loss = evaluate_over_ranks(*task, comm).loss;
    r.final_val_loss = r.initial_val_loss;
    if (write_shared) {
      fs::create_directories(dir);
      write_file_atomic(dir + "/config.json", config_text);
      write_file_atomic(metrics_path, "");
      // A fresh run never resumes someone else's checkpoint later (nor its shards). The other
      // ranks write nothing before the first checkpoint's collectives, which wait for rank 0.
      remove_checkpoint_files(ckpt);
      remove_checkpoint_files(prev_ckpt);
    }
  }
  std::ofstream metrics;
  if (write_shared) metrics.open(metrics_path, std::ios::app);
  auto record = [&](const nlohmann::json& j) {
    if (write_shared) metrics << j.dump() << "\n" << std::flush;
  };

  log(task->describe());
  log("optimizer: " + opt->describe() + "; schedule " + c.schedule_spec());

  int64_t last_ckpt = start;
  auto save = [&](int64_t step) {
    if (!hooks.write_files) return;
    ints = identity;
    ints["step"] = step;
    doubles = {{"initial_val_loss", r.initial_val_loss}, {"best_val_loss", r.best_val_loss},
               {"best_val_accuracy", r.best_val_accuracy}, {"final_val_loss", r.final_val_loss},
               {"final_val_accuracy", r.final_val_accuracy}};
    if (lead) keep_previous_checkpoint(ckpt, prev_ckpt);  // the last two are kept
    opt->save(ckpt, ints, doubles);
    last_ckpt = step;
  };
  auto evaluate = [&](int64_t step) {
    const auto e = evaluate_over_ranks(*task, comm);
    r.final_val_loss = e.loss;
    r.final_val_accuracy = e.accuracy;
    r.best_val_loss = std::min(r.best_val_loss, e.loss);
    r.best_val_accuracy = std::max(r.best_val_accuracy, e.accuracy);
    r.val_losses.emplace_back(step, e.loss);
    nlohmann::json j = {{"step", step}, {"val_loss", e.loss}};
    if (e.accuracy >= 0) j["val_accuracy"] = e.accuracy;
    record(j);
    return e;
  };

  const bool bar = !quiet && !hooks.force_plain && ::isatty(STDERR_FILENO) != 0;
  Progress progress(c.steps, start, c.log_interval, bar, log);

  double step_seconds = 0, opt_seconds = 0;
  int64_t timed_steps = 0;
  r.status = "completed";
  int64_t step = start;
  for (; step < c.steps; ++step) {
    if (hooks.stop_after > 0 && step >= hooks.stop_after) {
      r.status = "stopped";
      break;
    }
    maybe_die_for_test(comm, step);
    const auto t0 = Clock::now();
    opt->zero_grad();
    auto loss = task->train_loss(step, slice);
    // The global batch's mean (the same on every rank, so all of them stop alike).
    const double loss_value = mean_over_ranks(comm, loss.item<double>());
    if (!std::isfinite(loss_value)) {
      r.status = "diverged";
      r.message = "non-finite training loss (" + fmt(loss_value) + ") at step " +
                  std::to_string(step);
      break;
    }
    loss.backward();
    // Clipping sees the gradients the optimizer will use: with several ranks, the averaged
    // ones (inside the distributed step), so the norm is the global batch's.
    double gnorm = 0;
    // On CUDA the kernels run after the calls return: a scalar read-back waits for everything
    // queued on the stream, so backward's time is not billed to the optimizer and the
    // optimizer's is (docs/gpu.md). On the CPU the calls are already synchronous.
    const bool on_cuda = loss.is_cuda();
    if (on_cuda) (void)loss.detach().item<double>();
    const auto t1 = Clock::now();
    const bool stepped = opt->step([&] {
      gnorm = clip_gradients(model, c.grad_clip);
      return std::isfinite(gnorm);
    });
    if (!stepped) {
      r.status = "diverged";
      r.message = "non-finite gradient norm (" + fmt(gnorm) + ") at step " + std::to_string(step);
      break;
    }
    if (on_cuda) (void)loss.detach().item<double>();
    opt_seconds += since(t1);
    opt->schedule_step();
    step_seconds += since(t0);
    ++timed_steps;
    r.train_losses.push_back(loss_value);
    r.final_train_loss = loss_value;
    const int64_t done = step + 1;
    if (done % c.log_interval == 0 || done == c.steps) {
      record({{"step", done}, {"loss", loss_value}, {"grad_norm", gnorm},
              {"lr_scale", opt->lr_scale()}, {"seconds", since(t_start)}});
    }
    progress.update(done, loss_value);
    if (done % c.eval_interval == 0 || done == c.steps) {
      const auto e = evaluate(done);
      std::string line = "step " + std::to_string(done) + ": val_loss " + fmt(e.loss);
      if (e.accuracy >= 0) line += ", val_accuracy " + fmt(e.accuracy);
      progress.message(line);
      if (!std::isfinite(e.loss)) {
        r.status = "diverged";
        r.message = "non-finite validation loss at step " + std::to_string(done);
        ++step;
        break;
      }
    }
    if (c.checkpoint_interval > 0 && done % c.checkpoint_interval == 0) save(done);
  }
  progress.finish();
  r.steps_done = step;
  if (r.status == "completed") save(step);
  if (r.status == "diverged") {
    r.message += hooks.write_files
                     ? (last_ckpt > 0 || fs::exists(ckpt)
                            ? "; the run stopped, last good checkpoint '" + ckpt + "' (step " +
                                  std::to_string(last_ckpt) + ") was kept"
                            : "; the run stopped before any checkpoint was written")
                     : "; the run stopped";
    log("diverged: " + r.message);
  }

  r.seconds = since(t_start);
  r.optimizer_fraction = step_seconds > 0 ? opt_seconds / step_seconds : 0;
  r.items_per_second = step_seconds > 0 ? static_cast<double>(timed_steps * task->items_per_batch()) / step_seconds : 0;
  r.parameter_checksum = checksum(model);
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  r.summary = {{"status", r.status},
               {"message", r.message},
               {"steps", r.steps_done},
               {"parameters", r.parameters},
               {"initial_val_loss", num(r.initial_val_loss)},
               {"final_train_loss", num(r.final_train_loss)},
               {"final_val_loss", num(r.final_val_loss)},
               {"best_val_loss", num(r.best_val_loss)},
               {r.item_unit + "_per_second", r.items_per_second},
               {"optimizer_time_fraction", r.optimizer_fraction},
               {"seconds", r.seconds},
               {"optimizer", opt->describe()},
               {"world_size", r.world_size},
               {"model", task->describe()}};
  if (r.final_val_accuracy >= 0) {
    r.summary["final_val_accuracy"] = r.final_val_accuracy;
    r.summary["best_val_accuracy"] = r.best_val_accuracy;
  }
  if (write_shared) write_file_atomic(dir + "/summary.json", r.summary.dump(2) + "\n");
  // No rank leaves before rank 0 has written the summary: a launcher that stops the others as
  // soon as one exits non-zero (a diverged run) must not cut rank 0's last writes short.
  if (comm) comm->barrier();
  return r;
}

}  // namespace lab
}  // namespace specopt
