// lanes/group_offsets_file.hpp: the committed offsets of one consumer group of one topic,
// <data_dir>/<topic>/offsets/<group name in hex> (io/FORMAT.md, "Group offsets").
//
// Text, one "partition offset" line per partition the group committed, then a last line
// "crc32c XXXXXXXX" over every byte before it. A file is replaced whole and atomically
// (write_file_atomically), so anything that does not decode is damage, never a torn write:
// a missing or wrong checksum line, a line that is not two numbers, a partition out of
// range or twice. Files written before the checksum line existed (no "crc32c" line) are
// read when every line is well formed.
//
// Threads: any; cold paths (allocate, never throw).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "lanes/file_io.hpp"

namespace lanes::io {

// Longest group name whose file name (hex, plus ".tmp" while written) fits NAME_MAX (255).
inline constexpr std::size_t max_group_name_size = 125;

struct group_offsets {
  std::string group;
  std::vector<std::int64_t> committed;  // per partition; -1: nothing committed
};

std::string encode_group_offsets(const std::vector<std::int64_t>& committed);
// false with `why` (line number and what is wrong) when the text does not decode.
bool decode_group_offsets(std::string_view text, std::uint32_t partitions,
                          std::vector<std::int64_t>& committed, std::string& why);

// Writes one group's file (creating <topic_dir>/offsets when missing).
file_status store_group_offsets(const std::filesystem::path& topic_dir, std::string_view group,
                                const std::vector<std::int64_t>& committed);

// Reads every group's file. A file that does not decode is an error naming it (corrupt_log),
// unless `set_aside`: then it is renamed to <file>.damaged-<ns> for a person, listed in
// `damaged` (one sentence each), and that group starts over by its reset policy.
file_status load_group_offsets(const std::filesystem::path& topic_dir, std::uint32_t partitions,
                               bool set_aside, std::vector<group_offsets>& out,
                               std::vector<std::string>& damaged);

}  // namespace lanes::io
