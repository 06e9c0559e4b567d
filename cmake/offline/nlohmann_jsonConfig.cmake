# Offline stand-in for nlohmann_json's package config (scripts/gpu_check.sh): the headers packed by
# scripts/pack_gpu_deps.sh under SPECOPT_DEPS_DIR/include, as an INTERFACE target.
if(NOT TARGET nlohmann_json::nlohmann_json)
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED GLOBAL)
  set_target_properties(nlohmann_json::nlohmann_json PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${SPECOPT_DEPS_DIR}/include")
endif()
set(nlohmann_json_FOUND TRUE)
