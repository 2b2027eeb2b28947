# tests/connect/kafka/readme_check.cmake: README.md shows readme_example.cpp verbatim (the
# first ```cpp block after the marker line), so that the example there is the one that compiles
# and runs in the test suite. Run with -DSOURCE_DIR=<repository>.
file(READ "${SOURCE_DIR}/README.md" readme)
file(READ "${SOURCE_DIR}/tests/connect/kafka/readme_example.cpp" example)
set(marker "<!-- example: tests/connect/kafka/readme_example.cpp -->\n```cpp\n")
string(FIND "${readme}" "${marker}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md lacks the Kafka example block (marker '${marker}')")
endif()
string(LENGTH "${marker}" marker_length)
math(EXPR start "${at} + ${marker_length}")
string(SUBSTRING "${readme}" ${start} -1 rest)
string(FIND "${rest}" "```\n" end)
string(SUBSTRING "${rest}" 0 ${end} shown)
if(NOT shown STREQUAL example)
  message(FATAL_ERROR "the Kafka example in README.md differs from "
                      "tests/connect/kafka/readme_example.cpp; copy the file into README.md")
endif()
