#include <charconv>
#include <cmath>

#include "audit/csv.h"
#include "audit/routes.h"
#include "core/time.h"
#include "records/records.h"

namespace privstack::records {

namespace json = boost::json;

namespace {

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool has_control(std::string_view s, bool multiline) {
  for (unsigned char c : s) {
    if (multiline && (c == '\n' || c == '\r' || c == '\t')) continue;
    if (c < 0x20 || c == 0x7F) return true;
  }
  return false;
}

}  // namespace

std::optional<std::string> check_text(std::string_view value, std::size_t min, std::size_t max, bool multiline) {
  if (!csv::valid_utf8(value)) return "is not valid UTF-8";
  std::size_t n = utf8_length(value);
  if (n < min) return min == 1 ? "is required" : "must be at least " + std::to_string(min) + " characters";
  if (n > max) return "must be at most " + std::to_string(max) + " characters";
  if (has_control(value, multiline)) {
    return multiline ? "must not contain control characters other than tab and line breaks"
                     : "must not contain control characters";
  }
  return std::nullopt;
}

std::optional<std::string> check_email(std::string_view email) {
  if (auto e = check_text(email, 1, 254)) return e;
  auto at = email.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= email.size()) return "is not an email address (name@domain)";
  std::string_view local = email.substr(0, at), domain = email.substr(at + 1);
  if (local.size() > 64) return "has a local part longer than 64 characters";
  static constexpr std::string_view atext = "!#$%&'*+-/=?^_`{|}~.";
  for (char c : local) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              atext.find(c) != std::string_view::npos;
    if (!ok) return "has a character that is not allowed before the @";
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return "has a misplaced dot before the @";
  }
  if (domain.find('.') == std::string_view::npos) return "needs a domain with a dot after the @";
  std::size_t start = 0;
  while (start <= domain.size()) {
    std::size_t end = domain.find('.', start);
    if (end == std::string_view::npos) end = domain.size();
    std::string_view label = domain.substr(start, end - start);
    if (label.empty() || label.size() > 63) return "has an empty or too long domain label";
    if (label.front() == '-' || label.back() == '-') return "has a domain label that starts or ends with '-'";
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return "has a character that is not allowed in the domain";
    }
    start = end + 1;
  }
  return std::nullopt;
}

std::vector<FieldError> validate(const Recipient& r) {
  std::vector<FieldError> out;
  if (auto e = check_text(r.external_id, 1, 128)) out.push_back({"external_id", *e});
  if (auto e = check_text(r.name, 1, 200, true)) out.push_back({"name", *e});
  if (auto e = check_email(r.email)) out.push_back({"email", *e});
  if (auto e = check_text(r.group, 0, 100)) out.push_back({"group", *e});
  return out;
}

std::vector<FieldError> validate(const Result& r) {
  std::vector<FieldError> out;
  if (r.recipient_id <= 0) out.push_back({"recipient_id", "is required"});
  if (auto e = check_text(r.achievement, 1, 200, true)) out.push_back({"achievement", *e});
  if (r.score && (!std::isfinite(*r.score) || *r.score < 0 || *r.score > 100)) {
    out.push_back({"score", "must be a number from 0 to 100"});
  }
  bool status_ok = false;
  for (auto s : kStatuses) status_ok = status_ok || s == r.status;
  if (!status_ok) out.push_back({"status", "must be one of passed, failed, in_progress"});
  if (r.completed_at && (*r.completed_at < 0 || *r.completed_at > 253402300799)) {
    out.push_back({"completed_at", "is out of range"});
  }
  if (r.credential_id) {
    if (auto e = check_text(*r.credential_id, 1, 200)) out.push_back({"credential_id", *e});
  }
  return out;
}

std::string format_score(double score) {
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, score);
  return ec == std::errc() ? std::string(buf, p) : std::string();
}

json::object to_json(const Recipient& r) {
  json::object o;
  o["id"] = r.id;
  o["external_id"] = r.external_id;
  o["name"] = r.name;
  o["email"] = r.email;
  o["group"] = r.group;
  o["created_at"] = format_rfc3339(r.created_at);
  o["updated_at"] = format_rfc3339(r.updated_at);
  return o;
}

json::object to_json(const Result& r) {
  json::object o;
  o["id"] = r.id;
  o["recipient_id"] = r.recipient_id;
  o["achievement"] = r.achievement;
  if (r.score) o["score"] = *r.score; else o["score"] = nullptr;
  o["status"] = r.status;
  if (r.completed_at) o["completed_at"] = format_rfc3339(*r.completed_at); else o["completed_at"] = nullptr;
  if (r.credential_id) o["credential_id"] = *r.credential_id; else o["credential_id"] = nullptr;
  o["created_at"] = format_rfc3339(r.created_at);
  o["updated_at"] = format_rfc3339(r.updated_at);
  return o;
}

namespace {

bool get_string(const json::value& v, std::string_view field, std::string& out, std::vector<FieldError>& errors) {
  if (!v.is_string()) {
    errors.push_back({std::string(field), "must be a string"});
    return false;
  }
  out = std::string(v.as_string());
  return true;
}

void require(const json::object& in, std::initializer_list<std::string_view> fields, std::vector<FieldError>& errors) {
  for (auto f : fields) {
    if (!in.contains(f)) errors.push_back({std::string(f), "is required"});
  }
}

}  // namespace

void apply_json(const json::object& in, Recipient& out, bool create, std::vector<FieldError>& errors) {
  if (create) require(in, {"external_id", "name", "email"}, errors);
  for (const auto& [key, value] : in) {
    std::string_view k = key;
    if (k == "external_id") get_string(value, k, out.external_id, errors);
    else if (k == "name") get_string(value, k, out.name, errors);
    else if (k == "email") get_string(value, k, out.email, errors);
    else if (k == "group") get_string(value, k, out.group, errors);
    else if (k == "id" || k == "created_at" || k == "updated_at") errors.push_back({std::string(k), "is read-only"});
    else errors.push_back({std::string(k), "is not a field of a recipient"});
  }
}

void apply_json(const json::object& in, Result& out, bool create, std::vector<FieldError>& errors) {
  if (create) require(in, {"recipient_id", "achievement", "status"}, errors);
  for (const auto& [key, value] : in) {
    std::string_view k = key;
    if (k == "recipient_id") {
      if (value.is_int64() && value.as_int64() > 0) out.recipient_id = value.as_int64();
      else errors.push_back({"recipient_id", "must be a recipient id (a positive integer)"});
    } else if (k == "achievement") {
      get_string(value, k, out.achievement, errors);
    } else if (k == "status") {
      get_string(value, k, out.status, errors);
    } else if (k == "score") {
      if (value.is_null()) out.score.reset();
      else if (value.is_number()) out.score = value.to_number<double>();
      else errors.push_back({"score", "must be a number or null"});
    } else if (k == "completed_at") {
      if (value.is_null()) {
        out.completed_at.reset();
      } else if (value.is_string()) {
        auto t = audit::parse_time(std::string_view(value.as_string()));
        if (t) out.completed_at = *t;
        else errors.push_back({"completed_at", "must be YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"});
      } else {
        errors.push_back({"completed_at", "must be a string or null"});
      }
    } else if (k == "credential_id") {
      if (value.is_null()) {
        out.credential_id.reset();
      } else {
        std::string s;
        if (get_string(value, k, s, errors)) out.credential_id = s;
      }
    } else if (k == "id" || k == "created_at" || k == "updated_at") {
      errors.push_back({std::string(k), "is read-only"});
    } else {
      errors.push_back({std::string(k), "is not a field of a result"});
    }
  }
}

}  // namespace privstack::records
