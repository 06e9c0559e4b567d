# Offline stand-in for xtensor's package config: cmake/offline/offline_headers.cmake.
include("${CMAKE_CURRENT_LIST_DIR}/offline_headers.cmake")
specopt_offline_headers(xtensor)
set(xtensor_FOUND TRUE)
