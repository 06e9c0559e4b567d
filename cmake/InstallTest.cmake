# Installs a built specopt into a scratch prefix, then configures, builds and runs the
# standalone consumer in examples/find_package against it. Fails at the first step that does.
#
#   cmake -DSOURCE_DIR=<repo> -DBUILD_DIR=<build dir> -DWORK_DIR=<scratch dir> \
#         -P cmake/InstallTest.cmake
#
# WORK_DIR is emptied first. Optional: -DCMAKE_CXX_COMPILER=..., -DCONFIG=<build config>.
cmake_minimum_required(VERSION 3.18)

foreach(var SOURCE_DIR BUILD_DIR WORK_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "InstallTest: -D${var}=... is required")
  endif()
  get_filename_component(${var} "${${var}}" ABSOLUTE)
endforeach()
if(NOT CONFIG)
  set(CONFIG Release)
endif()

set(prefix "${WORK_DIR}/prefix")
set(consumer_build "${WORK_DIR}/consumer")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# run(<step name> <command...>): runs the command and stops with its output on failure.
function(run step)
  execute_process(COMMAND ${ARGN}
                  RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out
                  ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    # Indented lines are printed as they are (unindented ones get re-wrapped by message()).
    string(REPLACE "\n" "\n  " out "${out}")
    message(FATAL_ERROR "InstallTest: ${step} failed (${rc}):\n  ${cmd}\n  ${out}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run("install" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}" --config ${CONFIG})

set(extra_args)
if(CMAKE_CXX_COMPILER)
  list(APPEND extra_args "-DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}")
endif()
run("configure examples/find_package"
    "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/examples/find_package" -B "${consumer_build}"
    "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_BUILD_TYPE=${CONFIG}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF ${extra_args})

# The package must come from the scratch prefix, not from a build tree or a system install.
file(STRINGS "${consumer_build}/CMakeCache.txt" specopt_dir_line REGEX "^specopt_DIR:")
string(REGEX REPLACE "^specopt_DIR:[A-Z]+=" "" specopt_dir "${specopt_dir_line}")
string(FIND "${specopt_dir}" "${prefix}/" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "InstallTest: found specopt at '${specopt_dir}', not under ${prefix}")
endif()

run("build examples/find_package" "${CMAKE_COMMAND}" --build "${consumer_build}" --config ${CONFIG})

set(exe "${consumer_build}/polar_check")
if(EXISTS "${consumer_build}/${CONFIG}/polar_check")
  set(exe "${consumer_build}/${CONFIG}/polar_check")
endif()
run("run polar_check" "${exe}")
string(STRIP "${last_output}" last_output)
message(STATUS "InstallTest: ${last_output}")
