// Memory for wallet secrets (seed, mnemonic, private keys, chain codes).
//
// A LockedBuffer owns whole pages from an anonymous private mapping that is
//  - locked into RAM with mlock() (never written to swap), best effort: when
//    RLIMIT_MEMLOCK is exhausted or mlock is filtered, the buffer still works
//    and locked() reports false (the daemon logs this once at start);
//  - excluded from core dumps with madvise(MADV_DONTDUMP) and from a child's
//    address space with MADV_DONTFORK;
//  - wiped with cleanse() (core/crypto.h, OPENSSL_cleanse) before it is unmapped.
// Not copyable; movable. The bytes are reachable through data()/view() only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace privstack::wallet {

class LockedBuffer {
 public:
  LockedBuffer() = default;
  // A buffer of `size` zero bytes (capacity rounded up to whole pages).
  explicit LockedBuffer(std::size_t size);
  // A buffer holding a copy of `bytes`.
  static LockedBuffer copy_of(std::span<const std::uint8_t> bytes);
  static LockedBuffer copy_of(std::string_view text);
  ~LockedBuffer();
  LockedBuffer(LockedBuffer&& other) noexcept;
  LockedBuffer& operator=(LockedBuffer&& other) noexcept;
  LockedBuffer(const LockedBuffer&) = delete;
  LockedBuffer& operator=(const LockedBuffer&) = delete;

  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  std::span<std::uint8_t> bytes() { return {data_, size_}; }
  std::span<const std::uint8_t> bytes() const { return {data_, size_}; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }

  // Changes the size within the capacity (growing exposes zero bytes, shrinking
  // wipes the cut-off tail). Throws std::length_error beyond the capacity.
  void resize(std::size_t size);
  // Appends within the capacity; throws std::length_error when full.
  void append(std::span<const std::uint8_t> bytes);
  void append(std::string_view text);

  bool locked() const { return locked_; }
  // Wipes and releases now (the destructor does the same).
  void reset() noexcept;

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  std::size_t mapped_ = 0;
  bool locked_ = false;
};

// Marks the whole process non-dumpable (prctl PR_SET_DUMPABLE 0): no core
// dump and no ptrace attach by the same user. Called by the daemon before the
// wallet is first unlocked. Returns false if the call failed.
bool disable_core_dumps() noexcept;

}  // namespace privstack::wallet
