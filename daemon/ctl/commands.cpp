// privstackctl's commands: the table (words, arguments, options, summary)
// and what each runs. Most send one control-socket call to privstackd and
// print its answer; the offline ones (store init-key/check/rekey --offline,
// backup restore, backup verify --recovery-key, credential verify) work on
// files directly.
#include "ctl/commands.h"

#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "backup/archive.h"
#include "backup/restore.h"
#include "backup/s3_client.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/secret.h"
#include "http/control.h"
#include "store/admin.h"
#include "wallet/credential.h"

namespace privstack::ctl {

namespace json = boost::json;

namespace {

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

// The one way a failure is reported: the message (and the daemon's detail,
// when it sent one) on stderr, {"error", "code"} with --json; the exit code
// is the error code's (privstack::exit_code: 2 usage, 1 failure).
int print_error(const Invocation& inv, const privstack::Error& e) {
  std::string text = e.message();
  if (!e.internal_detail().empty()) text += ": " + e.internal_detail();
  if (inv.json_output) {
    json::object doc{{"error", text}, {"code", privstack::to_string(e.code())}};
    if (!e.reason().empty()) doc["reason"] = e.reason();
    print_json(doc);
  }
  std::fprintf(stderr, "privstackctl: %s\n", text.c_str());
  return privstack::exit_code(e.code());
}

// Anything else (the daemon unreachable, a local file): a failure, exit 1.
int print_error(const Invocation& inv, const std::exception& e) {
  if (inv.json_output) print_json(json::object{{"error", e.what()}});
  std::fprintf(stderr, "privstackctl: %s\n", e.what());
  return 1;
}

// A value option the command cannot do without: nullptr, after the usage
// error on stderr, when it is missing (or, with `non_empty`, empty); the
// caller then exits 2.
const std::string* required_option(const Command& cmd, const Invocation& inv, const char* name,
                                   bool non_empty = false) {
  auto it = inv.options.find(name);
  if (it == inv.options.end() || (non_empty && it->second.empty())) {
    std::fprintf(stderr, "privstackctl %s: --%s is required\n", cmd.words.c_str(), name);
    return nullptr;
  }
  return &it->second;
}

// `inspect` (optional) sees the result whatever the output form, e.g. to
// choose the exit status.
int call_and_print(const Invocation& inv, const std::string& command, const json::object& args,
                   const std::function<void(const json::value&)>& human = {},
                   const std::function<void(const json::value&)>& inspect = {}) {
  try {
    json::value result = privstack::http::control_call(inv.socket, command, args);
    if (inspect) inspect(result);
    if (inv.json_output) {
      print_json(result);
    } else if (human) {
      human(result);
    } else {
      print_human(result);
    }
    return 0;
  } catch (const privstack::Error& e) {
    return print_error(inv, e);
  } catch (const std::exception& e) {
    return print_error(inv, e);
  }
}

// One line from stdin (--password-stdin: the lines follow the password) or
// a terminal prompt; no echo unless `echo`.
std::optional<privstack::Secret> read_secret_line(const Invocation& inv, const char* prompt, bool echo) {
  std::string line;
  if (inv.options.contains("password-stdin")) {
    if (!std::getline(std::cin, line)) return std::nullopt;
  } else {
    if (!isatty(STDIN_FILENO)) return std::nullopt;
    std::fputs(prompt, stderr);
    termios old{};
    tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    if (!echo) quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    bool ok = static_cast<bool>(std::getline(std::cin, line));
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    if (!echo) std::fputs("\n", stderr);
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

// Offline store commands (store init-key, --offline): no daemon involved.
int run_offline(const Invocation& inv, const std::function<json::object(const privstack::store::admin::Target&)>& fn) {
  privstack::store::admin::Target target;
  if (auto it = inv.options.find("config"); it != inv.options.end()) target.config_file = it->second;
  if (auto it = inv.options.find("key-file"); it != inv.options.end()) target.key_file = it->second;
  try {
    json::object doc = fn(target);
    if (inv.json_output) print_json(doc); else print_human(doc);
    return doc.contains("ok") && !doc.at("ok").as_bool() ? 1 : 0;
  } catch (const std::exception& e) {
    if (inv.json_output) print_json(json::object{{"error", e.what()}});
    std::fprintf(stderr, "privstackctl: %s\n", e.what());
    return 1;
  }
}

// Paged exports (audit export, records export): asks the daemon for one
// page at a time and writes each page's text to stdout as it arrives, so
// memory stays flat whatever the size. Every page is audited by the daemon.
int paged_export(const Invocation& inv, const std::string& command, const std::string& format, bool string_cursor) {
  json::object args;
  args["format"] = format;
  std::int64_t total = 0;
  try {
    for (;;) {
      json::value page = privstack::http::control_call(inv.socket, command, args);
      const json::object& o = page.as_object();
      const json::string& data = o.at("data").as_string();
      if (!inv.json_output || format != "json") std::fwrite(data.data(), 1, data.size(), stdout);
      total += o.at("count").as_int64();
      const json::value& next = o.at("next_cursor");
      if (next.is_null()) break;
      if (string_cursor) args["cursor"] = next.as_string(); else args["cursor"] = next.as_int64();
    }
    std::fflush(stdout);
    if (std::ferror(stdout)) {
      std::fprintf(stderr, "privstackctl: cannot write the export to stdout\n");
      return 1;
    }
    std::fprintf(stderr, "privstackctl: exported %lld rows\n", static_cast<long long>(total));
    return 0;
  } catch (const privstack::Error& e) {
    return print_error(inv, e);
  } catch (const std::exception& e) {
    return print_error(inv, e);
  }
}

std::string option_or(const Invocation& inv, const std::string& name, const std::string& fallback) {
  auto it = inv.options.find(name);
  return it == inv.options.end() ? fallback : it->second;
}

const Option kPasswordStdin{"--password-stdin", false, "read the password from standard input (one line)"};

// Reads the password (stdin or a TTY prompt, twice on a TTY), sends it in
// args["password"], and wipes the copies.
int call_with_password(const Invocation& inv, const std::string& command, json::object args) {
  auto password = read_secret_line(inv, "Password: ", false);
  if (!password) {
    std::fprintf(stderr, "privstackctl: no password given (use --password-stdin or a terminal)\n");
    return 2;
  }
  if (!inv.options.contains("password-stdin")) {
    auto again = read_secret_line(inv, "Password (again): ", false);
    if (!again || again->reveal() != password->reveal()) {
      std::fprintf(stderr, "privstackctl: the passwords do not match\n");
      return 1;
    }
  }
  args["password"] = json::string(password->reveal());
  int rc = call_and_print(inv, command, args);
  json::string& copy = args["password"].as_string();
  std::fill(copy.begin(), copy.end(), '\0');
  return rc;
}

// incidents list / show, for people (--json prints the daemon's document).
std::string incident_line(const json::object& i) {
  auto str = [&](const char* k) -> std::string {
    auto* v = i.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  std::string line = "#" + std::to_string(i.at("id").as_int64()) + "  " + str("severity") + "  " + str("state") +
                     "  " + str("detected_at") + "  " + str("title");
  if (!str("owner").empty()) line += "  (owner " + str("owner") + ")";
  if (auto* left = i.if_contains("notification_time_left_seconds"); left && left->is_int64()) {
    std::int64_t s = left->as_int64();
    line += s < 0 ? "  BREACH NOTIFICATION OVERDUE by " + std::to_string(-s / 3600) + " h"
                  : "  breach notification due in " + std::to_string(s / 3600) + " h " +
                        std::to_string(s % 3600 / 60) + " min";
  }
  return line;
}
void print_incidents(const json::value& v) {
  const auto& list = v.as_object().at("incidents").as_array();
  if (list.empty()) std::cout << "no incidents\n";
  for (const auto& i : list) std::cout << incident_line(i.as_object()) << "\n";
}
void print_incident(const json::value& v) {
  const auto& i = v.as_object();
  std::cout << incident_line(i) << "\n";
  if (auto* t = i.if_contains("timeline"); t && t->is_array()) {
    for (const auto& e : t->as_array()) {
      const auto& o = e.as_object();
      std::cout << "  " << o.at("at").as_string().c_str() << "  " << o.at("kind").as_string().c_str() << "  "
                << o.at("message").as_string().c_str() << "\n";
    }
  }
}

// hostaudit run / findings, for people (--json prints the daemon's document).
void print_hostaudit_findings(const json::value& v) {
  const json::object& o = v.as_object();
  const json::array& fs = o.at("findings").as_array();
  if (fs.empty()) {
    std::cout << (o.contains("scan_id") && o.at("scan_id").is_null() ? "no scan yet\n" : "no findings\n");
    return;
  }
  for (const auto& fv : fs) {
    const json::object& f = fv.as_object();
    auto str = [&](const char* k) { return f.contains(k) ? std::string(f.at(k).as_string()) : std::string(); };
    std::printf("%-8s %s\n         %s\n", str("severity").c_str(), str("id").c_str(), str("title").c_str());
    if (!str("detail").empty()) std::printf("         %s\n", str("detail").c_str());
    std::printf("         fix: %s\n", str("remediation").c_str());
    if (!str("command").empty()) std::printf("         command (not run): %s\n", str("command").c_str());
    if (const auto* a = f.if_contains("accepted"); a && a->is_object()) {
      const json::object& acc = a->as_object();
      std::printf("         accepted until %s by %s: %s\n", acc.at("expires_at").as_string().c_str(),
                  acc.at("accepted_by").as_string().c_str(), acc.at("reason").as_string().c_str());
    }
  }
}

void print_hostaudit_acceptance(const json::value& v) {
  const json::object& a = v.as_object();
  std::printf("%s accepted until %s by %s: %s\n", a.at("finding_id").as_string().c_str(),
              a.at("expires_at").as_string().c_str(), a.at("accepted_by").as_string().c_str(),
              a.at("reason").as_string().c_str());
}

void print_hostaudit_report(const json::value& v) {
  const json::object& o = v.as_object();
  const json::object& fw = o.at("firewall").as_object();
  std::cout << "scan " << o.at("id").as_int64() << ": firewall "
            << (fw.at("read").as_bool() ? "read (" + std::to_string(fw.at("rules").as_int64()) + " rules)"
                                        : std::string("NOT read"))
            << "\n\n";
  std::printf("%-5s %-40s %-13s %-7s %s\n", "PROTO", "LOCAL", "VERDICT", "ALLOWED", "PROCESS");
  for (const auto& sv : o.at("sockets").as_array()) {
    const json::object& s = sv.as_object();
    std::string procs;
    for (const auto& p : s.at("processes").as_array()) {
      if (!procs.empty()) procs += ',';  // not `"," + std::string`: GCC 12 -O3 false -Wrestrict (PR 105651)
      procs += std::string(p.as_object().at("name").as_string()) + "/" +
               std::to_string(p.as_object().at("pid").as_int64());
    }
    std::printf("%-5s %-40s %-13s %-7s %s\n", std::string(s.at("proto").as_string()).c_str(),
                std::string(s.at("endpoint").as_string()).c_str(), std::string(s.at("verdict").as_string()).c_str(),
                s.at("allowed").as_bool() ? "yes" : "no", procs.c_str());
  }
  std::cout << "\n";
  print_hostaudit_findings(json::object{{"findings", o.at("findings")}});
}

// backup run / list, for people (--json prints the daemon's document).
void print_backup_run(const json::value& v) {
  const json::object& o = v.as_object();
  std::cout << "backup " << o.at("id").as_string().c_str() << " written: " << o.at("file").as_string().c_str() << " ("
            << o.at("archive_bytes").to_number<std::int64_t>() << " bytes, recovery key "
            << o.at("recovery_key_id").as_string().c_str() << ")\n";
  if (const auto* up = o.if_contains("upload"); up && up->is_object()) {
    const json::object& u = up->as_object();
    std::string state(u.at("state").as_string());
    if (state == "uploaded") {
      std::cout << "shipped to s3://" << u.at("bucket").as_string().c_str() << "/" << u.at("key").as_string().c_str()
                << " (verified)\n";
    } else if (state == "failed") {
      std::cout << "upload FAILED (the local copy is kept): " << u.at("error").as_string().c_str() << "\n";
    }
  }
  for (const auto& p : o.at("pruned").as_array()) std::cout << "pruned " << p.as_string().c_str() << "\n";
}

void print_backup_list(const json::value& v) {
  const json::object& o = v.as_object();
  // A run can only fail without a recovery key: say so before the list.
  if (const auto* rk = o.if_contains("recovery_key"); rk != nullptr && rk->is_object() &&
      rk->as_object().contains("configured") && !rk->as_object().at("configured").as_bool()) {
    const auto& problem = rk->as_object().at("problem");
    std::cout << "backups cannot run: "
              << (problem.is_string() ? std::string(problem.as_string()) : std::string("no recovery key"))
              << " (docs/operations.md, \"Backups\": make the key pair offline, configure its public half)\n";
  }
  const json::array& list = o.at("backups").as_array();
  if (list.empty()) {
    std::cout << "no backups in " << o.at("directory").as_string().c_str() << "\n";
    return;
  }
  // RETENTION: what a prune of these archives does; NEXT RUN: what the next
  // run's prune does once its archive is the newest (a "keep" can turn
  // "delete" then: backup.retention.keep_last moves on).
  std::printf("%-26s %-21s %12s %-9s %-9s %s\n", "ID", "CREATED", "BYTES", "RETENTION", "NEXT RUN", "KEY");
  for (const auto& bv : list) {
    const json::object& b = bv.as_object();
    std::string key = b.contains("recovery_key_id") ? std::string(b.at("recovery_key_id").as_string()) : "";
    if (!b.at("good").as_bool()) key = "DAMAGED: " + std::string(b.at("error").as_string());
    const json::value* next = b.if_contains("retention_after_next_run");
    std::printf("%-26s %-21s %12lld %-9s %-9s %s\n", std::string(b.at("id").as_string()).c_str(),
                std::string(b.at("created_at").as_string()).c_str(),
                static_cast<long long>(b.at("size").to_number<std::int64_t>()),
                std::string(b.at("retention").as_string()).c_str(),
                next && next->is_string() ? std::string(next->as_string()).c_str() : "", key.c_str());
  }
}

void print_user_list(const json::value& v) {
  std::printf("%-24s %-9s %-8s %-5s %-21s %s\n", "NAME", "ROLE", "STATE", "TOTP", "LAST SIGN-IN", "METHOD");
  for (const auto& uv : v.as_array()) {
    const json::object& u = uv.as_object();
    std::string at = "never", method;
    if (const auto* last = u.if_contains("last_sign_in"); last != nullptr && last->is_object()) {
      at = std::string(last->as_object().at("at").as_string());
      method = std::string(last->as_object().at("method").as_string());
    }
    std::printf("%-24s %-9s %-8s %-5s %-21s %s\n", std::string(u.at("name").as_string()).c_str(),
                std::string(u.at("role").as_string()).c_str(), u.at("locked").as_bool() ? "locked" : "active",
                u.at("totp_enabled").as_bool() ? "on" : "off", at.c_str(), method.c_str());
  }
}

// ---- wallet and credentials

void wipe_arg(json::object& args, const char* key) {
  if (auto* v = args.if_contains(key); v != nullptr && v->is_string()) {
    json::string& str = v->as_string();
    std::fill(str.begin(), str.end(), '\0');
  }
}


void print_wallet_status(const json::value& v) {
  const json::object& o = v.as_object();
  std::cout << "wallet: " << std::string_view(o.at("state").as_string()) << "\n";
  if (o.contains("seconds_left")) {
    std::cout << "  unlocked by:  " << std::string_view(o.at("unlocked_by").as_string()) << "\n"
              << "  until:        " << std::string_view(o.at("unlocked_until").as_string()) << " ("
              << o.at("seconds_left").as_int64() << " s left)\n";
  }
  if (o.contains("master_fingerprint")) {
    std::cout << "  fingerprint:  " << std::string_view(o.at("master_fingerprint").as_string()) << "\n";
  }
  std::cout << "  window:       " << o.at("window_seconds").as_int64() << " s per unlock\n";
}

int wallet_init(Invocation& inv) {
  auto password = read_secret_line(inv, "Issuing password: ", false);
  if (!password) {
    std::fprintf(stderr, "privstackctl: no password given (use --password-stdin or a terminal)\n");
    return 2;
  }
  if (!inv.options.contains("password-stdin")) {
    auto again = read_secret_line(inv, "Issuing password (again): ", false);
    if (!again || again->reveal() != password->reveal()) {
      std::fprintf(stderr, "privstackctl: the passwords do not match\n");
      return 1;
    }
  }
  const bool import = inv.options.contains("import");
  std::optional<privstack::Secret> mnemonic;
  if (import) {
    mnemonic = read_secret_line(inv, "Mnemonic (words separated by spaces): ", false);
    if (!mnemonic) {
      std::fprintf(stderr, "privstackctl: no mnemonic given\n");
      return 2;
    }
  }
  std::optional<privstack::Secret> passphrase;
  if (inv.options.contains("bip39-passphrase")) {
    passphrase = read_secret_line(inv, "BIP39 passphrase: ", false);
    if (!passphrase) {
      std::fprintf(stderr, "privstackctl: no BIP39 passphrase given\n");
      return 2;
    }
  }
  json::object args;
  args["password"] = json::string(password->reveal());
  if (passphrase) args["passphrase"] = json::string(passphrase->reveal());
  if (import) {
    args["mnemonic"] = json::string(mnemonic->reveal());
    int rc = call_and_print(inv, "wallet import", args, print_wallet_status);
    wipe_arg(args, "password");
    wipe_arg(args, "passphrase");
    wipe_arg(args, "mnemonic");
    return rc;
  }
  json::value started;
  try {
    started = privstack::http::control_call(inv.socket, "wallet init", args);
  } catch (const privstack::Error& e) {
    wipe_arg(args, "password");
    wipe_arg(args, "passphrase");
    return print_error(inv, e);
  } catch (const std::exception& e) {
    wipe_arg(args, "password");
    wipe_arg(args, "passphrase");
    return print_error(inv, e);
  }
  wipe_arg(args, "password");
  wipe_arg(args, "passphrase");
  json::object& o = started.as_object();
  json::string& words = o.at("mnemonic").as_string();
  std::cout << "Your issuing wallet's recovery mnemonic (shown only once; write it down and keep it offline):\n\n";
  {
    std::size_t n = 1, start = 0;
    const std::string_view w(words.data(), words.size());
    while (start < w.size()) {
      std::size_t end = w.find(' ', start);
      if (end == std::string_view::npos) end = w.size();
      std::printf("  %2zu %-10.*s%s", n, static_cast<int>(end - start), w.data() + start, n % 4 == 0 ? "\n" : " ");
      ++n;
      start = end + 1;
    }
  }
  std::fill(words.begin(), words.end(), '\0');
  std::string positions;
  for (const auto& p : o.at("confirm_positions").as_array()) positions += " " + std::to_string(p.as_int64());
  std::cout << "\nConfirm words at positions" << positions << "\n";
  std::cout.flush();
  json::object typed;
  for (const auto& p : o.at("confirm_positions").as_array()) {
    const std::string prompt = "Word #" + std::to_string(p.as_int64()) + ": ";
    auto word = read_secret_line(inv, prompt.c_str(), true);
    if (!word) {
      std::fprintf(stderr, "privstackctl: confirmation aborted; nothing was stored\n");
      return 1;
    }
    typed[std::to_string(p.as_int64())] = json::string(word->reveal());
  }
  json::object confirm{{"id", o.at("id")}, {"words", std::move(typed)}};
  return call_and_print(inv, "wallet init confirm", confirm, [](const json::value& v) {
    std::cout << "\nThe wallet is initialized and sealed under the issuing password.\n";
    print_wallet_status(v);
  });
}

std::optional<std::int64_t> window_option(const Invocation& inv) {
  auto it = inv.options.find("window");
  if (it == inv.options.end()) return std::nullopt;
  try {
    std::size_t used = 0;
    long long v = std::stoll(it->second, &used);
    if (used != it->second.size()) return -1;
    return v;
  } catch (const std::exception&) {
    return -1;
  }
}

void print_verification(const json::object& o) {
  const bool valid = o.at("valid").as_bool();
  std::cout << (valid ? "valid" : "INVALID") << "\n";
  if (o.contains("error")) std::cout << "  error:        " << std::string_view(o.at("error").as_string()) << "\n";
  for (const char* k : {"credential_id", "batch_id", "derivation_path", "public_key", "merkle_root"}) {
    if (o.contains(k)) std::printf("  %-13s %s\n", (std::string(k) + ":").c_str(), std::string(o.at(k).as_string()).c_str());
  }
  std::cout << "  checks:";
  for (const auto& [name, ok] : o.at("checks").as_object()) std::cout << " " << name << "=" << (ok.as_bool() ? "ok" : "FAILED");
  std::cout << "\n";
}

// FILE, or standard input for "-"; nullopt (and a message) when unreadable.
std::optional<std::string> read_input_file(const std::string& file) {
  if (file == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "privstackctl: cannot read %s\n", file.c_str());
    return std::nullopt;
  }
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int credential_verify(Invocation& inv) {
  const std::string& file = inv.positionals[0];
  std::optional<std::string> input = read_input_file(file);
  if (!input) return 1;
  const std::string& content = *input;
  // Offline: everything the file proves by itself.
  const auto v = privstack::wallet::credential::verify_text(content);
  json::object doc = v.to_json();
  bool revoked = false;
  if (v.valid && !inv.options.contains("offline")) {
    // Online: revocation and the issuer's key, when the daemon is reachable.
    try {
      json::value online = privstack::http::control_call(inv.socket, "credential verify", json::object{{"content", content}});
      const json::object& on = online.as_object();
      doc["online"] = on;
      revoked = on.at("revoked").as_bool();
      if (on.at("status").as_string() == "invalid") {
        doc["valid"] = false;
        doc["error"] = on.contains("error") ? on.at("error") : json::value("rejected by the issuer");
      }
    } catch (const std::exception& e) {
      doc["online"] = json::object{{"error", e.what()}};
    }
  }
  const bool ok = doc.at("valid").as_bool() && !revoked;
  doc["status"] = !doc.at("valid").as_bool() ? "invalid" : revoked ? "revoked" : "valid";
  if (inv.json_output) {
    print_json(doc);
  } else {
    print_verification(doc);
    if (const auto* on = doc.if_contains("online")) {
      const json::object& oo = on->as_object();
      if (oo.contains("error")) {
        std::cout << "  revocation:   unknown (daemon not reachable: " << std::string_view(oo.at("error").as_string()) << ")\n";
      } else {
        std::cout << "  revocation:   " << (revoked ? "REVOKED" : "not revoked") << "\n";
        if (revoked) std::cout << "  reason:       " << std::string_view(oo.at("revocation_reason").as_string()) << "\n";
        std::cout << "  issuer key:   "
                  << (oo.at("issuer_key_matches").is_null() ? "unknown"
                                                            : oo.at("issuer_key_matches").as_bool() ? "matches" : "MISMATCH")
                  << "\n";
      }
    } else if (v.valid) {
      std::cout << "  revocation:   not checked (--offline)\n";
    }
  }
  return ok ? 0 : 1;
}

const Option kConfigOption{"--config", true, "configuration file (default /etc/privstack/privstack.yaml)"};
const Option kKeyFileOption{"--key-file", true, "the store key file, instead of the configured one"};

// ---- backup restore / verify with the recovery private key (offline: the
// daemon never holds that key, so these run here, with no daemon involved).

namespace backup = privstack::backup;

// The configuration for the offline commands: --config, else the default
// file when it exists, else the built-in defaults.
privstack::Config offline_config(const Invocation& inv) {
  std::filesystem::path file = option_or(inv, "config", "/etc/privstack/privstack.yaml");
  std::error_code ec;
  if (!inv.options.contains("config") && !std::filesystem::exists(file, ec)) return privstack::Config{};
  privstack::ConfigResult result = privstack::load_config(file);
  if (!result.config) {
    std::string message = "configuration " + file.string() + " is not valid:";
    for (const auto& p : result.problems) message += "\n  " + p.to_string();
    throw std::runtime_error(message);
  }
  return std::move(*result.config);
}

// The recovery private key from its PEM file; a passphrase-protected one
// asks for its passphrase (TTY prompt or --password-stdin, never argv).
// Returns nullopt (after printing why) when no passphrase could be read.
std::optional<std::vector<std::uint8_t>> load_recovery_key(const Invocation& inv) {
  const std::string path = inv.options.at("recovery-key");
  std::string pem;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read the recovery key file " + path);
    pem.assign(std::istreambuf_iterator<char>(in), {});
  }
  struct Wipe {
    std::string& s;
    ~Wipe() { privstack::wipe(s); }
  } wipe_pem{pem};
  if (!backup::recovery_key_is_encrypted(pem)) return backup::parse_recovery_private_key(pem);
  auto passphrase = read_secret_line(inv, "Recovery key passphrase: ", false);
  if (!passphrase) {
    std::fprintf(stderr,
                 "privstackctl: %s is passphrase-protected: give the passphrase on a terminal or with "
                 "--password-stdin\n",
                 path.c_str());
    return std::nullopt;
  }
  return backup::parse_recovery_private_key(pem, passphrase->reveal());
}

struct ArchiveInput {
  std::FILE* file = nullptr;
  std::filesystem::path downloaded;  // a temporary copy of an s3:// object, removed at the end
  ~ArchiveInput() {
    if (file) std::fclose(file);
    std::error_code ec;
    if (!downloaded.empty()) std::filesystem::remove(downloaded, ec);
  }
};

// Opens FILE, or downloads s3://BUCKET/KEY with backup.s3's endpoint,
// region, credentials and TLS settings into a temporary file (the archive
// is ciphertext; the copy is 0600 and removed when done) in `temp_dir`.
void open_archive(const std::string& name, const privstack::Config& config, const std::filesystem::path& temp_dir,
                  ArchiveInput& in) {
  if (!name.starts_with("s3://")) {
    in.file = std::fopen(name.c_str(), "rb");
    if (!in.file) throw std::runtime_error("cannot read the archive " + name);
    return;
  }
  std::string rest = name.substr(5);
  auto slash = rest.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == rest.size()) {
    throw std::runtime_error("an S3 archive is named s3://BUCKET/KEY, not " + name);
  }
  const auto& s3 = config.backup.s3;
  if (s3.endpoint.empty()) {
    throw std::runtime_error("backup.s3.endpoint is not set in the configuration: cannot fetch " + name +
                             " (give --config with the backup.s3 settings)");
  }
  backup::S3Config sc;
  sc.endpoint = s3.endpoint;
  sc.region = s3.region;
  sc.bucket = rest.substr(0, slash);
  sc.path_style = s3.path_style;
  sc.ca_file = s3.ca_file.string();
  sc.allowed_regions = config.backup.allowed_regions;
  sc.credentials.access_key_id = s3.access_key_id;
  std::optional<privstack::Secret> secret;
  if (!s3.secret_access_key_file.empty()) {
    secret = privstack::read_secret_file(s3.secret_access_key_file);
    sc.credentials.secret_access_key = std::string(secret->reveal());
  }
  std::string tmpl = (temp_dir / ".privstack-restore-XXXXXX.psbak").string();
  int fd = ::mkstemps(tmpl.data(), 6);
  if (fd < 0) throw std::runtime_error("cannot create a temporary file in " + temp_dir.string());
  in.downloaded = tmpl;
  in.file = ::fdopen(fd, "w+b");
  if (!in.file) {
    ::close(fd);
    throw std::runtime_error("cannot create a temporary file in " + temp_dir.string());
  }
  try {
    backup::S3Client client(sc);
    client.get_object(rest.substr(slash + 1), [&](std::span<const std::uint8_t> b) {
      if (std::fwrite(b.data(), 1, b.size(), in.file) != b.size()) {
        throw std::runtime_error("cannot write the downloaded archive to " + temp_dir.string());
      }
    });
  } catch (...) {
    privstack::wipe(sc.credentials.secret_access_key);
    throw;
  }
  privstack::wipe(sc.credentials.secret_access_key);
  if (std::fflush(in.file) != 0 || std::fseek(in.file, 0, SEEK_SET) != 0) {
    throw std::runtime_error("cannot read back the downloaded archive");
  }
}

int backup_restore(Invocation& inv) {
  for (const char* required : {"archive", "recovery-key"}) {
    if (!inv.options.contains(required)) {
      std::fprintf(stderr, "privstackctl backup restore: --%s is required (see privstackctl backup restore --help)\n",
                   required);
      return 2;
    }
  }
  try {
    privstack::Config config = offline_config(inv);
    if (inv.options.contains("state-directory")) config.state_directory = inv.options.at("state-directory");
    if (config.state_directory.empty()) throw std::runtime_error("--state-directory is empty");
    backup::OfflineRestore target;
    target.state_directory = config.state_directory;
    target.database = privstack::store::database_path(config);
    if (inv.options.contains("key-file")) {
      target.key_file = inv.options.at("key-file");
    } else {
      privstack::store::KeyLocation key = privstack::store::key_location(config);
      if (key.credential) {
        throw std::runtime_error(
            "the store key comes from the systemd credential store.key; pass --key-file with a decrypted copy");
      }
      target.key_file = key.path;
    }
    target.force = inv.options.contains("force");
    target.archive_name = inv.options.at("archive");
    if (auto it = inv.options.find("owner"); it != inv.options.end()) target.owner = it->second;
    // Refuse early, before asking for a passphrase or downloading anything.
    std::error_code ec;
    if (!target.force && std::filesystem::exists(target.database, ec)) {
      throw std::runtime_error("a store already exists at " + target.database.string() +
                               "; refusing to overwrite it (stop privstackd and add --force to replace it)");
    }
    auto key = load_recovery_key(inv);
    if (!key) return 2;
    privstack::CleanseOnExit wipe_key{*key};
    std::filesystem::path temp_dir =
        std::filesystem::exists(target.state_directory, ec) ? target.state_directory : std::filesystem::temp_directory_path();
    ArchiveInput in;
    open_archive(target.archive_name, config, temp_dir, in);
    json::object doc = backup::restore_offline(backup::file_source(in.file), *key, target);
    if (inv.json_output) {
      print_json(doc);
    } else {
      const json::object& h = doc.at("header").as_object();
      std::cout << "restored backup " << std::string_view(h.at("archive_id").as_string()) << " (made by "
                << std::string_view(h.at("source_host").as_string()) << ", schema "
                << h.at("schema_version").as_int64() << ")\n"
                << "  store:      " << std::string_view(doc.at("database").as_string()) << "\n"
                << "  store key:  " << std::string_view(doc.at("key_file").as_string())
                << (doc.at("key_created").as_bool() ? " (created)" : " (existing)") << "\n"
                << "  rows:      ";
      for (const auto& [table, rows] : doc.at("row_counts").as_object()) {
        std::cout << " " << std::string_view(table) << "=" << rows.as_int64();
      }
      std::cout << "\n  checks:     integrity ok, audit chain ok ("
                << doc.at("audit_chain").as_object().at("entries").as_int64()
                << " entries; the restore is entry " << doc.at("audit_entry").as_int64() << ")\n"
                << "Start privstackd to use it.\n";
    }
    return 0;
  } catch (const std::exception& e) {
    if (inv.json_output) print_json(json::object{{"error", e.what()}, {"restored", false}});
    std::fprintf(stderr, "privstackctl: restore failed, nothing was changed: %s\n", e.what());
    return 1;
  }
}

void print_backup_verify(const json::value& v) {
  const json::object& o = v.as_object();
  const json::object& h = o.contains("header") ? o.at("header").as_object() : o;
  std::cout << "backup " << std::string_view(h.at("archive_id").as_string()) << ": OK ("
            << (o.contains("level") ? "structure only" : "authenticated, restored and checked") << ")\n";
  std::cout << "  made by:       " << std::string_view(h.at("source_host").as_string()) << ", schema "
            << h.at("schema_version").as_int64() << "\n";
  std::cout << "  recovery key:  " << std::string_view(h.at("recovery_key_id").as_string());
  if (const auto* m = o.if_contains("recovery_key_matches_config"); m && m->is_bool()) {
    std::cout << (m->as_bool() ? " (the configured key)" : " (NOT the configured backup.recovery_public_key)");
  }
  std::cout << "\n  chunks:        " << o.at("data_chunks").as_int64() << "\n";
  if (o.contains("row_counts")) {
    std::cout << "  rows:         ";
    for (const auto& [table, rows] : o.at("row_counts").as_object()) {
      std::cout << " " << std::string_view(table) << "=" << rows.as_int64();
    }
    std::cout << "\n";
  }
  if (o.contains("audit_chain")) {
    std::cout << "  checks:        integrity ok, audit chain ok ("
              << o.at("audit_chain").as_object().at("entries").as_int64() << " entries)\n";
  }
  if (o.contains("note")) std::cout << "  note:          " << std::string_view(o.at("note").as_string()) << "\n";
}

void print_backup_verify_all(const json::value& v) {
  const json::object& o = v.as_object();
  for (const auto& a : o.at("archives").as_array()) {
    const json::object& r = a.as_object();
    std::cout << (r.at("ok").as_bool() ? "ok       " : "DAMAGED  ") << std::string_view(r.at("id").as_string()) << " ("
              << std::string_view(r.at("place").as_string()) << ")";
    if (const auto* m = r.if_contains("sha256_matches_test_restore"); m && m->is_null()) {
      std::cout << " structure only: no digest recorded";
    }
    if (const auto* e = r.if_contains("error")) std::cout << ": " << std::string_view(e->as_string());
    std::cout << "\n";
  }
  std::cout << o.at("checked").as_int64() << " copies checked, " << o.at("damaged").as_int64() << " damaged\n";
}

int backup_verify(Invocation& inv) {
  const std::string& what = inv.positionals[0];
  if (what == "all") {
    if (inv.options.contains("recovery-key")) {
      std::fprintf(stderr, "privstackctl backup verify: --recovery-key checks one archive: give its ID, FILE or s3:// URL\n");
      return 2;
    }
    bool damaged = false;
    int rc = call_and_print(inv, "backup verify", json::object{{"id", "all"}}, print_backup_verify_all,
                            [&damaged](const json::value& v) { damaged = v.as_object().at("damaged").as_int64() > 0; });
    return rc == 0 && damaged ? 1 : rc;
  }
  if (!inv.options.contains("recovery-key")) {
    return call_and_print(inv, "backup verify", json::object{{"id", what}}, print_backup_verify);
  }
  try {
    privstack::Config config = offline_config(inv);
    std::string name = what;
    std::error_code ec;
    if (!what.starts_with("s3://") && !std::filesystem::exists(what, ec)) {
      // A backup id: its file in backup.local_directory.
      name = (config.backup.local_directory / (what + ".psbak")).string();
    }
    auto key = load_recovery_key(inv);
    if (!key) return 2;
    privstack::CleanseOnExit wipe_key{*key};
    const std::filesystem::path temp_dir = std::filesystem::temp_directory_path();
    ArchiveInput in;
    open_archive(name, config, temp_dir, in);
    json::object doc = backup::verify_offline(backup::file_source(in.file), *key, temp_dir);
    doc["archive"] = name;
    if (inv.json_output) print_json(doc); else print_backup_verify(doc);
    return 0;
  } catch (const std::exception& e) {
    if (inv.json_output) print_json(json::object{{"ok", false}, {"error", e.what()}});
    std::fprintf(stderr, "privstackctl: backup verification FAILED: %s\n", e.what());
    return 1;
  }
}

const char* const kBackupRestoreHelp = R"(Restores a backup archive onto this machine, into a NEW store, with the daemon
stopped. It needs only the archive and the recovery private key that was
generated at setup and kept offline; privstackd is not involved (the daemon
never holds the recovery private key).

Steps, each of which must succeed before anything is changed:
  1. Refuses when a store already exists in the state directory, unless
     --force (privstackd must be stopped: a store still open by a running
     daemon is refused even with --force).
  2. Reads the recovery key. A passphrase-protected PEM ("ENCRYPTED PRIVATE
     KEY", e.g. made with `openssl pkey -aes256`) asks for its passphrase on
     the terminal, or reads it as the first line of standard input with
     --password-stdin. Never pass secrets as arguments.
  3. Fetches the archive: a local FILE, or s3://BUCKET/KEY downloaded with the
     endpoint, region, credentials and CA of backup.s3 in the configuration
     (--config) into a temporary 0600 file that is removed afterwards.
  4. Uses the store key file (store.key_file, else <state directory>/store.key;
     or --key-file) when it exists, else creates it (0600) like
     `privstackctl store init-key`.
  5. Authenticates every chunk, decompresses and replays the SQL dump into a
     scratch database next to the target, encrypted with the store key;
     checks the row counts against the archive header, the trailer's SHA-256,
     foreign keys, PRAGMA integrity_check and every page's authentication
     code, and the audit log's hash chain.
  6. Records the restore (action backup.restore) in the restored audit log,
     verifies the chain again, and renames the scratch database into place.

On any error (wrong recovery key or passphrase, corrupted, truncated,
reordered or spliced archive, failed check) nothing is written: scratch files
and a key file created by this run are removed, and an existing store is left
as it was. As root, the new files are given to the privstack user (--owner).

Exit status: 0 restored, 1 failed (nothing changed), 2 usage error.

Example (fresh machine, daemon stopped):
  privstackctl backup restore --config /etc/privstack/privstack.yaml \
      --archive s3://acme-backups/appliance1/20250101T020000Z-1a2b3c4d.psbak \
      --recovery-key /media/usb/recovery.pem --state-directory /var/lib/privstack
  systemctl start privstackd
)";

const char* const kBackupVerifyHelp = R"(Verifies a backup archive.

Every archive passes a test restore when it is made: the daemon reads it back
with the archive's data key (which it holds only then), authenticates every
chunk, restores it into a scratch encrypted store and checks its integrity and
audit chain, and records the archive's SHA-256 in ID.psbak.sha256.

Without --recovery-key, asks the running daemon (control socket) to check the
local archive ID in backup.local_directory without the recovery private key,
which the daemon never holds: the header, every chunk's framing and length,
exactly one final (trailer) chunk and nothing after it, that its SHA-256 is
still the one recorded at its test restore, and whether the archive is
wrapped for the configured recovery public key.

ID "all" checks every local archive and, with backup.s3 configured, the
newest one downloaded back from the bucket: what backup.verify_schedule runs
(weekly by default). Damaged copies are logged (backup.verify_failed), open a
backup_failure incident and make the exit status 1.

With --recovery-key FILE (offline, no daemon needed), ID may also be an
archive file or s3://BUCKET/KEY: every chunk is authenticated, the payload
decompressed and checked against the trailer's SHA-256, restored into a
scratch encrypted store in a private temporary directory, and PRAGMA
integrity_check, page authentication and the audit chain are run; the scratch
store is then deleted. A passphrase-protected key asks for its passphrase
(terminal or --password-stdin).

Exit status: 0 the archive is good, 1 it is not (the reason is printed),
2 usage error.
)";

}  // namespace

std::vector<Command> commands() {
  return {
      {"store init-key", {}, {kConfigOption, kKeyFileOption, {"--owner", true, "user to own the key (as root)"}},
       "create the store key (offline; before the first start)",
       [](const Command&, Invocation& inv) {
         std::optional<std::string> owner;
         if (auto it = inv.options.find("owner"); it != inv.options.end()) owner = it->second;
         return run_offline(inv, [&](const auto& t) { return privstack::store::admin::init_key(t, owner); });
       }},
      {"store check", {}, {{"--offline", false, "check the files directly (daemon stopped)"}, kConfigOption,
                           kKeyFileOption},
       "verify the store's integrity and every page's authentication code",
       [](const Command&, Invocation& inv) {
         if (!inv.options.contains("offline")) return call_and_print(inv, "store check", {});
         return run_offline(inv, [](const auto& t) {
           bool ok = false;
           return privstack::store::admin::check(t, &ok);
         });
       }},
      {"store rekey", {}, {{"--offline", false, "rekey the files directly (daemon stopped)"}, kConfigOption,
                           kKeyFileOption},
       "re-encrypt the store with a new key (online by default)",
       [](const Command&, Invocation& inv) {
         if (!inv.options.contains("offline")) return call_and_print(inv, "store rekey", {});
         return run_offline(inv, [](const auto& t) { return privstack::store::admin::rekey(t); });
       }},
      {"audit verify", {}, {}, "recompute the audit log's hash chain; names the first broken entry",
       [](const Command&, Invocation& inv) { return call_and_print(inv, "audit verify", {}); }},
      {"audit export", {}, {{"--format", true, "jsonl (default) or csv"}}, "write the audit log to stdout",
       [](const Command&, Invocation& inv) {
         std::string format = option_or(inv, "format", "jsonl");
         if (format != "jsonl" && format != "csv") {
           std::fprintf(stderr, "privstackctl audit export: --format is jsonl or csv\n");
           return 2;
         }
         return paged_export(inv, "audit export", format, false);
       }},
      {"records export", {}, {{"--format", true, "csv (default) or jsonl"}},
       "write all customer records to stdout (RFC 4180 CSV or JSON Lines)",
       [](const Command&, Invocation& inv) {
         std::string format = option_or(inv, "format", "csv");
         if (format != "csv" && format != "jsonl") {
           std::fprintf(stderr, "privstackctl records export: --format is csv or jsonl\n");
           return 2;
         }
         return paged_export(inv, "records export", format, true);
       }},
      {"records import", {"FILE"}, {}, "import recipients and results from a CSV file (- for stdin); all or nothing",
       [](const Command&, Invocation& inv) {
         const std::string& file = inv.positionals[0];
         std::optional<std::string> content = read_input_file(file);
         if (!content) return 1;
         json::object args;
         args["file"] = file;
         args["content"] = std::move(*content);
         return call_and_print(inv, "records import", args);
       }},
      {"user add", {"NAME"}, {{"--role", true, "admin, operator, auditor, issuer or support"}, kPasswordStdin},
       "create a user (the first one must be an admin: the web login stays closed until then)",
       [](const Command& cmd, Invocation& inv) {
         const std::string* role = required_option(cmd, inv, "role");
         if (role == nullptr) return 2;
         json::object args;
         args["name"] = inv.positionals[0];
         args["role"] = *role;
         return call_with_password(inv, "user add", std::move(args));
       }},
      {"user list", {}, {}, "list users with their roles and states",
       [](const Command&, Invocation& inv) { return call_and_print(inv, "user list", {}, print_user_list); }},
      {"user passwd", {"NAME"}, {kPasswordStdin}, "set a user's password (ends the user's sessions)",
       [](const Command&, Invocation& inv) {
         json::object args;
         args["name"] = inv.positionals[0];
         return call_with_password(inv, "user passwd", std::move(args));
       }},
      {"user lock", {"NAME"}, {}, "lock a user out (ends the user's sessions)",
       [](const Command&, Invocation& inv) {
         return call_and_print(inv, "user lock", json::object{{"name", inv.positionals[0]}});
       }},
      {"user unlock", {"NAME"}, {}, "unlock a user (also clears a temporary login lockout)",
       [](const Command&, Invocation& inv) {
         return call_and_print(inv, "user unlock", json::object{{"name", inv.positionals[0]}});
       }},
      {"hostaudit run", {}, {}, "audit listening ports against the firewall and allow-list, and harden checks, now",
       [](const Command&, Invocation& inv) {
         return call_and_print(inv, "hostaudit run", {}, print_hostaudit_report);
       }},
      {"hostaudit findings", {}, {}, "show the latest host audit's findings",
       [](const Command&, Invocation& inv) {
         return call_and_print(inv, "hostaudit findings", {}, print_hostaudit_findings);
       }},
      {"hostaudit accept", {"ID"},
       {{"--reason", true, "why the risk is accepted (required, at most 1000 characters)"},
        {"--until", true, "expiry: YYYY-MM-DD (through that day, UTC) or YYYY-MM-DDTHH:MM:SSZ; at most 365 days "
                          "ahead (default: 90 days)"}},
       "accept a finding of the latest host audit as a known risk until a date (audited)",
       [](const Command& cmd, Invocation& inv) {
         const std::string* reason = required_option(cmd, inv, "reason");
         if (reason == nullptr) return 2;
         json::object args{{"id", inv.positionals[0]}, {"reason", *reason}};
         if (auto until = inv.options.find("until"); until != inv.options.end()) args["until"] = until->second;
         return call_and_print(inv, "hostaudit accept", args, print_hostaudit_acceptance);
       }},
      {"hostaudit unaccept", {"ID"}, {}, "revoke the acceptance of a host audit finding (audited)",
       [](const Command&, Invocation& inv) {
         return call_and_print(inv, "hostaudit unaccept", json::object{{"id", inv.positionals[0]}});
       }},
      {"backup run", {}, {}, "take an encrypted backup now (ships it to S3 when configured, then prunes)",
       [](const Command&, Invocation& inv) { return call_and_print(inv, "backup run", {}, print_backup_run); }},
      {"backup list", {}, {}, "list the local backups with what the next prune keeps or deletes",
       [](const Command&, Invocation& inv) { return call_and_print(inv, "backup list", {}, print_backup_list); }},
      {"backup verify", {"ID"},
       {{"--recovery-key", true, "recovery private key PEM: full offline verification (ID may be a FILE or s3://)"},
        kConfigOption, kPasswordStdin},
       "check a backup, or all stored copies (via the daemon: structure and the digest of its test restore; "
       "with --recovery-key: authenticate, restore to scratch, check)",
       [](const Command&, Invocation& inv) { return backup_verify(inv); }, kBackupVerifyHelp},
      {"backup restore", {},
       {{"--archive", true, "the archive: FILE or s3://BUCKET/KEY (with backup.s3 from --config)"},
        {"--recovery-key", true, "the recovery private key (PEM, possibly passphrase-protected)"},
        {"--state-directory", true, "where to create the store (default: state_directory of the configuration)"},
        {"--force", false, "replace an existing store (the daemon must be stopped)"}, kConfigOption, kKeyFileOption,
        {"--owner", true, "as root: user to own the new files (default privstack)"}, kPasswordStdin},
       "restore an archive into a new store (offline, daemon stopped; see backup restore --help)",
       [](const Command&, Invocation& inv) { return backup_restore(inv); }, kBackupRestoreHelp},
      {"incidents list", {}, {{"--state", true, "open, acknowledged, resolved, unresolved (default) or all"}},
       "list incidents with severity, state and the breach-notification time left",
       [](const Command&, Invocation& inv) {
         json::object args;
         if (inv.options.contains("state")) args["state"] = inv.options.at("state");
         return call_and_print(inv, "incidents list", args, print_incidents);
       }},
      {"incidents show", {"ID"}, {}, "show one incident with its timeline",
       [](const Command&, Invocation& inv) {
         return call_and_print(inv, "incidents show", json::object{{"id", inv.positionals[0]}}, print_incident);
       }},
      {"incidents acknowledge", {"ID"}, {}, "acknowledge an open incident",
       [](const Command&, Invocation& inv) {
         return call_and_print(inv, "incidents acknowledge", json::object{{"id", inv.positionals[0]}}, print_incident);
       }},
      {"incidents assign", {"ID"}, {{"--owner", true, "who owns the incident"}}, "set an incident's owner",
       [](const Command&, Invocation& inv) {
         json::object args{{"id", inv.positionals[0]}};
         if (inv.options.contains("owner")) args["owner"] = inv.options.at("owner");
         return call_and_print(inv, "incidents assign", args, print_incident);
       }},
      {"incidents comment", {"ID"}, {{"--text", true, "the comment"}}, "add a comment to an incident's timeline",
       [](const Command&, Invocation& inv) {
         json::object args{{"id", inv.positionals[0]}};
         if (inv.options.contains("text")) args["text"] = inv.options.at("text");
         return call_and_print(inv, "incidents comment", args, print_incident);
       }},
      {"incidents resolve", {"ID"}, {}, "resolve an incident",
       [](const Command&, Invocation& inv) {
         return call_and_print(inv, "incidents resolve", json::object{{"id", inv.positionals[0]}}, print_incident);
       }},
      {"wallet init", {}, {{"--import", false, "import an existing BIP39 mnemonic instead of generating one"},
                           {"--bip39-passphrase", false, "also ask for an optional BIP39 passphrase"}, kPasswordStdin},
       "create the issuing wallet: 24 new words shown once (or --import), sealed under the issuing password",
       [](const Command&, Invocation& inv) { return wallet_init(inv); }},
      {"wallet status", {}, {}, "show whether the wallet is initialized and locked or unlocked",
       [](const Command&, Invocation& inv) { return call_and_print(inv, "wallet status", {}, print_wallet_status); }},
      {"wallet unlock", {}, {{"--window", true, "seconds the issuance window stays open (default wallet.issuance_window)"},
                             kPasswordStdin},
       "open an issuance window with the issuing password",
       [](const Command&, Invocation& inv) {
         auto window = window_option(inv);
         if (window && *window <= 0) {
           std::fprintf(stderr, "privstackctl wallet unlock: --window is a positive number of seconds\n");
           return 2;
         }
         auto password = read_secret_line(inv, "Issuing password: ", false);
         if (!password) {
           std::fprintf(stderr, "privstackctl: no password given (use --password-stdin or a terminal)\n");
           return 2;
         }
         json::object args;
         args["password"] = json::string(password->reveal());
         if (window) args["window_seconds"] = *window;
         int rc = call_and_print(inv, "wallet unlock", args, print_wallet_status);
         wipe_arg(args, "password");
         return rc;
       }},
      {"wallet extend", {}, {{"--window", true, "seconds from now (default wallet.issuance_window)"}},
       "keep the open issuance window open longer",
       [](const Command&, Invocation& inv) {
         auto window = window_option(inv);
         if (window && *window <= 0) {
           std::fprintf(stderr, "privstackctl wallet extend: --window is a positive number of seconds\n");
           return 2;
         }
         json::object args;
         if (window) args["window_seconds"] = *window;
         return call_and_print(inv, "wallet extend", args, print_wallet_status);
       }},
      {"wallet lock", {}, {}, "close the issuance window now (private keys are wiped from memory)",
       [](const Command&, Invocation& inv) { return call_and_print(inv, "wallet lock", {}, print_wallet_status); }},
      {"wallet passwd", {}, {kPasswordStdin}, "change the issuing password (re-seals; keys do not change)",
       [](const Command&, Invocation& inv) {
         auto old_pw = read_secret_line(inv, "Current issuing password: ", false);
         auto new_pw = old_pw ? read_secret_line(inv, "New issuing password: ", false) : std::nullopt;
         if (!old_pw || !new_pw) {
           std::fprintf(stderr, "privstackctl: passwords not given (use --password-stdin: current, then new)\n");
           return 2;
         }
         if (!inv.options.contains("password-stdin")) {
           auto again = read_secret_line(inv, "New issuing password (again): ", false);
           if (!again || again->reveal() != new_pw->reveal()) {
             std::fprintf(stderr, "privstackctl: the passwords do not match\n");
             return 1;
           }
         }
         json::object args;
         args["old_password"] = json::string(old_pw->reveal());
         args["password"] = json::string(new_pw->reveal());
         int rc = call_and_print(inv, "wallet passwd", args, print_wallet_status);
         wipe_arg(args, "old_password");
         wipe_arg(args, "password");
         return rc;
       }},
      {"wallet derive", {"PATH"}, {}, "show the public key and xpub at a BIP32 path (never private keys)",
       [](const Command&, Invocation& inv) {
         return call_and_print(inv, "wallet derive", json::object{{"path", inv.positionals[0]}});
       }},
      {"credential verify", {"FILE"}, {{"--offline", false, "do not ask the daemon about revocation"}},
       "verify a credential file offline (and its revocation status when the daemon is reachable)",
       [](const Command&, Invocation& inv) { return credential_verify(inv); }},
      {"credential revoke", {"ID"}, {{"--reason", true, "why (required; in the audit log)"}},
       "revoke a credential (adds it to its issuer profile's revocation list)",
       [](const Command& cmd, Invocation& inv) {
         const std::string* reason = required_option(cmd, inv, "reason", /*non_empty=*/true);
         if (reason == nullptr) return 2;
         return call_and_print(inv, "credential revoke", json::object{{"id", inv.positionals[0]}, {"reason", *reason}});
       }},
      {"status", {}, {}, "show the daemon's version, uptime and component states",
       [](const Command&, Invocation& inv) {
         int rc = call_and_print(inv, "status", {}, print_status);
         return rc;
       }},
  };
}


}  // namespace privstack::ctl
