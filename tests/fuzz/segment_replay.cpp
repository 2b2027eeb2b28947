// tests/fuzz/segment_replay.cpp: replays every file of the fuzz corpus through the fuzz
// target's entry point with a plain main(), so the normal (gcc) build and its sanitizer
// presets check the corpus too.
//   io_fuzz_replay DIR...            replay every regular file under each DIR (or file)
//   io_fuzz_replay --write-seeds DIR write the seed corpus into DIR
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "segment_fuzz_target.hpp"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc == 3 && std::string(argv[1]) == "--write-seeds") return lanes_fuzz::write_seeds(argv[2]);
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    if (fs::is_directory(argv[i])) {
      for (const auto& e : fs::recursive_directory_iterator(argv[i])) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
    } else {
      files.emplace_back(argv[i]);
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "io_fuzz_replay: no corpus files given\n");
    return 1;
  }
  for (const fs::path& p : files) {
    std::ifstream f(p, std::ios::binary);
    const std::vector<char> c((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
    lanes_fuzz::segment_input(reinterpret_cast<const std::uint8_t*>(c.data()), c.size());
  }
  std::printf("io_fuzz_replay: %zu inputs, no invariant broken\n", files.size());
  return 0;
}
