// The CSV importer (daemon/records/transfer.cpp: POST /api/v1/import) on a
// real encrypted store: each input is imported inside a transaction that is
// rolled back, so every run starts from the same (empty) store and a crash
// reproduces from its input alone.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "records/records.h"
#include "fuzz_store.h"
#include "store/store.h"

using namespace privstack;

namespace {

store::Store& csv_store() {
  static store::Store& store = [] () -> store::Store& {
    store::Store& s = *fuzz::fuzz_store().store;
    records::Repository::migrate(s);
    return s;
  }();
  return store;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto report = csv_store().write([&](store::Connection& c) {
    store::Transaction rollback(c);  // never committed
    return records::import_csv(c, text);
  });
  // A report never lists more errors than it counts, nor more than the cap.
  if (report.errors.size() > records::kMaxImportErrors ||
      static_cast<std::int64_t>(report.errors.size()) > report.error_count || (report.ok && report.error_count != 0)) {
    std::abort();
  }
  report.to_json();
  report.describe_errors();
  return 0;
}
