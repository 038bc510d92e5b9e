#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/secret.h"

namespace privstack {
namespace {

namespace fs = std::filesystem;

class SecretFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/privstack-secret-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& content, mode_t mode) {
    fs::path p = dir_ / name;
    std::ofstream(p) << content;
    chmod(p.c_str(), mode);
    return p;
  }
  fs::path dir_;
};

TEST_F(SecretFiles, ReadsA0600FileAndStripsOneTrailingNewline) {
  auto p = write("k", "s3cr3t-value\n", 0600);
  Secret s = read_secret_file(p);
  EXPECT_EQ(s.reveal(), "s3cr3t-value");
}

TEST_F(SecretFiles, RefusesGroupOrOtherReadableFilesWithoutShowingContent) {
  for (mode_t mode : {0640, 0604, 0660, 0644}) {
    auto p = write("k", "do-not-show-me", mode);
    try {
      read_secret_file(p);
      FAIL() << "mode " << std::oct << mode << " accepted";
    } catch (const std::runtime_error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("chmod 600"), std::string::npos) << msg;
      EXPECT_EQ(msg.find("do-not-show-me"), std::string::npos) << msg;
    }
  }
}

TEST_F(SecretFiles, MissingFileAndDirectoryAreClearErrors) {
  EXPECT_NE(check_secret_file(dir_ / "absent")->find("No such file"), std::string::npos);
  EXPECT_NE(check_secret_file(dir_)->find("not a regular file"), std::string::npos);
}

TEST_F(SecretFiles, WriteSecretFileIsAtomicAnd0600) {
  fs::path p = dir_ / "new.key";
  write_secret_file(p, "abc");
  struct stat st {};
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(read_secret_file(p).reveal(), "abc");
  EXPECT_FALSE(fs::exists(dir_ / "new.key.tmp"));
}

TEST_F(SecretFiles, CredentialsDirectoryIsUsedWhenSet) {
  write("store.key", "from-credential", 0400);
  setenv("CREDENTIALS_DIRECTORY", dir_.c_str(), 1);
  auto c = read_credential("store.key");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->reveal(), "from-credential");
  EXPECT_FALSE(read_credential("absent").has_value());
  unsetenv("CREDENTIALS_DIRECTORY");
  EXPECT_FALSE(read_credential("store.key").has_value());
}

TEST(Secret, MoveTransfersAndEmptiesTheSource) {
  Secret a("value-1234");
  Secret b(std::move(a));
  EXPECT_EQ(b.reveal(), "value-1234");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): checking the moved-from state
}

TEST(Secret, WipeClearsTheWholeBuffer) {
  std::string s = "a long string that is not in the small-string buffer";
  const char* data = s.data();
  size_t cap = s.capacity();
  wipe(s);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.data(), data);  // same buffer, now zeroed
  for (size_t i = 0; i < cap; ++i) EXPECT_EQ(data[i], '\0') << i;
}

}  // namespace
}  // namespace privstack
