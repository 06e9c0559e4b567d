#pragma once
// Atomic file replacement for the lab and the CLI: specopt/util/atomic_write.h does the work
// (temporary file, fsync, rename; symlinks written through, non-regular files and /dev, /proc,
// /sys refused, the existing file's mode kept). Readers see either the old file or the
// complete new one; on any failure the destination is left untouched.
#include <functional>
#include <ostream>
#include <string>

namespace specopt {
namespace lab {

// Writes `bytes` to `path` atomically. Throws std::runtime_error naming the path and the
// failing step (open, write, fsync, rename) with the system error text.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Same, with the content produced by `writer` into a binary std::ostream. If the writer
// throws, or leaves the stream in a failed state, the temporary file is removed and the
// exception (or an error naming the path) propagates.
void write_file_atomic(const std::string& path,
                       const std::function<void(std::ostream&)>& writer);

}  // namespace lab
}  // namespace specopt
