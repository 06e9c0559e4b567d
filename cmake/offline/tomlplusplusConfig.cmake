# Offline stand-in for tomlplusplus's package config (scripts/gpu_check.sh): the headers packed by
# scripts/pack_gpu_deps.sh under SPECOPT_DEPS_DIR/include, as an INTERFACE target.
if(NOT TARGET tomlplusplus::tomlplusplus)
  add_library(tomlplusplus::tomlplusplus INTERFACE IMPORTED GLOBAL)
  set_target_properties(tomlplusplus::tomlplusplus PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${SPECOPT_DEPS_DIR}/include"
    INTERFACE_COMPILE_DEFINITIONS "TOML_HEADER_ONLY=1")
endif()
set(tomlplusplus_FOUND TRUE)
