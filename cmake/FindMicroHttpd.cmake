include(${CMAKE_CURRENT_LIST_DIR}/OtbFindLibrary.cmake)
otb_find_library(MicroHttpd HEADER microhttpd.h LIBRARY microhttpd PKG libmicrohttpd)
