// BIP39 mnemonic sentences (English word list only).
//
// The word list is daemon/wallet/bip39_english.txt, a verbatim copy of the
// official list (bitcoin/bips bip-0039/english.txt, as shipped by Debian's
// python3-mnemonic); CMake refuses to configure unless its SHA-256 is
// 2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda, and the
// list is compiled in as a string literal.
//
// Everything secret (entropy, mnemonic, seed) lives in LockedBuffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "wallet/locked_memory.h"

namespace privstack::wallet::bip39 {

inline constexpr std::string_view kEnglishSha256 =
    "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda";

// A malformed mnemonic or passphrase. what() is safe to show the user: it
// names the position of a bad word but never echoes a word that is in the list.
class Bip39Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The 2048 words, in order.
std::string_view word(std::size_t index);
// Index of `w` in the list, or -1.
int word_index(std::string_view w);
// The list as the file has it ("abandon\n...zoo\n"), for the hash check.
std::string_view english_list_text();

// 128..256 bits of entropy (16, 20, 24, 28 or 32 bytes) from the kernel
// CSPRNG (getrandom).
LockedBuffer generate_entropy(std::size_t bytes = 32);

// entropy || first ENT/32 bits of SHA-256(entropy), split into 11-bit words.
// Throws Bip39Error for an entropy length other than 16..32 in steps of 4.
LockedBuffer entropy_to_mnemonic(std::span<const std::uint8_t> entropy);

// Words separated by single spaces, lower case: collapses runs of ASCII
// whitespace and lower-cases ASCII letters. Throws Bip39Error on non-ASCII.
LockedBuffer normalize_mnemonic(std::string_view mnemonic);

// Checks word count (12, 15, 18, 21, 24), every word and the checksum; returns
// the entropy. Throws Bip39Error("word 7 is not in the BIP39 English word
// list"), ("a mnemonic has 12, 15, 18, 21 or 24 words, not 11"),
// ("checksum mismatch: ...").
LockedBuffer mnemonic_to_entropy(std::string_view mnemonic);

// PBKDF2-HMAC-SHA512(password = mnemonic, salt = "mnemonic" + passphrase,
// 2048 iterations, 64 bytes). The mnemonic is normalized first; it is not
// validated (BIP39 allows seeds from any sentence; callers validate). The
// passphrase must be ASCII (for which NFKD is the identity); otherwise
// Bip39Error, since without Unicode normalization other wallets could derive
// a different seed from the "same" passphrase.
LockedBuffer mnemonic_to_seed(std::string_view mnemonic, std::string_view passphrase);

}  // namespace privstack::wallet::bip39
