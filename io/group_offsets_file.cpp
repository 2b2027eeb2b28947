#include "lanes/group_offsets_file.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "lanes/clock.hpp"
#include "lanes/crc32c.hpp"

namespace lanes::io {

namespace {

std::string hex_of(std::string_view s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

bool unhex(std::string_view s, std::string& out) {
  if (s.empty() || s.size() % 2 != 0) return false;
  out.clear();
  for (std::size_t i = 0; i < s.size(); i += 2) {
    unsigned v = 0;
    const auto r = std::from_chars(s.data() + i, s.data() + i + 2, v, 16);
    if (r.ec != std::errc() || r.ptr != s.data() + i + 2) return false;
    out += static_cast<char>(v);
  }
  return true;
}

template <class T>
bool parse_num(std::string_view s, T& out, int base = 10) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::uint32_t crc_of(std::string_view text) {
  return crc32c_extend(0, reinterpret_cast<const std::byte*>(text.data()), text.size());
}

}  // namespace

std::string encode_group_offsets(const std::vector<std::int64_t>& committed) {
  std::string text;
  for (std::size_t p = 0; p < committed.size(); ++p) {
    if (committed[p] >= 0) text += std::to_string(p) + " " + std::to_string(committed[p]) + "\n";
  }
  char tail[32];
  std::snprintf(tail, sizeof tail, "crc32c %08" PRIx32 "\n", crc_of(text));
  return text + tail;
}

bool decode_group_offsets(std::string_view text, std::uint32_t partitions,
                          std::vector<std::int64_t>& committed, std::string& why) {
  committed.assign(partitions, -1);
  std::size_t at = 0;
  std::size_t line_no = 0;
  while (at < text.size()) {
    ++line_no;
    const std::size_t nl = text.find('\n', at);
    if (nl == std::string_view::npos) {
      why = "line " + std::to_string(line_no) + " is not terminated";
      return false;
    }
    const std::string_view line = text.substr(at, nl - at);
    if (line.starts_with("crc32c ")) {
      std::uint32_t want = 0;
      if (!parse_num(line.substr(7), want, 16) || nl + 1 != text.size()) {
        why = "line " + std::to_string(line_no) + ": a bad checksum line";
        return false;
      }
      if (want != crc_of(text.substr(0, at))) {
        why = "checksum mismatch (the file was changed or damaged)";
        return false;
      }
      return true;
    }
    const std::size_t sp = line.find(' ');
    std::uint32_t p = 0;
    std::int64_t o = 0;
    if (sp == std::string_view::npos || !parse_num(line.substr(0, sp), p) ||
        !parse_num(line.substr(sp + 1), o) || o < 0) {
      why = "line " + std::to_string(line_no) + " is not \"partition offset\"";
      return false;
    }
    if (p >= partitions || committed[p] >= 0) {
      why = "line " + std::to_string(line_no) + ": partition " + std::to_string(p) +
            (p >= partitions ? " does not exist" : " appears twice");
      return false;
    }
    committed[p] = o;
    at = nl + 1;
  }
  return true;  // the format before the checksum line: every line was well formed
}

file_status store_group_offsets(const std::filesystem::path& topic_dir, std::string_view group,
                                const std::vector<std::int64_t>& committed) {
  if (group.empty() || group.size() > max_group_name_size) {
    return {errc::invalid_group, "group name of " + std::to_string(group.size()) + " bytes: 1 to " +
                                     std::to_string(max_group_name_size)};
  }
  const std::filesystem::path dir = topic_dir / "offsets";
  if (file_status made = make_dir(dir); !made) return made;
  const std::string text = encode_group_offsets(committed);
  return write_file_atomically(dir, hex_of(group),
                               {reinterpret_cast<const std::byte*>(text.data()), text.size()});
}

file_status load_group_offsets(const std::filesystem::path& topic_dir, std::uint32_t partitions,
                               bool set_aside, std::vector<group_offsets>& out,
                               std::vector<std::string>& damaged) {
  const std::filesystem::path dir = topic_dir / "offsets";
  if (!exists_nofollow(dir)) return {};
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return status_of_errno(dir, errno);
  std::vector<std::string> names;
  while (const dirent* ent = ::readdir(d)) {
    const std::string_view n = ent->d_name;
    if (n == "." || n == ".." || n.ends_with(".tmp") || n.find(".damaged-") != n.npos) continue;
    names.emplace_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::filesystem::path file = dir / name;
    group_offsets g;
    std::vector<std::byte> bytes;
    std::string why;
    if (!unhex(name, g.group)) {
      why = "its name is not a group name in hex";
    } else if (file_status rd = read_small_file(file, std::uint64_t{64} * partitions + 4096, bytes);
               !rd) {
      if (rd.what.find("symbolic link") != std::string::npos) return rd;
      why = rd.what;
    } else if (!decode_group_offsets({reinterpret_cast<const char*>(bytes.data()), bytes.size()},
                                     partitions, g.committed, why)) {
    } else {
      out.push_back(std::move(g));
      continue;
    }
    const std::string what = "group offsets file " + file.string() + " is damaged: " + why;
    if (!set_aside)
      return {errc::corrupt_log, what +
                                     " (fix or remove it; with "
                                     "quarantine_on_damage it is set aside)"};
    const std::filesystem::path aside = file.string() + ".damaged-" + std::to_string(realtime_ns());
    if (::rename(file.c_str(), aside.c_str()) != 0) return status_of_errno(file, errno);
    (void)fsync_dir(dir);
    damaged.push_back(what + "; set aside as " + aside.string() +
                      ": the group starts again by its reset policy");
  }
  return {};
}

}  // namespace lanes::io
