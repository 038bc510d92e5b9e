// The offline credential verifier (daemon/wallet/credential.cpp), the one
// piece of the wallet that reads files from outside: verify_text() turns
// every defect into a failed check, never an exception or a crash, and a
// file it calls valid has passed every check it ran.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "wallet/credential.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto v = privstack::wallet::credential::verify_text(text);
  if (v.valid) {
    if (!v.error.empty() || v.checks.empty()) std::abort();
    for (const auto& [name, passed] : v.checks) {
      if (!passed) std::abort();
    }
  } else if (v.error.empty()) {
    std::abort();
  }
  v.to_json();
  return 0;
}
