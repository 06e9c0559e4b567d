# Offline stand-in for fmt's package config (scripts/gpu_check.sh): the headers packed by
# scripts/pack_gpu_deps.sh under SPECOPT_DEPS_DIR/include, as an INTERFACE target.
if(NOT TARGET fmt::fmt)
  add_library(fmt::fmt INTERFACE IMPORTED GLOBAL)
  set_target_properties(fmt::fmt PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${SPECOPT_DEPS_DIR}/include"
    INTERFACE_COMPILE_DEFINITIONS "FMT_HEADER_ONLY=1")
endif()
set(fmt_FOUND TRUE)
