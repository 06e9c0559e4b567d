#pragma once
// Shared by specopt._C's binding files: how the C++ side's checks reach Python, and option
// values taken from Python objects.
#include <pybind11/pybind11.h>

#include <c10/util/Exception.h>

#include <specopt/matfun/newton_schulz.h>

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

// A Newton–Schulz schedule by name ("jordan", "polar_express", "cubic") or a sequence of
// (a, b, c) triples, one per step; ValueError naming the value otherwise (matfun_bindings.cpp).
specopt::NsSchedule schedule_of(const pybind11::handle& value);

}  // namespace specopt_python
