# otb_find_library(<Name> HEADER <hdr> LIBRARY <lib> [PKG <pkg-config name>])
# Shared body of the Find<Name>.cmake modules: pkg-config hint, then a plain
# header/library search, then an imported target <Name>::<Name>.
include(FindPackageHandleStandardArgs)
find_package(PkgConfig QUIET)

function(otb_find_library name)
  cmake_parse_arguments(ARG "" "HEADER;LIBRARY;PKG" "" ${ARGN})
  if(PKG_CONFIG_FOUND AND ARG_PKG)
    pkg_check_modules(PC_${name} QUIET ${ARG_PKG})
  endif()
  find_path(${name}_INCLUDE_DIR ${ARG_HEADER} HINTS ${PC_${name}_INCLUDE_DIRS})
  find_library(${name}_LIBRARY NAMES ${ARG_LIBRARY} HINTS ${PC_${name}_LIBRARY_DIRS})
  find_package_handle_standard_args(${name} REQUIRED_VARS ${name}_LIBRARY ${name}_INCLUDE_DIR)
  set(${name}_FOUND ${${name}_FOUND} PARENT_SCOPE)
  if(${name}_FOUND AND NOT TARGET ${name}::${name})
    add_library(${name}::${name} UNKNOWN IMPORTED)
    set_target_properties(${name}::${name} PROPERTIES
      IMPORTED_LOCATION "${${name}_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${${name}_INCLUDE_DIR}")
  endif()
  mark_as_advanced(${name}_INCLUDE_DIR ${name}_LIBRARY)
endfunction()
