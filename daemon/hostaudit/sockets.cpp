#include "hostaudit/sockets.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>

namespace privstack::hostaudit {

namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string format_address(int family, const std::uint32_t* words) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) {
    ::inet_ntop(AF_INET, words, buf, sizeof buf);
  } else {
    ::inet_ntop(AF_INET6, words, buf, sizeof buf);
  }
  return buf;
}

std::string interface_name(unsigned index) {
  if (index == 0) return {};
  char name[IF_NAMESIZE] = {};
  if (::if_indextoname(index, name) == nullptr) return std::to_string(index);
  return name;
}

// One inet_diag dump for (family, protocol); appends to `out`.
void dump(int family, int protocol, std::vector<Socket>& out) {
  Fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (fd.get() < 0) throw SocketError(std::string("netlink sock_diag socket: ") + std::strerror(errno));
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } request{};
  request.nlh.nlmsg_len = sizeof request;
  request.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  request.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request.nlh.nlmsg_seq = 1;
  request.req.sdiag_family = static_cast<__u8>(family);
  request.req.sdiag_protocol = static_cast<__u8>(protocol);
  // As `ss -l`: LISTEN and CLOSE (UDP's "UNCONN").
  request.req.idiag_states = (1u << TCP_LISTEN) | (1u << TCP_CLOSE);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd.get(), &request, sizeof request, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    throw SocketError(std::string("netlink sock_diag request: ") + std::strerror(errno));
  }
  std::vector<char> buffer(1 << 16);
  for (;;) {
    ssize_t n = ::recv(fd.get(), buffer.data(), buffer.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SocketError(std::string("netlink sock_diag receive: ") + std::strerror(errno));
    }
    if (n == 0) return;
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer.data()); NLMSG_OK(h, static_cast<unsigned>(len));
         h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) return;
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        // A kernel without this protocol's diag module: nothing to list.
        if (err->error == -ENOENT || err->error == -EOPNOTSUPP) return;
        throw SocketError(std::string("netlink sock_diag: ") + std::strerror(-err->error));
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
      auto* msg = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
      Socket s;
      s.proto = protocol == IPPROTO_TCP ? "tcp" : "udp";
      s.family = msg->idiag_family == AF_INET ? 4 : 6;
      s.address = format_address(msg->idiag_family, msg->id.idiag_src);
      s.port = ntohs(msg->id.idiag_sport);
      s.interface = interface_name(msg->id.idiag_if);
      s.inode = msg->idiag_inode;
      s.uid = msg->idiag_uid;
      s.recv_q = msg->idiag_rqueue;
      s.send_q = msg->idiag_wqueue;
      int attr_len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(*msg)));
      for (auto* a = reinterpret_cast<rtattr*>(msg + 1); RTA_OK(a, attr_len); a = RTA_NEXT(a, attr_len)) {
        if (a->rta_type == INET_DIAG_SKV6ONLY && RTA_PAYLOAD(a) >= 1) {
          s.v6only = *static_cast<const std::uint8_t*>(RTA_DATA(a)) != 0;
        }
      }
      out.push_back(std::move(s));
    }
  }
}

std::string read_small_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

bool all_digits(const char* s) {
  if (*s == 0) return false;
  for (; *s; ++s) {
    if (*s < '0' || *s > '9') return false;
  }
  return true;
}

// inode -> owners, for the inodes in `wanted`, scanning /proc/*/fd like ss -p.
void resolve_owners(std::vector<Socket>& sockets, const std::string& proc_root) {
  std::unordered_map<std::uint64_t, std::vector<Socket*>> by_inode;
  for (auto& s : sockets) {
    if (s.inode != 0) by_inode[s.inode].push_back(&s);
  }
  if (by_inode.empty()) return;
  DIR* proc = ::opendir(proc_root.c_str());
  if (proc == nullptr) return;
  while (dirent* pe = ::readdir(proc)) {
    if (!all_digits(pe->d_name)) continue;
    std::string base = proc_root + "/" + pe->d_name;
    DIR* fds = ::opendir((base + "/fd").c_str());
    if (fds == nullptr) continue;  // gone, or not ours to see
    std::string name, unit;
    bool described = false;
    while (dirent* fe = ::readdir(fds)) {
      if (!all_digits(fe->d_name)) continue;
      char link[64];
      ssize_t n = ::readlinkat(::dirfd(fds), fe->d_name, link, sizeof link - 1);
      if (n <= 8) continue;
      link[n] = 0;
      if (std::strncmp(link, "socket:[", 8) != 0) continue;
      std::uint64_t inode = std::strtoull(link + 8, nullptr, 10);
      auto it = by_inode.find(inode);
      if (it == by_inode.end()) continue;
      if (!described) {
        name = read_small_file(base + "/comm");
        if (!name.empty() && name.back() == '\n') name.pop_back();
        unit = unit_from_cgroup(read_small_file(base + "/cgroup"));
        described = true;
      }
      for (Socket* s : it->second) {
        s->processes.push_back(Process{std::atoi(pe->d_name), name, std::atoi(fe->d_name), unit});
      }
    }
    ::closedir(fds);
  }
  ::closedir(proc);
}

}  // namespace

bool Socket::loopback_only() const {
  if (interface == "lo") return true;
  if (family == 4) return address.starts_with("127.");
  return address == "::1" || address.starts_with("::ffff:127.");
}

std::string Socket::endpoint() const {
  std::string a;
  if (family == 4) {
    a = address;
  } else if (!v6only && address == "::") {
    a = "*";
  } else {
    a = "[" + address + "]";
  }
  if (!interface.empty()) a += "%" + interface;
  return a + ":" + std::to_string(port);
}

std::string Socket::key() const { return proto + " " + endpoint(); }

std::string unit_from_cgroup(const std::string& cgroup_text) {
  // cgroup v2: "0::/system.slice/ssh.service"; v1 lines "N:name=systemd:/..." also work.
  std::istringstream in(cgroup_text);
  std::string line, path;
  while (std::getline(in, line)) {
    auto pos = line.find(':');
    if (pos == std::string::npos) continue;
    auto pos2 = line.find(':', pos + 1);
    if (pos2 == std::string::npos) continue;
    std::string controllers = line.substr(pos + 1, pos2 - pos - 1);
    if (controllers.empty() || controllers == "name=systemd") {
      path = line.substr(pos2 + 1);
      break;
    }
  }
  std::string unit;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string segment = path.substr(start, end - start);
    if (segment.ends_with(".service") || segment.ends_with(".scope") || segment.ends_with(".socket")) unit = segment;
    start = end + 1;
  }
  return unit;
}

std::vector<Socket> list_sockets(const SocketOptions& options) {
  std::vector<Socket> out;
  // ss prints TCP before UDP; IPv4 before IPv6 within each.
  for (int protocol : {IPPROTO_TCP, IPPROTO_UDP}) {
    for (int family : {AF_INET, AF_INET6}) dump(family, protocol, out);
  }
  if (options.processes) resolve_owners(out, options.proc_root);
  return out;
}

}  // namespace privstack::hostaudit
