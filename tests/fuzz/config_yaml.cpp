// The YAML configuration loader (daemon/core/config.cpp) on hostile text:
// parse_config() promises never to throw for bad input, only to report
// problems, and a Config only when there are none.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  privstack::ConfigResult result = privstack::parse_config(text, "fuzz.yaml");
  if (result.config.has_value() != result.problems.empty()) std::abort();
  return 0;
}
