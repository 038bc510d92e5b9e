// The auth API's JSON: the documents its routes answer with (times as
// RFC 3339, "" or null for never) and the body members they read.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "auth/repository.h"
#include "core/secret.h"

namespace privstack::auth {

// Body members; a member of the wrong type is Error(invalid_argument).
std::optional<std::string> get_string(const boost::json::object& o, std::string_view key);
std::string require_string(const boost::json::object& o, std::string_view key);  // also when missing
// Takes a secret out of a JSON object and wipes the copy in it.
std::optional<Secret> take_secret(boost::json::object& o, std::string_view key);

boost::json::object user_json(const UserRecord& u);
boost::json::object token_json(const TokenRecord& t);
// Documents are built in plain functions, not inside coroutines: GCC 12
// destroys temporaries of a braced initializer list in a coroutine twice.
boost::json::object session_json(const std::string& csrf, const UserRecord& u, std::int64_t expires,
                                 std::chrono::seconds idle, bool pending);
// GET /api/v1/password-policy: the rules of password_policy_violation()
// for the console's own checks (the server still applies them all).
boost::json::object password_policy_json();
boost::json::object wrap_array(std::string_view key, boost::json::array items);
boost::json::object enrollment_json(const std::string& uri, const std::string& secret,
                                    const boost::json::array& codes);

}  // namespace privstack::auth
