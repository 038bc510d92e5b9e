// Internal: the set of live secret values, used by the log redactor.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace privstack::detail {

void register_secret(const char* data, std::size_t size);
void unregister_secret(const char* data);
// Replaces every live secret value (of at least 4 bytes; shorter ones would
// redact ordinary words) found in `text`.
std::string redact_live_secrets(std::string_view text);

}  // namespace privstack::detail
