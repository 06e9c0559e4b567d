#pragma once
// Small helpers the paper 1/2 experiments share to state claims.
#include <cstdio>
#include <string>

#include "lab/experiment.h"

namespace specopt {
namespace lab {

// Counts per-case outcomes of a claim: all pass → reproduced, none → not_reproduced, else
// partial (an empty tally is not_reproduced: nothing was shown).
class Tally {
 public:
  void add(bool ok) { (ok ? pass_ : fail_) += 1; }
  Verdict verdict() const {
    if (pass_ > 0 && fail_ == 0) return Verdict::reproduced;
    return pass_ > 0 ? Verdict::partial : Verdict::not_reproduced;
  }

 private:
  int pass_ = 0, fail_ = 0;
};

// A number for a claim statement or a log line ("0.001", "1.5e-07").
inline std::string fmt_num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace lab
}  // namespace specopt
