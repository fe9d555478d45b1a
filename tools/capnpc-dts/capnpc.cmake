# tools/capnpc-dts/capnpc.cmake: the Cap'n Proto code generator capnpc-dts
# (issue 5 item 2; docs/spec/capnp.md, "Code generator") and its test.
# Wire it in with one line in the root CMakeLists.txt, after the codec layer:
#   include(tools/capnpc-dts/capnpc.cmake OPTIONAL)
# It also works as -DCMAKE_PROJECT_INCLUDE=<this file>: included before
# dts_codec exists, it defers itself to the end of the top directory.
if(DEFINED DTS_CAPNPC_DONE)
  return()
endif()
if(NOT TARGET dts_codec)
  if(NOT DTS_CAPNPC_DEFERRED)
    set(DTS_CAPNPC_DEFERRED ON)
    set(DTS_CAPNPC_FILE ${CMAKE_CURRENT_LIST_FILE})
    cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL include ${DTS_CAPNPC_FILE})
  endif()
  return()
endif()
set(DTS_CAPNPC_DONE ON)
if(DTS_FUZZ)
  return()
endif()

set(DTS_CAPNPC_DIR ${CMAKE_SOURCE_DIR}/tools/capnpc-dts)
add_executable(capnpc-dts ${DTS_CAPNPC_DIR}/main.c ${DTS_CAPNPC_DIR}/gen.c
               ${DTS_CAPNPC_DIR}/gen_struct.c)
target_include_directories(capnpc-dts PRIVATE ${CMAKE_SOURCE_DIR}/src ${DTS_CAPNPC_DIR})
target_link_libraries(capnpc-dts PRIVATE dts_codec dts_static)
set_target_properties(capnpc-dts PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)

find_program(DTS_CAPNP_TOOL capnp)

# dts_capnpc_generate(OUT_SRCS GEN_DIR [PREFIX p] [NO_SCHEMA] schema...): run
# capnpc-dts at build time on each schema (PREFIX sets CAPNPC_DTS_PREFIX, the
# C name prefix; NO_SCHEMA sets CAPNPC_DTS_NO_SCHEMA: no NAME_schema()
# functions, nor the nodes they need); the generated .c files are listed in
# OUT_SRCS.
function(dts_capnpc_generate out gendir)
  cmake_parse_arguments(PARSE_ARGV 2 arg "NO_SCHEMA" "PREFIX" "")
  set(env PWD=${CMAKE_CURRENT_BINARY_DIR})
  if(arg_PREFIX)
    list(APPEND env CAPNPC_DTS_PREFIX=${arg_PREFIX})
  endif()
  if(arg_NO_SCHEMA)
    list(APPEND env CAPNPC_DTS_NO_SCHEMA=1)
  endif()
  set(srcs)
  foreach(schema ${arg_UNPARSED_ARGUMENTS})
    get_filename_component(base ${schema} NAME)
    get_filename_component(dir ${schema} DIRECTORY)
    add_custom_command(
      OUTPUT ${gendir}/${base}.c ${gendir}/${base}.h
      COMMAND ${CMAKE_COMMAND} -E make_directory ${gendir}
      # PWD set to where the command runs, or the tool warns that they differ.
      COMMAND ${CMAKE_COMMAND} -E env ${env}
              ${DTS_CAPNP_TOOL} compile -o$<TARGET_FILE:capnpc-dts>:${gendir}
              --src-prefix=${dir} ${schema}
      WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}
      DEPENDS capnpc-dts ${schema}
      COMMENT "capnpc-dts: ${base}")
    list(APPEND srcs ${gendir}/${base}.c)
  endforeach()
  set(${out} ${srcs} PARENT_SCOPE)
endfunction()

# The bootstrap (docs/spec/capnp.md, "Bootstrap"): cgr.c reads requests with
# schema.capnp accessors capnpc-dts generated, checked in under
# src/codec/capnp/gen/ (prefix dtsi_schema). The build regenerates them into
# gen/bootstrap; capnpc_bootstrap_test fails when the two differ, and
# `cmake --build build --target capnp-bootstrap` refreshes the checked-in copy.
set(DTS_SCHEMA_CAPNP /usr/include/capnp/schema.capnp)
set(DTS_BOOTSTRAP_GEN ${CMAKE_BINARY_DIR}/gen/bootstrap)
if(DTS_CAPNP_TOOL AND EXISTS ${DTS_SCHEMA_CAPNP})
  # The bootstrap reads requests; it never declares a type (NO_SCHEMA).
  dts_capnpc_generate(DTS_BOOTSTRAP_SRC ${DTS_BOOTSTRAP_GEN} PREFIX dtsi_schema NO_SCHEMA
                      ${DTS_SCHEMA_CAPNP})
  add_custom_target(capnp-bootstrap
    COMMAND ${CMAKE_COMMAND} -E copy ${DTS_BOOTSTRAP_GEN}/schema.capnp.c
            ${DTS_BOOTSTRAP_GEN}/schema.capnp.h ${CMAKE_SOURCE_DIR}/src/codec/capnp/gen/
    DEPENDS ${DTS_BOOTSTRAP_GEN}/schema.capnp.c ${DTS_BOOTSTRAP_GEN}/schema.capnp.h
    COMMENT "capnp-bootstrap: src/codec/capnp/gen/schema.capnp.{c,h} refreshed; review and commit")
endif()

if(DTS_CAPNP_TOOL AND DTS_TESTS)
  if(NOT TARGET PkgConfig::CMOCKA)
    pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
  endif()
  file(GLOB DTS_CAPNPC_CORPUS ${CMAKE_SOURCE_DIR}/tests/capnp/*.capnp)
  dts_capnpc_generate(DTS_CAPNPC_GEN ${CMAKE_BINARY_DIR}/gen/capnpc ${DTS_CAPNPC_CORPUS})
  add_executable(capnpc_gen_test ${DTS_CAPNPC_DIR}/capnpc_gen_test.c ${DTS_CAPNPC_GEN})
  target_include_directories(capnpc_gen_test PRIVATE ${CMAKE_SOURCE_DIR}/src
                             ${CMAKE_BINARY_DIR}/gen/capnpc)
  target_compile_options(capnpc_gen_test PRIVATE -Wall -Wextra -Werror -Wunused-parameter)
  target_compile_definitions(capnpc_gen_test PRIVATE DTS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  target_link_libraries(capnpc_gen_test PRIVATE dts_codec dts_static PkgConfig::CMOCKA m)
  add_test(NAME capnpc_gen_test COMMAND capnpc_gen_test)
  target_include_directories(capnpc_gen_test PRIVATE ${DTS_CAPNPC_DIR})
  if(TARGET capnp-bootstrap)
    add_executable(capnpc_bootstrap_test ${DTS_CAPNPC_DIR}/bootstrap_test.c ${DTS_BOOTSTRAP_SRC})
    # The fresh sources are a dependency (generated before the test is
    # built) but not compiled: their symbols are those of the checked-in copy.
    set_source_files_properties(${DTS_BOOTSTRAP_SRC} PROPERTIES HEADER_FILE_ONLY ON)
    target_include_directories(capnpc_bootstrap_test PRIVATE ${CMAKE_SOURCE_DIR}/src
                               ${DTS_CAPNPC_DIR})
    get_filename_component(schema_dir ${DTS_SCHEMA_CAPNP} DIRECTORY)
    target_compile_definitions(capnpc_bootstrap_test PRIVATE DTS_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
                               DTS_BOOTSTRAP_FRESH="${DTS_BOOTSTRAP_GEN}"
                               DTS_SCHEMA_CAPNP_DIR="${schema_dir}")
    target_link_libraries(capnpc_bootstrap_test PRIVATE dts_codec dts_static PkgConfig::CMOCKA m)
    add_test(NAME capnpc_bootstrap_test COMMAND capnpc_bootstrap_test)
  endif()
  set_tests_properties(capnpc_gen_test PROPERTIES TIMEOUT 120)
endif()

# The Cap'n Proto example (issue 5 item 5): a sensor and a logger using code
# generated from examples/capnp/brewery.capnp.
if(DTS_CAPNP_TOOL)
  set(DTS_CAPNP_EX ${CMAKE_SOURCE_DIR}/examples/capnp)
  dts_capnpc_generate(DTS_CAPNP_EX_GEN ${CMAKE_BINARY_DIR}/gen/examples ${DTS_CAPNP_EX}/brewery.capnp)
  foreach(ex sensor logger)
    add_executable(capnp_${ex} ${DTS_CAPNP_EX}/${ex}.c ${DTS_CAPNP_EX_GEN})
    # Public headers only (include/dts), as an installed dts gives.
    target_include_directories(capnp_${ex} PRIVATE ${CMAKE_BINARY_DIR}/gen/examples)
    target_link_libraries(capnp_${ex} PRIVATE dts_codec dts_static m)
    set_target_properties(capnp_${ex} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/examples)
  endforeach()
endif()
