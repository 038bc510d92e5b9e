// Writes the seed files that cannot be typed by hand into the corpus
// directories (run from the repository's top directory after
// `scripts/build fuzz`):   build/fuzz/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus
//   backup_archive/: archives for the fuzz test recovery key (fuzz_keys.h)
//   credential/:     signed batches of credential files, as the offline
//                    verifier receives them (docs/credential-format.md)
#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "backup/archive.h"
#include "fuzz_keys.h"
#include "wallet/credential.h"
// Shared with the verifier's unit tests.
#include "../unit/wallet/test_batch.h"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace privstack;
using namespace privstack::wallet::credential;

namespace {

void write_file(const fs::path& path, std::string_view bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void write_archive(const fs::path& path, const std::string& payload) {
  std::string out;
  backup::ArchiveMetadata meta;
  meta.created_unix = 1767225600;
  meta.created_ms = meta.created_unix * 1000;
  meta.source_host = "seed";
  meta.schema_version = 1;
  meta.row_counts = {{"records_recipients", 2}};
  backup::WriterOptions options;
  options.chunk_size = backup::kMinChunkSize;
  backup::ArchiveWriter w([&](std::span<const std::uint8_t> b) { out.append(reinterpret_cast<const char*>(b.data()), b.size()); },
                          fuzz::archive_public_key(), meta, options);
  w.write(payload);
  w.finish();
  write_file(path, out);
}

// A batch of `n` credential files signed with fuzz::credential_signing_key().
std::vector<std::string> credential_batch(int n) {
  std::vector<std::string> files;
  for (const auto& file : test_batch::make_batch(n, fuzz::credential_signing_key())) files.push_back(json::serialize(file));
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds CORPUS_DIR\n");
    return 2;
  }
  fs::path corpus = argv[1];
  write_archive(corpus / "backup_archive" / "small.psb", "CREATE TABLE t(x);\nINSERT INTO t VALUES(1);\n");
  write_archive(corpus / "backup_archive" / "empty.psb", "");
  std::string big;
  for (int i = 0; big.size() < 3 * backup::kMinChunkSize; ++i) big += "INSERT INTO t VALUES(" + std::to_string(i * 7919) + ");\n";
  write_archive(corpus / "backup_archive" / "three-chunks.psb", big);
  auto files = credential_batch(3);
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (!verify_text(files[i]).valid) return 1;
    write_file(corpus / "credential" / ("valid-" + std::to_string(i) + ".json"), files[i]);
  }
  write_file(corpus / "credential" / "single.json", credential_batch(1)[0]);
  return 0;
}
