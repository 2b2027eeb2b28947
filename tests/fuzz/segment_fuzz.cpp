// tests/fuzz/segment_fuzz.cpp: libFuzzer target over the batch decoder and the recovery
// scan. Built with clang (-fsanitize=fuzzer,address) when LANES_FUZZ=ON; run tools/fuzz.sh.
#include <cstddef>
#include <cstdint>

#include "segment_fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lanes_fuzz::segment_input(data, size);
  return 0;
}
