# Installation and the CMake package: `cmake --install <build> --prefix <dir>` gives
#   <dir>/include/specopt/...                 public headers (+ the generated version.h, optim/all_headers.h)
#   <dir>/lib/libspecopt.*, libspecopt_dist.* the library and its data-parallel part
#   <dir>/lib/cmake/specopt/                  specoptConfig.cmake, ...ConfigVersion, targets
#   <dir>/bin/specopt                         the CLI, when it is built
# so that a consumer can `find_package(specopt)` and link `specopt::specopt` (and
# `specopt::dist` for data-parallel training)
# (examples/find_package; checked by cmake/InstallTest.cmake).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SPECOPT_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/specopt"
    CACHE STRING "Where specoptConfig.cmake is installed, relative to the prefix")

install(TARGETS specopt specopt_dist
  EXPORT specoptTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(DIRECTORY ${PROJECT_SOURCE_DIR}/specopt/
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/specopt
  FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/generated/specopt/version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/specopt)
install(FILES ${PROJECT_BINARY_DIR}/generated/specopt/optim/all_headers.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/specopt/optim)

install(EXPORT specoptTargets
  NAMESPACE specopt::
  FILE specoptTargets.cmake
  DESTINATION ${SPECOPT_INSTALL_CMAKEDIR})

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/specoptConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/specoptConfig.cmake
  INSTALL_DESTINATION ${SPECOPT_INSTALL_CMAKEDIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/cmake/specoptConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/cmake/specoptConfig.cmake
  ${PROJECT_BINARY_DIR}/cmake/specoptConfigVersion.cmake
  DESTINATION ${SPECOPT_INSTALL_CMAKEDIR})

# The CLI (apps/specopt), when SPECOPT_BUILD_APPS is on.
if(TARGET specopt_cli)
  install(TARGETS specopt_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
