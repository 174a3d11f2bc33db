include(${CMAKE_CURRENT_LIST_DIR}/OtbFindLibrary.cmake)
otb_find_library(Cmocka HEADER cmocka.h LIBRARY cmocka PKG cmocka)
