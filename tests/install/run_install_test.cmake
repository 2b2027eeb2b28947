# Install test driver, run by ctest as `cmake -D... -P run_install_test.cmake`:
#   1. `cmake --install` the lanes build tree into a scratch prefix,
#   2. check the layout (include/lanes/lanes.hpp, lib/cmake/lanes/lanesConfig.cmake),
#   3. configure and build tests/install against that prefix only,
#   4. run the program,
#   5. check that README.md shows tests/install/main.cpp verbatim, so the example compiles.
# Inputs (-D): BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER BUILD_TYPE
#              CXX_FLAGS EXE_LINKER_FLAGS
cmake_minimum_required(VERSION 3.25)

foreach(var BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_install_test.cmake: -D${var}=... is required")
  endif()
endforeach()

set(prefix "${WORK_DIR}/prefix")
set(app_build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install test: ${step} failed (${rc})")
  endif()
endfunction()

# 1. Install.
run("cmake --install" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")

# 2. Layout.
foreach(f include/lanes/lanes.hpp include/lanes/spsc_ring.hpp include/lanes/frame_ring.hpp
          lib/cmake/lanes/lanesConfig.cmake lib/cmake/lanes/lanesConfigVersion.cmake
          lib/cmake/lanes/lanesTargets.cmake)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "install test: ${prefix}/${f} was not installed")
  endif()
endforeach()

# io/ is private to the package: none of its headers is installed (so <liburing.h> never
# reaches an application's build).
foreach(f uring.hpp partition_log.hpp segment_format.hpp file_io.hpp crc32c.hpp)
  if(EXISTS "${prefix}/include/lanes/${f}")
    message(FATAL_ERROR "install test: io/'s header ${f} was installed; io/ is private")
  endif()
endforeach()

# 3. Configure and build the outside project. Same compiler and flags as the lanes build, so
# a sanitizer build of liblanes.a links with its runtime. No package registry: only the
# scratch prefix can satisfy find_package.
run("configure tests/install" "${CMAKE_COMMAND}"
    -S "${SOURCE_DIR}/tests/install" -B "${app_build}" -G "${GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
    "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}"
    "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
    "-DCMAKE_EXE_LINKER_FLAGS=${EXE_LINKER_FLAGS}"
    "-DCMAKE_PREFIX_PATH=${prefix}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
file(STRINGS "${app_build}/CMakeCache.txt" lanes_dir_line REGEX "^lanes_DIR:")
string(REGEX REPLACE "^lanes_DIR:[A-Z]+=" "" lanes_dir "${lanes_dir_line}")
if(NOT lanes_dir STREQUAL "${prefix}/lib/cmake/lanes")
  message(FATAL_ERROR "install test: found lanes in '${lanes_dir}', not in ${prefix}")
endif()
run("build tests/install" "${CMAKE_COMMAND}" --build "${app_build}")

# 4. Run.
run("running the installed-lanes program" "${app_build}/app")

# 4a. lanes::prometheus from the installed package, when this build has it.
if(EXISTS "${BUILD_DIR}/connect/prometheus")
  if(NOT EXISTS "${app_build}/app_metrics")
    message(FATAL_ERROR "install test: lanes::prometheus was built but find_package(lanes) "
                        "did not provide it to tests/install")
  endif()
  run("running the installed-lanes::prometheus program" "${app_build}/app_metrics")
endif()

# 4b. The programs and pkg-config: bin/lanes --help works from the prefix, and main.cpp
#     builds with nothing but `pkg-config --cflags --libs lanes`.
foreach(f bin/lanes bin/lanes-stress lib/pkgconfig/lanes.pc)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "install test: ${prefix}/${f} was not installed")
  endif()
endforeach()
execute_process(COMMAND "${prefix}/bin/lanes" --help RESULT_VARIABLE rc OUTPUT_VARIABLE help)
if(NOT rc EQUAL 0 OR NOT help MATCHES "Exit codes")
  message(FATAL_ERROR "install test: installed lanes --help failed (${rc}): ${help}")
endif()
find_program(PKG_CONFIG pkg-config REQUIRED)
set(ENV{PKG_CONFIG_PATH} "${prefix}/lib/pkgconfig")
execute_process(COMMAND "${PKG_CONFIG}" --cflags --libs lanes RESULT_VARIABLE rc
                OUTPUT_VARIABLE pc_flags OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "install test: pkg-config --cflags --libs lanes failed (${rc})")
endif()
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
separate_arguments(extra_flags UNIX_COMMAND "${CXX_FLAGS} ${EXE_LINKER_FLAGS}")
run("build main.cpp with pkg-config" "${CXX_COMPILER}" ${extra_flags}
    "${SOURCE_DIR}/tests/install/main.cpp" -o "${WORK_DIR}/app_pc" ${pc_flags})
run("running the pkg-config-built program" "${WORK_DIR}/app_pc")

# 5. README.md shows each example verbatim: the first ```cpp block after its marker line.
include("${SOURCE_DIR}/cmake/readme_example.cmake")
foreach(name main.cpp metrics_main.cpp)
  lanes_readme_shows("${SOURCE_DIR}" "tests/install/${name}" "install test")
endforeach()
message(STATUS "install test: installed, found, built, ran (CMake and pkg-config); README examples match")
