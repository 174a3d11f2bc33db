# mbedtls ships no pkg-config file on Debian 12: plain search for libmbedcrypto.
include(${CMAKE_CURRENT_LIST_DIR}/OtbFindLibrary.cmake)
otb_find_library(MbedTLS HEADER mbedtls/gcm.h LIBRARY mbedcrypto)
