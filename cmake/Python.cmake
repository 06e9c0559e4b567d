# The Python package's extension (python/CMakeLists.txt, docs/python.md).
#
# SPECOPT_BUILD_PYTHON: AUTO (default) builds specopt._C when the interpreter SPECOPT_PYTHON
# imports a torch of the same version as the LibTorch found above and pybind11 is found; ON
# makes any of these missing an error; OFF skips it.
set(SPECOPT_BUILD_PYTHON AUTO CACHE STRING "Build the Python extension specopt._C (AUTO|ON|OFF)")
set_property(CACHE SPECOPT_BUILD_PYTHON PROPERTY STRINGS AUTO ON OFF)
if(EXISTS /usr/bin/python3)
  set(_specopt_default_python /usr/bin/python3)
else()
  find_program(_specopt_default_python NAMES python3 python)
endif()
set(SPECOPT_PYTHON "${_specopt_default_python}" CACHE FILEPATH
    "Python interpreter whose torch the extension is built against")

function(_specopt_python_missing why)
  if(SPECOPT_BUILD_PYTHON STREQUAL "ON")
    message(FATAL_ERROR "SPECOPT_BUILD_PYTHON=ON but ${why}")
  endif()
  message(STATUS "specopt Python extension: not built (${why})")
endfunction()

set(SPECOPT_PYTHON_ENABLED OFF)
if(NOT SPECOPT_BUILD_PYTHON STREQUAL "OFF")
  execute_process(
    COMMAND "${SPECOPT_PYTHON}" -c
      "import os, torch, torch.utils.cpp_extension as c; print(torch.__version__.split('+')[0]); print(';'.join(c.include_paths())); print(os.path.join(os.path.dirname(torch.__file__), 'lib'))"
    RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _rc EQUAL 0 OR NOT SPECOPT_PYTHON)
    _specopt_python_missing("'${SPECOPT_PYTHON}' cannot import torch")
  else()
    string(REGEX MATCH "^[^\n]*" _py_torch_version "${_out}")
    string(REGEX REPLACE "^[^\n]*\n([^\n]*)\n.*$" "\\1" _py_includes "${_out}")
    string(REGEX REPLACE "^.*\n([^\n]*)$" "\\1" _py_torch_lib "${_out}")
    string(REGEX MATCH "^[0-9]+\\.[0-9]+" _py_mm "${_py_torch_version}")
    string(REGEX MATCH "^[0-9]+\\.[0-9]+" _lt_mm "${Torch_VERSION}")
    find_library(SPECOPT_TORCH_PYTHON_LIBRARY torch_python HINTS "${_py_torch_lib}" "${TORCH_INSTALL_PREFIX}/lib")
    set(PYTHON_EXECUTABLE "${SPECOPT_PYTHON}")
    find_package(pybind11 CONFIG QUIET)
    if(_lt_mm AND NOT _py_mm STREQUAL _lt_mm)
      _specopt_python_missing("'${SPECOPT_PYTHON}' has torch ${_py_torch_version}, LibTorch is ${Torch_VERSION}")
    elseif(NOT pybind11_FOUND)
      _specopt_python_missing("pybind11 not found (Debian: pybind11-dev)")
    elseif(NOT SPECOPT_TORCH_PYTHON_LIBRARY)
      _specopt_python_missing("libtorch_python not found beside '${_py_torch_lib}'")
    else()
      set(SPECOPT_TORCH_PY_INCLUDES "${_py_includes}")
      set(SPECOPT_PYTHON_ENABLED ON)
      message(STATUS "specopt Python extension: built for ${SPECOPT_PYTHON} (torch ${_py_torch_version})")
    endif()
  endif()
endif()
