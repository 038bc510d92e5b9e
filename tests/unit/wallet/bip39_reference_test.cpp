// Compares 1,000 random mnemonics and seeds against Debian's python3-mnemonic
// (the reference implementation by the BIP39 authors).
#include <gtest/gtest.h>
#include <stdio.h>

#include <sstream>
#include <string>
#include <vector>

#include "core/encoding.h"
#include "wallet/bip39.h"

namespace {

using namespace privstack::wallet;

std::string hex(std::span<const std::uint8_t> b) { return privstack::hex_encode(b); }
std::string unhex(std::string_view h) {
  const auto bytes = privstack::hex_decode(h).value();
  return std::string(bytes.begin(), bytes.end());
}

TEST(Bip39Reference, ThousandRandomMnemonicsMatchPythonMnemonic) {
  const std::string cmd = std::string("/usr/bin/python3 ") + PRIVSTACK_SOURCE_DIR +
                          "/tests/unit/wallet/mnemonic_reference.py 1000 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  ASSERT_EQ(status, 0) << "python3-mnemonic missing? (scripts/setup installs it)\n" << out;
  std::istringstream lines(out);
  std::string line;
  int checked = 0;
  while (std::getline(lines, line)) {
    std::vector<std::string> f;
    std::istringstream fields(line);
    std::string x;
    while (std::getline(fields, x, '\t')) f.push_back(x);
    ASSERT_EQ(f.size(), 4u) << line;
    const std::string entropy = unhex(f[0]);
    const std::string passphrase = unhex(f[1]);
    const auto words = bip39::entropy_to_mnemonic(
        std::span(reinterpret_cast<const std::uint8_t*>(entropy.data()), entropy.size()));
    ASSERT_EQ(words.view(), f[2]);
    ASSERT_EQ(hex(bip39::mnemonic_to_entropy(f[2]).bytes()), f[0]);
    ASSERT_EQ(hex(bip39::mnemonic_to_seed(f[2], passphrase).bytes()), f[3]) << "passphrase " << f[1];
    ++checked;
  }
  EXPECT_EQ(checked, 1000);
}

}  // namespace
