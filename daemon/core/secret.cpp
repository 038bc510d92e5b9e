#include "core/secret.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/crypto.h"
#include "core/secret_registry.h"

namespace privstack {

Secret::Secret(std::string_view value) : data_(new char[value.size() + 1]), size_(value.size()) {
  std::memcpy(data_.get(), value.data(), value.size());
  data_[size_] = '\0';
  detail::register_secret(data_.get(), size_);
}

Secret::~Secret() { release(); }

Secret::Secret(Secret&& other) noexcept : data_(std::move(other.data_)), size_(other.size_) {
  other.size_ = 0;
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::move(other.data_);
    size_ = other.size_;
    other.size_ = 0;
  }
  return *this;
}

void Secret::release() noexcept {
  if (data_) {
    detail::unregister_secret(data_.get());
    cleanse(data_.get(), size_ + 1);
    data_.reset();
  }
  size_ = 0;
}

void wipe(std::string& s) noexcept {
  // Wipe the whole capacity: a shorter string may have left bytes past size().
  s.resize(s.capacity());
  cleanse(s.data(), s.size());
  s.clear();
}

std::optional<std::string> check_secret_file(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return std::string("cannot read secret file ") + path.string() + ": " + std::strerror(errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return "secret file " + path.string() + " is not a regular file";
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return "secret file " + path.string() + " has mode " + mode +
           ", which lets group or other users read it; run: chmod 600 " + path.string();
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    return "secret file " + path.string() + " is owned by uid " + std::to_string(st.st_uid) +
           ", not by the service user (uid " + std::to_string(::geteuid()) + ") or root";
  }
  return std::nullopt;
}

namespace {

Secret read_file_unchecked(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error("cannot open secret file " + path.string() + ": " + std::strerror(errno));
  }
  std::string buffer;
  buffer.reserve(4096);
  char chunk[1024];
  for (;;) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      cleanse(chunk, sizeof chunk);
      wipe(buffer);
      throw std::runtime_error("cannot read secret file " + path.string() + ": " + std::strerror(err));
    }
    if (n == 0) break;
    if (buffer.size() + static_cast<size_t>(n) > 1024 * 1024) {
      ::close(fd);
      cleanse(chunk, sizeof chunk);
      wipe(buffer);
      throw std::runtime_error("secret file " + path.string() + " is larger than 1 MiB");
    }
    buffer.append(chunk, static_cast<size_t>(n));
  }
  ::close(fd);
  cleanse(chunk, sizeof chunk);
  std::string_view value(buffer);
  if (!value.empty() && value.back() == '\n') value.remove_suffix(1);
  Secret secret(value);
  wipe(buffer);
  return secret;
}

}  // namespace

Secret read_secret_file(const std::filesystem::path& path) {
  if (auto problem = check_secret_file(path)) throw std::runtime_error(*problem);
  return read_file_unchecked(path);
}

std::optional<Secret> read_credential(std::string_view name) {
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (dir == nullptr || *dir == '\0') return std::nullopt;
  std::filesystem::path path = std::filesystem::path(dir) / std::string(name);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  // systemd makes credentials readable by the service user only; no mode
  // check here because it mounts them 0400 owned by root for root services.
  return read_file_unchecked(path);
}

void write_secret_file(const std::filesystem::path& path, std::string_view value) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    throw std::runtime_error("cannot create " + tmp.string() + ": " + std::strerror(errno));
  }
  ::fchmod(fd, 0600);  // in case the file existed with other bits
  size_t off = 0;
  while (off < value.size()) {
    ssize_t n = ::write(fd, value.data() + off, value.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error("cannot write " + tmp.string() + ": " + std::strerror(err));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + tmp.string() + ": " + std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot rename " + tmp.string() + " to " + path.string() + ": " + std::strerror(err));
  }
}

}  // namespace privstack
