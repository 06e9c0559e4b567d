# Offline stand-in for tomlplusplus's package config: cmake/offline/offline_headers.cmake.
include("${CMAKE_CURRENT_LIST_DIR}/offline_headers.cmake")
specopt_offline_headers(tomlplusplus::tomlplusplus TOML_HEADER_ONLY=1)
set(tomlplusplus_FOUND TRUE)
