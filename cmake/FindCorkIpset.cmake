include(${CMAKE_CURRENT_LIST_DIR}/OtbFindLibrary.cmake)
otb_find_library(CorkIpset HEADER libcorkipset/ipset.h LIBRARY corkipset PKG libcorkipset)
