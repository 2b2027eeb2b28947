// tests/tools/tools_cli.hpp: running the built `lanes` binary (LANES_BIN) in the command line
// tests (tools_cli_test.cpp, tools_cli_tail_test.cpp, tools_cli_verify_test.cpp,
// tools_cli_errors_test.cpp).
//
//   ToolsCli        fixture: a scratch directory (dir_) with a data directory in it (data_, d()
//                   quoted for the shell); lanes(args, input) and run(bin, args, input, tag)
//                   run a command line through the shell and return its exit code and output
//   background      a `lanes` process in the background (fork/exec), stdout and stderr to files
//   wait_lines      whether a file reached n lines in time (tail -v prints one per line)
//   slurp, spit, lines_of, quote, numbered   files, lines and shell words
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "support/files.hpp"

namespace lanes_test {

namespace fs = std::filesystem;

struct result {
  int rc = -1;
  std::string out;
  std::string err;
};

inline std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l)) v.push_back(l);
  return v;
}

inline std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

class ToolsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lanes-cli-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    data_ = dir_ / "data";
  }
  void TearDown() override {
    std::error_code ec;
    if (!HasFailure()) fs::remove_all(dir_, ec);
  }

  // Runs `lanes ARGS` (a shell command line after the binary) with `input` on stdin.
  result lanes(const std::string& args, const std::string& input = "") {
    return run(LANES_BIN, args, input);
  }
  // Runs `bin ARGS` the same way; calls with different `tag`s may run at once.
  result run(const std::string& bin, const std::string& args, const std::string& input = "",
             const std::string& tag = "") {
    const fs::path in = dir_ / ("stdin" + tag), out = dir_ / ("stdout" + tag),
                   err = dir_ / ("stderr" + tag);
    spit(in, input);
    const std::string cmd =
        bin + " " + args + " < " + quote(in) + " > " + quote(out) + " 2> " + quote(err);
    const int st = std::system(cmd.c_str());
    result r;
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  std::string d() const { return quote(data_.string()); }

  fs::path dir_;
  fs::path data_;
};

// A `lanes` process in the background, stdout and stderr to files.
class background {
 public:
  background(std::vector<std::string> args, const fs::path& out, const fs::path& err) {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(o, 1);
      ::dup2(e, 2);
      std::vector<char*> argv;
      std::string bin = LANES_BIN;
      argv.push_back(bin.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(LANES_BIN, argv.data());
      ::_exit(127);
    }
  }
  ~background() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const noexcept { return pid_; }
  // Sends sig and waits; returns the exit code (-1 when killed by a signal).
  int stop(int sig, std::chrono::seconds limit = std::chrono::seconds(30)) {
    if (sig != 0) ::kill(pid_, sig);
    const auto until = std::chrono::steady_clock::now() + limit;
    int st = 0;
    while (::waitpid(pid_, &st, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > until) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
        pid_ = -1;
        return -2;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

 private:
  pid_t pid_ = -1;
};

// Waits until `file` has at least n lines (tail -v prints one per published line).
inline bool wait_lines(const fs::path& file, std::size_t n,
                       std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (lines_of(slurp(file)).size() >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

inline std::string numbered(int from, int to) {
  std::string s;
  for (int i = from; i <= to; ++i) s += "line-" + std::to_string(i) + "\n";
  return s;
}

}  // namespace lanes_test
