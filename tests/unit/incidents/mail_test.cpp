// Email composition and the sendmail runner (a real program: /bin/sh
// scripts stand in for the mail system; the integration test uses msmtp).
#include "incidents/mail.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace privstack::incidents {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

Mail sample() {
  Mail m;
  m.from = "privstack@appliance.test";
  m.to = {"secops@example.org", "oncall@example.org"};
  m.subject = "incident 7 opened (high): repeated login failures";
  m.body = "line one\nline two\n";
  m.date = "Mon, 23 Nov 2026 09:00:00 +0000";
  m.message_id = "incident-7-abc@appliance.test";
  return m;
}

TEST(Mail, HeadersThenBlankLineThenBody) {
  std::string m = compose_mail(sample());
  EXPECT_THAT(m, StartsWith("From: privstack@appliance.test\nTo: secops@example.org, oncall@example.org\n"
                            "Subject: incident 7 opened (high): repeated login failures\n"
                            "Date: Mon, 23 Nov 2026 09:00:00 +0000\n"
                            "Message-ID: <incident-7-abc@appliance.test>\n"));
  EXPECT_THAT(m, HasSubstr("Content-Type: text/plain; charset=utf-8\n"));
  EXPECT_THAT(m, HasSubstr("Auto-Submitted: auto-generated\n\nline one\nline two\n"));
}

// A title comes from events an attacker influences: it must not be able to
// add a header (a Bcc to themselves) or start the body early.
TEST(Mail, HeaderInjectionIsFlattened) {
  Mail m = sample();
  m.subject = "login failures\r\nBcc: attacker@evil.test\n\nfake body";
  m.to = {"secops@example.org\nBcc: attacker@evil.test"};
  std::string text = compose_mail(m);
  std::string headers = text.substr(0, text.find("\n\n"));
  std::istringstream lines(headers);
  for (std::string line; std::getline(lines, line);) EXPECT_THAT(line, Not(StartsWith("Bcc:"))) << line;
  EXPECT_THAT(headers, HasSubstr("Subject: login failures  Bcc: attacker@evil.test  fake body\n"));
}

TEST(Mail, NonAsciiSubjectIsEncodedWordsSplitOnCharacters) {
  Mail m = sample();
  m.subject = std::string("Zugriff verweigert für Émile Zoła ") + std::string(60, 'x') + "ünd";
  std::string text = compose_mail(m);
  auto start = text.find("Subject: ") + 9;
  std::string subject = text.substr(start, text.find("\nDate:") - start);
  EXPECT_THAT(subject, StartsWith("=?UTF-8?B?"));
  std::istringstream words(subject);
  for (std::string w; words >> w;) {
    EXPECT_LE(w.size(), 75u) << w;
    EXPECT_THAT(w, StartsWith("=?UTF-8?B?"));
  }
}

TEST(Mail, OverlongBodyLinesAreCut) {
  Mail m = sample();
  m.body = std::string(2000, 'a') + "\r\nnext\n";
  std::string text = compose_mail(m);
  EXPECT_THAT(text, HasSubstr("\n" + std::string(998, 'a') + "\nnext\n"));
  EXPECT_THAT(text, Not(HasSubstr("\r")));
}

class SendMail : public ::testing::Test {
 protected:
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("mail-test-" + std::to_string(::getpid()));
  void SetUp() override { std::filesystem::create_directories(dir); }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string script(const std::string& name, const std::string& body) {
    auto p = dir / name;
    std::ofstream(p) << "#!/bin/sh\n" << body << "\n";
    ::chmod(p.c_str(), 0700);
    return p.string();
  }
};

TEST_F(SendMail, ProgramGetsTheMessageOnStdinAndSendmailArguments) {
  auto out = dir / "got";
  auto args = dir / "args";
  std::string prog = script("sendmail", "echo \"$@\" > " + args.string() + "; cat > " + out.string());
  std::string message = compose_mail(sample());
  MailResult r = send_mail(prog, message);
  EXPECT_TRUE(r.ok()) << r.error;
  std::ifstream got(out);
  std::stringstream ss;
  ss << got.rdbuf();
  EXPECT_EQ(ss.str(), message);
  std::ifstream a(args);
  std::string argline;
  std::getline(a, argline);
  EXPECT_EQ(argline, "-oi -t");  // recipients from the To: header, never from argv
}

TEST_F(SendMail, FailureCarriesExitStatusAndStderr) {
  std::string prog = script("sendmail", "cat >/dev/null; echo 'msmtp: cannot connect to 127.0.0.1' >&2; exit 75");
  MailResult r = send_mail(prog, "x\n");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.exit_code, 75);
  EXPECT_THAT(r.error, HasSubstr("exited with status 75: msmtp: cannot connect to 127.0.0.1"));
}

TEST_F(SendMail, MissingOrRelativeProgramIsAClearError) {
  EXPECT_THAT(send_mail((dir / "nope").string(), "x\n").error, HasSubstr("cannot run"));
  EXPECT_THAT(send_mail("sendmail", "x\n").error, HasSubstr("absolute path"));
}

TEST_F(SendMail, HangingProgramIsKilledAtTheTimeout) {
  std::string prog = script("sendmail", "sleep 30");
  MailResult r = send_mail(prog, std::string(200000, 'x'), std::chrono::seconds(1));  // more than a pipe holds
  EXPECT_EQ(r.exit_code, -2);
  EXPECT_THAT(r.error, HasSubstr("did not finish within 1 s"));
}

}  // namespace
}  // namespace privstack::incidents
