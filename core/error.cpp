#include "lanes/error.hpp"

namespace lanes {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "lanes"; }

  std::string message(int v) const override {
    switch (static_cast<errc>(v)) {
      case errc::ok: return "success";
      case errc::full:
        return "ring is full: the slowest reader has not released enough space; retry, wait, "
               "or give the ring more capacity";
      case errc::empty: return "nothing to read yet; poll again or wait";
      case errc::timeout: return "the wait timed out before the operation could complete";
      case errc::closed: return "the object is closed and accepts no more operations";
      case errc::capacity_not_power_of_two:
        return "capacity must be a power of two (e.g. 1024, 65536); round it up";
      case errc::capacity_too_small:
        return "capacity is below the minimum for this structure; see its documentation";
      case errc::capacity_too_large:
        return "capacity is above the maximum for this structure; use more partitions instead";
      case errc::frame_too_large:
        return "frame does not fit in the ring (payload + 8-byte header must be at most "
               "capacity / 2); raise the ring capacity or split the message";
      case errc::too_many_readers:
        return "all reader slots of the ring are taken; close an unused reader or raise "
               "max_readers when creating the ring";
      case errc::invalid_argument: return "invalid argument; check the documented contract";
      case errc::invalid_partition:
        return "partition index is out of range; it must be below the partition count";
      case errc::no_partitions: return "partition count must be at least 1";
    }
    return "unknown lanes error " + std::to_string(v);
  }
};

}  // namespace

const std::error_category& lanes_category() noexcept {
  static const category c;
  return c;
}

const char* to_string(errc e) noexcept {
  switch (e) {
    case errc::ok: return "ok";
    case errc::full: return "full";
    case errc::empty: return "empty";
    case errc::timeout: return "timeout";
    case errc::closed: return "closed";
    case errc::capacity_not_power_of_two: return "capacity_not_power_of_two";
    case errc::capacity_too_small: return "capacity_too_small";
    case errc::capacity_too_large: return "capacity_too_large";
    case errc::frame_too_large: return "frame_too_large";
    case errc::too_many_readers: return "too_many_readers";
    case errc::invalid_argument: return "invalid_argument";
    case errc::invalid_partition: return "invalid_partition";
    case errc::no_partitions: return "no_partitions";
  }
  return "unknown";
}

}  // namespace lanes
