# Offline stand-in for CLI11's package config (scripts/gpu_check.sh): the headers packed by
# scripts/pack_gpu_deps.sh under SPECOPT_DEPS_DIR/include, as an INTERFACE target.
if(NOT TARGET CLI11::CLI11)
  add_library(CLI11::CLI11 INTERFACE IMPORTED GLOBAL)
  set_target_properties(CLI11::CLI11 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${SPECOPT_DEPS_DIR}/include")
endif()
set(CLI11_FOUND TRUE)
