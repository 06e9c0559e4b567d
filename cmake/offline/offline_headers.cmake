# The offline stand-ins of cmake/offline/*Config.cmake (scripts/gpu_check.sh): a package is the
# headers packed by scripts/pack_gpu_deps.sh under SPECOPT_DEPS_DIR/include, as a global
# INTERFACE target with the given compile definitions.
function(specopt_offline_headers target)
  if(NOT TARGET ${target})
    add_library(${target} INTERFACE IMPORTED GLOBAL)
    set_target_properties(${target} PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${SPECOPT_DEPS_DIR}/include"
      INTERFACE_COMPILE_DEFINITIONS "${ARGN}")
  endif()
endfunction()
