// The JSON API bodies (http/body.h, daemon/records/model.cpp): what POST/PATCH
// /api/v1/recipients and /api/v1/results do with a request body after
// the one JSON body reader accepted it: apply_json() for a create and for a partial update,
// validate(), and to_json() of the result. Wrong members and types must come
// back as field errors, never as an exception.
#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/body.h"
#include "records/records.h"

namespace json = boost::json;
using namespace privstack::records;

namespace {

template <class Record>
void apply_all(const json::object& body) {
  for (bool create : {true, false}) {
    Record record;
    std::vector<FieldError> errors;
    apply_json(body, record, create, errors);
    if (errors.empty()) {
      validate(record);
      to_json(record);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Read as the routes read it: http::read_json_object, whose only
  // exception is privstack::Error (answered 400/413/415).
  privstack::http::Request request;
  request.body.assign(reinterpret_cast<const char*>(data), size);
  request.headers.push_back({"Content-Type", "application/json"});
  json::object body;
  try {
    body = privstack::http::read_json_object(request, {.empty_is_object = false});
  } catch (const privstack::Error&) {
    return 0;
  }
  apply_all<Recipient>(body);
  apply_all<Result>(body);
  return 0;
}
