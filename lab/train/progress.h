#pragma once
// Training progress on stderr: on a terminal a one-line bar redrawn in place
//   [########............]  412/1000  23.1 step/s  ETA 25s  loss 2.1834
// (at most ~10 redraws a second); otherwise plain lines every log_interval steps
//   step 410/1000  loss 2.1834  23.1 step/s  ETA 25s
// so logs of batch jobs stay readable.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace specopt {
namespace lab {

class Progress {
 public:
  // `sink` receives plain lines (default: stderr); `bar` draws the in-place bar instead.
  Progress(int64_t total, int64_t start, int64_t log_interval, bool bar,
           std::function<void(const std::string&)> sink);
  void update(int64_t step_done, double loss);  // after step `step_done` (1-based count)
  void message(const std::string& line);        // a line that must not be overdrawn
  void finish();

  static std::string format_seconds(double s);  // "25s", "3m07s", "1h02m"

 private:
  int64_t total_, start_, log_interval_;
  bool bar_;
  std::function<void(const std::string&)> sink_;
  std::chrono::steady_clock::time_point t0_, last_draw_;
  bool drawn_ = false;
};

}  // namespace lab
}  // namespace specopt
