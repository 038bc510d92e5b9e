#include "http/static_files.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <ctime>
#include <memory>

#include "core/time.h"

namespace privstack::http {
namespace {

constexpr std::size_t kMaxFileBytes = 16 * 1024 * 1024;
constexpr std::size_t kMaxCachedFileBytes = 1024 * 1024;
constexpr std::size_t kMaxCachedFiles = 256;

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// Opens `relative` beneath `dirfd`; the kernel refuses any resolution that
// would leave it ("..", absolute or escaping symlinks, magic links).
// `kernel_checked` tells whether openat2 did the resolution.
int open_beneath(int dirfd, const std::string& relative, bool& kernel_checked) {
  kernel_checked = false;
#ifdef SYS_openat2
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, dirfd, relative.c_str(), &how, sizeof how);
  if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) {
    kernel_checked = true;
    return static_cast<int>(fd);
  }
#endif
  // Older kernels (or a seccomp filter without openat2): the realpath check
  // in serve() is then the guard.
  return ::openat(dirfd, relative.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
}

bool segment_ok(std::string_view s) {
  if (s.empty() || s.front() == '.') return false;  // "..", ".", hidden files
  for (char c : s) {
    if (c == '\\' || c == '\0' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::string http_date(std::time_t t) { return format_utc(t, "%a, %d %b %Y %H:%M:%S GMT"); }

bool etag_matches(std::string_view header, std::string_view etag) {
  // If-None-Match: a list of entity tags, or "*"; weak comparison.
  auto strip_weak = [](std::string_view t) { return t.starts_with("W/") ? t.substr(2) : t; };
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == "*" || strip_weak(item) == strip_weak(etag)) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

Response not_found() { return Response::problem(ErrorCode::not_found); }

}  // namespace

std::string_view content_type_for(std::string_view filename) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 18> kTypes{{
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".ico", "image/x-icon"},
      {".webp", "image/webp"},
      {".woff", "font/woff"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".webmanifest", "application/manifest+json"},
  }};
  size_t dot = filename.rfind('.');
  if (dot != std::string_view::npos) {
    std::string ext(filename.substr(dot));
    for (char& c : ext) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    for (const auto& [e, type] : kTypes) {
      if (e == ext) return type;
    }
  }
  return "application/octet-stream";
}

StaticFiles::StaticFiles(std::filesystem::path root) : root_(std::move(root)) {
  char resolved[PATH_MAX];
  if (::realpath(root_.c_str(), resolved) != nullptr) {
    real_root_ = resolved;
    if (real_root_.back() != '/') real_root_ += '/';
    root_fd_ = ::open(resolved, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
}

StaticFiles::~StaticFiles() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

Handler StaticFiles::handler() const {
  return [this](Request& request) -> boost::asio::awaitable<Response> { co_return serve(request); };
}

Response StaticFiles::serve(const Request& request) const {
  if (request.method != "GET" && request.method != "HEAD") {
    Response r = Response::problem(ErrorCode::method_not_allowed, "Static files are served with GET and HEAD only.");
    r.set_header("Allow", "GET, HEAD");
    return r;
  }
  const auto now = std::chrono::steady_clock::now();
  {
    // Only paths that passed every check in load() are in the cache.
    std::lock_guard lock(cache_mutex_);
    auto it = cache_.find(request.path);
    if (it != cache_.end() && now - it->second.loaded < kCacheSeconds) return respond(it->second, request);
  }
  auto loaded = load(request.path);
  if (auto* response = std::get_if<Response>(&loaded)) return std::move(*response);
  CachedFile& file = std::get<CachedFile>(loaded);
  file.loaded = now;
  Response r = respond(file, request);
  if (file.body->size() <= kMaxCachedFileBytes) {
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() >= kMaxCachedFiles) cache_.clear();  // bounded memory, whatever paths clients try
    cache_.insert_or_assign(request.path, std::move(file));
  }
  return r;
}

Response StaticFiles::respond(const CachedFile& file, const Request& request) const {
  Response r;
  r.set_header("ETag", file.etag);
  // HTML revalidates every time (it names the assets); assets may be cached
  // for an hour and are revalidated with the ETag after that.
  r.set_header("Cache-Control", file.html ? "no-cache" : "public, max-age=3600");
  r.set_header("Last-Modified", file.last_modified);
  if (auto inm = request.header("If-None-Match"); inm && etag_matches(*inm, file.etag)) {
    r.status = 304;
    return r;
  }
  r.status = 200;
  r.shared_body = file.body;
  r.set_header("Content-Type", file.content_type);
  return r;
}

std::variant<StaticFiles::CachedFile, Response> StaticFiles::load(const std::string& path) const {
  if (root_fd_ < 0) return not_found();
  if (path.empty() || path.front() != '/' || path.find('\0') != std::string::npos) return not_found();

  // Validate every segment of the (already decoded) path.
  std::string relative;
  size_t i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string_view seg(path.data() + i, j - i);
    if (!seg.empty()) {
      if (!segment_ok(seg)) return not_found();
      if (!relative.empty()) relative += '/';
      relative += seg;
    } else if (j != path.size()) {
      return not_found();  // "//": no empty segments inside the path
    }
    i = j + 1;
  }
  bool wants_directory = relative.empty() || path.back() == '/';
  if (relative.empty()) relative.push_back('.');  // not `= "."`: GCC 12 -O3 false -Wrestrict (PR 105651)

  bool kernel_checked = false;
  Fd file(open_beneath(root_fd_, relative, kernel_checked));
  if (file.fd < 0) return not_found();
  struct stat st{};
  if (::fstat(file.fd, &st) != 0) return not_found();
  std::string name = relative;
  if (S_ISDIR(st.st_mode)) {
    // A directory serves its index.html; "/docs" redirects to "/docs/" so
    // relative links in the page resolve.
    if (!wants_directory) {
      Response r;
      r.status = 301;
      r.set_header("Location", path + "/");
      return r;
    }
    Fd index(::openat(file.fd, "index.html", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK));
    if (index.fd < 0 || ::fstat(index.fd, &st) != 0) return not_found();
    std::swap(file.fd, index.fd);
    name = relative == "." ? "index.html" : relative + "/index.html";
  } else if (wants_directory) {
    return not_found();  // "/file.html/"
  }
  if (!S_ISREG(st.st_mode) || static_cast<std::size_t>(st.st_size) > kMaxFileBytes) return not_found();

  // Without openat2 (old kernel, seccomp): the opened file's real path must
  // lie inside the root's.
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", file.fd);
  char real[PATH_MAX];
  ssize_t n = kernel_checked ? 0 : ::readlink(link, real, sizeof real - 1);
  if (!kernel_checked && n <= 0) return not_found();
  if (n > 0) {
    std::string_view real_path(real, static_cast<size_t>(n));
    if (!real_path.starts_with(real_root_)) return not_found();
  }

  char etag_buf[64];
  std::snprintf(etag_buf, sizeof etag_buf, "\"%llx-%llx\"", static_cast<unsigned long long>(st.st_size),
                static_cast<unsigned long long>(st.st_mtim.tv_sec) * 1000000000ULL +
                    static_cast<unsigned long long>(st.st_mtim.tv_nsec));
  std::string body(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < body.size()) {
    ssize_t k = ::read(file.fd, body.data() + got, body.size() - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += static_cast<size_t>(k);
  }
  body.resize(got);
  CachedFile f;
  f.body = std::make_shared<const std::string>(std::move(body));
  f.etag = etag_buf;
  f.last_modified = http_date(st.st_mtim.tv_sec);
  f.content_type = content_type_for(name);
  f.html = f.content_type.starts_with("text/html");
  return f;
}

}  // namespace privstack::http
