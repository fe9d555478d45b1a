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

# The typed helpers' test (src/codec/typed_test.c) uses protobuf-c structs
# generated at build time from tests/data/typed_test.proto by protoc-c, and
# the descriptor set protoc makes of it. The root file defines the test
# target after including this one, so the generated code is attached at the
# end of its processing (cmake_language DEFER, CMake 3.19). Without
# protoc-c the test runs its JSON cases only.
find_program(DTS_PROTOC_C protoc-c)
find_program(DTS_PROTOC protoc)
function(dts_typed_test_attach gen src)
  if(NOT TARGET typed_test)
    return()
  endif()
  target_compile_definitions(typed_test PRIVATE DTS_SOURCE_DIR="${src}")
  if(DTS_PROTOC_C AND DTS_PROTOC)
    target_sources(typed_test PRIVATE ${gen}/typed_test.pb-c.c)
    target_include_directories(typed_test PRIVATE ${gen})
    target_compile_definitions(typed_test PRIVATE DTS_TYPED_PBC=1
                               DTS_TYPED_FDS="${gen}/typed_test.pb")
  endif()
endfunction()
if(DTS_TESTS AND CMAKE_VERSION VERSION_GREATER_EQUAL 3.19)
  set(DTS_TYPED_GEN ${CMAKE_BINARY_DIR}/gen/typed)
  if(DTS_PROTOC_C AND DTS_PROTOC)
    add_custom_command(
      OUTPUT ${DTS_TYPED_GEN}/typed_test.pb-c.c ${DTS_TYPED_GEN}/typed_test.pb-c.h
             ${DTS_TYPED_GEN}/typed_test.pb
      COMMAND ${CMAKE_COMMAND} -E make_directory ${DTS_TYPED_GEN}
      COMMAND ${DTS_PROTOC_C} --c_out=${DTS_TYPED_GEN} -I${CMAKE_SOURCE_DIR}/tests/data
              ${CMAKE_SOURCE_DIR}/tests/data/typed_test.proto
      COMMAND ${DTS_PROTOC} --include_imports --descriptor_set_out=${DTS_TYPED_GEN}/typed_test.pb
              -I${CMAKE_SOURCE_DIR}/tests/data ${CMAKE_SOURCE_DIR}/tests/data/typed_test.proto
      DEPENDS ${CMAKE_SOURCE_DIR}/tests/data/typed_test.proto
      COMMENT "protoc-c: tests/data/typed_test.proto")
  endif()
  cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL dts_typed_test_attach
                 ${DTS_TYPED_GEN} ${CMAKE_SOURCE_DIR})
endif()
