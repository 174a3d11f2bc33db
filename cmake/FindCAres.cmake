include(${CMAKE_CURRENT_LIST_DIR}/OtbFindLibrary.cmake)
otb_find_library(CAres HEADER ares.h LIBRARY cares PKG libcares)
