# Writes a C file defining `const char NAME[]` (NUL-terminated) and
# `const unsigned NAME_len` from the bytes of INPUT.
# Usage: cmake -DINPUT=file -DOUTPUT=file.c -DNAME=symbol -P EmbedFile.cmake
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUTPUT}"
  "/* Generated from ${INPUT} by cmake/EmbedFile.cmake: do not edit. */\n"
  "const char ${NAME}[] = {\n${bytes}0x00};\n"
  "const unsigned ${NAME}_len = ${len};\n")
