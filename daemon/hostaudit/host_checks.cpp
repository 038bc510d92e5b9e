#include "hostaudit/host_checks.h"

#include <fcntl.h>
#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace privstack::hostaudit {

namespace json = boost::json;
namespace fs = std::filesystem;

json::object CheckResult::to_json() const {
  return json::object{{"id", id}, {"title", title}, {"status", status}, {"detail", detail}};
}

std::optional<CommandResult> run_command(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  if (argv.empty() || ::access(argv[0].c_str(), X_OK) != 0) return std::nullopt;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return CommandResult{-1, "", std::strerror(errno)};
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return CommandResult{-1, "", std::strerror(errno)};
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const char* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", nullptr};
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    return CommandResult{-1, "", std::strerror(errno)};
  }
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::execve(args[0], args.data(), const_cast<char* const*>(envp));
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  CommandResult r;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (auto& p : fds) {
      if (p.fd < 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t k = ::read(p.fd, buf, sizeof buf);
      if (k > 0) {
        (p.fd == out_pipe[0] ? r.out : r.err).append(buf, static_cast<size_t>(k));
      } else if (k == 0 || errno != EINTR) {
        ::close(p.fd);
        p.fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& p : fds) {
    if (p.fd >= 0) ::close(p.fd);
  }
  if (open_fds > 0) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = open_fds > 0 ? -2 : WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::map<std::string, std::string> parse_sshd_t(std::string_view text) {
  std::map<std::string, std::string> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    auto sp = line.find(' ');
    if (sp == std::string::npos || sp == 0) continue;
    std::string key = line.substr(0, sp);
    for (auto& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!out.contains(key)) out[key] = line.substr(sp + 1);  // first value wins, as sshd
  }
  return out;
}

namespace {

void add(HostCheckReport& r, std::string id, std::string title, std::string status, std::string detail) {
  r.checks.push_back(CheckResult{std::move(id), std::move(title), std::move(status), std::move(detail)});
}

Finding finding(std::string check, Severity sev, std::string subject, std::string title, std::string detail,
                std::string remediation) {
  Finding f;
  f.check = std::move(check);
  f.severity = sev;
  f.subject = std::move(subject);
  f.title = std::move(title);
  f.detail = std::move(detail);
  f.remediation = std::move(remediation);
  f.id = f.check + ":" + f.subject;
  return f;
}

}  // namespace

void check_sshd(const std::map<std::string, std::string>& s, HostCheckReport& report) {
  auto get = [&](const char* k) {
    auto it = s.find(k);
    return it == s.end() ? std::string() : it->second;
  };
  std::string root = get("permitrootlogin");
  if (root == "yes") {
    add(report, "HA-SSH-001", "sshd root login", "fail", "PermitRootLogin yes");
    report.findings.push_back(finding("HA-SSH-001", Severity::high, "sshd", "sshd permits root login with a password",
                                      "sshd -T reports PermitRootLogin yes.",
                                      "Set PermitRootLogin no in /etc/ssh/sshd_config (or a file in "
                                      "/etc/ssh/sshd_config.d/) and reload ssh; administer through a named account."));
  } else if (root == "without-password" || root == "prohibit-password" || root == "forced-commands-only") {
    add(report, "HA-SSH-001", "sshd root login", "fail", "PermitRootLogin " + root);
    report.findings.push_back(finding("HA-SSH-001", Severity::low, "sshd", "sshd permits root login with a key",
                                      "sshd -T reports PermitRootLogin " + root + ".",
                                      "Set PermitRootLogin no and use named accounts with sudo, so that actions "
                                      "are attributable."));
  } else {
    add(report, "HA-SSH-001", "sshd root login", "pass", "PermitRootLogin " + (root.empty() ? "(unset)" : root));
  }
  std::string pw = get("passwordauthentication");
  std::string kbd = get("kbdinteractiveauthentication");
  if (kbd.empty()) kbd = get("challengeresponseauthentication");
  if (pw == "yes") {
    add(report, "HA-SSH-002", "sshd password authentication", "fail", "PasswordAuthentication yes");
    report.findings.push_back(finding("HA-SSH-002", Severity::medium, "sshd", "sshd accepts password authentication",
                                      "sshd -T reports PasswordAuthentication yes: passwords can be guessed "
                                      "remotely.",
                                      "Set PasswordAuthentication no (and KbdInteractiveAuthentication no) after "
                                      "installing SSH keys for every administrator; reload ssh."));
  } else {
    add(report, "HA-SSH-002", "sshd password authentication", "pass",
        "PasswordAuthentication " + (pw.empty() ? "(unset)" : pw));
  }
}

std::vector<std::string> apt_security_updates(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("Inst ")) continue;
    // "Inst libssl3 [3.0.11-1~deb12u1] (3.0.13-1~deb12u1 Debian-Security:12/stable-security [amd64])"
    auto paren = line.find('(');
    if (paren == std::string::npos) continue;
    std::string origin = line.substr(paren);
    if (origin.find("-security") == std::string::npos && origin.find("Security") == std::string::npos) continue;
    auto end = line.find(' ', 5);
    out.push_back(line.substr(5, end == std::string::npos ? std::string::npos : end - 5));
  }
  return out;
}

std::vector<std::string> dnf_security_updates(std::string_view text) {
  // "RHSA-2024:1234 Important/Sec. openssl-1:3.0.7-25.el9_3.x86_64"
  std::set<std::string> pkgs;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string advisory, type, pkg;
    if (!(words >> advisory >> type >> pkg)) continue;
    if (type.find("Sec") == std::string::npos) continue;
    pkgs.insert(pkg);
  }
  return {pkgs.begin(), pkgs.end()};
}

void check_updates(const std::vector<std::string>& packages, const std::string& tool, HostCheckReport& report) {
  if (packages.empty()) {
    add(report, "HA-PKG-001", "pending security updates", "pass", "none pending (" + tool + ")");
    return;
  }
  std::string list;
  for (std::size_t i = 0; i < packages.size() && i < 20; ++i) list += (i ? ", " : "") + packages[i];
  if (packages.size() > 20) list += ", ...";
  add(report, "HA-PKG-001", "pending security updates", "fail", std::to_string(packages.size()) + " package(s)");
  report.findings.push_back(finding("HA-PKG-001", Severity::high, "packages",
                                    std::to_string(packages.size()) + " security update(s) pending",
                                    "Security updates are available for: " + list + ".",
                                    tool == "apt" ? "Run apt-get update && apt-get upgrade (or enable "
                                                    "unattended-upgrades for the security archive)."
                                                  : "Run dnf upgrade --security (or enable dnf-automatic)."));
}

void check_certificate_expiry(std::optional<std::chrono::system_clock::time_point> not_after,
                              const fs::path& path, std::chrono::system_clock::time_point now,
                              HostCheckReport& report) {
  if (!not_after) {
    add(report, "HA-TLS-001", "TLS certificate expiry", "skipped", "cannot read " + path.string());
    return;
  }
  auto days = std::chrono::duration_cast<std::chrono::hours>(*not_after - now).count() / 24;
  if (*not_after <= now) {
    add(report, "HA-TLS-001", "TLS certificate expiry", "fail", "expired");
    report.findings.push_back(finding("HA-TLS-001", Severity::high, path.string(), "The TLS certificate has expired",
                                      path.string() + " is no longer valid; browsers and API clients refuse it.",
                                      "Install a renewed certificate at tls.certificate / tls.private_key and "
                                      "reload privstackd (systemctl reload privstackd)."));
  } else if (*not_after - now < std::chrono::hours(24 * 30)) {
    add(report, "HA-TLS-001", "TLS certificate expiry", "fail", "expires in " + std::to_string(days) + " days");
    report.findings.push_back(finding("HA-TLS-001", Severity::medium, path.string(),
                                      "The TLS certificate expires in " + std::to_string(days) + " days",
                                      path.string() + " expires within 30 days.",
                                      "Renew the certificate and reload privstackd before it expires."));
  } else {
    add(report, "HA-TLS-001", "TLS certificate expiry", "pass", "valid for " + std::to_string(days) + " days");
  }
}

namespace {

std::optional<std::chrono::system_clock::time_point> certificate_not_after(const fs::path& path) {
  FILE* f = std::fopen(path.c_str(), "re");
  if (!f) return std::nullopt;
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (!cert) return std::nullopt;
  std::optional<std::chrono::system_clock::time_point> out;
  tm t{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &t) == 1) {
    out = std::chrono::system_clock::from_time_t(timegm(&t));
  }
  X509_free(cert);
  return out;
}

std::optional<std::string> read_sysctl(const fs::path& root, const std::string& name) {
  std::string rel = name;
  for (auto& ch : rel) {
    if (ch == '.') ch = '/';
  }
  std::ifstream in(root / rel);
  std::string v;
  if (!(in >> v)) return std::nullopt;
  return v;
}

void check_kernel(const fs::path& root, HostCheckReport& report) {
  struct K {
    const char* id;
    const char* title;
    std::vector<std::string> keys;
    std::string bad;  // value that fails
    Severity severity;
    const char* remediation;
  };
  const std::vector<K> checks = {
      {"HA-KERN-001", "IP forwarding", {"net.ipv4.ip_forward"}, "1", Severity::medium,
       "Set net.ipv4.ip_forward = 0 in /etc/sysctl.d/ unless this host must route packets."},
      {"HA-KERN-002", "reverse-path filtering", {"net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"}, "0",
       Severity::low, "Set net.ipv4.conf.all.rp_filter = 1 and net.ipv4.conf.default.rp_filter = 1 in /etc/sysctl.d/."},
      {"HA-KERN-003", "ICMP redirects",
       {"net.ipv4.conf.all.accept_redirects", "net.ipv4.conf.default.accept_redirects", "net.ipv6.conf.all.accept_redirects",
        "net.ipv6.conf.default.accept_redirects"},
       "1", Severity::low, "Set net.ipv4.conf.all.accept_redirects = 0 and net.ipv6.conf.all.accept_redirects = 0 (and "
       "the .default. variants) in /etc/sysctl.d/."},
  };
  for (const auto& k : checks) {
    std::vector<std::string> bad, seen;
    for (const auto& key : k.keys) {
      auto v = read_sysctl(root, key);
      if (!v) continue;
      seen.push_back(key + "=" + *v);
      // rp_filter: "all" and "default" combine as the maximum; off only when both are 0.
      if (*v == k.bad) bad.push_back(key + " = " + *v);
    }
    bool fails = std::string(k.id) == "HA-KERN-002" ? (bad.size() == k.keys.size()) : !bad.empty();
    if (seen.empty()) {
      add(report, k.id, k.title, "skipped", "not readable");
    } else if (!fails) {
      std::string d;
      for (const auto& s : seen) d += (d.empty() ? "" : ", ") + s;
      add(report, k.id, k.title, "pass", d);
    } else {
      std::string d;
      for (const auto& b : bad) d += (d.empty() ? "" : ", ") + b;
      add(report, k.id, k.title, "fail", d);
      report.findings.push_back(finding(k.id, k.severity, k.keys.front(), std::string(k.title) + " is enabled" +
                                        (std::string(k.id) == "HA-KERN-002" ? " (off)" : ""),
                                        "Kernel setting: " + d + ".", k.remediation));
      if (std::string(k.id) == "HA-KERN-002") report.findings.back().title = "Reverse-path filtering is off";
    }
  }
}

void check_files(const HostCheckInput& in, HostCheckReport& report) {
  bool any = false;
  for (const auto& k : in.key_files) {
    struct stat st {};
    if (::stat(k.c_str(), &st) != 0) continue;
    any = true;
    if (st.st_mode & 077) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
      add(report, "HA-FILE-001", "key file permissions", "fail", k.string() + " mode " + mode);
      Finding f = finding("HA-FILE-001", Severity::high, k.string(), "Key file " + k.string() + " is readable by others",
                          k.string() + " has mode " + mode + "; key files must be 0600 or 0400.",
                          "chmod 0600 " + k.string());
      f.command = "chmod 0600 '" + k.string() + "'";
      report.findings.push_back(f);
    } else {
      add(report, "HA-FILE-001", "key file permissions", "pass", k.string());
    }
  }
  if (!any) add(report, "HA-FILE-001", "key file permissions", "skipped", "no key files found");
  struct stat st {};
  if (!in.state_directory.empty() && ::stat(in.state_directory.c_str(), &st) == 0) {
    if (st.st_mode & 007) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
      add(report, "HA-FILE-002", "state directory permissions", "fail", std::string("mode ") + mode);
      Finding f = finding("HA-FILE-002", Severity::medium, in.state_directory.string(),
                          "The state directory is accessible to all users",
                          in.state_directory.string() + " has mode " + mode + "; it should be 0750 or stricter.",
                          "chmod 0750 " + in.state_directory.string());
      f.command = "chmod 0750 '" + in.state_directory.string() + "'";
      report.findings.push_back(f);
    } else {
      add(report, "HA-FILE-002", "state directory permissions", "pass", in.state_directory.string());
    }
  } else {
    add(report, "HA-FILE-002", "state directory permissions", "skipped", "no state directory");
  }
}

}  // namespace

HostCheckReport run_host_checks(const HostCheckInput& in) {
  HostCheckReport report;
  if (in.run_commands) {
    std::optional<CommandResult> sshd;
    for (const char* path : {"/usr/sbin/sshd", "/sbin/sshd"}) {
      sshd = run_command({path, "-T"}, std::chrono::seconds(20));
      if (sshd) break;
    }
    if (!sshd) {
      add(report, "HA-SSH-001", "sshd root login", "skipped", "sshd is not installed");
      add(report, "HA-SSH-002", "sshd password authentication", "skipped", "sshd is not installed");
    } else if (sshd->exit_code != 0) {
      std::string why = sshd->err.substr(0, sshd->err.find('\n'));
      add(report, "HA-SSH-001", "sshd root login", "skipped", "sshd -T failed: " + why);
      add(report, "HA-SSH-002", "sshd password authentication", "skipped", "sshd -T failed: " + why);
    } else {
      check_sshd(parse_sshd_t(sshd->out), report);
    }
    if (auto apt = run_command({"/usr/bin/apt-get", "-s", "-o", "Debug::NoLocking=1", "upgrade"}, std::chrono::seconds(120))) {
      if (apt->exit_code == 0) {
        check_updates(apt_security_updates(apt->out), "apt", report);
      } else {
        add(report, "HA-PKG-001", "pending security updates", "skipped", "apt-get -s upgrade failed");
      }
    } else {
      std::optional<CommandResult> dnf = run_command({"/usr/bin/dnf", "-q", "updateinfo", "list", "--security"},
                                                     std::chrono::seconds(120));
      if (!dnf) dnf = run_command({"/usr/bin/yum", "-q", "updateinfo", "list", "security"}, std::chrono::seconds(120));
      if (!dnf) {
        add(report, "HA-PKG-001", "pending security updates", "skipped", "no apt-get, dnf or yum");
      } else if (dnf->exit_code == 0) {
        check_updates(dnf_security_updates(dnf->out), "dnf", report);
      } else {
        add(report, "HA-PKG-001", "pending security updates", "skipped", "dnf updateinfo failed");
      }
    }
  }
  check_files(in, report);
  if (!in.certificate.empty()) {
    check_certificate_expiry(certificate_not_after(in.certificate), in.certificate, in.now, report);
  }
  check_kernel(in.proc_sys, report);
  return report;
}

}  // namespace privstack::hostaudit
