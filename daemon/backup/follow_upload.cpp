#include "backup/follow_upload.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace privstack::backup {

namespace {
// What the follower reads from the file at a time and hands to the upload.
constexpr std::size_t kChunk = 1024 * 1024;
}  // namespace

FollowingUpload::FollowingUpload(S3Client& client, std::filesystem::path file, Options options)
    : client_(client), file_(std::move(file)), options_(std::move(options)) {
  fd_ = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error("cannot read " + file_.string() + ": " + std::strerror(errno));
  thread_ = std::thread([this] { follow(); });
}

FollowingUpload::~FollowingUpload() {
  cancel();
  if (fd_ >= 0) ::close(fd_);
}

void FollowingUpload::written(std::uint64_t bytes) {
  {
    std::lock_guard lock(mutex_);
    available_ = bytes;
  }
  changed_.notify_all();
}

void FollowingUpload::file_complete(std::uint64_t bytes) {
  {
    std::lock_guard lock(mutex_);
    available_ = bytes;
    complete_ = true;
    completed_at_ = std::chrono::steady_clock::now();
  }
  changed_.notify_all();
}

void FollowingUpload::cancel() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  // An upload that was not completed is aborted (after its parts in flight).
  upload_.reset();
}

std::uint64_t FollowingUpload::finish(bool head_check) {
  {
    std::lock_guard lock(mutex_);
    if (!complete_) throw std::logic_error("FollowingUpload::finish before file_complete");
    if (stop_) throw std::logic_error("FollowingUpload::finish after cancel");
  }
  // Not stopped, the follower ends once every part is sent, or on its error.
  if (thread_.joinable()) thread_.join();
  if (error_) std::rethrow_exception(error_);
  return upload_->finish(head_check);
}

std::string FollowingUpload::key() const {
  std::lock_guard lock(mutex_);
  return key_;
}

std::vector<std::string> FollowingUpload::stale_aborted() const {
  std::lock_guard lock(mutex_);
  return stale_aborted_;
}

std::string FollowingUpload::stale_cleanup_error() const {
  std::lock_guard lock(mutex_);
  return stale_error_;
}

std::uint64_t FollowingUpload::sent() const {
  std::lock_guard lock(mutex_);
  return sent_;
}

std::int64_t FollowingUpload::lag_ms() const {
  std::lock_guard lock(mutex_);
  return lag_ms_;
}

std::size_t FollowingUpload::read_at(std::uint64_t offset, std::span<std::uint8_t> out) const {
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::pread(fd_, out.data() + got, out.size() - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error("cannot read " + file_.string() + ": " + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got;
}

void FollowingUpload::follow() {
  try {
    if (options_.abort_stale) {
      try {
        std::vector<std::string> aborted = options_.abort_stale();
        std::lock_guard lock(mutex_);
        stale_aborted_ = std::move(aborted);
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex_);
        stale_error_ = e.what();
      }
    }
    std::vector<std::uint8_t> chunk(kChunk);
    std::uint64_t offset = 0;
    for (;;) {
      std::uint64_t available = 0;
      bool complete = false;
      {
        // The key comes from the header, so the first wait is for a whole
        // part (the header is a few KiB) or the end of a smaller archive.
        const std::uint64_t need = upload_ ? kChunk : options_.part_size;
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return stop_ || complete_ || available_ - offset >= need; });
        if (stop_) return;
        available = available_;
        complete = complete_;
      }
      if (!upload_) {
        std::uint64_t at = 0;
        ArchiveHeader header = read_archive_header([&](std::span<std::uint8_t> b) {
          std::size_t n = read_at(at, b.first(static_cast<std::size_t>(std::min<std::uint64_t>(b.size(), available - at))));
          at += n;
          return n;
        });
        std::string key = options_.key_for(header);
        {
          std::lock_guard lock(mutex_);
          key_ = key;
        }
        upload_.emplace(client_, std::move(key), options_.part_size, options_.parallel_parts);
      }
      while (available - offset >= kChunk || (complete && offset < available)) {
        {
          std::lock_guard lock(mutex_);
          if (stop_) return;
        }
        if (options_.check_cancelled) options_.check_cancelled();
        auto want = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, available - offset));
        std::size_t n = read_at(offset, std::span(chunk.data(), want));
        if (n != want) {
          throw std::runtime_error("the archive " + file_.string() + " is shorter than written (" +
                                   std::to_string(offset + n) + " of " + std::to_string(available) + " bytes)");
        }
        upload_->write(std::span(chunk.data(), n));  // waits while `parallel_parts` parts are in flight
        offset += n;
        std::lock_guard lock(mutex_);
        sent_ = offset;
      }
      if (complete) {
        upload_->send_all_parts();
        std::lock_guard lock(mutex_);
        lag_ms_ = std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::steady_clock::now() - completed_at_)
                                                .count());
        return;
      }
    }
  } catch (...) {
    error_ = std::current_exception();
  }
}

}  // namespace privstack::backup
