// sock_diag against sockets this test opens itself.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "hostaudit/sockets.h"

namespace privstack::hostaudit {
namespace {

int bound(int family, int type, std::uint16_t* port, bool listen_too) {
  int fd = ::socket(family, type, 0);
  if (family == AF_INET) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    *port = ntohs(a.sin_port);
  } else {
    int one = 1;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    *port = ntohs(a.sin6_port);
  }
  if (listen_too) ::listen(fd, 4);
  return fd;
}

TEST(Sockets, FindsOwnListenersWithOwner) {
  std::uint16_t tcp_port = 0, udp_port = 0, tcp6_port = 0;
  int t = bound(AF_INET, SOCK_STREAM, &tcp_port, true);
  int u = bound(AF_INET, SOCK_DGRAM, &udp_port, false);
  int t6 = bound(AF_INET6, SOCK_STREAM, &tcp6_port, true);
  auto sockets = list_sockets();
  auto find = [&](const std::string& proto, std::uint16_t port, int family) {
    return std::find_if(sockets.begin(), sockets.end(), [&](const Socket& s) {
      return s.proto == proto && s.port == port && s.family == family;
    });
  };
  auto it = find("tcp", tcp_port, 4);
  ASSERT_NE(it, sockets.end());
  EXPECT_EQ(it->address, "127.0.0.1");
  EXPECT_TRUE(it->loopback_only());
  EXPECT_EQ(it->endpoint(), "127.0.0.1:" + std::to_string(tcp_port));
  ASSERT_FALSE(it->processes.empty());
  EXPECT_EQ(it->processes[0].pid, ::getpid());
  EXPECT_EQ(it->processes[0].fd, t);
  ASSERT_NE(find("udp", udp_port, 4), sockets.end());
  auto it6 = find("tcp", tcp6_port, 6);
  ASSERT_NE(it6, sockets.end());
  EXPECT_TRUE(it6->v6only);
  EXPECT_EQ(it6->endpoint(), "[::]:" + std::to_string(tcp6_port));
  EXPECT_FALSE(it6->loopback_only());
  ::close(t);
  ::close(u);
  ::close(t6);
}

TEST(Sockets, UnitFromCgroup) {
  EXPECT_EQ(unit_from_cgroup("0::/system.slice/ssh.service\n"), "ssh.service");
  EXPECT_EQ(unit_from_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n"), "session-3.scope");
  EXPECT_EQ(unit_from_cgroup("0::/\n"), "");
  EXPECT_EQ(unit_from_cgroup("12:pids:/x\n1:name=systemd:/system.slice/cron.service\n"), "cron.service");
}

TEST(Sockets, DualStackEndpointLikeSs) {
  Socket s;
  s.family = 6;
  s.address = "::";
  s.port = 80;
  s.v6only = false;
  EXPECT_EQ(s.endpoint(), "*:80");
  EXPECT_TRUE(s.takes_ipv4());
  s.interface = "eth0";
  EXPECT_EQ(s.endpoint(), "*%eth0:80");
}

}  // namespace
}  // namespace privstack::hostaudit
