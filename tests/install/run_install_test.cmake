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

# 5. README.md shows main.cpp verbatim: the first ```cpp block after the marker line.
file(READ "${SOURCE_DIR}/README.md" readme)
file(READ "${SOURCE_DIR}/tests/install/main.cpp" example)
set(marker "<!-- example: tests/install/main.cpp -->\n```cpp\n")
string(FIND "${readme}" "${marker}" at)
if(at LESS 0)
  message(FATAL_ERROR "install test: README.md lacks the example block (marker '${marker}')")
endif()
string(LENGTH "${marker}" marker_len)
math(EXPR start "${at} + ${marker_len}")
string(SUBSTRING "${readme}" ${start} -1 rest)
string(FIND "${rest}" "```" stop)
string(SUBSTRING "${rest}" 0 ${stop} shown)
if(NOT shown STREQUAL example)
  message(FATAL_ERROR "install test: the README.md example differs from tests/install/main.cpp;"
                      " copy main.cpp into README.md")
endif()
message(STATUS "install test: installed, found, built, ran; README example matches")
