// privstackctl: the administrator's command-line client. It talks to
// privstackd over the local control socket; every command also prints JSON
// with --json. Passwords come from a TTY prompt or --password-stdin, never
// from argv.
#include <termios.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "core/secret.h"
#include "core/version.h"
#include "http/control.h"

namespace json = boost::json;

namespace {

struct Option {
  std::string name;  // "--role"
  bool takes_value;
  std::string help;
};

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
};

void print_json(const json::value& v) { std::cout << json::serialize(v) << "\n"; }

// Human output for an arbitrary result: objects as "key: value" lines,
// arrays of objects as one block each.
void print_human(const json::value& v, int indent = 0) {
  std::string pad(static_cast<size_t>(indent), ' ');
  if (v.is_object()) {
    for (const auto& [key, value] : v.as_object()) {
      if (value.is_object() || value.is_array()) {
        std::cout << pad << key << ":\n";
        print_human(value, indent + 2);
      } else if (value.is_string()) {
        std::cout << pad << key << ": " << std::string_view(value.as_string()) << "\n";
      } else {
        std::cout << pad << key << ": " << json::serialize(value) << "\n";
      }
    }
  } else if (v.is_array()) {
    for (const auto& item : v.as_array()) {
      print_human(item, indent);
      if (item.is_object()) std::cout << "\n";
    }
  } else if (v.is_string()) {
    std::cout << pad << std::string_view(v.as_string()) << "\n";
  } else if (!v.is_null()) {
    std::cout << pad << json::serialize(v) << "\n";
  }
}

int call_and_print(const Invocation& inv, const std::string& command, const json::object& args,
                   const std::function<void(const json::value&)>& human = {}) {
  try {
    json::value result = privstack::http::control_call(inv.socket, command, args);
    if (inv.json_output) {
      print_json(result);
    } else if (human) {
      human(result);
    } else {
      print_human(result);
    }
    return 0;
  } catch (const privstack::http::ControlError& e) {
    if (inv.json_output) {
      print_json(json::object{{"error", e.what()}});
    }
    std::fprintf(stderr, "privstackctl: %s\n", e.what());
    return e.exit_code() == 2 ? 2 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "privstackctl: %s\n", e.what());
    return 1;
  }
}

// Reads a password from stdin (--password-stdin) or the terminal, without echo.
[[maybe_unused]] std::optional<privstack::Secret> read_password(const Invocation& inv, const char* prompt) {
  std::string line;
  if (inv.options.contains("password-stdin")) {
    if (!std::getline(std::cin, line)) return std::nullopt;
  } else {
    if (!isatty(STDIN_FILENO)) return std::nullopt;
    std::fputs(prompt, stderr);
    termios old{};
    tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    bool ok = static_cast<bool>(std::getline(std::cin, line));
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    std::fputs("\n", stderr);
    if (!ok) return std::nullopt;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  privstack::Secret secret(line);
  privstack::wipe(line);
  return secret;
}

void print_status(const json::value& v) {
  const json::object& o = v.as_object();
  auto str = [&](const char* key) { return std::string_view(o.at(key).as_string()); };
  std::cout << "privstackd " << str("version") << " (pid " << o.at("pid").as_int64() << ")\n";
  std::cout << "  status:  " << str("status") << "\n";
  std::cout << "  uptime:  " << o.at("uptime_seconds").as_int64() << " s\n";
  std::cout << "  listen:  " << str("listen") << "\n";
  std::cout << "  config:  " << str("config") << "\n";
  std::cout << "  components:\n";
  for (const auto& [name, c] : o.at("components").as_object()) {
    const auto& co = c.as_object();
    std::printf("    %-12s %-9s %s\n", std::string(name).c_str(), std::string(co.at("state").as_string()).c_str(),
                co.contains("detail") ? std::string(co.at("detail").as_string()).c_str() : "");
  }
}

std::vector<Command> commands() {
  return {
      {"status", {}, {}, "show the daemon's version, uptime and component states",
       [](const Command&, Invocation& inv) {
         int rc = call_and_print(inv, "status", {}, print_status);
         return rc;
       }},
  };
}

void print_usage(FILE* out, const std::vector<Command>& cmds) {
  std::fprintf(out,
               "Usage: privstackctl [--socket PATH] [--json] COMMAND [ARGS...]\n"
               "       privstackctl --help | --version\n\n"
               "Administers a running privstackd over its control socket\n"
               "(default /run/privstack/control.sock, or $PRIVSTACK_SOCKET). Root and\n"
               "members of the privstack group may use it.\n\n"
               "Commands:\n");
  for (const Command& c : cmds) {
    std::string synopsis = c.words;
    for (const auto& p : c.positionals) synopsis += " " + p;
    for (const auto& o : c.options) synopsis += " [" + o.name + (o.takes_value ? " VALUE]" : "]");
    std::fprintf(out, "  %-40s %s\n", synopsis.c_str(), c.summary.c_str());
  }
  std::fprintf(out,
               "\nGlobal options:\n"
               "  --socket PATH   control socket of the daemon\n"
               "  --json          print results as JSON\n"
               "\nExit status: 0 success, 1 failure, 2 usage error.\n");
}

}  // namespace

int main(int argc, char** argv) {
  auto cmds = commands();
  Invocation inv;
  const char* env_socket = std::getenv("PRIVSTACK_SOCKET");
  inv.socket = env_socket && *env_socket ? env_socket : "/run/privstack/control.sock";

  std::vector<std::string> args(argv + 1, argv + argc);
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      print_usage(stdout, cmds);
      return 0;
    } else if (a == "--version") {
      std::printf("privstackctl %s\n", privstack::kVersion);
      return 0;
    } else if (a == "--json") {
      inv.json_output = true;
    } else if (a == "--socket") {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "privstackctl: --socket needs a path\n");
        return 2;
      }
      inv.socket = args[++i];
    } else if (a.starts_with("--socket=")) {
      inv.socket = a.substr(9);
    } else {
      rest.push_back(a);
    }
  }
  if (rest.empty()) {
    print_usage(stderr, cmds);
    return 2;
  }

  // Longest command whose words prefix the arguments.
  const Command* chosen = nullptr;
  size_t chosen_words = 0;
  for (const Command& c : cmds) {
    std::vector<std::string> words;
    for (size_t s = 0, e; s <= c.words.size(); s = e + 1) {
      e = c.words.find(' ', s);
      if (e == std::string::npos) e = c.words.size();
      words.push_back(c.words.substr(s, e - s));
    }
    if (words.size() > rest.size() || words.size() <= chosen_words) continue;
    if (std::equal(words.begin(), words.end(), rest.begin())) {
      chosen = &c;
      chosen_words = words.size();
    }
  }
  if (chosen == nullptr) {
    std::fprintf(stderr, "privstackctl: unknown command '%s'; see privstackctl --help\n", rest[0].c_str());
    return 2;
  }

  for (size_t i = chosen_words; i < rest.size(); ++i) {
    const std::string& a = rest[i];
    if (a.starts_with("--")) {
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
        std::fprintf(stderr, "privstackctl %s: unknown option '--%s'\n", chosen->words.c_str(), name.c_str());
        return 2;
      }
      if (opt->takes_value && !inline_value) {
        if (i + 1 >= rest.size()) {
          std::fprintf(stderr, "privstackctl %s: --%s needs a value\n", chosen->words.c_str(), name.c_str());
          return 2;
        }
        value = rest[++i];
      }
      inv.options[name] = value;
    } else {
      inv.positionals.push_back(a);
    }
  }
  if (inv.positionals.size() != chosen->positionals.size()) {
    std::string synopsis = chosen->words;
    for (const auto& p : chosen->positionals) synopsis += " " + p;
    std::fprintf(stderr, "privstackctl: usage: privstackctl %s\n", synopsis.c_str());
    return 2;
  }
  return chosen->run(*chosen, inv);
}
