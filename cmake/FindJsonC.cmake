include(${CMAKE_CURRENT_LIST_DIR}/OtbFindLibrary.cmake)
otb_find_library(JsonC HEADER json-c/json.h LIBRARY json-c PKG json-c)
