// tests/support/files.hpp: a whole file's bytes in and out, for tests that damage files or
// check what a tool wrote.
//
//   slurp(p)                  the bytes of file p ("" when it cannot be read)
//   spit(p, bytes)            writes p with exactly these bytes (spit(p, bytes, true) appends)
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace lanes_test {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void spit(const std::filesystem::path& p, const std::string& bytes, bool append = false) {
  std::ofstream(p, append ? std::ios::binary | std::ios::app : std::ios::binary | std::ios::trunc)
      << bytes;
}

}  // namespace lanes_test
