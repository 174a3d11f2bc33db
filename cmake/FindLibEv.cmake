include(${CMAKE_CURRENT_LIST_DIR}/OtbFindLibrary.cmake)
otb_find_library(LibEv HEADER ev.h LIBRARY ev PKG libev)
