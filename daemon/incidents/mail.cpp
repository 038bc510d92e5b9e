#include "incidents/mail.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/encoding.h"
#include "core/time.h"

namespace privstack::incidents {

namespace {

std::string header_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\r' || c == '\n') {
      out += ' ';
    } else if (static_cast<unsigned char>(c) >= 0x20 || c == '\t') {
      out += c;
    }
  }
  return out;
}

bool ascii(std::string_view v) {
  for (char c : v)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// RFC 2047 encoded words of at most 75 characters, split between UTF-8
// characters (never inside one).
std::string encode_subject(const std::string& s) {
  if (ascii(s)) return s;
  std::string out;
  std::size_t start = 0;
  while (start < s.size()) {
    std::size_t end = std::min(s.size(), start + 45);  // 45 octets -> 60 base64 characters
    while (end < s.size() && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
    if (!out.empty()) out += "\n ";
    out += "=?UTF-8?B?" + base64_encode(std::string_view(s).substr(start, end - start)) + "?=";
    start = end;
  }
  return out;
}

std::string rfc5322_now() { return format_utc(default_clock().unix_seconds(), "%a, %d %b %Y %H:%M:%S +0000"); }

}  // namespace

std::string compose_mail(const Mail& mail) {
  std::string to;
  for (const auto& a : mail.to) to += (to.empty() ? "" : ", ") + header_value(a);
  std::string m;
  m += "From: " + header_value(mail.from) + "\n";
  m += "To: " + to + "\n";
  m += "Subject: " + encode_subject(header_value(mail.subject)) + "\n";
  m += "Date: " + (mail.date.empty() ? rfc5322_now() : header_value(mail.date)) + "\n";
  if (!mail.message_id.empty()) m += "Message-ID: <" + header_value(mail.message_id) + ">\n";
  m += "MIME-Version: 1.0\n";
  m += "Content-Type: text/plain; charset=utf-8\n";
  m += "Content-Transfer-Encoding: 8bit\n";
  m += "Auto-Submitted: auto-generated\n";  // RFC 3834: no vacation replies
  m += "\n";
  std::size_t start = 0;
  while (start < mail.body.size()) {
    std::size_t nl = mail.body.find('\n', start);
    std::string_view line = std::string_view(mail.body).substr(start, nl == std::string::npos ? nl : nl - start);
    std::string clean;
    for (char c : line)
      if (c != '\r') clean += c;
    if (clean.size() > 998) clean.resize(998);
    m += clean + "\n";
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return m;
}

MailResult send_mail(const std::string& program, const std::string& message, std::chrono::seconds timeout) {
  MailResult r;
  if (program.empty() || program[0] != '/') {
    r.error = "notifications.email.sendmail must be an absolute path";
    return r;
  }
  if (::access(program.c_str(), X_OK) != 0) {
    r.error = "cannot run " + program + ": " + std::strerror(errno);
    return r;
  }
  int in_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
    r.error = std::string("pipe: ") + std::strerror(errno);
    return r;
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    r.error = std::string("pipe: ") + std::strerror(errno);
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    return r;
  }
  const char* argv[] = {program.c_str(), "-oi", "-t", nullptr};
  const char* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8", nullptr};
  pid_t pid = ::fork();
  if (pid < 0) {
    r.error = std::string("fork: ") + std::strerror(errno);
    for (int fd : {in_pipe[0], in_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    return r;
  }
  if (pid == 0) {
    ::dup2(in_pipe[0], STDIN_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull >= 0) ::dup2(devnull, STDOUT_FILENO);
    ::execve(argv[0], const_cast<char* const*>(argv), const_cast<char* const*>(envp));
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(err_pipe[1]);
  // Write the message and read stderr together (either may fill its pipe).
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t written = 0;
  int in_fd = in_pipe[1];
  int err_fd = err_pipe[0];
  ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  std::string err;
  bool timed_out = false;
  while (in_fd >= 0 || err_fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[2] = {{in_fd, POLLOUT, 0}, {err_fd, POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (in_fd >= 0 && (fds[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t k = ::write(in_fd, message.data() + written, message.size() - written);
      if (k > 0) written += static_cast<std::size_t>(k);
      if ((k < 0 && errno != EAGAIN && errno != EINTR) || written == message.size()) {
        ::close(in_fd);  // EOF: the program sends what it has read
        in_fd = -1;
      }
    }
    if (err_fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[4096];
      ssize_t k = ::read(err_fd, buf, sizeof buf);
      if (k > 0) {
        if (err.size() < 4096) err.append(buf, static_cast<std::size_t>(k));
      } else if (k == 0 || errno != EINTR) {
        ::close(err_fd);
        err_fd = -1;
      }
    }
  }
  if (in_fd >= 0) ::close(in_fd);
  if (err_fd >= 0) ::close(err_fd);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string first_line = err.substr(0, err.find('\n'));
  if (timed_out) {
    r.exit_code = -2;
    r.error = program + " did not finish within " + std::to_string(timeout.count()) + " s";
  } else if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
    if (r.exit_code == 127 && err.empty()) r.error = "cannot run " + program;
    else if (r.exit_code != 0) r.error = program + " exited with status " + std::to_string(r.exit_code);
    else if (written != message.size()) r.error = program + " did not read the whole message";
  } else {
    r.error = program + " was killed by signal " + std::to_string(WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  }
  if (!r.error.empty() && !first_line.empty()) r.error += ": " + first_line;
  return r;
}

}  // namespace privstack::incidents
