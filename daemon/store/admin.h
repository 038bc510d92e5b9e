// Offline store administration for privstackctl (no daemon needed): reads
// the configuration to find the state directory and key, and acts on the
// files directly. Every function throws std::runtime_error with a message
// for the administrator, and returns a JSON summary to print.
#pragma once

#include <boost/json/object.hpp>
#include <filesystem>
#include <optional>
#include <string>

#include "store/store.h"

namespace privstack::store::admin {

struct Target {
  std::filesystem::path config_file = "/etc/privstack/privstack.yaml";
  std::optional<std::filesystem::path> key_file;  // overrides the configuration
};

// Creates the store key file (0600) where the daemon will look for it;
// refuses when a key file or a database already exists. When run as root,
// the file is given to `owner` (default: the "privstack" user when it exists).
boost::json::object init_key(const Target& target, const std::optional<std::string>& owner);

// Offline rekey (the daemon must be stopped; the store lock refuses it
// otherwise).
boost::json::object rekey(const Target& target);

// Offline integrity check.
boost::json::object check(const Target& target, bool* ok);

boost::json::object to_json(const CheckReport& report);

}  // namespace privstack::store::admin
