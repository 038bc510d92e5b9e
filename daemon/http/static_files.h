// Static files of the console (console.web_root), served to GET and HEAD.
//
// No request can read outside the root: the path arrives percent-decoded
// once (so "%2e%2e" is already ".." here, and "%252e" stays a literal "%2e"
// name); segments "..", ".", hidden names (".git"), backslashes and NUL are
// refused; the file is opened with openat2(RESOLVE_BENEATH) relative to the
// root directory, so neither ".." nor a symlink can leave it, and its real
// path is checked to lie inside the root's real path as well. Anything
// refused is a plain 404, the same as a missing file.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

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

 private:
  std::filesystem::path root_;
  std::string real_root_;  // realpath of root_, with a trailing '/'
  int root_fd_ = -1;
};

// "text/html; charset=utf-8" for "index.html", ...; application/octet-stream
// for unknown extensions.
std::string_view content_type_for(std::string_view filename);

}  // namespace privstack::http
