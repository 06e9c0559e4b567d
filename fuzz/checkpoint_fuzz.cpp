// libFuzzer target: the checkpoint loader — LibTorch's archive reader (zip container, pickled
// entries, tensor records) and specopt's validation and apply (specopt/optim/checkpoint.h) —
// on arbitrary bytes, loaded into a fixed Muon and a fixed AdamW (fuzz/checkpoint_fixture.h).
//
// The input is an archive's content. A checkpoint file is that content plus the integrity
// trailer (specopt/util/checksum.h), which rejects any mutated file before parsing; so the
// target frames the input with a valid trailer and reads it back exactly as load_checkpoint
// does (strip_checksum_trailer, then load_checkpoint_bytes), making the mutated content reach
// the parser. The unframed input goes through the trailer check too (as a damaged file would).
//
// Invariants (a violation aborts, which libFuzzer reports with the input):
//   * loading either succeeds or throws c10::Error / std::exception — nothing else escapes,
//     no crash, no ASan/UBSan report;
//   * after a refusal the optimizer, its schedulers and the extras are unchanged: the full
//     checkpoint (parameters included) is byte-identical to the one before;
//   * after a successful load the optimizer can be saved again, the saved bytes load again,
//     a step either runs or throws (never crashes), and loading the baseline checkpoint
//     restores the optimizer exactly (same bytes as at start).
//
//   Seeds: fuzz/corpus/checkpoint/ (written by checkpoint_seeds). Run: scripts/fuzz.sh 60 checkpoint
#include <c10/util/Exception.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

#include "fuzz/checkpoint_fixture.h"
#include "specopt/optim/checkpoint.h"
#include "specopt/util/checksum.h"

namespace {

struct Target {
  std::unique_ptr<specopt_fuzz::Case> c;
  std::string baseline;  // c's snapshot at start
};

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "checkpoint_fuzz: invariant violated: %s\n", what);
  std::abort();
}

// Loads `content` into t; true if it loaded. Only c10::Error and std::exception may escape
// load_checkpoint_bytes (c10::Error is a std::exception; anything else reaches libFuzzer as an
// uncaught exception, i.e. a crash).
bool load(Target& t, const std::string& content) {
  try {
    specopt::load_checkpoint_bytes(content, "fuzz-input", *t.c->opt, t.c->extras);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// Every input starts from the baseline: a refusal leaves it (checked), a load ends by
// restoring it (checked).
void exercise(Target& t, const std::string& content) {
  if (!load(t, content)) {
    if (t.c->snapshot() != t.baseline) fail("a refused checkpoint changed the optimizer");
    return;
  }
  // Accepted: what was loaded must be savable, and load again as saved.
  const std::string again = t.c->snapshot();
  if (!load(t, again)) fail("an accepted checkpoint, saved again, was refused");
  if (t.c->snapshot() != again) fail("save/load of an accepted checkpoint is not exact");
  try {
    t.c->opt->step();
  } catch (const std::exception&) {
  }
  if (!load(t, t.baseline)) fail("the baseline checkpoint was refused after a load");
  if (t.c->snapshot() != t.baseline) fail("loading the baseline did not restore the optimizer");
}

Target make(std::unique_ptr<specopt_fuzz::Case> c) {
  Target t{std::move(c), {}};
  t.baseline = t.c->snapshot();
  if (t.c->snapshot() != t.baseline) fail("checkpoint_bytes is not deterministic");
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Target muon = make(specopt_fuzz::make_muon(2));
  static Target adamw = make(specopt_fuzz::make_adamw(2));
  const std::string input(reinterpret_cast<const char*>(data), size);

  // The file as read: unframed bytes are refused unless they happen to carry a valid trailer.
  std::string content, error;
  if (!specopt::strip_checksum_trailer(input, content, error) && error.empty()) {
    fail("a refused trailer without a reason");
  }
  // The content behind a valid trailer reaches the parser.
  if (!specopt::strip_checksum_trailer(specopt::with_checksum_trailer(input), content, error) ||
      content != input) {
    fail("a valid trailer was refused");
  }
  exercise(muon, content);
  exercise(adamw, content);
  return 0;
}
