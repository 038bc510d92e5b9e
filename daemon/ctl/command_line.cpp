#include "ctl/command_line.h"

#include <algorithm>

namespace privstack::ctl {

namespace {

std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> words;
  for (size_t s = 0, e; s <= text.size(); s = e + 1) {
    e = text.find(' ', s);
    if (e == std::string::npos) e = text.size();
    words.push_back(text.substr(s, e - s));
  }
  return words;
}

ParsedCommandLine usage_error(std::string message) {
  ParsedCommandLine p;
  p.outcome = ParsedCommandLine::Outcome::usage_error;
  p.error = std::move(message);
  return p;
}

}  // namespace

std::string synopsis(const Command& c) {
  std::string s = c.words;
  for (const auto& p : c.positionals) s += " " + p;
  for (const auto& o : c.options) s += " [" + o.name + (o.takes_value ? " VALUE]" : "]");
  return s;
}

ParsedCommandLine parse_command_line(const std::vector<std::string>& args, const std::vector<Command>& commands,
                                     std::string default_socket) {
  ParsedCommandLine parsed;
  Invocation& inv = parsed.invocation;
  inv.socket = std::move(default_socket);

  // Global options, anywhere; the rest is the command and its arguments.
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if ((a == "--help" || a == "-h") && rest.empty()) {
      parsed.outcome = ParsedCommandLine::Outcome::global_help;
      return parsed;
    } else if (a == "--version") {
      parsed.outcome = ParsedCommandLine::Outcome::version;
      return parsed;
    } else if (a == "--json") {
      inv.json_output = true;
    } else if (a == "--socket") {
      if (i + 1 >= args.size()) return usage_error("privstackctl: --socket needs a path");
      inv.socket = args[++i];
    } else if (a.starts_with("--socket=")) {
      inv.socket = a.substr(9);
    } else {
      rest.push_back(a);
    }
  }
  if (rest.empty()) return usage_error("");

  // Longest command whose words prefix the arguments.
  const Command* chosen = nullptr;
  size_t chosen_words = 0;
  for (const Command& c : commands) {
    std::vector<std::string> words = words_of(c.words);
    if (words.size() > rest.size() || words.size() <= chosen_words) continue;
    if (std::equal(words.begin(), words.end(), rest.begin())) {
      chosen = &c;
      chosen_words = words.size();
    }
  }
  if (chosen == nullptr) {
    return usage_error("privstackctl: unknown command '" + rest[0] + "'; see privstackctl --help");
  }
  parsed.command = chosen;

  for (size_t i = chosen_words; i < rest.size(); ++i) {
    const std::string& a = rest[i];
    if (a == "--help" || a == "-h") {
      parsed.outcome = ParsedCommandLine::Outcome::command_help;
      return parsed;
    }
    if (!a.starts_with("--")) {
      inv.positionals.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    auto opt = std::find_if(chosen->options.begin(), chosen->options.end(),
                            [&](const Option& o) { return o.name == "--" + name; });
    if (opt == chosen->options.end()) {
      return usage_error("privstackctl " + chosen->words + ": unknown option '--" + name + "'");
    }
    if (opt->takes_value && !inline_value) {
      if (i + 1 >= rest.size()) return usage_error("privstackctl " + chosen->words + ": --" + name + " needs a value");
      value = rest[++i];
    }
    inv.options[name] = value;
  }
  if (inv.positionals.size() != chosen->positionals.size()) {
    std::string usage = chosen->words;
    for (const auto& p : chosen->positionals) usage += " " + p;
    return usage_error("privstackctl: usage: privstackctl " + usage);
  }
  parsed.outcome = ParsedCommandLine::Outcome::run;
  return parsed;
}

void print_usage(std::FILE* out, const std::vector<Command>& cmds) {
  std::fprintf(out,
               "Usage: privstackctl [--socket PATH] [--json] COMMAND [ARGS...]\n"
               "       privstackctl --help | --version\n\n"
               "Administers a running privstackd over its control socket\n"
               "(default /run/privstack/control.sock, or $PRIVSTACK_SOCKET). Root and\n"
               "members of the privstack group may use it.\n\n"
               "Commands:\n");
  for (const Command& c : cmds) std::fprintf(out, "  %-40s %s\n", synopsis(c).c_str(), c.summary.c_str());
  std::fprintf(out,
               "\nGlobal options:\n"
               "  --socket PATH   control socket of the daemon\n"
               "  --json          print results as JSON\n"
               "\nExit status: 0 success, 1 failure, 2 usage error.\n");
}

void print_command_help(std::FILE* out, const Command& c) {
  std::fprintf(out, "Usage: privstackctl [--json] %s\n\n%s.\n\n", synopsis(c).c_str(), c.summary.c_str());
  if (!c.options.empty()) {
    std::fprintf(out, "Options:\n");
    for (const auto& o : c.options) {
      std::string name = o.name + (o.takes_value ? " VALUE" : "");
      std::fprintf(out, "  %-26s %s\n", name.c_str(), o.help.c_str());
    }
    std::fprintf(out, "  %-26s %s\n\n", "--help", "show this help");
  }
  if (c.long_help != nullptr) {
    std::fputs(c.long_help, out);
  } else {
    std::fprintf(out, "Exit status: 0 success, 1 failure, 2 usage error.\n");
  }
}

}  // namespace privstack::ctl
