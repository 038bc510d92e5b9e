// privstackctl: the administrator's command-line client. It talks to
// privstackd over the local control socket; every command also prints JSON
// with --json. Passwords come from a TTY prompt or --password-stdin, never
// from argv. The commands are in daemon/ctl/commands.cpp, the parsing of the
// command line in daemon/ctl/command_line.cpp.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/version.h"
#include "ctl/command_line.h"
#include "ctl/commands.h"

int main(int argc, char** argv) {
  using privstack::ctl::ParsedCommandLine;
  const auto commands = privstack::ctl::commands();
  const char* env_socket = std::getenv("PRIVSTACK_SOCKET");
  ParsedCommandLine parsed = privstack::ctl::parse_command_line(
      std::vector<std::string>(argv + 1, argv + argc), commands,
      env_socket && *env_socket ? env_socket : "/run/privstack/control.sock");
  switch (parsed.outcome) {
    case ParsedCommandLine::Outcome::global_help:
      privstack::ctl::print_usage(stdout, commands);
      return 0;
    case ParsedCommandLine::Outcome::version:
      std::printf("privstackctl %s\n", privstack::kVersion);
      return 0;
    case ParsedCommandLine::Outcome::command_help:
      privstack::ctl::print_command_help(stdout, *parsed.command);
      return 0;
    case ParsedCommandLine::Outcome::usage_error:
      if (parsed.error.empty()) {
        privstack::ctl::print_usage(stderr, commands);
      } else {
        std::fprintf(stderr, "%s\n", parsed.error.c_str());
      }
      return 2;
    case ParsedCommandLine::Outcome::run:
      break;
  }
  return parsed.command->run(*parsed.command, parsed.invocation);
}
