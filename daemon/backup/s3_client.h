// A small S3 client (SigV4, Beast over TCP or TLS, synchronous: callers run
// it on the blocking thread pool). Path-style or virtual-hosted addressing,
// custom endpoints, TLS verified with the system store or a CA file,
// x-amz-content-sha256 payload signing, Content-MD5 on every upload,
// retries with exponential backoff and jitter on 5xx, SlowDown and network
// errors (each retry logged as backup.s3_retry), signing with the server's
// time after a RequestTimeTooSkewed refusal (s3_clock.h), multipart upload
// (create/part/complete/abort/list parts) and a HEAD after completion that
// checks the object's size. With Object Lock configured, every object it
// writes carries a retain-until date.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "backup/s3_sigv4.h"

namespace privstack::backup {

struct S3Config {
  std::string endpoint;  // "https://s3.eu-west-1.amazonaws.com", "http://127.0.0.1:7480"
  std::string region = "us-east-1";
  std::string bucket;
  bool path_style = true;
  std::string ca_file;                       // empty: the system store
  std::vector<std::string> allowed_regions;  // empty: any
  sigv4::Credentials credentials;
  int max_attempts = 5;
  std::chrono::milliseconds base_backoff{200};
  std::chrono::seconds timeout{60};
  // S3 Object Lock: when lock_retain_days > 0, every PUT and multipart
  // upload asks the server to retain the object (in lock_mode, "GOVERNANCE"
  // or "COMPLIANCE") until that many days from now. The bucket must have
  // been created with Object Lock enabled, or the server refuses the upload.
  // Send x-amz-acl: bucket-owner-full-control on every write: credentials
  // of another user than the bucket's owner (backup.s3.put_only) would
  // otherwise own objects the bucket's owner cannot read or restore.
  bool bucket_owner_full_control = false;
  std::string lock_mode = "COMPLIANCE";
  int lock_retain_days = 0;
};

// status 0: no HTTP answer (network, TLS, timeout). code: S3's <Code>.
class S3Error : public std::runtime_error {
 public:
  S3Error(const std::string& what, int status, std::string code)
      : std::runtime_error(what), status_(status), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }
  bool retryable() const;

 private:
  int status_;
  std::string code_;
};

struct S3Object {
  std::string key;
  std::uint64_t size = 0;
  std::string etag;
  std::string last_modified;
};

struct S3Head {
  std::uint64_t size = 0;
  std::string etag;
};

struct S3Part {
  int number = 0;
  std::string etag;
  std::uint64_t size = 0;
};

class S3Client {
 public:
  // Throws S3Error (status 0, code "RegionNotAllowed") when the region is
  // not in allowed_regions, and std::invalid_argument for a bad endpoint.
  explicit S3Client(S3Config config);
  ~S3Client();

  const S3Config& config() const { return config_; }
  // Requests sent again after a retryable failure, since construction.
  int retries() const { return retries_.load(); }
  // The retain-until date (RFC 3339, UTC) a write now would get; empty when
  // Object Lock is off.
  std::string lock_retain_until() const;

  void put_object(const std::string& key, std::span<const std::uint8_t> data);
  std::string get_object(const std::string& key);
  // Streams the object into sink.
  void get_object(const std::string& key, const std::function<void(std::span<const std::uint8_t>)>& sink);
  std::optional<S3Head> head_object(const std::string& key);
  void delete_object(const std::string& key);
  std::vector<S3Object> list_objects(const std::string& prefix);

  // PUT ?retention: the configured Object Lock retention on an existing
  // object. RGW ignores the lock headers of CreateMultipartUpload, so a
  // multipart upload sets its retention this way after completing.
  void put_object_retention(const std::string& key);
  // GET ?retention: throws S3Error (code "ObjectLockNotApplied") unless the
  // object is retained in the configured mode for about the configured
  // days. Servers that lack a permission or a feature may store an object
  // without its lock headers and say nothing.
  void check_object_retention(const std::string& key);

  std::string create_multipart_upload(const std::string& key);
  std::string upload_part(const std::string& key, const std::string& upload_id, int number,
                          std::span<const std::uint8_t> data);
  void complete_multipart_upload(const std::string& key, const std::string& upload_id,
                                 const std::vector<S3Part>& parts);
  void abort_multipart_upload(const std::string& key, const std::string& upload_id);
  std::vector<S3Part> list_parts(const std::string& key, const std::string& upload_id);
  // Uploads in progress under a prefix: (key, upload id).
  std::vector<std::pair<std::string, std::string>> list_multipart_uploads(const std::string& prefix);

  // A low-level request (tests): method, key ("" = the bucket), query, body.
  struct Response {
    int status = 0;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string header(const std::string& name) const;
  };
  Response request(const std::string& method, const std::string& key, const sigv4::Pairs& query,
                   std::span<const std::uint8_t> body, const sigv4::Pairs& extra_headers = {});

 private:
  Response request_once(const std::string& method, const std::string& key, const sigv4::Pairs& query,
                        std::span<const std::uint8_t> body, const sigv4::Pairs& extra_headers,
                        const std::function<void(std::span<const std::uint8_t>)>* sink);
  // On a refusal for clock skew, learns the endpoint's time from its Date
  // header (s3_clock.h); true when the request should be signed again.
  bool learn_clock_offset(const Response& r, const std::string& code);
  sigv4::Pairs write_headers() const;  // Object Lock and ownership, on PUT and CreateMultipartUpload
  Response checked(const std::string& method, const std::string& key, const sigv4::Pairs& query,
                   std::span<const std::uint8_t> body, const sigv4::Pairs& extra_headers = {},
                   const std::function<void(std::span<const std::uint8_t>)>* sink = nullptr);

  S3Config config_;
  bool tls_ = false;
  std::string host_;  // endpoint host name
  std::string port_;
  struct Tls;
  std::unique_ptr<Tls> tls_context_;
  std::atomic<int> retries_{0};
};

// The memory of an upload part: mapped, not malloc'ed, so that it goes back
// to the system when freed. Freed 8 MiB blocks otherwise stay in glibc's
// arenas (its mmap threshold rises to the size of the mapped blocks it
// frees), and a backup run kept the upload's ~24 MiB through the test
// restore that follows it (peak RSS 88 MiB instead of 63 at 1 GiB).
template <class T>
struct MappedAllocator {
  using value_type = T;
  MappedAllocator() = default;
  template <class U>
  explicit MappedAllocator(const MappedAllocator<U>&) {}
  T* allocate(std::size_t n);
  void deallocate(T* p, std::size_t n) noexcept;
  bool operator==(const MappedAllocator&) const { return true; }
};
using PartBuffer = std::vector<std::uint8_t, MappedAllocator<std::uint8_t>>;

// Uploads a stream as one object: parts of part_size bytes (>= 5 MiB except
// the last), each with Content-MD5, then CompleteMultipartUpload and a HEAD
// checking the size. Small streams (one part) use a single PUT. On any
// error the multipart upload is aborted and the error rethrown.
class S3StreamUpload {
 public:
  // Up to `parallel_parts` parts are sent at once, each from its own buffer
  // (memory: part_size times parallel_parts plus the part being filled).
  S3StreamUpload(S3Client& client, std::string key, std::size_t part_size = 8 * 1024 * 1024,
                 std::size_t parallel_parts = 2);
  ~S3StreamUpload();
  void write(std::span<const std::uint8_t> data);
  // After the last write: sends the last part and waits for every part in
  // flight (rethrowing a part's failure), leaving the upload open, so that
  // finish() only completes it. The backup sends the parts while the
  // archive is written and completes after its test restore passed.
  void send_all_parts();
  // Returns the size sent. With head_check (the default) it is the size
  // verified by a HEAD, which also checks the ETag; without it (credentials
  // that may not read) the server's per-part Content-MD5 checks are all.
  std::uint64_t finish(bool head_check = true);

 private:
  struct InFlight {
    int number = 0;
    std::shared_ptr<PartBuffer> data;
    std::future<std::string> etag;
  };
  void flush_part();      // sends buffer_ as the next part, waiting for room
  void collect_oldest();  // waits for the oldest part in flight and records it
  S3Client& client_;
  std::string key_;
  std::size_t part_size_;
  std::size_t parallel_parts_;
  PartBuffer buffer_;
  std::string upload_id_;
  std::vector<S3Part> parts_;
  std::deque<InFlight> in_flight_;
  int next_number_ = 1;
  std::uint64_t total_ = 0;
  bool sealed_ = false;  // send_all_parts() was called: no more writes
  bool done_ = false;
};

// XML helpers (exposed for tests): the text of each <tag>...</tag>, unescaped.
std::vector<std::string> xml_values(const std::string& xml, const std::string& tag);

// Parsers of the S3 server's XML answers (exposed for tests and the fuzz
// target tests/fuzz/s3_xml.cpp). The server is not trusted: a number that is
// not one throws S3Error (status 0, code "MalformedResponse"), never another
// exception.
struct S3ObjectsPage {
  std::vector<S3Object> objects;
  std::string next_token;  // empty: the last page
};
S3ObjectsPage parse_list_objects(const std::string& xml);       // ListObjectsV2
struct S3PartsPage {
  std::vector<S3Part> parts;
  std::string next_marker;  // empty: the last page
};
S3PartsPage parse_list_parts(const std::string& xml);           // ListParts
std::vector<std::pair<std::string, std::string>> parse_multipart_uploads(const std::string& xml);  // key, upload id
struct S3ErrorBody {
  std::string code, message;
};
S3ErrorBody parse_error_body(const std::string& xml);           // <Error><Code/><Message/></Error>

}  // namespace privstack::backup
