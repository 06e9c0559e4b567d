#include "lab/atomic_file.h"

#include <sstream>
#include <stdexcept>

#include <specopt/util/atomic_write.h>

namespace specopt {
namespace lab {

void write_file_atomic(const std::string& path, const std::string& bytes) {
  specopt::write_file_atomic(path, bytes);
}

void write_file_atomic(const std::string& path,
                       const std::function<void(std::ostream&)>& writer) {
  std::ostringstream os(std::ios::out | std::ios::binary);
  writer(os);  // an exception here leaves nothing on disk
  if (!os) throw std::runtime_error("failed to serialise data for '" + path + "'");
  specopt::write_file_atomic(path, os.str());
}

}  // namespace lab
}  // namespace specopt
