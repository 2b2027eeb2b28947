// lanes/file_io.hpp: every file operation the bus makes inside its data directory, once.
//
// Rules (io/FORMAT.md, "Directory layout"):
//   - Nothing inside the data directory is followed when it is a symbolic link: files are
//     opened with O_NOFOLLOW and directories are checked with lstat, so a link planted where
//     a lanes file should be is an error naming it (errc::file_error, "is a symbolic link"),
//     never a write through it to somewhere else.
//   - New directories get mode 0750 and new files 0640, narrowed by the process umask; lanes
//     never changes the mode of a file or directory that already exists.
//   - Creating, renaming or deleting a file is followed by an fsync of its directory
//     (fsync_dir); small files are replaced atomically (write_file_atomically).
// Errors carry errno: no_space for ENOSPC/EDQUOT/EFBIG (the disk is full), io_error for EIO,
// file_error otherwise, with `what` naming the path and the reason for a person.
//
// Threads: any; these are cold paths (they allocate, never throw).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "lanes/error.hpp"

namespace lanes::io {

inline constexpr unsigned new_file_mode = 0640;
inline constexpr unsigned new_dir_mode = 0750;

// The outcome of a file operation: ok, or an error with a sentence naming the path.
struct file_status {
  errc status = errc::ok;
  std::string what;  // empty when ok
  explicit operator bool() const noexcept { return status == errc::ok; }
};

// ENOSPC/EDQUOT/EFBIG -> no_space, EIO -> io_error, anything else -> file_error.
errc errc_of_errno(int err) noexcept;
// "<path>: <strerror>", or "<path> is a symbolic link (lanes does not follow links inside its
// data directory; replace it with the real file)" for ELOOP from O_NOFOLLOW.
std::string describe_errno(const std::filesystem::path& path, int err);
file_status status_of_errno(const std::filesystem::path& path, int err);

// Creates `dir` (mode 0750 less the umask) when missing and then fsyncs its parent. An
// existing directory is used as it is (its mode untouched); an existing symbolic link or
// non-directory there is an error.
file_status make_dir(const std::filesystem::path& dir);

// Whether `path` exists without following a final symbolic link (lstat).
bool exists_nofollow(const std::filesystem::path& path) noexcept;

// open(2) with O_CLOEXEC | O_NOFOLLOW added; `mode` for O_CREAT (0640 less the umask).
// Returns the descriptor or -1 with errno set.
int open_nofollow(const std::filesystem::path& path, int flags,
                  unsigned mode = new_file_mode) noexcept;

// Writes all n bytes at pos, retrying short writes and EINTR. False with errno on failure.
bool write_all(int fd, const void* data, std::size_t n, std::uint64_t pos) noexcept;

// Reads a whole file of at most max_size bytes into out. Errors: a missing file (errno
// ENOENT), a larger one (EFBIG), a link (ELOOP), or a read error.
file_status read_small_file(const std::filesystem::path& path, std::uint64_t max_size,
                            std::vector<std::byte>& out);

// Writes a whole file in place: create or truncate, write, fdatasync when `sync`.
file_status write_file(const std::filesystem::path& path, std::span<const std::byte> bytes,
                       bool sync);

// Replaces dir/name atomically: dir/name.tmp written and fdatasynced, renamed over dir/name,
// then the directory fsynced. On failure the old file is untouched and the .tmp removed.
file_status write_file_atomically(const std::filesystem::path& dir, const std::string& name,
                                  std::span<const std::byte> bytes);

// fsync of a directory (after creating, renaming or deleting entries in it).
file_status fsync_dir(const std::filesystem::path& dir);

// One entry of a directory as it is (lstat): a symbolic link is a link, whatever it names.
struct dir_entry {
  std::string name;
  bool is_dir = false;   // a directory, not a link to one
  bool is_link = false;  // a symbolic link
};
// The entries of `dir` (without . and ..), in no particular order.
file_status list_dir(const std::filesystem::path& dir, std::vector<dir_entry>& out);

// Removes `dir` and everything below it (links are removed, never followed), then fsyncs
// its parent.
file_status remove_tree(const std::filesystem::path& dir);

// The data directory lock: dir/.lock, held with flock while the descriptor is open.
//   exclusive (a bus that writes): LOCK_EX, creating the directory (0750 less the umask) and
//     the lock file when missing;
//   shared (a read-only bus): LOCK_SH on an existing lock file, creating nothing; returns
//     no_lock_file (not an error) when there is none (then there is nothing lanes wrote).
// Errors: data_dir_locked (another process holds it exclusively), file_error (a missing
// directory, or the lock file cannot be opened).
enum class lock_mode : std::uint8_t { exclusive, shared };
inline constexpr int no_lock_file = -2;
int lock_data_dir(const std::filesystem::path& dir, lock_mode mode, errc& ec, std::string& what);
void unlock_data_dir(int fd) noexcept;

}  // namespace lanes::io
