#pragma once
// Atomic file replacement for the library's files (checkpoints): the bytes go to
// "<path>.tmp-XXXXXX" in the same directory, are fsync'ed and renamed over <path>, and the
// directory is fsync'ed. Readers see the old file or the complete new one; on any failure the
// temporary file is removed and <path> is left as it was.
#include <string>

namespace specopt {

// Throws c10::Error starting with `who` ("save_checkpoint") and naming the path and the step
// that failed (create, write, fsync, rename) with the system's error text.
void write_file_atomic(const std::string& path, const std::string& bytes, const char* who);

}  // namespace specopt
