# cmake -DIN=file -DOUT=file.c -DNAME=symbol -P OtbEmbed.cmake
# Writes file's bytes as a C array (const char NAME[], size_t NAME_len), so
# that a static page is compiled into the binary.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n"
       bytes "${bytes}")
file(WRITE ${OUT} "/* Generated from ${IN} by cmake/OtbEmbed.cmake. */\n#include <stddef.h>\n"
     "const char ${NAME}[] = {\n${bytes}0};\nconst size_t ${NAME}_len = ${len};\n")
