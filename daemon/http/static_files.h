// Static files of the console (console.web_root), served to GET and HEAD.
//
// No request can read outside the root: the path arrives percent-decoded
// once (so "%2e%2e" is already ".." here, and "%252e" stays a literal "%2e"
// name); segments "..", ".", hidden names (".git"), backslashes and NUL are
// refused; the file is opened with openat2(RESOLVE_BENEATH) relative to the
// root directory, so neither ".." nor a symlink can leave it, and its real
// path is checked to lie inside the root's real path as well. Anything
// refused is a plain 404, the same as a missing file.
//
// Files that were served are kept in memory for one second (kCacheSeconds):
// the console's assets change only when the package is upgraded, and a
// request then costs a map lookup instead of four system calls and a
// Last-Modified formatting (bench/run-console measures the difference).
// Missing and refused paths are never cached.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

#include "http/http.h"

namespace privstack::http {

class StaticFiles {
 public:
  explicit StaticFiles(std::filesystem::path root);
  ~StaticFiles();
  StaticFiles(const StaticFiles&) = delete;
  StaticFiles& operator=(const StaticFiles&) = delete;

  // 200 with the file (index.html for "/" and directories), 304 when
  // If-None-Match matches the ETag, 404 otherwise; 405 for other methods.
  Response serve(const Request& request) const;
  // A Handler for Router::set_fallback().
  Handler handler() const;

  const std::filesystem::path& root() const { return root_; }

  static constexpr std::chrono::seconds kCacheSeconds{1};

 private:
  // A file as served: its bytes and the headers derived from its metadata.
  struct CachedFile {
    std::shared_ptr<const std::string> body;
    std::string etag;
    std::string last_modified;
    std::string_view content_type;
    bool html = false;
    std::chrono::steady_clock::time_point loaded;
  };
  // Opens and reads the file for a validated request path; a Response
  // instead when the answer is not a file (404, a directory's redirect).
  std::variant<CachedFile, Response> load(const std::string& path) const;
  Response respond(const CachedFile& file, const Request& request) const;

  std::filesystem::path root_;
  std::string real_root_;  // realpath of root_, with a trailing '/'
  int root_fd_ = -1;

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, CachedFile> cache_;  // by request path
};

// "text/html; charset=utf-8" for "index.html", ...; application/octet-stream
// for unknown extensions.
std::string_view content_type_for(std::string_view filename);

}  // namespace privstack::http
