// Email notifications through a local sendmail-compatible program
// (notifications.email): `PROGRAM -oi -t` reads the message on stdin and
// takes the recipients from its To: header, so no address or other text
// from an incident ever reaches an argv or a shell.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace privstack::incidents {

struct Mail {
  std::string from;
  std::vector<std::string> to;
  std::string subject;  // may hold any UTF-8 (RFC 2047-encoded when not ASCII)
  std::string body;     // UTF-8 text; lines end in \n
  std::string date;     // RFC 5322 date; empty: now
  std::string message_id;  // without <>; empty: none
};

// The RFC 5322 message: CR and LF are removed from header values (no header
// injection from an incident's title), the body's lines are capped at 998
// octets, and the text is 8-bit UTF-8 (Content-Type: text/plain).
std::string compose_mail(const Mail& mail);

struct MailResult {
  int exit_code = -1;  // the program's exit status; -1 not run, -2 timed out
  std::string error;   // empty when delivered to the program
  bool ok() const { return exit_code == 0 && error.empty(); }
};

// Runs `program -oi -t` with message on stdin and a minimal environment,
// waits at most timeout (then kills it). Never throws; the error carries
// the first line of the program's stderr.
MailResult send_mail(const std::string& program, const std::string& message,
                     std::chrono::seconds timeout = std::chrono::seconds(30));

}  // namespace privstack::incidents
