# Debian package test, run by ctest as `cmake -D... -P run_package_test.cmake`:
#   1. cpack -G DEB builds lanes_<version>_<arch>.deb from the build tree,
#   2. dpkg-deb -c: it holds the programs, the library, the headers, the CMake package and
#      lanes.pc under /usr,
#   3. dpkg-deb -f: it declares its dependencies (the programs' shared libraries and
#      liburing-dev for applications),
#   4. apt-get install --simulate ./lanes_*.deb: this Debian can satisfy them (nothing is
#      installed).
# Inputs (-D): BUILD_DIR WORK_DIR
cmake_minimum_required(VERSION 3.25)

foreach(var BUILD_DIR WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_package_test.cmake: -D${var}=... is required")
  endif()
endforeach()
find_program(DPKG_DEB dpkg-deb)
find_program(DPKG_SHLIBDEPS dpkg-shlibdeps)
if(NOT DPKG_DEB OR NOT DPKG_SHLIBDEPS)
  # ctest shows this as a skip (SKIP_REGULAR_EXPRESSION).
  message("SKIPPED: dpkg-deb or dpkg-shlibdeps missing (apt-get install dpkg-dev)")
  return()
endif()
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

execute_process(COMMAND "${CMAKE_CPACK_COMMAND}" -G DEB -B "${WORK_DIR}"
                        --config "${BUILD_DIR}/CPackConfig.cmake"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "package test: cpack -G DEB failed (${rc}):\n${out}\n${err}")
endif()
file(GLOB debs "${WORK_DIR}/lanes_*.deb")
list(LENGTH debs n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "package test: expected one lanes_*.deb in ${WORK_DIR}, found ${n}")
endif()
list(GET debs 0 deb)

execute_process(COMMAND "${DPKG_DEB}" -c "${deb}" RESULT_VARIABLE rc OUTPUT_VARIABLE contents)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "package test: dpkg-deb -c ${deb} failed")
endif()
foreach(f ./usr/bin/lanes ./usr/bin/lanes-stress ./usr/include/lanes/lanes.hpp
          ./usr/include/lanes/metrics.hpp ./usr/lib/cmake/lanes/lanesConfig.cmake
          ./usr/lib/pkgconfig/lanes.pc)
  string(FIND "${contents}" " ${f}\n" at)
  if(at LESS 0)
    message(FATAL_ERROR "package test: ${deb} lacks ${f}:\n${contents}")
  endif()
endforeach()
if(NOT contents MATCHES " \\./usr/lib/[^ \n]*liblanes\\.a\n")
  message(FATAL_ERROR "package test: ${deb} lacks liblanes.a:\n${contents}")
endif()

execute_process(COMMAND "${DPKG_DEB}" -f "${deb}" Package Version Architecture Depends
                RESULT_VARIABLE rc OUTPUT_VARIABLE fields)
message(STATUS "package test: ${deb}\n${fields}")
foreach(dep "Package: lanes" "libc6" "libstdc\\+\\+6" "liburing2" "liburing-dev")
  if(NOT fields MATCHES "${dep}")
    message(FATAL_ERROR "package test: ${deb} does not declare ${dep}:\n${fields}")
  endif()
endforeach()

find_program(APT_GET apt-get)
if(APT_GET)
  execute_process(COMMAND "${APT_GET}" install --simulate --no-install-recommends "${deb}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package test: apt-get install --simulate ${deb} failed (${rc}):\n"
                        "${out}\n${err}")
  endif()
  if(NOT out MATCHES "Inst lanes")
    message(FATAL_ERROR "package test: apt-get --simulate did not plan to install lanes:\n${out}")
  endif()
endif()
message(STATUS "package test: built, contents and dependencies as declared")
