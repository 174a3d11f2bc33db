include(${CMAKE_CURRENT_LIST_DIR}/OtbFindLibrary.cmake)
otb_find_library(Sodium HEADER sodium.h LIBRARY sodium PKG libsodium)
