// privstackctl's command table and the parsing of its command line against
// it. Pure: no I/O but the help printers, which write to the FILE given.
//
//   privstackctl [--socket PATH] [--json] COMMAND WORDS [POSITIONALS] [OPTIONS]
//
// A command is the longest run of the table's words that prefixes the
// arguments; then --name VALUE, --name=VALUE, --flag and positionals in any
// order. --help after the command prints that command's help.
#pragma once

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace privstack::ctl {

struct Option {
  std::string name;  // "--role"
  bool takes_value;
  std::string help;
};

// One parsed command line, as a command's runner receives it.
struct Invocation {
  std::string socket;
  bool json_output = false;
  std::vector<std::string> positionals;
  std::map<std::string, std::string> options;  // name (without --) -> value ("" for flags)
};

struct Command {
  std::string words;                     // "user add"
  std::vector<std::string> positionals;  // names shown in usage
  std::vector<Option> options;
  std::string summary;
  std::function<int(const Command&, Invocation&)> run;
  // The man page's description, for `COMMAND --help` (optional).
  const char* long_help = nullptr;
};

struct ParsedCommandLine {
  enum class Outcome {
    run,           // run `command` with `invocation`
    global_help,   // --help before any command: usage on stdout, exit 0
    command_help,  // COMMAND --help: its help on stdout, exit 0
    version,       // --version: exit 0
    usage_error,   // `error` on stderr (the whole usage when it is empty), exit 2
  };
  Outcome outcome = Outcome::usage_error;
  const Command* command = nullptr;
  Invocation invocation;
  std::string error;  // "privstackctl: ..." for usage_error
};

// `args` without argv[0]; `default_socket` is used unless --socket is given.
ParsedCommandLine parse_command_line(const std::vector<std::string>& args, const std::vector<Command>& commands,
                                     std::string default_socket);

// "user add NAME [--role VALUE] [--password-stdin]"
std::string synopsis(const Command& command);

// privstackctl --help: every command with its summary.
void print_usage(std::FILE* out, const std::vector<Command>& commands);
// privstackctl COMMAND --help: synopsis, options and the long help.
void print_command_help(std::FILE* out, const Command& command);

}  // namespace privstack::ctl
