// Structured logging to journald (native protocol) or to stderr.
//
// Every entry carries an Event from events.h: a stable MESSAGE_ID that the
// journal catalog (systemd/privstack.catalog) explains, a PRIVSTACK_EVENT
// name and a default priority. Extra fields are PRIVSTACK_* key/value pairs.
//
// Secrets cannot be logged: Field has no constructor from Secret (a compile
// error), and every message and field value passes through the redactor,
// which replaces the value of every live Secret with "[REDACTED]".
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/events.h"

namespace privstack {
class Secret;
}

namespace privstack::log {

enum class Target { automatic, journal, stderr_text };

// Chooses where entries go. `automatic` uses the journal when its socket
// (/run/systemd/journal/socket) is there, stderr otherwise.
void set_target(Target target);
Target active_target();

struct Field {
  Field(std::string_view name, std::string_view value) : name(name), value(value) {}
  Field(std::string_view name, const char* value) : name(name), value(value) {}
  Field(std::string_view name, const std::string& value) : name(name), value(value) {}
  Field(std::string_view name, std::int64_t value) : name(name), value(std::to_string(value)) {}
  Field(std::string_view name, std::uint64_t value) : name(name), value(std::to_string(value)) {}
  Field(std::string_view name, int value) : name(name), value(std::to_string(value)) {}
  Field(std::string_view name, unsigned value) : name(name), value(std::to_string(value)) {}
  // Secrets are not loggable. If this fails to compile, log something that
  // identifies the secret (its file name, a fingerprint) instead.
  Field(std::string_view name, const Secret&) = delete;

  std::string name;  // without the PRIVSTACK_ prefix, e.g. "USER"
  std::string value;
};

// Writes one entry with the event's default priority.
void emit(const Event& event, std::string_view message, std::initializer_list<Field> fields = {});
// Writes one entry with an explicit priority (0 emerg .. 7 debug).
void emit(const Event& event, Priority priority, std::string_view message,
          std::initializer_list<Field> fields = {});
// The same with fields assembled at run time.
void emit(const Event& event, std::string_view message, std::span<const Field> fields);

// Observers see every entry after it was written (incidents, metrics): the
// event, the effective priority, and the redacted message and fields (names
// with the PRIVSTACK_ prefix, as in the journal). They run synchronously on
// the emitting thread, so they must be cheap and must not block; an entry
// emitted from inside an observer is written but not observed again (no
// re-entrancy). Exceptions from an observer are swallowed.
struct Emitted {
  const Event& event;
  int priority;
  std::string_view message;
  const std::vector<std::pair<std::string, std::string>>& fields;
  // A field's value by name without the prefix ("USER"); empty when absent.
  std::string_view field(std::string_view name) const;
};
using Observer = std::function<void(const Emitted&)>;
// Returns an id for remove_observer().
int add_observer(Observer observer);
void remove_observer(int id);

// Replaces every live secret's value in `text` with "[REDACTED]". Exposed for
// other sinks (audit log, error bodies) that must apply the same rule.
std::string redact(std::string_view text);

}  // namespace privstack::log
