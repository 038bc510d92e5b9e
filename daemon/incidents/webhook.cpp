#include "incidents/webhook.h"

#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>

#include "core/encoding.h"
#include "core/version.h"

namespace privstack::incidents {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

std::string sign(std::string_view secret, std::string_view timestamp, std::string_view body) {
  std::string message;
  message.reserve(timestamp.size() + 1 + body.size());
  message.append(timestamp);
  message += '.';
  message.append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len);
  return hex_encode(ByteView(mac, len));
}

namespace {

struct Url {
  bool tls = true;
  std::string host;  // without brackets
  std::string port;
  std::string target;
};

std::optional<Url> parse_url(std::string_view url) {
  Url u;
  if (url.starts_with("https://")) {
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
    u.tls = false;
  } else {
    return std::nullopt;
  }
  std::size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (authority.starts_with("[")) {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (rest.starts_with(":")) u.port = std::string(rest.substr(1));
  } else {
    std::size_t colon = authority.find(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) u.port = std::string(authority.substr(colon + 1));
  }
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  if (u.host.empty()) return std::nullopt;
  return u;
}

bhttp::request<bhttp::string_body> make_request(const Url& u, const std::string& body, const std::string& timestamp,
                                                const std::string& signature, const std::string& delivery_id) {
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, u.target, 11};
  bool v6 = u.host.find(':') != std::string::npos;
  req.set(bhttp::field::host, (v6 ? "[" + u.host + "]" : u.host) + ":" + u.port);
  req.set(bhttp::field::user_agent, std::string("privstackd/") + kVersion);
  req.set(bhttp::field::content_type, "application/json");
  req.set("X-Privstack-Timestamp", timestamp);
  req.set("X-Privstack-Signature", "sha256=" + signature);
  req.set("X-Privstack-Delivery", delivery_id);
  req.body() = body;
  req.prepare_payload();
  return req;
}

}  // namespace

DeliveryResult post_webhook(const WebhookTarget& target, std::string_view secret, const std::string& body,
                            const std::string& timestamp, const std::string& delivery_id, std::chrono::seconds timeout) {
  DeliveryResult result;
  auto url = parse_url(target.url);
  if (!url) {
    result.error = "invalid webhook URL";
    return result;
  }
  auto req = make_request(*url, body, timestamp, sign(secret, timestamp, body), delivery_id);
  try {
    asio::io_context ioc;
    asio::ssl::context ssl_ctx(asio::ssl::context::tls_client);
    ssl_ctx.set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
    ssl_ctx.set_default_verify_paths();
    if (!target.ca_file.empty()) ssl_ctx.load_verify_file(target.ca_file.string());
    ssl_ctx.set_verify_mode(asio::ssl::verify_peer);

    auto run = [&]() -> asio::awaitable<void> {
      tcp::resolver resolver(ioc);
      auto endpoints = co_await resolver.async_resolve(url->host, url->port, asio::use_awaitable);
      bhttp::response<bhttp::string_body> res;
      beast::flat_buffer buffer;
      if (url->tls) {
        beast::ssl_stream<beast::tcp_stream> stream(ioc, ssl_ctx);
        SSL* ssl = stream.native_handle();
        // SNI only for names; the certificate is checked against the name or IP.
        boost::system::error_code ec;
        (void)asio::ip::make_address(url->host, ec);
        if (ec) {
          SSL_set_tlsext_host_name(ssl, url->host.c_str());
          SSL_set1_host(ssl, url->host.c_str());
        } else {
          X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url->host.c_str());
        }
        beast::get_lowest_layer(stream).expires_after(timeout);
        co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
        co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
        co_await bhttp::async_write(stream, req, asio::use_awaitable);
        co_await bhttp::async_read(stream, buffer, res, asio::use_awaitable);
        result.status = static_cast<int>(res.result_int());
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
        auto [sec] = co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
        (void)sec;
      } else {
        beast::tcp_stream stream(ioc);
        stream.expires_after(timeout);
        co_await stream.async_connect(endpoints, asio::use_awaitable);
        co_await bhttp::async_write(stream, req, asio::use_awaitable);
        co_await bhttp::async_read(stream, buffer, res, asio::use_awaitable);
        result.status = static_cast<int>(res.result_int());
      }
    };
    std::exception_ptr failure;
    asio::co_spawn(ioc, run(), [&](std::exception_ptr e) { failure = e; });
    ioc.run();
    if (failure) std::rethrow_exception(failure);
  } catch (const boost::system::system_error& e) {
    result.error = e.code().message();
  } catch (const std::exception& e) {
    result.error = e.what();
  }
  if (result.error.empty() && !result.ok()) result.error = "HTTP status " + std::to_string(result.status);
  return result;
}

}  // namespace privstack::incidents
