// JSON-LD 1.1 (W3C Recommendation, https://www.w3.org/TR/json-ld11-api/):
// Context Processing, IRI and Value Expansion, Expansion, and Deserialize
// JSON-LD to RDF, giving the rdf::Dataset that rdfc::canonicalize takes.
// What a Data Integrity proof (eddsa-rdfc-2022) signs is the canonical form
// of that dataset (docs/linked-data.md).
//
// Remote contexts come only from a DocumentLoader (document_loader.h); the
// daemon's is static, holding the bundled contexts: nothing here touches the
// network. Every input is untrusted: its size, nesting, context loads and
// the expansion's output are bounded (Limits), each with a clear Error.
#pragma once

#include "core/error.h"
#include "credentials/document_loader.h"
#include "credentials/rdf.h"

#include <boost/json/value.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace privstack::credentials::jsonld {

// An error the JSON-LD algorithms name (code invalid_argument, reason
// "jsonld_invalid"): jsonld_code() is the specification's error code
// ("invalid local context", "cyclic IRI mapping", ...).
class JsonLdError : public privstack::Error {
 public:
  JsonLdError(std::string jsonld_code, const std::string& what);
  const std::string& jsonld_code() const { return jsonld_code_; }

 private:
  std::string jsonld_code_;
};

// A Limits bound was passed (code invalid_argument, reason "jsonld_limit").
class LimitExceeded : public privstack::Error {
 public:
  explicit LimitExceeded(const std::string& what);
};

struct Limits {
  // Size of a JSON document read from text (to_rdf(string_view)).
  std::size_t max_document_bytes = 1024 * 1024;
  // Nesting of arrays and objects, in the input and in the expansion's
  // recursion (which follows it).
  std::size_t max_depth = 64;
  // Remote contexts and @import documents dereferenced, in total, and the
  // longest chain of contexts loading contexts.
  std::size_t max_context_loads = 64;
  // Term definitions created while processing contexts (scoped contexts
  // are processed again where they apply, so this bounds the work too).
  std::size_t max_term_definitions = 200'000;
  // Maps and values the expansion produces, and quads toRdf emits.
  std::size_t max_expanded_values = 200'000;
  std::size_t max_quads = 200'000;
};

enum class RdfDirection { none, i18n_datatype, compound_literal };

struct Options {
  // The document's base IRI; empty: none (relative IRIs stay relative and
  // are dropped from the RDF).
  std::string base;
  // Where remote contexts come from; null: every remote context is an error.
  const DocumentLoader* loader = nullptr;
  // A context applied before the document's own (the API's expandContext).
  std::optional<boost::json::value> expand_context;
  // How @direction reaches RDF: dropped (none, the default), as an
  // https://www.w3.org/ns/i18n# datatype, or as a compound literal.
  RdfDirection rdf_direction = RdfDirection::none;
  Limits limits;
};

// The expanded form of `document` (an array of node objects).
boost::json::value expand(const boost::json::value& document, const Options& options = {});

// The RDF dataset of `document` (produceGeneralizedRdf off: blank node
// predicates are dropped, as are relative IRIs and bad language tags).
Dataset to_rdf(const boost::json::value& document, const Options& options = {});
// The same, from JSON text: bounded by max_document_bytes and max_depth
// before anything is processed; bad JSON is a JsonLdError "loading document failed".
Dataset to_rdf(std::string_view json_text, const Options& options = {});

// Parses JSON text within the limits (for callers and loaders).
boost::json::value parse_json(std::string_view json_text, const Limits& limits = {});

// The JSON Canonicalization Scheme (RFC 8785) form of a JSON value: the
// lexical form of an rdf:JSON literal.
std::string canonical_json(const boost::json::value& value);

}  // namespace privstack::credentials::jsonld
