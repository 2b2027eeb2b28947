// tests/fuzz/segment_fuzz_target.hpp: the one entry point shared by the libFuzzer target
// (segment_fuzz.cpp, clang, LANES_FUZZ=ON) and the corpus replay test (segment_replay.cpp,
// the normal build). It feeds arbitrary bytes to the batch decoder, the file-header and
// checkpoint decoders, and the recovery scan, and aborts if an invariant breaks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace lanes_fuzz {

// Input: byte 0 picks max_batch_bytes (64 << (b % 16)); the rest is a segment file.
void segment_input(const std::uint8_t* data, std::size_t size);

// Writes the seed corpus (valid segments, torn, flipped, hostile lengths) into `dir`.
int write_seeds(const std::string& dir);

}  // namespace lanes_fuzz
