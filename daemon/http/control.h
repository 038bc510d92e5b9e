// The local control socket that privstackctl talks to.
//
// Protocol: the client writes one JSON object and a newline,
//   {"command": "user add", "args": {...}}
// and the daemon answers with one JSON object and a newline,
//   {"ok": true, "result": ...}  or  {"ok": false, "error": "...", "exit_code": 1}
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
};

// Thrown by a handler for an expected failure; the message goes to the
// client as it is, so it must be safe to show.
class ControlError : public std::runtime_error {
 public:
  explicit ControlError(const std::string& message, int exit_code = 1)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

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
// "result" value. Throws ControlError with the daemon's message and exit code
// on {"ok": false}, and std::runtime_error when the daemon cannot be reached.
boost::json::value control_call(const std::filesystem::path& socket_path, std::string_view command,
                                const boost::json::object& args);

}  // namespace privstack::http
