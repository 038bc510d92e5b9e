// Small cryptographic basics shared by every module: randomness from
// OpenSSL's CSPRNG, constant-time comparison and wiping memory. For secret
// values with a lifetime (passwords, keys) use Secret (core/secret.h); its
// wipe(std::string&) also clears a string's spare capacity.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace privstack {

// `n` bytes from RAND_bytes; throws std::runtime_error when the generator
// fails (never degrades to a weaker source).
std::vector<std::uint8_t> random_bytes(std::size_t n);
// Fills `out` with `n` random bytes (for fixed buffers; throws like above).
void random_fill(void* out, std::size_t n);
// `n` random bytes as 2n lower-case hex digits.
std::string random_hex(std::size_t n);

// Equal contents, in time that depends only on the lengths (CRYPTO_memcmp).
// Strings of different lengths are unequal.
bool constant_time_equals(std::string_view a, std::string_view b);
bool constant_time_equals(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// An X25519 public key in the two forms the configuration takes it
// (backup.recovery_public_key): a PEM "PUBLIC KEY", or the base64 of its 32
// raw bytes (whitespace ignored). Returns the 32 raw bytes; throws
// std::invalid_argument with what is wrong, phrased to follow the value's
// name ("is not an X25519 key (it is EC)"). One parser for --check-config
// and the backup, so that they can never disagree.
std::vector<std::uint8_t> parse_x25519_public_key(std::string_view text);

// Overwrites memory with OPENSSL_cleanse (not optimised away).
void cleanse(void* data, std::size_t size) noexcept;
// Overwrites a string's characters (its size, not its capacity; see wipe()).
void cleanse(std::string& s) noexcept;
template <class T>
void cleanse(std::vector<T>& v) noexcept {
  cleanse(v.data(), v.size() * sizeof(T));
}

// Cleanses a string or vector when the scope ends, whether it returns or
// throws:  CleanseOnExit wipe_key{key};
template <class Buffer>
class CleanseOnExit {
 public:
  explicit CleanseOnExit(Buffer& buffer) noexcept : buffer_(buffer) {}
  ~CleanseOnExit() { cleanse(buffer_); }
  CleanseOnExit(const CleanseOnExit&) = delete;
  CleanseOnExit& operator=(const CleanseOnExit&) = delete;

 private:
  Buffer& buffer_;
};

}  // namespace privstack
