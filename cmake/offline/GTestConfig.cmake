# Offline stand-in for GTest's package config (scripts/gpu_check.sh): GoogleTest built from
# the sources packed by scripts/pack_gpu_deps.sh (its CMake defines GTest::gtest and
# GTest::gtest_main aliases).
if(NOT TARGET GTest::gtest)
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
  add_subdirectory("${SPECOPT_DEPS_DIR}/src/googletest" "${CMAKE_BINARY_DIR}/_offline_googletest"
                   EXCLUDE_FROM_ALL)
endif()
set(GTest_FOUND TRUE)
