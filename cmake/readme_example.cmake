# cmake/readme_example.cmake: the one check that README.md shows an example program verbatim,
# so that the example there is the one the test suite compiles and runs. Included by the
# scripts that ctest runs with `cmake -P` (tests/install/run_install_test.cmake,
# tests/connect/kafka/readme_check.cmake).

# lanes_readme_shows(SOURCE_DIR EXAMPLE WHO): README.md in SOURCE_DIR must hold, after the
# line `<!-- example: EXAMPLE -->`, a ```cpp block whose text is the file EXAMPLE (a path
# relative to SOURCE_DIR). A fatal error starting with WHO otherwise.
function(lanes_readme_shows source_dir example who)
  file(READ "${source_dir}/README.md" readme)
  file(READ "${source_dir}/${example}" text)
  set(marker "<!-- example: ${example} -->\n```cpp\n")
  string(FIND "${readme}" "${marker}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${who}: README.md lacks the example block (marker '${marker}')")
  endif()
  string(LENGTH "${marker}" marker_length)
  math(EXPR start "${at} + ${marker_length}")
  string(SUBSTRING "${readme}" ${start} -1 rest)
  string(FIND "${rest}" "```\n" end)
  string(SUBSTRING "${rest}" 0 ${end} shown)
  if(NOT shown STREQUAL text)
    message(FATAL_ERROR "${who}: the README.md example differs from ${example}; copy the file "
                        "into README.md")
  endif()
endfunction()
