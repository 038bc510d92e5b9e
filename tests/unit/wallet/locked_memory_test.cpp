#include "wallet/locked_memory.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "core/crypto.h"

namespace {

using privstack::wallet::LockedBuffer;

TEST(LockedMemory, HoldsBytesAndResizesWithinCapacity) {
  LockedBuffer b = LockedBuffer::copy_of(std::string_view("seed words"));
  EXPECT_EQ(b.view(), "seed words");
  EXPECT_GE(b.capacity(), static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)));
  b.append(std::string_view("!"));
  EXPECT_EQ(b.view(), "seed words!");
  b.resize(4);
  EXPECT_EQ(b.view(), "seed");
  b.resize(6);
  EXPECT_EQ(b.view(), std::string_view("seed\0\0", 6));  // the cut tail was wiped
  EXPECT_THROW(b.resize(b.capacity() + 1), std::length_error);
}

TEST(LockedMemory, MoveLeavesSourceEmpty) {
  LockedBuffer a = LockedBuffer::copy_of(std::string_view("k"));
  LockedBuffer b = std::move(a);
  EXPECT_EQ(b.view(), "k");
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(a.empty());
  b.reset();
  EXPECT_TRUE(b.empty());
}

// The mapping is marked dd (MADV_DONTDUMP) in /proc/self/smaps and is locked
// when RLIMIT_MEMLOCK allows it.
TEST(LockedMemory, ExcludedFromCoreDumps) {
  LockedBuffer b(32);
  char addr[32];
  std::snprintf(addr, sizeof addr, "%lx-", reinterpret_cast<unsigned long>(b.data()));
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_mapping = false, found = false;
  while (std::getline(smaps, line)) {
    if (line.rfind(addr, 0) == 0) {
      in_mapping = true;
    } else if (in_mapping && line.rfind("VmFlags:", 0) == 0) {
      EXPECT_NE(line.find(" dd"), std::string::npos) << line;
#ifndef __SANITIZE_ADDRESS__  // ASan's mlock interceptor is a no-op that returns 0
      if (b.locked()) {
        EXPECT_NE(line.find(" lo"), std::string::npos) << line;
      }
#endif
      found = true;
      break;
    }
  }
  EXPECT_TRUE(found) << "mapping " << addr << " not in smaps";
}

TEST(LockedMemory, ConstantTimeEqual) {
  const std::uint8_t a[] = {1, 2, 3}, b[] = {1, 2, 3}, c[] = {1, 2, 4};
  EXPECT_TRUE(privstack::constant_time_equals(a, b));
  EXPECT_FALSE(privstack::constant_time_equals(a, c));
  EXPECT_FALSE(privstack::constant_time_equals(std::span(a, 2), b));
}

}  // namespace
