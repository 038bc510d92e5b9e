#include "store/admin.h"

#include <pwd.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <stdexcept>

#include "core/config.h"

namespace privstack::store::admin {

namespace json = boost::json;

namespace {

Config load(const Target& target) {
  ConfigResult result = load_config(target.config_file);
  if (!result.config) {
    std::string message = "configuration " + target.config_file.string() + " is not valid:";
    for (const auto& p : result.problems) message += "\n  " + p.to_string();
    throw std::runtime_error(message);
  }
  return std::move(*result.config);
}

Options options_for(const Target& target, const Config& config) {
  Options options;
  options.database = database_path(config);
  options.key = target.key_file ? KeyLocation{*target.key_file, false} : key_location(config);
  options.create = false;
  options.readers = 1;
  return options;
}

}  // namespace

boost::json::object init_key(const Target& target, const std::optional<std::string>& owner) {
  Config config = load(target);
  std::filesystem::path path = target.key_file ? *target.key_file : KeyLocation(key_location(config)).path;
  if (!target.key_file && key_location(config).credential) {
    throw std::runtime_error("the store key comes from the systemd credential store.key; nothing to create");
  }
  std::filesystem::path db = database_path(config);
  std::error_code ec;
  if (!target.key_file && std::filesystem::exists(db, ec)) {
    throw std::runtime_error("the database " + db.string() +
                             " already exists: a new key cannot open it. Restore its key file instead, or use "
                             "privstackctl store rekey to rotate the key");
  }
  if (!path.parent_path().empty() && !std::filesystem::exists(path.parent_path(), ec)) {
    std::filesystem::create_directories(path.parent_path());
    std::filesystem::permissions(path.parent_path(), std::filesystem::perms(0750));
  }
  init_key_file(path);
  json::object doc;
  doc["key_file"] = path.string();
  if (::geteuid() == 0) {
    std::string user = owner.value_or("privstack");
    if (passwd* pw = ::getpwnam(user.c_str())) {
      if (::chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        throw std::runtime_error("created " + path.string() + " but cannot give it to " + user);
      }
      doc["owner"] = user;
    } else if (owner) {
      throw std::runtime_error("created " + path.string() + " but there is no user " + user);
    } else {
      doc["owner"] = "root";
    }
  }
  doc["mode"] = "0600";
  return doc;
}

boost::json::object rekey(const Target& target) {
  Config config = load(target);
  Options options = options_for(target, config);
  if (options.key.credential) {
    throw std::runtime_error(
        "the store key comes from the systemd credential store.key; pass --key-file with a decrypted copy "
        "(docs/operations.md, \"Rotating a credential-held key\")");
  }
  std::unique_ptr<Store> store;
  try {
    store = Store::open(options);
  } catch (const Error& e) {
    throw std::runtime_error(e.what());
  }
  RekeyResult r;
  try {
    r = store->rekey();
  } catch (const Error& e) {
    if (e.kind() == Error::Kind::busy) {
      throw std::runtime_error(std::string(e.what()) +
                               "; the database is in use: stop privstackd first, or run privstackctl store rekey "
                               "without --offline to rotate the key online");
    }
    throw std::runtime_error(e.what());
  }
  json::object doc;
  doc["key_file"] = r.key_file.string();
  doc["duration_ms"] = static_cast<std::int64_t>(r.duration.count());
  return doc;
}

boost::json::object to_json(const CheckReport& r) {
  json::object doc;
  doc["ok"] = r.ok;
  doc["cipher_version"] = r.cipher_version;
  doc["page_size"] = r.page_size;
  doc["page_count"] = r.page_count;
  json::array integrity;
  for (const auto& line : r.integrity) integrity.emplace_back(line);
  doc["integrity_check"] = integrity;
  json::array cipher;
  for (const auto& line : r.cipher_integrity) cipher.emplace_back(line);
  doc["cipher_integrity"] = cipher;
  doc["cipher_integrity_method"] = r.cipher_integrity_method;
  return doc;
}

boost::json::object check(const Target& target, bool* ok) {
  Config config = load(target);
  std::unique_ptr<Store> store;
  try {
    store = Store::open(options_for(target, config));
  } catch (const Error& e) {
    throw std::runtime_error(e.what());
  }
  CheckReport r = store->check();
  *ok = r.ok;
  return to_json(r);
}

}  // namespace privstack::store::admin
