# Offline stand-in for nlohmann_json's package config: cmake/offline/offline_headers.cmake.
include("${CMAKE_CURRENT_LIST_DIR}/offline_headers.cmake")
specopt_offline_headers(nlohmann_json::nlohmann_json)
set(nlohmann_json_FOUND TRUE)
