// The JSON-LD processor (daemon/credentials/jsonld.h) on hostile JSON:
// expansion and toRdf with small limits, against the bundled contexts (a
// document may name them, or any other URL, which must be refused), throw
// only privstack::Error (JsonLdError, LimitExceeded, unknown_context); the
// dataset canonicalizes (or stops at the canonicalizer's own limit), and
// the result is deterministic: a second run gives the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "credentials/jsonld.h"
#include "credentials/rdfc.h"

namespace {

using namespace privstack::credentials;

jsonld::Options small_limits() {
  jsonld::Options o;
  o.loader = &jsonld::bundled_contexts();
  o.base = "https://fuzz.example/doc";
  o.limits.max_document_bytes = 16 * 1024;
  o.limits.max_depth = 32;
  o.limits.max_context_loads = 8;
  o.limits.max_term_definitions = 5'000;
  o.limits.max_expanded_values = 5'000;
  o.limits.max_quads = 5'000;
  return o;
}

constexpr rdfc::Options kCanonLimits{.hash = rdfc::HashAlgorithm::sha256, .max_work = 5'000, .max_depth = 64};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const jsonld::Options options = small_limits();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Dataset dataset;
  try {
    dataset = jsonld::to_rdf(text, options);
  } catch (const privstack::Error&) {
    return 0;
  }
  std::string first;
  try {
    first = rdfc::canonicalize(dataset, kCanonLimits);
  } catch (const rdfc::LimitExceeded&) {
    return 0;
  }
  if (rdfc::canonicalize(jsonld::to_rdf(text, options), kCanonLimits) != first) std::abort();
  return 0;
}
