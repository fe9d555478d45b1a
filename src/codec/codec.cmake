# src/codec/codec.cmake: the codec layer (include/dts/codec.h) as the static
# library dts_codec. Included by the root CMakeLists.txt; tools, tests,
# benches and fuzzers link it when it exists.
pkg_check_modules(CBOR REQUIRED IMPORTED_TARGET libcbor)
pkg_check_modules(PROTOBUFC REQUIRED IMPORTED_TARGET libprotobuf-c)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(LZ4 REQUIRED IMPORTED_TARGET liblz4)
pkg_check_modules(BLOSC REQUIRED IMPORTED_TARGET blosc)
find_path(MSGPUCK_INCLUDE_DIR msgpuck.h REQUIRED)
find_library(MSGPUCK_LIBRARY msgpuck REQUIRED)

file(GLOB DTS_CODEC_SRC CONFIGURE_DEPENDS
  ${CMAKE_CURRENT_LIST_DIR}/*.c ${CMAKE_CURRENT_LIST_DIR}/*/*.c)
list(FILTER DTS_CODEC_SRC EXCLUDE REGEX "_test\\.c$")
add_library(dts_codec STATIC ${DTS_CODEC_SRC})
target_include_directories(dts_codec PUBLIC include PRIVATE src ${MSGPUCK_INCLUDE_DIR})
target_link_libraries(dts_codec
  PUBLIC dts_static PkgConfig::JANSSON
  PRIVATE PkgConfig::CBOR PkgConfig::PROTOBUFC PkgConfig::ZSTD PkgConfig::LZ4 PkgConfig::BLOSC
          ${MSGPUCK_LIBRARY} m)
set_target_properties(dts_codec PROPERTIES POSITION_INDEPENDENT_CODE ON)
