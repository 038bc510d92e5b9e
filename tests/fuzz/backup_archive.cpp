// The backup archive reader (daemon/backup/archive.cpp, restore.cpp) on
// hostile archives: the keyless header read and structure check that
// `backup verify` runs, and the full authenticated read with a fixed test
// recovery key (fuzz_keys.h; make_seeds.cpp wrote corpus/backup_archive for it, so
// mutations that keep the header reach the key unwrap and chunk
// authentication). Any defect must be an ArchiveError.
//
// An input whose first byte is 0 is a payload instead: the rest is written
// into a valid archive for the test key (64 KiB chunks, so larger inputs
// span several) and must read back byte for byte.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "backup/archive.h"
#include "backup/restore.h"
#include "fuzz_keys.h"

using namespace privstack;
using namespace privstack::backup;

namespace {

// Reads the whole payload; false when the reader refused the archive.
bool read_all(std::span<const std::uint8_t> archive, std::vector<std::uint8_t>* payload) {
  try {
    ArchiveReader reader(memory_source(archive), fuzz::archive_private_key());
    std::vector<std::uint8_t> buffer(16 * 1024);
    while (std::size_t n = reader.read(buffer)) {
      if (payload) payload->insert(payload->end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
    }
    reader.trailer();
    return true;
  } catch (const ArchiveError&) {
    return false;
  }
}

void hostile_archive(std::span<const std::uint8_t> bytes) {
  try {
    read_archive_header(memory_source(bytes));
  } catch (const ArchiveError&) {
  }
  try {
    to_json(verify_archive_structure(memory_source(bytes)));
  } catch (const ArchiveError&) {
  }
  read_all(bytes, nullptr);
}

void round_trip(std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> archive;
  ArchiveMetadata meta;
  meta.created_unix = 1700000000;
  meta.source_host = "fuzz";
  WriterOptions options;
  options.chunk_size = kMinChunkSize;
  ArchiveWriter writer([&](std::span<const std::uint8_t> b) { archive.insert(archive.end(), b.begin(), b.end()); },
                       fuzz::archive_public_key(), meta, options);
  writer.write(payload);
  writer.finish();
  std::vector<std::uint8_t> back;
  if (!read_all(archive, &back)) std::abort();
  if (back.size() != payload.size() || !std::equal(back.begin(), back.end(), payload.begin())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> bytes(data, size);
  if (size > 0 && data[0] == 0) {
    round_trip(bytes.subspan(1));
  } else {
    hostile_archive(bytes);
  }
  return 0;
}
