// Ships an archive to S3 while the snapshot is still writing it.
//
// A backup run used to write the whole archive, test-restore it, then
// upload it: the upload's time came on top of the snapshot's. Here a thread
// follows the archive file as it grows and sends each part as soon as the
// writer has written it, so the upload overlaps the snapshot. The parts are
// read back from the file (the page cache), not handed over in memory: the
// snapshot never waits for S3, and a slow or silent endpoint only makes the
// follower fall behind, never the store's read transaction longer.
//
// Nothing is published early: the multipart upload is completed only by
// finish(), which the run calls after the test restore passed. An archive
// that fails its test restore, a cancelled run or a crash leaves an open
// multipart upload at most, which is aborted (destructor) or cleaned up by
// the next run (abort_stale, below), never an object.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backup/archive.h"
#include "backup/s3_client.h"

namespace privstack::backup {

class FollowingUpload {
 public:
  struct Options {
    // The object key for the archive, from its header (the archive's name
    // holds its creation time and id, known once the header is written).
    std::function<std::string(const ArchiveHeader&)> key_for;
    // Run by the follower before its first request: the run's cleanup of
    // the multipart uploads an earlier, interrupted run left open. Its
    // failure is reported by stale_cleanup_error(), not fatal.
    std::function<std::vector<std::string>()> abort_stale;
    // Called between pieces of the upload: throws to stop it (the daemon
    // is stopping), like the snapshot's own check.
    std::function<void()> check_cancelled;
    std::size_t part_size = 8 * 1024 * 1024;
    std::size_t parallel_parts = 2;
  };

  // Starts following `file` (which the writer has created). `client` must
  // outlive this object.
  FollowingUpload(S3Client& client, std::filesystem::path file, Options options);
  // Stops the follower; an upload that was not finished is aborted.
  ~FollowingUpload();
  FollowingUpload(const FollowingUpload&) = delete;
  FollowingUpload& operator=(const FollowingUpload&) = delete;

  // The writer has written (and flushed to the kernel) `bytes` bytes so far.
  void written(std::uint64_t bytes);
  // The writer is done: the archive is `bytes` bytes long.
  void file_complete(std::uint64_t bytes);
  // Stops sending; the open upload is aborted (a failed test restore).
  void cancel();

  // After the test restore passed: waits until every part has been sent,
  // completes the upload and verifies it (HEAD, unless !head_check).
  // Returns the bytes verified; throws the upload's error.
  std::uint64_t finish(bool head_check);

  std::string key() const;
  // The keys abort_stale aborted, and its error if it failed.
  std::vector<std::string> stale_aborted() const;
  std::string stale_cleanup_error() const;
  // Bytes sent so far (progress).
  std::uint64_t sent() const;
  // How long after file_complete() the last part was acknowledged, in ms
  // (0 when the follower kept up with the writer): the part of the upload
  // that did not overlap the snapshot.
  std::int64_t lag_ms() const;

 private:
  void follow();  // the thread
  std::size_t read_at(std::uint64_t offset, std::span<std::uint8_t> out) const;

  S3Client& client_;
  std::filesystem::path file_;
  Options options_;
  int fd_ = -1;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t available_ = 0;  // bytes the writer has written
  bool complete_ = false;        // ...and that is the whole archive
  bool stop_ = false;            // cancel() or destruction
  std::exception_ptr error_;
  std::string key_;
  std::vector<std::string> stale_aborted_;
  std::string stale_error_;
  std::uint64_t sent_ = 0;
  std::chrono::steady_clock::time_point completed_at_;
  std::int64_t lag_ms_ = 0;

  std::optional<S3StreamUpload> upload_;  // the follower's until finish()
  std::thread thread_;
};

}  // namespace privstack::backup
