# tests/connect/kafka/readme_check.cmake: README.md shows readme_example.cpp verbatim (the
# first ```cpp block after the marker line), so that the example there is the one that compiles
# and runs in the test suite. Run with -DSOURCE_DIR=<repository>.
include("${SOURCE_DIR}/cmake/readme_example.cmake")
lanes_readme_shows("${SOURCE_DIR}" tests/connect/kafka/readme_example.cpp "kafka readme check")
