// The one reader of JSON request bodies: size and nesting limits, the
// Content-Type check, and one error (invalid_argument, or
// unsupported_media_type) for a body that is not what the route takes.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>

#include "http/http.h"

namespace privstack::http {

struct BodyLimits {
  std::size_t max_bytes = 1 << 20;  // the server's own body limit is larger for imports
  std::size_t max_depth = 32;       // nesting of objects and arrays
  bool empty_is_object = true;      // an empty body reads as {}
};

// The body as a JSON object. Throws privstack::Error: unsupported_media_type
// when a non-empty body is not Content-Type application/json (or +json),
// payload_too_large over max_bytes, invalid_argument when it is not one JSON
// object within max_depth.
boost::json::object read_json_object(const Request& request, const BodyLimits& limits = {});

}  // namespace privstack::http
