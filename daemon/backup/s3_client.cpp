#include "backup/s3_client.h"

#include <sys/mman.h>

#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/rand.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <future>
#include <charconv>
#include <chrono>
#include <ctime>
#include <random>
#include <thread>
#include <type_traits>

#include "backup/s3_clock.h"
#include "core/crypto.h"
#include "core/encoding.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/time.h"

namespace privstack::backup {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string md5_raw(std::span<const std::uint8_t> data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr) != 1)
    throw S3Error("MD5 failed", 0, "InternalError");
  return std::string(reinterpret_cast<char*>(digest), len);
}

std::string unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

std::string xml_unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    auto end = s.find(';', i);
    if (end == std::string_view::npos) {
      out.push_back('&');
      continue;
    }
    std::string_view ent = s.substr(i + 1, end - i - 1);
    if (ent == "amp") out.push_back('&');
    else if (ent == "lt") out.push_back('<');
    else if (ent == "gt") out.push_back('>');
    else if (ent == "quot") out.push_back('"');
    else if (ent == "apos") out.push_back('\'');
    else if (!ent.empty() && ent[0] == '#') {
      long code = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X') ? std::strtol(std::string(ent.substr(2)).c_str(), nullptr, 16)
                                                                     : std::strtol(std::string(ent.substr(1)).c_str(), nullptr, 10);
      if (code > 0 && code < 128) out.push_back(static_cast<char>(code));
    } else {
      out.append(s.substr(i, end - i + 1));
    }
    i = end;
  }
  return out;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// Blocks between "<tag>" and "</tag>" (raw, not unescaped).
std::vector<std::string> xml_blocks(const std::string& xml, const std::string& tag) {
  std::vector<std::string> out;
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  std::size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string::npos) {
    pos += open.size();
    auto end = xml.find(close, pos);
    if (end == std::string::npos) break;
    out.push_back(xml.substr(pos, end - pos));
    pos = end + close.size();
  }
  return out;
}

std::string first(const std::string& xml, const std::string& tag) {
  auto v = xml_values(xml, tag);
  return v.empty() ? std::string() : v.front();
}

using Sink = std::function<void(std::span<const std::uint8_t>)>;

// One request's exchange, each step under its own deadline (config
// timeout): every write of a piece of the request and every read of a piece
// of the answer. So a server that stops answering (frozen, a dead link, a
// firewall dropping packets) fails the attempt after that much silence, and a
// slow but moving transfer is never cut. Asynchronous operations on the
// request's own io_context, as incidents/webhook.cpp does: SO_RCVTIMEO on a
// socket is not enough, because Asio's synchronous reads poll again, without
// limit, when recv() times out.
template <class Stream>
asio::awaitable<S3Client::Response> exchange(Stream& stream, http::request<http::span_body<const char>>& req, const Sink* sink,
                                             std::chrono::seconds timeout) {
  beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
  http::request_serializer<http::span_body<const char>> out(req);
  while (!out.is_done()) {
    lowest.expires_after(timeout);
    co_await http::async_write_some(stream, out, asio::use_awaitable);
  }
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  if (req.method() == http::verb::head) parser.skip(true);
  lowest.expires_after(timeout);
  co_await http::async_read_header(stream, buffer, parser, asio::use_awaitable);
  S3Client::Response resp;
  resp.status = static_cast<int>(parser.get().result_int());
  for (const auto& field : parser.get())
    resp.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  bool to_sink = sink && resp.status >= 200 && resp.status < 300;
  std::vector<std::uint8_t> chunk(64 * 1024);
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    lowest.expires_after(timeout);
    auto [ec, ignored] = co_await http::async_read_some(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (ec && ec != http::error::need_buffer) throw beast::system_error(ec);
    std::size_t n = chunk.size() - parser.get().body().size;
    if (n == 0) continue;
    if (to_sink)
      (*sink)(std::span<const std::uint8_t>(chunk.data(), n));
    else if (resp.body.size() < 1024 * 1024)
      resp.body.append(reinterpret_cast<const char*>(chunk.data()), n);
  }
  co_return resp;
}

}  // namespace

std::vector<std::string> xml_values(const std::string& xml, const std::string& tag) {
  std::vector<std::string> out;
  for (auto& b : xml_blocks(xml, tag)) out.push_back(xml_unescape(b));
  return out;
}

namespace {

// A non-negative decimal <tag> of an S3 answer; absent is 0 unless
// `required`. std::stoull would read "-1" as 2^64-1 and throw
// std::invalid_argument on "abc".
template <class Int>
Int xml_number(const std::string& xml, const char* tag, bool required = false) {
  std::string text = first(xml, tag);
  if (text.empty() && !required) return 0;
  Int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  bool negative = false;
  if constexpr (std::is_signed_v<Int>) negative = value < 0;
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || negative) {
    throw S3Error(std::string("the S3 server's answer has a malformed <") + tag + ">", 0, "MalformedResponse");
  }
  return value;
}

}  // namespace

S3ObjectsPage parse_list_objects(const std::string& xml) {
  S3ObjectsPage page;
  for (const auto& block : xml_blocks(xml, "Contents")) {
    S3Object o;
    o.key = first(block, "Key");
    o.size = xml_number<std::uint64_t>(block, "Size");
    o.etag = unquote(first(block, "ETag"));
    o.last_modified = first(block, "LastModified");
    page.objects.push_back(std::move(o));
  }
  if (first(xml, "IsTruncated") == "true") page.next_token = first(xml, "NextContinuationToken");
  return page;
}

S3PartsPage parse_list_parts(const std::string& xml) {
  S3PartsPage page;
  for (const auto& block : xml_blocks(xml, "Part")) {
    S3Part p;
    p.number = xml_number<int>(block, "PartNumber", true);
    p.etag = unquote(first(block, "ETag"));
    p.size = xml_number<std::uint64_t>(block, "Size");
    page.parts.push_back(std::move(p));
  }
  if (first(xml, "IsTruncated") == "true") page.next_marker = first(xml, "NextPartNumberMarker");
  return page;
}

std::vector<std::pair<std::string, std::string>> parse_multipart_uploads(const std::string& xml) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& block : xml_blocks(xml, "Upload")) out.emplace_back(first(block, "Key"), first(block, "UploadId"));
  return out;
}

S3ErrorBody parse_error_body(const std::string& xml) { return {first(xml, "Code"), first(xml, "Message")}; }

bool S3Error::retryable() const {
  return status_ == 0 || status_ >= 500 || status_ == 429 || code_ == "SlowDown" || code_ == "RequestTimeout";
}

struct S3Client::Tls {
  asio::ssl::context ctx{asio::ssl::context::tls_client};
};

std::string S3Client::Response::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (beast::iequals(k, name)) return v;
  return "";
}

S3Client::S3Client(S3Config config) : config_(std::move(config)) {
  if (!config_.allowed_regions.empty() &&
      std::find(config_.allowed_regions.begin(), config_.allowed_regions.end(), config_.region) ==
          config_.allowed_regions.end()) {
    std::string list;
    for (const auto& r : config_.allowed_regions) list += (list.empty() ? "" : ", ") + r;
    throw S3Error("refusing to ship backups to region \"" + config_.region +
                      "\": it is not in backup.allowed_regions (" + list + ")",
                  0, "RegionNotAllowed");
  }
  if (config_.lock_retain_days > 0 && config_.lock_mode != "GOVERNANCE" && config_.lock_mode != "COMPLIANCE")
    throw std::invalid_argument("S3 Object Lock mode must be GOVERNANCE or COMPLIANCE");
  std::string ep = config_.endpoint;
  if (ep.rfind("https://", 0) == 0) {
    tls_ = true;
    ep = ep.substr(8);
  } else if (ep.rfind("http://", 0) == 0) {
    ep = ep.substr(7);
  } else {
    throw std::invalid_argument("backup.s3.endpoint must start with https:// or http://");
  }
  if (auto slash = ep.find('/'); slash != std::string::npos) ep = ep.substr(0, slash);
  auto colon = ep.rfind(':');
  if (colon != std::string::npos && ep.find(']') == std::string::npos) {
    host_ = ep.substr(0, colon);
    port_ = ep.substr(colon + 1);
  } else {
    host_ = ep;
    port_ = tls_ ? "443" : "80";
  }
  if (host_.empty() || config_.bucket.empty()) throw std::invalid_argument("S3 endpoint host and bucket are required");
  if (tls_) {
    tls_context_ = std::make_unique<Tls>();
    tls_context_->ctx.set_verify_mode(asio::ssl::verify_peer);
    if (config_.ca_file.empty())
      tls_context_->ctx.set_default_verify_paths();
    else
      tls_context_->ctx.load_verify_file(config_.ca_file);
  }
}

S3Client::~S3Client() {
  cleanse(config_.credentials.secret_access_key);
}

S3Client::Response S3Client::request_once(const std::string& method, const std::string& key, const sigv4::Pairs& query,
                                          std::span<const std::uint8_t> body, const sigv4::Pairs& extra_headers,
                                          const Sink* sink) {
  bool default_port = port_ == (tls_ ? "443" : "80");
  std::string host = config_.path_style ? host_ : config_.bucket + "." + host_;
  std::string host_header = default_port ? host : host + ":" + port_;
  std::string path = config_.path_style ? "/" + config_.bucket + (key.empty() ? "" : "/" + key) : "/" + key;

  sigv4::Request sreq;
  sreq.method = method;
  sreq.path = path;
  sreq.query = query;
  // Signed with the endpoint's time when it told us our clock is off.
  std::string date = sigv4::amz_date(default_clock().system_now() + S3ClockOffset::get());
  sreq.payload_sha256 = sigv4::sha256_hex(body);
  sreq.headers = {{"host", host_header}, {"x-amz-date", date}, {"x-amz-content-sha256", sreq.payload_sha256}};
  if (!config_.credentials.session_token.empty())
    sreq.headers.emplace_back("x-amz-security-token", config_.credentials.session_token);
  sreq.headers.insert(sreq.headers.end(), extra_headers.begin(), extra_headers.end());
  sigv4::Signed s = sigv4::sign(sreq, config_.credentials, config_.region, "s3", date);

  std::string target = sigv4::encode_path(path);
  std::string q = sigv4::encode_query(query);
  if (!q.empty()) target += "?" + q;
  // The body is sent from the caller's buffer, not copied: an upload part
  // is 8 MiB, and several are in flight at once (S3StreamUpload).
  http::request<http::span_body<const char>> req{http::string_to_verb(method), target, 11};
  for (const auto& [k, v] : sreq.headers) req.set(k, v);
  req.set(http::field::authorization, s.authorization);
  req.set(http::field::user_agent, "privstack-backup");
  req.body() = http::span_body<const char>::value_type(reinterpret_cast<const char*>(body.data()), body.size());
  req.prepare_payload();
  if (method == "PUT" || method == "POST") req.content_length(body.size());

  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  auto endpoints = resolver.resolve(host, port_);
  const std::chrono::seconds timeout = config_.timeout;
  auto run = [&]() -> asio::awaitable<Response> {
    if (!tls_) {
      beast::tcp_stream stream(ioc);
      stream.expires_after(timeout);
      co_await stream.async_connect(endpoints, asio::use_awaitable);
      Response resp = co_await exchange(stream, req, sink, timeout);
      beast::error_code ec;
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return resp;
    }
    beast::ssl_stream<beast::tcp_stream> stream(ioc, tls_context_->ctx);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str()))
      throw S3Error("TLS setup failed", 0, "TlsError");
    stream.set_verify_callback(asio::ssl::host_name_verification(host));
    beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(timeout);
    co_await lowest.async_connect(endpoints, asio::use_awaitable);
    lowest.expires_after(timeout);
    co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    Response resp = co_await exchange(stream, req, sink, timeout);
    // close_notify, under the same deadline; the answer is already whole.
    lowest.expires_after(timeout);
    (void)co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
    co_return resp;
  };
  auto result = asio::co_spawn(ioc, run(), asio::use_future);
  ioc.run();
  return result.get();  // the answer, or the step's error rethrown
}

S3Client::Response S3Client::request(const std::string& method, const std::string& key, const sigv4::Pairs& query,
                                     std::span<const std::uint8_t> body, const sigv4::Pairs& extra_headers) {
  return request_once(method, key, query, body, extra_headers, nullptr);
}

S3Client::Response S3Client::checked(const std::string& method, const std::string& key, const sigv4::Pairs& query,
                                     std::span<const std::uint8_t> body, const sigv4::Pairs& extra_headers,
                                     const Sink* sink) {
  static thread_local std::mt19937 rng(std::random_device{}());
  std::string what = "S3 " + method + " " + config_.bucket + "/" + key;
  for (const auto& [name, value] : query)
    if (name == "partNumber") what += " part " + value;
  bool skew_corrected = false;
  for (int attempt = 1;; ++attempt) {
    std::string failure;
    try {
      Response r = request_once(method, key, query, body, extra_headers, sink);
      // CompleteMultipartUpload and CopyObject may answer 200 with an <Error>.
      bool error_body = r.status == 200 && method == "POST" && r.body.find("<Error>") != std::string::npos;
      if (r.status >= 200 && r.status < 300 && !error_body) return r;
      auto [code, message] = parse_error_body(r.body);
      if (!skew_corrected && learn_clock_offset(r, code)) {
        // Signed again with the corrected time, at once: not a server fault.
        skew_corrected = true;
        --attempt;
        continue;
      }
      throw S3Error(what + ": HTTP " + std::to_string(r.status) + (code.empty() ? "" : " " + code) +
                        (message.empty() ? "" : ": " + message),
                    error_body ? 500 : r.status, code);
    } catch (const S3Error& e) {
      if (!e.retryable()) throw;
      if (attempt >= config_.max_attempts)
        throw S3Error(std::string(e.what()) + " (gave up after " + std::to_string(attempt) + " attempts)", e.status(),
                      e.code());
      failure = e.what();
    } catch (const std::exception& e) {
      if (attempt >= config_.max_attempts)
        throw S3Error(what + ": " + e.what() + " (gave up after " + std::to_string(attempt) + " attempts)", 0,
                      "NetworkError");
      failure = what + ": " + e.what();
    }
    // Exponential backoff with full jitter.
    auto cap = config_.base_backoff * (1 << std::min(attempt - 1, 10));
    std::uniform_int_distribution<long> dist(cap.count() / 2, cap.count());
    std::chrono::milliseconds wait(dist(rng));
    retries_.fetch_add(1);
    metrics::inc(metrics::names::backup_s3_retries);
    log::emit(log::events::backup_s3_retry,
              failure + "; retrying in " + std::to_string(wait.count()) + " ms (attempt " +
                  std::to_string(attempt + 1) + " of " + std::to_string(config_.max_attempts) + ")",
              {{"METHOD", method}, {"KEY", key}, {"ATTEMPT", attempt + 1}});
    std::this_thread::sleep_for(wait);
  }
}

bool S3Client::learn_clock_offset(const Response& r, const std::string& code) {
  // HEAD answers carry no body, so no <Code>: a 403 whose Date is far
  // from ours is taken for the same refusal.
  if (r.status != 403) return false;
  auto local = default_clock().system_now();
  auto server = parse_http_date(r.header("Date"));
  if (!server) server = parse_http_date(first(r.body, "ServerTime"));
  if (!server) return false;
  auto offset = clock_offset(*server, local);
  if (code != "RequestTimeTooSkewed" && !(code.empty() && std::chrono::abs(offset) >= std::chrono::minutes(5)))
    return false;
  if (S3ClockOffset::set(offset)) {
    log::emit(log::events::backup_s3_clock_skew,
              describe_clock_offset(offset, config_.endpoint) +
                  ", which refused the request signature's time (RequestTimeTooSkewed); signing S3 requests with "
                  "the endpoint's time from now on. Fix the appliance's time synchronisation (NTP)",
              {{"OFFSET_SECONDS", static_cast<std::int64_t>(offset.count())}, {"ENDPOINT", config_.endpoint}});
  }
  return true;
}

// 2026-12-23T09:00:00Z, the form Object Lock dates take.
constexpr const char* kLockDate = "%Y-%m-%dT%H:%M:%SZ";

std::string S3Client::lock_retain_until() const {
  if (config_.lock_retain_days <= 0) return {};
  auto until = default_clock().system_now() + std::chrono::hours(24) * config_.lock_retain_days;
  return sigv4::utc_time(until, kLockDate);
}

sigv4::Pairs S3Client::write_headers() const {
  sigv4::Pairs h;
  if (config_.bucket_owner_full_control) h.emplace_back("x-amz-acl", "bucket-owner-full-control");
  if (config_.lock_retain_days > 0) {
    h.emplace_back("x-amz-object-lock-mode", config_.lock_mode);
    h.emplace_back("x-amz-object-lock-retain-until-date", lock_retain_until());
  }
  return h;
}

void S3Client::put_object(const std::string& key, std::span<const std::uint8_t> data) {
  std::string md5 = md5_raw(data);
  sigv4::Pairs headers = write_headers();
  headers.emplace_back("content-md5", base64_encode(md5));  // also what Object Lock requires on a PUT
  Response r = checked("PUT", key, {}, data, headers);
  if (unquote(r.header("ETag")) != hex_encode(md5) && !r.header("ETag").empty())
    throw S3Error("S3 PUT " + key + ": the server's ETag does not match the data sent", 0, "BadDigest");
}

std::string S3Client::get_object(const std::string& key) { return checked("GET", key, {}, {}).body; }

void S3Client::get_object(const std::string& key, const Sink& sink) { checked("GET", key, {}, {}, {}, &sink); }

std::optional<S3Head> S3Client::head_object(const std::string& key) {
  try {
    Response r = checked("HEAD", key, {}, {});
    S3Head h;
    h.size = std::stoull(r.header("Content-Length").empty() ? "0" : r.header("Content-Length"));
    h.etag = unquote(r.header("ETag"));
    return h;
  } catch (const S3Error& e) {
    if (e.status() == 404) return std::nullopt;
    throw;
  }
}

void S3Client::delete_object(const std::string& key) { checked("DELETE", key, {}, {}); }

std::vector<S3Object> S3Client::list_objects(const std::string& prefix) {
  std::vector<S3Object> out;
  std::string token;
  for (;;) {
    sigv4::Pairs q = {{"list-type", "2"}, {"prefix", prefix}};
    if (!token.empty()) q.emplace_back("continuation-token", token);
    S3ObjectsPage page = parse_list_objects(checked("GET", "", q, {}).body);
    for (auto& o : page.objects) out.push_back(std::move(o));
    token = std::move(page.next_token);
    if (token.empty()) break;
  }
  return out;
}

void S3Client::put_object_retention(const std::string& key) {
  if (config_.lock_retain_days <= 0) return;
  std::string body = "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>" + config_.lock_mode +
                     "</Mode><RetainUntilDate>" + lock_retain_until() + "</RetainUntilDate></Retention>";
  std::span<const std::uint8_t> data(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
  checked("PUT", key, {{"retention", ""}}, data, {{"content-md5", base64_encode(md5_raw(data))}});
}

void S3Client::check_object_retention(const std::string& key) {
  if (config_.lock_retain_days <= 0) return;
  std::string mode, until;
  try {
    Response r = checked("GET", key, {{"retention", ""}}, {});
    mode = first(r.body, "Mode");
    until = first(r.body, "RetainUntilDate");
  } catch (const S3Error& e) {
    if (e.status() != 404) throw;  // 404 ObjectLockConfigurationNotFoundError: no retention on it
  }
  // An hour's slack for the time the upload took; dates compare as text
  // in this format (2026-12-23T09:00:00, any fraction or zone after it).
  std::string at_least = sigv4::utc_time(default_clock().system_now() +
                                             std::chrono::hours(24) * config_.lock_retain_days - std::chrono::hours(1),
                                         kLockDate)
                             .substr(0, 19);
  if (mode != config_.lock_mode || until.size() < 19 || until.substr(0, 19) < at_least) {
    throw S3Error("S3 upload of " + key + ": Object Lock retention was not applied (the server reports mode '" +
                      mode + "', retain until '" + until + "'; the bucket needs Object Lock enabled and the "
                      "credentials s3:PutObjectRetention and s3:GetObjectRetention)",
                  0, "ObjectLockNotApplied");
  }
}

std::string S3Client::create_multipart_upload(const std::string& key) {
  Response r = checked("POST", key, {{"uploads", ""}}, {}, write_headers());
  std::string id = first(r.body, "UploadId");
  if (id.empty()) throw S3Error("S3 CreateMultipartUpload " + key + ": no UploadId in the answer", r.status, "");
  return id;
}

std::string S3Client::upload_part(const std::string& key, const std::string& upload_id, int number,
                                  std::span<const std::uint8_t> data) {
  std::string md5 = md5_raw(data);
  Response r = checked("PUT", key, {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}}, data,
                       {{"content-md5", base64_encode(md5)}});
  std::string etag = unquote(r.header("ETag"));
  if (!etag.empty() && etag != hex_encode(md5))
    throw S3Error("S3 UploadPart " + key + " #" + std::to_string(number) + ": ETag differs from the part's MD5", 0,
                  "BadDigest");
  return hex_encode(md5);
}

void S3Client::complete_multipart_upload(const std::string& key, const std::string& upload_id,
                                         const std::vector<S3Part>& parts) {
  std::string xml = "<CompleteMultipartUpload>";
  for (const auto& p : parts)
    xml += "<Part><PartNumber>" + std::to_string(p.number) + "</PartNumber><ETag>\"" + xml_escape(p.etag) +
           "\"</ETag></Part>";
  xml += "</CompleteMultipartUpload>";
  checked("POST", key, {{"uploadId", upload_id}},
          std::span(reinterpret_cast<const std::uint8_t*>(xml.data()), xml.size()),
          {{"content-type", "application/xml"}});
}

void S3Client::abort_multipart_upload(const std::string& key, const std::string& upload_id) {
  try {
    checked("DELETE", key, {{"uploadId", upload_id}}, {});
  } catch (const S3Error& e) {
    if (e.status() != 404) throw;  // NoSuchUpload: already gone
  }
}

std::vector<S3Part> S3Client::list_parts(const std::string& key, const std::string& upload_id) {
  std::vector<S3Part> out;
  std::string marker;
  for (;;) {
    sigv4::Pairs q = {{"uploadId", upload_id}};
    if (!marker.empty()) q.emplace_back("part-number-marker", marker);
    S3PartsPage page = parse_list_parts(checked("GET", key, q, {}).body);
    for (auto& p : page.parts) out.push_back(std::move(p));
    marker = std::move(page.next_marker);
    if (marker.empty()) break;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> S3Client::list_multipart_uploads(const std::string& prefix) {
  return parse_multipart_uploads(checked("GET", "", {{"uploads", ""}, {"prefix", prefix}}, {}).body);
}

// ---- streaming upload -------------------------------------------------------

template <class T>
T* MappedAllocator<T>::allocate(std::size_t n) {
  void* p = ::mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return static_cast<T*>(p);
}

template <class T>
void MappedAllocator<T>::deallocate(T* p, std::size_t n) noexcept {
  ::munmap(p, n * sizeof(T));
}

template struct MappedAllocator<std::uint8_t>;

S3StreamUpload::S3StreamUpload(S3Client& client, std::string key, std::size_t part_size, std::size_t parallel_parts)
    : client_(client),
      key_(std::move(key)),
      part_size_(std::max<std::size_t>(part_size, 5 * 1024 * 1024)),
      parallel_parts_(std::max<std::size_t>(parallel_parts, 1)) {
  buffer_.reserve(part_size_);
}

S3StreamUpload::~S3StreamUpload() {
  // Parts still in flight use the upload id and their buffers: let them end
  // (each is bounded by the client's timeouts and retries) before aborting.
  for (auto& part : in_flight_) part.etag.wait();
  if (!done_ && !upload_id_.empty()) {
    try {
      client_.abort_multipart_upload(key_, upload_id_);
    } catch (...) {
    }
  }
}

void S3StreamUpload::flush_part() {
  if (upload_id_.empty()) upload_id_ = client_.create_multipart_upload(key_);
  while (in_flight_.size() >= parallel_parts_) collect_oldest();
  InFlight part;
  part.number = next_number_++;
  part.data = std::make_shared<PartBuffer>(std::move(buffer_));
  buffer_ = PartBuffer();  // a fresh mapping: unmapped again when its part is sent
  buffer_.reserve(part_size_);
  part.etag = std::async(std::launch::async, [this, number = part.number, data = part.data] {
    return client_.upload_part(key_, upload_id_, number, *data);
  });
  in_flight_.push_back(std::move(part));
}

void S3StreamUpload::collect_oldest() {
  InFlight part = std::move(in_flight_.front());
  in_flight_.pop_front();
  std::string etag = part.etag.get();  // rethrows the part's failure (after its retries)
  parts_.push_back({part.number, std::move(etag), part.data->size()});
}

void S3StreamUpload::write(std::span<const std::uint8_t> data) {
  if (done_ || sealed_) throw std::logic_error("upload already finished");
  total_ += data.size();
  while (!data.empty()) {
    std::size_t n = std::min(data.size(), part_size_ - buffer_.size());
    buffer_.insert(buffer_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
    data = data.subspan(n);
    if (buffer_.size() == part_size_) flush_part();
  }
}

void S3StreamUpload::send_all_parts() {
  if (done_) throw std::logic_error("upload already finished");
  sealed_ = true;
  // A stream shorter than a part goes as one PUT in finish().
  if (upload_id_.empty()) return;
  if (!buffer_.empty()) flush_part();
  while (!in_flight_.empty()) collect_oldest();  // in part order
  // The buffer flush_part reserved for a next part is not needed: unmap
  // it now, not at the completion (after the backup's test restore).
  buffer_ = PartBuffer();
}

std::uint64_t S3StreamUpload::finish(bool head_check) {
  if (done_) throw std::logic_error("upload already finished");
  std::string expected_etag;
  if (upload_id_.empty()) {
    client_.put_object(key_, buffer_);
    expected_etag = hex_encode(md5_raw(buffer_));
    buffer_.clear();
  } else {
    send_all_parts();
    client_.complete_multipart_upload(key_, upload_id_, parts_);
    client_.put_object_retention(key_);  // a no-op without Object Lock
    // Do not trust the Complete answer's ETag (RGW leaves it empty): the
    // ETag of a multipart object is MD5(concatenated part MD5s)-N.
    std::string concat;
    for (const auto& p : parts_) {
      for (std::size_t i = 0; i + 1 < p.etag.size(); i += 2)
        concat.push_back(static_cast<char>(std::stoi(p.etag.substr(i, 2), nullptr, 16)));
    }
    expected_etag = hex_encode(md5_raw(std::span(reinterpret_cast<const std::uint8_t*>(concat.data()), concat.size()))) +
                    "-" + std::to_string(parts_.size());
  }
  done_ = true;
  client_.check_object_retention(key_);  // a no-op without Object Lock
  if (!head_check) return total_;
  auto head = client_.head_object(key_);
  if (!head) throw S3Error("S3 upload of " + key_ + ": the object is missing after the upload", 404, "NoSuchKey");
  if (head->size != total_)
    throw S3Error("S3 upload of " + key_ + ": the server holds " + std::to_string(head->size) + " bytes, " +
                      std::to_string(total_) + " were sent",
                  0, "BadDigest");
  if (head->etag != expected_etag)
    throw S3Error("S3 upload of " + key_ + ": the server's ETag " + head->etag + " differs from the expected " +
                      expected_etag,
                  0, "BadDigest");
  return total_;
}

}  // namespace privstack::backup
