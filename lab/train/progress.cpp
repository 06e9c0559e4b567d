#include "lab/train/progress.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <sstream>

namespace specopt {
namespace lab {

Progress::Progress(int64_t total, int64_t start, int64_t log_interval, bool bar,
                   std::function<void(const std::string&)> sink)
    : total_(total), start_(start), log_interval_(log_interval), bar_(bar), sink_(std::move(sink)) {
  if (!sink_) sink_ = [](const std::string& l) { std::cerr << l << std::endl; };
  t0_ = last_draw_ = std::chrono::steady_clock::now();
}

std::string Progress::format_seconds(double s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600,
                  static_cast<int>(s) % 3600 / 60);
  }
  return buf;
}

void Progress::update(int64_t done, double loss) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - t0_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done - start_) / elapsed : 0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
  char tail[128];
  std::snprintf(tail, sizeof tail, "%.1f step/s  ETA %s  loss %.4f", rate,
                format_seconds(eta).c_str(), loss);
  if (bar_) {
    if (done != total_ && std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
    last_draw_ = now;
    const int width = 20;
    const int filled = static_cast<int>(width * done / std::max<int64_t>(total_, 1));
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r[%s] %6lld/%lld  %s\x1b[K", bar.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total_), tail);
    std::fflush(stderr);
    drawn_ = true;
    return;
  }
  if (done % log_interval_ != 0 && done != total_) return;
  std::ostringstream os;
  os << "step " << done << "/" << total_ << "  " << tail;
  sink_(os.str());
}

void Progress::message(const std::string& line) {
  if (bar_ && drawn_) {
    std::fprintf(stderr, "\r\x1b[K");
    std::fflush(stderr);
  }
  sink_(line);
  drawn_ = false;
}

void Progress::finish() {
  if (bar_ && drawn_) {
    std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }
  drawn_ = false;
}

}  // namespace lab
}  // namespace specopt
