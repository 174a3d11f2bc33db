include(${CMAKE_CURRENT_LIST_DIR}/OtbFindLibrary.cmake)
otb_find_library(Pcre2 HEADER pcre2.h LIBRARY pcre2-8 PKG libpcre2-8)
