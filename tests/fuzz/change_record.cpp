// The change record decoder (daemon/store/changes.cpp): a record comes back
// from a bucket or a spool that may be damaged, so any input may only ever
// decode (and then re-encode to the same bytes) or be refused with
// Error(integrity_failed).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "core/error.h"
#include "store/changes.h"

using namespace privstack;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> bytes(data, size);
  try {
    store::ChangeRecord record = store::decode_change_record(bytes);
    store::Blob again = store::encode_change_record(record);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::integrity_failed) std::abort();
  }
  return 0;
}
