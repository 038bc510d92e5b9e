// privstackctl's command-line parsing against a small table, and the real
// table's own consistency (each command reachable, documented in the man
// page; the bash completion reads `privstackctl --help`, so it follows).
#include "ctl/command_line.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <set>

#include "ctl/commands.h"

namespace privstack::ctl {
namespace {

using ::testing::HasSubstr;
using Outcome = ParsedCommandLine::Outcome;

int never_run(const Command&, Invocation&) { return 99; }

std::vector<Command> table() {
  return {
      {"user add", {"NAME"}, {{"--role", true, "the role"}, {"--password-stdin", false, "stdin"}}, "create a user",
       never_run},
      {"user list", {}, {}, "list users", never_run},
      {"backup verify", {"ID"}, {{"--recovery-key", true, "key"}}, "check a backup", never_run, "LONG HELP\n"},
      {"status", {}, {}, "show the status", never_run},
  };
}

ParsedCommandLine parse(std::vector<std::string> args) {
  static const std::vector<Command> commands = table();
  return parse_command_line(args, commands, "/run/privstack/control.sock");
}

TEST(CommandLine, ChoosesTheCommandByItsWordsAndTakesOptionsInAnyOrder) {
  auto p = parse({"user", "add", "--role", "admin", "alice", "--password-stdin"});
  ASSERT_EQ(p.outcome, Outcome::run) << p.error;
  EXPECT_EQ(p.command->words, "user add");
  EXPECT_EQ(p.invocation.positionals, std::vector<std::string>{"alice"});
  EXPECT_EQ(p.invocation.options.at("role"), "admin");
  EXPECT_EQ(p.invocation.options.at("password-stdin"), "");
  EXPECT_EQ(p.invocation.socket, "/run/privstack/control.sock");
  EXPECT_FALSE(p.invocation.json_output);
}

TEST(CommandLine, InlineOptionValuesMayContainEqualsSigns) {
  auto p = parse({"user", "add", "--role=a=b", "alice"});
  ASSERT_EQ(p.outcome, Outcome::run) << p.error;
  EXPECT_EQ(p.invocation.options.at("role"), "a=b");
}

TEST(CommandLine, GlobalOptionsGoAnywhere) {
  auto p = parse({"--json", "user", "list", "--socket", "/tmp/s.sock"});
  ASSERT_EQ(p.outcome, Outcome::run) << p.error;
  EXPECT_TRUE(p.invocation.json_output);
  EXPECT_EQ(p.invocation.socket, "/tmp/s.sock");
  auto q = parse({"--socket=/x.sock", "status"});
  ASSERT_EQ(q.outcome, Outcome::run);
  EXPECT_EQ(q.invocation.socket, "/x.sock");
}

TEST(CommandLine, UsageErrorsNameTheProblem) {
  EXPECT_EQ(parse({}).outcome, Outcome::usage_error);
  EXPECT_EQ(parse({}).error, "");  // the whole usage is printed
  EXPECT_EQ(parse({"--json"}).outcome, Outcome::usage_error);

  auto unknown = parse({"frobnicate"});
  EXPECT_EQ(unknown.outcome, Outcome::usage_error);
  EXPECT_EQ(unknown.error, "privstackctl: unknown command 'frobnicate'; see privstackctl --help");
  // "user" alone is not a command: the words must all be there.
  EXPECT_EQ(parse({"user"}).error, "privstackctl: unknown command 'user'; see privstackctl --help");

  EXPECT_EQ(parse({"user", "add", "alice", "--rôle", "x"}).error, "privstackctl user add: unknown option '--rôle'");
  EXPECT_EQ(parse({"user", "add", "alice", "--role"}).error, "privstackctl user add: --role needs a value");
  EXPECT_EQ(parse({"user", "add"}).error, "privstackctl: usage: privstackctl user add NAME");
  EXPECT_EQ(parse({"user", "add", "alice", "bob"}).error, "privstackctl: usage: privstackctl user add NAME");
  EXPECT_EQ(parse({"status", "--socket"}).error, "privstackctl: --socket needs a path");
  // An option of another command is unknown here.
  EXPECT_EQ(parse({"status", "--role", "admin"}).error, "privstackctl status: unknown option '--role'");
}

TEST(CommandLine, HelpAndVersion) {
  EXPECT_EQ(parse({"--help"}).outcome, Outcome::global_help);
  EXPECT_EQ(parse({"-h"}).outcome, Outcome::global_help);
  EXPECT_EQ(parse({"--version"}).outcome, Outcome::version);
  auto help = parse({"backup", "verify", "--help"});
  ASSERT_EQ(help.outcome, Outcome::command_help);
  EXPECT_EQ(help.command->words, "backup verify");
  // --help wins over a missing positional or a bad option that follows it.
  EXPECT_EQ(parse({"user", "add", "-h", "--bogus"}).outcome, Outcome::command_help);
}

std::string printed(const std::function<void(std::FILE*)>& print) {
  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* f = open_memstream(&buffer, &size);
  print(f);
  std::fclose(f);
  std::string s(buffer, size);
  std::free(buffer);
  return s;
}

TEST(CommandLine, HelpTexts) {
  const auto commands = table();
  std::string usage = printed([&](std::FILE* f) { print_usage(f, commands); });
  EXPECT_THAT(usage, HasSubstr("  user add NAME [--role VALUE] [--password-stdin]"));
  EXPECT_THAT(usage, HasSubstr("create a user\n"));
  EXPECT_THAT(usage, HasSubstr("Exit status: 0 success, 1 failure, 2 usage error.\n"));

  std::string add = printed([&](std::FILE* f) { print_command_help(f, commands[0]); });
  EXPECT_THAT(add, HasSubstr("Usage: privstackctl [--json] user add NAME [--role VALUE] [--password-stdin]\n\n"
                             "create a user.\n"));
  EXPECT_THAT(add, HasSubstr("  --role VALUE               the role\n"));
  EXPECT_THAT(add, HasSubstr("Exit status:"));
  std::string verify = printed([&](std::FILE* f) { print_command_help(f, commands[2]); });
  EXPECT_THAT(verify, HasSubstr("LONG HELP\n"));
  EXPECT_THAT(verify, ::testing::Not(HasSubstr("Exit status:")));
}

// ---- the real table

std::string read_source_file(const std::string& relative) {
  std::ifstream in(std::string(PRIVSTACK_SOURCE_DIR) + "/" + relative);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(CommandTable, EveryCommandIsReachableByItsOwnWords) {
  const auto commands = ctl::commands();
  ASSERT_GT(commands.size(), 30u);
  std::set<std::string> seen;
  for (const Command& c : commands) {
    EXPECT_TRUE(seen.insert(c.words).second) << "twice: " << c.words;
    EXPECT_FALSE(c.summary.empty()) << c.words;
    EXPECT_TRUE(c.run) << c.words;
    std::vector<std::string> args;
    for (size_t s = 0, e; s <= c.words.size(); s = e + 1) {
      e = c.words.find(' ', s);
      if (e == std::string::npos) e = c.words.size();
      args.push_back(c.words.substr(s, e - s));
    }
    for (const auto& p : c.positionals) args.push_back("x-" + p);
    auto parsed = parse_command_line(args, commands, "/s");
    ASSERT_EQ(parsed.outcome, Outcome::run) << c.words << ": " << parsed.error;
    EXPECT_EQ(parsed.command->words, c.words);
    for (const Option& o : c.options) EXPECT_TRUE(o.name.starts_with("--") && !o.help.empty()) << c.words;
  }
}

TEST(CommandTable, TheManPageDocumentsEveryCommandAndOption) {
  std::string man = read_source_file("packaging/man/privstackctl.8");
  ASSERT_FALSE(man.empty());
  for (const Command& c : ctl::commands()) {
    // roff escapes the hyphen: "init\-key".
    std::string roff;
    for (char ch : c.words) roff += ch == '-' ? std::string("\\-") : std::string(1, ch);
    EXPECT_THAT(man, HasSubstr(".B " + roff)) << c.words << " is not in privstackctl(8)";
    for (const Option& o : c.options) {
      std::string roff_option;
      for (char ch : o.name) roff_option += ch == '-' ? std::string("\\-") : std::string(1, ch);
      EXPECT_THAT(man, HasSubstr(roff_option)) << c.words << " " << o.name << " is not in privstackctl(8)";
    }
  }
}

}  // namespace
}  // namespace privstack::ctl
