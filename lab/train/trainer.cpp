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
#include "lab/models/gpt.h"
#include "lab/train/data_parallel.h"
#include "lab/train/optimizer_factory.h"
#include "lab/train/partition_report.h"
#include "lab/train/progress.h"
#include "lab/train/run_dir.h"
#include "lab/train/task.h"
#include "specopt/util/atomic_write.h"

namespace specopt {
namespace lab {

namespace {

namespace fs = std::filesystem;
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

// One run of train(), in the order it happens: open_run_dir → build → resume or start_fresh
// → loop (step, evaluate, checkpoint) → finish. The members are what the steps share.
class Run {
 public:
  Run(const TrainConfig& c, const TrainHooks& hooks);
  void open_run_dir();
  void build();
  // false: the run had already finished; its summary is in result() and nothing is to be done.
  bool resume();
  void start_fresh();
  void loop();
  void finish();
  TrainResult& result() { return r_; }

 private:
  // The wall time of the whole run: this process's plus what the checkpoint it resumed from
  // recorded.
  double wall_seconds() const { return wall_before_ + since(t_start_); }
  void record(const nlohmann::json& j);
  // Returns the path of the checkpoint it loaded.
  std::string load_checkpoint(const nlohmann::json& saved, const std::string& saved_path,
                              std::map<std::string, int64_t>& ints,
                              std::map<std::string, double>& doubles);
  void save(int64_t step);
  EvalResult evaluate(int64_t step);
  // One optimizer step of batch `step`; false when the run diverged (r_.status / message set).
  bool train_step(int64_t step);
  // The evaluation after `done` steps, shown on the progress; false when it diverged.
  bool evaluate_and_show(int64_t done, Progress& progress);

  const TrainConfig& c_;
  const TrainHooks& hooks_;
  dist::Communicator* comm_;
  bool lead_, quiet_, write_shared_;
  std::function<void(const std::string&)> log_;
  Clock::time_point t_start_;
  double wall_before_ = 0;
  std::string dir_, ckpt_, prev_ckpt_, metrics_path_, config_text_, partition_json_;
  std::map<std::string, int64_t> identity_;
  std::unique_ptr<RunDirLock> dir_lock_;
  std::unique_ptr<Task> task_;
  std::unique_ptr<TrainOptimizer> opt_;
  BatchSlice slice_;
  std::ofstream metrics_;
  TrainResult r_;
  int64_t start_ = 0, last_ckpt_ = 0, step_ = 0;
  double step_seconds_ = 0, opt_seconds_ = 0;
  int64_t timed_steps_ = 0;
};

Run::Run(const TrainConfig& c, const TrainHooks& hooks)
    : c_(c),
      hooks_(hooks),
      // Data parallel when the hooks carry a world of several ranks; only rank 0 ("lead")
      // writes the shared files and the progress, every rank takes part in checkpoints.
      comm_(hooks.comm && hooks.comm->size() > 1 ? hooks.comm.get() : nullptr),
      lead_(comm_ == nullptr || comm_->rank() == 0),
      quiet_(hooks.quiet || !lead_),
      write_shared_(hooks.write_files && lead_),
      log_(hooks.log ? hooks.log : [](const std::string& l) { std::cerr << l << std::endl; }),
      t_start_(Clock::now()),
      dir_(c.out_dir),
      ckpt_(dir_ + "/checkpoint.pt"),
      prev_ckpt_(dir_ + "/checkpoint.prev.pt"),
      metrics_path_(dir_ + "/metrics.jsonl"),
      config_text_(c.to_json().dump(2)),
      identity_(identity_entries(c.to_json())) {
  if (quiet_) log_ = [](const std::string&) {};
  r_.best_val_loss = std::numeric_limits<double>::infinity();
}

// The run directory (lab/train/run_dir.h): locked for the whole run, an existing run kept
// unless --resume / --force, a killed writer's temporaries removed. `specopt train --nproc`
// does this in the launcher, which holds the lock for its workers.
void Run::open_run_dir() {
  if (!(hooks_.write_files && lead_)) return;
  if (comm_ == nullptr || std::getenv(kRunDirLockedEnv) == nullptr) {
    int stale = 0;
    dir_lock_ = std::make_unique<RunDirLock>(dir_, &stale);
    if (stale > 0) {
      log_("took over the lock of '" + dir_ + "' left by process " + std::to_string(stale) +
           " (no longer running)");
    }
  }
  if (const int n = remove_stale_temporaries(dir_)) {
    log_("removed " + std::to_string(n) + " temporary file(s) left in '" + dir_ +
         "' by an interrupted run");
  }
  if (!hooks_.resume) {
    const auto aside = prepare_fresh_run_dir(dir_, hooks_.force);
    if (!aside.empty()) log_("the previous run in '" + dir_ + "' was moved to '" + aside + "'");
  }
}

// The task (model and data), the optimizer over this run's ranks, and the partition of the
// parameters between the optimizer's members, printed here and written to partition.json once
// the run goes ahead (start_fresh / resume).
void Run::build() {
  if (comm_) check_batch_splits(c_.batch_size, comm_->size());
  task_ = make_task(c_);
  auto& model = task_->model();
  opt_ = make_train_optimizer(c_.optimizer, c_.schedule_spec(), model);
  if (comm_) {
    opt_->distribute(hooks_.comm,
                     DistributedOptions().slice_min_numel(c_.optimizer.slice_min_numel));
  }
  slice_ = rank_slice(comm_);
  const auto partition = report_partition(c_.optimizer, model, opt_->is_hybrid());
  std::string text = partition.text;
  if (!text.empty() && text.back() == '\n') text.pop_back();
  log_(text);
  partition_json_ = partition.json.dump(2) + "\n";  // written once the run goes ahead

  r_.world_size = comm_ ? comm_->size() : 1;
  r_.item_unit = task_->item_unit();
  for (const auto& p : model.parameters()) r_.parameters += p.numel();
}

// The last checkpoint, or the one before it when the last is refused (checksum, ...), checked
// against the run's config.json.
std::string Run::load_checkpoint(const nlohmann::json& saved, const std::string& saved_path,
                                 std::map<std::string, int64_t>& ints,
                                 std::map<std::string, double>& doubles) {
  std::string used = ckpt_;
  try {
    if (!fs::exists(ckpt_)) throw std::runtime_error("'" + ckpt_ + "' does not exist");
    opt_->load(ckpt_, ints, doubles);
  } catch (const std::exception& e) {
    const std::string why = error_text(e);
    if (!fs::exists(prev_ckpt_)) {
      throw std::runtime_error("cannot resume: " + why + " (and no previous checkpoint '" +
                               prev_ckpt_ + "' to fall back to)");
    }
    log_("the last checkpoint was refused: " + why + "; falling back to the previous one '" +
         prev_ckpt_ + "'");
    try {
      opt_->load(prev_ckpt_, ints, doubles);
    } catch (const std::exception& e2) {
      throw std::runtime_error("cannot resume: the last checkpoint was refused (" + why +
                               ") and so was the previous one (" + error_text(e2) + ")");
    }
    used = prev_ckpt_;
  }
  if (comm_) comm_->barrier();  // every rank has read the files before any is moved
  if (used == prev_ckpt_ && lead_ && fs::exists(ckpt_)) {
    // Kept for inspection, out of the way of the next checkpoint's rotation.
    std::error_code ec;
    fs::rename(ckpt_, dir_ + "/checkpoint.refused.pt", ec);
  }
  const auto foreign = identity_mismatches(ints, saved);
  if (!foreign.empty()) {
    check_resume_changes(foreign, hooks_.allow_config_change,
                         "the checkpoint '" + used + "' belongs to another run: it differs from '" +
                             saved_path + "'");
    log_("resuming a checkpoint written with other values of " + joined(foreign, ", ") +
         " (--allow-config-change)");
  }
  return used;
}

bool Run::resume() {
  if (!hooks_.write_files) throw std::invalid_argument("resume needs an output directory");
  if (!fs::exists(ckpt_) && !fs::exists(prev_ckpt_)) {
    throw std::runtime_error("cannot resume: no checkpoint '" + ckpt_ +
                             "' (start the run without --resume)");
  }
  const std::string saved_path = dir_ + "/config.json";
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
  const auto now = c_.to_json();
  check_resume_changes(config_differences(saved, now, true), hooks_.allow_config_change,
                       "the config differs from the run's '" + saved_path + "'");
  std::map<std::string, int64_t> ints;
  std::map<std::string, double> doubles;
  const std::string used = load_checkpoint(saved, saved_path, ints, doubles);
  start_ = ints.at("step");
  if (start_ > c_.steps) {
    throw std::runtime_error("cannot resume: the checkpoint is at step " + std::to_string(start_) +
                             ", beyond train.steps = " + std::to_string(c_.steps));
  }
  if (start_ == c_.steps && fs::exists(dir_ + "/summary.json")) {
    // A finished run: nothing to do, and its summary stays as it is.
    std::ifstream sin(dir_ + "/summary.json");
    try {
      r_.summary = nlohmann::json::parse(sin);
    } catch (const std::exception&) {
      r_.summary = nlohmann::json::object();
    }
    r_.status = r_.summary.value("status", std::string("completed"));
    r_.steps_done = start_;
    log_("the run in '" + dir_ + "' already finished at step " + std::to_string(start_) +
         "; raise train.steps to extend it");
    if (comm_) comm_->barrier();
    return false;
  }
  const auto changes = config_differences(saved, now, false);
  if (!changes.empty()) {
    log_("config changes on resume: " + joined(changes, "; "));
    if (write_shared_) write_file_atomic(saved_path, config_text_);
  }
  r_.initial_val_loss = doubles.at("initial_val_loss");
  r_.best_val_loss = doubles.at("best_val_loss");
  r_.best_val_accuracy = doubles.at("best_val_accuracy");
  r_.final_val_loss = doubles.at("final_val_loss");
  r_.final_val_accuracy = doubles.at("final_val_accuracy");
  // Checkpoints written before the wall time was recorded count from zero.
  if (const auto it = doubles.find("wall_seconds"); it != doubles.end()) wall_before_ = it->second;
  if (lead_) truncate_metrics(metrics_path_, start_);
  if (write_shared_) {
    write_file_atomic(dir_ + "/partition.json", partition_json_);
    metrics_.open(metrics_path_, std::ios::app);
  }
  log_("resumed from " + used + " at step " + std::to_string(start_));
  return true;
}

void Run::start_fresh() {
  const auto initial = evaluate_over_ranks(*task_, comm_);
  r_.initial_val_loss = initial.loss;
  r_.final_val_loss = r_.initial_val_loss;
  if (write_shared_) {
    fs::create_directories(dir_);
    write_file_atomic(dir_ + "/config.json", config_text_);
    write_file_atomic(dir_ + "/partition.json", partition_json_);
    write_file_atomic(metrics_path_, "");
    // A fresh run never resumes someone else's checkpoint later (nor its shards). The other
    // ranks write nothing before the first checkpoint's collectives, which wait for rank 0.
    remove_checkpoint_files(ckpt_);
    remove_checkpoint_files(prev_ckpt_);
    metrics_.open(metrics_path_, std::ios::app);
  }
  // The validation loss before the first step, so a plotted curve starts where training did.
  nlohmann::json j = {{"step", 0}, {"val_loss", initial.loss}};
  if (initial.accuracy >= 0) j["val_accuracy"] = initial.accuracy;
  record(j);
}

void Run::record(const nlohmann::json& j) {
  if (write_shared_) metrics_ << j.dump() << "\n" << std::flush;
}

void Run::save(int64_t step) {
  if (!hooks_.write_files) return;
  auto ints = identity_;
  ints["step"] = step;
  const std::map<std::string, double> doubles = {
      {"initial_val_loss", r_.initial_val_loss}, {"best_val_loss", r_.best_val_loss},
      {"best_val_accuracy", r_.best_val_accuracy}, {"final_val_loss", r_.final_val_loss},
      {"final_val_accuracy", r_.final_val_accuracy}, {"wall_seconds", wall_seconds()}};
  if (lead_) keep_previous_checkpoint(ckpt_, prev_ckpt_);  // the last two are kept
  opt_->save(ckpt_, ints, doubles);
  last_ckpt_ = step;
}

EvalResult Run::evaluate(int64_t step) {
  const auto e = evaluate_over_ranks(*task_, comm_);
  r_.final_val_loss = e.loss;
  r_.final_val_accuracy = e.accuracy;
  r_.best_val_loss = std::min(r_.best_val_loss, e.loss);
  r_.best_val_accuracy = std::max(r_.best_val_accuracy, e.accuracy);
  r_.val_losses.emplace_back(step, e.loss);
  nlohmann::json j = {{"step", step}, {"val_loss", e.loss}};
  if (e.accuracy >= 0) j["val_accuracy"] = e.accuracy;
  record(j);
  return e;
}

bool Run::train_step(int64_t step) {
  maybe_die_for_test(comm_, step);
  const auto t0 = Clock::now();
  opt_->zero_grad();
  auto loss = task_->train_loss(step, slice_);
  // The global batch's mean (the same on every rank, so all of them stop alike).
  const double loss_value = mean_over_ranks(comm_, loss.item<double>());
  if (!std::isfinite(loss_value)) {
    r_.status = "diverged";
    r_.message = "non-finite training loss (" + fmt(loss_value) + ") at step " +
                 std::to_string(step);
    return false;
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
  auto& model = task_->model();
  const bool stepped = opt_->step([&] {
    gnorm = clip_gradients(model, c_.grad_clip);
    return std::isfinite(gnorm);
  });
  if (!stepped) {
    r_.status = "diverged";
    r_.message = "non-finite gradient norm (" + fmt(gnorm) + ") at step " + std::to_string(step);
    return false;
  }
  if (on_cuda) (void)loss.detach().item<double>();
  opt_seconds_ += since(t1);
  // MuonClip (arXiv 2507.20534): QK-clip after the step, from this step's forward; each
  // head's maximum is taken over the ranks, so every rank rescales its replica alike.
  nlohmann::json clip = nlohmann::json::object();
  if (c_.optimizer.qk_clip_tau > 0) {
    auto& gpt = dynamic_cast<GPTImpl&>(model);
    at::Tensor maxima = gpt.max_logits();
    if (comm_) comm_->all_reduce(maxima, dist::ReduceOp::max);
    clip["max_logit"] = maxima.max().item<double>();
    clip["qk_clipped_heads"] = gpt.qk_clip(c_.optimizer.qk_clip_tau, maxima);
  }
  opt_->schedule_step();
  step_seconds_ += since(t0);
  ++timed_steps_;
  r_.train_losses.push_back(loss_value);
  r_.final_train_loss = loss_value;
  const int64_t done = step + 1;
  if (done % c_.log_interval == 0 || done == c_.steps) {
    nlohmann::json j = {{"step", done}, {"loss", loss_value}, {"grad_norm", gnorm},
                        {"lr_scale", opt_->lr_scale()}, {"seconds", wall_seconds()}};
    j.update(clip);
    record(j);
  }
  return true;
}

bool Run::evaluate_and_show(int64_t done, Progress& progress) {
  const auto e = evaluate(done);
  std::string line = "step " + std::to_string(done) + ": val_loss " + fmt(e.loss);
  if (e.accuracy >= 0) line += ", val_accuracy " + fmt(e.accuracy);
  progress.message(line);
  if (std::isfinite(e.loss)) return true;
  r_.status = "diverged";
  r_.message = "non-finite validation loss at step " + std::to_string(done);
  return false;
}

void Run::loop() {
  log_(task_->describe());
  log_("optimizer: " + opt_->describe() + "; schedule " + c_.schedule_spec());
  last_ckpt_ = start_;
  const bool bar = !quiet_ && !hooks_.force_plain && ::isatty(STDERR_FILENO) != 0;
  Progress progress(c_.steps, start_, c_.log_interval, bar, log_);
  r_.status = "completed";
  for (step_ = start_; step_ < c_.steps; ++step_) {
    if (hooks_.stop_after > 0 && step_ >= hooks_.stop_after) {
      r_.status = "stopped";
      break;
    }
    if (!train_step(step_)) break;
    const int64_t done = step_ + 1;
    progress.update(done, r_.final_train_loss);
    if ((done % c_.eval_interval == 0 || done == c_.steps) && !evaluate_and_show(done, progress)) {
      ++step_;  // the step was taken; only its evaluation failed
      break;
    }
    if (c_.checkpoint_interval > 0 && done % c_.checkpoint_interval == 0) save(done);
  }
  progress.finish();
}

void Run::finish() {
  r_.steps_done = step_;
  if (r_.status == "completed") save(step_);
  if (r_.status == "diverged") {
    r_.message += hooks_.write_files
                      ? (last_ckpt_ > 0 || fs::exists(ckpt_)
                             ? "; the run stopped, last good checkpoint '" + ckpt_ + "' (step " +
                                   std::to_string(last_ckpt_) + ") was kept"
                             : "; the run stopped before any checkpoint was written")
                      : "; the run stopped";
    log_("diverged: " + r_.message);
  }

  r_.seconds = since(t_start_);
  r_.optimizer_fraction = step_seconds_ > 0 ? opt_seconds_ / step_seconds_ : 0;
  r_.items_per_second =
      step_seconds_ > 0
          ? static_cast<double>(timed_steps_ * task_->items_per_batch()) / step_seconds_
          : 0;
  r_.parameter_checksum = checksum(task_->model());
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  r_.summary = {{"status", r_.status},
                {"message", r_.message},
                {"steps", r_.steps_done},
                {"parameters", r_.parameters},
                {"initial_val_loss", num(r_.initial_val_loss)},
                {"final_train_loss", num(r_.final_train_loss)},
                {"final_val_loss", num(r_.final_val_loss)},
                {"best_val_loss", num(r_.best_val_loss)},
                {r_.item_unit + "_per_second", r_.items_per_second},
                {"optimizer_time_fraction", r_.optimizer_fraction},
                {"seconds", r_.seconds},
                {"optimizer", opt_->describe()},
                {"world_size", r_.world_size},
                {"model", task_->describe()}};
  if (r_.final_val_accuracy >= 0) {
    r_.summary["final_val_accuracy"] = r_.final_val_accuracy;
    r_.summary["best_val_accuracy"] = r_.best_val_accuracy;
  }
  if (write_shared_) write_file_atomic(dir_ + "/summary.json", r_.summary.dump(2) + "\n");
  // No rank leaves before rank 0 has written the summary: a launcher that stops the others as
  // soon as one exits non-zero (a diverged run) must not cut rank 0's last writes short.
  if (comm_) comm_->barrier();
}

}  // namespace

TrainResult train(const TrainConfig& c, const TrainHooks& hooks) {
  if (c.threads > 0) at::set_num_threads(static_cast<int>(c.threads));
  Run run(c, hooks);
  run.open_run_dir();
  run.build();
  if (hooks.resume) {
    if (!run.resume()) return run.result();
  } else {
    run.start_fresh();
  }
  run.loop();
  run.finish();
  return run.result();
}

}  // namespace lab
}  // namespace specopt
