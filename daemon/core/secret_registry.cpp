#include "core/secret_registry.h"

#include <algorithm>
#include <mutex>
#include <vector>

namespace privstack::detail {
namespace {

struct Entry {
  const char* data;
  std::size_t size;
};

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::vector<Entry>& registry() {
  static std::vector<Entry> entries;
  return entries;
}

constexpr std::size_t kMinRedactedLength = 4;

}  // namespace

void register_secret(const char* data, std::size_t size) {
  if (size < kMinRedactedLength) return;
  std::lock_guard lock(registry_mutex());
  registry().push_back({data, size});
}

void unregister_secret(const char* data) {
  std::lock_guard lock(registry_mutex());
  auto& entries = registry();
  entries.erase(std::remove_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.data == data; }),
                entries.end());
}

std::string redact_live_secrets(std::string_view text) {
  std::string out(text);
  std::lock_guard lock(registry_mutex());
  // Longest first, so a secret that contains another is redacted whole.
  std::vector<Entry> entries = registry();
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.size > b.size; });
  for (const Entry& e : entries) {
    std::string_view needle(e.data, e.size);
    for (std::size_t pos = out.find(needle); pos != std::string::npos; pos = out.find(needle, pos)) {
      out.replace(pos, needle.size(), "[REDACTED]");
      pos += 10;
    }
  }
  return out;
}

}  // namespace privstack::detail
