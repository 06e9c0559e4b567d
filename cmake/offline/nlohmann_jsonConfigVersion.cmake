# The offline stand-in (nlohmann_jsonConfig.cmake) satisfies any version request:
# the packed headers are the ones this checkout's own builds use.
set(PACKAGE_VERSION "${PACKAGE_FIND_VERSION}")
if(NOT PACKAGE_VERSION)
  set(PACKAGE_VERSION "0")
endif()
set(PACKAGE_VERSION_COMPATIBLE TRUE)
set(PACKAGE_VERSION_EXACT TRUE)
