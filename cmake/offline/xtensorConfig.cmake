# Offline stand-in for xtensor's package config (scripts/gpu_check.sh): the headers packed by
# scripts/pack_gpu_deps.sh under SPECOPT_DEPS_DIR/include, as an INTERFACE target.
if(NOT TARGET xtensor)
  add_library(xtensor INTERFACE IMPORTED GLOBAL)
  set_target_properties(xtensor PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${SPECOPT_DEPS_DIR}/include")
endif()
set(xtensor_FOUND TRUE)
