# Offline stand-in for fmt's package config: cmake/offline/offline_headers.cmake.
include("${CMAKE_CURRENT_LIST_DIR}/offline_headers.cmake")
specopt_offline_headers(fmt::fmt FMT_HEADER_ONLY=1)
set(fmt_FOUND TRUE)
