#include "http/control.h"

#include "http/failure_log.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include "core/log.h"

namespace privstack::http {

namespace asio = boost::asio;
namespace json = boost::json;
using local = asio::local::stream_protocol;
constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxRequestBytes = 16 * 1024 * 1024;

namespace {

std::optional<gid_t> group_id(const std::string& name) {
  std::vector<char> buf(16384);
  group gr{};
  group* result = nullptr;
  if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &result) == 0 && result != nullptr) {
    return result->gr_gid;
  }
  return std::nullopt;
}

// True when `uid` has `gid` as primary or supplementary group.
bool user_in_group(uid_t uid, gid_t primary_gid, gid_t gid) {
  if (primary_gid == gid) return true;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* result = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &result) != 0 || result == nullptr) return false;
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<size_t>(count));
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0) return false;
  }
  groups.resize(static_cast<size_t>(count));
  return std::find(groups.begin(), groups.end(), gid) != groups.end();
}

std::string reply_ok(const json::value& result) {
  json::object out;
  out["ok"] = true;
  out["result"] = result;
  return json::serialize(out) + "\n";
}

// The control socket's one translation of an Error:
//   {"ok": false, "error": MESSAGE, "code": CODE, "reason"?: REASON,
//    "detail"?: DETAIL, "exit_code": N, "correlation_id": ID}
// Unlike HTTP clients, the peers here are the host's administrators (root
// and the privstack group, checked with SO_PEERCRED), so the internal detail
// (redacted like every log line) is shown to them as well.
std::string reply_error(const Error& e, std::string_view correlation_id = {}) {
  json::object out;
  out["ok"] = false;
  out["error"] = log::redact(e.message());
  out["code"] = to_string(e.code());
  if (!e.reason().empty()) out["reason"] = e.reason();
  if (!e.internal_detail().empty()) out["detail"] = log::redact(e.internal_detail());
  out["exit_code"] = exit_code(e.code());
  out["correlation_id"] = correlation_id.empty() ? new_correlation_id() : std::string(correlation_id);
  return json::serialize(out) + "\n";
}

// The answer for a failed command, logged (http/failure_log.h) under the
// correlation id the answer carries.
std::string failure(const std::string& command, const Error& e) {
  std::string id = new_correlation_id();
  const log::Field place[] = {{"COMMAND", command}};
  log_failure(e, "control command " + command, id, place);
  return reply_error(e, id);
}

}  // namespace

struct ControlServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, std::filesystem::path path, std::string group)
      : io(io), strand(asio::make_strand(io)), acceptor(strand), path(std::move(path)), group(std::move(group)) {}

  asio::io_context& io;
  asio::strand<asio::io_context::executor_type> strand;
  local::acceptor acceptor;
  std::filesystem::path path;
  std::string group;
  std::optional<gid_t> allowed_gid;
  std::map<std::string, ControlHandler> handlers;

  bool peer_allowed(const PeerCredentials& peer) const {
    if (peer.uid == 0 || peer.uid == ::geteuid()) return true;
    return allowed_gid && user_in_group(peer.uid, peer.gid, *allowed_gid);
  }

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(io), as_tuple_awaitable);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
        continue;
      }
      auto executor = socket.get_executor();
      asio::co_spawn(executor, serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> serve(local::socket socket) {
    auto self = shared_from_this();
    PeerCredentials peer;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) co_return;
    peer = {cred.pid, cred.uid, cred.gid};

    auto send = [&](const std::string& text) -> asio::awaitable<void> {
      co_await asio::async_write(socket, asio::buffer(text), as_tuple_awaitable);
    };
    if (!peer_allowed(peer)) {
      log::emit(log::events::control_denied, "control socket connection refused",
                {{"PEER_UID", static_cast<std::int64_t>(peer.uid)}, {"PEER_PID", static_cast<std::int64_t>(peer.pid)}});
      co_await send(reply_error(Error(ErrorCode::forbidden, "permission denied: run as root or as a member of the " + group + " group")));
      co_return;
    }

    // A deadline for reading the request and, later, for writing the answer,
    // so a stuck client cannot hold a slot. Not for running the command: a
    // backup of a large store or a rekey takes minutes, and the client waits.
    asio::steady_timer deadline(socket.get_executor(), std::chrono::seconds(30));
    deadline.async_wait([&socket](boost::system::error_code ec) {
      if (!ec) {
        boost::system::error_code ignored;
        socket.close(ignored);
      }
    });
    asio::streambuf buffer(kMaxRequestBytes);
    auto [ec, n] = co_await asio::async_read_until(socket, buffer, '\n', as_tuple_awaitable);
    if (ec) {
      if (ec == asio::error::not_found) co_await send(reply_error(Error(ErrorCode::payload_too_large, "request too large")));
      co_return;
    }
    std::string line(asio::buffers_begin(buffer.data()), asio::buffers_begin(buffer.data()) + static_cast<long>(n));
    deadline.cancel();

    std::string answer;
    ControlRequest request;
    request.peer = peer;
    request.identity = Identity::local(peer.uid);
    boost::system::error_code parse_ec;
    json::value doc = json::parse(line, parse_ec);
    if (parse_ec || !doc.is_object() || !doc.as_object().contains("command") ||
        !doc.as_object().at("command").is_string()) {
      answer = reply_error(Error(ErrorCode::invalid_argument, "malformed request"));
    } else {
      request.command = std::string(doc.as_object().at("command").as_string());
      if (auto* args = doc.as_object().if_contains("args"); args && args->is_object()) {
        request.args = args->as_object();
      }
      auto it = handlers.find(request.command);
      if (it == handlers.end()) {
        answer = reply_error(Error(ErrorCode::invalid_argument, "unknown command '" + request.command + "'"));
      } else {
        log::emit(log::events::control_command, "control command " + request.command,
                  {{"COMMAND", request.command}, {"PEER_UID", static_cast<std::int64_t>(peer.uid)}});
        try {
          json::value result = co_await it->second(request);
          answer = reply_ok(result);
        } catch (const Error& e) {
          answer = failure(request.command, e);
        } catch (const std::exception& e) {
          answer = failure(request.command, Error(ErrorCode::internal, "internal error; see the daemon's log", e.what()));
        }
      }
    }
    if (!socket.is_open()) co_return;
    deadline.expires_after(std::chrono::seconds(30));
    deadline.async_wait([&socket](boost::system::error_code ec) {
      if (!ec) {
        boost::system::error_code ignored;
        socket.close(ignored);
      }
    });
    co_await send(answer);
    deadline.cancel();
  }
};

ControlServer::ControlServer(asio::io_context& io, std::filesystem::path socket_path, std::string group)
    : impl_(std::make_shared<Impl>(io, std::move(socket_path), std::move(group))) {}

ControlServer::~ControlServer() = default;

void ControlServer::add(std::string command, ControlHandler handler) {
  impl_->handlers[std::move(command)] = std::move(handler);
}

void ControlServer::start() {
  auto& impl = *impl_;
  impl.allowed_gid = group_id(impl.group);
  std::error_code fs_ec;
  std::filesystem::create_directories(impl.path.parent_path(), fs_ec);
  // A socket left by a crashed daemon would make bind() fail; remove it,
  // but never remove anything that is not a socket.
  struct stat st {};
  if (::lstat(impl.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw std::runtime_error("cannot create control socket " + impl.path.string() + ": a non-socket file is in the way");
    }
    ::unlink(impl.path.c_str());
  }
  boost::system::error_code ec;
  impl.acceptor.open(local(), ec);
  mode_t old_mask = ::umask(0117);  // the socket is created 0660
  if (!ec) impl.acceptor.bind(local::endpoint(impl.path.string()), ec);
  ::umask(old_mask);
  if (!ec) impl.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot create control socket " + impl.path.string() + ": " + ec.message());
  }
  if (impl.allowed_gid) {
    if (::chown(impl.path.c_str(), static_cast<uid_t>(-1), *impl.allowed_gid) != 0) {
      // Not fatal: root and the daemon's user can still connect.
    }
  }
  asio::co_spawn(impl.strand, impl_->accept_loop(), asio::detached);
}

void ControlServer::stop() {
  auto impl = impl_;
  asio::post(impl->strand, [impl] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
  });
  ::unlink(impl->path.c_str());
}

json::value control_call(const std::filesystem::path& socket_path, std::string_view command,
                         const json::object& args) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("cannot create a socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string p = socket_path.string();
  if (p.size() >= sizeof addr.sun_path) {
    ::close(fd);
    throw std::runtime_error("control socket path too long: " + p);
  }
  std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd);
    std::string hint = (err == ENOENT || err == ECONNREFUSED) ? " (is privstackd running?)"
                       : (err == EACCES)                      ? " (run as root or as a member of the privstack group)"
                                                              : "";
    throw std::runtime_error("cannot connect to " + p + ": " + std::strerror(err) + hint);
  }
  json::object request;
  request["command"] = command;
  request["args"] = args;
  std::string out = json::serialize(request) + "\n";
  for (size_t off = 0; off < out.size();) {
    // MSG_NOSIGNAL: a daemon that refuses us closes early; we must not die
    // of SIGPIPE but read its answer, which says why.
    ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET) break;
      int err = errno;
      ::close(fd);
      throw std::runtime_error("cannot send to " + p + ": " + std::strerror(err));
    }
    off += static_cast<size_t>(n);
  }
  std::string in;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (n == 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  boost::system::error_code ec;
  json::value doc = json::parse(in, ec);
  if (ec || !doc.is_object()) throw std::runtime_error("the daemon sent a malformed answer");
  const json::object& o = doc.as_object();
  if (o.contains("ok") && o.at("ok").is_bool() && o.at("ok").as_bool()) {
    return o.contains("result") ? o.at("result") : json::value(nullptr);
  }
  auto text = [&](std::string_view key) -> std::string {
    const json::value* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  std::string message = text("error");
  if (message.empty()) message = "the daemon reported an error";
  ErrorCode code = parse_error_code(text("code")).value_or(ErrorCode::internal);
  Error e(code, std::move(message), text("detail"));
  if (std::string reason = text("reason"); !reason.empty()) e.with_reason(std::move(reason));
  throw e;
}

}  // namespace privstack::http
