#include "backup/local_dir.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <stdexcept>

#include "core/encoding.h"
#include "core/time.h"

namespace privstack::backup {

namespace fs = std::filesystem;

std::optional<std::int64_t> parse_stamp(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  std::tm tm{};
  std::string text(s);
  if (::strptime(text.c_str(), "%Y%m%dT%H%M%SZ", &tm) == nullptr) return std::nullopt;
  return static_cast<std::int64_t>(::timegm(&tm));
}

bool is_archive_name(const std::string& name) {
  return name.size() > kSuffix.size() && name.ends_with(kSuffix) && name[0] != '.';
}

std::string archive_name(const ArchiveHeader& h) {
  return format_utc(h.metadata.created_unix, "%Y%m%dT%H%M%SZ") + "-" + h.archive_id.substr(0, 8);
}

std::vector<LocalArchive> scan(const fs::path& dir) {
  std::vector<LocalArchive> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!entry.is_regular_file(ec) || !is_archive_name(name)) continue;
    LocalArchive a;
    a.id = name.substr(0, name.size() - kSuffix.size());
    a.path = entry.path();
    a.size = entry.file_size(ec);
    std::FILE* f = std::fopen(a.path.c_str(), "rb");
    if (f == nullptr) {
      a.error = "cannot open";
    } else {
      try {
        a.header = read_archive_header(file_source(f));
        a.good = true;
      } catch (const std::exception& e) {
        a.error = e.what();
      }
      std::fclose(f);
    }
    if (!a.good) {
      if (auto t = parse_stamp(std::string_view(a.id).substr(0, 16))) {
        a.header.metadata.created_unix = *t;
        a.header.metadata.created_ms = *t * 1000;
      }
    }
    out.push_back(std::move(a));
  }
  std::sort(out.begin(), out.end(), [](const LocalArchive& x, const LocalArchive& y) {
    // Milliseconds, not the id's seconds: two backups in one second must
    // still list (and be pruned) newest first.
    if (x.header.metadata.created_ms != y.header.metadata.created_ms) {
      return x.header.metadata.created_ms > y.header.metadata.created_ms;
    }
    return x.id > y.id;
  });
  return out;
}

void remove_partials(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with('.') && name.ends_with(kPartial)) fs::remove(entry.path(), ec);
  }
}

fs::path digest_path(const fs::path& archive) { return archive.string() + std::string(kDigestSuffix); }

std::optional<std::string> read_digest(const fs::path& archive) {
  std::ifstream in(digest_path(archive));
  std::string hex;
  if (!(in >> hex) || hex.size() != 64 || !hex_decode(hex, HexInput::lower_only)) {
    return std::nullopt;
  }
  return hex;
}

void write_digest(const fs::path& archive, const std::string& hex) {
  fs::path tmp = archive.parent_path() / ("." + archive.filename().string() + std::string(kDigestSuffix) +
                                          std::string(kPartial));
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << hex << "  " << archive.filename().string() << "\n";
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write);
  fs::rename(tmp, digest_path(archive));
}

void fsync_directory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

HashingFile::HashingFile(std::FILE* f) : f_(f), ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    throw std::runtime_error("SHA-256 is not available");
  }
}

HashingFile::~HashingFile() { EVP_MD_CTX_free(ctx_); }

Source HashingFile::source() {
  return [this](std::span<std::uint8_t> buf) {
    std::size_t n = std::fread(buf.data(), 1, buf.size(), f_);
    if (n == 0 && std::ferror(f_)) throw std::runtime_error(std::string("read error: ") + std::strerror(errno));
    EVP_DigestUpdate(ctx_, buf.data(), n);
    return n;
  };
}

std::string HashingFile::finish() {
  std::uint8_t buf[64 * 1024];
  Source rest = source();
  while (rest(std::span(buf, sizeof buf)) != 0) {
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, md, &len);
  return hex_encode(ByteView(md, len));
}

}  // namespace privstack::backup
