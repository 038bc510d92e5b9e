#include "wallet/bip39.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/crypto.h"

namespace privstack::wallet::bip39 {

namespace {

constexpr std::string_view kListText =
#include "bip39_english.inc"
    ;

struct WordList {
  std::array<std::string_view, 2048> words{};
  std::size_t count = 0;
  WordList() {
    std::size_t pos = 0;
    while (pos < kListText.size() && count < words.size()) {
      const std::size_t nl = kListText.find('\n', pos);
      const std::size_t end = nl == std::string_view::npos ? kListText.size() : nl;
      if (end > pos) words[count++] = kListText.substr(pos, end - pos);
      pos = end + 1;
    }
    if (count != 2048) throw std::logic_error("bip39: bundled word list does not have 2048 words");
  }
};

const WordList& list() {
  static const WordList l;
  return l;
}

bool valid_entropy_size(std::size_t n) { return n >= 16 && n <= 32 && n % 4 == 0; }

}  // namespace

std::string_view english_list_text() { return kListText; }

std::string_view word(std::size_t index) {
  if (index >= 2048) throw std::out_of_range("bip39 word index");
  return list().words[index];
}

int word_index(std::string_view w) {
  const auto& words = list().words;
  // The list is sorted (ASCII): binary search.
  std::size_t lo = 0, hi = words.size();
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    const int c = words[mid].compare(w);
    if (c == 0) return static_cast<int>(mid);
    if (c < 0) lo = mid + 1; else hi = mid;
  }
  return -1;
}

LockedBuffer generate_entropy(std::size_t bytes) {
  if (!valid_entropy_size(bytes)) throw Bip39Error("entropy must be 16, 20, 24, 28 or 32 bytes");
  LockedBuffer out(bytes);
  std::size_t got = 0;
  while (got < bytes) {
    const ssize_t n = ::getrandom(out.data() + got, bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("getrandom failed: ") + std::strerror(errno));
    }
    got += static_cast<std::size_t>(n);
  }
  return out;
}

LockedBuffer entropy_to_mnemonic(std::span<const std::uint8_t> entropy) {
  if (!valid_entropy_size(entropy.size())) throw Bip39Error("entropy must be 16, 20, 24, 28 or 32 bytes");
  LockedBuffer bits(entropy.size() + 1);
  std::memcpy(bits.data(), entropy.data(), entropy.size());
  std::uint8_t hash[SHA256_DIGEST_LENGTH];
  SHA256(entropy.data(), entropy.size(), hash);
  bits.data()[entropy.size()] = hash[0];  // at most 8 checksum bits are used
  cleanse(hash, sizeof hash);
  const std::size_t total_bits = entropy.size() * 8 + entropy.size() * 8 / 32;
  const std::size_t words = total_bits / 11;
  LockedBuffer out(words * 9);  // longest English word: 8 letters + separator
  out.resize(0);
  for (std::size_t w = 0; w < words; ++w) {
    unsigned index = 0;
    for (std::size_t b = 0; b < 11; ++b) {
      const std::size_t bit = w * 11 + b;
      index = (index << 1) | ((bits.data()[bit / 8] >> (7 - bit % 8)) & 1u);
    }
    if (w > 0) out.append(" ");
    out.append(word(index));
  }
  return out;
}

LockedBuffer normalize_mnemonic(std::string_view mnemonic) {
  LockedBuffer out(mnemonic.size());
  out.resize(0);
  bool pending_space = false;
  for (char ch : mnemonic) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80) throw Bip39Error("the mnemonic contains a non-ASCII character; English BIP39 words are ASCII");
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      pending_space = out.size() > 0;
      continue;
    }
    if (pending_space) {
      out.append(" ");
      pending_space = false;
    }
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
    out.append(std::string_view(&lower, 1));
  }
  return out;
}

LockedBuffer mnemonic_to_entropy(std::string_view mnemonic) {
  const LockedBuffer norm = normalize_mnemonic(mnemonic);
  const std::string_view text = norm.view();
  std::vector<std::string_view> words;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t sp = text.find(' ', pos);
    if (sp == std::string_view::npos) sp = text.size();
    words.push_back(text.substr(pos, sp - pos));
    pos = sp + 1;
  }
  const std::size_t n = words.size();
  if (n < 12 || n > 24 || n % 3 != 0) {
    throw Bip39Error("a mnemonic has 12, 15, 18, 21 or 24 words, not " + std::to_string(n));
  }
  const std::size_t total_bits = n * 11;
  const std::size_t checksum_bits = total_bits / 33;
  const std::size_t entropy_bytes = (total_bits - checksum_bits) / 8;
  LockedBuffer bits((total_bits + 7) / 8);
  for (std::size_t w = 0; w < n; ++w) {
    const int index = word_index(words[w]);
    if (index < 0) {
      throw Bip39Error("word " + std::to_string(w + 1) + " is not in the BIP39 English word list");
    }
    for (std::size_t b = 0; b < 11; ++b) {
      if ((static_cast<unsigned>(index) >> (10 - b)) & 1u) {
        const std::size_t bit = w * 11 + b;
        bits.data()[bit / 8] = static_cast<std::uint8_t>(bits.data()[bit / 8] | (0x80u >> (bit % 8)));
      }
    }
  }
  LockedBuffer entropy = LockedBuffer::copy_of(bits.bytes().first(entropy_bytes));
  std::uint8_t hash[SHA256_DIGEST_LENGTH];
  SHA256(entropy.data(), entropy.size(), hash);
  const unsigned mask = (0xffu << (8 - checksum_bits)) & 0xffu;
  const unsigned expected = hash[0] & mask;
  const unsigned actual = bits.data()[entropy_bytes] & mask;
  cleanse(hash, sizeof hash);
  if (expected != actual) {
    throw Bip39Error("checksum mismatch: the words are all valid but the last word does not match the others "
                     "(a word is wrong or the order is not the original one)");
  }
  return entropy;
}

LockedBuffer mnemonic_to_seed(std::string_view mnemonic, std::string_view passphrase) {
  for (char ch : passphrase) {
    if (static_cast<unsigned char>(ch) >= 0x80) {
      throw Bip39Error("the BIP39 passphrase must be ASCII (non-ASCII text needs Unicode NFKD normalization)");
    }
  }
  const LockedBuffer norm = normalize_mnemonic(mnemonic);
  LockedBuffer salt(8 + passphrase.size());
  salt.resize(0);
  salt.append("mnemonic");
  salt.append(passphrase);
  LockedBuffer seed(64);
  if (PKCS5_PBKDF2_HMAC(reinterpret_cast<const char*>(norm.data()), static_cast<int>(norm.size()), salt.data(),
                        static_cast<int>(salt.size()), 2048, EVP_sha512(), 64, seed.data()) != 1) {
    throw std::runtime_error("PBKDF2-HMAC-SHA512 failed");
  }
  return seed;
}

}  // namespace privstack::wallet::bip39
