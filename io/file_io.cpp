#include "lanes/file_io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lanes::io {

errc errc_of_errno(int err) noexcept {
  if (err == ENOSPC || err == EDQUOT || err == EFBIG) return errc::no_space;
  if (err == EIO) return errc::io_error;
  return errc::file_error;
}

std::string describe_errno(const std::filesystem::path& path, int err) {
  if (err == ELOOP) {
    return path.string() +
           " is a symbolic link (lanes does not follow links inside its data directory; "
           "replace it with the real file or directory)";
  }
  if (err == ENOSPC || err == EDQUOT) {
    return path.string() + ": " + std::strerror(err) +
           " (ENOSPC: the disk is full; free space, or open the directory read-only)";
  }
  return path.string() + ": " + std::strerror(err);
}

file_status status_of_errno(const std::filesystem::path& path, int err) {
  return {errc_of_errno(err), describe_errno(path, err)};
}

bool exists_nofollow(const std::filesystem::path& path) noexcept {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

file_status make_dir(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), new_dir_mode) == 0) {
    const std::filesystem::path parent = dir.parent_path().empty() ? "." : dir.parent_path();
    return fsync_dir(parent);
  }
  const int err = errno;
  struct stat st {};
  if (err != EEXIST || ::lstat(dir.c_str(), &st) != 0) return status_of_errno(dir, err);
  if (S_ISLNK(st.st_mode)) return status_of_errno(dir, ELOOP);
  if (!S_ISDIR(st.st_mode)) {
    return {errc::file_error, dir.string() + " exists and is not a directory"};
  }
  return {};
}

int open_nofollow(const std::filesystem::path& path, int flags, unsigned mode) noexcept {
  return ::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW, static_cast<mode_t>(mode));
}

bool write_all(int fd, const void* data, std::size_t n, std::uint64_t pos) noexcept {
  const auto* p = static_cast<const std::byte*>(data);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(pos));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return false;
    if (w == 0) {
      errno = ENOSPC;  // a write that makes no progress: the device took nothing
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
    pos += static_cast<std::uint64_t>(w);
  }
  return true;
}

file_status read_small_file(const std::filesystem::path& path, std::uint64_t max_size,
                            std::vector<std::byte>& out) {
  const int fd = open_nofollow(path, O_RDONLY);
  if (fd < 0) return status_of_errno(path, errno);
  file_status r;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    r = status_of_errno(path, errno);
  } else if (!S_ISREG(st.st_mode)) {
    r = {errc::file_error, path.string() + " is not a regular file"};
  } else if (static_cast<std::uint64_t>(st.st_size) > max_size) {
    r = {errc::file_error, path.string() + " is " + std::to_string(st.st_size) +
                               " bytes, more than such a file can hold (" +
                               std::to_string(max_size) + ")"};
  } else {
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        r = n < 0 ? status_of_errno(path, errno)
                  : file_status{errc::file_error, path.string() + ": shorter than its size"};
        break;
      }
      done += static_cast<std::size_t>(n);
    }
  }
  ::close(fd);
  return r;
}

file_status write_file(const std::filesystem::path& path, std::span<const std::byte> bytes,
                       bool sync) {
  const int fd = open_nofollow(path, O_CREAT | O_TRUNC | O_WRONLY);
  if (fd < 0) return status_of_errno(path, errno);
  file_status r;
  if (!write_all(fd, bytes.data(), bytes.size(), 0) || (sync && ::fdatasync(fd) != 0)) {
    r = status_of_errno(path, errno);
  }
  ::close(fd);
  return r;
}

file_status write_file_atomically(const std::filesystem::path& dir, const std::string& name,
                                  std::span<const std::byte> bytes) {
  const std::filesystem::path tmp = dir / (name + ".tmp");
  const std::filesystem::path dst = dir / name;
  // A leftover .tmp (a crash mid-write) or a link planted there: remove the entry itself.
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) return status_of_errno(tmp, errno);
  file_status r = write_file(tmp, bytes, true);
  if (!r) {
    ::unlink(tmp.c_str());
    return r;
  }
  if (::rename(tmp.c_str(), dst.c_str()) != 0) {  // replaces a link at dst, never follows it
    r = status_of_errno(dst, errno);
    ::unlink(tmp.c_str());
    return r;
  }
  return fsync_dir(dir);
}

file_status fsync_dir(const std::filesystem::path& dir) {
  const int fd = open_nofollow(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return status_of_errno(dir, errno);
  file_status r;
  if (::fsync(fd) != 0) r = status_of_errno(dir, errno);
  ::close(fd);
  return r;
}

file_status list_dir(const std::filesystem::path& dir, std::vector<dir_entry>& out) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return status_of_errno(dir, errno);
  const int dfd = ::dirfd(d);
  errno = 0;
  while (const dirent* ent = ::readdir(d)) {
    if (std::strcmp(ent->d_name, ".") == 0 || std::strcmp(ent->d_name, "..") == 0) continue;
    dir_entry e{ent->d_name, ent->d_type == DT_DIR, ent->d_type == DT_LNK};
    struct stat st {};
    if (ent->d_type == DT_UNKNOWN && ::fstatat(dfd, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      e.is_dir = S_ISDIR(st.st_mode);
      e.is_link = S_ISLNK(st.st_mode);
    }
    out.push_back(std::move(e));
    errno = 0;
  }
  const int err = errno;
  ::closedir(d);
  return err != 0 ? status_of_errno(dir, err) : file_status{};
}

file_status remove_tree(const std::filesystem::path& dir) {
  std::error_code e;
  std::filesystem::remove_all(dir, e);  // removes links themselves, as unlink does
  if (e) return status_of_errno(dir, e.value());
  return fsync_dir(dir.parent_path());
}

int lock_data_dir(const std::filesystem::path& dir, lock_mode mode, errc& ec, std::string& what) {
  const bool shared = mode == lock_mode::shared;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT || shared) {
      ec = errc::file_error;
      what = "cannot open data directory " + describe_errno(dir, errno);
      return -1;
    }
    std::error_code e;
    if (dir.has_parent_path()) std::filesystem::create_directories(dir.parent_path(), e);
    file_status made = make_dir(dir);
    if (!made) {
      ec = made.status;
      what = "cannot create data directory: " + made.what;
      return -1;
    }
  } else if (!S_ISDIR(st.st_mode)) {
    ec = errc::file_error;
    what = dir.string() + " is not a directory";
    return -1;
  }
  const std::filesystem::path lock = dir / ".lock";
  int fd = shared ? open_nofollow(lock, O_RDONLY) : open_nofollow(lock, O_RDWR | O_CREAT);
  if (fd < 0 && shared && errno == ENOENT) {
    ec = errc::ok;
    return no_lock_file;
  }
  if (fd < 0 && (errno == ENOSPC || errno == EDQUOT || errno == EROFS || errno == EACCES)) {
    fd = open_nofollow(lock, O_RDONLY);  // a full or read-only disk: an existing lock file
  }
  if (fd < 0) {
    ec = errc_of_errno(errno);
    what = "cannot open lock file " + describe_errno(lock, errno);
    return -1;
  }
  if (::flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    ec = err == EWOULDBLOCK ? errc::data_dir_locked : errc::file_error;
    what = dir.string() + ": " +
           (err == EWOULDBLOCK ? "locked by another process" : std::strerror(err));
    return -1;
  }
  ec = errc::ok;
  return fd;
}

void unlock_data_dir(int fd) noexcept {
  if (fd >= 0) ::close(fd);  // releases the flock
}

}  // namespace lanes::io
