#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "http/static_files.h"

using namespace privstack::http;
namespace fs = std::filesystem;

namespace {

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base = fs::temp_directory_path() / ("static-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(base);
    fs::create_directories(base / "web" / "assets");
    fs::create_directories(base / "web" / "docs");
    write(base / "web" / "index.html", "<!doctype html><title>console</title>");
    write(base / "web" / "assets" / "app.js", "console.log('hi');");
    write(base / "web" / "assets" / "style.css", "body{}");
    write(base / "web" / "docs" / "index.html", "docs");
    write(base / "web" / ".hidden", "hidden");
    write(base / "secret.txt", "TOP SECRET");
    fs::create_symlink(base / "secret.txt", base / "web" / "escape.txt");
    fs::create_symlink(base, base / "web" / "up");
    fs::create_symlink("assets/app.js", base / "web" / "inside.js");
    files = std::make_unique<StaticFiles>(base / "web");
  }
  void TearDown() override { fs::remove_all(base); }

  static void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

  Response get(const std::string& path, std::vector<Header> headers = {}, std::string method = "GET") {
    Request r;
    r.method = method;
    r.path = path;
    r.target = path;
    r.headers = std::move(headers);
    return files->serve(r);
  }

  fs::path base;
  std::unique_ptr<StaticFiles> files;
};

TEST_F(StaticFilesTest, ServesFilesWithTypesAndCaching) {
  auto r = get("/assets/app.js");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body_view(), "console.log('hi');");
  EXPECT_EQ(*r.header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(*r.header("Cache-Control"), "public, max-age=3600");
  ASSERT_TRUE(r.header("ETag"));
  EXPECT_TRUE(r.header("Last-Modified"));
  EXPECT_EQ(*get("/assets/style.css").header("Content-Type"), "text/css; charset=utf-8");

  auto root = get("/");
  EXPECT_EQ(root.status, 200);
  EXPECT_EQ(*root.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(*root.header("Cache-Control"), "no-cache");
  EXPECT_EQ(get("/docs/").body_view(), "docs");
  auto redirect = get("/docs");
  EXPECT_EQ(redirect.status, 301);
  EXPECT_EQ(*redirect.header("Location"), "/docs/");
}

TEST_F(StaticFilesTest, ConditionalGet) {
  auto r = get("/assets/app.js");
  std::string etag(*r.header("ETag"));
  auto again = get("/assets/app.js", {{"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body_view().empty());
  EXPECT_EQ(get("/assets/app.js", {{"If-None-Match", "\"other\""}}).status, 200);
}

TEST_F(StaticFilesTest, TraversalIsImpossible) {
  // The server percent-decodes the path once before it gets here, so these
  // are the decoded forms of "..", "%2e%2e", "%2E%2E/", "..%2f", ... too.
  for (const char* path : {"/../secret.txt", "/assets/../../secret.txt", "/..", "/./index.html", "/assets/..",
                           "/%2e%2e/secret.txt",  // double-encoded: a literal name, not found
                           "/.hidden", "/escape.txt", "/up/secret.txt", "/up", "//etc/passwd",
                           "/assets//app.js", "/assets\\..\\..\\secret.txt", "/index.html/"}) {
    auto r = get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.body_view().find("SECRET"), std::string::npos) << path;
  }
  std::string with_nul = std::string("/index.html") + '\0' + ".js";
  EXPECT_EQ(get(with_nul).status, 404);
  // A symlink that stays inside the root is fine.
  EXPECT_EQ(get("/inside.js").status, 200);
}

TEST_F(StaticFilesTest, MissingFilesAndMethods) {
  EXPECT_EQ(get("/nope.html").status, 404);
  EXPECT_EQ(*get("/nope.html").header("Content-Type"), "application/problem+json");
  auto post = get("/index.html", {}, "POST");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(*post.header("Allow"), "GET, HEAD");
  EXPECT_EQ(get("/index.html", {}, "HEAD").status, 200);
  StaticFiles none("/nonexistent/web/root");
  Request r;
  r.method = "GET";
  r.path = "/";
  EXPECT_EQ(none.serve(r).status, 404);
}

TEST(ContentType, ByExtension) {
  EXPECT_EQ(content_type_for("a.HTML"), "text/html; charset=utf-8");
  EXPECT_EQ(content_type_for("a.svg"), "image/svg+xml");
  EXPECT_EQ(content_type_for("a.woff2"), "font/woff2");
  EXPECT_EQ(content_type_for("Makefile"), "application/octet-stream");
}

}  // namespace

namespace {

// The in-memory copy lives kCacheSeconds: a changed file is served within
// that time, a missing one is looked up again at every request (no negative
// caching), and a refused path never enters the cache.
TEST_F(StaticFilesTest, MemoryCacheExpiresAndNeverCachesMisses) {
  EXPECT_EQ(get("/assets/app.js").body_view(), "console.log('hi');");
  write(base / "web" / "assets" / "app.js", "console.log('new');");
  EXPECT_EQ(get("/assets/app.js").body_view(), "console.log('hi');");  // still the cached copy
  std::this_thread::sleep_for(StaticFiles::kCacheSeconds + std::chrono::milliseconds(200));
  EXPECT_EQ(get("/assets/app.js").body_view(), "console.log('new');");

  EXPECT_EQ(get("/assets/late.js").status, 404);
  write(base / "web" / "assets" / "late.js", "late");
  EXPECT_EQ(get("/assets/late.js").status, 200);

  EXPECT_EQ(get("/escape.txt").status, 404);
  EXPECT_EQ(get("/escape.txt").status, 404);
}

}  // namespace
