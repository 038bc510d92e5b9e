#include "core/log.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/secret_registry.h"

namespace privstack::log {
namespace {

std::atomic<Target> g_target{Target::automatic};

bool journal_socket_present() {
  // The native journal socket; the same check sd_journal_send relies on.
  return ::access("/run/systemd/journal/socket", W_OK) == 0;
}

constexpr std::array<const char*, 8> kPriorityNames = {"emerg", "alert",  "crit", "err",
                                                       "warning", "notice", "info", "debug"};

// Field values go into the journal as they are, but in the stderr text form
// they are quoted when they contain anything but plain characters, so each
// line stays parseable as KEY=value pairs.
std::string quote_if_needed(std::string_view v) {
  bool plain = !v.empty();
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '\\' || c == '=' || static_cast<unsigned char>(c) < 0x20) plain = false;
  }
  if (plain) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

// Field names are uppercase letters, digits and underscores (journald's rule).
std::string field_name(std::string_view name) {
  std::string out = "PRIVSTACK_";
  for (char c : name) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) c = '_';
    out += c;
  }
  return out;
}

void write_journal(const Event& event, int priority, const std::string& message,
                   const std::vector<std::pair<std::string, std::string>>& fields) {
  std::vector<std::string> lines;
  lines.reserve(fields.size() + 5);
  lines.push_back("MESSAGE=" + message);
  lines.push_back("MESSAGE_ID=" + std::string(event.message_id));
  lines.push_back("PRIORITY=" + std::to_string(priority));
  lines.push_back("SYSLOG_IDENTIFIER=privstackd");
  lines.push_back("PRIVSTACK_EVENT=" + std::string(event.name));
  for (const auto& [name, value] : fields) lines.push_back(name + "=" + value);
  std::vector<iovec> iov(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    iov[i].iov_base = lines[i].data();
    iov[i].iov_len = lines[i].size();
  }
  sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
}

void write_stderr(const Event& event, int priority, const std::string& message,
                  const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string line = "<";
  line += std::to_string(priority);
  line += ">";
  line += kPriorityNames[static_cast<size_t>(priority)];
  line += " ";
  line += event.name;
  line += ": ";
  for (char c : message) line += (c == '\n') ? ' ' : c;
  line += " MESSAGE_ID=";
  line += event.message_id;
  for (const auto& [name, value] : fields) {
    line += ' ';
    line += name;
    line += '=';
    line += quote_if_needed(value);
  }
  line += '\n';
  static std::mutex m;
  std::lock_guard lock(m);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

struct ObserverList {
  std::mutex mutex;
  int next_id = 1;
  // Copy-on-write: emit() takes a snapshot and calls without the lock.
  std::shared_ptr<const std::vector<std::pair<int, Observer>>> list =
      std::make_shared<const std::vector<std::pair<int, Observer>>>();
};

ObserverList& observers() {
  static ObserverList* o = new ObserverList;  // never destroyed: emit() may run during exit
  return *o;
}

thread_local bool t_in_observer = false;

void notify_observers(const Event& event, int priority, const std::string& message,
                      const std::vector<std::pair<std::string, std::string>>& fields) {
  if (t_in_observer) return;
  std::shared_ptr<const std::vector<std::pair<int, Observer>>> list;
  {
    std::lock_guard lock(observers().mutex);
    list = observers().list;
  }
  if (list->empty()) return;
  t_in_observer = true;
  Emitted e{event, priority, message, fields};
  for (const auto& [id, fn] : *list) {
    try {
      fn(e);
    } catch (...) {
      // An observer's failure never affects logging.
    }
  }
  t_in_observer = false;
}

}  // namespace

std::string_view Emitted::field(std::string_view name) const {
  for (const auto& [k, v] : fields) {
    if (k.size() == name.size() + 10 && k.compare(10, std::string::npos, name) == 0) return v;
  }
  return {};
}

int add_observer(Observer observer) {
  auto& o = observers();
  std::lock_guard lock(o.mutex);
  auto next = std::make_shared<std::vector<std::pair<int, Observer>>>(*o.list);
  int id = o.next_id++;
  next->emplace_back(id, std::move(observer));
  o.list = std::move(next);
  return id;
}

void remove_observer(int id) {
  auto& o = observers();
  std::lock_guard lock(o.mutex);
  auto next = std::make_shared<std::vector<std::pair<int, Observer>>>();
  for (const auto& entry : *o.list) {
    if (entry.first != id) next->push_back(entry);
  }
  o.list = std::move(next);
}

void set_target(Target target) { g_target = target; }

Target active_target() {
  Target t = g_target.load();
  if (t != Target::automatic) return t;
  return journal_socket_present() ? Target::journal : Target::stderr_text;
}

std::string redact(std::string_view text) { return detail::redact_live_secrets(text); }

namespace {

void emit_fields(const Event& event, Priority priority, std::string_view message, std::span<const Field> fields) {
  int prio = static_cast<int>(priority);
  if (prio < 0 || prio > 7) prio = 6;
  std::string text = redact(message);
  std::vector<std::pair<std::string, std::string>> redacted;
  redacted.reserve(fields.size());
  for (const Field& f : fields) redacted.emplace_back(field_name(f.name), redact(f.value));
  if (active_target() == Target::journal) {
    write_journal(event, prio, text, redacted);
  } else {
    write_stderr(event, prio, text, redacted);
  }
  notify_observers(event, prio, text, redacted);
}

}  // namespace

void emit(const Event& event, std::string_view message, std::initializer_list<Field> fields) {
  emit(event, event.priority, message, fields);
}

void emit(const Event& event, Priority priority, std::string_view message, std::initializer_list<Field> fields) {
  emit_fields(event, priority, message, std::span<const Field>(fields.begin(), fields.size()));
}

void emit(const Event& event, std::string_view message, std::span<const Field> fields) {
  emit_fields(event, event.priority, message, fields);
}

}  // namespace privstack::log
