#pragma once
// How specopt._C's functions report the C++ side's checks to Python.
#include <pybind11/pybind11.h>

#include <c10/util/Exception.h>

namespace specopt_python {

// Runs f, turning a check of the C++ side (c10::Error: unknown names, out-of-range values,
// non-finite input) into a ValueError carrying the C++ message without its backtrace.
// Out-of-memory stays a RuntimeError (torch's own translation).
template <typename F>
auto checked(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const c10::OutOfMemoryError&) {
    throw;
  } catch (const c10::Error& e) {
    throw pybind11::value_error(e.what_without_backtrace());
  }
}

}  // namespace specopt_python
