// tests/support/scratch_dir.hpp: a fresh directory under /tmp for one test (a bus's data
// directory, files for a child process), removed with everything in it when the test ends.
//
//   scratch_dir d;            /tmp/lanes_test_XXXXXX (scratch_dir("lanes_cdc"): lanes_cdc_XXXXXX)
//   d.path()                  the directory
//   d.at("bus")               the path of "bus" inside it, as a string (for command lines)
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace lanes_test {

class scratch_dir {
 public:
  explicit scratch_dir(std::string_view prefix = "lanes_test") {
    std::string t = "/tmp/";
    t.append(prefix).append("_XXXXXX");
    if (::mkdtemp(t.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = t;
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string at(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace lanes_test
