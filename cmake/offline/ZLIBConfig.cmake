# Offline stand-in for FindZLIB (scripts/gpu_check.sh): zlib.h packed by
# scripts/pack_gpu_deps.sh, linked against the machine's own libz (every Linux has one).
if(NOT TARGET ZLIB::ZLIB)
  find_library(SPECOPT_LIBZ NAMES z libz.so.1 PATHS /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /usr/lib64 /lib64)
  if(NOT SPECOPT_LIBZ)
    message(FATAL_ERROR "offline build: no libz found on this machine")
  endif()
  add_library(ZLIB::ZLIB INTERFACE IMPORTED GLOBAL)
  set_target_properties(ZLIB::ZLIB PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${SPECOPT_DEPS_DIR}/include/zlib"
    INTERFACE_LINK_LIBRARIES "${SPECOPT_LIBZ}")
endif()
set(ZLIB_FOUND TRUE)
