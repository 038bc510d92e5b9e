// The local control socket that privstackctl talks to.
//
// Protocol: the client writes one JSON object and a newline,
//   {"command": "user add", "args": {...}}
// and the daemon answers with one JSON object and a newline,
//   {"ok": true, "result": ...}  or
//   {"ok": false, "error": "...", "code": "not_found", "exit_code": 1, "correlation_id": "..."}
// then closes. Peers are authenticated with SO_PEERCRED: root, the daemon's
// own user, and members of the privstack group may connect; the socket file
// is also mode 0660 so others cannot even connect.
#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "core/error.h"
#include "core/identity.h"

namespace boost::asio {
class io_context;
}

namespace privstack::http {

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct ControlRequest {
  std::string command;
  boost::json::object args;
  PeerCredentials peer;
  Identity identity;  // Identity::local(peer.uid)
};

// Handlers report expected failures by throwing privstack::Error
// (core/error.h): the client gets its message, code and exit code; any other
// exception is answered as `internal` and logged.

using ControlHandler = std::function<boost::asio::awaitable<boost::json::value>(const ControlRequest&)>;

class ControlServer {
 public:
  // `group` is the group whose members may connect besides root and the
  // daemon's own user (normally "privstack"); a missing group is ignored.
  ControlServer(boost::asio::io_context& io, std::filesystem::path socket_path, std::string group = "privstack");
  ~ControlServer();

  void add(std::string command, ControlHandler handler);
  // Creates the socket (replacing a stale one), mode 0660. Throws
  // std::runtime_error with a clear message when it cannot.
  void start();
  // Closes the listener and removes the socket file.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Client side, used by privstackctl: sends one request and returns the
// "result" value. Throws privstack::Error with the daemon's message, code and
// detail on {"ok": false}, and std::runtime_error when the daemon cannot be
// reached.
boost::json::value control_call(const std::filesystem::path& socket_path, std::string_view command,
                                const boost::json::object& args);

}  // namespace privstack::http
