// Listening sockets of the host (of the current network namespace), read
// with netlink sock_diag (inet_diag), the interface ss(8) uses: TCP sockets
// in LISTEN and bound UDP sockets (UNCONN), IPv4 and IPv6. Owning processes
// come from the socket inodes under /proc/PID/fd (as `ss -p` finds them)
// and their systemd unit from /proc/PID/cgroup.
//
// The result is meant to equal `ss -Hltunp` on the same host; endpoint()
// prints the local end exactly as ss does ("0.0.0.0:22", "[::1]:53",
// "*:80" for a dual-stack wildcard, "%lo" for a device-bound socket).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace privstack::hostaudit {

struct Process {
  int pid = 0;
  std::string name;  // /proc/PID/comm
  int fd = 0;
  std::string unit;  // systemd unit from /proc/PID/cgroup, "" when none
};

struct Socket {
  std::string proto;    // "tcp" or "udp"
  int family = 4;       // 4 or 6
  std::string address;  // numeric local address ("0.0.0.0", "::", "127.0.0.1", "fe80::1")
  std::uint16_t port = 0;
  bool v6only = false;         // IPv6 socket that does not take IPv4 (mapped) traffic
  std::string interface;       // SO_BINDTODEVICE / scope interface name, "" when none
  std::uint64_t inode = 0;
  std::uint32_t uid = 0;
  std::uint32_t recv_q = 0, send_q = 0;
  std::vector<Process> processes;  // may be empty (no permission to see the owner)

  bool wildcard() const { return address == "0.0.0.0" || address == "::"; }
  bool loopback_only() const;      // 127.0.0.0/8, ::1, or ::ffff:127.x, or bound to "lo"
  bool takes_ipv4() const { return family == 4 || (!v6only && address == "::") || address.starts_with("::ffff:"); }
  bool takes_ipv6() const { return family == 6 && !address.starts_with("::ffff:"); }
  std::string endpoint() const;  // as ss prints the local address:port
  std::string key() const;       // "tcp 0.0.0.0:22": identity for drift comparison
};

class SocketError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SocketOptions {
  bool processes = true;  // resolve owners via /proc (the slow part on huge hosts)
  std::string proc_root = "/proc";
};

// Throws SocketError when netlink sock_diag is unavailable.
std::vector<Socket> list_sockets(const SocketOptions& options = {});

// The systemd unit named in a /proc/PID/cgroup text ("0::/system.slice/ssh.service"
// -> "ssh.service"; user sessions -> the innermost .service/.scope), "" if none.
std::string unit_from_cgroup(const std::string& cgroup_text);

}  // namespace privstack::hostaudit
