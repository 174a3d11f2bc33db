include(${CMAKE_CURRENT_LIST_DIR}/OtbFindLibrary.cmake)
otb_find_library(Cork HEADER libcork/core.h LIBRARY cork PKG libcork)
