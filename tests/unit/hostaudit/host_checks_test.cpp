#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "hostaudit/host_checks.h"

namespace privstack::hostaudit {
namespace {

namespace fs = std::filesystem;

const char* kSshdT = R"(port 22
addressfamily any
permitrootlogin yes
passwordauthentication yes
kbdinteractiveauthentication no
pubkeyauthentication yes
)";

std::string status_of(const HostCheckReport& r, const std::string& id) {
  for (const auto& c : r.checks) {
    if (c.id == id) return c.status;
  }
  return "";
}

TEST(HostChecks, SshdSettings) {
  auto s = parse_sshd_t(kSshdT);
  EXPECT_EQ(s.at("permitrootlogin"), "yes");
  HostCheckReport r;
  check_sshd(s, r);
  EXPECT_EQ(status_of(r, "HA-SSH-001"), "fail");
  EXPECT_EQ(status_of(r, "HA-SSH-002"), "fail");
  ASSERT_EQ(r.findings.size(), 2u);
  EXPECT_EQ(r.findings[0].id, "HA-SSH-001:sshd");

  HostCheckReport ok;
  check_sshd(parse_sshd_t("permitrootlogin no\npasswordauthentication no\n"), ok);
  EXPECT_TRUE(ok.findings.empty());
  EXPECT_EQ(status_of(ok, "HA-SSH-001"), "pass");
}

TEST(HostChecks, AptSecurityUpdates) {
  const char* out =
      "NOTE: This is only a simulation!\n"
      "Inst libssl3 [3.0.11-1~deb12u1] (3.0.13-1~deb12u1 Debian-Security:12/stable-security [amd64])\n"
      "Inst tzdata [2024a-0+deb12u1] (2024b-0+deb12u1 Debian:12.7/stable-updates [all])\n"
      "Conf libssl3 (3.0.13-1~deb12u1 Debian-Security:12/stable-security [amd64])\n";
  EXPECT_EQ(apt_security_updates(out), std::vector<std::string>{"libssl3"});
  HostCheckReport r;
  check_updates({"libssl3"}, "apt", r);
  EXPECT_EQ(status_of(r, "HA-PKG-001"), "fail");
  EXPECT_EQ(r.findings.at(0).severity, Severity::high);
}

TEST(HostChecks, DnfSecurityUpdates) {
  const char* out = "RHSA-2024:1234 Important/Sec. openssl-1:3.0.7-25.el9_3.x86_64\nRHBA-2024:1 bugfix foo-1.0\n";
  EXPECT_EQ(dnf_security_updates(out), std::vector<std::string>{"openssl-1:3.0.7-25.el9_3.x86_64"});
}

TEST(HostChecks, CertificateExpiry) {
  auto now = std::chrono::system_clock::now();
  HostCheckReport soon, gone, fine;
  check_certificate_expiry(now + std::chrono::hours(24 * 10), "/c.pem", now, soon);
  check_certificate_expiry(now - std::chrono::hours(1), "/c.pem", now, gone);
  check_certificate_expiry(now + std::chrono::hours(24 * 300), "/c.pem", now, fine);
  EXPECT_EQ(soon.findings.at(0).severity, Severity::medium);
  EXPECT_EQ(gone.findings.at(0).severity, Severity::high);
  EXPECT_TRUE(fine.findings.empty());
}

TEST(HostChecks, FilesAndKernelFromFixtures) {
  fs::path dir = fs::temp_directory_path() / ("hostaudit-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "state");
  fs::permissions(dir / "state", fs::perms(0755));
  std::ofstream(dir / "state" / "store.key") << "x";
  fs::permissions(dir / "state" / "store.key", fs::perms(0644));
  auto put = [&](const std::string& rel, const std::string& v) {
    fs::create_directories((dir / "sys" / rel).parent_path());
    std::ofstream(dir / "sys" / rel) << v << "\n";
  };
  put("net/ipv4/ip_forward", "1");
  put("net/ipv4/conf/all/rp_filter", "0");
  put("net/ipv4/conf/default/rp_filter", "1");
  put("net/ipv4/conf/all/accept_redirects", "0");
  put("net/ipv4/conf/default/accept_redirects", "0");
  HostCheckInput in;
  in.state_directory = dir / "state";
  in.key_files = {dir / "state" / "store.key"};
  in.proc_sys = dir / "sys";
  in.run_commands = false;
  HostCheckReport r = run_host_checks(in);
  EXPECT_EQ(status_of(r, "HA-FILE-001"), "fail");
  EXPECT_EQ(status_of(r, "HA-FILE-002"), "fail");
  EXPECT_EQ(status_of(r, "HA-KERN-001"), "fail");
  EXPECT_EQ(status_of(r, "HA-KERN-002"), "pass");  // default=1 keeps it on for new interfaces
  EXPECT_EQ(status_of(r, "HA-KERN-003"), "pass");
  fs::remove_all(dir);
}

TEST(HostChecks, MissingToolIsNotAFailure) {
  EXPECT_FALSE(run_command({"/nonexistent/sshd", "-T"}, std::chrono::seconds(1)).has_value());
  auto r = run_command({"/bin/sh", "-c", "echo hi; exit 3"}, std::chrono::seconds(5));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "hi\n");
}

}  // namespace
}  // namespace privstack::hostaudit
