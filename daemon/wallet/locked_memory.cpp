#include "wallet/locked_memory.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstring>
#include <new>
#include <stdexcept>

#include "core/crypto.h"

namespace privstack::wallet {

namespace {
std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}
}  // namespace

LockedBuffer::LockedBuffer(std::size_t size) {
  const std::size_t page = page_size();
  const std::size_t mapped = size == 0 ? page : (size + page - 1) / page * page;
  void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  // Before anything is written: out of core dumps and forked children.
  (void)::madvise(p, mapped, MADV_DONTDUMP);
  (void)::madvise(p, mapped, MADV_DONTFORK);
  locked_ = ::mlock(p, mapped) == 0;
  data_ = static_cast<std::uint8_t*>(p);
  mapped_ = mapped;
  capacity_ = mapped;
  size_ = size;
}

LockedBuffer LockedBuffer::copy_of(std::span<const std::uint8_t> bytes) {
  LockedBuffer b(bytes.size());
  if (!bytes.empty()) std::memcpy(b.data_, bytes.data(), bytes.size());
  return b;
}

LockedBuffer LockedBuffer::copy_of(std::string_view text) {
  return copy_of(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

LockedBuffer::~LockedBuffer() { reset(); }

LockedBuffer::LockedBuffer(LockedBuffer&& o) noexcept
    : data_(o.data_), size_(o.size_), capacity_(o.capacity_), mapped_(o.mapped_), locked_(o.locked_) {
  o.data_ = nullptr;
  o.size_ = o.capacity_ = o.mapped_ = 0;
  o.locked_ = false;
}

LockedBuffer& LockedBuffer::operator=(LockedBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    data_ = o.data_;
    size_ = o.size_;
    capacity_ = o.capacity_;
    mapped_ = o.mapped_;
    locked_ = o.locked_;
    o.data_ = nullptr;
    o.size_ = o.capacity_ = o.mapped_ = 0;
    o.locked_ = false;
  }
  return *this;
}

void LockedBuffer::resize(std::size_t size) {
  if (size > capacity_) throw std::length_error("LockedBuffer: size beyond capacity");
  if (size < size_) cleanse(data_ + size, size_ - size);
  size_ = size;
}

void LockedBuffer::append(std::span<const std::uint8_t> bytes) {
  if (bytes.size() > capacity_ - size_) throw std::length_error("LockedBuffer: append beyond capacity");
  if (!bytes.empty()) std::memcpy(data_ + size_, bytes.data(), bytes.size());
  size_ += bytes.size();
}

void LockedBuffer::append(std::string_view text) {
  append(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

void LockedBuffer::reset() noexcept {
  if (data_ != nullptr) {
    cleanse(data_, mapped_);
    if (locked_) (void)::munlock(data_, mapped_);
    (void)::munmap(data_, mapped_);
  }
  data_ = nullptr;
  size_ = capacity_ = mapped_ = 0;
  locked_ = false;
}

bool disable_core_dumps() noexcept { return ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0; }

}  // namespace privstack::wallet
