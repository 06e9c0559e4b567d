#pragma once
// The one atomic file writer of the project (checkpoints, .npy outputs, configs, metrics,
// summaries, reports): the bytes go to a fresh temporary file ".<name>.tmp.<pid>.<n>.<t>" in
// the destination's directory, are fsync'ed and renamed over the destination, and the
// directory is fsync'ed. Readers see the old file or the whole new one, never a part; on any
// failure the temporary file is removed and the destination is left as it was.
//
// Safe outputs:
//   * a symlink is written through: its (final) target is replaced, the link stays a link;
//   * an existing destination that is not a regular file (device, FIFO, socket, directory)
//     is refused, as is any destination under /dev, /proc or /sys (after resolving links);
//   * an existing file keeps its permission bits; a new one gets 0666 minus the umask;
//   * missing parent directories are created only when asked (checkpoints: a save into a
//     fresh run directory works); otherwise a missing directory is an error naming it.
// Errors are std::runtime_error naming the path and the failing step with the system's text.
#include <string>

namespace specopt {

void write_file_atomic(const std::string& path, const std::string& bytes,
                       bool create_parents = false);

// The path a write to `path` would replace (symlinks followed, at most 40), or throws
// std::runtime_error for a loop or an unreadable link.
std::string resolve_output_path(const std::string& path);

// Removes the temporary files ".<name>.tmp.*" (and checkpoint.cpp's older "<name>.tmp-*")
// that a killed writer left in `dir`; returns how many. Never throws.
int remove_stale_temporaries(const std::string& dir);

}  // namespace specopt
