// The JSON API bodies (daemon/records/model.cpp): what POST/PATCH
// /api/v1/recipients and /api/v1/results do with a request body after
// Boost.JSON parsed it: apply_json() for a create and for a partial update,
// validate(), and to_json() of the result. Wrong members and types must come
// back as field errors, never as an exception.
#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

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
  boost::system::error_code ec;
  json::value v = json::parse(std::string_view(reinterpret_cast<const char*>(data), size), ec);
  if (ec || !v.is_object()) return 0;  // parse_body() answers 400
  apply_all<Recipient>(v.as_object());
  apply_all<Result>(v.as_object());
  return 0;
}
