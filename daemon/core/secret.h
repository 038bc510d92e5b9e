// Secret values (passwords, keys, tokens) and the files they come from.
//
// A Secret owns its bytes in a heap buffer that is wiped with OPENSSL_cleanse
// when the Secret dies. It cannot be copied, streamed, or converted to a
// string implicitly: the only way to see the bytes is reveal(), which is easy
// to grep for in review. While a Secret is alive its value is also registered
// with the log redactor (log.h), so even a value that was revealed and pasted
// into a message by mistake is replaced by "[REDACTED]" before it is written.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace privstack {

class Secret {
 public:
  Secret() = default;
  // Copies `value` into owned, wiped-on-destruction memory. The caller is
  // responsible for wiping its own copy (see wipe()).
  explicit Secret(std::string_view value);
  ~Secret();
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;

  std::string_view reveal() const { return {data_.get(), size_}; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  void release() noexcept;
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
};

// Overwrites a string's bytes (including its capacity) before it is freed.
void wipe(std::string& s) noexcept;

// Why a secret file is unacceptable, or nullopt if it is fine: it must be a
// regular file (symlinks are followed), not readable or writable by group or
// other, and owned by the effective user or root.
std::optional<std::string> check_secret_file(const std::filesystem::path& path);

// Reads a secret file after check_secret_file(). Throws std::runtime_error
// with a message naming the file and the problem (never the content). A
// single trailing newline is stripped.
Secret read_secret_file(const std::filesystem::path& path);

// Reads a systemd credential by name from $CREDENTIALS_DIRECTORY, or nullopt
// when no such credential was passed to the service.
std::optional<Secret> read_credential(std::string_view name);

// Writes `value` to `path` with mode 0600 atomically (temp file + rename),
// creating nothing with looser permissions at any moment.
void write_secret_file(const std::filesystem::path& path, std::string_view value);

}  // namespace privstack
