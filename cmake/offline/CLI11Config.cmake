# Offline stand-in for CLI11's package config: cmake/offline/offline_headers.cmake.
include("${CMAKE_CURRENT_LIST_DIR}/offline_headers.cmake")
specopt_offline_headers(CLI11::CLI11)
set(CLI11_FOUND TRUE)
