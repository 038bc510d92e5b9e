#include "http/body.h"

#include <boost/json/parser.hpp>

namespace privstack::http {
namespace {

bool is_json_type(std::string_view type) {
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  return type == "application/json" || (type.starts_with("application/") && type.ends_with("+json"));
}

}  // namespace

boost::json::object read_json_object(const Request& request, const BodyLimits& limits) {
  if (request.body.empty() && limits.empty_is_object) return {};
  auto type = request.header("Content-Type");
  if (!type || !is_json_type(*type)) {
    throw Error(ErrorCode::unsupported_media_type, "Send a JSON body (Content-Type: application/json).");
  }
  if (request.body.size() > limits.max_bytes) {
    throw Error(ErrorCode::payload_too_large,
                "The JSON body is over " + std::to_string(limits.max_bytes) + " bytes.");
  }
  boost::json::parse_options options;
  options.max_depth = limits.max_depth;
  boost::json::parser parser({}, options);
  boost::system::error_code ec;
  parser.write(request.body.data(), request.body.size(), ec);  // a complete text: also finishes
  if (ec) throw Error(ErrorCode::invalid_argument, "The body is not valid JSON (or nests too deeply).");
  boost::json::value v = parser.release();
  if (!v.is_object()) throw Error(ErrorCode::invalid_argument, "The body must be a JSON object.");
  return std::move(v.as_object());
}

}  // namespace privstack::http
