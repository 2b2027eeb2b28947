// tests/core/aligned_buffer_test.cpp: ring storage: heap or a mapping of its own, huge-page
// hint from 2 MiB on, lazily resident until populate() (checked with mincore and
// /proc/self/smaps, what the kernel itself reports).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <lanes/detail_aligned.hpp>

namespace {

using lanes::detail::aligned_buffer;

std::size_t page() { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

// Pages of [p, p + n) that are resident now (n a multiple of the page size, p page aligned).
std::size_t resident_pages(const std::byte* p, std::size_t n) {
  std::vector<unsigned char> v(n / page());
  if (::mincore(const_cast<std::byte*>(p), n, v.data()) != 0) {
    ADD_FAILURE() << "mincore failed";
    return 0;
  }
  std::size_t r = 0;
  for (unsigned char c : v) r += c & 1u;
  return r;
}

// The VmFlags line of the mapping of /proc/self/smaps that contains p ("" if none).
std::string vm_flags_of(const void* p) {
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > 8) {
      inside = at >= lo && at < hi;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return {};
}

TEST(AlignedBuffer, SmallBuffersComeFromTheHeapCacheLineAligned) {
  aligned_buffer b(4096);
  EXPECT_FALSE(b.mapped());
  EXPECT_FALSE(b.huge_page_hint());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % lanes::cache_line_size, 0u);
  EXPECT_EQ(b.size(), 4096u);
  b.populate();
  for (std::size_t i = 0; i < b.size(); ++i) ASSERT_EQ(b.data()[i], std::byte{0}) << i;
}

TEST(AlignedBuffer, LargeBuffersAreMappedLazilyAndPopulateMakesThemResident) {
  const std::size_t n = std::size_t{1} << 20;  // below a huge page: 4 KiB pages
  aligned_buffer b(n);
  ASSERT_TRUE(b.mapped());
  EXPECT_FALSE(b.huge_page_hint());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % page(), 0u);
  EXPECT_EQ(resident_pages(b.data(), n), 0u) << "nothing touched yet";
  b.data()[0] = std::byte{1};
  EXPECT_EQ(resident_pages(b.data(), n), 1u);
  b.populate();
  EXPECT_EQ(resident_pages(b.data(), n), n / page());
  EXPECT_EQ(b.data()[0], std::byte{1}) << "populate keeps what was written";
  EXPECT_EQ(b.data()[n - 1], std::byte{0});
}

TEST(AlignedBuffer, BuffersOfAHugePageOrMoreAreAlignedToItAndAskForHugePages) {
  const std::size_t n = std::size_t{4} << 20;
  aligned_buffer b(n);
  ASSERT_TRUE(b.mapped());
  ASSERT_TRUE(b.huge_page_hint());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % (std::size_t{2} << 20), 0u);
  // MADV_HUGEPAGE shows as "hg" in the mapping's flags, whatever the THP setting is.
  const std::string flags = vm_flags_of(b.data());
  ASSERT_FALSE(flags.empty()) << "no mapping in /proc/self/smaps holds the buffer";
  EXPECT_NE((flags + " ").find(" hg "), std::string::npos) << flags;
  b.populate();
  EXPECT_EQ(resident_pages(b.data(), n), n / page());
  b.data()[n - 1] = std::byte{7};
  EXPECT_EQ(b.data()[n - 1], std::byte{7});
}

}  // namespace
