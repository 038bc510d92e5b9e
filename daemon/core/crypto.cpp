#include "core/crypto.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <climits>
#include <stdexcept>

#include "core/encoding.h"

namespace privstack {

void random_fill(void* out, std::size_t n) {
  auto* p = static_cast<unsigned char*>(out);
  while (n > 0) {
    const int chunk = n > INT_MAX ? INT_MAX : static_cast<int>(n);
    if (RAND_bytes(p, chunk) != 1) throw std::runtime_error("the system random number generator failed");
    p += chunk;
    n -= static_cast<std::size_t>(chunk);
  }
}

std::vector<std::uint8_t> random_bytes(std::size_t n) {
  std::vector<std::uint8_t> out(n);
  random_fill(out.data(), n);
  return out;
}

std::string random_hex(std::size_t n) {
  auto bytes = random_bytes(n);
  std::string out = hex_encode(bytes);
  cleanse(bytes);
  return out;
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool constant_time_equals(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void cleanse(void* data, std::size_t size) noexcept {
  if (data != nullptr && size > 0) OPENSSL_cleanse(data, size);
}

void cleanse(std::string& s) noexcept { cleanse(s.data(), s.size()); }

}  // namespace privstack
