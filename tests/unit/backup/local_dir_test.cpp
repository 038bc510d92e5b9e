// The archives' names, the scan of backup.local_directory and the digest
// next to each archive (backup/local_dir.h).
#include "backup/local_dir.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace privstack::backup {
namespace {

namespace fs = std::filesystem;

class LocalDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/local-dir-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write_file(const std::string& name, const std::string& content) {
    std::ofstream out(dir_ / name, std::ios::binary);
    out << content;
  }
  // A real archive (its header is what the scan reads) named as the service names it.
  std::string write_archive(std::int64_t created_ms) {
    ArchiveMetadata m;
    m.created_unix = created_ms / 1000;
    m.created_ms = created_ms;
    m.source_host = "appliance-1";
    m.row_counts = {{"users", 2}};
    std::vector<std::uint8_t> bytes;
    ArchiveWriter w([&](std::span<const std::uint8_t> b) { bytes.insert(bytes.end(), b.begin(), b.end()); },
                    parse_recovery_public_key(generate_recovery_key().public_pem), m);
    w.write("INSERT INTO users VALUES(1);\n");
    w.finish();
    std::string id = archive_name(w.header());
    write_file(id + ".psbak", std::string(bytes.begin(), bytes.end()));
    return id;
  }

  fs::path dir_;
};

ArchiveHeader header_at(std::int64_t created_unix, std::string archive_id) {
  ArchiveHeader h;
  h.metadata.created_unix = created_unix;
  h.archive_id = std::move(archive_id);
  return h;
}

TEST(ArchiveNames, NameHoldsCreationTimeAndIdPrefixAndParsesBack) {
  ArchiveHeader h = header_at(1795381440, "0123456789abcdef0123456789abcdef");  // 2026-11-22T21:04:00Z
  std::string id = archive_name(h);
  EXPECT_EQ(id, "20261122T210400Z-01234567");
  EXPECT_TRUE(is_archive_name(id + std::string(kSuffix)));
  EXPECT_EQ(parse_stamp(std::string_view(id).substr(0, 16)), 1795381440);
  EXPECT_EQ(parse_stamp("19700101T000000Z"), 0);
}

TEST(ArchiveNames, MalformedStampsAreRefused) {
  EXPECT_EQ(parse_stamp(""), std::nullopt);
  EXPECT_EQ(parse_stamp("20261122T210400"), std::nullopt);     // no Z
  EXPECT_EQ(parse_stamp("20261122T210400ZZ"), std::nullopt);   // 17 characters
  EXPECT_EQ(parse_stamp("20261122 210400Z"), std::nullopt);    // no T
  EXPECT_EQ(parse_stamp("2026112xT210400Z"), std::nullopt);    // not a date
  EXPECT_EQ(parse_stamp("backup-notes.txt"), std::nullopt);
}

TEST(ArchiveNames, OnlyVisibleNamesEndingInSuffixAreArchives) {
  EXPECT_TRUE(is_archive_name("x.psbak"));
  EXPECT_FALSE(is_archive_name(".psbak"));                          // the suffix alone
  EXPECT_FALSE(is_archive_name(".20261122T210400Z-0123.psbak"));     // hidden
  EXPECT_FALSE(is_archive_name(".20261122T210400Z-4242.partial"));   // being written
  EXPECT_FALSE(is_archive_name("20261122T210400Z-01234567.psbak.sha256"));
  EXPECT_FALSE(is_archive_name("notes.txt"));
  EXPECT_FALSE(is_archive_name(""));
}

TEST_F(LocalDirTest, ScanListsArchivesNewestFirstAndLeavesForeignFilesOut) {
  std::string older = write_archive(1795381440000);
  std::string newer = write_archive(1795381440500);  // same second, later millisecond
  write_file("20261001T000000Z-deadbeef.psbak", "not an archive");
  write_file("notes.txt", "operator's notes");
  write_file(".20261122T210400Z-4242.partial", "half written");
  write_file(".hidden.psbak", "hidden");
  write_file(newer + ".psbak.sha256", std::string(64, 'a') + "  " + newer + ".psbak\n");
  fs::create_directory(dir_ / "sub.psbak");

  std::vector<LocalArchive> archives = scan(dir_);
  ASSERT_EQ(archives.size(), 3u);
  EXPECT_EQ(archives[0].id, newer);
  EXPECT_TRUE(archives[0].good);
  EXPECT_EQ(archives[0].path, dir_ / (newer + ".psbak"));
  EXPECT_EQ(archives[0].size, fs::file_size(dir_ / (newer + ".psbak")));
  EXPECT_EQ(archives[0].header.metadata.source_host, "appliance-1");
  EXPECT_EQ(archives[1].id, older);
  EXPECT_TRUE(archives[1].good);
  // Unreadable: listed, not good, its time from its name.
  EXPECT_EQ(archives[2].id, "20261001T000000Z-deadbeef");
  EXPECT_FALSE(archives[2].good);
  EXPECT_FALSE(archives[2].error.empty());
  EXPECT_EQ(archives[2].header.metadata.created_unix, *parse_stamp("20261001T000000Z"));
  EXPECT_EQ(archives[2].header.metadata.created_ms, *parse_stamp("20261001T000000Z") * 1000);
}

TEST_F(LocalDirTest, ScanOfAMissingDirectoryIsEmpty) {
  EXPECT_TRUE(scan(dir_ / "absent").empty());
}

TEST_F(LocalDirTest, RemovePartialsRemovesOnlyHiddenPartialFiles) {
  write_file(".20261122T210400Z-4242.partial", "half written");
  write_file(".x.psbak.sha256.partial", "half a digest");
  write_file("visible.partial", "not ours to remove");
  write_file("20261122T210400Z-01234567.psbak", "an archive");
  remove_partials(dir_);
  EXPECT_FALSE(fs::exists(dir_ / ".20261122T210400Z-4242.partial"));
  EXPECT_FALSE(fs::exists(dir_ / ".x.psbak.sha256.partial"));
  EXPECT_TRUE(fs::exists(dir_ / "visible.partial"));
  EXPECT_TRUE(fs::exists(dir_ / "20261122T210400Z-01234567.psbak"));
  EXPECT_THROW(remove_partials(dir_ / "absent"), fs::filesystem_error);
}

TEST_F(LocalDirTest, DigestRoundTripInSha256sumFormatMode0600) {
  fs::path archive = dir_ / "20261122T210400Z-01234567.psbak";
  std::string hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  write_digest(archive, hex);
  EXPECT_EQ(digest_path(archive), dir_ / "20261122T210400Z-01234567.psbak.sha256");
  EXPECT_EQ(read_digest(archive), hex);
  std::ifstream in(digest_path(archive));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, hex + "  20261122T210400Z-01234567.psbak");
  EXPECT_EQ(fs::status(digest_path(archive)).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  // No partial file is left behind.
  for (const auto& e : fs::directory_iterator(dir_)) EXPECT_FALSE(e.path().string().ends_with(".partial"));
}

TEST_F(LocalDirTest, DigestMustBe64LowercaseHexDigits) {
  fs::path archive = dir_ / "a.psbak";
  const std::string good(64, 'e');
  auto with_digest = [&](const std::string& text) {
    write_file("a.psbak.sha256", text);
    return read_digest(archive);
  };
  EXPECT_EQ(read_digest(archive), std::nullopt);  // no digest file
  EXPECT_EQ(with_digest(good + "  a.psbak\n"), good);
  EXPECT_EQ(with_digest(good), good);  // the first word is the digest
  EXPECT_EQ(with_digest(std::string(64, 'E') + "  a.psbak\n"), std::nullopt);      // uppercase
  EXPECT_EQ(with_digest(std::string(63, 'e') + "  a.psbak\n"), std::nullopt);      // short
  EXPECT_EQ(with_digest(std::string(65, 'e') + "  a.psbak\n"), std::nullopt);      // long
  EXPECT_EQ(with_digest(std::string(63, 'e') + "g  a.psbak\n"), std::nullopt);     // not hex
  EXPECT_EQ(with_digest(""), std::nullopt);
}

TEST_F(LocalDirTest, HashingFileDigestsAllOfTheFile) {
  write_file("data", "abc");
  std::FILE* f = std::fopen((dir_ / "data").c_str(), "rb");
  ASSERT_NE(f, nullptr);
  {
    HashingFile hashing(f);
    std::uint8_t one[1];
    ASSERT_EQ(hashing.source()(std::span(one, 1)), 1u);  // the consumer reads part of it
    // SHA-256("abc"), FIPS 180-2 appendix B.1: finish() reads the rest.
    EXPECT_EQ(hashing.finish(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  }
  std::fclose(f);
}

}  // namespace
}  // namespace privstack::backup
